//! Sockets that authenticate inside the socket (Socket.IO CONNECT, a raw first frame) are held by
//! a lobby object, not by the stateless worker: the stock socket.io-client and a raw client stay
//! connected through minutes of traffic and Engine.IO heartbeats, every frame they send reaches
//! the user's object through the lobby, and both get every update in seq order.
//!
//! HAPPY_SOAK_SECONDS sets how long (default 100 s: four heartbeat intervals).

mod common;

#[path = "support/realtime_ws.rs"]
mod ws;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use ws::{Got, Ws};

fn server() -> &'static TestApp {
    app()
}

fn stats(token: &str) -> Value {
    let r = server().get("/v1/websocket/stats", Some(token));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

#[test]
fn stock_and_raw_clients_live_in_lobbies_through_minutes_of_traffic() {
    let seconds: u64 = std::env::var("HAPPY_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let a = server().new_account();
    let session = server().post("/v1/sessions", Some(&a.token), json!({"tag": "soak", "metadata": "bWV0YQ=="}));
    assert_eq!(session.status, 200, "{}", session.text);
    let sid = session.body["session"]["id"].as_str().unwrap().to_string();

    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let mut node = Command::new("node")
        .arg(js.join("soak.mjs"))
        .args([&server().base, &a.token, &seconds.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("connected"), "socket.io-client connected");

    // A raw client that authenticates with its first frame.
    let mut raw = Ws::open("/v1/updates", &[]);
    raw.send(json!({"event": "auth", "data": {"token": a.token, "clientType": "user-scoped"}}));
    raw.expect("connected");

    let before = stats(&a.token);
    assert_eq!(before["totalConnections"], 2, "{before}");
    assert_eq!(before["lobbySockets"], 2, "both sockets are held by lobbies: {before}");
    node.stdin.take().unwrap().write_all(b"go\n").unwrap();

    // Traffic: a message post and a raw ping with ack every second; the node client pings twice
    // a second on its own.
    let (mut posted, mut raw_sent, mut raw_seqs) = (0u64, 0u64, Vec::new());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        let r = server().post(
            &format!("/v1/sessions/{sid}/messages"),
            Some(&a.token),
            json!({"localId": format!("soak-{posted}"), "content": {"t": "encrypted", "c": "eA=="}}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        posted += 1;
        raw.send(json!({"event": "ping", "ackId": raw_sent}));
        raw_sent += 1;
        let tick = Instant::now() + Duration::from_secs(1);
        let mut acked = false;
        while let Some(left) = tick.checked_duration_since(Instant::now()) {
            match raw.recv(left.max(Duration::from_millis(1))) {
                Got::Frame(f) if f["event"] == "update" => raw_seqs.push(f["data"]["seq"].as_i64().unwrap()),
                Got::Frame(f) if f["event"] == "ack" => acked = true,
                Got::Frame(_) | Got::Nothing => {}
                Got::Closed(code) => panic!("the raw client was closed ({code}) after {:?}", started.elapsed()),
            }
        }
        assert!(acked, "raw ping {} unanswered within 1 s", raw_sent - 1);
    }
    // The last update may still be on its way.
    while raw_seqs.len() < posted as usize {
        match raw.recv(Duration::from_secs(5)) {
            Got::Frame(f) if f["event"] == "update" => raw_seqs.push(f["data"]["seq"].as_i64().unwrap()),
            Got::Frame(_) => {}
            other => panic!("raw client: {} of {posted} updates, then {other:?}", raw_seqs.len()),
        }
    }

    let summary: Value =
        lines.find_map(|l| l.ok().and_then(|l| serde_json::from_str(&l).ok())).expect("the node client's summary");
    assert!(node.wait().unwrap().success());
    assert_eq!(summary["connected"], true, "{summary}");
    assert_eq!(summary["disconnects"], json!([]), "{summary}");
    let heartbeats = summary["pings"].as_u64().unwrap();
    assert!(heartbeats >= seconds / 25 - 1, "{heartbeats} Engine.IO pings in {seconds} s: {summary}");
    let node_sent = summary["sent"].as_u64().unwrap();
    assert_eq!(summary["acks"].as_u64().unwrap(), node_sent, "every socket.io ping acked: {summary}");

    // Both sockets got every update, in seq order.
    let node_seqs: Vec<i64> = summary["seqs"].as_array().unwrap().iter().map(|s| s.as_i64().unwrap()).collect();
    assert_eq!(raw_seqs.len() as u64, posted);
    assert!(raw_seqs.windows(2).all(|w| w[0] < w[1]), "raw seqs in order: {raw_seqs:?}");
    assert_eq!(node_seqs, raw_seqs, "the stock client got the same updates in the same order");

    // Every frame the clients sent reached the user's object through a lobby.
    let after = stats(&a.token);
    let relayed = after["lobbyFrames"].as_u64().unwrap() - before["lobbyFrames"].as_u64().unwrap();
    assert!(relayed >= raw_sent + node_sent, "{relayed} frames relayed, {raw_sent} + {node_sent} sent: {after}");
    raw.close();
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats(&a.token)["lobbySockets"] != 0 {
        assert!(Instant::now() < deadline, "closed sockets still registered: {}", stats(&a.token));
        std::thread::sleep(Duration::from_millis(200));
    }
}
