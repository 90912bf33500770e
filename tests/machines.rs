//! Machines and access keys as a client sees them: registration idempotency and 409, the
//! stock-client list shape (docs/compatibility.md C4), status updates, deletion, access key CAS.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

const MACHINE_KEYS: &[&str] = &[
    "id",
    "accountId",
    "metadata",
    "metadataVersion",
    "daemonState",
    "daemonStateVersion",
    "dataEncryptionKey",
    "seq",
    "active",
    "activeAt",
    "lastActiveAt",
    "createdAt",
    "updatedAt",
];

#[test]
fn every_route_requires_a_token() {
    let app = app();
    for (method, path) in [
        ("POST", "/v1/machines"),
        ("GET", "/v1/machines"),
        ("GET", "/v1/machines/x"),
        ("PUT", "/v1/machines/x/status"),
        ("DELETE", "/v1/machines/x"),
        ("GET", "/v1/access-keys/s/m"),
        ("POST", "/v1/access-keys/s/m"),
        ("PUT", "/v1/access-keys/s/m"),
    ] {
        app.request(method, path, None, Some(&json!({})), &[]).assert_error(401);
    }
}

#[test]
fn register_is_idempotent_and_another_accounts_id_is_409() {
    let app = app();
    let (a, b) = (app.new_account(), app.new_account());
    let id = new_id("m");
    // Legacy CLI: no daemonState, no dataEncryptionKey.
    let m = app.register_machine(&a.token, &id);
    let expected_keys: BTreeSet<String> = MACHINE_KEYS.iter().map(|s| s.to_string()).collect();
    assert_eq!(keys(&m), expected_keys);
    assert_eq!(m["id"], json!(id));
    assert_eq!(m["accountId"], json!(user_id_of(&a.token)));
    assert_eq!((m["metadataVersion"].as_i64(), m["daemonStateVersion"].as_i64()), (Some(1), Some(0)));
    assert_eq!((&m["daemonState"], &m["dataEncryptionKey"], &m["active"]), (&Value::Null, &Value::Null, &json!(false)));
    assert_eq!(m["activeAt"], m["lastActiveAt"]);

    // Existing: returned unchanged.
    let r = app.post("/v1/machines", Some(&a.token), json!({"id": id, "metadata": "other", "daemonState": "d"}));
    assert_eq!(r.body["machine"], m);

    // With state and key, explicit nulls accepted.
    let r = app.post(
        "/v1/machines",
        Some(&a.token),
        json!({"id": new_id("m"), "metadata": "md", "daemonState": "ds", "dataEncryptionKey": "a2V5"}),
    );
    assert_eq!(
        (r.body["machine"]["daemonState"].clone(), r.body["machine"]["daemonStateVersion"].clone()),
        (json!("ds"), json!(1))
    );
    let r = app.post(
        "/v1/machines",
        Some(&a.token),
        json!({"id": new_id("m"), "metadata": "md", "daemonState": null, "dataEncryptionKey": null}),
    );
    assert_eq!(r.status, 200);

    // Another account: 409, never 400/500, and nothing of A's leaks.
    let r = app.post("/v1/machines", Some(&b.token), json!({"id": id, "metadata": "x"}));
    r.assert_error(409);
    assert!(!r.text.contains("bWV0YQ=="));
    app.get(&format!("/v1/machines/{id}"), Some(&b.token)).assert_error(404);
    app.put(&format!("/v1/machines/{id}/status"), Some(&b.token), json!({"active": true})).assert_error(404);
    app.delete(&format!("/v1/machines/{id}"), Some(&b.token)).assert_error(404);
    assert_eq!(app.get("/v1/machines", Some(&b.token)).body, json!({"machines": []}));
    assert_eq!(app.get(&format!("/v1/machines/{id}"), Some(&a.token)).body, json!({"machine": m}));
}

#[test]
fn concurrent_registrations_of_one_id_create_one_machine() {
    let app = app();
    let a = app.new_account();
    let id = new_id("m");
    let created: BTreeSet<String> =
        concurrently(8, |_| app.register_machine(&a.token, &id)["createdAt"].to_string()).into_iter().collect();
    assert_eq!(created.len(), 1);
}

