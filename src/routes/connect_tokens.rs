//! One-time connect tokens: the mobile first-connect flow. The owner mints a token; the phone
//! provisions itself with it (a device plus a WireGuard peer applied by the gateway); anyone
//! holding the token can poll its status; the owner can revoke it while pending.
//!
//! A provision attempt first claims the token (a short lease: one gateway call per token at a
//! time) and reserves the device with its address, then calls the gateway, then commits. A
//! failed gateway call releases the claim and leaves no active peer; the reserved device (and
//! so its address) is reused by the retry.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Method, Response};

use crate::app::ctx::{parse_json, Ctx, MAX_JSON_BODY};
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::config::now_ms;
use crate::crypto::util::{b64_encode, sha256_hex, uuid_v4};
use crate::db::plans::{device_limit_sql, plan_limits};
use crate::db::{first_row, Db};
use crate::domain::encoding::b64_fixed;
use crate::domain::time::iso8601;
use crate::enrollment::gateway::Gateway;
use crate::enrollment::{
    connect_status, device_limit_error, new_device_id, new_secret, text, ttl_secs, DeviceRow, DeviceWire,
    CLAIM_LEASE_MS, DEVICE_COLUMNS,
};
use crate::error::{ApiError, ApiResult};
use crate::routes::devices::device_schema;
use crate::{args, h};

/// Pending connect tokens an account may hold at once; pending rows expired for a day go first.
const MAX_PENDING_TOKENS: i64 = 100;
const STALE_TOKEN_MS: i64 = 86_400_000;
/// Account /24s inside 10.0.0.0/8: 10.0.1.0/24 up to 10.255.255.0/24.
const MAX_SUBNET: i64 = 65_535;

// `/v1/connect/:token/{status,provision,revoke}` end in literals no vendor route uses
// (`/v1/connect/:vendor/token`, `/register`, `/v1/connect/github/...`), so they coexist.
pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/connect-tokens", Access::User, h!(create_token))
        .doc("connect", "Mint a one-time connect token for a new device")
        .body(create_request)
        .returns(create_response),
    route(Method::Get, "/v1/connect/:token/status", Access::Public, h!(token_status))
        .doc("connect", "A connect token's state: pending, provisioned, revoked or expired")
        .returns(status_response),
    route(Method::Post, "/v1/connect/:token/provision", Access::Public, h!(provision))
        .doc("connect", "Provision a device and its WireGuard peer with a connect token (single use)")
        .body(provision_request)
        .returns(provision_response),
    route(Method::Post, "/v1/connect/:token/revoke", Access::User, h!(revoke))
        .doc("connect", "Revoke a pending connect token (owner)")
        .returns(revoke_response),
];

fn create_request() -> Value {
    object(&[("deviceName?", string()), ("ttl?", integer())])
}
fn create_response() -> Value {
    object(&[("token", string()), ("expiresAt", string()), ("expiresIn", integer())])
}
fn status_response() -> Value {
    object(&[("status", enumeration(&["pending", "provisioned", "revoked", "expired"])), ("expiresAt", string())])
}
fn provision_request() -> Value {
    object(&[("publicKey", string()), ("deviceName?", string())])
}
fn peer_schema() -> Value {
    object(&[("allowedIp", string()), ("gatewayPublicKey", string()), ("endpoint", string())])
}
fn provision_response() -> Value {
    object(&[("device", device_schema()), ("apiKey", string()), ("peer", peer_schema())])
}
fn revoke_response() -> Value {
    object(&[("success", boolean()), ("status", enumeration(&["revoked"]))])
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    device_name: Option<String>,
    ttl: Option<i64>,
}

