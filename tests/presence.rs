//! Presence without heartbeats (docs/protocol.md#presence-and-inactivity: no heartbeat for 10
//! minutes, inactive): the user's object sweeps silent sessions and machines, while sockets are
//! connected and after the last one left. The timeout is 3 s here (`INACTIVITY_TIMEOUT_MS`) instead
//! of 10 minutes.

mod common;
#[path = "support/ws.rs"]
mod ws;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use ws::Ws;

const TIMEOUT_MS: u64 = 3_000;

fn server() -> &'static TestApp {
    app_with(&[("INACTIVITY_TIMEOUT_MS", "3000")])
}

fn active(token: &str, path: &str, key: &str) -> bool {
    let r = server().get(path, Some(token));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body[key]["active"].as_bool().unwrap()
}

/// Polls until the item's `active` is `want` (socket events run concurrently with later frames).
fn becomes(token: &str, path: &str, key: &str, want: bool, within: Duration) {
    wait_until(&format!("{path} should become active:{want}"), within, || active(token, path, key) == want);
}

#[test]
fn silent_sessions_and_machines_go_inactive_and_come_back() {
    let app = server();
    let a = app.new_account();
    let sid = app.new_session(&a.token, "t");
    app.register_machine(&a.token, "m-quiet");
    let (session, machine) = (format!("/v1/sessions/{sid}"), "/v1/machines/m-quiet");

    let mut user = Ws::connect(app, &a.token, "user-scoped", None);
    let mut cli = Ws::connect(app, &a.token, "session-scoped", Some(&sid));
    let mut daemon = Ws::connect(app, &a.token, "machine-scoped", Some("m-quiet"));
    let heartbeats = |cli: &mut Ws, daemon: &mut Ws| {
        cli.send("session-alive", json!({"sid": sid, "time": now_ms(), "thinking": false}));
        daemon.send("machine-alive", json!({"machineId": "m-quiet", "time": now_ms()}));
    };
    heartbeats(&mut cli, &mut daemon);
    becomes(&a.token, &session, "session", true, Duration::from_secs(5));
    becomes(&a.token, machine, "machine", true, Duration::from_secs(5));
    user.clear();

    // Sockets stay open but silent: both swept within the timeout plus one sweep interval.
    let silent = Instant::now();
    let limit = Duration::from_millis(TIMEOUT_MS + 4_000);
    let ended = user.activity("activity", &sid, false, limit);
    assert_eq!(ended["thinking"], false);
    assert!(ended["activeAt"].is_number());
    user.activity("machine-activity", "m-quiet", false, limit);
    assert!(silent.elapsed() >= Duration::from_millis(TIMEOUT_MS - 500), "swept too early: {:?}", silent.elapsed());
    assert!(!active(&a.token, &session, "session"));
    assert!(!active(&a.token, machine, "machine"));

    // The next heartbeats reach D1 again, though within the write throttle of the last ones.
    heartbeats(&mut cli, &mut daemon);
    becomes(&a.token, &session, "session", true, Duration::from_secs(2));
    becomes(&a.token, machine, "machine", true, Duration::from_secs(2));

    // With every socket gone the sweep still comes (the machine goes offline at once when its
    // socket leaves; the session only when it is silent for the timeout).
    cli.close();
    daemon.close();
    user.close();
    becomes(&a.token, machine, "machine", false, Duration::from_secs(5));
    assert!(active(&a.token, &session, "session"), "a session survives its socket for the timeout");
    becomes(&a.token, &session, "session", false, Duration::from_millis(TIMEOUT_MS + 4_000));
}
