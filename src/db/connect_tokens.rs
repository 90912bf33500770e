//! One-time connect tokens (`connect_tokens`, keyed by the token's SHA-256) and what a provision
//! with one writes: the account's address pool (`device_address_pools`) and the device it
//! reserves and then registers (`devices`).
//!
//! A provision attempt claims the token (a lease, [`CLAIM_LEASE_MS`]) and reserves the device
//! with its address in one batch ([`claim`]), then commits it ([`commit`]) or frees the token
//! for a retry ([`release`]). Every write after the claim requires the claim still held.

use serde::Deserialize;

use super::plans::device_limit_sql;
use super::{changes, first_row, Db};
use crate::args;
use crate::config::now_ms;
use crate::enrollment::{DeviceRow, CLAIM_LEASE_MS, DEVICE_COLUMNS};
use crate::error::ApiResult;

/// Pending connect tokens an account may hold at once; pending rows expired for a day go first.
pub const MAX_PENDING: i64 = 100;
const STALE_MS: i64 = 86_400_000;
/// Account /24s inside 10.0.0.0/8: 10.0.1.0/24 up to 10.255.255.0/24.
const MAX_SUBNET: i64 = 65_535;

#[derive(Debug, Deserialize)]
pub struct TokenRow {
    pub account_id: String,
    pub state: String,
    pub expires_at: i64,
    pub claim: Option<String>,
}

const TOKEN_COLUMNS: &str = "account_id, state, expires_at, claim";

/// What minting a token did.
#[derive(Debug, PartialEq)]
pub enum Created {
    Created,
    /// The account already holds [`MAX_PENDING`] pending tokens: nothing stored.
    TooManyPending,
}

/// A token to store, pending until `expires_at`.
pub struct NewToken<'a> {
    pub token_hash: &'a str,
    pub device_name: &'a Option<String>,
    pub expires_at: i64,
    pub now: i64,
}

/// Stores a pending token of the account, after dropping its pending tokens stale for a day;
/// the count of pending tokens is checked inside the insert.
pub async fn create(db: &Db, user_id: &str, t: &NewToken<'_>) -> ApiResult<Created> {
    let results = db
        .batch(vec![
            db.stmt(
                "DELETE FROM connect_tokens WHERE account_id = ?1 AND state = 'pending' AND expires_at < ?2",
                args![user_id, t.now - STALE_MS],
            )?,
            db.stmt(
                "INSERT INTO connect_tokens (token_hash, account_id, device_name, expires_at, created_at, updated_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?5
                 WHERE (SELECT COUNT(*) FROM connect_tokens WHERE account_id = ?2 AND state = 'pending') < ?6",
                args![t.token_hash, user_id, t.device_name, t.expires_at, t.now, MAX_PENDING],
            )?,
        ])
        .await?;
    Ok(if changes(&results[1]) == 0 { Created::TooManyPending } else { Created::Created })
}

/// The token of `token_hash`, whoever owns it (holding the token is the access).
pub async fn get(db: &Db, token_hash: &str) -> ApiResult<Option<TokenRow>> {
    db.first(&format!("SELECT {TOKEN_COLUMNS} FROM connect_tokens WHERE token_hash = ?1"), args![token_hash]).await
}

/// What a claim attempt found.
#[derive(Debug)]
pub enum Claim {
    /// No such token.
    Missing,
    /// Not claimed: the token is not pending, has expired, or another attempt holds it. The row
    /// as it is.
    Unusable(TokenRow),
    /// Claimed, but no device is reserved (the address space or the plan's device limit is
    /// full). The claim is still held: [`release`] it.
    NoDevice(TokenRow),
    /// Claimed, with the device reserved for it (by this attempt or a failed earlier one).
    Claimed(Box<DeviceRow>),
}

/// A provision attempt's claim of the token.
pub struct NewClaim<'a> {
    pub token_hash: &'a str,
    /// This attempt's claim id.
    pub claim: &'a str,
    /// The uuid of the device to reserve, unless the token already has one.
    pub device_uuid: &'a str,
    pub device_name: &'a Option<String>,
    pub now: i64,
}

/// One batch: claims the pending token for [`CLAIM_LEASE_MS`], then, on the first attempt only,
/// gives the account an address pool and reserves the device with the next free host (within
/// the plan's device limit); reads the token and the claimed device back.
pub async fn claim(db: &Db, c: &NewClaim<'_>) -> ApiResult<Claim> {
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE connect_tokens SET claim = ?2, claim_expires_at = ?3 + ?4, updated_at = ?3
                 WHERE token_hash = ?1 AND state = 'pending' AND expires_at > ?3
                   AND (claim IS NULL OR claim_expires_at <= ?3)",
                args![c.token_hash, c.claim, c.now, CLAIM_LEASE_MS],
            )?,
            db.stmt(
                "INSERT OR IGNORE INTO device_address_pools (account_id, subnet)
                 SELECT account_id, (SELECT COALESCE(MAX(subnet), 0) + 1 FROM device_address_pools)
                 FROM connect_tokens WHERE token_hash = ?1 AND claim = ?2 AND device_uuid IS NULL
                   AND (SELECT COALESCE(MAX(subnet), 0) FROM device_address_pools) < ?3",
                args![c.token_hash, c.claim, MAX_SUBNET],
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
                args![c.token_hash, c.claim, c.device_uuid, c.device_name, c.now],
            )?,
            db.stmt(
                "UPDATE connect_tokens SET device_uuid = ?3
                 WHERE token_hash = ?1 AND claim = ?2 AND device_uuid IS NULL AND EXISTS (SELECT 1 FROM devices WHERE uuid = ?3)",
                args![c.token_hash, c.claim, c.device_uuid],
            )?,
            db.stmt(&format!("SELECT {TOKEN_COLUMNS} FROM connect_tokens WHERE token_hash = ?1"), args![c.token_hash])?,
            db.stmt(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices
                     WHERE uuid = (SELECT device_uuid FROM connect_tokens WHERE token_hash = ?1 AND claim = ?2)"
                ),
                args![c.token_hash, c.claim],
            )?,
        ])
        .await?;
    let Some(token) = first_row::<TokenRow>(&results[4])? else { return Ok(Claim::Missing) };
    if token.claim.as_deref() != Some(c.claim) {
        return Ok(Claim::Unusable(token));
    }
    Ok(match first_row::<DeviceRow>(&results[5])? {
        Some(device) => Claim::Claimed(Box::new(device)),
        None => Claim::NoDevice(token),
    })
}

