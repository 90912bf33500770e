//! Accounts: existence as authentication sees it, and the versioned settings.

use super::versioned::{self, Column, Outcome};
use super::Db;
use crate::args;
use crate::error::ApiResult;

/// The account's settings; the row is the account itself, so its id is both `?1` and `?2`.
const SETTINGS: Column = Column {
    table: "accounts",
    value: "settings",
    version: "settings_version",
    owned: "id = ?1 AND id = ?2",
    also_set: "",
};

/// Whether an account row exists: a validly signed token names an account that this server may
/// not hold (minted by another server sharing the master secret, before the account moved here).
pub async fn exists(db: &Db, id: &str) -> ApiResult<bool> {
    let row = db.first::<serde_json::Value>("SELECT 1 AS found FROM accounts WHERE id = ?1", args![id]).await?;
    Ok(row.is_some())
}

/// POST /v1/account/settings: compare-and-set of the settings.
pub async fn set_settings(db: &Db, id: &str, settings: Option<&str>, expected_version: i64) -> ApiResult<Outcome> {
    versioned::compare_and_set(db, id, id, &SETTINGS, settings, expected_version).await
}
