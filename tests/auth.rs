//! Auth as a client sees it: login, token compatibility with privacy-kit, revocation, pairing.

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use ed25519_dalek::{Signer, SigningKey};
use happy_server::auth::token::{derive_seed, Claims, TokenKey, TokenKind};
use serde_json::{json, Map};
use std::time::Duration;

fn native_key(secret: &str) -> TokenKey {
    TokenKey::native("handy", &derive_seed(secret, "handy", TokenKind::Persistent))
}

#[test]
fn login_creates_the_account_once_and_issues_privacy_kit_tokens() {
    let app = app();
    let key = SigningKey::from_bytes(&random_bytes::<32>());
    let t1 = app.login(&key);
    let t2 = app.login(&key);
    assert!(t1.starts_with("eyJhbGciOiJFZERTQSJ9."), "privacy-kit header");
    // Same key, same account.
    assert_eq!(user_id_of(&t1), user_id_of(&t2));
    // The token verifies with the privacy-kit algorithm and the shared secret, as the Node
    // server would verify it.
    let verified = native_key(MASTER_SECRET).verify_now(&t1, now_ms() as u64 + 2000).expect("verifies natively");
    assert_eq!(verified.user_id, user_id_of(&t1));
    assert!(verified.uuid.is_some());
    // A different key is a different account.
    let other = app.new_account();
    assert_ne!(user_id_of(&other.token), user_id_of(&t1));
}

#[test]
fn tokens_minted_by_the_node_algorithm_are_accepted_and_other_secrets_are_not() {
    let app = app();
    let account = app.new_account();
    let user = user_id_of(&account.token);
    let now = now_ms() as u64 - 2000;
    let no_extras = Map::new();
    let claims = |jti| Claims { user: &user, extras: &no_extras, now_ms: now, ttl_ms: None, jti };
    let node_token = native_key(MASTER_SECRET).mint_now(&claims("11111111-1111-4111-8111-111111111111"));
    let r =
        app.post("/v1/auth/response", Some(&node_token), json!({"publicKey": B64.encode([9u8; 32]), "response": "x"}));
    assert_eq!(r.status, 404, "authenticated, then no such request: {}", r.text);

    let foreign = native_key("another-secret").mint_now(&claims("22222222-2222-4222-8222-222222222222"));
    app.post("/v1/auth/response", Some(&foreign), json!({})).assert_error(401);
    app.post("/v1/auth/response", Some("not-a-token"), json!({})).assert_error(401);
    app.post("/v1/auth/response", None, json!({})).assert_error(401);
}

#[test]
fn login_rejects_bad_input_with_json_4xx() {
    let app = app();
    let key = SigningKey::from_bytes(&random_bytes::<32>());
    let challenge = random_bytes::<32>();
    let pk = B64.encode(key.verifying_key().to_bytes());
    let sig = B64.encode(key.sign(&challenge).to_bytes());
    let ch = B64.encode(challenge);

    // Signature of other bytes.
    let wrong = B64.encode(key.sign(b"other").to_bytes());
    let r = app.post("/v1/auth", None, json!({"publicKey": pk, "challenge": ch, "signature": wrong}));
    r.assert_error(401);
    assert_eq!(r.body["error"], "Invalid signature");
    // Bad base64, wrong lengths, missing fields, wrong types, not JSON.
    app.post("/v1/auth", None, json!({"publicKey": "%%%", "challenge": ch, "signature": sig})).assert_error(400);
    app.post("/v1/auth", None, json!({"publicKey": B64.encode([1u8; 31]), "challenge": ch, "signature": sig}))
        .assert_error(400);
    app.post("/v1/auth", None, json!({"publicKey": pk, "challenge": ch, "signature": B64.encode([1u8; 63])}))
        .assert_error(400);
    app.post("/v1/auth", None, json!({"publicKey": pk, "challenge": ch})).assert_error(400);
    app.post("/v1/auth", None, json!({"publicKey": 5, "challenge": ch, "signature": sig})).assert_error(400);
    app.request_raw("POST", "/v1/auth", None, "application/json", b"{not json").assert_error(400);
    app.request_raw("POST", "/v1/auth", None, "application/json", &vec![b' '; 2 * 1024 * 1024]).assert_error(413);
    // The valid request still works after all that.
    let r = app.post("/v1/auth", None, json!({"publicKey": pk, "challenge": ch, "signature": sig}));
    assert_eq!(r.status, 200);
    assert_eq!(r.body["success"], true);
}

#[test]
fn logout_revokes_the_presented_token_only() {
    let app = app();
    let account = app.new_account();
    let second = app.login(&account.key);
    let r = app.post("/v1/auth/logout", Some(&account.token), json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    app.post("/v1/auth/logout", Some(&account.token), json!({})).assert_error(401);
    // Another token of the same account still works.
    assert_eq!(app.post("/v1/auth/logout", Some(&second), json!({})).status, 200);
}

/// The `jti` claim of a token.
fn jti_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["jti"].as_str().unwrap().to_string()
}

/// Another isolate's logout, as D1 holds it: a row this isolate did not write.
fn revoke_elsewhere(app: &TestApp, token: &str, revoked_at: i64) {
    let (jti, user) = (jti_of(token), user_id_of(token));
    app.d1(&format!(
        "INSERT INTO revoked_tokens (jti, account_id, revoked_at) VALUES ('{jti}', '{user}', {revoked_at})"
    ));
}

