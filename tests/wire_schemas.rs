//! Every `update` and `ephemeral` body the server sends, validated against the clients' own
//! zod schemas: real HTTP writes and socket events produce each event type, a raw user-scoped
//! socket and a session-scoped one collect the frames, and tests/js/validate_wire.mjs checks
//! them (@slopus/happy-wire for the core updates, tests/js/wire_schemas.mjs from
//! docs/compatibility.md#server-events for the rest).

mod common;
#[path = "support/ws.rs"]
mod ws;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use ws::Ws;

fn js_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Runs the validator over the frames; `(seen type -> count, failures)`.
fn validate(frames: &[Value]) -> (BTreeMap<String, u64>, Value) {
    let js = js_dir();
    if !js.join("node_modules/@slopus/happy-wire").exists() {
        let ok = Command::new("npm").args(["ci", "--no-fund", "--no-audit"]).current_dir(&js).status();
        assert!(ok.is_ok_and(|s| s.success()), "npm ci in tests/js");
    }
    let mut child = Command::new("node")
        .arg(js.join("validate_wire.mjs"))
        .current_dir(&js)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node");
    let input: String = frames.iter().map(|f| format!("{f}\n")).collect();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("validator output: {}", String::from_utf8_lossy(&out.stderr)));
    let seen = report["seen"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
    (seen, report["failures"].clone())
}

fn ok(r: Resp) -> Value {
    assert!(r.status == 200, "{}", r.text);
    r.body
}

/// The update and ephemeral frames of a socket until it has been quiet for a second.
fn frames(ws: &mut Ws) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let got = ws.drain(Duration::from_millis(1000));
        if got.is_empty() {
            return out;
        }
        out.extend(got.into_iter().filter(|f| f["event"] == "update" || f["event"] == "ephemeral"));
    }
}

