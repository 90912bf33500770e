//! Voice: ElevenLabs conversation tokens.
//! - POST /v1/voice/token (seed): for subscribers (RevenueCat).
//! - POST /v1/voice/conversations and GET /v1/voice/usage (the stock app): for everyone, within
//!   a monthly allowance. Accounting is local and conservative: each granted conversation is
//!   charged `VOICE_CONVERSATION_SECONDS` (default 600, set it to the agent's maximum call
//!   length) against `VOICE_MONTHLY_LIMIT_SECONDS` (default 3600) per UTC calendar month, in
//!   D1 `voice_conversations`; actual call lengths (known only to ElevenLabs) are not read back.

use serde::Deserialize;
use serde_json::Value;
use worker::{Method, Response, Url};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::auth::keys::master_secret;
use crate::config::now_ms;
use crate::crypto::secretbox::{master_key, path_key};
use crate::crypto::util::{hex_lower, uuid_v4};
use crate::db::voice::{self, Charge, NewCharge};
use crate::domain::text::Text;
use crate::domain::time::{month_start, parse_iso8601};
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::upstream;
use crate::wire::voice::{
    Conversation, ConversationBody, Granted, RefusalReason, Refused, TokenBody, VoiceToken, VoiceUsage,
};
use crate::wire::Bool;

const DEFAULT_MONTHLY_LIMIT_SECONDS: i64 = 3600;
const DEFAULT_CONVERSATION_SECONDS: i64 = 600;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/voice/token", Access::User, h!(voice_token))
        .doc("voice", "ElevenLabs conversation token, for accounts with an active subscription")
        .body(request_schema::<TokenBody>)
        .returns(response_schema::<VoiceToken>),
    route(Method::Post, "/v1/voice/conversations", Access::User, h!(start_conversation))
        .doc("voice", "Start an ElevenLabs conversation within the account's monthly voice allowance")
        .body(request_schema::<ConversationBody>)
        .returns(response_schema::<Conversation>),
    route(Method::Get, "/v1/voice/usage", Access::User, h!(voice_usage))
        .doc("voice", "Voice seconds charged this month (UTC) and the monthly allowance")
        .returns(response_schema::<VoiceUsage>),
];

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
        return json(&VoiceToken { allowed: false, token: None, agent_id });
    }
    let token = eleven_token(&ctx, &api_key, &agent_id).await?;
    json(&VoiceToken { allowed: true, token: Some(token), agent_id })
}

/// A conversation token from ElevenLabs for `agent_id`; 502 when it fails or hangs.
async fn eleven_token(ctx: &Ctx, api_key: &str, agent_id: &str) -> ApiResult<String> {
    let url = Url::parse_with_params(
        &format!(
            "{}/v1/convai/conversation/token",
            upstream::base_url(&ctx.env, "ELEVENLABS_BASE_URL", "https://api.elevenlabs.io")
        ),
        &[("agent_id", agent_id)],
    )
    .map_err(|_| unavailable("ELEVENLABS_BASE_URL"))?;
    let reply = upstream::send(&ctx.env, Method::Get, url.as_str(), &[("xi-api-key", api_key)], None)
        .await
        .map_err(|e| bad_gateway("ElevenLabs", e))?;
    #[derive(Deserialize)]
    struct Conversation {
        token: String,
    }
    if !reply.ok() {
        return Err(bad_gateway("ElevenLabs", format!("status {}", reply.status)));
    }
    Ok(reply.json::<Conversation>().ok_or_else(|| bad_gateway("ElevenLabs", "no token in reply"))?.token)
}

/// The account's pseudonym at ElevenLabs: stable, derived from the master secret, and never
/// revealing the account id.
fn eleven_user_id(ctx: &Ctx) -> ApiResult<String> {
    let master = master_key(&master_secret(&ctx.env)?);
    let key = path_key(&master, &["voice", "eleven-user", ctx.user_id()?]);
    Ok(format!("u_{}", hex_lower(&key[..16])))
}

/// The monthly allowance and the charge of one conversation, in seconds.
fn allowance(ctx: &Ctx) -> (i64, i64) {
    let seconds = |name: &str, default: i64| -> i64 {
        ctx.var(name).and_then(|v| v.parse::<i64>().ok()).filter(|n| *n >= 0).unwrap_or(default)
    };
    (
        seconds("VOICE_MONTHLY_LIMIT_SECONDS", DEFAULT_MONTHLY_LIMIT_SECONDS),
        seconds("VOICE_CONVERSATION_SECONDS", DEFAULT_CONVERSATION_SECONDS),
    )
}

async fn start_conversation(mut ctx: Ctx) -> ApiResult<Response> {
    let body: ConversationBody = ctx.json().await?;
    Text::parse("agentId", &body.agent_id, 256)?;
    let api_key = ctx.var("ELEVENLABS_API_KEY").ok_or_else(|| unavailable("ELEVENLABS_API_KEY"))?;
    let eleven_user = eleven_user_id(&ctx)?;
    let (limit_seconds, charge) = allowance(&ctx);
    let (user, id, now) = (ctx.user_id()?.to_string(), uuid_v4(), now_ms());
    let since = month_start(now);
    let db = ctx.db()?;
    let charge = NewCharge { id: &id, agent_id: &body.agent_id, seconds: charge, now, since, limit: limit_seconds };
    let used = match voice::charge(&db, &user, &charge).await? {
        Charge::Charged { used } => used,
        Charge::OverLimit { used } => {
            return json(&Conversation::Refused(Refused {
                allowed: Bool,
                reason: RefusalReason::VoiceHardLimitReached,
                used_seconds: used,
                limit_seconds,
                agent_id: body.agent_id,
            }))
        }
    };
    let token = match eleven_token(&ctx, &api_key, &body.agent_id).await {
        Ok(t) => t,
        Err(e) => {
            // No conversation happened: give the charge back.
            voice::refund(&db, ctx.user_id()?, &id).await?;
            return Err(e);
        }
    };
    json(&Conversation::Granted(Granted {
        allowed: Bool,
        conversation_token: token,
        conversation_id: id,
        agent_id: body.agent_id,
        eleven_user_id: eleven_user,
        used_seconds: used,
        limit_seconds,
    }))
}

async fn voice_usage(ctx: Ctx) -> ApiResult<Response> {
    let (limit_seconds, _) = allowance(&ctx);
    let used = voice::used_since(&ctx.db()?, ctx.user_id()?, month_start(now_ms())).await?;
    json(&VoiceUsage { used_seconds: used, limit_seconds, eleven_user_id: eleven_user_id(&ctx)? })
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
    use serde_json::json;

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
