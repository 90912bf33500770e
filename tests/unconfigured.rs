//! Outside services left unconfigured: GitHub OAuth answers 400 and webhooks 503; voice with
//! the development switch needs no RevenueCat. (Voice with no keys at all: tests/connect.rs.)

mod common;

use std::sync::OnceLock;

use common::*;
use serde_json::json;

fn eleven_labs(_: &StubRequest) -> StubReply {
    StubReply::json(200, json!({"token": "dev-token"}))
}

/// ElevenLabs only (with the development skip), no RevenueCat, no GitHub.
fn server() -> &'static TestApp {
    static BASE: OnceLock<String> = OnceLock::new();
    let base = BASE.get_or_init(|| stub_server(eleven_labs));
    app_with(&[("ELEVENLABS_API_KEY", "k"), ("ELEVENLABS_BASE_URL", base), ("VOICE_SKIP_SUBSCRIPTION_CHECK", "true")])
}

#[test]
fn development_skip_needs_no_revenuecat() {
    let app = server();
    let a = app.new_account();
    let r = app.post("/v1/voice/token", Some(&a.token), json!({"agentId": "agent"}));
    assert_eq!(r.body, json!({"allowed": true, "token": "dev-token", "agentId": "agent"}), "{}", r.text);
}

#[test]
fn github_is_unconfigured() {
    let app = server();
    let a = app.new_account();
    let r = app.get("/v1/connect/github/params", Some(&a.token));
    r.assert_error(400);
    assert_eq!(r.body["error"], "GitHub OAuth not configured");
    app.post("/v1/connect/github/webhook", None, json!({})).assert_error(503);
}
