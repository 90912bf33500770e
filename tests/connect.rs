//! Connect routes: AI vendor tokens sealed at rest, and GitHub OAuth against a local stand-in
//! for github.com and api.github.com, plus webhook signatures.

mod common;

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use happy_server::auth::token::{derive_seed, Claims, TokenKey, TokenKind};
use happy_server::crypto::secretbox::{master_key, open, path_key};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const WEBHOOK_SECRET: &str = "webhook-secret-for-tests";

/// Every request the GitHub stand-in received.
static SEEN: Mutex<Vec<StubRequest>> = Mutex::new(Vec::new());

/// Codes: `good-<n>` → token `gho_<n>` → GitHub user id n; `bad` → OAuth error; `hang` → no
/// answer within the timeout; `noprofile-<n>` → token whose /user answers 500.
fn github(req: &StubRequest) -> StubReply {
    SEEN.lock().unwrap().push(req.clone());
    let path = req.path.split('?').next().unwrap_or("");
    match (req.method.as_str(), path) {
        ("POST", "/login/oauth/access_token") => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let code = body["code"].as_str().unwrap_or("");
            if body["client_secret"] != "gh-secret" {
                return StubReply::json(200, json!({"error": "incorrect_client_credentials"}));
            }
            if code == "hang" {
                return StubReply { delay: Duration::from_secs(20), ..StubReply::json(200, json!({})) };
            }
            match code.strip_prefix("good-").or_else(|| code.strip_prefix("noprofile-")) {
                Some(_) => StubReply::json(200, json!({"access_token": format!("gho_{code}"), "token_type": "bearer"})),
                None => StubReply::json(200, json!({"error": "bad_verification_code"})),
            }
        }
        ("GET", "/user") => {
            let token = req.header("authorization").unwrap_or("").trim_start_matches("Bearer ");
            match token.strip_prefix("gho_good-") {
                Some(n) => StubReply::json(
                    200,
                    json!({"id": n.parse::<i64>().unwrap(), "login": format!("octo{n}"), "name": null,
                           "avatar_url": format!("https://avatars.example/{n}"), "bio": "hi", "extra": true}),
                ),
                None => StubReply::json(500, json!({"message": "boom"})),
            }
        }
        _ => StubReply::json(200, json!({"app": true})),
    }
}

fn stub() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| stub_server(github))
}

fn server() -> &'static TestApp {
    let base = stub();
    let app_url = format!("{base}/app");
    app_with(&[
        ("GITHUB_CLIENT_ID", "gh-client"),
        ("GITHUB_CLIENT_SECRET", "gh-secret"),
        ("GITHUB_REDIRECT_URL", "https://api.example/v1/connect/github/callback"),
        ("GITHUB_OAUTH_BASE_URL", base),
        ("GITHUB_API_BASE_URL", base),
        ("GITHUB_APP_URL", &app_url),
        ("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("UPSTREAM_TIMEOUT_MS", "1500"),
    ])
}

fn unseal(path: &[&str], sealed_b64: &str) -> String {
    let key = path_key(&master_key(MASTER_SECRET), path);
    String::from_utf8(open(&key, &B64.decode(sealed_b64).unwrap()).expect("opens with the master secret")).unwrap()
}

