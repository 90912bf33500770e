//! Devices (`devices`) and their pending enrollments (`provisioning_tokens`): the provisioned
//! ones authenticate with an API key stored as its SHA-256. Every owner's read or write filters
//! by the account, so another account's device is absent.

use serde::Deserialize;
use serde_json::Value;

use super::plans::{device_limit_sql, plan_limits};
use super::{first_row, Db};
use crate::args;
use crate::auth::device::AuthDevice;
use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::enrollment::{DeviceRow, DEVICE_COLUMNS};
use crate::error::ApiResult;

/// Pending enrollments an account may hold at once; rows expired for a day are dropped first.
pub const MAX_PENDING_ENROLLMENTS: i64 = 100;
const STALE_ENROLLMENT_MS: i64 = 86_400_000;

/// The device whose API key hashes to `key_hash`, if any.
pub async fn by_api_key_hash(db: &Db, key_hash: &str) -> ApiResult<Option<AuthDevice>> {
    db.first("SELECT uuid, account_id FROM devices WHERE api_key_hash = ?1", args![key_hash]).await
}

/// A provisioning token, as stored: its hash and what it names the device.
pub struct EnrollmentToken<'a> {
    pub token_hash: &'a str,
    pub name: Option<&'a str>,
    pub room: Option<&'a str>,
    pub expires_at: i64,
    pub now: i64,
}

/// Starts the enrollment `node_id` with `token`; `false` (nothing written) when the account
/// already holds [`MAX_PENDING_ENROLLMENTS`].
pub async fn start_enrollment(db: &Db, user_id: &str, node_id: &str, token: &EnrollmentToken<'_>) -> ApiResult<bool> {
    let EnrollmentToken { token_hash, name, room, expires_at, now } = *token;
    let results = db
        .batch(vec![
            db.stmt(
                "DELETE FROM provisioning_tokens WHERE account_id = ?1 AND expires_at < ?2",
                args![user_id, now - STALE_ENROLLMENT_MS],
            )?,
            db.stmt(
                "INSERT INTO provisioning_tokens (node_id, account_id, token_hash, name, room, expires_at, created_at, updated_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7
                 WHERE (SELECT COUNT(*) FROM provisioning_tokens WHERE account_id = ?2) < ?8
                 RETURNING node_id",
                args![node_id, user_id, token_hash, name, room, expires_at, now, MAX_PENDING_ENROLLMENTS],
            )?,
        ])
        .await?;
    Ok(first_row::<Value>(&results[1])?.is_some())
}

/// What refreshing an enrollment did.
pub enum Refreshed {
    /// The node's enrollment now holds the new token.
    Pending,
    /// The node is the account's provisioned device: it needs a reset first.
    Provisioned,
    /// No enrollment or device of the account has that node id.
    Missing,
}

/// A new token for the account's own pending enrollment (the old token dies with the hash it
/// replaces) or for its own reset device (re-enrollment keeps the uuid).
pub async fn refresh_enrollment(
    db: &Db,
    user_id: &str,
    node_id: &str,
    token: &EnrollmentToken<'_>,
) -> ApiResult<Refreshed> {
    let EnrollmentToken { token_hash, name, room, expires_at, now } = *token;
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE provisioning_tokens SET token_hash = ?3, expires_at = ?6, name = COALESCE(?4, name),
                 room = COALESCE(?5, room), updated_at = ?7
                 WHERE node_id = ?1 AND account_id = ?2 RETURNING node_id",
                args![node_id, user_id, token_hash, name, room, expires_at, now],
            )?,
            // Ignored when the update above found the row (same node id and token hash).
            db.stmt(
                "INSERT OR IGNORE INTO provisioning_tokens (node_id, account_id, token_hash, name, room, expires_at, created_at, updated_at)
                 SELECT uuid, account_id, ?3, COALESCE(?4, device_name), COALESCE(?5, room), ?6, ?7, ?7 FROM devices
                 WHERE uuid = ?1 AND account_id = ?2 AND device_id IS NULL RETURNING node_id",
                args![node_id, user_id, token_hash, name, room, expires_at, now],
            )?,
        ])
        .await?;
    if first_row::<Value>(&results[0])?.or(first_row::<Value>(&results[1])?).is_some() {
        return Ok(Refreshed::Pending);
    }
    let device: Option<Value> =
        db.first("SELECT 1 AS x FROM devices WHERE uuid = ?1 AND account_id = ?2", args![node_id, user_id]).await?;
    Ok(if device.is_some() { Refreshed::Provisioned } else { Refreshed::Missing })
}

