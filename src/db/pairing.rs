//! Pairing requests (`terminal_auth_requests`, `account_auth_requests`): a new device posts its
//! box public key, a signed-in device answers it once, the first device then gets a token.

use serde::Deserialize;

use super::Db;
use crate::args;
use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::error::{ApiError, ApiResult};

/// Which pairing flow: terminal (CLI → app) or account (app → app).
#[derive(Clone, Copy)]
pub enum Pairing {
    Terminal,
    Account,
}

impl Pairing {
    fn table(self) -> &'static str {
        match self {
            Pairing::Terminal => "terminal_auth_requests",
            Pairing::Account => "account_auth_requests",
        }
    }
}

#[derive(Deserialize)]
pub struct PairingRow {
    pub id: String,
    pub response: Option<String>,
    pub response_account_id: Option<String>,
    pub supports_v2: Option<i64>,
}

/// Records the request of `key` (hex), or touches the existing one; returns it as stored.
pub async fn request(db: &Db, kind: Pairing, key: &str, supports_v2: bool) -> ApiResult<PairingRow> {
    let sql = match kind {
        Pairing::Terminal => "INSERT INTO terminal_auth_requests (id, public_key, supports_v2, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT(public_key) DO UPDATE SET updated_at = excluded.updated_at
             RETURNING id, response, response_account_id, supports_v2",
        Pairing::Account => "INSERT INTO account_auth_requests (id, public_key, created_at, updated_at) VALUES (?1, ?2, ?4, ?4)
             ON CONFLICT(public_key) DO UPDATE SET updated_at = excluded.updated_at
             RETURNING id, response, response_account_id, NULL AS supports_v2",
    };
    db.first(sql, args![uuid_v4(), key, supports_v2, now_ms()])
        .await?
        .ok_or_else(|| ApiError::internal("pairing upsert returned nothing"))
}

/// The terminal request of `key` (hex), if any.
pub async fn terminal(db: &Db, key: &str) -> ApiResult<Option<PairingRow>> {
    db.first(
        "SELECT id, response, response_account_id, supports_v2 FROM terminal_auth_requests WHERE public_key = ?1",
        args![key],
    )
    .await
}

/// Answers the request of `key` (hex) for `account_id`; the first answer wins. `false` when
/// there is no such request.
pub async fn respond(db: &Db, kind: Pairing, key: &str, response: &str, account_id: &str) -> ApiResult<bool> {
    let changed = db
        .run(
            &format!(
                "UPDATE {} SET response = ?1, response_account_id = ?2, updated_at = ?3 WHERE public_key = ?4 AND response IS NULL",
                kind.table()
            ),
            args![response, account_id, now_ms(), key],
        )
        .await?;
    if changed > 0 {
        return Ok(true);
    }
    let exists: Option<serde_json::Value> =
        db.first(&format!("SELECT 1 AS x FROM {} WHERE public_key = ?1", kind.table()), args![key]).await?;
    Ok(exists.is_some())
}