#[test]
fn vendor_tokens_round_trip_and_are_sealed_in_d1() {
    let app = server();
    let a = app.new_account();
    let user = user_id_of(&a.token);
    assert_eq!(app.get("/v1/connect/openai/token", Some(&a.token)).body, json!({"token": null}));
    assert_eq!(app.get("/v1/connect/tokens", Some(&a.token)).body, json!({"tokens": []}));

    // The CLI sends a JSON-stringified credentials object.
    let openai = json!({"apiKey": "sk-live-0123456789"}).to_string();
    let r = app.post("/v1/connect/openai/register", Some(&a.token), json!({"token": openai}));
    assert_eq!(r.body, json!({"success": true}), "{}", r.text);
    app.post("/v1/connect/anthropic/register", Some(&a.token), json!({"token": "sk-ant-first"}));
    app.post("/v1/connect/anthropic/register", Some(&a.token), json!({"token": "sk-ant-second"}));
    assert_eq!(app.get("/v1/connect/openai/token", Some(&a.token)).body, json!({"token": openai}));
    assert_eq!(app.get("/v1/connect/anthropic/token", Some(&a.token)).body, json!({"token": "sk-ant-second"}));
    assert_eq!(
        app.get("/v1/connect/tokens", Some(&a.token)).body,
        json!({"tokens": [{"vendor": "anthropic", "token": "sk-ant-second"}, {"vendor": "openai", "token": openai}]})
    );

    // D1 holds sealed blobs only, which open with the master secret and the documented path
    // outside the worker (what a restarted worker does).
    let rows = app.d1(&format!("SELECT vendor, token FROM vendor_tokens WHERE account_id = '{user}' ORDER BY vendor"));
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let sealed = row["token"].as_str().unwrap();
        assert!(!sealed.contains("sk-"), "plaintext in D1: {sealed}");
        let vendor = row["vendor"].as_str().unwrap();
        let plain = unseal(&["user", &user, "vendors", vendor, "token"], sealed);
        assert_eq!(plain, if vendor == "openai" { openai.clone() } else { "sk-ant-second".into() });
        assert_eq!(B64.decode(sealed).unwrap().len(), 24 + 16 + plain.len());
    }

    // Another account sees nothing of them.
    let b = app.new_account();
    assert_eq!(app.get("/v1/connect/openai/token", Some(&b.token)).body, json!({"token": null}));
    app.delete("/v1/connect/openai", Some(&b.token)).assert_error(404);

    assert_eq!(app.delete("/v1/connect/openai", Some(&a.token)).body, json!({"success": true}));
    app.delete("/v1/connect/openai", Some(&a.token)).assert_error(404);
    assert_eq!(app.get("/v1/connect/openai/token", Some(&a.token)).body, json!({"token": null}));
    assert_eq!(app.get("/v1/connect/tokens", Some(&a.token)).body["tokens"].as_array().unwrap().len(), 1);
}

#[test]
fn vendor_routes_reject_bad_input() {
    let app = server();
    let a = app.new_account();
    app.post("/v1/connect/mistral/register", Some(&a.token), json!({"token": "x"})).assert_error(400);
    app.get("/v1/connect/mistral/token", Some(&a.token)).assert_error(400);
    app.delete("/v1/connect/mistral", Some(&a.token)).assert_error(400);
    app.post("/v1/connect/openai/register", Some(&a.token), json!({"token": ""})).assert_error(400);
    app.post("/v1/connect/openai/register", Some(&a.token), json!({"token": 5})).assert_error(400);
    app.post("/v1/connect/openai/register", Some(&a.token), json!({})).assert_error(400);
    app.post("/v1/connect/openai/register", Some(&a.token), json!({"token": "x".repeat(16 * 1024 + 1)}))
        .assert_error(400);
    app.post("/v1/connect/openai/register", None, json!({"token": "x"})).assert_error(401);
    app.get("/v1/connect/tokens", None).assert_error(401);
    app.get("/v1/connect/openai/token", None).assert_error(401);
}

fn github_key() -> TokenKey {
    TokenKey::native("github-happy", &derive_seed(MASTER_SECRET, "github-happy", TokenKind::Ephemeral))
}

/// The state of a fresh authorize URL for `token`'s account.
fn state_for(app: &TestApp, token: &str) -> String {
    let r = app.get("/v1/connect/github/params", Some(token));
    assert_eq!(r.status, 200, "{}", r.text);
    let url = r.body["url"].as_str().unwrap();
    url.split("state=").nth(1).unwrap().split('&').next().unwrap().to_string()
}

/// Callbacks one at a time: each reads what the stand-in saw during it, and tests run in
/// parallel threads.
static ONE_CALLBACK: Mutex<()> = Mutex::new(());

