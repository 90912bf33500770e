//! The account's feed of notifications (`feed_items`), numbered by a per-account counter.

use serde::Deserialize;

use super::Db;
use crate::args;
use crate::error::ApiResult;

#[derive(Deserialize)]
pub struct FeedRow {
    pub id: String,
    pub counter: i64,
    pub repeat_key: Option<String>,
    pub body: String,
    pub created_at: i64,
}

/// GET /v1/feed: newest first, strictly between the counter cursors. Reads `limit + 1` rows so
/// the caller knows whether there is a next page.
pub async fn page(
    db: &Db,
    user_id: &str,
    before: Option<i64>,
    after: Option<i64>,
    limit: i64,
) -> ApiResult<Vec<FeedRow>> {
    db.all(
        "SELECT id, counter, repeat_key, body, created_at FROM feed_items
         WHERE account_id = ?1 AND (?2 IS NULL OR counter < ?2) AND (?3 IS NULL OR counter > ?3)
         ORDER BY counter DESC LIMIT ?4",
        args![user_id, before, after, limit + 1],
    )
    .await
}
