//! Devices (`devices`): the provisioned ones authenticate with an API key stored as its SHA-256.

use super::Db;
use crate::args;
use crate::auth::device::AuthDevice;
use crate::error::ApiResult;

/// The device whose API key hashes to `key_hash`, if any.
pub async fn by_api_key_hash(db: &Db, key_hash: &str) -> ApiResult<Option<AuthDevice>> {
    db.first("SELECT uuid, account_id FROM devices WHERE api_key_hash = ?1", args![key_hash]).await
}