async fn create_token(mut ctx: Ctx) -> ApiResult<Response> {
    let bytes = ctx.body_bytes(MAX_JSON_BODY).await?;
    let body: CreateBody = if bytes.is_empty() { CreateBody::default() } else { parse_json(&bytes)? };
    let ttl = ttl_secs(body.ttl)?;
    let name = text("deviceName", body.device_name)?;
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let token = new_secret("ct_");
    let now = now_ms();
    let expires_at = now + ttl * 1000;
    let results = db
        .batch(vec![
            db.stmt(
                "DELETE FROM connect_tokens WHERE account_id = ?1 AND state = 'pending' AND expires_at < ?2",
                args![&user, now - STALE_TOKEN_MS],
            )?,
            db.stmt(
                "INSERT INTO connect_tokens (token_hash, account_id, device_name, expires_at, created_at, updated_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?5
                 WHERE (SELECT COUNT(*) FROM connect_tokens WHERE account_id = ?2 AND state = 'pending') < ?6",
                args![sha256_hex(token.as_bytes()), &user, &name, expires_at, now, MAX_PENDING_TOKENS],
            )?,
        ])
        .await?;
    if crate::db::changes(&results[1]) == 0 {
        return Err(ApiError::forbidden("Too many pending connect tokens").with("max", MAX_PENDING_TOKENS));
    }
    json(&json!({"token": token, "expiresAt": iso8601(expires_at), "expiresIn": ttl}))
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

#[derive(Deserialize)]
struct TokenRow {
    account_id: String,
    state: String,
    expires_at: i64,
    claim: Option<String>,
}

const TOKEN_COLUMNS: &str = "account_id, state, expires_at, claim";

async fn token_status(ctx: Ctx) -> ApiResult<Response> {
    let hash = token_hash(&ctx)?;
    let row = ctx
        .db()?
        .first::<TokenRow>(&format!("SELECT {TOKEN_COLUMNS} FROM connect_tokens WHERE token_hash = ?1"), args![hash])
        .await?
        .ok_or_else(token_not_found)?;
    json(&json!({"status": connect_status(&row.state, row.expires_at, now_ms()), "expiresAt": iso8601(row.expires_at)}))
}

/// Why a token cannot be used now.
fn unusable(row: &TokenRow, now: i64) -> ApiError {
    match connect_status(&row.state, row.expires_at, now) {
        "provisioned" => ApiError::conflict("Connect token already used").with("status", "provisioned"),
        "revoked" => ApiError::new(410, "Connect token revoked").with("status", "revoked"),
        "expired" => ApiError::new(410, "Connect token expired").with("status", "expired"),
        _ => ApiError::conflict("A provision with this token is in progress").with("status", "pending"),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProvisionBody {
    public_key: String,
    device_name: Option<String>,
}

async fn provision(mut ctx: Ctx) -> ApiResult<Response> {
    let body: ProvisionBody = ctx.json().await?;
    let public_key = b64_encode(&b64_fixed::<32>("publicKey", &body.public_key)?);
    let name = text("deviceName", body.device_name)?;
    let hash = token_hash(&ctx)?;
    let gateway = Gateway::from_env(&ctx.env)?;
    let db = ctx.db()?;
    let (claim, new_uuid, now) = (uuid_v4(), uuid_v4(), now_ms());

    // Claim the token, then reserve the device and its address on the first attempt only.
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE connect_tokens SET claim = ?2, claim_expires_at = ?3 + ?4, updated_at = ?3
                 WHERE token_hash = ?1 AND state = 'pending' AND expires_at > ?3
                   AND (claim IS NULL OR claim_expires_at <= ?3)",
                args![&hash, &claim, now, CLAIM_LEASE_MS],
            )?,
            db.stmt(
                "INSERT OR IGNORE INTO device_address_pools (account_id, subnet)
                 SELECT account_id, (SELECT COALESCE(MAX(subnet), 0) + 1 FROM device_address_pools)
                 FROM connect_tokens WHERE token_hash = ?1 AND claim = ?2 AND device_uuid IS NULL
                   AND (SELECT COALESCE(MAX(subnet), 0) FROM device_address_pools) < ?3",
                args![&hash, &claim, MAX_SUBNET],
            )?,
            db.stmt(
                &format!(
                    "INSERT INTO devices (uuid, account_id, device_name, ip_host, created_at, updated_at)
                     SELECT ?3, t.account_id, COALESCE(?4, t.device_name),
                       CASE WHEN NOT EXISTS (SELECT 1 FROM devices d WHERE d.account_id = t.account_id AND d.ip_host = 2) THEN 2
                         ELSE (SELECT MIN(d.ip_host) + 1 FROM devices d WHERE d.account_id = t.account_id AND d.ip_host IS NOT NULL
                               AND NOT EXISTS (SELECT 1 FROM devices e WHERE e.account_id = t.account_id AND e.ip_host = d.ip_host + 1))
                       END,
                       ?5, ?5
                     FROM connect_tokens t
                     WHERE t.token_hash = ?1 AND t.claim = ?2 AND t.device_uuid IS NULL
                       AND EXISTS (SELECT 1 FROM device_address_pools p WHERE p.account_id = t.account_id)
                       AND (SELECT COUNT(*) FROM devices d WHERE d.account_id = t.account_id) < {}",
                    device_limit_sql("t.account_id")
                ),
                args![&hash, &claim, &new_uuid, &name, now],
            )?,
            db.stmt(
                "UPDATE connect_tokens SET device_uuid = ?3
                 WHERE token_hash = ?1 AND claim = ?2 AND device_uuid IS NULL AND EXISTS (SELECT 1 FROM devices WHERE uuid = ?3)",
                args![&hash, &claim, &new_uuid],
            )?,
            db.stmt(&format!("SELECT {TOKEN_COLUMNS} FROM connect_tokens WHERE token_hash = ?1"), args![&hash])?,
            db.stmt(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices
                     WHERE uuid = (SELECT device_uuid FROM connect_tokens WHERE token_hash = ?1 AND claim = ?2)"
                ),
                args![&hash, &claim],
            )?,
        ])
        .await?;
    let token = first_row::<TokenRow>(&results[4])?.ok_or_else(token_not_found)?;
    if token.claim.as_deref() != Some(claim.as_str()) {
        return Err(unusable(&token, now));
    }
    let Some(device) = first_row::<DeviceRow>(&results[5])? else {
        release(&db, &hash, &claim).await?;
        let pool: Option<Value> =
            db.first("SELECT 1 AS x FROM device_address_pools WHERE account_id = ?1", args![&token.account_id]).await?;
        return Err(match pool {
            None => ApiError::new(503, "Device address space exhausted"),
            Some(_) => device_limit_error(plan_limits(&db, &token.account_id).await?.devices_per_account),
        });
    };
    let allowed_ip = device.allowed_ip().ok_or_else(|| ApiError::internal("reserved device has no address"))?;

    if let Err(e) = gateway.apply(&device.uuid, &public_key, &allowed_ip).await {
        worker::console_error!("gateway apply {}: {e}", device.uuid);
        // The gateway may have applied part of it: take it back before freeing the token.
        if let Err(e) = gateway.remove(&device.uuid).await {
            worker::console_error!("gateway remove {}: {e}", device.uuid);
        }
        release(&db, &hash, &claim).await?;
        return Err(ApiError::new(502, "Gateway failed to apply the peer")
            .with("status", "pending")
            .with("allowedIp", allowed_ip));
    }

    let (api_key, device_id, now) = (new_secret("dk_"), new_device_id(), now_ms());
    let key_hash = sha256_hex(api_key.as_bytes());
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE devices SET public_key = ?4, peer_active = 1, device_id = ?5, api_key_hash = ?6,
                 device_name = COALESCE(?7, device_name), registered_at = ?8, updated_at = ?8
                 WHERE uuid = ?3 AND EXISTS (SELECT 1 FROM connect_tokens WHERE token_hash = ?1 AND claim = ?2
                                             AND state = 'pending' AND device_uuid = ?3)",
                args![&hash, &claim, &device.uuid, &public_key, &device_id, &key_hash, &name, now],
            )?,
            db.stmt(
                "UPDATE connect_tokens SET state = 'provisioned', claim = NULL, claim_expires_at = NULL, updated_at = ?5
                 WHERE token_hash = ?1 AND claim = ?2 AND state = 'pending' AND device_uuid = ?3
                   AND EXISTS (SELECT 1 FROM devices WHERE uuid = ?3 AND api_key_hash = ?4)",
                args![&hash, &claim, &device.uuid, &key_hash, now],
            )?,
            db.stmt(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE uuid = ?1 AND api_key_hash = ?2"),
                args![&device.uuid, &key_hash],
            )?,
        ])
        .await?;
    let Some(provisioned) = first_row::<DeviceRow>(&results[2])? else {
        // Revoked, or the device deleted, while the gateway worked: undo the peer.
        if let Err(e) = gateway.remove(&device.uuid).await {
            worker::console_error!("gateway remove {}: {e}", device.uuid);
        }
        release(&db, &hash, &claim).await?;
        return Err(ApiError::conflict("The connect token changed during provisioning"));
    };
    json(&json!({
        "device": DeviceWire::from(provisioned),
        "apiKey": api_key,
        "peer": {"allowedIp": allowed_ip, "gatewayPublicKey": gateway.public_key, "endpoint": gateway.endpoint},
    }))
}

