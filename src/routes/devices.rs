//! Device enrollment: provisioning tokens (the app asks for one, the device registers with it),
//! the owner's device management, and the device's own calls with its API key.

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use worker::{Method, Response};

use crate::app::ctx::{parse_json, Ctx, MAX_JSON_BODY};
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::config::now_ms;
use crate::crypto::util::{sha256_hex, uuid_v4};
use crate::db::plans::{device_limit_sql, plan_limits};
use crate::db::{first_row, Db};
use crate::domain::time::iso8601;
use crate::enrollment::gateway::Gateway;
use crate::enrollment::{
    api_endpoint, device_limit_error, device_ref, new_device_id, new_secret, text, ttl_secs, DeviceRow, DeviceWire,
    DEVICE_COLUMNS,
};
use crate::error::{ApiError, ApiResult};
use crate::{args, h};

/// Pending enrollments an account may hold at once; rows expired for a day are dropped first.
const MAX_PENDING_ENROLLMENTS: i64 = 100;
const STALE_ENROLLMENT_MS: i64 = 86_400_000;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/provisioning/token", Access::User, h!(provisioning_token))
        .doc("devices", "Start (or refresh, with nodeId) a device enrollment")
        .body(token_request)
        .returns(token_response),
    // Before the `:ref` routes: the first match in table order wins.
    route(Method::Post, "/v1/devices/register", Access::Public, h!(register))
        .doc("devices", "A device registers with its single-use provisioning token")
        .body(register_request)
        .returns(registered),
    route(Method::Get, "/v1/devices", Access::User, h!(list_devices))
        .doc("devices", "The account's devices")
        .returns(device_list),
    route(Method::Get, "/v1/devices/:ref", Access::User, h!(get_device))
        .doc("devices", "A device by uuid or deviceId")
        .returns(device_schema),
    route(Method::Patch, "/v1/devices/:ref", Access::User, h!(patch_device))
        .doc("devices", "Rename a device or set its API endpoint (null clears)")
        .body(patch_request)
        .returns(device_schema),
    route(Method::Get, "/v1/devices/:ref/provisioned", Access::User, h!(device_provisioned))
        .doc("devices", "Whether a device is provisioned")
        .returns(provisioned_response),
    route(Method::Post, "/v1/devices/:ref/reset", Access::User, h!(reset_device))
        .doc("devices", "Unprovision a device: clears its deviceId, API key and peer, keeps its uuid")
        .returns(device_schema),
    route(Method::Delete, "/v1/devices/:ref", Access::User, h!(delete_device))
        .doc("devices", "Delete a device (and its gateway peer)")
        .returns(success),
    route(Method::Get, "/v1/device", Access::Device, h!(device_self))
        .doc("devices", "The calling device's own record (device API key)")
        .returns(device_schema),
    route(Method::Post, "/v1/device/heartbeat", Access::Device, h!(heartbeat))
        .doc("devices", "The calling device reports it is alive (device API key)")
        .returns(heartbeat_response),
];