thread_local! {
    /// What the stand-in received during this thread's last callback.
    static LAST_EXCHANGE: std::cell::RefCell<Vec<StubRequest>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs the callback; returns the query the browser was sent to the app with.
fn callback(app: &TestApp, query: &str) -> String {
    let _one = ONE_CALLBACK.lock().unwrap_or_else(|e| e.into_inner());
    SEEN.lock().unwrap().clear();
    let r = app.get(&format!("/v1/connect/github/callback?{query}"), None);
    assert_eq!(r.body, json!({"app": true}), "redirected to the app: {}", r.text);
    let seen = SEEN.lock().unwrap().clone();
    LAST_EXCHANGE.with(|last| *last.borrow_mut() = seen.clone());
    let app_hit = seen.iter().rev().find(|q| q.path.starts_with("/app")).expect("the app was reached");
    app_hit.path.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default()
}

#[test]
fn github_params_carry_a_five_minute_state_for_the_caller() {
    let app = server();
    let a = app.new_account();
    let r = app.get("/v1/connect/github/params", Some(&a.token));
    let url = r.body["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/login/oauth/authorize?client_id=gh-client&", stub())), "{url}");
    assert!(url.contains("redirect_uri=https%3A%2F%2Fapi.example%2Fv1%2Fconnect%2Fgithub%2Fcallback"), "{url}");
    assert!(url.contains("scope=read%3Auser%2Cuser%3Aemail%2Cread%3Aorg%2Ccodespace"), "{url}");
    let state = state_for(app, &a.token);
    let verified = github_key().verify_now(&state, now_ms() as u64 + 1000).expect("a github-happy token");
    assert_eq!(verified.user_id, user_id_of(&a.token));
    assert!(
        github_key().verify_now(&state, now_ms() as u64 + 5 * 60 * 1000 + 2000).is_none(),
        "expires after 5 minutes"
    );
    app.get("/v1/connect/github/params", None).assert_error(401);
}

#[test]
fn github_connect_stores_profile_and_sealed_token_then_disconnects() {
    let app = server();
    let a = app.new_account();
    let user = user_id_of(&a.token);
    let seq = |u: &str| app.d1(&format!("SELECT seq FROM accounts WHERE id = '{u}'"))[0]["seq"].as_i64().unwrap();
    let before = seq(&user);

    let query = callback(app, &format!("code=good-4242&state={}", state_for(app, &a.token)));
    assert_eq!(query, "github=connected&user=octo4242");
    let exchange = LAST_EXCHANGE.with(|last| last.borrow().clone());
    let token_req = exchange.iter().find(|r| r.path == "/login/oauth/access_token").unwrap();
    let sent: Value = serde_json::from_slice(&token_req.body).unwrap();
    assert_eq!(sent, json!({"client_id": "gh-client", "client_secret": "gh-secret", "code": "good-4242"}));

    let row = &app.d1(&format!("SELECT github_profile, github_user_id FROM accounts WHERE id = '{user}'"))[0];
    let profile: Value = serde_json::from_str(row["github_profile"].as_str().unwrap()).unwrap();
    assert_eq!(
        profile,
        json!({"id": 4242, "login": "octo4242", "name": "octo4242", "avatar_url": "https://avatars.example/4242", "bio": "hi"})
    );
    assert_eq!(row["github_user_id"], "4242");
    let sealed = app.d1(&format!("SELECT token FROM github_tokens WHERE account_id = '{user}'"));
    let sealed = sealed[0]["token"].as_str().unwrap();
    assert!(!sealed.contains("gho_"));
    assert_eq!(unseal(&["user", &user, "github", "token"], sealed), "gho_good-4242");
    assert_eq!(seq(&user), before + 1);

    // The same GitHub account connected from another Happy account moves there.
    let b = app.new_account();
    let other = user_id_of(&b.token);
    assert_eq!(
        callback(app, &format!("code=good-4242&state={}", state_for(app, &b.token))),
        "github=connected&user=octo4242"
    );
    let row = &app.d1(&format!("SELECT github_profile, github_user_id FROM accounts WHERE id = '{user}'"))[0];
    assert_eq!((&row["github_profile"], &row["github_user_id"]), (&Value::Null, &Value::Null));
    assert!(app.d1(&format!("SELECT 1 FROM github_tokens WHERE account_id = '{user}'")).is_empty());
    assert_eq!(seq(&user), before + 2, "the account that lost GitHub gets an update too");
    assert_eq!(
        app.d1(&format!("SELECT github_user_id FROM accounts WHERE id = '{other}'"))[0]["github_user_id"],
        "4242"
    );

    app.delete("/v1/connect/github", Some(&a.token)).assert_error(404);
    assert_eq!(app.delete("/v1/connect/github", Some(&b.token)).body, json!({"success": true}));
    app.delete("/v1/connect/github", Some(&b.token)).assert_error(404);
    assert!(app.d1(&format!("SELECT 1 FROM github_tokens WHERE account_id = '{other}'")).is_empty());
    assert_eq!(
        app.d1(&format!("SELECT github_profile FROM accounts WHERE id = '{other}'"))[0]["github_profile"],
        Value::Null
    );
    app.delete("/v1/connect/github", None).assert_error(401);
}

