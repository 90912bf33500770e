//! One-time connect tokens: the mobile first-connect flow. The owner mints a token; the phone
//! provisions itself with it (a device plus a WireGuard peer applied by the gateway); anyone
//! holding the token can poll its status; the owner can revoke it while pending.
//!
//! A provision attempt first claims the token (a short lease: one gateway call per token at a
//! time) and reserves the device with its address, then calls the gateway, then commits. A
//! failed gateway call releases the claim and leaves no active peer; the reserved device (and
//! so its address) is reused by the retry.

use worker::{Method, Response};

use crate::app::ctx::{parse_json, Ctx, MAX_JSON_BODY};
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::config::now_ms;
use crate::crypto::util::{b64_encode, sha256_hex, uuid_v4};
use crate::db::connect_tokens::{self, Claim, Commit, Committed, Created, NewClaim, NewToken, Revoked, TokenRow};
use crate::db::plans::plan_limits;
use crate::domain::encoding::b64_fixed;
use crate::domain::text::DisplayText;
use crate::domain::time::iso8601;
use crate::enrollment::gateway::Gateway;
use crate::enrollment::{connect_status, device_limit_error, new_device_id, new_secret, ttl_secs, ConnectStatus};
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::wire::devices::{
    ConnectToken, ConnectTokenBody, ConnectTokenRevoked, ConnectTokenStatus, Device, Peer, ProvisionBody, Registered,
};

// `/v1/connect/:token/{status,provision,revoke}` end in literals no vendor route uses
// (`/v1/connect/:vendor/token`, `/register`, `/v1/connect/github/...`), so they coexist.
pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/connect-tokens", Access::User, h!(create_token))
        .doc("connect", "Mint a one-time connect token for a new device")
        .body(request_schema::<ConnectTokenBody>)
        .returns(response_schema::<ConnectToken>),
    route(Method::Get, "/v1/connect/:token/status", Access::Public, h!(token_status))
        .doc("connect", "A connect token's state: pending, provisioned, revoked or expired")
        .returns(response_schema::<ConnectTokenStatus>),
    route(Method::Post, "/v1/connect/:token/provision", Access::Public, h!(provision))
        .doc("connect", "Provision a device and its WireGuard peer with a connect token (single use)")
        .body(request_schema::<ProvisionBody>)
        .returns(response_schema::<Registered>),
    route(Method::Post, "/v1/connect/:token/revoke", Access::User, h!(revoke))
        .doc("connect", "Revoke a pending connect token (owner)")
        .returns(response_schema::<ConnectTokenRevoked>),
];

async fn create_token(mut ctx: Ctx) -> ApiResult<Response> {
    let bytes = ctx.body_bytes(MAX_JSON_BODY).await?;
    let body: ConnectTokenBody = if bytes.is_empty() { ConnectTokenBody::default() } else { parse_json(&bytes)? };
    let ttl = ttl_secs(body.ttl)?;
    let name = DisplayText::parse_opt("deviceName", body.device_name.as_deref())?.map(String::from);
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let token = new_secret("ct_");
    let now = now_ms();
    let expires_at = now + ttl * 1000;
    let hash = sha256_hex(token.as_bytes());
    let new = NewToken { token_hash: &hash, device_name: &name, expires_at, now };
    if connect_tokens::create(&db, &user, &new).await? == Created::TooManyPending {
        return Err(ApiError::forbidden("Too many pending connect tokens").with("max", connect_tokens::MAX_PENDING));
    }
    json(&ConnectToken { token, expires_at: iso8601(expires_at), expires_in: ttl })
}

/// The stored hash of a token from the path; oversized values cannot be tokens.
fn token_hash(ctx: &Ctx) -> ApiResult<String> {
    let token = ctx.param("token");
    if token.is_empty() || token.len() > 256 {
        return Err(token_not_found());
    }
    Ok(sha256_hex(token.as_bytes()))
}

fn token_not_found() -> ApiError {
    ApiError::not_found("Connect token not found")
}

async fn token_status(ctx: Ctx) -> ApiResult<Response> {
    let hash = token_hash(&ctx)?;
    let row = connect_tokens::get(&ctx.db()?, &hash).await?.ok_or_else(token_not_found)?;
    json(&ConnectTokenStatus {
        status: connect_status(&row.state, row.expires_at, now_ms()),
        expires_at: iso8601(row.expires_at),
    })
}