/// Whether the account has an address pool (a claim without a device had no room for one).
pub async fn has_address_pool(db: &Db, account_id: &str) -> ApiResult<bool> {
    let pool: Option<serde_json::Value> =
        db.first("SELECT 1 AS x FROM device_address_pools WHERE account_id = ?1", args![account_id]).await?;
    Ok(pool.is_some())
}

/// The registration of a claimed token's device, once the gateway applied its peer.
pub struct Commit<'a> {
    pub token_hash: &'a str,
    pub claim: &'a str,
    pub device_uuid: &'a str,
    pub public_key: &'a str,
    pub device_id: &'a str,
    pub api_key_hash: &'a str,
    pub device_name: &'a Option<String>,
    pub now: i64,
}

/// What committing a provision did.
#[derive(Debug)]
pub enum Committed {
    /// The device registered with its key and the token provisioned: the device as stored.
    Provisioned(Box<DeviceRow>),
    /// The token was revoked, or the device deleted, since the claim: nothing written.
    Changed,
}

/// One batch: registers the device with its key and marks the token provisioned, each only
/// while this attempt holds the pending token with that device (the token also requires the
/// device's new key, so both apply or neither); reads the device back by its key.
pub async fn commit(db: &Db, c: &Commit<'_>) -> ApiResult<Committed> {
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE devices SET public_key = ?4, peer_active = 1, device_id = ?5, api_key_hash = ?6,
                 device_name = COALESCE(?7, device_name), registered_at = ?8, updated_at = ?8
                 WHERE uuid = ?3 AND EXISTS (SELECT 1 FROM connect_tokens WHERE token_hash = ?1 AND claim = ?2
                                             AND state = 'pending' AND device_uuid = ?3)",
                args![
                    c.token_hash,
                    c.claim,
                    c.device_uuid,
                    c.public_key,
                    c.device_id,
                    c.api_key_hash,
                    c.device_name,
                    c.now
                ],
            )?,
            db.stmt(
                "UPDATE connect_tokens SET state = 'provisioned', claim = NULL, claim_expires_at = NULL, updated_at = ?5
                 WHERE token_hash = ?1 AND claim = ?2 AND state = 'pending' AND device_uuid = ?3
                   AND EXISTS (SELECT 1 FROM devices WHERE uuid = ?3 AND api_key_hash = ?4)",
                args![c.token_hash, c.claim, c.device_uuid, c.api_key_hash, c.now],
            )?,
            db.stmt(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE uuid = ?1 AND api_key_hash = ?2"),
                args![c.device_uuid, c.api_key_hash],
            )?,
        ])
        .await?;
    Ok(match first_row::<DeviceRow>(&results[2])? {
        Some(device) => Committed::Provisioned(Box::new(device)),
        None => Committed::Changed,
    })
}

/// Frees the token for a retry (only if this attempt still holds it).
pub async fn release(db: &Db, token_hash: &str, claim: &str) -> ApiResult<()> {
    db.run(
        "UPDATE connect_tokens SET claim = NULL, claim_expires_at = NULL WHERE token_hash = ?1 AND claim = ?2",
        args![token_hash, claim],
    )
    .await?;
    Ok(())
}

/// What revoking a token did.
#[derive(Debug, PartialEq)]
pub enum Revoked {
    /// The token is revoked (by this call, or already).
    Applied,
    /// The account has no such token.
    Missing,
    /// The token was used: it stays as it is.
    Used,
}

/// Revokes the account's pending token, with the device a failed attempt reserved for it (it
/// never got a peer); one batch that reads the token back.
pub async fn revoke(db: &Db, user_id: &str, token_hash: &str) -> ApiResult<Revoked> {
    let now = now_ms();
    let results = db
        .batch(vec![
            db.stmt(
                "DELETE FROM devices WHERE account_id = ?2 AND device_id IS NULL AND peer_active = 0
                 AND uuid = (SELECT device_uuid FROM connect_tokens WHERE token_hash = ?1 AND account_id = ?2 AND state = 'pending')",
                args![token_hash, user_id],
            )?,
            db.stmt(
                "UPDATE connect_tokens SET state = 'revoked', claim = NULL, claim_expires_at = NULL, device_uuid = NULL, updated_at = ?3
                 WHERE token_hash = ?1 AND account_id = ?2 AND state = 'pending'",
                args![token_hash, user_id, now],
            )?,
            db.stmt(
                &format!("SELECT {TOKEN_COLUMNS} FROM connect_tokens WHERE token_hash = ?1 AND account_id = ?2"),
                args![token_hash, user_id],
            )?,
        ])
        .await?;
    Ok(match first_row::<TokenRow>(&results[2])? {
        None => Revoked::Missing,
        Some(row) if row.state == "revoked" => Revoked::Applied,
        Some(_) => Revoked::Used,
    })
}
