//! KV: reads, prefix listing, bulk reads, and atomic version-checked batches (all or nothing,
//! also under concurrency).

mod common;

use common::*;
use serde_json::{json, Value};

fn mutate(token: &str, mutations: Value) -> Resp {
    app().post("/v1/kv", Some(token), json!({ "mutations": mutations }))
}

#[test]
fn create_read_update_delete() {
    let app = app();
    let a = app.new_account();
    let r = mutate(
        &a.token,
        json!([{"key": "settings:theme", "value": "dark", "version": -1}, {"key": "n", "value": "1", "version": -1}]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"success": true, "results": [{"key": "settings:theme", "version": 0}, {"key": "n", "version": 0}]})
    );

    let got = app.get("/v1/kv/settings:theme", Some(&a.token));
    assert_eq!(got.body, json!({"key": "settings:theme", "value": "dark", "version": 0}));
    // Percent-encoded keys name the same item.
    assert_eq!(app.get("/v1/kv/settings%3Atheme", Some(&a.token)).body, got.body);

    let r = mutate(
        &a.token,
        json!([{"key": "settings:theme", "value": "light", "version": 0}, {"key": "n", "value": null, "version": 0}]),
    );
    assert_eq!(
        r.body,
        json!({"success": true, "results": [{"key": "settings:theme", "version": 1}, {"key": "n", "version": -1}]})
    );
    assert_eq!(app.get("/v1/kv/settings:theme", Some(&a.token)).body["value"], "light");
    let gone = app.get("/v1/kv/n", Some(&a.token));
    gone.assert_error(404);
    assert_eq!(gone.body["error"], "Key not found");
    // A deleted key is new again.
    let r = mutate(&a.token, json!([{"key": "n", "value": "again", "version": -1}]));
    assert_eq!(r.body["results"], json!([{"key": "n", "version": 0}]));

    // Another account sees nothing.
    let b = app.new_account();
    app.get("/v1/kv/settings:theme", Some(&b.token)).assert_error(404);
    assert_eq!(app.get("/v1/kv", Some(&b.token)).body, json!({"items": []}));
    app.get("/v1/kv", None).assert_error(401);
}

#[test]
fn list_by_prefix_and_bulk_get() {
    let app = app();
    let a = app.new_account();
    mutate(
        &a.token,
        json!([
            {"key": "p:b", "value": "2", "version": -1},
            {"key": "p:a", "value": "1", "version": -1},
            {"key": "q:a", "value": "3", "version": -1},
            {"key": "p%", "value": "4", "version": -1}
        ]),
    );
    let r = app.get("/v1/kv?prefix=p:", Some(&a.token));
    assert_eq!(
        r.body,
        json!({"items": [{"key": "p:a", "value": "1", "version": 0}, {"key": "p:b", "value": "2", "version": 0}]})
    );
    // Wildcards in a prefix match literally.
    let r = app.get("/v1/kv?prefix=p%25", Some(&a.token));
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = app.get("/v1/kv?limit=2", Some(&a.token));
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    app.get("/v1/kv?limit=0", Some(&a.token)).assert_error(400);
    app.get("/v1/kv?limit=1001", Some(&a.token)).assert_error(400);

    let r = app.post("/v1/kv/bulk", Some(&a.token), json!({"keys": ["q:a", "missing", "p:a"]}));
    assert_eq!(
        r.body,
        json!({"values": [{"key": "p:a", "value": "1", "version": 0}, {"key": "q:a", "value": "3", "version": 0}]})
    );
    app.post("/v1/kv/bulk", Some(&a.token), json!({"keys": []})).assert_error(400);
    let many: Vec<String> = (0..101).map(|i| format!("k{i}")).collect();
    app.post("/v1/kv/bulk", Some(&a.token), json!({ "keys": many })).assert_error(400);
}