#[test]
fn bad_input_is_400_and_writes_nothing() {
    let app = app();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    for body in [
        json!({"metadata": "m"}),
        json!({"id": "", "metadata": "m"}),
        json!({"id": "x".repeat(257), "metadata": "m"}),
        json!({"id": "m1", "metadata": 1}),
        json!({"id": "m1"}),
        json!({"id": "m1", "metadata": "m", "daemonState": 5}),
        json!({"id": "m1", "metadata": "m", "dataEncryptionKey": "k".repeat(5000)}),
    ] {
        app.post("/v1/machines", t, body).assert_error(400);
    }
    app.request_raw("POST", "/v1/machines", t, "application/json", b"[").assert_error(400);
    assert_eq!(app.get("/v1/machines", t).body, json!({"machines": []}));
    app.get("/v1/machines?limit=0", t).assert_error(400);
    app.get("/v1/machines?activeOnly=maybe", t).assert_error(400);
    let id = new_id("m");
    app.register_machine(&a.token, &id);
    app.put(&format!("/v1/machines/{id}/status"), t, json!({"active": "yes"})).assert_error(400);
    app.put(&format!("/v1/machines/{id}/status"), t, json!({"metadata": ""})).assert_error(400);
}

#[test]
fn list_shape_follows_the_client_and_filters() {
    let app = app();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    let (m1, m2) = (new_id("m"), new_id("m"));
    app.register_machine(&a.token, &m1);
    app.register_machine(&a.token, &m2);
    let r = app.put(&format!("/v1/machines/{m1}/status"), t, json!({"active": true}));
    assert_eq!(r.status, 200, "{}", r.text);

    // Seed clients: {machines}.
    let seed = app.get("/v1/machines", t);
    let items = seed.body["machines"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], json!(m1), "lastActiveAt desc");
    // Stock app (X-Happy-Client, or a GET with Content-Type: application/json): bare array.
    let stock = app.request("GET", "/v1/machines", t, None, &[("X-Happy-Client", "ios/1.0")]);
    assert_eq!(stock.body.as_array().unwrap().len(), 2);
    let stock = app.request("GET", "/v1/machines", t, None, &[("Content-Type", "application/json")]);
    assert_eq!(stock.body.as_array().unwrap().len(), 2);
    assert_eq!(stock.body[0], items[0]);

    let active = app.get("/v1/machines?activeOnly=true", t);
    assert_eq!(active.body["machines"].as_array().unwrap().len(), 1);
    let limited = app.get("/v1/machines?limit=1", t);
    assert_eq!(limited.body["machines"].as_array().unwrap().len(), 1);
}

#[test]
fn status_updates_refresh_activity_and_bump_versions() {
    let app = app();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    let id = new_id("m");
    let m = app.register_machine(&a.token, &id);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let r = app.put(&format!("/v1/machines/{id}/status"), t, json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true);
    let after = &r.body["machine"];
    assert!(after["lastActiveAt"].as_i64() > m["lastActiveAt"].as_i64(), "always refreshed");
    assert_eq!((after["metadataVersion"].clone(), after["active"].clone()), (json!(1), json!(false)));

    let r = app.put(
        &format!("/v1/machines/{id}/status"),
        t,
        json!({"active": true, "metadata": "m2", "daemonState": "d2"}),
    );
    let after = &r.body["machine"];
    assert_eq!(after["active"], true);
    assert_eq!((after["metadata"].clone(), after["metadataVersion"].clone()), (json!("m2"), json!(2)));
    assert_eq!((after["daemonState"].clone(), after["daemonStateVersion"].clone()), (json!("d2"), json!(1)));
    assert_eq!(after["seq"], 1);
    app.put("/v1/machines/unknown/status", t, json!({})).assert_error(404);
}

