//! The account's feed of notifications (`feed_items`), numbered by a per-account counter.

use serde::Deserialize;
use worker::{D1PreparedStatement, D1Result};

use super::{bump_account_seq, first_row, Db, SeqRow, Statement};
use crate::args;
use crate::error::{ApiError, ApiResult};

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
    let page = page_statement(user_id, before, after, limit);
    db.all(&page.sql, &page.args).await
}

/// [`page`]'s statement. A given cursor is a range SQLite looks up in `(account_id, counter)`,
/// so a later page starts at its cursor instead of walking down to it from the newest; an
/// absent one stays as a constant `?n IS NULL`, so the statement binds all four parameters.
fn page_statement(user_id: &str, before: Option<i64>, after: Option<i64>, limit: i64) -> Statement {
    let before_term = if before.is_some() { "counter < ?2" } else { "?2 IS NULL" };
    let after_term = if after.is_some() { "counter > ?3" } else { "?3 IS NULL" };
    Statement {
        sql: format!(
            "SELECT id, counter, repeat_key, body, created_at FROM feed_items
             WHERE account_id = ?1 AND {before_term} AND {after_term} ORDER BY counter DESC LIMIT ?4"
        ),
        args: args![user_id, before, after, limit + 1].to_vec(),
    }
}

/// A post to write into `to`'s feed; it replaces their older post with the same `repeat_key`.
pub struct NewPost<'a> {
    pub id: &'a str,
    pub to: &'a str,
    pub repeat_key: &'a str,
    pub body: &'a serde_json::Value,
}

/// Where a post's numbers come back in the results of its batch.
pub struct PostAt {
    counter_at: usize,
    seq_at: usize,
}

/// A post as written: its feed counter and the account seq that numbers it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Posted {
    pub counter: i64,
    pub seq: i64,
}

/// Appends the statements of one post to a batch: drop the older post with the same repeat
/// key, allocate the recipient's next feed counter, insert, and allocate an update seq.
pub fn push_post(db: &Db, stmts: &mut Vec<D1PreparedStatement>, post: &NewPost<'_>, now: i64) -> ApiResult<PostAt> {
    let NewPost { id, to, repeat_key, body } = *post;
    stmts.push(db.stmt("DELETE FROM feed_items WHERE account_id = ?1 AND repeat_key = ?2", args![to, repeat_key])?);
    let counter_at = stmts.len();
    stmts.push(db.stmt("UPDATE accounts SET feed_seq = feed_seq + 1 WHERE id = ?1 RETURNING feed_seq", args![to])?);
    stmts.push(db.stmt(
        "INSERT INTO feed_items (id, account_id, counter, repeat_key, body, created_at)
         VALUES (?1, ?2, (SELECT feed_seq FROM accounts WHERE id = ?2), ?3, ?4, ?5)",
        args![id, to, repeat_key, body.to_string(), now],
    )?);
    let seq_at = stmts.len();
    stmts.push(bump_account_seq(db, to)?);
    Ok(PostAt { counter_at, seq_at })
}

impl PostAt {
    /// The post's counter and seq from its batch's results.
    pub fn read(&self, results: &[D1Result]) -> ApiResult<Posted> {
        #[derive(Deserialize)]
        struct Counter {
            feed_seq: i64,
        }
        let counter = first_row::<Counter>(&results[self.counter_at])?
            .ok_or_else(|| ApiError::internal("feed counter returned nothing"))?;
        let seq = first_row::<SeqRow>(&results[self.seq_at])?
            .ok_or_else(|| ApiError::internal("seq bump returned nothing"))?;
        Ok(Posted { counter: counter.feed_seq, seq: seq.seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::in_sqlite;

    #[test]
    fn a_feed_page_starts_at_its_cursor() {
        let inserts: String = (1..=9)
            .map(|n| {
                format!("INSERT INTO feed_items (id, account_id, counter, body, created_at) VALUES ('f{n}', 'a', {n}, 'b', 1);")
            })
            .collect();
        let pages = [
            page_statement("a", None, None, 2),
            page_statement("a", Some(5), None, 2),
            page_statement("a", None, Some(7), 2),
            page_statement("a", Some(9), Some(6), 5),
        ];
        let counters: Vec<Vec<i64>> = in_sqlite::run(&inserts, &pages, false)
            .iter()
            .map(|rows| rows.iter().map(|r| r[1].as_i64().unwrap()).collect())
            .collect();
        assert_eq!(counters, [vec![9, 8, 7], vec![4, 3, 2], vec![9, 8], vec![8, 7]]);
        let plans = in_sqlite::run("", &pages[1..2], true);
        let plan: Vec<&str> = in_sqlite::steps(&plans[0]).collect();
        assert!(plan.iter().any(|s| s.ends_with("(account_id=? AND counter<?)")), "{plan:?}");
    }
}
