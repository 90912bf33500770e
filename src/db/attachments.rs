//! Session attachments (`session_attachments`): announced with their size, then marked
//! uploaded once their bytes are in R2. A session's attachments are its owner's only.

use serde::Deserialize;

use super::Db;
use crate::args;
use crate::config::now_ms;
use crate::error::ApiResult;

/// Announces `file` of `size` bytes on a live session of the user; `false` when it is not one
/// (the insert reads the ownership itself).
pub async fn announce(db: &Db, user_id: &str, session_id: &str, file: &str, size: i64) -> ApiResult<bool> {
    let inserted = db
        .run(
            "INSERT INTO session_attachments (session_id, file, size, created_at)
             SELECT id, ?3, ?4, ?5 FROM sessions WHERE id = ?2 AND account_id = ?1 AND deleted_at IS NULL",
            args![user_id, session_id, file, size, now_ms()],
        )
        .await?;
    Ok(inserted > 0)
}

/// The announced size of `file` on a live session of the user.
pub async fn announced_size(db: &Db, user_id: &str, session_id: &str, file: &str) -> ApiResult<Option<i64>> {
    #[derive(Deserialize)]
    struct Announced {
        size: i64,
    }
    let row: Option<Announced> = db
        .first(
            "SELECT a.size FROM session_attachments a JOIN sessions s ON s.id = a.session_id
             WHERE a.session_id = ?2 AND a.file = ?3 AND s.account_id = ?1 AND s.deleted_at IS NULL",
            args![user_id, session_id, file],
        )
        .await?;
    Ok(row.map(|r| r.size))
}

/// Marks `file` uploaded now (the caller read its announcement with [`announced_size`]).
pub async fn mark_uploaded(db: &Db, user_id: &str, session_id: &str, file: &str) -> ApiResult<()> {
    db.run(
        "UPDATE session_attachments SET uploaded_at = ?3 WHERE session_id = ?1 AND file = ?2
         AND session_id IN (SELECT id FROM sessions WHERE account_id = ?4)",
        args![session_id, file, now_ms(), user_id],
    )
    .await?;
    Ok(())
}
