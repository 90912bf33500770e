//! The realtime layer as clients see it: raw WebSockets against `wrangler dev` (auth methods and
//! close codes, delivery filters, isolation between users, RPC relay, ordering, catch-up).

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

/// Puts the account on a test plan allowing `max` sockets (the 4005 test stays quick).
fn limit_connections(token: &str, max: usize) {
    server().put_on_test_plan(token, &format!("test-ws-{max}"), max as u64, 1 << 30);
}

/// A Socket.IO socket by hand: the open packet, then CONNECT with `auth`; returns the socket
/// and the server's answer to CONNECT.
fn eio_connect(auth: Value) -> (Ws, String) {
    let mut ws = Ws::open("/v1/updates/?EIO=4&transport=websocket", &[]);
    assert!(ws.recv_raw(Duration::from_secs(5)).is_some_and(|p| p.starts_with('0')), "no open packet");
    ws.send_text(&format!("40{auth}"));
    let answer = ws.recv_raw(Duration::from_secs(5)).expect("an answer to CONNECT");
    (ws, answer)
}

fn broadcast(token: &str, message: Value, filter: Value) -> Value {
    let r = server().post("/v1/websocket/broadcast", Some(token), json!({"message": message, "filter": filter}));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

#[test]
fn ticket_auth_works_once() {
    let app = server();
    let a = app.new_account();
    let r = app.post("/v1/websocket/ticket", Some(&a.token), json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    let ticket = r.body["ticket"].as_str().unwrap().to_string();
    assert!(r.body["expiresIn"].as_i64().unwrap() > 0);
    let mut ws = Ws::open(&format!("/v1/updates?ticket={ticket}&clientType=session-scoped&sessionId=s1"), &[]);
    let hello = ws.expect("connected");
    assert_eq!(hello["data"]["userId"], user_id_of(&a.token));
    assert_eq!(hello["data"]["clientType"], "session-scoped");
    assert_eq!(hello["data"]["sessionId"], "s1");
    // Reused, forged and malformed tickets fail with 4001.
    let mut again = Ws::open(&format!("/v1/updates?ticket={ticket}"), &[]);
    assert_eq!(again.expect("auth-error")["data"]["code"], 4001);
    assert_eq!(again.expect_close(), 4001);
    let forged = format!("{}.AAAA", user_id_of(&a.token));
    assert_eq!(Ws::open(&format!("/v1/websocket?ticket={forged}"), &[]).expect_close(), 4001);
    assert_eq!(Ws::open("/v1/websocket?ticket=nodot", &[]).expect_close(), 4001);
    // A ticket needs a token.
    app.post("/v1/websocket/ticket", None, json!({})).assert_error(401);
    ws.close();
}

#[test]
fn header_auth_and_its_close_codes() {
    let a = server().new_account();
    let mut ws = Ws::bearer(&a.token, "machine-scoped", Some("m-1"));
    let hello = ws.expect("connected");
    assert_eq!(hello["data"]["clientType"], "machine-scoped");
    assert_eq!(hello["data"]["machineId"], "m-1");
    assert!(hello["data"]["connectionId"].is_string());
    ws.close();
    assert_eq!(Ws::bearer("not-a-token", "user-scoped", None).expect_close(), 4001);
    assert_eq!(Ws::bearer(&a.token, "session-scoped", None).expect_close(), 4003);
    assert_eq!(Ws::bearer(&a.token, "machine-scoped", None).expect_close(), 4004);
    assert_eq!(Ws::bearer(&a.token, "bogus", None).expect_close(), 4002);
    // The trailing slash the engine.io client adds names the same endpoint.
    let mut slash = Ws::open("/v1/updates/", &[("Authorization", &format!("Bearer {}", a.token))]);
    assert_eq!(slash.expect("connected")["data"]["clientType"], "user-scoped");
    slash.close();
}

#[test]
fn first_message_auth_and_its_close_codes() {
    let a = server().new_account();
    let mut ws = Ws::open("/v1/updates", &[]);
    ws.send(json!({"event": "auth", "data": {"token": a.token, "clientType": "session-scoped", "sessionId": "s9"}}));
    let hello = ws.expect("connected");
    assert_eq!(hello["data"]["sessionId"], "s9");
    // Relayed sockets speak the same protocol.
    ws.send(json!({"event": "ping", "ackId": "p1"}));
    assert_eq!(ws.expect("ack"), json!({"event": "ack", "ackId": "p1", "ack": {}}));
    ws.close();

    let cases = [
        (json!({"event": "auth", "data": {"token": "bad"}}), 4001),
        (json!({"event": "hello"}), 4002),
        (json!({"event": "auth", "data": {}}), 4002),
        (json!({"event": "auth", "data": {"token": a.token, "clientType": "session-scoped"}}), 4003),
        (json!({"event": "auth", "data": {"token": a.token, "clientType": "machine-scoped"}}), 4004),
    ];
    for (frame, code) in cases {
        let mut ws = Ws::open("/v1/websocket", &[]);
        ws.send(frame.clone());
        let err = ws.expect("auth-error");
        assert_eq!(err["data"]["code"], code, "{frame}");
        assert_eq!(ws.expect_close(), code, "{frame}");
    }
}

#[test]
fn unauthenticated_sockets_are_closed_after_5_seconds() {
    let start = Instant::now();
    let mut ws = Ws::open("/v1/updates", &[]);
    assert_eq!(ws.expect_close(), 4002);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(4500) && waited < Duration::from_secs(8), "{waited:?}");
}

/// The limit is the account plan's `wsConnectionsPerUser`; Socket.IO clients beyond it get a
/// CONNECT_ERROR, raw ones close 4005.
#[test]
fn too_many_connections_close_4005() {
    let a = server().new_account();
    let limit = 6;
    limit_connections(&a.token, limit);
    let mut open: Vec<Ws> = (0..limit - 1).map(|_| Ws::connected(&a.token, "user-scoped", None)).collect();
    let (sio, answer) = eio_connect(json!({"token": a.token}));
    assert!(answer.starts_with("40{\"sid\":"), "{answer}");
    open.push(sio);
    assert_eq!(Ws::bearer(&a.token, "user-scoped", None).expect_close(), 4005);
    let (mut refused, answer) = eio_connect(json!({"token": a.token}));
    assert_eq!(answer, r#"44{"message":"Too many connections"}"#);
    assert_eq!(refused.expect_close(), 4005);
    let r = server().get("/v1/websocket/stats", Some(&a.token));
    assert_eq!(r.body["totalConnections"], limit);
    // Another account on the basic plan is not limited by this one's plan.
    let b = server().new_account();
    let others: Vec<Ws> = (0..limit + 1).map(|_| Ws::connected(&b.token, "user-scoped", None)).collect();
    others.into_iter().for_each(Ws::close);
    for ws in open {
        ws.close();
    }
    // Room again once they are gone.
    std::thread::sleep(Duration::from_millis(300));
    Ws::connected(&a.token, "user-scoped", None).close();
}

#[test]
fn broadcast_filters_and_stats() {
    let a = server().new_account();
    let mut user = Ws::connected(&a.token, "user-scoped", None);
    let mut s1 = Ws::bearer(&a.token, "session-scoped", Some("s1"));
    let s1_id = s1.expect("connected")["data"]["connectionId"].as_str().unwrap().to_string();
    let mut s2 = Ws::connected(&a.token, "session-scoped", Some("s2"));
    let mut m1 = Ws::connected(&a.token, "machine-scoped", Some("m1"));

    let stats = server().get("/v1/websocket/stats", Some(&a.token)).body;
    assert_eq!(stats["totalConnections"], 4);
    assert_eq!(stats["byType"], json!({"user-scoped": 1, "session-scoped": 2, "machine-scoped": 1}));
    assert_eq!((stats["activeSessions"].clone(), stats["activeMachines"].clone()), (json!(2), json!(1)));
    assert!(stats["oldestConnection"].as_i64().unwrap() > 0);

    let cases = [
        (json!({"type": "all"}), [true, true, true, true]),
        (json!({"type": "user-scoped-only"}), [true, false, false, false]),
        (json!({"type": "session", "sessionId": "s1"}), [false, true, false, false]),
        (json!({"type": "machine", "machineId": "m1"}), [false, false, false, true]),
        (json!({"type": "exclude", "connectionId": s1_id}), [true, false, true, true]),
    ];
    for (i, (filter, expected)) in cases.into_iter().enumerate() {
        let body = broadcast(&a.token, json!({"n": i}), filter.clone());
        assert_eq!(body["delivered"], expected.iter().filter(|x| **x).count(), "{filter}");
        for (ws, want) in [&mut user, &mut s1, &mut s2, &mut m1].into_iter().zip(expected) {
            let got = ws.collect("broadcast", Duration::from_millis(if want { 1500 } else { 300 }));
            let expected_frames = if want { vec![json!({"event": "broadcast", "data": {"n": i}})] } else { vec![] };
            assert_eq!(got, expected_frames, "{filter}");
        }
    }
    for filter in [json!({"type": "session"}), json!({"type": "nope"})] {
        server()
            .post("/v1/websocket/broadcast", Some(&a.token), json!({"message": 1, "filter": filter}))
            .assert_error(400);
    }
    server().post("/v1/websocket/broadcast", Some(&a.token), json!({"filter": {"type": "all"}})).assert_error(400);
    for ws in [user, s1, s2, m1] {
        ws.close();
    }
}

#[test]
fn users_never_see_each_others_events() {
    let (a, b) = (server().new_account(), server().new_account());
    let mut wa = Ws::connected(&a.token, "user-scoped", None);
    let mut wb = Ws::connected(&b.token, "user-scoped", None);
    broadcast(&a.token, json!("for a"), json!({"type": "all"}));
    assert_eq!(wa.expect("broadcast")["data"], "for a");
    assert!(wb.collect("broadcast", Duration::from_millis(500)).is_empty());
    // B's machine socket is invisible to A's stats.
    let mut mb = Ws::connected(&b.token, "machine-scoped", Some("mb"));
    assert_eq!(server().get("/v1/websocket/stats", Some(&a.token)).body["totalConnections"], 1);
    // ...and its presence reaches B only.
    assert_eq!(wb.expect("ephemeral")["data"]["type"], "machine-activity");
    assert!(wa.collect("ephemeral", Duration::from_millis(500)).is_empty());
    mb.send(json!({"event": "rpc-register", "data": {"method": "mb:x"}}));
    mb.expect("rpc-registered");
    // A cannot call B's RPC methods: they are not in A's object.
    wa.send(json!({"event": "rpc-call", "ackId": "c", "data": {"method": "mb:x", "params": "p"}}));
    assert!(mb.collect("rpc-request", Duration::from_millis(500)).is_empty());
    for ws in [wa, wb, mb] {
        ws.close();
    }
}

#[test]
fn raw_heartbeat_is_answered() {
    let a = server().new_account();
    let mut ws = Ws::connected(&a.token, "user-scoped", None);
    ws.send_text(r#"{"event":"ping"}"#);
    assert_eq!(ws.expect("pong"), json!({"event": "pong"}));
    ws.send(json!({"event": "ping", "ackId": 5}));
    assert_eq!(ws.expect("ack"), json!({"event": "ack", "ackId": 5, "ack": {}}));
    ws.send_text("garbage");
    assert_eq!(ws.expect("error")["data"]["message"], "Malformed frame");
    ws.close();
}

#[test]
fn machine_presence_reaches_user_scoped_sockets() {
    let a = server().new_account();
    let mut app = Ws::connected(&a.token, "user-scoped", None);
    let m = Ws::connected(&a.token, "machine-scoped", Some("m-7"));
    let on = app.expect("ephemeral");
    assert_eq!(on["data"]["type"], "machine-activity");
    assert_eq!((on["data"]["id"].clone(), on["data"]["active"].clone()), (json!("m-7"), json!(true)));
    m.close();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let e = app.expect("ephemeral");
        if e["data"]["type"] == "machine-activity" && e["data"]["active"] == false {
            assert_eq!(e["data"]["id"], "m-7");
            break;
        }
        assert!(Instant::now() < deadline);
    }
    app.close();
}

/// The last socket of a machine leaving marks it inactive in D1 too (a stopped daemon is
/// offline on the app's next GET /v1/machines, not for the next 10 minutes); another socket of
/// the same machine keeps it active, and a heartbeat after a reconnect marks it active again.
#[test]
fn a_machine_goes_inactive_when_its_last_socket_leaves() {
    let a = server().new_account();
    server().register_machine(&a.token, "m-off");
    let active = || {
        let r = server().get("/v1/machines/m-off", Some(&a.token));
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["machine"]["active"].as_bool().unwrap()
    };
    // Socket events are handled concurrently with later frames: poll for their effect.
    let becomes = |want: bool| {
        wait_until(&format!("machine active should become {want}"), Duration::from_secs(5), || active() == want);
    };
    let alive = |ws: &mut Ws| {
        let now = now_ms();
        ws.send(json!({"event": "machine-alive", "data": {"machineId": "m-off", "time": now}}));
    };
    let mut app = Ws::connected(&a.token, "user-scoped", None);
    let mut first = Ws::connected(&a.token, "machine-scoped", Some("m-off"));
    let second = Ws::connected(&a.token, "machine-scoped", Some("m-off"));
    alive(&mut first);
    becomes(true);
    second.close();
    std::thread::sleep(Duration::from_millis(500));
    assert!(active(), "another socket of the machine is still connected");
    first.close();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let e = app.expect("ephemeral");
        if e["data"]["type"] == "machine-activity" && e["data"]["active"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "no machine-activity active:false");
    }
    assert!(!active(), "written before the ephemeral went out");
    // Within the heartbeat write throttle of the first connection: still written.
    let mut again = Ws::connected(&a.token, "machine-scoped", Some("m-off"));
    alive(&mut again);
    becomes(true);
    again.close();
    app.close();
}

#[test]
fn rpc_round_trip_between_two_sockets() {
    let a = server().new_account();
    let mut daemon = Ws::connected(&a.token, "machine-scoped", Some("m1"));
    let mut app = Ws::connected(&a.token, "user-scoped", None);
    daemon.send(json!({"event": "rpc-register", "data": {"method": "m1:spawn"}}));
    assert_eq!(daemon.expect("rpc-registered")["data"], json!({"method": "m1:spawn"}));

    app.send(json!({"event": "rpc-call", "ackId": "c1", "data": {"method": "m1:spawn", "params": "cGFyYW1z"}}));
    let req = daemon.expect("rpc-request");
    assert_eq!(req["data"], json!({"method": "m1:spawn", "params": "cGFyYW1z"}));
    daemon.send(json!({"event": "rpc-response", "ackId": req["ackId"], "ack": "cmVzdWx0"}));
    assert_eq!(app.expect("ack"), json!({"event": "ack", "ackId": "c1", "ack": {"ok": true, "result": "cmVzdWx0"}}));

    // A socket never calls itself.
    daemon.send(json!({"event": "rpc-call", "ackId": "self", "data": {"method": "m1:spawn", "params": ""}}));
    assert_eq!(daemon.expect("ack")["ack"]["ok"], false);

    // A call waits for the serving socket to register (e.g. after a reconnect).
    app.send(json!({"event": "rpc-call", "ackId": "c2", "data": {"method": "m1:later", "params": "x"}}));
    std::thread::sleep(Duration::from_millis(800));
    daemon.send(json!({"event": "rpc-register", "data": {"method": "m1:later"}}));
    let req = daemon.expect("rpc-request");
    assert_eq!(req["data"]["method"], "m1:later");
    daemon.send(json!({"event": "rpc-response", "ackId": req["ackId"], "ack": "late"}));
    assert_eq!(app.expect("ack")["ack"], json!({"ok": true, "result": "late"}));

    // Unregistered methods are no longer served; a target that leaves fails its pending call.
    daemon.send(json!({"event": "rpc-unregister", "data": {"method": "m1:later"}}));
    assert_eq!(daemon.expect("rpc-unregistered")["data"]["method"], "m1:later");
    app.send(json!({"event": "rpc-call", "ackId": "c3", "data": {"method": "m1:spawn", "params": "x"}}));
    daemon.expect("rpc-request");
    daemon.close();
    assert_eq!(app.expect("ack")["ack"], json!({"ok": false, "error": "RPC target disconnected"}));
    app.close();
}

#[test]
fn engine_io_long_polling_and_plain_gets_are_refused_with_json() {
    let app = server();
    let r = app.get("/v1/updates/?EIO=4&transport=polling", None);
    r.assert_error(400);
    app.get("/v1/updates?EIO=3&transport=websocket", None).assert_error(400);
    app.get("/v1/updates", None).assert_error(426);
}

fn post_message(token: &str, sid: &str, local_id: &str) {
    let r = server().post_messages(token, sid, &[(local_id, "Y2lwaGVy")]);
    assert_eq!(r.status, 200, "{}", r.text);
}

fn seq_of(update: &Value) -> i64 {
    update["data"]["seq"].as_i64().unwrap()
}

#[test]
fn updates_reach_user_scoped_and_the_matching_session_only() {
    let a = server().new_account();
    let (s1, s2) = (server().new_session(&a.token, "t1"), server().new_session(&a.token, "t2"));
    let mut user = Ws::connected(&a.token, "user-scoped", None);
    let mut in_s1 = Ws::connected(&a.token, "session-scoped", Some(&s1));
    let mut in_s2 = Ws::connected(&a.token, "session-scoped", Some(&s2));
    let mut machine = Ws::connected(&a.token, "machine-scoped", Some("m1"));
    post_message(&a.token, &s1, "l1");
    for ws in [&mut user, &mut in_s1] {
        let u = ws.expect("update");
        let d = &u["data"];
        assert_eq!(d["id"].as_str().unwrap().len(), 12);
        assert!(d["createdAt"].as_i64().unwrap() > 0);
        assert_eq!(d["seq"], 3, "two new-session updates came first");
        assert_eq!(d["body"]["t"], "new-message");
        assert_eq!(d["body"]["sid"], s1.as_str());
        assert_eq!(d["body"]["message"]["seq"], 1);
        assert_eq!(d["body"]["message"]["content"], json!({"t": "encrypted", "c": "Y2lwaGVy"}));
    }
    assert!(in_s2.collect("update", Duration::from_millis(500)).is_empty());
    assert!(machine.collect("update", Duration::from_millis(100)).is_empty());
    for ws in [user, in_s1, in_s2, machine] {
        ws.close();
    }
}

#[test]
fn a_hundred_rapid_updates_arrive_in_seq_order() {
    let a = server().new_account();
    let sid = server().new_session(&a.token, "burst");
    let mut ws = Ws::connected(&a.token, "user-scoped", None);
    concurrently(10, |t| (0..10).for_each(|i| post_message(&a.token, &sid, &format!("{t}-{i}"))));
    let seqs: Vec<i64> = (0..100).map(|_| seq_of(&ws.expect("update"))).collect();
    assert_eq!(seqs, (2..102).collect::<Vec<_>>(), "strictly increasing, no gap, no duplicate");
    ws.close();
}

#[test]
fn reconnect_catches_up_with_no_gap() {
    let a = server().new_account();
    let sid = server().new_session(&a.token, "cu");
    let mut ws = Ws::connected(&a.token, "user-scoped", None);
    post_message(&a.token, &sid, "a");
    let seen = seq_of(&ws.expect("update"));
    ws.close();
    // Missed while away.
    for i in 0..5 {
        post_message(&a.token, &sid, &format!("away-{i}"));
    }
    let auth = format!("Bearer {}", a.token);
    let mut back = Ws::open(&format!("/v1/updates?afterSeq={seen}"), &[("Authorization", &auth)]);
    let hello = back.expect("connected");
    assert_eq!(hello["data"]["catchUp"]["complete"], true);
    assert_eq!(hello["data"]["catchUp"]["delivered"], 5);
    post_message(&a.token, &sid, "live");
    let seqs: Vec<i64> = (0..6).map(|_| seq_of(&back.expect("update"))).collect();
    assert_eq!(seqs, (seen + 1..seen + 7).collect::<Vec<_>>());
    // The same on demand, as an event with an ack.
    back.send(json!({"event": "catch-up", "ackId": "cu", "data": {"afterSeq": seen + 4}}));
    let replay: Vec<i64> = (0..2).map(|_| seq_of(&back.expect("update"))).collect();
    assert_eq!(replay, [seen + 5, seen + 6]);
    let ack = back.expect("ack");
    assert_eq!((ack["ack"]["complete"].clone(), ack["ack"]["delivered"].clone()), (json!(true), json!(2)));
    back.close();
}

#[test]
fn socket_events_write_through_the_ops() {
    let a = server().new_account();
    let sid = server().new_session(&a.token, "ev");
    let mut user = Ws::connected(&a.token, "user-scoped", None);
    let mut cli = Ws::connected(&a.token, "session-scoped", Some(&sid));

    // `message`: stored with the next message seq; the sender gets no echo.
    cli.send(json!({"event": "message", "data": {"sid": sid, "message": "c2VjcmV0", "localId": "x1"}}));
    let u = user.expect("update");
    assert_eq!(u["data"]["body"]["t"], "new-message");
    assert_eq!(u["data"]["body"]["message"]["content"]["c"], "c2VjcmV0");
    assert!(cli.collect("update", Duration::from_millis(500)).is_empty());
    let page = server().get(&format!("/v3/sessions/{sid}/messages"), Some(&a.token));
    assert_eq!(page.body["messages"].as_array().unwrap().len(), 1, "{}", page.text);

    // `update-metadata`: compare-and-set with acks, `update-session` to the session.
    cli.send(
        json!({"event": "update-metadata", "ackId": 1, "data": {"sid": sid, "metadata": "bmV3", "expectedVersion": 0}}),
    );
    let ack = cli.expect("ack");
    assert_eq!(ack["ack"]["result"], "success", "{ack}");
    assert_eq!(user.expect("update")["data"]["body"]["t"], "update-session");
    cli.send(
        json!({"event": "update-metadata", "ackId": 2, "data": {"sid": sid, "metadata": "x", "expectedVersion": 0}}),
    );
    assert_eq!(cli.expect("ack")["ack"]["result"], "version-mismatch");
    cli.send(
        json!({"event": "update-state", "ackId": 3, "data": {"sid": "nope", "agentState": null, "expectedVersion": 0}}),
    );
    assert_eq!(cli.expect("ack")["ack"], json!({"result": "error"}));

    // `session-alive`: `activity` to user-scoped sockets.
    let now = now_ms();
    cli.send(json!({"event": "session-alive", "data": {"sid": sid, "time": now, "thinking": true}}));
    let e = user.expect("ephemeral");
    assert_eq!(e["data"], json!({"type": "activity", "id": sid, "active": true, "activeAt": now, "thinking": true}));

    // `usage-report`: acked with the report.
    let usage = json!({"key": "claude-session", "sessionId": sid, "tokens": {"total": 3, "input": 1, "output": 2},
                       "cost": {"total": 0.5, "input": 0.2, "output": 0.3}});
    cli.send(json!({"event": "usage-report", "ackId": "u", "data": usage}));
    assert_eq!(cli.expect("ack")["ack"]["success"], true);
    assert_eq!(user.expect("ephemeral")["data"]["type"], "usage");
    user.close();
    cli.close();
}

/// tests/js with its npm packages, installed once for every test of this binary that needs them
/// (`make test` installs them first; a bare `cargo test` runs these tests in parallel).
fn js_clients() -> std::path::PathBuf {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    INSTALLED.get_or_init(|| {
        if !js.join("node_modules/socket.io-client").exists() {
            let ok = Command::new("npm").args(["ci", "--no-fund", "--no-audit"]).current_dir(&js).status();
            assert!(ok.is_ok_and(|s| s.success()), "npm ci in tests/js");
        }
    });
    js
}

/// The npm `socket.io-client` (tests/js) configured like the Happy CLI and app.
#[test]
fn stock_socket_io_clients_work_end_to_end() {
    let js = js_clients();
    let a = server().new_account();
    let sid = server().new_session(&a.token, "sio");
    let out = std::process::Command::new("node")
        .arg(js.join("socketio.mjs"))
        .args([&server().base, &a.token, &sid, "machine-sio"])
        .output()
        .expect("node");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("OK"), "{text}");
}

