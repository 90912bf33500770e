//! Accounts: existence as authentication sees it, the profile, and the versioned settings.

use serde::Deserialize;

use super::versioned::{self, Column, Outcome, Versioned};
use super::{bump_account_seq_if, first_row, Db, SeqRow};
use crate::args;
use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::error::{ApiError, ApiResult};

/// The account's own profile columns.
#[derive(Deserialize)]
pub struct AccountRow {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub avatar: Option<String>,
    pub github_profile: Option<String>,
}

const ACCOUNT_COLUMNS: &str = "id, first_name, last_name, username, avatar, github_profile";

/// The account's settings; the row is the account itself, so its id is both `?1` and `?2`.
const SETTINGS: Column = Column {
    table: "accounts",
    value: "settings",
    version: "settings_version",
    owned: "id = ?1 AND id = ?2",
    also_set: "",
};

/// What a validly signed token's first check in an isolate reads, in one round trip.
pub struct Standing {
    /// The account exists: a token may name one this server does not hold (minted by another
    /// server sharing the master secret, before the account moved here).
    pub account: bool,
    /// The token's id was revoked (a logout); never for a token without one.
    pub revoked: bool,
}

/// The standing of account `id`'s token `jti`.
pub async fn standing(db: &Db, id: &str, jti: Option<&str>) -> ApiResult<Standing> {
    // SQLite's booleans are integers, which rows do not decode into `bool`.
    #[derive(Deserialize)]
    struct Row {
        account: i64,
        revoked: i64,
    }
    let row: Option<Row> = db
        .first(
            "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = ?1) AS account, \
             EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?2) AS revoked",
            args![id, jti],
        )
        .await?;
    Ok(row.map_or(Standing { account: false, revoked: false }, |r| Standing {
        account: r.account != 0,
        revoked: r.revoked != 0,
    }))
}

/// POST /v1/account/settings: compare-and-set of the settings.
pub async fn set_settings(db: &Db, id: &str, settings: Option<&str>, expected_version: i64) -> ApiResult<Outcome> {
    versioned::compare_and_set(db, id, id, &SETTINGS, settings, expected_version).await
}

pub async fn get(db: &Db, id: &str) -> ApiResult<Option<AccountRow>> {
    db.first(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"), args![id]).await
}

/// A profile edit: `None` leaves a field as it is, `Some(None)` clears it.
pub struct ProfileChange<'a> {
    pub first_name: &'a Option<Option<String>>,
    pub last_name: &'a Option<Option<String>>,
    pub username: &'a Option<Option<String>>,
}

/// PUT /v1/account: applies the edit and numbers it with an account seq; `None` when the wanted
/// username is another account's.
pub async fn edit_profile(db: &Db, id: &str, edit: &ProfileChange<'_>) -> ApiResult<Option<(i64, AccountRow)>> {
    let flag = |v: &Option<Option<String>>| v.is_some();
    let value = |v: &Option<Option<String>>| v.clone().flatten();
    // The username is free (case-insensitively, the column is NOCASE) unless another account
    // holds it; the seq bump and the update test the same predicate in one transaction.
    let free = "(?2 IS NULL OR NOT EXISTS (SELECT 1 FROM accounts WHERE username = ?2 AND id != ?1))";
    let wanted_username = value(edit.username);
    let results = db
        .batch(vec![
            bump_account_seq_if(db, id, free, args![&wanted_username])?,
            db.stmt(
                &format!(
                    "UPDATE accounts SET
                       first_name = CASE WHEN ?3 THEN ?4 ELSE first_name END,
                       last_name = CASE WHEN ?5 THEN ?6 ELSE last_name END,
                       username = CASE WHEN ?7 THEN ?2 ELSE username END,
                       updated_at = ?8
                     WHERE id = ?1 AND {free} RETURNING {ACCOUNT_COLUMNS}"
                ),
                args![
                    id,
                    &wanted_username,
                    flag(edit.first_name),
                    value(edit.first_name),
                    flag(edit.last_name),
                    value(edit.last_name),
                    flag(edit.username),
                    now_ms()
                ],
            )?,
        ])
        .await?;
    Ok(match (first_row::<SeqRow>(&results[0])?, first_row::<AccountRow>(&results[1])?) {
        (Some(seq), Some(row)) => Some((seq.seq, row)),
        _ => None,
    })
}

/// GET /v1/account/settings: the settings and their version.
pub async fn settings(db: &Db, id: &str) -> ApiResult<Option<Versioned>> {
    db.first("SELECT settings AS value, settings_version AS version FROM accounts WHERE id = ?1", args![id]).await
}

/// POST /v1/auth: the account of `public_key` (hex), created on first sight; its id.
pub async fn upsert_by_public_key(db: &Db, public_key: &str) -> ApiResult<String> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
    }
    let row: Row = db
        .first(
            "INSERT INTO accounts (id, public_key, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT(public_key) DO UPDATE SET updated_at = excluded.updated_at RETURNING id",
            args![uuid_v4(), public_key, now_ms()],
        )
        .await?
        .ok_or_else(|| ApiError::internal("account upsert returned nothing"))?;
    Ok(row.id)
}
