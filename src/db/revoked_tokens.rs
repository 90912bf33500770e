//! Revoked account tokens, by `jti`: every isolate reads the ones since its last sync.

use serde::Deserialize;

use super::Db;
use crate::args;
use crate::config::now_ms;
use crate::error::ApiResult;

#[derive(Deserialize)]
pub struct RevokedRow {
    pub jti: String,
}

/// The revocations made at or after `from` (ms).
pub async fn since(db: &Db, from: i64) -> ApiResult<Vec<RevokedRow>> {
    db.all("SELECT jti FROM revoked_tokens WHERE revoked_at >= ?1", args![from]).await
}

/// Records the revocation of `jti` now; revoking it again changes nothing.
pub async fn insert(db: &Db, user_id: &str, jti: &str) -> ApiResult<()> {
    db.run(
        "INSERT INTO revoked_tokens (jti, account_id, revoked_at) VALUES (?1, ?2, ?3) ON CONFLICT(jti) DO NOTHING",
        args![jti, user_id, now_ms()],
    )
    .await?;
    Ok(())
}
