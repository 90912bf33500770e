//! Accounts as authentication sees them.

use super::Db;
use crate::args;
use crate::error::ApiResult;

/// Whether an account row exists: a validly signed token names an account that this server may
/// not hold (minted by another server sharing the master secret, before the account moved here).
pub async fn exists(db: &Db, id: &str) -> ApiResult<bool> {
    let row = db.first::<serde_json::Value>("SELECT 1 AS found FROM accounts WHERE id = ?1", args![id]).await?;
    Ok(row.is_some())
}