pub fn device_schema() -> Value {
    let s = || nullable(string());
    let n = || nullable(integer());
    object(&[
        ("uuid", string()),
        ("deviceId", s()),
        ("deviceName", s()),
        ("deviceType", s()),
        ("room", s()),
        ("apiEndpoint", s()),
        ("provisioned", boolean()),
        ("registeredAt", n()),
        ("lastSeenAt", n()),
        ("allowedIp", s()),
        ("publicKey", s()),
        ("peerActive", boolean()),
        ("createdAt", integer()),
        ("updatedAt", integer()),
    ])
}
fn token_request() -> Value {
    object(&[("name?", string()), ("room?", string()), ("nodeId?", string()), ("ttl?", integer())])
}
fn token_response() -> Value {
    object(&[("token", string()), ("nodeId", string()), ("expiresAt", string()), ("expiresIn", integer())])
}
fn register_request() -> Value {
    object(&[
        ("nodeId", string()),
        ("provisioningToken", string()),
        ("deviceName?", string()),
        ("deviceType?", string()),
    ])
}
fn registered() -> Value {
    object(&[("device", device_schema()), ("apiKey", string())])
}
fn device_list() -> Value {
    object(&[("devices", array(device_schema()))])
}
fn patch_request() -> Value {
    object(&[("deviceName?", nullable(string())), ("apiEndpoint?", nullable(string()))])
}
fn provisioned_response() -> Value {
    object(&[("provisioned", boolean())])
}
fn heartbeat_response() -> Value {
    object(&[("success", boolean()), ("lastSeenAt", integer())])
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenBody {
    name: Option<String>,
    room: Option<String>,
    node_id: Option<String>,
    ttl: Option<i64>,
}

#[derive(Deserialize)]
struct NodeRow {
    node_id: String,
}

async fn provisioning_token(mut ctx: Ctx) -> ApiResult<Response> {
    // An empty body is `{}`: curl users start an enrollment with no options.
    let bytes = ctx.body_bytes(MAX_JSON_BODY).await?;
    let body: TokenBody = if bytes.is_empty() { TokenBody::default() } else { parse_json(&bytes)? };
    let ttl = ttl_secs(body.ttl)?;
    let (name, room) = (text("name", body.name)?, text("room", body.room)?);
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let token = new_secret("prov_");
    let now = now_ms();
    let expires_at = now + ttl * 1000;
    let hash = sha256_hex(token.as_bytes());

    let node_id = match body.node_id {
        None => {
            let node_id = uuid_v4();
            let results = db
                .batch(vec![
                    db.stmt(
                        "DELETE FROM provisioning_tokens WHERE account_id = ?1 AND expires_at < ?2",
                        args![&user, now - STALE_ENROLLMENT_MS],
                    )?,
                    db.stmt(
                        "INSERT INTO provisioning_tokens (node_id, account_id, token_hash, name, room, expires_at, created_at, updated_at)
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7
                         WHERE (SELECT COUNT(*) FROM provisioning_tokens WHERE account_id = ?2) < ?8
                         RETURNING node_id",
                        args![&node_id, &user, &hash, &name, &room, expires_at, now, MAX_PENDING_ENROLLMENTS],
                    )?,
                ])
                .await?;
            first_row::<NodeRow>(&results[1])?
                .ok_or_else(|| {
                    ApiError::forbidden("Too many pending enrollments").with("max", MAX_PENDING_ENROLLMENTS)
                })?
                .node_id
        }
        Some(node_id) => refresh_enrollment(&db, &user, &node_id, &hash, &name, &room, expires_at, now).await?,
    };
    json(&json!({"token": token, "nodeId": node_id, "expiresAt": iso8601(expires_at), "expiresIn": ttl}))
}

/// A new token for the account's own pending enrollment (the old token dies with the hash it
/// replaces) or for its own reset device (re-enrollment keeps the uuid).
#[allow(clippy::too_many_arguments)]
async fn refresh_enrollment(
    db: &Db,
    user: &str,
    node_id: &str,
    hash: &str,
    name: &Option<String>,
    room: &Option<String>,
    expires_at: i64,
    now: i64,
) -> ApiResult<String> {
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE provisioning_tokens SET token_hash = ?3, expires_at = ?6, name = COALESCE(?4, name),
                 room = COALESCE(?5, room), updated_at = ?7
                 WHERE node_id = ?1 AND account_id = ?2 RETURNING node_id",
                args![node_id, user, hash, name, room, expires_at, now],
            )?,
            // Ignored when the update above found the row (same node id and token hash).
            db.stmt(
                "INSERT OR IGNORE INTO provisioning_tokens (node_id, account_id, token_hash, name, room, expires_at, created_at, updated_at)
                 SELECT uuid, account_id, ?3, COALESCE(?4, device_name), COALESCE(?5, room), ?6, ?7, ?7 FROM devices
                 WHERE uuid = ?1 AND account_id = ?2 AND device_id IS NULL RETURNING node_id",
                args![node_id, user, hash, name, room, expires_at, now],
            )?,
        ])
        .await?;
    if let Some(row) = first_row::<NodeRow>(&results[0])?.or(first_row::<NodeRow>(&results[1])?) {
        return Ok(row.node_id);
    }
    let provisioned: Option<Value> =
        db.first("SELECT 1 AS x FROM devices WHERE uuid = ?1 AND account_id = ?2", args![node_id, user]).await?;
    Err(match provisioned {
        Some(_) => ApiError::conflict("Device is already provisioned; reset it first"),
        None => ApiError::not_found("Enrollment not found"),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterBody {
    node_id: String,
    provisioning_token: String,
    device_name: Option<String>,
    device_type: Option<String>,
}

async fn register(mut ctx: Ctx) -> ApiResult<Response> {
    let body: RegisterBody = ctx.json().await?;
    let (name, kind) = (text("deviceName", body.device_name)?, text("deviceType", body.device_type)?);
    if body.node_id.is_empty() || body.node_id.len() > 64 || body.provisioning_token.len() > 256 {
        return Err(invalid_provisioning_token());
    }
    let db = ctx.db()?;
    let hash = sha256_hex(body.provisioning_token.as_bytes());
    let (claim, api_key, device_id, now) = (uuid_v4(), new_secret("dk_"), new_device_id(), now_ms());
    let key_hash = sha256_hex(api_key.as_bytes());
    let node = body.node_id.as_str();
    // One transaction: the guarded claim consumes the token only if it is valid, unexpired, the
    // node is not a provisioned device, and the account is under its device limit (a reset
    // device re-enrolling adds none); the upsert reads the claimed row; the delete spends it.
    let results = db
        .batch(vec![
            db.stmt(
                &format!(
                    "UPDATE provisioning_tokens SET consumed_by = ?3
                     WHERE node_id = ?1 AND token_hash = ?2 AND expires_at > ?4
                       AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.uuid = ?1
                                       AND (d.device_id IS NOT NULL OR d.account_id <> provisioning_tokens.account_id))
                       AND (EXISTS (SELECT 1 FROM devices d WHERE d.uuid = ?1)
                            OR (SELECT COUNT(*) FROM devices d WHERE d.account_id = provisioning_tokens.account_id) < {})",
                    device_limit_sql("provisioning_tokens.account_id")
                ),
                args![node, &hash, &claim, now],
            )?,
            db.stmt(
                "INSERT INTO devices (uuid, account_id, device_id, device_name, device_type, room, api_key_hash, registered_at, created_at, updated_at)
                 SELECT node_id, account_id, ?3, COALESCE(?4, name), ?5, room, ?6, ?7, ?7, ?7
                 FROM provisioning_tokens WHERE node_id = ?1 AND consumed_by = ?2
                 ON CONFLICT(uuid) DO UPDATE SET device_id = excluded.device_id, api_key_hash = excluded.api_key_hash,
                   device_name = excluded.device_name, device_type = COALESCE(excluded.device_type, devices.device_type),
                   room = excluded.room, registered_at = excluded.registered_at, updated_at = excluded.updated_at",
                args![node, &claim, &device_id, &name, &kind, &key_hash, now],
            )?,
            db.stmt("DELETE FROM provisioning_tokens WHERE node_id = ?1 AND consumed_by = ?2", args![node, &claim])?,
            db.stmt(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE uuid = ?1 AND api_key_hash = ?2"),
                args![node, &key_hash],
            )?,
        ])
        .await?;
    if let Some(device) = first_row::<DeviceRow>(&results[3])? {
        return json(&json!({"device": DeviceWire::from(device), "apiKey": api_key}));
    }
    Err(registration_failure(&db, node, &hash, now).await?)
}

fn invalid_provisioning_token() -> ApiError {
    ApiError::unauthorized("Invalid provisioning token")
}

/// Why a registration claimed nothing; the token was left untouched.
async fn registration_failure(db: &Db, node: &str, hash: &str, now: i64) -> ApiResult<ApiError> {
    #[derive(Deserialize)]
    struct Row {
        account_id: String,
        expires_at: i64,
    }
    let Some(row) = db
        .first::<Row>(
            "SELECT account_id, expires_at FROM provisioning_tokens WHERE node_id = ?1 AND token_hash = ?2",
            args![node, hash],
        )
        .await?
    else {
        return Ok(invalid_provisioning_token());
    };
    if row.expires_at <= now {
        return Ok(ApiError::unauthorized("Provisioning token expired"));
    }
    let provisioned: Option<Value> =
        db.first("SELECT 1 AS x FROM devices WHERE uuid = ?1 AND device_id IS NOT NULL", args![node]).await?;
    if provisioned.is_some() {
        return Ok(ApiError::conflict("Device is already provisioned"));
    }
    Ok(device_limit_error(plan_limits(db, &row.account_id).await?.devices_per_account))
}

/// The owner's device by uuid or deviceId; another account's ref is 404.
async fn owned_device(db: &Db, user: &str, reference: &str) -> ApiResult<DeviceRow> {
    db.first::<DeviceRow>(
        &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = ?1 AND (uuid = ?2 OR device_id = ?2)"),
        args![user, device_ref(reference)?],
    )
    .await?
    .ok_or_else(device_not_found)
}

fn device_not_found() -> ApiError {
    ApiError::not_found("Device not found")
}

async fn list_devices(ctx: Ctx) -> ApiResult<Response> {
    let rows: Vec<DeviceRow> = ctx
        .db()?
        .all(
            &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = ?1 ORDER BY created_at, uuid"),
            args![ctx.user_id()?],
        )
        .await?;
    let devices: Vec<DeviceWire> = rows.into_iter().map(DeviceWire::from).collect();
    json(&json!({ "devices": devices }))
}

async fn get_device(ctx: Ctx) -> ApiResult<Response> {
    let device = owned_device(&ctx.db()?, ctx.user_id()?, ctx.param("ref")).await?;
    json(&DeviceWire::from(device))
}

async fn device_provisioned(ctx: Ctx) -> ApiResult<Response> {
    let device = owned_device(&ctx.db()?, ctx.user_id()?, ctx.param("ref")).await?;
    json(&json!({"provisioned": device.provisioned != 0}))
}

/// Absent leaves a field alone; `null` clears it.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PatchBody {
    #[serde(default, deserialize_with = "present")]
    device_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    api_endpoint: Option<Option<String>>,
}

