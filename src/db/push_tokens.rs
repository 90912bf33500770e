//! Expo push tokens (`push_tokens`), at most a fixed number per account.

use serde::Deserialize;

use super::Db;
use crate::args;
use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::error::ApiResult;

/// The user's tokens, oldest first, for a push to the session `session_id`: `None` when the
/// session is not a live one of the user. Ownership and tokens are one read.
pub async fn for_session_push(db: &Db, user_id: &str, session_id: &str) -> ApiResult<Option<Vec<String>>> {
    // One row per token, or one row without a token.
    #[derive(Deserialize)]
    struct Target {
        owned: i64,
        token: Option<String>,
    }
    let targets: Vec<Target> = db
        .all(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?2 AND account_id = ?1 AND deleted_at IS NULL) AS owned,
                    t.token FROM (SELECT 1) LEFT JOIN push_tokens t ON t.account_id = ?1 ORDER BY t.created_at, t.id",
            args![user_id, session_id],
        )
        .await?;
    if targets.first().is_none_or(|t| t.owned == 0) {
        return Ok(None);
    }
    Ok(Some(targets.into_iter().filter_map(|t| t.token).collect()))
}

/// Drops the user's tokens that the push service called unregistered.
pub async fn remove_all(db: &Db, user_id: &str, tokens: &[String]) -> ApiResult<()> {
    let tokens = serde_json::Value::from(tokens.to_vec()).to_string();
    db.run(
        "DELETE FROM push_tokens WHERE account_id = ?1 AND token IN (SELECT value FROM json_each(?2))",
        args![user_id, tokens],
    )
    .await?;
    Ok(())
}

/// Registers `token`; `false` when it is new and the account already has `max` tokens. A known
/// token only gets a new updatedAt.
pub async fn register(db: &Db, user_id: &str, token: &str, max: i64) -> ApiResult<bool> {
    let changed = db
        .run(
            "INSERT INTO push_tokens (id, account_id, token, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?4
             WHERE EXISTS (SELECT 1 FROM push_tokens WHERE account_id = ?2 AND token = ?3)
                OR (SELECT COUNT(*) FROM push_tokens WHERE account_id = ?2) < ?5
             ON CONFLICT (account_id, token) DO UPDATE SET updated_at = excluded.updated_at",
            args![uuid_v4(), user_id, token, now_ms(), max],
        )
        .await?;
    Ok(changed > 0)
}

#[derive(Deserialize)]
pub struct PushTokenRow {
    pub id: String,
    pub token: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub async fn list(db: &Db, user_id: &str) -> ApiResult<Vec<PushTokenRow>> {
    db.all(
        "SELECT id, token, created_at, updated_at FROM push_tokens WHERE account_id = ?1 ORDER BY created_at, id",
        args![user_id],
    )
    .await
}

/// Deletes the user's `token`, if it is one.
pub async fn remove(db: &Db, user_id: &str, token: &str) -> ApiResult<()> {
    db.run("DELETE FROM push_tokens WHERE account_id = ?1 AND token = ?2", args![user_id, token]).await?;
    Ok(())
}