#[test]
fn every_event_body_matches_the_clients_schemas() {
    let app = app();
    let (a, b) = (app.new_account(), app.new_account());
    let (a_id, b_id) = (user_id_of(&a.token), user_id_of(&b.token));
    let t = Some(a.token.as_str());
    let mut user = Ws::connect(app, &a.token, "user-scoped", None);

    // Sessions and messages: new-session, new-message (v3, v1, socket), update-session.
    let sid = ok(app.post("/v1/sessions", t, json!({"tag": "wire", "metadata": "bWV0YQ==", "agentState": null})))
        ["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut cli = Ws::connect(app, &a.token, "session-scoped", Some(&sid));
    ok(app.post(
        &format!("/v3/sessions/{sid}/messages"),
        t,
        json!({"messages": [{"localId": "l1", "content": "djM="}]}),
    ));
    ok(app.post(&format!("/v1/sessions/{sid}/messages"), t, json!({"content": {"t": "encrypted", "c": "djE="}})));
    cli.send("message", json!({"sid": sid, "message": "c29jaw==", "localId": "l3"}));
    assert_eq!(
        cli.call("update-metadata", json!({"sid": sid, "metadata": "bTI=", "expectedVersion": 0}))["result"],
        "success"
    );
    assert_eq!(
        cli.call("update-state", json!({"sid": sid, "agentState": "c3Q=", "expectedVersion": 0}))["result"],
        "success"
    );
    assert_eq!(
        cli.call("update-state", json!({"sid": sid, "agentState": null, "expectedVersion": 1}))["result"],
        "success"
    );
    // Ephemerals: activity (alive, end, archive), usage, session-event.
    cli.send("session-alive", json!({"sid": sid, "time": now_ms(), "thinking": true, "mode": "remote"}));
    cli.send("session-alive", json!({"sid": sid, "time": now_ms() + 5000}));
    cli.call(
        "usage-report",
        json!({"key": "claude-session", "sessionId": sid,
               "tokens": {"total": 10, "input": 4, "output": 6, "cache_creation": 0, "cache_read": 0},
               "cost": {"total": 0.5, "input": 0.2, "output": 0.3}}),
    );
    ok(app.post(&format!("/v1/sessions/{sid}/push-event"), t, json!({"kind": "question", "title": "T", "body": "B"})));
    cli.send("session-end", json!({"sid": sid, "time": now_ms()}));
    ok(app.post(&format!("/v1/sessions/{sid}/archive"), t, json!({})));

    // Machines: new-machine, machine-activity/-status, update-machine, delete-machine.
    let mid = format!("m-{}", &uuid()[..8]);
    ok(app.post("/v1/machines", t, json!({"id": mid, "metadata": "bWV0YQ==", "dataEncryptionKey": null})));
    let mut daemon = Ws::connect(app, &a.token, "machine-scoped", Some(&mid));
    let r = daemon.call("machine-update-metadata", json!({"machineId": mid, "metadata": "bTI=", "expectedVersion": 1}));
    assert_eq!(r["result"], "success", "{r}");
    let r = daemon.call("machine-update-state", json!({"machineId": mid, "daemonState": "ZA==", "expectedVersion": 0}));
    assert_eq!(r["result"], "success", "{r}");
    daemon.send("machine-alive", json!({"machineId": mid, "time": now_ms()}));
    daemon.call("ping", json!({}));
    daemon.close();
    ok(app.delete(&format!("/v1/machines/{mid}"), t));

    // Account: update-account (settings, profile).
    ok(app.post("/v1/account/settings", t, json!({"settings": "c2V0", "expectedVersion": 0})));
    ok(app.post("/v1/account/settings", t, json!({"settings": null, "expectedVersion": 1})));
    ok(app.put("/v1/account", t, json!({"username": format!("wire{}", &a_id[..8]), "firstName": "A"})));
    ok(app.put("/v1/account", Some(&b.token), json!({"username": format!("wirb{}", &b_id[..8]), "firstName": "B"})));

    // Artifacts.
    let art = uuid();
    ok(app.post("/v1/artifacts", t, json!({"id": art, "header": "h1", "body": "b1", "dataEncryptionKey": "k1"})));
    ok(app.post(
        &format!("/v1/artifacts/{art}"),
        t,
        json!({"header": "h2", "expectedHeaderVersion": 1, "body": "b2", "expectedBodyVersion": 1}),
    ));
    ok(app.delete(&format!("/v1/artifacts/{art}"), t));

    // Social: relationship-updated both ways, new-feed-post for the request and the acceptance.
    ok(app.post("/v1/friends/add", Some(&b.token), json!({"uid": a_id})));
    ok(app.post("/v1/friends/add", t, json!({"uid": b_id})));
    ok(app.post("/v1/friends/remove", t, json!({"uid": b_id})));

    // KV: set then delete.
    ok(app.post("/v1/kv", t, json!({"mutations": [{"key": "wire", "value": "dg==", "version": -1}]})));
    ok(app.post("/v1/kv", t, json!({"mutations": [{"key": "wire", "value": null, "version": 0}]})));

    // Last: delete-session.
    ok(app.delete(&format!("/v1/sessions/{sid}"), t));

    let from_user = frames(&mut user);
    let from_cli = frames(&mut cli);
    let (seen, failures) = validate(&from_user);
    assert_eq!(failures, json!([]), "user-scoped bodies rejected by the clients' schemas");
    let expected = [
        "update:new-session",
        "update:new-message",
        "update:update-session",
        "update:delete-session",
        "update:new-machine",
        "update:update-machine",
        "update:delete-machine",
        "update:update-account",
        "update:new-artifact",
        "update:update-artifact",
        "update:delete-artifact",
        "update:relationship-updated",
        "update:new-feed-post",
        "update:kv-batch-update",
        "ephemeral:activity",
        "ephemeral:machine-activity",
        "ephemeral:usage",
        "ephemeral:session-event",
    ];
    for t in expected {
        assert!(seen.contains_key(t), "no {t} reached the user-scoped socket; saw {seen:?}");
    }
    assert_eq!(seen["update:new-message"], 3, "v3, v1 and socket writes");
    assert_eq!(seen["ephemeral:activity"], 4, "two alives, end, archive");

    let (seen, failures) = validate(&from_cli);
    assert_eq!(failures, json!([]), "session-scoped bodies rejected by the clients' schemas");
    // The CLI gets its session's updates (not its own socket message's echo) and events only.
    assert_eq!(seen.get("update:new-message"), Some(&2), "{seen:?}");
    assert_eq!(seen.get("update:update-session"), Some(&3), "{seen:?}");
    assert_eq!(seen.get("ephemeral:session-event"), Some(&1), "{seen:?}");
    assert_eq!(seen.len(), 3, "nothing user-only reaches a session-scoped socket: {seen:?}");
    user.close();
    cli.close();
}

/// The validator itself rejects what the app would drop (a missing required key, a wrong type,
/// an unknown update), so a passing run above means something.
#[test]
fn the_validator_rejects_bodies_the_app_would_drop() {
    let frame = |event: &str, data: Value| json!({"event": event, "data": data});
    let update = |body: Value| frame("update", json!({"id": "u1", "seq": 1, "createdAt": 1, "body": body}));
    let bad = [
        frame("ephemeral", json!({"type": "activity", "id": "s", "active": true, "activeAt": 1})),
        frame(
            "ephemeral",
            json!({"type": "session-event", "sessionId": "s", "kind": "other", "title": "t", "body": "b", "timestamp": 1}),
        ),
        update(
            json!({"t": "new-message", "sid": "s", "message": {"id": "m", "seq": 1, "content": {"encrypted": "x"}, "createdAt": 1, "updatedAt": 1}}),
        ),
        update(
            json!({"t": "new-feed-post", "id": "f", "body": {"kind": "text", "text": "x"}, "cursor": "cursor_3", "repeatKey": null, "createdAt": 1}),
        ),
        update(
            json!({"t": "new-feed-post", "id": "f", "body": {"kind": "text", "text": "x"}, "cursor": "0-3", "createdAt": 1}),
        ),
        update(json!({"t": "no-such-update"})),
    ];
    for f in bad {
        let (_, failures) = validate(std::slice::from_ref(&f));
        assert_eq!(failures.as_array().map(Vec::len), Some(1), "accepted: {f}");
    }
}