async fn patch_device(mut ctx: Ctx) -> ApiResult<Response> {
    let body: PatchBody = ctx.json().await?;
    let name = body.device_name.map(|n| text("deviceName", n)).transpose()?;
    let endpoint = body.api_endpoint.map(|e| e.as_deref().map(api_endpoint).transpose()).transpose()?;
    let user = ctx.user_id()?.to_string();
    let reference = device_ref(ctx.param("ref"))?.to_string();
    let db = ctx.db()?;
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE devices SET device_name = CASE WHEN ?3 THEN ?4 ELSE device_name END,
                 api_endpoint = CASE WHEN ?5 THEN ?6 ELSE api_endpoint END, updated_at = ?7
                 WHERE account_id = ?1 AND (uuid = ?2 OR device_id = ?2)",
                args![
                    &user,
                    &reference,
                    name.is_some(),
                    name.flatten(),
                    endpoint.is_some(),
                    endpoint.flatten(),
                    now_ms()
                ],
            )?,
            db.stmt(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = ?1 AND (uuid = ?2 OR device_id = ?2)"
                ),
                args![&user, &reference],
            )?,
        ])
        .await?;
    let device = first_row::<DeviceRow>(&results[1])?.ok_or_else(device_not_found)?;
    json(&DeviceWire::from(device))
}

