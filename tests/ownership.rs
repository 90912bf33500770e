//! The ownership matrix: for every route that takes an id, user B using user A's ids gets 404
//! and A's data is unchanged afterwards. Routes with path parameters that are not in the matrix
//! must be listed as exempt with a reason, so a new route cannot slip through unchecked.

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use serde_json::{json, Value};

/// Path parameters that are not another account's ids, with why.
const EXEMPT: &[(&str, &str)] = &[
    ("/v1/users/:id", "public profiles: viewing another user is the feature"),
    ("/v1/user/:id", "public profiles: viewing another user is the feature"),
    ("/v1/connect/:token/status", "the one-time token is the credential (public route)"),
    ("/v1/connect/:token/provision", "the one-time token is the credential (public route)"),
    ("/v1/connect/:vendor/register", "vendor names, per-account namespace"),
    ("/v1/connect/:vendor/token", "vendor names, per-account namespace (checked below by value)"),
];

struct Owned {
    session: String,
    machine: String,
    artifact: String,
    upload: String,
    device: String,
    connect_token: String,
    /// `<uuid>.enc` of a session attachment.
    attachment: String,
}

fn create_everything(app: &TestApp, token: &str) -> Owned {
    let t = Some(token);
    let session = app.new_session(token, "owned");
    let r = app.post_messages(token, &session, &[("l1", "aGk=")]);
    assert_eq!(r.status, 200, "{}", r.text);
    let machine = format!("machine-{}", B64.encode(random_bytes::<6>()).replace(['/', '+', '='], "x"));
    assert_eq!(app.post("/v1/machines", t, json!({"id": machine, "metadata": "bQ=="})).status, 200);
    let artifact = uuid();
    let r = app.post(
        "/v1/artifacts",
        t,
        json!({"id": artifact, "header": "aA==", "body": "Yg==", "dataEncryptionKey": "aw=="}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.post(&format!("/v1/access-keys/{session}/{machine}"), t, json!({"data": "ZGF0YQ=="}));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.post("/v1/kv", t, json!({"mutations": [{"key": "owned:key", "value": "dg==", "version": -1}]}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.post("/v1/push-tokens", t, json!({"token": "ExponentPushToken[owned]"})).status, 200);
    assert_eq!(app.post("/v1/connect/openai/register", t, json!({"token": "sk-owned"})).status, 200);
    let r = app.upload(token, ("a.txt", "text/plain", b"hello"), &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    let upload = r.body["file"]["id"].as_str().unwrap().to_string();
    let r = app.post("/v1/provisioning/token", t, json!({}));
    let (node, ptoken) =
        (r.body["nodeId"].as_str().unwrap().to_string(), r.body["token"].as_str().unwrap().to_string());
    let r = app.post("/v1/devices/register", None, json!({"nodeId": node, "provisioningToken": ptoken}));
    assert_eq!(r.status, 200, "{}", r.text);
    let device = r.body["device"]["uuid"].as_str().unwrap_or(&node).to_string();
    let r = app.post("/v1/connect-tokens", t, json!({}));
    let connect_token = r.body["token"].as_str().unwrap().to_string();
    let r = app.post(
        &format!("/v1/sessions/{session}/attachments/request-upload"),
        t,
        json!({"filename": "a.bin", "size": 3}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let attachment = r.body["ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let r = app.request_raw(
        "PUT",
        &format!("/v1/sessions/{session}/attachments/{attachment}"),
        t,
        "application/octet-stream",
        b"abc",
    );
    assert_eq!(r.status, 200, "{}", r.text);
    Owned { session, machine, artifact, upload, device, connect_token, attachment }
}

/// Everything A can read about the resources, to compare before and after B's attempts.
fn snapshot(app: &TestApp, token: &str, o: &Owned) -> Vec<Value> {
    let t = Some(token);
    let mut paths = vec![
        format!("/v1/sessions/{}", o.session),
        format!("/v3/sessions/{}/messages", o.session),
        format!("/v1/machines/{}", o.machine),
        format!("/v1/artifacts/{}", o.artifact),
        format!("/v1/access-keys/{}/{}", o.session, o.machine),
        "/v1/kv/owned:key".to_string(),
        "/v1/push-tokens".to_string(),
        "/v1/connect/openai/token".to_string(),
        format!("/v1/uploads/{}", o.upload),
        format!("/v1/devices/{}", o.device),
    ];
    paths.push(format!("/v1/connect/{}/status", o.connect_token));
    paths.push(format!("/v1/sessions/{}/attachments/{}", o.session, o.attachment));
    paths
        .iter()
        .map(|p| {
            let r = app.get(p, t);
            assert_eq!(r.status, 200, "A reads {p}: {}", r.text);
            // Attachments are raw bytes, not JSON.
            let mut body = if r.body.is_null() { Value::String(r.text.clone()) } else { r.body.clone() };
            // Timestamps of reads are not state.
            if let Some(obj) = body.as_object_mut() {
                obj.remove("timestamp");
            }
            json!({"path": p, "body": body})
        })
        .collect()
}

#[test]
fn another_accounts_ids_answer_404_and_change_nothing() {
    let app = app();
    let a = app.new_account();
    let b = app.new_account();
    let o = create_everything(app, &a.token);
    let before = snapshot(app, &a.token, &o);

    let (s, m, art, up, dev, ct) = (&o.session, &o.machine, &o.artifact, &o.upload, &o.device, &o.connect_token);
    let att = &o.attachment;
    let attempts: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/v1/sessions/{s}"), None),
        ("DELETE", format!("/v1/sessions/{s}"), None),
        ("POST", format!("/v1/sessions/{s}/archive"), Some(json!({}))),
        ("GET", format!("/v1/sessions/{s}/messages"), None),
        ("POST", format!("/v1/sessions/{s}/messages"), Some(json!({"content": {"t": "encrypted", "c": "eA=="}}))),
        ("GET", format!("/v3/sessions/{s}/messages"), None),
        (
            "POST",
            format!("/v3/sessions/{s}/messages"),
            Some(json!({"messages": [{"content": "eA==", "localId": "x"}]})),
        ),
        ("GET", format!("/v1/machines/{m}"), None),
        ("PUT", format!("/v1/machines/{m}/status"), Some(json!({"active": false, "metadata": "eA=="}))),
        ("DELETE", format!("/v1/machines/{m}"), None),
        ("GET", format!("/v1/artifacts/{art}"), None),
        ("POST", format!("/v1/artifacts/{art}"), Some(json!({"header": "eA==", "expectedHeaderVersion": 1}))),
        ("DELETE", format!("/v1/artifacts/{art}"), None),
        ("GET", format!("/v1/access-keys/{s}/{m}"), None),
        ("POST", format!("/v1/access-keys/{s}/{m}"), Some(json!({"data": "eA=="}))),
        ("PUT", format!("/v1/access-keys/{s}/{m}"), Some(json!({"data": "eA==", "expectedVersion": 1}))),
        ("GET", "/v1/kv/owned:key".to_string(), None),
        ("GET", format!("/v1/uploads/{up}"), None),
        ("GET", format!("/v1/uploads/{up}/download"), None),
        ("DELETE", format!("/v1/uploads/{up}"), None),
        ("GET", format!("/v1/devices/{dev}"), None),
        ("PATCH", format!("/v1/devices/{dev}"), Some(json!({"deviceName": "stolen"}))),
        ("GET", format!("/v1/devices/{dev}/provisioned"), None),
        ("POST", format!("/v1/devices/{dev}/reset"), Some(json!({}))),
        ("DELETE", format!("/v1/devices/{dev}"), None),
        ("POST", format!("/v1/connect/{ct}/revoke"), Some(json!({}))),
        ("POST", format!("/v1/sessions/{s}/push-event"), Some(json!({"kind": "done", "title": "t", "body": "b"}))),
        ("POST", format!("/v1/sessions/{s}/attachments/request-upload"), Some(json!({"filename": "x", "size": 1}))),
        (
            "POST",
            format!("/v1/sessions/{s}/attachments/request-download"),
            Some(json!({"ref": format!("sessions/{s}/attachments/{att}")})),
        ),
        ("PUT", format!("/v1/sessions/{s}/attachments/{att}"), Some(json!("overwrite"))),
        ("GET", format!("/v1/sessions/{s}/attachments/{att}"), None),
        ("DELETE", "/v1/connect/openai".to_string(), None),
        (
            "POST",
            format!("/v1/import/sessions/{s}/messages"),
            Some(
                json!({"messages": [{"id": "stolen", "seq": 99, "localId": null, "content": {"t": "encrypted", "c": "eA=="}, "createdAt": 1, "updatedAt": 1}]}),
            ),
        ),
    ];
    for (method, path, body) in &attempts {
        let r = app.request(method, path, Some(&b.token), body.as_ref(), &[]);
        assert_eq!(r.status, 404, "B {method} {path} must be 404: {}", r.text);
        assert!(r.body["error"].is_string(), "B {method} {path}: JSON error expected: {}", r.text);
    }
    // The import routes take A's ids in their bodies: B's account writes nothing under them.
    let newer = json!({"metadata": "c3RvbGVu", "metadataVersion": 99, "active": false, "activeAt": 9_000_000_000_000i64, "createdAt": 1, "updatedAt": 9_000_000_000_000i64});
    let mut session = newer.clone();
    session.as_object_mut().unwrap().extend(
        json!({"id": s, "agentState": null, "agentStateVersion": 99, "dataEncryptionKey": null})
            .as_object()
            .unwrap()
            .clone(),
    );
    let mut machine = newer.clone();
    machine.as_object_mut().unwrap().extend(
        json!({"id": m, "daemonState": "eA==", "daemonStateVersion": 99, "dataEncryptionKey": null, "seq": 99})
            .as_object()
            .unwrap()
            .clone(),
    );
    let imports = [
        ("/v1/import/sessions", json!({"sessions": [session]})),
        ("/v1/import/machines", json!({"machines": [machine]})),
        (
            "/v1/import/artifacts",
            json!({"artifacts": [{"id": art, "header": "eA==", "headerVersion": 99, "body": "eA==", "bodyVersion": 99, "dataEncryptionKey": "eA==", "seq": 99, "createdAt": 1, "updatedAt": 1}]}),
        ),
        (
            "/v1/import/access-keys",
            json!({"keys": [{"sessionId": s, "machineId": m, "data": "stolen", "dataVersion": 99, "createdAt": 1, "updatedAt": 1}]}),
        ),
    ];
    for (path, body) in imports {
        let r = app.post(path, Some(&b.token), body);
        assert_eq!((r.status, r.body["written"].as_i64()), (200, Some(0)), "B {path}: {}", r.text);
    }
    // Deleting a push token is idempotent (200 even when unknown), but only ever the caller's.
    assert_eq!(app.delete("/v1/push-tokens/ExponentPushToken%5Bowned%5D", Some(&b.token)).status, 200);
    // B's vendor slot is B's own: A's token is not visible.
    assert_eq!(app.get("/v1/connect/openai/token", Some(&b.token)).body["token"], Value::Null);

    assert_eq!(snapshot(app, &a.token, &o), before, "B's attempts changed A's data");

    // Every id-taking route is covered by the matrix or exempt with a reason.
    let doc = app.get("/openapi.json", None).body;
    let checked: Vec<String> = attempts.iter().map(|(m, p, _)| format!("{m} {}", template(p, &o))).collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        let route = path.replace('{', ":").replace('}', "");
        for method in item.as_object().unwrap().keys() {
            let key = format!("{} {route}", method.to_uppercase());
            let covered = checked.contains(&key)
                || EXEMPT.iter().any(|(p, _)| *p == route)
                || key == "DELETE /v1/push-tokens/:token"
                || key == "GET /v1/kv/:key";
            assert!(covered, "{key} takes an id but is not in the ownership matrix");
        }
    }
}

/// Turns a concrete path back into its route pattern for the coverage check.
fn template(path: &str, o: &Owned) -> String {
    path.replace(&o.attachment, ":file")
        .replace(&o.session, ":id")
        .replace(&o.machine, ":id")
        .replace(&o.artifact, ":id")
        .replace(&o.upload, ":id")
        .replace(&o.device, ":ref")
        .replace(&o.connect_token, ":token")
        .replace("/v1/access-keys/:id/:id", "/v1/access-keys/:sessionId/:machineId")
        .replace("/v1/connect/openai", "/v1/connect/:vendor")
}