#[test]
fn a_token_revoked_by_another_isolate_is_refused_on_its_first_check() {
    let app = app();
    let account = app.new_account();
    let token = app.login(&account.key);
    // A revocation long before this isolate started: read with the token's first check.
    revoke_elsewhere(app, &token, 1);
    app.get("/v1/sessions", Some(&token)).assert_error(401);
    assert_eq!(app.get("/v1/sessions", Some(&account.token)).status, 200, "other tokens still work");
}

#[test]
fn a_cached_token_revoked_by_another_isolate_is_refused_within_a_sync() {
    let app = app();
    let account = app.new_account();
    let token = app.login(&account.key);
    assert_eq!(app.get("/v1/sessions", Some(&token)).status, 200, "verified and cached");
    // Stamped 30 s ago (the revoking isolate read its clock, then its insert committed late).
    revoke_elsewhere(app, &token, now_ms() - 30_000);
    poll("the revocation reaches this isolate", Duration::from_secs(15), || {
        (app.get("/v1/sessions", Some(&token)).status == 401).then_some(())
    });
}

#[test]
fn terminal_pairing_round_trip() {
    let app = app();
    let approver = app.new_account();
    let terminal_key = B64.encode(random_bytes::<32>());
    let r = app.post("/v1/auth/request", None, json!({"publicKey": terminal_key, "supportsV2": true}));
    assert_eq!(r.body, json!({"state": "requested"}));
    let status = app.get(&format!("/v1/auth/request/status?publicKey={}", urlencode(&terminal_key)), None);
    assert_eq!(status.body, json!({"status": "pending", "supportsV2": true}));
    // Polling again is idempotent.
    assert_eq!(app.post("/v1/auth/request", None, json!({"publicKey": terminal_key})).body["state"], "requested");

    // The app answers with an opaque encrypted box the server must keep byte for byte.
    let response = B64.encode(random_bytes::<88>());
    let r =
        app.post("/v1/auth/response", Some(&approver.token), json!({"publicKey": terminal_key, "response": response}));
    assert_eq!(r.body, json!({"success": true}));
    // First response wins.
    let r =
        app.post("/v1/auth/response", Some(&approver.token), json!({"publicKey": terminal_key, "response": "other"}));
    assert_eq!(r.status, 200);

    let status = app.get(&format!("/v1/auth/request/status?publicKey={}", urlencode(&terminal_key)), None);
    assert_eq!(status.body["status"], "authorized");
    let r = app.post("/v1/auth/request", None, json!({"publicKey": terminal_key}));
    assert_eq!(r.body["state"], "authorized");
    assert_eq!(r.body["response"], response.as_str());
    let token = r.body["token"].as_str().unwrap();
    assert_eq!(user_id_of(token), user_id_of(&approver.token));
    assert!(native_key(MASTER_SECRET).verify_now(token, now_ms() as u64 + 2000).is_some());
    assert!(claims_of(token)["session"].is_string(), "terminal tokens carry the request id");

    // Unknown keys and bad keys.
    let unknown = B64.encode(random_bytes::<32>());
    assert_eq!(
        app.get(&format!("/v1/auth/request/status?publicKey={}", urlencode(&unknown)), None).body["status"],
        "not_found"
    );
    app.post("/v1/auth/response", Some(&approver.token), json!({"publicKey": unknown, "response": "x"}))
        .assert_error(404);
    app.post("/v1/auth/request", None, json!({"publicKey": B64.encode([1u8; 16])})).assert_error(401);
}

#[test]
fn account_pairing_round_trip() {
    let app = app();
    let approver = app.new_account();
    let key = B64.encode(random_bytes::<32>());
    assert_eq!(app.post("/v1/auth/account/request", None, json!({"publicKey": key})).body["state"], "requested");
    let r =
        app.post("/v1/auth/account/response", Some(&approver.token), json!({"publicKey": key, "response": "opaque"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.post("/v1/auth/account/request", None, json!({"publicKey": key}));
    assert_eq!(r.body["state"], "authorized");
    assert_eq!(r.body["response"], "opaque");
    assert_eq!(user_id_of(r.body["token"].as_str().unwrap()), user_id_of(&approver.token));
}

#[test]
fn platform_basics() {
    let app = app();
    let r = app.get("/", None);
    assert!(r.body["message"].as_str().unwrap().contains("Welcome"));
    let r = app.get("/health", None);
    assert_eq!(r.body["status"], "ok");
    assert!(r.header("x-request-id").is_some());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // Request ids come from the runtime's randomness: random UUIDs, never repeated.
    let ids: std::collections::HashSet<String> =
        (0..20).map(|_| app.get("/", None).header("x-request-id").unwrap().to_string()).collect();
    assert_eq!(ids.len(), 20, "{ids:?}");
    for id in &ids {
        let v = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(v.get_version_num(), 4, "{id}");
        assert_eq!(v.get_variant(), uuid::Variant::RFC4122, "{id}");
    }
    let r = app.get("/no/such/route", None);
    r.assert_error(404);
    app.request("DELETE", "/health", None, None, &[]).assert_error(405);
    let r = app.request(
        "OPTIONS",
        "/v1/sessions",
        None,
        None,
        &[("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")],
    );
    assert_eq!(r.status, 204);
    assert!(r.header("access-control-allow-headers").unwrap().contains("X-Happy-Client"));
    let doc = app.get("/openapi.json", None);
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert!(doc.body["paths"]["/v1/auth"]["post"].is_object());
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