/// A device registering with its provisioning token (hashed), and what it will be.
pub struct Registration<'a> {
    pub node_id: &'a str,
    pub token_hash: &'a str,
    pub device_id: &'a str,
    pub name: Option<&'a str>,
    pub kind: Option<&'a str>,
    /// The SHA-256 of the device's new API key.
    pub key_hash: &'a str,
}

/// What a registration did; the token is spent only by a registration that succeeds.
pub enum Registered {
    Device(Box<DeviceRow>),
    /// No enrollment holds that token.
    InvalidToken,
    Expired,
    /// The node is already a provisioned device.
    Provisioned,
    /// The account holds its plan's `limit` of devices.
    OverLimit {
        limit: i64,
    },
}

/// Turns an enrollment into a device. One transaction: the guarded claim consumes the token
/// only if it is valid, unexpired, the node is not a provisioned device, and the account is
/// under its device limit (a reset device re-enrolling adds none); the upsert reads the claimed
/// row; the delete spends it.
pub async fn register(db: &Db, r: &Registration<'_>) -> ApiResult<Registered> {
    let (claim, now) = (uuid_v4(), now_ms());
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
                args![r.node_id, r.token_hash, &claim, now],
            )?,
            db.stmt(
                "INSERT INTO devices (uuid, account_id, device_id, device_name, device_type, room, api_key_hash, registered_at, created_at, updated_at)
                 SELECT node_id, account_id, ?3, COALESCE(?4, name), ?5, room, ?6, ?7, ?7, ?7
                 FROM provisioning_tokens WHERE node_id = ?1 AND consumed_by = ?2
                 ON CONFLICT(uuid) DO UPDATE SET device_id = excluded.device_id, api_key_hash = excluded.api_key_hash,
                   device_name = excluded.device_name, device_type = COALESCE(excluded.device_type, devices.device_type),
                   room = excluded.room, registered_at = excluded.registered_at, updated_at = excluded.updated_at",
                args![r.node_id, &claim, r.device_id, r.name, r.kind, r.key_hash, now],
            )?,
            db.stmt(
                "DELETE FROM provisioning_tokens WHERE node_id = ?1 AND consumed_by = ?2",
                args![r.node_id, &claim],
            )?,
            db.stmt(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE uuid = ?1 AND api_key_hash = ?2"),
                args![r.node_id, r.key_hash],
            )?,
        ])
        .await?;
    if let Some(device) = first_row::<DeviceRow>(&results[3])? {
        return Ok(Registered::Device(Box::new(device)));
    }
    registration_failure(db, r, now).await
}

/// Why a registration claimed nothing; the token was left untouched.
async fn registration_failure(db: &Db, r: &Registration<'_>, now: i64) -> ApiResult<Registered> {
    #[derive(Deserialize)]
    struct Row {
        account_id: String,
        expires_at: i64,
    }
    let Some(row) = db
        .first::<Row>(
            "SELECT account_id, expires_at FROM provisioning_tokens WHERE node_id = ?1 AND token_hash = ?2",
            args![r.node_id, r.token_hash],
        )
        .await?
    else {
        return Ok(Registered::InvalidToken);
    };
    if row.expires_at <= now {
        return Ok(Registered::Expired);
    }
    let provisioned: Option<Value> =
        db.first("SELECT 1 AS x FROM devices WHERE uuid = ?1 AND device_id IS NOT NULL", args![r.node_id]).await?;
    if provisioned.is_some() {
        return Ok(Registered::Provisioned);
    }
    Ok(Registered::OverLimit { limit: plan_limits(db, &row.account_id).await?.devices_per_account })
}

