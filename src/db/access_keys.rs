//! Access keys: one opaque blob per (session, machine) of an account, versioned for
//! compare-and-set. Both the session (live) and the machine must be the caller's.

use serde::Deserialize;
use serde_json::{json, Value};

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

impl LookupRow {
    fn owned(&self) -> bool {
        self.session_ok != 0 && self.machine_ok != 0
    }
    fn key(&self) -> Option<Value> {
        Some(json!({
            "data": self.data.as_ref()?,
            "dataVersion": self.data_version?,
            "createdAt": self.created_at?,
            "updatedAt": self.updated_at?,
        }))
    }
}

pub fn not_found() -> ApiError {
    ApiError::not_found("Session or machine not found")
}

fn lookup_row(result: &worker::D1Result) -> ApiResult<LookupRow> {
    first_row(result)?.ok_or_else(|| ApiError::internal("lookup returned nothing"))
}

/// GET: `{accessKey: {data, dataVersion, createdAt, updatedAt} | null}`.
pub async fn get(db: &Db, user_id: &str, session_id: &str, machine_id: &str) -> ApiResult<Value> {
    let row: LookupRow = db
        .first(LOOKUP, args![user_id, session_id, machine_id])
        .await?
        .ok_or_else(|| ApiError::internal("lookup returned nothing"))?;
    if !row.owned() {
        return Err(not_found());
    }
    Ok(json!({"accessKey": row.key()}))
}

/// POST: `{success:true, accessKey}`; 409 when the key exists.
pub async fn create(db: &Db, user_id: &str, session_id: &str, machine_id: &str, data: &str) -> ApiResult<Value> {
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
        return Err(not_found());
    }
    if crate::db::changes(&results[0]) == 0 {
        return Err(ApiError::conflict("Access key already exists"));
    }
    Ok(json!({"success": true, "accessKey": row.key()}))
}

/// PUT: `{success:true, version}`, or on a stale `expected_version` 200
/// `{success:false, error:'version-mismatch', currentVersion, currentData}`; 404 when the key
/// does not exist.
pub async fn update(
    db: &Db,
    user_id: &str,
    session_id: &str,
    machine_id: &str,
    data: &str,
    expected_version: i64,
) -> ApiResult<Value> {
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
        return Err(not_found());
    }
    let (Some(current_data), Some(current_version)) = (row.data, row.data_version) else {
        return Err(ApiError::not_found("Access key not found"));
    };
    if crate::db::changes(&results[0]) == 0 {
        return Ok(json!({
            "success": false,
            "error": "version-mismatch",
            "currentVersion": current_version,
            "currentData": current_data,
        }));
    }
    Ok(json!({"success": true, "version": current_version}))
}
