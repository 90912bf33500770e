//! The inactivity sweep of an account's sessions and machines (`realtime::inactivity` schedules
//! it, the user's object runs it from its alarm).

use serde::Deserialize;

use super::{first_row, rows, Db};
use crate::args;
use crate::error::ApiResult;

/// A session or machine the sweep marked inactive, with its last activity.
#[derive(Deserialize)]
pub struct Stale {
    pub id: String,
    pub last_active_at: i64,
}

/// What one sweep did, and the oldest last activity among what is still active (none: nothing).
pub struct Swept {
    pub sessions: Vec<Stale>,
    pub machines: Vec<Stale>,
    pub oldest_active: Option<i64>,
}

/// Marks the user's live sessions and machines last active before `cutoff` inactive, and reads
/// the oldest still active, in one batch.
pub async fn sweep(db: &Db, user_id: &str, cutoff: i64) -> ApiResult<Swept> {
    #[derive(Deserialize)]
    struct Oldest {
        s: Option<i64>,
    }
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE sessions SET active = 0 WHERE account_id = ?1 AND active = 1 AND deleted_at IS NULL
                 AND last_active_at < ?2 RETURNING id, last_active_at",
                args![user_id, cutoff],
            )?,
            db.stmt(
                "UPDATE machines SET active = 0 WHERE account_id = ?1 AND active = 1 AND last_active_at < ?2
                 RETURNING id, last_active_at",
                args![user_id, cutoff],
            )?,
            db.stmt(
                "SELECT MIN(t) AS s FROM (
                   SELECT MIN(last_active_at) AS t FROM sessions WHERE account_id = ?1 AND active = 1 AND deleted_at IS NULL
                   UNION ALL SELECT MIN(last_active_at) FROM machines WHERE account_id = ?1 AND active = 1)",
                args![user_id],
            )?,
        ])
        .await?;
    Ok(Swept {
        sessions: rows(&results[0])?,
        machines: rows(&results[1])?,
        oldest_active: first_row::<Oldest>(&results[2])?.and_then(|r| r.s),
    })
}