/// Why a token cannot be used now.
fn unusable(row: &TokenRow, now: i64) -> ApiError {
    let status = connect_status(&row.state, row.expires_at, now);
    let error = match status {
        ConnectStatus::Provisioned => ApiError::conflict("Connect token already used"),
        ConnectStatus::Revoked => ApiError::new(410, "Connect token revoked"),
        ConnectStatus::Expired => ApiError::new(410, "Connect token expired"),
        ConnectStatus::Pending => ApiError::conflict("A provision with this token is in progress"),
    };
    error.with("status", status.as_str())
}

async fn provision(mut ctx: Ctx) -> ApiResult<Response> {
    let body: ProvisionBody = ctx.json().await?;
    let public_key = b64_encode(&b64_fixed::<32>("publicKey", &body.public_key)?);
    let name = DisplayText::parse_opt("deviceName", body.device_name.as_deref())?.map(String::from);
    let hash = token_hash(&ctx)?;
    let gateway = Gateway::from_env(&ctx.env)?;
    let db = ctx.db()?;
    let (claim, new_uuid, now) = (uuid_v4(), uuid_v4(), now_ms());

    // Claim the token, then reserve the device and its address on the first attempt only.
    let attempt = NewClaim { token_hash: &hash, claim: &claim, device_uuid: &new_uuid, device_name: &name, now };
    let device = match connect_tokens::claim(&db, &attempt).await? {
        Claim::Missing => return Err(token_not_found()),
        Claim::Unusable(token) => return Err(unusable(&token, now)),
        Claim::NoDevice(token) => {
            connect_tokens::release(&db, &hash, &claim).await?;
            return Err(if connect_tokens::has_address_pool(&db, &token.account_id).await? {
                device_limit_error(plan_limits(&db, &token.account_id).await?.devices_per_account)
            } else {
                ApiError::new(503, "Device address space exhausted")
            });
        }
        Claim::Claimed(device) => *device,
    };
    let allowed_ip = device.allowed_ip().ok_or_else(|| ApiError::internal("reserved device has no address"))?;

    if let Err(e) = gateway.apply(&device.uuid, &public_key, &allowed_ip).await {
        worker::console_error!("gateway apply {}: {e}", device.uuid);
        // The gateway may have applied part of it: take it back before freeing the token.
        if let Err(e) = gateway.remove(&device.uuid).await {
            worker::console_error!("gateway remove {}: {e}", device.uuid);
        }
        connect_tokens::release(&db, &hash, &claim).await?;
        return Err(ApiError::new(502, "Gateway failed to apply the peer")
            .with("status", "pending")
            .with("allowedIp", allowed_ip));
    }

    let (api_key, device_id, now) = (new_secret("dk_"), new_device_id(), now_ms());
    let key_hash = sha256_hex(api_key.as_bytes());
    let commit = Commit {
        token_hash: &hash,
        claim: &claim,
        device_uuid: &device.uuid,
        public_key: &public_key,
        device_id: &device_id,
        api_key_hash: &key_hash,
        device_name: &name,
        now,
    };
    let Committed::Provisioned(provisioned) = connect_tokens::commit(&db, &commit).await? else {
        // Revoked, or the device deleted, while the gateway worked: undo the peer.
        if let Err(e) = gateway.remove(&device.uuid).await {
            worker::console_error!("gateway remove {}: {e}", device.uuid);
        }
        connect_tokens::release(&db, &hash, &claim).await?;
        return Err(ApiError::conflict("The connect token changed during provisioning"));
    };
    let peer = Peer { allowed_ip, gateway_public_key: gateway.public_key, endpoint: gateway.endpoint };
    json(&Registered { device: Device::from(*provisioned), api_key, peer: Some(peer) })
}

async fn revoke(ctx: Ctx) -> ApiResult<Response> {
    let hash = token_hash(&ctx)?;
    let user = ctx.user_id()?.to_string();
    // The device a failed attempt reserved goes with the token (it never got a peer).
    match connect_tokens::revoke(&ctx.db()?, &user, &hash).await? {
        Revoked::Applied => json(&ConnectTokenRevoked { success: true, status: ConnectStatus::Revoked }),
        Revoked::Missing => Err(token_not_found()),
        Revoked::Used => Err(ApiError::conflict("Connect token already used").with("status", "provisioned")),
    }
}
