//! The friend graph (`relationships`): one row per direction, `from → to` being how `from` sees
//! `to`; and other accounts as a viewer sees them, with the viewer's side of the relationship.
//! A change writes both directions in one guarded batch with the seqs and feed posts it makes.

use serde::Deserialize;
use worker::D1PreparedStatement;

use super::feed::{self, NewPost, Posted};
use super::{bump_account_seq, first_row, guard, rows, Db, SeqRow};
use crate::args;
use crate::domain::social::Status;
use crate::error::{ApiError, ApiResult};

/// An account as others see it, with `status` = how the viewer sees it.
#[derive(Debug, Deserialize, Clone)]
pub struct UserRow {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub avatar: Option<String>,
    pub github_profile: Option<String>,
    pub status: String,
}

impl UserRow {
    /// How the viewer sees this account.
    pub fn status(&self) -> Status {
        Status::parse(&self.status)
    }
}

/// Accounts `a` joined with how the viewer `?1` sees them.
const USER_SELECT: &str = "SELECT a.id, a.first_name, a.last_name, a.username, a.avatar, a.github_profile,
       COALESCE(r.status, 'none') AS status
     FROM accounts a LEFT JOIN relationships r ON r.from_user_id = ?1 AND r.to_user_id = a.id";

/// Accounts whose username starts with `query` (case-insensitively), by username, at most `limit`.
pub async fn search(db: &Db, viewer: &str, query: &str, limit: i64) -> ApiResult<Vec<UserRow>> {
    db.all(&search_sql(), args![viewer, query, limit]).await
}

/// [`search`]'s statement (`?1` viewer, `?2` query, `?3` limit). A case-insensitive prefix
/// match (ASCII folding, as LIKE's) without LIKE: D1 refuses patterns over 50 bytes, and an
/// escaped 64-character query is longer. The range before it is what SQLite can look up in
/// the username index (NOCASE, the same folding): without it every search read every account,
/// which D1 bills row by row. Usernames hold ASCII only, so none is cut off by the bound.
fn search_sql() -> String {
    format!(
        "{USER_SELECT} WHERE a.username >= ?2 AND a.username < ?2 || char(1114111)
         AND lower(substr(a.username, 1, length(?2))) = lower(?2) ORDER BY a.username LIMIT ?3"
    )
}

/// The account `id` as `viewer` sees it.
pub async fn user(db: &Db, viewer: &str, id: &str) -> ApiResult<Option<UserRow>> {
    db.first(&format!("{USER_SELECT} WHERE a.id = ?2"), args![viewer, id]).await
}

/// The viewer's friends and open requests either way, most recently changed first.
pub async fn friends(db: &Db, viewer: &str) -> ApiResult<Vec<UserRow>> {
    db.all(
        &format!("{USER_SELECT} WHERE r.status IN ('friend', 'pending', 'requested') ORDER BY r.updated_at DESC"),
        args![viewer],
    )
    .await
}

/// Two accounts and both directions between them as read, with the notification clocks.
pub struct Pair {
    /// `me` as `other` sees them.
    pub me: UserRow,
    /// `other` as `me` sees them.
    pub other: UserRow,
    pub a_to_b: Status,
    pub b_to_a: Status,
    pub a_notified: Option<i64>,
    pub b_notified: Option<i64>,
}

/// Both accounts and both directions, read in one batch; `None` when either account is missing.
pub async fn pair(db: &Db, me: &str, other: &str) -> ApiResult<Option<Pair>> {
    #[derive(Deserialize)]
    struct Rel {
        from_user_id: String,
        status: String,
        last_notified_at: Option<i64>,
    }
    let results = db
        .batch(vec![
            db.stmt(&format!("{USER_SELECT} WHERE a.id = ?2"), args![other, me])?,
            db.stmt(&format!("{USER_SELECT} WHERE a.id = ?2"), args![me, other])?,
            db.stmt(
                "SELECT from_user_id, status, last_notified_at FROM relationships
                 WHERE (from_user_id = ?1 AND to_user_id = ?2) OR (from_user_id = ?2 AND to_user_id = ?1)",
                args![me, other],
            )?,
        ])
        .await?;
    let (Some(me_row), Some(other_row)) = (first_row::<UserRow>(&results[0])?, first_row::<UserRow>(&results[1])?)
    else {
        return Ok(None);
    };
    let rels: Vec<Rel> = rows(&results[2])?;
    let side = |from: &str| rels.iter().find(|r| r.from_user_id == from);
    Ok(Some(Pair {
        a_to_b: side(me).map(|r| Status::parse(&r.status)).unwrap_or(Status::None),
        b_to_a: side(other).map(|r| Status::parse(&r.status)).unwrap_or(Status::None),
        a_notified: side(me).and_then(|r| r.last_notified_at),
        b_notified: side(other).and_then(|r| r.last_notified_at),
        me: me_row,
        other: other_row,
    }))
}

