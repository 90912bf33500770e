//! Auth routes: direct Ed25519 login, terminal and account pairing, logout.

use serde_json::{Map, Value};
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::auth;
use crate::crypto::ed25519;
use crate::crypto::util::hex_upper;
use crate::db::accounts;
use crate::db::pairing::{self, Pairing};
use crate::domain::encoding::{b64_decode, b64_fixed};
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::wire::auth::{Login, LoginBody, PairingBody, PairingProgress, PairingState, PairingStatus, ResponseBody};
use crate::wire::Success;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/auth", Access::Public, h!(login))
        .doc("auth", "Log in (or sign up) by signing a challenge with an Ed25519 key")
        .body(request_schema::<LoginBody>)
        .returns(response_schema::<Login>),
    route(Method::Post, "/v1/auth/request", Access::Public, h!(terminal_request))
        .doc("auth", "Terminal pairing: create or poll a request")
        .body(request_schema::<PairingBody>)
        .returns(response_schema::<PairingState>),
    route(Method::Get, "/v1/auth/request/status", Access::Public, h!(terminal_status))
        .doc("auth", "Terminal pairing status for a public key")
        .returns(response_schema::<PairingStatus>),
    route(Method::Post, "/v1/auth/response", Access::User, h!(terminal_response))
        .doc("auth", "Approve a terminal pairing")
        .body(request_schema::<ResponseBody>)
        .returns(response_schema::<Success>),
    route(Method::Post, "/v1/auth/account/request", Access::Public, h!(account_request))
        .doc("auth", "Account pairing: create or poll a request")
        .body(request_schema::<PairingBody>)
        .returns(response_schema::<PairingState>),
    route(Method::Post, "/v1/auth/account/response", Access::User, h!(account_response))
        .doc("auth", "Approve an account pairing")
        .body(request_schema::<ResponseBody>)
        .returns(response_schema::<Success>),
    route(Method::Post, "/v1/auth/logout", Access::User, h!(logout))
        .doc("auth", "Revoke the presented token")
        .returns(response_schema::<Success>),
];

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
    json(&Login { success: true, token })
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
            json(&PairingState::Authorized { token, response })
        }
        _ => json(&PairingState::Requested),
    }
}

async fn terminal_request(ctx: Ctx) -> ApiResult<Response> {
    pairing_request_route(ctx, Pairing::Terminal).await
}

async fn account_request(ctx: Ctx) -> ApiResult<Response> {
    pairing_request_route(ctx, Pairing::Account).await
}

async fn terminal_status(ctx: Ctx) -> ApiResult<Response> {
    let status = |status, supports_v2| json(&PairingStatus { status, supports_v2 });
    let Some(key) = ctx.query("publicKey").and_then(|k| pairing_key(&k).ok()) else {
        return status(PairingProgress::NotFound, false);
    };
    match pairing::terminal(&ctx.db()?, &key).await? {
        None => status(PairingProgress::NotFound, false),
        Some(r) if r.response.is_some() => status(PairingProgress::Authorized, false),
        Some(r) => status(PairingProgress::Pending, r.supports_v2.unwrap_or(0) != 0),
    }
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
    json(&Success::TRUE)
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
    json(&Success::TRUE)
}