/// Engine.IO framing by hand: the open packet, the server's heartbeat from the object's alarm,
/// and pongs that never reach the object.
#[test]
fn engine_io_heartbeat_comes_from_the_server() {
    let a = server().new_account();
    let mut ws = Ws::open("/v1/updates/?EIO=4&transport=websocket", &[]);
    let open = match ws.recv_raw(Duration::from_secs(5)) {
        Some(t) => t,
        None => panic!("no open packet"),
    };
    let open: Value = serde_json::from_str(open.strip_prefix('0').expect("open packet")).unwrap();
    assert_eq!(open["upgrades"], json!([]));
    assert_eq!(open["maxPayload"], 1_000_000);
    let interval = open["pingInterval"].as_u64().unwrap();
    ws.send_text(&format!("40{}", json!({"token": a.token})));
    assert!(ws.recv_raw(Duration::from_secs(5)).unwrap().starts_with("40{\"sid\":"));
    ws.send_text(r#"421["ping"]"#);
    assert_eq!(ws.recv_raw(Duration::from_secs(5)).unwrap(), "431[{}]");
    let start = Instant::now();
    let deadline = Duration::from_millis(interval + 5_000);
    loop {
        match ws.recv_raw(deadline.saturating_sub(start.elapsed())) {
            Some(p) if p == "2" => break,
            Some(_) => {}
            None => panic!("no ping within {deadline:?}"),
        }
    }
    ws.send_text("3");
    ws.send_text("41");
    ws.close();
}

/// The artifact events answer with upstream's ack shapes, run the HTTP routes' ops (same rows,
/// same updates) and keep accounts apart.
#[test]
fn artifact_socket_events_share_the_http_ops() {
    let (a, b) = (server().new_account(), server().new_account());
    let mut app = Ws::connected(&a.token, "user-scoped", None);
    let mut other = Ws::connected(&a.token, "user-scoped", None);
    let call = |ws: &mut Ws, event: &str, data: Value| -> Value {
        let id = hex(&random_bytes::<6>());
        ws.send(json!({"event": event, "ackId": id, "data": data}));
        ws.expect_where(Duration::from_secs(10), |f| f["event"] == "ack" && f["ackId"] == id.as_str())["ack"].clone()
    };
    let id = uuid();
    let created = call(
        &mut app,
        "artifact-create",
        json!({"id": id, "header": "aA==", "body": "Yg==", "dataEncryptionKey": "aw=="}),
    );
    assert_eq!(created["result"], "success", "{created}");
    assert_eq!(
        (&created["artifact"]["id"], &created["artifact"]["headerVersion"], &created["artifact"]["body"]),
        (&json!(id), &json!(1), &json!("Yg=="))
    );
    let u = other.expect("update");
    assert_eq!(u["data"]["body"]["t"], "new-artifact");
    assert_eq!(u["data"]["body"]["artifactId"], id.as_str());
    let http = server().get(&format!("/v1/artifacts/{id}"), Some(&a.token));
    assert_eq!(http.body["header"], "aA==");
    // Idempotent create: the same artifact back, no second event.
    let again =
        call(&mut app, "artifact-create", json!({"id": id, "header": "x", "body": "x", "dataEncryptionKey": "x"}));
    assert_eq!(again["artifact"]["header"], "aA==");

    let read = call(&mut app, "artifact-read", json!({"artifactId": id}));
    assert_eq!(read["result"], "success");
    assert_eq!(read["artifact"], created["artifact"]);

    let updated =
        call(&mut app, "artifact-update", json!({"artifactId": id, "header": {"data": "aDI=", "expectedVersion": 1}}));
    assert_eq!(updated, json!({"result": "success", "header": {"version": 2, "data": "aDI="}}));
    let u = other.expect("update");
    assert_eq!(
        u["data"]["body"],
        json!({"t": "update-artifact", "artifactId": id, "header": {"value": "aDI=", "version": 2}})
    );
    let stale = call(
        &mut app,
        "artifact-update",
        json!({"artifactId": id, "header": {"data": "x", "expectedVersion": 1}, "body": {"data": "y", "expectedVersion": 1}}),
    );
    assert_eq!(stale, json!({"result": "version-mismatch", "header": {"currentVersion": 2, "currentData": "aDI="}}));
    assert_eq!(server().get(&format!("/v1/artifacts/{id}"), Some(&a.token)).body["headerVersion"], 2);

    // Bad input and other accounts' ids are error acks, never a dropped socket.
    let mut b_ws = Ws::connected(&b.token, "user-scoped", None);
    let foreign = call(&mut b_ws, "artifact-read", json!({"artifactId": id}));
    assert_eq!(foreign, json!({"result": "error", "message": "Artifact not found"}));
    let taken =
        call(&mut b_ws, "artifact-create", json!({"id": id, "header": "h", "body": "b", "dataEncryptionKey": "k"}));
    assert_eq!(taken["result"], "error");
    assert_eq!(call(&mut b_ws, "artifact-delete", json!({"artifactId": id}))["result"], "error");
    assert_eq!(
        call(&mut app, "artifact-create", json!({"id": "nope", "header": "h", "body": "b", "dataEncryptionKey": "k"}))
            ["result"],
        "error"
    );
    assert_eq!(call(&mut app, "artifact-update", json!({"artifactId": id}))["result"], "error");
    assert_eq!(call(&mut app, "artifact-read", json!({}))["result"], "error");

    assert_eq!(call(&mut app, "artifact-delete", json!({"artifactId": id})), json!({"result": "success"}));
    assert_eq!(other.expect("update")["data"]["body"], json!({"t": "delete-artifact", "artifactId": id}));
    server().get(&format!("/v1/artifacts/{id}"), Some(&a.token)).assert_error(404);
    assert_eq!(call(&mut app, "artifact-read", json!({"artifactId": id}))["result"], "error");
    for ws in [app, other, b_ws] {
        ws.close();
    }
}

/// `access-key-get` answers what `GET /v1/access-keys/:sessionId/:machineId` does, in the
/// socket's ack shape: the key (or null before one is stored), and an error ack for a pair of
/// another account.
#[test]
fn access_key_get_event_matches_the_http_route() {
    let app = server();
    let (a, b) = (app.new_account(), app.new_account());
    let t = Some(a.token.as_str());
    let (sid, mid) = (app.new_session(&a.token, &new_id("t")), new_id("m"));
    app.register_machine(&a.token, &mid);
    let call = |ws: &mut Ws, data: Value| -> Value {
        let id = hex(&random_bytes::<6>());
        ws.send(json!({"event": "access-key-get", "ackId": id, "data": data}));
        ws.expect_where(Duration::from_secs(10), |f| f["event"] == "ack" && f["ackId"] == id.as_str())["ack"].clone()
    };
    let mut ws = Ws::connected(&a.token, "user-scoped", None);
    let pair = json!({"sessionId": sid, "machineId": mid});
    assert_eq!(call(&mut ws, pair.clone()), json!({"accessKey": null, "ok": true}));
    assert_eq!(app.post(&format!("/v1/access-keys/{sid}/{mid}"), t, json!({"data": "k1"})).status, 200);
    let http = app.get(&format!("/v1/access-keys/{sid}/{mid}"), t).body;
    let ack = call(&mut ws, pair.clone());
    assert_eq!((&ack["ok"], &ack["accessKey"]), (&json!(true), &http["accessKey"]), "{ack}");
    assert_eq!(ack["accessKey"]["data"], "k1");

    let mut other = Ws::connected(&b.token, "user-scoped", None);
    assert_eq!(call(&mut other, pair), json!({"ok": false, "error": "Session or machine not found"}));
    assert_eq!(call(&mut other, json!({}))["ok"], false);
    ws.close();
    other.close();
}

/// Frames over `maxPayload` (1e6 bytes) close the socket with 1009, whichever way it came in
/// (straight to the object, or relayed by the worker before or after CONNECT); the account's
/// other sockets carry on and the object forgets the closed ones.
#[test]
fn oversize_frames_close_the_socket_cleanly() {
    let a = server().new_account();
    let mut keeper = Ws::connected(&a.token, "user-scoped", None);
    let big = "x".repeat(1_000_001);
    let fits = "y".repeat(999_000);

    // Straight to the object (header auth).
    let mut direct = Ws::connected(&a.token, "user-scoped", None);
    direct.send(json!({"event": "app-state", "data": {"state": fits}}));
    direct.send(json!({"event": "ping", "ackId": "p"}));
    assert_eq!(direct.expect("ack")["ackId"], "p", "a frame under the limit is served");
    direct.send_text(&big);
    assert_eq!(direct.expect_close(), 1009);

    // Relayed, before CONNECT.
    let mut early = Ws::open("/v1/updates/?EIO=4&transport=websocket", &[]);
    assert!(early.recv_raw(Duration::from_secs(5)).is_some());
    early.send_text(&big);
    assert_eq!(early.expect_close(), 1009);

    // Relayed, after CONNECT: an event one byte over the limit.
    let (mut relayed, answer) = eio_connect(json!({"token": a.token}));
    assert!(answer.starts_with("40"), "{answer}");
    let packet = format!("42{}", json!(["app-state", {"state": ""}]));
    let pad = 1_000_001 - packet.len();
    relayed.send_text(&format!("42{}", json!(["app-state", {"state": "z".repeat(pad)}])));
    assert_eq!(relayed.expect_close(), 1009);

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = server().get("/v1/websocket/stats", Some(&a.token));
        if stats.body["totalConnections"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "closed sockets still counted: {}", stats.text);
        std::thread::sleep(Duration::from_millis(200));
    }
    keeper.send(json!({"event": "ping", "ackId": "k"}));
    assert_eq!(keeper.expect("ack")["ackId"], "k");
    keeper.close();
}