/// The account's devices, oldest first.
pub async fn list(db: &Db, user_id: &str) -> ApiResult<Vec<DeviceRow>> {
    db.all(
        &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = ?1 ORDER BY created_at, uuid"),
        args![user_id],
    )
    .await
}

/// The account's device whose uuid or deviceId is `reference`.
pub async fn owned(db: &Db, user_id: &str, reference: &str) -> ApiResult<Option<DeviceRow>> {
    db.first(
        &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = ?1 AND (uuid = ?2 OR device_id = ?2)"),
        args![user_id, reference],
    )
    .await
}

/// The device `uuid`, whoever owns it (the device's own calls).
pub async fn by_uuid(db: &Db, uuid: &str) -> ApiResult<Option<DeviceRow>> {
    db.first(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE uuid = ?1"), args![uuid]).await
}

/// A change to a device's owner-set fields: `None` leaves a field alone, `Some(None)` clears it.
pub struct DevicePatch {
    pub name: Option<Option<String>>,
    pub api_endpoint: Option<Option<String>>,
}

/// Applies `patch` to the account's device `reference` (uuid or deviceId); the device as it
/// then is, `None` when the account has no such device.
pub async fn update(db: &Db, user_id: &str, reference: &str, patch: DevicePatch) -> ApiResult<Option<DeviceRow>> {
    let DevicePatch { name, api_endpoint } = patch;
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE devices SET device_name = CASE WHEN ?3 THEN ?4 ELSE device_name END,
                 api_endpoint = CASE WHEN ?5 THEN ?6 ELSE api_endpoint END, updated_at = ?7
                 WHERE account_id = ?1 AND (uuid = ?2 OR device_id = ?2)",
                args![
                    user_id,
                    reference,
                    name.is_some(),
                    name.flatten(),
                    api_endpoint.is_some(),
                    api_endpoint.flatten(),
                    now_ms()
                ],
            )?,
            db.stmt(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = ?1 AND (uuid = ?2 OR device_id = ?2)"
                ),
                args![user_id, reference],
            )?,
        ])
        .await?;
    first_row(&results[1])
}

/// Unprovisions the account's device `uuid`: clears its deviceId, API key and peer. The uuid
/// and the peer address stay (a re-enrolled device keeps both). The device as it then is.
pub async fn reset(db: &Db, user_id: &str, uuid: &str) -> ApiResult<Option<DeviceRow>> {
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE devices SET device_id = NULL, api_key_hash = NULL, registered_at = NULL, public_key = NULL,
                 peer_active = 0, updated_at = ?3 WHERE account_id = ?1 AND uuid = ?2",
                args![user_id, uuid, now_ms()],
            )?,
            db.stmt(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = ?1 AND uuid = ?2"),
                args![user_id, uuid],
            )?,
        ])
        .await?;
    first_row(&results[1])
}

/// Deletes the account's device `uuid`. A pending connect token forgets the device (a later
/// provision reserves a new one) and a pending re-enrollment of it dies with it.
pub async fn delete(db: &Db, user_id: &str, uuid: &str) -> ApiResult<()> {
    db.batch(vec![
        db.stmt("DELETE FROM devices WHERE account_id = ?1 AND uuid = ?2", args![user_id, uuid])?,
        db.stmt(
            "UPDATE connect_tokens SET device_uuid = NULL WHERE account_id = ?1 AND device_uuid = ?2",
            args![user_id, uuid],
        )?,
        db.stmt("DELETE FROM provisioning_tokens WHERE account_id = ?1 AND node_id = ?2", args![user_id, uuid])?,
    ])
    .await?;
    Ok(())
}

/// Records that the device `uuid` is alive now; its last-seen time, `None` when it holds no API
/// key (reset or deleted).
pub async fn heartbeat(db: &Db, uuid: &str) -> ApiResult<Option<i64>> {
    #[derive(Deserialize)]
    struct Row {
        last_seen_at: i64,
    }
    let row: Option<Row> = db
        .first(
            "UPDATE devices SET last_seen_at = ?2 WHERE uuid = ?1 AND api_key_hash IS NOT NULL RETURNING last_seen_at",
            args![uuid, now_ms()],
        )
        .await?;
    Ok(row.map(|r| r.last_seen_at))
}
