//! Device API keys: a provisioned device authenticates its own calls with
//! `Authorization: Bearer <key>`. Only the key's SHA-256 is stored.

use serde::Deserialize;

use crate::crypto::util::sha256_hex;
use crate::db::{devices, Db};
use crate::error::{ApiError, ApiResult};

/// The device calling a route with `Access::Device`.
#[derive(Clone, Debug, Deserialize)]
pub struct AuthDevice {
    pub uuid: String,
    pub account_id: String,
}

/// Resolves a device API key; unknown keys (and keys cleared by a reset) are 401.
pub async fn verify_device_key(db: &Db, key: Option<String>) -> ApiResult<AuthDevice> {
    let key = key.ok_or_else(|| ApiError::unauthorized("Missing device API key"))?;
    devices::by_api_key_hash(db, &sha256_hex(key.as_bytes()))
        .await?
        .ok_or_else(|| ApiError::unauthorized("Invalid device API key"))
}