/// A relayed Socket.IO client that vanishes (no close frame) is cleaned up on both sides: the
/// object drops its socket, and its machine goes offline for the user's other sockets.
#[test]
fn a_vanished_relayed_client_leaves_the_object() {
    let a = server().new_account();
    let mut user = Ws::connected(&a.token, "user-scoped", None);
    let (daemon, answer) =
        eio_connect(json!({"token": a.token, "clientType": "machine-scoped", "machineId": "m-gone"}));
    assert!(answer.starts_with("40"), "{answer}");
    let online = |on: bool| {
        move |f: &Value| {
            f["event"] == "ephemeral"
                && f["data"]["type"] == "machine-activity"
                && f["data"]["id"] == "m-gone"
                && f["data"]["active"] == on
        }
    };
    user.expect_where(Duration::from_secs(5), online(true));
    assert_eq!(server().get("/v1/websocket/stats", Some(&a.token)).body["totalConnections"], 2);
    daemon.vanish();
    user.expect_where(Duration::from_secs(10), online(false));
    assert_eq!(server().get("/v1/websocket/stats", Some(&a.token)).body["totalConnections"], 1);
    user.close();
}

fn lobby_stats(token: &str) -> Value {
    let r = server().get("/v1/websocket/stats", Some(token));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// Sockets that authenticate inside the socket (Socket.IO CONNECT, a raw first frame) are held
/// by a lobby object, not by the stateless worker: the stock socket.io-client and a raw client
/// stay connected through minutes of traffic and Engine.IO heartbeats, every frame they send
/// reaches the user's object through the lobby, and both get every update in seq order.
/// HAPPY_SOAK_SECONDS sets how long (default 100 s: four heartbeat intervals); the other tests
/// of this binary run meanwhile.
#[test]
fn stock_and_raw_clients_live_in_lobbies_through_minutes_of_traffic() {
    let seconds: u64 = std::env::var("HAPPY_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let a = server().new_account();
    let sid = server().new_session(&a.token, "soak");

    let js = js_clients();
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

    let before = lobby_stats(&a.token);
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
    let after = lobby_stats(&a.token);
    let relayed = after["lobbyFrames"].as_u64().unwrap() - before["lobbyFrames"].as_u64().unwrap();
    assert!(relayed >= raw_sent + node_sent, "{relayed} frames relayed, {raw_sent} + {node_sent} sent: {after}");
    raw.close();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lobby_stats(&a.token)["lobbySockets"] != 0 {
        assert!(Instant::now() < deadline, "closed sockets still registered: {}", lobby_stats(&a.token));
        std::thread::sleep(Duration::from_millis(200));
    }
}