/// Takes a device's peer off the gateway before the row forgets it, so no active peer outlives
/// its device; 502 (and no change) when the gateway does not confirm.
async fn remove_peer(ctx: &Ctx, device: &DeviceRow) -> ApiResult<()> {
    if device.peer_active == 0 {
        return Ok(());
    }
    let gateway = Gateway::optional(&ctx.env).ok_or_else(|| ApiError::new(503, "Gateway not configured"))?;
    gateway.remove(&device.uuid).await.map_err(|e| {
        worker::console_error!("gateway remove {}: {e}", device.uuid);
        ApiError::new(502, "Gateway failed to remove the peer")
    })
}

async fn reset_device(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let device = owned_device(&db, &user, ctx.param("ref")).await?;
    remove_peer(&ctx, &device).await?;
    // The uuid and the peer address stay: a re-enrolled device keeps both.
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE devices SET device_id = NULL, api_key_hash = NULL, registered_at = NULL, public_key = NULL,
                 peer_active = 0, updated_at = ?3 WHERE account_id = ?1 AND uuid = ?2",
                args![&user, &device.uuid, now_ms()],
            )?,
            db.stmt(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = ?1 AND uuid = ?2"),
                args![&user, &device.uuid],
            )?,
        ])
        .await?;
    let device = first_row::<DeviceRow>(&results[1])?.ok_or_else(device_not_found)?;
    json(&DeviceWire::from(device))
}

async fn delete_device(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let device = owned_device(&db, &user, ctx.param("ref")).await?;
    remove_peer(&ctx, &device).await?;
    // A pending connect token forgets the device (a later provision reserves a new one) and a
    // pending re-enrollment of it dies with it.
    db.batch(vec![
        db.stmt("DELETE FROM devices WHERE account_id = ?1 AND uuid = ?2", args![&user, &device.uuid])?,
        db.stmt(
            "UPDATE connect_tokens SET device_uuid = NULL WHERE account_id = ?1 AND device_uuid = ?2",
            args![&user, &device.uuid],
        )?,
        db.stmt("DELETE FROM provisioning_tokens WHERE account_id = ?1 AND node_id = ?2", args![&user, &device.uuid])?,
    ])
    .await?;
    json(&json!({"success": true}))
}

async fn device_self(ctx: Ctx) -> ApiResult<Response> {
    let uuid = &ctx.device()?.uuid;
    let device = ctx
        .db()?
        .first::<DeviceRow>(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE uuid = ?1"), args![uuid])
        .await?
        .ok_or_else(|| ApiError::unauthorized("Invalid device API key"))?;
    json(&DeviceWire::from(device))
}

async fn heartbeat(ctx: Ctx) -> ApiResult<Response> {
    #[derive(Deserialize)]
    struct Row {
        last_seen_at: i64,
    }
    let uuid = &ctx.device()?.uuid;
    let row = ctx
        .db()?
        .first::<Row>(
            "UPDATE devices SET last_seen_at = ?2 WHERE uuid = ?1 AND api_key_hash IS NOT NULL RETURNING last_seen_at",
            args![uuid, now_ms()],
        )
        .await?
        .ok_or_else(|| ApiError::unauthorized("Invalid device API key"))?;
    json(&json!({"success": true, "lastSeenAt": row.last_seen_at}))
}