#[test]
fn github_callback_failures_redirect_with_a_reason() {
    let app = server();
    let a = app.new_account();
    assert_eq!(callback(app, "state=x"), "error=invalid_request");
    assert_eq!(callback(app, "code=good-1&state=not-a-token"), "error=invalid_state");
    // A state minted for another service (an account token) is not a GitHub state.
    assert_eq!(callback(app, &format!("code=good-1&state={}", a.token)), "error=invalid_state");
    let expired = github_key().mint_now(&Claims {
        user: &user_id_of(&a.token),
        extras: &Default::default(),
        now_ms: now_ms() as u64 - 600_000,
        ttl_ms: Some(300_000),
        jti: "j",
    });
    assert_eq!(callback(app, &format!("code=good-1&state={expired}")), "error=invalid_state");
    assert_eq!(callback(app, &format!("code=bad&state={}", state_for(app, &a.token))), "error=token_exchange_failed");
    assert_eq!(
        callback(app, &format!("code=noprofile-1&state={}", state_for(app, &a.token))),
        "error=github_user_fetch_failed"
    );
    let started = Instant::now();
    assert_eq!(callback(app, &format!("code=hang&state={}", state_for(app, &a.token))), "error=github_unreachable");
    assert!(started.elapsed() < Duration::from_secs(10), "the upstream timeout bounds the callback");
    // Nothing was connected.
    let user = user_id_of(&a.token);
    assert_eq!(
        app.d1(&format!("SELECT github_user_id FROM accounts WHERE id = '{user}'"))[0]["github_user_id"],
        Value::Null
    );
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[test]
fn webhook_requires_a_valid_signature() {
    let app = server();
    let body = json!({"action": "opened", "number": 1});
    let raw = body.to_string();
    let headers = |sig: &str| vec![("X-Hub-Signature-256", sig.to_string()), ("X-GitHub-Event", "ping".to_string())];
    let send = |sig: Option<&str>| {
        let h = sig.map(headers).unwrap_or_default();
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        app.request("POST", "/v1/connect/github/webhook", None, Some(&body), &h)
    };
    let ok = send(Some(&sign(raw.as_bytes())));
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body, json!({"received": true}));
    send(None).assert_error(401);
    send(Some(&sign(b"another body"))).assert_error(401);
    send(Some("sha256=")).assert_error(401);
    send(Some(&sign(raw.as_bytes()).replace("sha256=", "sha1="))).assert_error(401);
}

/// This binary's server configures GitHub only, so it also shows voice without its services
/// (tests/unconfigured.rs covers the development skip).
#[test]
fn voice_is_503_while_its_services_are_unconfigured() {
    let app = server();
    let a = app.new_account();
    let r = app.post("/v1/voice/token", Some(&a.token), json!({"agentId": "agent"}));
    r.assert_error(503);
    assert!(r.body["error"].as_str().unwrap().contains("ELEVENLABS_API_KEY"));
    // The stock app's route too; its usage still answers (nothing charged yet).
    app.post("/v1/voice/conversations", Some(&a.token), json!({"agentId": "agent"})).assert_error(503);
    assert_eq!(app.get("/v1/voice/usage", Some(&a.token)).body["usedSeconds"], 0);
}
