//! Artifacts as the app and seed clients see them: C1/C2/C3 shapes, idempotent create, 409 for
//! another account's id, compare-and-set updates (and their races), ownership.

mod common;

use common::*;
use serde_json::{json, Value};

const STOCK: &[(&str, &str)] = &[("X-Happy-Client", "ios/1.0.0")];

fn create(token: &str, id: &str, header: &str) -> Resp {
    app().post(
        "/v1/artifacts",
        Some(token),
        json!({"id": id, "header": header, "body": "b1", "dataEncryptionKey": "k1"}),
    )
}

fn assert_full(v: &Value, id: &str, header: &str, hv: i64, body: &str, bv: i64) {
    for obj in [v, &v["artifact"]] {
        assert_eq!(obj["id"], id, "{v}");
        assert_eq!(obj["header"], header);
        assert_eq!(obj["headerVersion"], hv);
        assert_eq!(obj["body"], body);
        assert_eq!(obj["bodyVersion"], bv);
        assert_eq!(obj["dataEncryptionKey"], "k1");
        assert!(obj["seq"].is_i64() && obj["createdAt"].is_i64() && obj["updatedAt"].is_i64());
    }
    // C2/C3: the nested object repeats the top level exactly.
    let mut top = v.as_object().unwrap().clone();
    top.remove("artifact");
    assert_eq!(Value::Object(top), v["artifact"]);
}

#[test]
fn create_returns_both_shapes_and_is_idempotent_per_account() {
    let app = app();
    let a = app.new_account();
    let id = uuid();
    // Opaque strings are stored verbatim, base64 or not (docs/compatibility.md, rule 6).
    let r = create(&a.token, &id, "h1");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_full(&r.body, &id, "h1", 1, "b1", 1);
    assert_eq!(r.body["seq"], 0);

    // Same id again: the existing artifact, unchanged.
    let again = create(&a.token, &id, "different");
    assert_eq!(again.status, 200);
    assert_eq!(again.body, r.body);

    // Another account's id: 409 with the upstream message.
    let b = app.new_account();
    let taken = create(&b.token, &id, "h");
    taken.assert_error(409);
    assert_eq!(taken.body["error"], "Artifact with this ID already exists for another account");
}

#[test]
fn get_returns_top_level_and_nested_and_hides_other_accounts() {
    let app = app();
    let a = app.new_account();
    let id = uuid();
    create(&a.token, &id, "hdr");
    let r = app.get(&format!("/v1/artifacts/{id}"), Some(&a.token));
    assert_eq!(r.status, 200);
    assert_full(&r.body, &id, "hdr", 1, "b1", 1);

    let b = app.new_account();
    let r = app.get(&format!("/v1/artifacts/{id}"), Some(&b.token));
    r.assert_error(404);
    assert_eq!(r.body["error"], "Artifact not found");
    app.get(&format!("/v1/artifacts/{}", uuid()), Some(&a.token)).assert_error(404);
    app.get(&format!("/v1/artifacts/{id}"), None).assert_error(401);
}

#[test]
fn list_is_a_bare_array_for_stock_clients_and_wrapped_otherwise() {
    let app = app();
    let a = app.new_account();
    // Rule 3: an empty account answers 200.
    let r = app.get("/v1/artifacts", Some(&a.token));
    assert_eq!((r.status, r.body.clone()), (200, json!({"artifacts": []})));
    let r = app.request("GET", "/v1/artifacts", Some(&a.token), None, STOCK);
    assert_eq!((r.status, r.body.clone()), (200, json!([])));

    let (first, second) = (uuid(), uuid());
    create(&a.token, &first, "h-first");
    std::thread::sleep(std::time::Duration::from_millis(5));
    create(&a.token, &second, "h-second");
    // An update moves the first to the top (updatedAt desc).
    std::thread::sleep(std::time::Duration::from_millis(5));
    let u = app.post(
        &format!("/v1/artifacts/{first}"),
        Some(&a.token),
        json!({"header": "h2", "expectedHeaderVersion": 1}),
    );
    assert_eq!(u.body, json!({"success": true, "headerVersion": 2}));

    let wrapped = app.get("/v1/artifacts", Some(&a.token));
    let items = wrapped.body["artifacts"].as_array().unwrap().clone();
    let bare = app.request("GET", "/v1/artifacts", Some(&a.token), None, STOCK);
    assert_eq!(bare.body, Value::Array(items.clone()));
    // Every app build also sends Content-Type: application/json on GETs.
    let ct = app.request("GET", "/v1/artifacts", Some(&a.token), None, &[("Content-Type", "application/json")]);
    assert_eq!(ct.body, bare.body);

    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], first.as_str());
    assert_eq!(items[0]["header"], "h2");
    assert_eq!(items[0]["headerVersion"], 2);
    assert_eq!(items[1]["id"], second.as_str());
    // Headers only.
    let keys: Vec<&String> = items[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "header", "headerVersion", "dataEncryptionKey", "seq", "createdAt", "updatedAt"]);
    // Another account sees none of them.
    let b = app.new_account();
    assert_eq!(app.get("/v1/artifacts", Some(&b.token)).body, json!({"artifacts": []}));
}

