//! Access keys: one opaque blob per (session, machine) of an account, versioned for
//! compare-and-set. Both the session (live) and the machine must be the caller's.

use serde::Deserialize;

use crate::args;
use crate::config::now_ms;
use crate::db::{first_row, Db};
use crate::error::{ApiError, ApiResult};

/// The ownership of the pair and the key, in one row: `?1` account, `?2` session, `?3` machine.
const LOOKUP: &str = "SELECT
    EXISTS (SELECT 1 FROM sessions WHERE account_id = ?1 AND id = ?2 AND deleted_at IS NULL) AS session_ok,
    EXISTS (SELECT 1 FROM machines WHERE account_id = ?1 AND id = ?3) AS machine_ok,
    k.data, k.data_version, k.created_at, k.updated_at
    FROM (SELECT 1) LEFT JOIN access_keys k ON k.account_id = ?1 AND k.session_id = ?2 AND k.machine_id = ?3";

#[derive(Deserialize)]
struct LookupRow {
    session_ok: i64,
    machine_ok: i64,
    data: Option<String>,
    data_version: Option<i64>,
    created_at: Option<i64>,
    updated_at: Option<i64>,
}

/// An access key as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessKey {
    pub data: String,
    pub data_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl LookupRow {
    fn owned(&self) -> bool {
        self.session_ok != 0 && self.machine_ok != 0
    }
    fn key(self) -> Option<AccessKey> {
        Some(AccessKey {
            data: self.data?,
            data_version: self.data_version?,
            created_at: self.created_at?,
            updated_at: self.updated_at?,
        })
    }
}

/// What a read of the pair's key found.
#[derive(Debug)]
pub enum Found {
    /// The pair is the account's: its key, if one was created.
    Pair(Option<AccessKey>),
    /// The session (live) or the machine is not the account's.
    NotOwned,
}

/// What a create did.
#[derive(Debug)]
pub enum Created {
    Created(AccessKey),
    /// The pair already has a key; nothing was written.
    Exists,
    NotOwned,
}

/// What a compare-and-set did (the shape of `db::versioned::Outcome`, which has no room for
/// the pair's ownership and numbers its writes with a seq that access keys do not bump).
#[derive(Debug)]
pub enum Updated {
    /// Written: the key as it now is.
    Applied {
        current: AccessKey,
    },
    /// The expected version is stale: the key as another write left it.
    Mismatch {
        current: AccessKey,
    },
    /// The pair is the account's but has no key.
    Missing,
    NotOwned,
}

/// The answer (HTTP 404, socket error) for a pair that is not the caller's.
pub fn not_found() -> ApiError {
    ApiError::not_found("Session or machine not found")
}

fn lookup_row(result: &worker::D1Result) -> ApiResult<LookupRow> {
    first_row(result)?.ok_or_else(|| ApiError::internal("lookup returned nothing"))
}

/// The key of the account's (session, machine) pair.
pub async fn get(db: &Db, user_id: &str, session_id: &str, machine_id: &str) -> ApiResult<Found> {
    let row: LookupRow = db
        .first(LOOKUP, args![user_id, session_id, machine_id])
        .await?
        .ok_or_else(|| ApiError::internal("lookup returned nothing"))?;
    Ok(if row.owned() { Found::Pair(row.key()) } else { Found::NotOwned })
}

/// Creates the pair's key at version 1 unless it has one.
pub async fn create(db: &Db, user_id: &str, session_id: &str, machine_id: &str, data: &str) -> ApiResult<Created> {
    let now = now_ms();
    let results = db
        .batch(vec![
            db.stmt(
                "INSERT INTO access_keys (account_id, session_id, machine_id, data, data_version, created_at, updated_at)
                 SELECT ?1, ?2, ?3, ?4, 1, ?5, ?5
                 WHERE EXISTS (SELECT 1 FROM sessions WHERE account_id = ?1 AND id = ?2 AND deleted_at IS NULL)
                   AND EXISTS (SELECT 1 FROM machines WHERE account_id = ?1 AND id = ?3)
                 ON CONFLICT DO NOTHING",
                args![user_id, session_id, machine_id, data, now],
            )?,
            db.stmt(LOOKUP, args![user_id, session_id, machine_id])?,
        ])
        .await?;
    let row = lookup_row(&results[1])?;
    if !row.owned() {
        return Ok(Created::NotOwned);
    }
    if crate::db::changes(&results[0]) == 0 {
        return Ok(Created::Exists);
    }
    row.key().map(Created::Created).ok_or_else(|| ApiError::internal("the created key was not read back"))
}

/// Writes `data` when the stored version is `expected_version`; the write and the read of the
/// key as it then is are one batch.
pub async fn update(
    db: &Db,
    user_id: &str,
    session_id: &str,
    machine_id: &str,
    data: &str,
    expected_version: i64,
) -> ApiResult<Updated> {
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE access_keys SET data = ?4, data_version = data_version + 1, updated_at = ?6
                 WHERE account_id = ?1 AND session_id = ?2 AND machine_id = ?3 AND data_version = ?5
                   AND EXISTS (SELECT 1 FROM sessions WHERE account_id = ?1 AND id = ?2 AND deleted_at IS NULL)",
                args![user_id, session_id, machine_id, data, expected_version, now_ms()],
            )?,
            db.stmt(LOOKUP, args![user_id, session_id, machine_id])?,
        ])
        .await?;
    let row = lookup_row(&results[1])?;
    if !row.owned() {
        return Ok(Updated::NotOwned);
    }
    let applied = crate::db::changes(&results[0]) != 0;
    Ok(match row.key() {
        None => Updated::Missing,
        Some(current) if applied => Updated::Applied { current },
        Some(current) => Updated::Mismatch { current },
    })
}