#[test]
fn a_batch_with_one_stale_version_changes_nothing() {
    let app = app();
    let a = app.new_account();
    mutate(&a.token, json!([{"key": "x", "value": "x0", "version": -1}, {"key": "y", "value": "y0", "version": -1}]));
    mutate(&a.token, json!([{"key": "y", "value": "y1", "version": 0}]));
    let before = app.get("/v1/kv", Some(&a.token)).body;

    // x is current, y is stale, z is new, x2 exists already: 409 naming y and x... all or none.
    let r = mutate(
        &a.token,
        json!([
            {"key": "x", "value": "x1", "version": 0},
            {"key": "y", "value": "y2", "version": 0},
            {"key": "z", "value": "z0", "version": -1}
        ]),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"success": false, "errors": [{"key": "y", "error": "version-mismatch", "version": 1, "value": "y1"}]})
    );
    assert_eq!(app.get("/v1/kv", Some(&a.token)).body, before, "nothing applied");

    // A create of an existing key and a delete of a missing one are mismatches too.
    let r = mutate(
        &a.token,
        json!([{"key": "x", "value": "again", "version": -1}, {"key": "nope", "value": null, "version": 3}]),
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body["errors"],
        json!([
            {"key": "x", "error": "version-mismatch", "version": 0, "value": "x0"},
            {"key": "nope", "error": "version-mismatch", "version": -1, "value": null}
        ])
    );
    // A delete at a stale version keeps the key.
    assert_eq!(mutate(&a.token, json!([{"key": "y", "value": null, "version": 0}])).status, 409);
    assert_eq!(app.get("/v1/kv/y", Some(&a.token)).body["value"], "y1");
    assert_eq!(app.get("/v1/kv", Some(&a.token)).body, before);
}

#[test]
fn invalid_batches_are_400_and_write_nothing() {
    let app = app();
    let a = app.new_account();
    mutate(&a.token, json!([])).assert_error(400);
    mutate(&a.token, json!([{"key": "d", "value": "1", "version": -1}, {"key": "d", "value": "2", "version": -1}]))
        .assert_error(400);
    mutate(&a.token, json!([{"key": "", "value": "1", "version": -1}])).assert_error(400);
    mutate(&a.token, json!([{"key": "v", "value": "1", "version": -2}])).assert_error(400);
    mutate(&a.token, json!([{"key": "v", "value": 5, "version": -1}])).assert_error(400);
    let many: Vec<Value> = (0..101).map(|i| json!({"key": format!("k{i}"), "value": "v", "version": -1})).collect();
    mutate(&a.token, Value::Array(many)).assert_error(400);
    mutate(&a.token, json!([{"key": "big", "value": "x".repeat(300 * 1024), "version": -1}])).assert_error(413);
    assert_eq!(app.get("/v1/kv", Some(&a.token)).body, json!({"items": []}));
}

#[test]
fn concurrent_batches_at_one_version_have_exactly_one_winner() {
    let app = app();
    let a = app.new_account();
    mutate(
        &a.token,
        json!([{"key": "counter", "value": "0", "version": -1}, {"key": "other", "value": "0", "version": -1}]),
    );
    let results: Vec<Resp> = concurrently(12, |i| {
        mutate(
            &a.token,
            json!([
                {"key": "other", "value": format!("o{i}"), "version": 0},
                {"key": "counter", "value": format!("c{i}"), "version": 0},
                {"key": format!("new-{i}"), "value": "n", "version": -1}
            ]),
        )
    });
    let winners: Vec<usize> = (0..12).filter(|&i| results[i].status == 200).collect();
    assert_eq!(winners.len(), 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(results.iter().all(|r| r.status == 200 || r.status == 409));
    let w = winners[0];
    // The winner's three writes all landed, the losers' none.
    let items = app.get("/v1/kv", Some(&a.token)).body["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 3, "{items}");
    assert_eq!(app.get("/v1/kv/counter", Some(&a.token)).body["value"], format!("c{w}"));
    assert_eq!(app.get("/v1/kv/other", Some(&a.token)).body["value"], format!("o{w}"));
    assert_eq!(app.get(&format!("/v1/kv/new-{w}"), Some(&a.token)).status, 200);
}

#[test]
fn concurrent_creates_of_one_key_have_exactly_one_winner() {
    let app = app();
    let a = app.new_account();
    let statuses: Vec<u16> = concurrently(10, |i| {
        mutate(&a.token, json!([{"key": "once", "value": format!("v{i}"), "version": -1}])).status
    });
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
    assert_eq!(app.get("/v1/kv/once", Some(&a.token)).body["version"], 0);
}