#[test]
fn updates_compare_and_set_each_part() {
    let app = app();
    let a = app.new_account();
    let id = uuid();
    create(&a.token, &id, "h1");
    let path = format!("/v1/artifacts/{id}");

    let r = app.post(&path, Some(&a.token), json!({"body": "b2", "expectedBodyVersion": 1}));
    assert_eq!(r.body, json!({"success": true, "bodyVersion": 2}));
    let r = app.post(
        &path,
        Some(&a.token),
        json!({"header": "h2", "expectedHeaderVersion": 1, "body": "b3", "expectedBodyVersion": 2}),
    );
    assert_eq!(r.body, json!({"success": true, "headerVersion": 2, "bodyVersion": 3}));

    // Stale header version: 200 with the current header only.
    let r = app.post(&path, Some(&a.token), json!({"header": "hx", "expectedHeaderVersion": 1}));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"success": false, "error": "version-mismatch", "currentHeaderVersion": 2, "currentHeader": "h2"})
    );
    // Stale body with a current header: nothing applies, the body is reported.
    let r = app.post(
        &path,
        Some(&a.token),
        json!({"header": "hx", "expectedHeaderVersion": 2, "body": "bx", "expectedBodyVersion": 1}),
    );
    assert_eq!(
        r.body,
        json!({"success": false, "error": "version-mismatch", "currentBodyVersion": 3, "currentBody": "b3"})
    );
    let got = app.get(&path, Some(&a.token));
    assert_full(&got.body, &id, "h2", 2, "b3", 3);
    assert_eq!(got.body["seq"], 2, "two successful updates");

    // Bad input, other accounts, unknown ids.
    app.post(&path, Some(&a.token), json!({"header": "h"})).assert_error(400);
    app.post(&path, Some(&a.token), json!({"header": "h", "expectedHeaderVersion": -1})).assert_error(400);
    app.post(&path, Some(&a.token), json!({})).assert_error(400);
    let b = app.new_account();
    app.post(&path, Some(&b.token), json!({"header": "h", "expectedHeaderVersion": 2})).assert_error(404);
    app.post(&format!("/v1/artifacts/{}", uuid()), Some(&a.token), json!({"body": "b", "expectedBodyVersion": 1}))
        .assert_error(404);
}

#[test]
fn concurrent_updates_at_one_version_have_exactly_one_winner() {
    let app = app();
    let a = app.new_account();
    let id = uuid();
    create(&a.token, &id, "h1");
    let path = format!("/v1/artifacts/{id}");
    let results: Vec<Resp> = concurrently(12, |i| {
        app.post(&path, Some(&a.token), json!({"header": format!("h-{i}"), "expectedHeaderVersion": 1}))
    });
    let winners: Vec<&Resp> = results.iter().filter(|r| r.body["success"] == true).collect();
    assert_eq!(winners.len(), 1, "exactly one CAS wins");
    for r in results.iter().filter(|r| r.body["success"] == false) {
        assert_eq!(r.body["currentHeaderVersion"], 2);
    }
    let got = app.get(&path, Some(&a.token));
    assert_eq!(got.body["headerVersion"], 2);
    assert_eq!(got.body["seq"], 1);
}

#[test]
fn concurrent_creates_of_one_id_make_one_artifact() {
    let app = app();
    let a = app.new_account();
    let id = uuid();
    let results: Vec<Resp> = concurrently(8, |i| create(&a.token, &id, &format!("h-{i}")));
    assert!(results.iter().all(|r| r.status == 200));
    assert!(results.iter().all(|r| r.body == results[0].body), "all see the single winner");
}

#[test]
fn create_validates_its_input() {
    let app = app();
    let a = app.new_account();
    let r = app.post(
        "/v1/artifacts",
        Some(&a.token),
        json!({"id": "not-a-uuid", "header": "h", "body": "b", "dataEncryptionKey": "k"}),
    );
    r.assert_error(400);
    app.post("/v1/artifacts", Some(&a.token), json!({"id": uuid(), "header": "h"})).assert_error(400);
    app.post(
        "/v1/artifacts",
        Some(&a.token),
        json!({"id": uuid(), "header": 1, "body": "b", "dataEncryptionKey": "k"}),
    )
    .assert_error(400);
    let big = "x".repeat(70 * 1024);
    app.post(
        "/v1/artifacts",
        Some(&a.token),
        json!({"id": uuid(), "header": big, "body": "b", "dataEncryptionKey": "k"}),
    )
    .assert_error(413);
    app.post("/v1/artifacts", None, json!({})).assert_error(401);
}

#[test]
fn delete_removes_only_own_artifacts() {
    let app = app();
    let a = app.new_account();
    let b = app.new_account();
    let id = uuid();
    create(&a.token, &id, "h");
    let path = format!("/v1/artifacts/{id}");
    app.delete(&path, Some(&b.token)).assert_error(404);
    let r = app.delete(&path, Some(&a.token));
    assert_eq!(r.body, json!({"success": true}));
    app.delete(&path, Some(&a.token)).assert_error(404);
    app.get(&path, Some(&a.token)).assert_error(404);
    // The id is free again.
    assert_eq!(create(&b.token, &id, "h").status, 200);
}
