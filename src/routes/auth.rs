//! Auth routes: direct Ed25519 login, terminal and account pairing, logout.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::auth;
use crate::crypto::ed25519;
use crate::crypto::util::hex_upper;
use crate::db::accounts;
use crate::db::pairing::{self, Pairing};
use crate::domain::encoding::{b64_decode, b64_fixed};
use crate::error::{ApiError, ApiResult};
use crate::h;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/auth", Access::Public, h!(login))
        .doc("auth", "Log in (or sign up) by signing a challenge with an Ed25519 key")
        .body(auth_request)
        .returns(token_response),
    route(Method::Post, "/v1/auth/request", Access::Public, h!(terminal_request))
        .doc("auth", "Terminal pairing: create or poll a request")
        .body(pairing_request)
        .returns(pairing_state),
    route(Method::Get, "/v1/auth/request/status", Access::Public, h!(terminal_status))
        .doc("auth", "Terminal pairing status for a public key")
        .returns(pairing_status),
    route(Method::Post, "/v1/auth/response", Access::User, h!(terminal_response))
        .doc("auth", "Approve a terminal pairing")
        .body(pairing_response)
        .returns(success),
    route(Method::Post, "/v1/auth/account/request", Access::Public, h!(account_request))
        .doc("auth", "Account pairing: create or poll a request")
        .body(pairing_request)
        .returns(pairing_state),
    route(Method::Post, "/v1/auth/account/response", Access::User, h!(account_response))
        .doc("auth", "Approve an account pairing")
        .body(pairing_response)
        .returns(success),
    route(Method::Post, "/v1/auth/logout", Access::User, h!(logout))
        .doc("auth", "Revoke the presented token")
        .returns(success),
];

fn auth_request() -> Value {
    object(&[("publicKey", string()), ("challenge", string()), ("signature", string())])
}
fn token_response() -> Value {
    object(&[("success", boolean()), ("token", string())])
}
fn pairing_request() -> Value {
    object(&[("publicKey", string()), ("supportsV2?", nullable(boolean()))])
}
fn pairing_state() -> Value {
    object(&[("state", enumeration(&["requested", "authorized"])), ("token?", string()), ("response?", string())])
}
fn pairing_status() -> Value {
    object(&[("status", enumeration(&["not_found", "pending", "authorized"])), ("supportsV2", boolean())])
}
fn pairing_response() -> Value {
    object(&[("publicKey", string()), ("response", string())])
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginBody {
    public_key: String,
    challenge: String,
    signature: String,
}

/// Largest challenge we sign-check; clients send 32 random bytes.
const MAX_CHALLENGE: usize = 1024;
/// Largest opaque pairing response (an encrypted box of a few keys).
const MAX_PAIRING_RESPONSE: usize = 16 * 1024;

/// The Ed25519 key that signed `challenge` (all three base64), or why not: 400 for a malformed
/// field, 401 for a signature that does not verify.
pub async fn signing_key(public_key: &str, challenge: &str, signature: &str) -> ApiResult<[u8; 32]> {
    let public_key = b64_fixed::<32>("publicKey", public_key)?;
    let challenge = b64_decode("challenge", challenge)?;
    if challenge.len() > MAX_CHALLENGE {
        return Err(ApiError::bad_request("challenge is too long"));
    }
    let signature = b64_fixed::<64>("signature", signature)?;
    if !ed25519::verify(&public_key, &challenge, &signature).await {
        return Err(ApiError::unauthorized("Invalid signature"));
    }
    Ok(public_key)
}

async fn login(mut ctx: Ctx) -> ApiResult<Response> {
    let body: LoginBody = ctx.json().await?;
    let public_key = signing_key(&body.public_key, &body.challenge, &body.signature).await?;

    let id = accounts::upsert_by_public_key(&ctx.db()?, &hex_upper(&public_key)).await?;
    let token = auth::mint(&ctx.env, &id, &Map::new()).await?;
    json(&json!({"success": true, "token": token}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PairingBody {
    public_key: String,
    supports_v2: Option<bool>,
}

/// A pairing key is an X25519 box public key: 32 bytes of standard base64.
fn pairing_key(value: &str) -> ApiResult<String> {
    b64_fixed::<32>("publicKey", value).map(|k| hex_upper(&k)).map_err(|_| ApiError::unauthorized("Invalid public key"))
}

async fn pairing_request_route(mut ctx: Ctx, kind: Pairing) -> ApiResult<Response> {
    let body: PairingBody = ctx.json().await?;
    let key = pairing_key(&body.public_key)?;
    let row = pairing::request(&ctx.db()?, kind, &key, body.supports_v2.unwrap_or(false)).await?;
    match (row.response, row.response_account_id) {
        (Some(response), Some(account)) => {
            let mut extras = Map::new();
            if let Pairing::Terminal = kind {
                extras.insert("session".into(), Value::String(row.id));
            }
            let token = auth::mint(&ctx.env, &account, &extras).await?;
            json(&json!({"state": "authorized", "token": token, "response": response}))
        }
        _ => json(&json!({"state": "requested"})),
    }
}

async fn terminal_request(ctx: Ctx) -> ApiResult<Response> {
    pairing_request_route(ctx, Pairing::Terminal).await
}

async fn account_request(ctx: Ctx) -> ApiResult<Response> {
    pairing_request_route(ctx, Pairing::Account).await
}

async fn terminal_status(ctx: Ctx) -> ApiResult<Response> {
    let not_found = json!({"status": "not_found", "supportsV2": false});
    let Some(key) = ctx.query("publicKey").and_then(|k| pairing_key(&k).ok()) else {
        return json(&not_found);
    };
    match pairing::terminal(&ctx.db()?, &key).await? {
        None => json(&not_found),
        Some(r) if r.response.is_some() => json(&json!({"status": "authorized", "supportsV2": false})),
        Some(r) => json(&json!({"status": "pending", "supportsV2": r.supports_v2.unwrap_or(0) != 0})),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseBody {
    public_key: String,
    response: String,
}

async fn pairing_response_route(mut ctx: Ctx, kind: Pairing) -> ApiResult<Response> {
    let body: ResponseBody = ctx.json().await?;
    if body.response.is_empty() || body.response.len() > MAX_PAIRING_RESPONSE {
        return Err(ApiError::bad_request("response must be 1..16384 characters"));
    }
    let key = b64_fixed::<32>("publicKey", &body.public_key).map(|k| hex_upper(&k))?;
    let user = ctx.user_id()?.to_string();
    if !pairing::respond(&ctx.db()?, kind, &key, &body.response, &user).await? {
        return Err(ApiError::not_found("Request not found"));
    }
    json(&json!({"success": true}))
}

async fn terminal_response(ctx: Ctx) -> ApiResult<Response> {
    pairing_response_route(ctx, Pairing::Terminal).await
}

async fn account_response(ctx: Ctx) -> ApiResult<Response> {
    pairing_response_route(ctx, Pairing::Account).await
}

async fn logout(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user()?;
    let jti = user.jti.clone().ok_or_else(|| ApiError::bad_request("This token has no id and cannot be revoked"))?;
    auth::revoke(&ctx.db()?, &user.id, &jti).await?;
    json(&json!({"success": true}))
}
