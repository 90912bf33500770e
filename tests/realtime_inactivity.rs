//! The inactivity timeout with a 2 s threshold (10 minutes in production): the user's object
//! marks stale sessions and machines inactive from its alarm, tells user-scoped sockets, and
//! stops sweeping once nothing is active.

mod common;
#[path = "support/realtime_ws.rs"]
mod ws;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use ws::Ws;

/// Long enough for a few `wrangler d1 execute` reads (a second or more each) in between.
const TIMEOUT_MS: u64 = 5_000;

fn server() -> &'static TestApp {
    app_with(&[("INACTIVITY_TIMEOUT_MS", "5000")])
}

fn active(table: &str, id: &str) -> i64 {
    server().d1(&format!("SELECT active FROM {table} WHERE id = '{id}'"))[0]["active"].as_i64().unwrap()
}

/// `active` of a session and a machine, in one read.
fn both_active(sid: &str, mid: &str) -> (i64, i64) {
    let row = server().d1(&format!(
        "SELECT (SELECT active FROM sessions WHERE id = '{sid}') AS s, (SELECT active FROM machines WHERE id = '{mid}') AS m"
    ));
    (row[0]["s"].as_i64().unwrap(), row[0]["m"].as_i64().unwrap())
}

/// The next `ephemeral` of this type about this id (presence and heartbeat echoes skipped).
fn ephemeral(ws: &mut Ws, kind: &str, id: &str, active: bool, within: Duration) -> Value {
    let f = ws.expect_where(within, |f| {
        f["event"] == "ephemeral" && f["data"]["type"] == kind && f["data"]["id"] == id && f["data"]["active"] == active
    });
    f["data"].clone()
}

#[test]
fn stale_sessions_and_machines_go_inactive_and_idle_objects_stay_asleep() {
    let app = server();
    let a = app.new_account();
    let sid = app.new_session(&a.token, "idle");
    let mid = "machine-idle";
    app.register_machine(&a.token, mid);
    let mut user = Ws::connected(&a.token, "user-scoped", None);
    // A daemon that connects, reports alive once, then hangs (socket open, no heartbeats).
    let mut daemon = Ws::connected(&a.token, "machine-scoped", Some(mid));
    let (t_session, t_machine) = (now_ms(), now_ms());
    daemon.send(json!({"event": "session-alive", "data": {"sid": sid, "time": t_session, "thinking": true}}));
    daemon.send(json!({"event": "machine-alive", "data": {"machineId": mid, "time": t_machine}}));
    ephemeral(&mut user, "activity", &sid, true, Duration::from_secs(5));
    // Not the presence ephemeral of the daemon's connect: the heartbeat's, once it is stored.
    user.expect_where(Duration::from_secs(5), |f| {
        f["data"]["type"] == "machine-activity" && f["data"]["activeAt"] == t_machine
    });
    assert_eq!(both_active(&sid, mid), (1, 1));

    // Within the timeout plus the sweep's slack, both are marked inactive, with their last
    // heartbeat as activeAt.
    let within = Duration::from_millis(TIMEOUT_MS * 4);
    let s = ephemeral(&mut user, "activity", &sid, false, within);
    assert_eq!(s, json!({"type": "activity", "id": sid, "active": false, "activeAt": t_session, "thinking": false}));
    let m = ephemeral(&mut user, "machine-activity", mid, false, within);
    assert_eq!(m, json!({"type": "machine-activity", "id": mid, "active": false, "activeAt": t_machine}));
    let idle = now_ms() - t_session;
    assert!(idle >= TIMEOUT_MS as i64, "swept after {idle} ms without a heartbeat");
    assert_eq!(both_active(&sid, mid), (0, 0));
    let listed = app.get("/v1/sessions", Some(&a.token));
    assert_eq!(listed.body["sessions"][0]["active"], false, "{}", listed.text);

    // Nothing active: the sweep is not re-armed. A row made stale behind the object's back
    // stays as it is, because nothing wakes the object to look.
    app.d1(&format!("UPDATE sessions SET active = 1, last_active_at = 1 WHERE id = '{sid}'"));
    let quiet = user.collect("ephemeral", Duration::from_millis(TIMEOUT_MS * 2));
    assert!(quiet.is_empty(), "an idle object swept: {quiet:?}");
    assert_eq!(active("sessions", &sid), 1);

    // A heartbeat re-arms it; it reaches D1 even though one was written seconds ago (the
    // sweep resets the write throttle).
    app.d1(&format!("UPDATE sessions SET active = 0 WHERE id = '{sid}'"));
    let t2 = now_ms();
    daemon.send(json!({"event": "session-alive", "data": {"sid": sid, "time": t2}}));
    ephemeral(&mut user, "activity", &sid, true, Duration::from_secs(5));
    assert_eq!(active("sessions", &sid), 1);
    let again = ephemeral(&mut user, "activity", &sid, false, within);
    assert_eq!(again["activeAt"], t2);
    assert_eq!(active("sessions", &sid), 0);
    daemon.close();
    user.close();
}

fn wait_inactive(sid: &str) {
    wait_until(&format!("session {sid} inactive"), Duration::from_millis(TIMEOUT_MS * 4), || {
        active("sessions", sid) != 1
    });
}

/// Each object sweeps its own account only.
#[test]
fn the_sweep_touches_only_its_own_account() {
    let app = server();
    let (a, b) = (app.new_account(), app.new_account());
    let sid_b = server().new_session(&b.token, "b");
    wait_inactive(&sid_b);
    // b's object is idle now; its row turns stale-active behind its back.
    app.d1(&format!("UPDATE sessions SET active = 1, last_active_at = 1 WHERE id = '{sid_b}'"));
    let sid_a = server().new_session(&a.token, "a");
    wait_inactive(&sid_a);
    assert_eq!(active("sessions", &sid_b), 1, "a's sweep touched b's session");
}