/// A change of both directions between `me` (a) and `other` (b).
pub struct Change<'a> {
    pub me: &'a str,
    pub other: &'a str,
    /// Both directions as read, `(a→b, b→a)`: the change applies only if they still are.
    pub before: (Status, Status),
    /// Both directions to write, `(a→b, b→a)`.
    pub after: (Status, Status),
    /// Whether a and b are notified by this change (their notification clock is set to now).
    pub notify_me: bool,
    pub notify_other: bool,
    /// Feed posts written with the change, in order.
    pub posts: &'a [NewPost<'a>],
    pub now: i64,
}

/// What a relationship change did.
#[derive(Debug, PartialEq)]
pub enum Changed {
    /// Written: the seqs numbering it for `me` and `other`, and each post's numbers (in the
    /// order of [`Change::posts`]).
    Applied { seq_me: i64, seq_other: i64, posts: Vec<Posted> },
    /// The pair changed since it was read: nothing written.
    Conflict,
}

/// One batch, guard first (the pair must still be as read, or nothing applies): both
/// directions, a seq for each account, then the feed posts.
pub async fn change(db: &Db, c: &Change<'_>) -> ApiResult<Changed> {
    let (me, other) = (c.me, c.other);
    let mut stmts = vec![guard(
        db,
        "COALESCE((SELECT status FROM relationships WHERE from_user_id = ?1 AND to_user_id = ?2), 'none') = ?3
         AND COALESCE((SELECT status FROM relationships WHERE from_user_id = ?2 AND to_user_id = ?1), 'none') = ?4",
        args![me, other, c.before.0.as_str(), c.before.1.as_str()],
    )?];
    stmts.push(upsert(db, me, other, c.after.0, c.notify_me, c.now)?);
    stmts.push(upsert(db, other, me, c.after.1, c.notify_other, c.now)?);
    let seq_me_at = stmts.len();
    stmts.push(bump_account_seq(db, me)?);
    let seq_other_at = stmts.len();
    stmts.push(bump_account_seq(db, other)?);
    let mut posts_at = Vec::with_capacity(c.posts.len());
    for post in c.posts {
        posts_at.push(feed::push_post(db, &mut stmts, post, c.now)?);
    }
    let Some(results) = db.batch_guarded(stmts).await? else { return Ok(Changed::Conflict) };

    let seq_at = |i: usize| -> ApiResult<i64> {
        first_row::<SeqRow>(&results[i])?.map(|r| r.seq).ok_or_else(|| ApiError::internal("seq bump returned nothing"))
    };
    let (seq_me, seq_other) = (seq_at(seq_me_at)?, seq_at(seq_other_at)?);
    let posts = posts_at.iter().map(|at| at.read(&results)).collect::<ApiResult<Vec<_>>>()?;
    Ok(Changed::Applied { seq_me, seq_other, posts })
}

fn upsert(db: &Db, from: &str, to: &str, status: Status, notified: bool, now: i64) -> ApiResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO relationships (from_user_id, to_user_id, status, last_notified_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, CASE WHEN ?4 THEN ?5 END, ?5, ?5)
         ON CONFLICT (from_user_id, to_user_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at,
           last_notified_at = CASE WHEN ?4 THEN ?5 ELSE last_notified_at END",
        args![from, to, status.as_str(), notified, now],
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::db::{in_sqlite, Statement};

    fn search_for(query: &str) -> Statement {
        Statement { sql: search_sql(), args: args!["viewer", query, 10_i64].to_vec() }
    }

    #[test]
    fn a_search_looks_usernames_up_by_prefix_in_the_index() {
        let names = ["alice", "Alicia", "al_ex", "al.x", "bob", "ALBERT-1", "zed"];
        let inserts: String = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                format!("INSERT INTO accounts (id, public_key, username, created_at, updated_at) VALUES ('a{i}', 'k{i}', '{n}', 1, 1);")
            })
            .collect();
        let queries = ["al", "ALI", "al_", "al.", "al%", "b", "zed", "zedd", ""];
        let found = in_sqlite::run(&inserts, &queries.map(search_for), false);
        let usernames = |rows: &Vec<Vec<Value>>| -> Vec<Value> { rows.iter().map(|r| r[3].clone()).collect() };
        let expected = [
            json!(["al.x", "al_ex", "ALBERT-1", "alice", "Alicia"]),
            json!(["alice", "Alicia"]),
            json!(["al_ex"]),
            json!(["al.x"]),
            json!([]),
            json!(["bob"]),
            json!(["zed"]),
            json!([]),
            json!(["al.x", "al_ex", "ALBERT-1", "alice", "Alicia", "bob", "zed"]),
        ];
        for ((query, rows), expected) in queries.iter().zip(&found).zip(expected) {
            assert_eq!(Value::from(usernames(rows)), expected, "query {query:?}");
        }
        // Looked up in the username index, not found by reading every account.
        let plan = &in_sqlite::run("", &[search_for("al")], true)[0];
        assert!(in_sqlite::steps(plan).all(|s| !s.starts_with("SCAN a")), "{plan:?}");
    }
}
