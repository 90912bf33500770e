//! The caller's account: profile shapes, profile edits with unique usernames, the settings blob
//! under both paths with one version counter, push tokens, usage queries, the disabled log sink.

mod common;

use common::*;
use serde_json::json;

#[test]
fn profile_has_every_key_the_app_requires() {
    let app = app();
    let a = app.new_account();
    let me = user_id_of(&a.token);
    for path in ["/v1/account/profile", "/v1/account"] {
        let r = app.get(path, Some(&a.token));
        assert_eq!(r.status, 200, "{}", r.text);
        let b = &r.body;
        assert_eq!(b["id"], me.as_str());
        assert!(b["timestamp"].is_i64());
        for key in ["firstName", "lastName", "username", "avatar", "github"] {
            assert!(b.get(key).is_some_and(|v| v.is_null()), "{key} present and null: {b}");
        }
        assert_eq!(b["connectedServices"], json!([]));
    }
    app.get("/v1/account/profile", None).assert_error(401);
}

#[test]
fn profile_edits_and_case_insensitive_unique_usernames() {
    let app = app();
    let a = app.new_account();
    let name = format!("Neo_{}", &user_id_of(&a.token)[..8]);
    let r = app.put("/v1/account", Some(&a.token), json!({"firstName": "Thomas", "username": name}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["profile"]["firstName"], "Thomas");
    assert_eq!(r.body["profile"]["username"], name.as_str());
    assert_eq!(r.body["profile"]["lastName"], json!(null));

    // Absent keeps, null clears.
    let r = app.put("/v1/account", Some(&a.token), json!({"lastName": "Anderson"}));
    assert_eq!(
        (r.body["profile"]["firstName"].clone(), r.body["profile"]["lastName"].clone()),
        (json!("Thomas"), json!("Anderson"))
    );
    let r = app.put("/v1/account", Some(&a.token), json!({"firstName": null}));
    assert_eq!(r.body["profile"]["firstName"], json!(null));
    // Keeping one's own username is fine.
    assert_eq!(app.put("/v1/account", Some(&a.token), json!({"username": name.to_uppercase()})).status, 200);

    let b = app.new_account();
    let r = app.put("/v1/account", Some(&b.token), json!({"username": name.to_lowercase(), "firstName": "Agent"}));
    assert_eq!(r.status, 409);
    assert_eq!(r.body, json!({"error": "username-taken", "success": false}));
    // Nothing was applied.
    assert_eq!(app.get("/v1/account", Some(&b.token)).body["firstName"], json!(null));

    app.put("/v1/account", Some(&b.token), json!({})).assert_error(400);
    app.put("/v1/account", Some(&b.token), json!({"username": "has space"})).assert_error(400);
    app.put("/v1/account", Some(&b.token), json!({"username": "x".repeat(33)})).assert_error(400);
    app.put("/v1/account", Some(&b.token), json!({"firstName": "y".repeat(65)})).assert_error(400);
}

#[test]
fn settings_and_preferences_share_one_versioned_row() {
    let app = app();
    let a = app.new_account();
    assert_eq!(app.get("/v1/account/settings", Some(&a.token)).body, json!({"settings": null, "settingsVersion": 0}));

    let r = app.post("/v1/account/settings", Some(&a.token), json!({"settings": "s1", "expectedVersion": 0}));
    assert_eq!(r.body, json!({"success": true, "version": 1}));
    assert_eq!(
        app.get("/v1/account/preferences", Some(&a.token)).body,
        json!({"settings": "s1", "settingsVersion": 1})
    );

    // A stale version is a 200 with the current value.
    let r = app.put("/v1/account/preferences", Some(&a.token), json!({"settings": "s2", "expectedVersion": 0}));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"success": false, "error": "version-mismatch", "currentVersion": 1, "currentSettings": "s1"})
    );
    let r = app.put("/v1/account/preferences", Some(&a.token), json!({"settings": null, "expectedVersion": 1}));
    assert_eq!(r.body, json!({"success": true, "version": 2}));
    assert_eq!(app.get("/v1/account/settings", Some(&a.token)).body, json!({"settings": null, "settingsVersion": 2}));

    app.post("/v1/account/settings", Some(&a.token), json!({"settings": "s", "expectedVersion": -1})).assert_error(400);
    app.post("/v1/account/settings", Some(&a.token), json!({"settings": "s"})).assert_error(400);
    app.post("/v1/account/settings", Some(&a.token), json!({"settings": "x".repeat(600 * 1024), "expectedVersion": 2}))
        .assert_error(413);
    app.post("/v1/account/settings", None, json!({"settings": "s", "expectedVersion": 2})).assert_error(401);
}

