//! POST /v1/voice/token against local stand-ins for RevenueCat and ElevenLabs: subscription
//! states, upstream errors and hangs (502, bounded by the timeout), bad input.

mod common;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// RevenueCat behaviour per account id: active, expired, error, hang; unknown ids are 404.
static SUBSCRIBERS: Mutex<Option<HashMap<String, &'static str>>> = Mutex::new(None);
static SEEN: Mutex<Vec<StubRequest>> = Mutex::new(Vec::new());

fn outside(req: &StubRequest) -> StubReply {
    SEEN.lock().unwrap().push(req.clone());
    let hang = StubReply { delay: Duration::from_secs(20), ..StubReply::json(200, json!({})) };
    if let Some(user) = req.path.strip_prefix("/v1/subscribers/") {
        let state = SUBSCRIBERS.lock().unwrap().as_ref().and_then(|m| m.get(user).copied());
        let entitlement = |expires: serde_json::Value| {
            StubReply::json(200, json!({"subscriber": {"entitlements": {"pro": {"expires_date": expires}}}}))
        };
        return match state {
            Some("active") => entitlement(json!("2999-01-01T00:00:00Z")),
            Some("lifetime") => entitlement(json!(null)),
            Some("expired") => entitlement(json!("2001-01-01T00:00:00Z")),
            Some("error") => StubReply::json(500, json!({"message": "down"})),
            Some("hang") => hang,
            _ => StubReply::json(404, json!({"code": 7259})),
        };
    }
    match req.path.split("agent_id=").nth(1) {
        Some("agent-ok") => StubReply::json(200, json!({"token": "xi-conversation-token"})),
        Some("agent-500") => StubReply::json(500, json!({"detail": "nope"})),
        Some("agent-hang") => hang,
        Some("agent-garbage") => StubReply { status: 200, body: "<html>".into(), delay: Duration::ZERO },
        _ => StubReply::json(404, json!({})),
    }
}

fn server() -> &'static TestApp {
    static BASE: OnceLock<String> = OnceLock::new();
    let base = BASE.get_or_init(|| stub_server(outside));
    app_with(&[
        ("ELEVENLABS_API_KEY", "xi-key"),
        ("ELEVENLABS_BASE_URL", base),
        ("REVENUECAT_API_KEY", "rc-secret"),
        ("REVENUECAT_BASE_URL", base),
        ("UPSTREAM_TIMEOUT_MS", "1500"),
    ])
}

fn account(state: &'static str) -> Account {
    let a = server().new_account();
    SUBSCRIBERS.lock().unwrap().get_or_insert_with(HashMap::new).insert(user_id_of(&a.token), state);
    a
}

fn ask(a: &Account, agent: &str) -> Resp {
    server().post("/v1/voice/token", Some(&a.token), json!({"agentId": agent, "revenueCatPublicKey": "appl_x"}))
}

#[test]
fn subscribers_get_a_conversation_token() {
    for state in ["active", "lifetime"] {
        let a = account(state);
        let r = ask(&a, "agent-ok");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body, json!({"allowed": true, "token": "xi-conversation-token", "agentId": "agent-ok"}));
    }
    let seen = SEEN.lock().unwrap();
    let rc = seen.iter().find(|r| r.path.starts_with("/v1/subscribers/")).unwrap();
    assert_eq!(rc.header("authorization"), Some("Bearer rc-secret"));
    let el = seen.iter().find(|r| r.path.starts_with("/v1/convai/conversation/token")).unwrap();
    assert_eq!(el.header("xi-api-key"), Some("xi-key"));
}

#[test]
fn no_active_subscription_is_not_allowed() {
    for state in ["expired", "none"] {
        let r = ask(&account(state), "agent-ok");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body, json!({"allowed": false, "agentId": "agent-ok"}));
    }
}

#[test]
fn upstream_failures_are_502_and_never_hang() {
    for (state, agent) in [
        ("error", "agent-ok"),
        ("hang", "agent-ok"),
        ("active", "agent-500"),
        ("active", "agent-hang"),
        ("active", "agent-garbage"),
    ] {
        let started = Instant::now();
        ask(&account(state), agent).assert_error(502);
        assert!(started.elapsed() < Duration::from_secs(10), "{state}/{agent} took {:?}", started.elapsed());
    }
}

#[test]
fn bad_requests() {
    let app = server();
    let a = account("active");
    app.post("/v1/voice/token", Some(&a.token), json!({})).assert_error(400);
    app.post("/v1/voice/token", Some(&a.token), json!({"agentId": 5})).assert_error(400);
    app.post("/v1/voice/token", Some(&a.token), json!({"agentId": "a".repeat(257)})).assert_error(400);
    app.request_raw("POST", "/v1/voice/token", Some(&a.token), "application/json", b"{").assert_error(400);
    app.post("/v1/voice/token", None, json!({"agentId": "agent-ok"})).assert_error(401);
}
