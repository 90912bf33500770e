//! POST /v1/voice/token: an ElevenLabs conversation token for subscribers (RevenueCat).

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Method, Response, Url};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::config::now_ms;
use crate::domain::time::parse_iso8601;
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::upstream;

pub fn routes() -> Vec<Route> {
    vec![route(Method::Post, "/v1/voice/token", Access::User, h!(voice_token))
        .doc("voice", "ElevenLabs conversation token, for accounts with an active subscription")
        .body(token_request)
        .returns(token_response)]
}

fn token_request() -> Value {
    object(&[("agentId?", string()), ("revenueCatPublicKey?", string())])
}
fn token_response() -> Value {
    object(&[("allowed", boolean()), ("token?", string()), ("agentId", string())])
}

/// Seed clients also send `revenueCatPublicKey`; it is ignored: the server asks RevenueCat
/// with its own key.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenBody {
    agent_id: Option<String>,
}

fn unavailable(what: &str) -> ApiError {
    ApiError::new(503, format!("Voice is not configured ({what})"))
}

fn bad_gateway(service: &str, why: impl std::fmt::Display) -> ApiError {
    worker::console_error!("{service}: {why}");
    ApiError::new(502, format!("{service} is unavailable"))
}

async fn voice_token(mut ctx: Ctx) -> ApiResult<Response> {
    let body: TokenBody = ctx.json().await?;
    let api_key = ctx.var("ELEVENLABS_API_KEY").ok_or_else(|| unavailable("ELEVENLABS_API_KEY"))?;
    let agent_id = body
        .agent_id
        .filter(|a| !a.is_empty())
        .or_else(|| ctx.var("ELEVENLABS_AGENT_ID"))
        .ok_or_else(|| ApiError::bad_request("agentId is required"))?;
    if agent_id.len() > 256 {
        return Err(ApiError::bad_request("agentId is too long"));
    }
    let skip = ctx.var("ENVIRONMENT").as_deref() == Some("development")
        && ctx.var("VOICE_SKIP_SUBSCRIPTION_CHECK").as_deref() == Some("true");
    if !skip && !subscribed(&ctx).await? {
        return json(&json!({"allowed": false, "agentId": agent_id}));
    }
    let url = Url::parse_with_params(
        &format!(
            "{}/v1/convai/conversation/token",
            upstream::base_url(&ctx.env, "ELEVENLABS_BASE_URL", "https://api.elevenlabs.io")
        ),
        &[("agent_id", agent_id.as_str())],
    )
    .map_err(|_| unavailable("ELEVENLABS_BASE_URL"))?;
    let reply = upstream::send(&ctx.env, Method::Get, url.as_str(), &[("xi-api-key", &api_key)], None)
        .await
        .map_err(|e| bad_gateway("ElevenLabs", e))?;
    #[derive(Deserialize)]
    struct Conversation {
        token: String,
    }
    if !reply.ok() {
        return Err(bad_gateway("ElevenLabs", format!("status {}", reply.status)));
    }
    let token = reply.json::<Conversation>().ok_or_else(|| bad_gateway("ElevenLabs", "no token in reply"))?.token;
    json(&json!({"allowed": true, "token": token, "agentId": agent_id}))
}

/// Whether RevenueCat has an active `REVENUECAT_ENTITLEMENT` (default `pro`) for this account.
async fn subscribed(ctx: &Ctx) -> ApiResult<bool> {
    let key = ctx.var("REVENUECAT_API_KEY").ok_or_else(|| unavailable("REVENUECAT_API_KEY"))?;
    let user = ctx.user_id()?;
    let mut url = Url::parse(&format!(
        "{}/v1/subscribers",
        upstream::base_url(&ctx.env, "REVENUECAT_BASE_URL", "https://api.revenuecat.com")
    ))
    .map_err(|_| unavailable("REVENUECAT_BASE_URL"))?;
    url.path_segments_mut().map_err(|_| unavailable("REVENUECAT_BASE_URL"))?.push(user);
    let bearer = format!("Bearer {key}");
    let reply = upstream::send(
        &ctx.env,
        Method::Get,
        url.as_str(),
        &[("authorization", &bearer), ("accept", "application/json")],
        None,
    )
    .await
    .map_err(|e| bad_gateway("RevenueCat", e))?;
    if reply.status == 404 {
        return Ok(false);
    }
    if !reply.ok() {
        return Err(bad_gateway("RevenueCat", format!("status {}", reply.status)));
    }
    let subscriber: Value = reply.json().ok_or_else(|| bad_gateway("RevenueCat", "reply is not JSON"))?;
    let entitlement = ctx.var("REVENUECAT_ENTITLEMENT").unwrap_or_else(|| "pro".into());
    Ok(entitlement_active(&subscriber, &entitlement, now_ms()))
}

/// `subscriber.entitlements[name]` exists and has no `expires_date` (lifetime) or one in the
/// future.
pub fn entitlement_active(reply: &Value, name: &str, now_ms: i64) -> bool {
    let Some(e) = reply.get("subscriber").and_then(|s| s.get("entitlements")).and_then(|e| e.get(name)) else {
        return false;
    };
    match e.get("expires_date") {
        None | Some(Value::Null) => e.is_object(),
        Some(Value::String(d)) => parse_iso8601(d).is_some_and(|t| t > now_ms),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entitlements() {
        let now = 1_800_000_000_000;
        let reply = |e: Value| json!({"subscriber": {"entitlements": e}});
        assert!(entitlement_active(&reply(json!({"pro": {"expires_date": null}})), "pro", now));
        assert!(entitlement_active(&reply(json!({"pro": {"expires_date": "2030-01-01T00:00:00Z"}})), "pro", now));
        assert!(!entitlement_active(&reply(json!({"pro": {"expires_date": "2020-01-01T00:00:00Z"}})), "pro", now));
        assert!(!entitlement_active(&reply(json!({"pro": {"expires_date": "garbage"}})), "pro", now));
        assert!(!entitlement_active(&reply(json!({"other": {"expires_date": null}})), "pro", now));
        assert!(!entitlement_active(&reply(json!({"pro": "yes"})), "pro", now));
        assert!(!entitlement_active(&json!({}), "pro", now));
    }
}