#[test]
fn delete_removes_the_machine_and_its_access_keys() {
    let app = app();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    let id = new_id("m");
    app.register_machine(&a.token, &id);
    let sid = app.new_session(&a.token, &new_id("t"));
    assert_eq!(app.post(&format!("/v1/access-keys/{sid}/{id}"), t, json!({"data": "k"})).status, 200);
    let r = app.delete(&format!("/v1/machines/{id}"), t);
    assert_eq!((r.status, r.body.clone()), (200, json!({"success": true})));
    app.get(&format!("/v1/machines/{id}"), t).assert_error(404);
    app.delete(&format!("/v1/machines/{id}"), t).assert_error(404);
    app.get(&format!("/v1/access-keys/{sid}/{id}"), t).assert_error(404);
    // Re-registering the id starts fresh, without the old key.
    app.register_machine(&a.token, &id);
    assert_eq!(app.get(&format!("/v1/access-keys/{sid}/{id}"), t).body, json!({"accessKey": null}));
}

#[test]
fn access_keys_create_once_and_compare_and_set() {
    let app = app();
    let (a, b) = (app.new_account(), app.new_account());
    let t = Some(a.token.as_str());
    let mid = new_id("m");
    app.register_machine(&a.token, &mid);
    let sid = app.new_session(&a.token, &new_id("t"));
    let path = format!("/v1/access-keys/{sid}/{mid}");

    assert_eq!(app.get(&path, t).body, json!({"accessKey": null}));
    let r = app.post(&path, t, json!({"data": "k1"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true);
    let key = &r.body["accessKey"];
    assert_eq!(keys(key), ["createdAt", "data", "dataVersion", "updatedAt"].iter().map(|s| s.to_string()).collect());
    assert_eq!((key["data"].clone(), key["dataVersion"].clone()), (json!("k1"), json!(1)));
    assert_eq!(app.get(&path, t).body, json!({"accessKey": key}));
    app.post(&path, t, json!({"data": "k2"})).assert_error(409);

    let r = app.put(&path, t, json!({"data": "k2", "expectedVersion": 1}));
    assert_eq!(r.body, json!({"success": true, "version": 2}));
    let r = app.put(&path, t, json!({"data": "k3", "expectedVersion": 1}));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"success": false, "error": "version-mismatch", "currentVersion": 2, "currentData": "k2"})
    );

    // Not owned, unknown, or missing key: 404; bad bodies: 400.
    let tb = Some(b.token.as_str());
    app.get(&path, tb).assert_error(404);
    app.post(&path, tb, json!({"data": "x"})).assert_error(404);
    app.put(&path, tb, json!({"data": "x", "expectedVersion": 2})).assert_error(404);
    app.get(&format!("/v1/access-keys/{sid}/nope"), t).assert_error(404);
    app.get(&format!("/v1/access-keys/nope/{mid}"), t).assert_error(404);
    let other_sid = app.new_session(&a.token, &new_id("t"));
    app.put(&format!("/v1/access-keys/{other_sid}/{mid}"), t, json!({"data": "x", "expectedVersion": 1}))
        .assert_error(404);
    app.post(&path, t, json!({"data": ""})).assert_error(400);
    app.post(&format!("/v1/access-keys/{other_sid}/{mid}"), t, json!({"data": "x".repeat(64 * 1024 + 1)}))
        .assert_error(400);
    app.put(&path, t, json!({"data": "x"})).assert_error(400);
    assert_eq!(app.get(&format!("/v1/access-keys/{other_sid}/{mid}"), t).body, json!({"accessKey": null}));
}

#[test]
fn concurrent_compare_and_set_at_one_version_has_one_winner() {
    let app = app();
    let a = app.new_account();
    let mid = new_id("m");
    app.register_machine(&a.token, &mid);
    let sid = app.new_session(&a.token, &new_id("t"));
    let path = format!("/v1/access-keys/{sid}/{mid}");
    assert_eq!(app.post(&path, Some(&a.token), json!({"data": "k1"})).status, 200);
    let results: Vec<Value> = concurrently(6, |i| {
        app.put(&path, Some(&a.token), json!({"data": format!("v{i}"), "expectedVersion": 1})).body
    });
    let winners: Vec<&Value> = results.iter().filter(|r| r["success"] == true).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(winners[0]["version"], 2);
    for r in results.iter().filter(|r| r["success"] == false) {
        assert_eq!((r["error"].clone(), r["currentVersion"].clone()), (json!("version-mismatch"), json!(2)));
    }
}