#[test]
fn concurrent_settings_writes_at_one_version_have_exactly_one_winner() {
    let app = app();
    let a = app.new_account();
    let results: Vec<Resp> = concurrently(12, |i| {
        app.post("/v1/account/settings", Some(&a.token), json!({"settings": format!("s{i}"), "expectedVersion": 0}))
    });
    let winners: Vec<usize> = (0..12).filter(|&i| results[i].body["success"] == true).collect();
    assert_eq!(winners.len(), 1);
    let now = app.get("/v1/account/settings", Some(&a.token)).body;
    assert_eq!(now, json!({"settings": format!("s{}", winners[0]), "settingsVersion": 1}));
    for r in results.iter().filter(|r| r.body["success"] == false) {
        assert_eq!(r.body["currentVersion"], 1);
        assert_eq!(r.body["currentSettings"], now["settings"]);
    }
}

#[test]
fn push_tokens_are_idempotent_and_per_account() {
    let app = app();
    let a = app.new_account();
    assert_eq!(app.get("/v1/push-tokens", Some(&a.token)).body, json!({"tokens": []}));
    let token = "ExponentPushToken[abc/def]";
    assert_eq!(app.post("/v1/push-tokens", Some(&a.token), json!({"token": token})).body, json!({"success": true}));
    let first = app.get("/v1/push-tokens", Some(&a.token)).body["tokens"][0].clone();
    std::thread::sleep(std::time::Duration::from_millis(5));
    app.post("/v1/push-tokens", Some(&a.token), json!({"token": token}));
    let list = app.get("/v1/push-tokens", Some(&a.token)).body["tokens"].clone();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], first["id"]);
    assert_eq!(list[0]["token"], token);
    assert_eq!(list[0]["createdAt"], first["createdAt"]);
    assert!(list[0]["updatedAt"].as_i64() > first["updatedAt"].as_i64());

    let b = app.new_account();
    assert_eq!(app.get("/v1/push-tokens", Some(&b.token)).body, json!({"tokens": []}));
    // Deleting from another account leaves it; the owner's delete removes it (path-encoded).
    app.delete("/v1/push-tokens/ExponentPushToken%5Babc%2Fdef%5D", Some(&b.token));
    assert_eq!(app.get("/v1/push-tokens", Some(&a.token)).body["tokens"].as_array().unwrap().len(), 1);
    let r = app.delete("/v1/push-tokens/ExponentPushToken%5Babc%2Fdef%5D", Some(&a.token));
    assert_eq!(r.body, json!({"success": true}));
    assert_eq!(app.get("/v1/push-tokens", Some(&a.token)).body, json!({"tokens": []}));

    app.post("/v1/push-tokens", Some(&a.token), json!({"token": ""})).assert_error(400);
    app.post("/v1/push-tokens", Some(&a.token), json!({"token": "t".repeat(513)})).assert_error(400);
    app.get("/v1/push-tokens", None).assert_error(401);
}

#[test]
fn usage_query_answers_empty_buckets_and_validates() {
    let app = app();
    let a = app.new_account();
    let r = app.post("/v1/usage/query", Some(&a.token), json!({}));
    assert_eq!(r.body, json!({"usage": [], "groupBy": "day", "totalReports": 0}));
    let r = app.post(
        "/v1/usage/query",
        Some(&a.token),
        json!({"groupBy": "hour", "startTime": 1, "endTime": 2_000_000_000, "sessionId": null}),
    );
    assert_eq!(r.body, json!({"usage": [], "groupBy": "hour", "totalReports": 0}));
    // A session filter needs the caller's own session.
    let sid = app.new_session(&a.token, "usage-test");
    let r = app.post("/v1/usage/query", Some(&a.token), json!({"sessionId": sid}));
    assert_eq!(r.body, json!({"usage": [], "groupBy": "day", "totalReports": 0}));
    let b = app.new_account();
    let r = app.post("/v1/usage/query", Some(&b.token), json!({"sessionId": sid}));
    r.assert_error(404);
    assert_eq!(r.body["error"], "Session not found");
    app.post("/v1/usage/query", Some(&a.token), json!({"sessionId": "nope"})).assert_error(404);
    app.post("/v1/usage/query", Some(&a.token), json!({"groupBy": "week"})).assert_error(400);
    app.post("/v1/usage/query", Some(&a.token), json!({"startTime": -5})).assert_error(400);
    app.post("/v1/usage/query", None, json!({})).assert_error(401);
}

#[test]
fn debug_log_sink_is_off_unless_configured() {
    let r = app().post("/logs-combined-from-cli-and-mobile-for-simple-ai-debugging", None, json!({"message": "hi"}));
    r.assert_error(404);
}