/// Frees the token for a retry (only if this attempt still holds it).
async fn release(db: &Db, hash: &str, claim: &str) -> ApiResult<()> {
    db.run(
        "UPDATE connect_tokens SET claim = NULL, claim_expires_at = NULL WHERE token_hash = ?1 AND claim = ?2",
        args![hash, claim],
    )
    .await?;
    Ok(())
}

async fn revoke(ctx: Ctx) -> ApiResult<Response> {
    let hash = token_hash(&ctx)?;
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let now = now_ms();
    // The device a failed attempt reserved goes with the token (it never got a peer).
    let results = db
        .batch(vec![
            db.stmt(
                "DELETE FROM devices WHERE account_id = ?2 AND device_id IS NULL AND peer_active = 0
                 AND uuid = (SELECT device_uuid FROM connect_tokens WHERE token_hash = ?1 AND account_id = ?2 AND state = 'pending')",
                args![&hash, &user],
            )?,
            db.stmt(
                "UPDATE connect_tokens SET state = 'revoked', claim = NULL, claim_expires_at = NULL, device_uuid = NULL, updated_at = ?3
                 WHERE token_hash = ?1 AND account_id = ?2 AND state = 'pending'",
                args![&hash, &user, now],
            )?,
            db.stmt(
                &format!("SELECT {TOKEN_COLUMNS} FROM connect_tokens WHERE token_hash = ?1 AND account_id = ?2"),
                args![&hash, &user],
            )?,
        ])
        .await?;
    let row = first_row::<TokenRow>(&results[2])?.ok_or_else(token_not_found)?;
    match row.state.as_str() {
        "revoked" => json(&json!({"success": true, "status": "revoked"})),
        _ => Err(ApiError::conflict("Connect token already used").with("status", "provisioned")),
    }
}
