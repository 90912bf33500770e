//! Compare-and-set of one versioned column (session metadata and agent state, machine metadata
//! and daemon state, account settings). Callers turn the [`Outcome`] into an HTTP body or a
//! socket ack; nothing here knows either.

use serde::Deserialize;

use crate::args;
use crate::config::now_ms;
use crate::db::{bump_account_seq_if, first_row, Db, SeqRow};
use crate::error::ApiResult;

/// The versioned column of one table that a compare-and-set writes.
pub struct Column {
    pub table: &'static str,
    pub value: &'static str,
    pub version: &'static str,
    /// The row, owned: an SQL boolean over `?1` (the account) and `?2` (the row's id).
    pub owned: &'static str,
    /// More `, col = expr` assignments made with the write; `?5` is now.
    pub also_set: &'static str,
}

/// A value with its version, as stored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Versioned {
    pub value: Option<String>,
    pub version: i64,
}

/// What a compare-and-set did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Written: the new value and version, and the account seq that numbers the change.
    Applied { seq: i64, current: Versioned },
    /// Another write got there first: the value and version it left.
    Mismatch { current: Versioned },
    /// No such row of the account.
    Missing,
}

/// Writes `value` when the stored version is `expected_version`. The guarded seq bump, the
/// guarded write and the read of the current value are one batch, so a lost race burns no seq
/// and answers with the winner's value.
pub async fn compare_and_set(
    db: &Db,
    user_id: &str,
    row_id: &str,
    column: &Column,
    value: Option<&str>,
    expected_version: i64,
) -> ApiResult<Outcome> {
    let Column { table, value: col, version: ver, owned, also_set } = column;
    let matches = format!("{owned} AND {ver} = ?3");
    let results = db
        .batch(vec![
            bump_account_seq_if(
                db,
                user_id,
                &format!("EXISTS (SELECT 1 FROM {table} WHERE {matches})"),
                args![row_id, expected_version],
            )?,
            db.stmt(
                &format!(
                    "UPDATE {table} SET {col} = ?4, {ver} = {ver} + 1, updated_at = ?5{also_set}
                     WHERE {matches} RETURNING {col} AS value, {ver} AS version"
                ),
                args![user_id, row_id, expected_version, value, now_ms()],
            )?,
            db.stmt(
                &format!("SELECT {col} AS value, {ver} AS version FROM {table} WHERE {owned}"),
                args![user_id, row_id],
            )?,
        ])
        .await?;
    if let (Some(bump), Some(current)) = (first_row::<SeqRow>(&results[0])?, first_row::<Versioned>(&results[1])?) {
        return Ok(Outcome::Applied { seq: bump.seq, current });
    }
    Ok(match first_row::<Versioned>(&results[2])? {
        Some(current) => Outcome::Mismatch { current },
        None => Outcome::Missing,
    })
}
