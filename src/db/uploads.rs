//! Uploaded files (`uploaded_files`): the metadata of objects in R2, within the plan's upload
//! quota, and the account's avatar when it points at one of them. The bytes and their write
//! order around these batches are the route's (src/routes/uploads.rs).

use serde::Deserialize;
use worker::{D1PreparedStatement, D1Result};

use super::plans::upload_limit_sql;
use super::{bump_account_seq, bump_account_seq_if, first_row, guard, rows, Db, SeqRow, Statement};
use crate::args;
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize)]
pub struct FileRow {
    pub id: String,
    pub path: String,
    pub category: String,
    pub original_name: String,
    pub content_type: String,
    pub size: i64,
    pub etag: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub thumbhash: Option<String>,
    pub reuse_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const FILE_COLUMNS: &str = "id, path, category, original_name, content_type, size, etag, width, height, thumbhash, reuse_key, created_at, updated_at";

#[derive(Deserialize)]
struct PathRow {
    path: String,
}

/// The account's upload quota: its plan's bytes, and the most a new file may take. Counted as
/// if the largest file with a reuse key were replaced (its key may come after the file), so
/// the early refusal never refuses what the batch would take; the batch decides exactly.
#[derive(Deserialize)]
pub struct Quota {
    pub max: i64,
    pub room: i64,
}

/// The user's upload quota, read before a file streams in.
pub async fn quota(db: &Db, user_id: &str) -> ApiResult<Quota> {
    db.first(
        &format!(
            "SELECT {limit} AS max, {limit} - COALESCE(SUM(size), 0)
                    + COALESCE(MAX(CASE WHEN reuse_key IS NOT NULL THEN size END), 0) AS room
             FROM uploaded_files WHERE account_id = ?1",
            limit = upload_limit_sql("?1")
        ),
        args![user_id],
    )
    .await?
    .ok_or_else(|| ApiError::internal("plans are not seeded"))
}

/// The one batch that stores a new file's row, prepared and not yet run: it replaces the
/// user's row with the same reuse key, and may set the account's avatar.
pub struct Swap(Vec<D1PreparedStatement>);

/// Index of the avatar's seq bump in a [`Swap`] that sets it.
const AVATAR_SEQ: usize = 4;

/// Prepares the [`Swap`] of `row` (a stored object's) for the user; `avatar` (the account's
/// stored avatar JSON) is set in the same batch, numbered by an account seq.
pub fn swap(db: &Db, user_id: &str, row: &FileRow, avatar: Option<&str>) -> ApiResult<Swap> {
    let mut stmts = vec![db.stmt(
        "DELETE FROM uploaded_files WHERE account_id = ?1 AND reuse_key = ?2 RETURNING path",
        args![user_id, &row.reuse_key],
    )?];
    // The plan's quota is checked by the insert itself, after the swap freed the replaced file:
    // concurrent uploads cannot both squeeze under it. The guard then rolls the whole batch back
    // (the swap included) when the insert did not happen.
    stmts.push(db.stmt(
        &format!(
            "INSERT INTO uploaded_files (id, account_id, path, category, original_name, content_type, size, etag, width, height, reuse_key, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12
             WHERE (SELECT COALESCE(SUM(size), 0) FROM uploaded_files WHERE account_id = ?2) + ?7 <= {}",
            upload_limit_sql("?2")
        ),
        args![
            &row.id,
            user_id,
            &row.path,
            &row.category,
            &row.original_name,
            &row.content_type,
            row.size,
            &row.etag,
            row.width,
            row.height,
            &row.reuse_key,
            row.created_at
        ],
    )?);
    stmts.push(guard(db, "EXISTS (SELECT 1 FROM uploaded_files WHERE id = ?1)", args![&row.id])?);
    if let Some(avatar) = avatar {
        stmts.push(db.stmt(
            "UPDATE accounts SET avatar = ?2, updated_at = ?3 WHERE id = ?1",
            args![user_id, avatar, row.updated_at],
        )?);
        stmts.push(bump_account_seq(db, user_id)?);
    }
    Ok(Swap(stmts))
}

impl Swap {
    /// Runs the batch; `None` when the quota rolled it back (nothing applied).
    pub async fn run(self, db: &Db) -> ApiResult<Option<Swapped>> {
        Ok(db.batch_guarded(self.0).await?.map(Swapped))
    }
}

/// A committed [`Swap`]: its results, read once the new row is in place.
pub struct Swapped(Vec<D1Result>);

impl Swapped {
    /// The objects of the rows it replaced, now unreferenced.
    pub fn replaced(&self) -> ApiResult<Vec<String>> {
        Ok(rows::<PathRow>(&self.0[0])?.into_iter().map(|r| r.path).collect())
    }

    /// The account seq numbering the avatar it set.
    pub fn avatar_seq(&self) -> ApiResult<i64> {
        let bumped = match self.0.get(AVATAR_SEQ) {
            Some(result) => first_row::<SeqRow>(result)?,
            None => None,
        };
        Ok(bumped.ok_or_else(|| ApiError::internal("seq bump returned nothing"))?.seq)
    }
}

/// One page of the user's files, newest first, optionally of one category and strictly after
/// the cursor (`created_at`, `id`). Reads `limit + 1` rows so the caller knows whether there
/// is a next page.
pub async fn page(
    db: &Db,
    user_id: &str,
    category: Option<&str>,
    after: Option<(i64, &str)>,
    limit: usize,
) -> ApiResult<Vec<FileRow>> {
    let page = page_statement(user_id, category, after, limit);
    db.all(&page.sql, &page.args).await
}

/// [`page`]'s statement. A given cursor is a row-value range SQLite looks up in
/// `(account_id, created_at DESC, id DESC)`, so a later page starts at its cursor instead of
/// walking down to it from the newest; an absent one stays as constant `?n IS NULL` terms, so
/// the statement binds all five parameters.
fn page_statement(user_id: &str, category: Option<&str>, after: Option<(i64, &str)>, limit: usize) -> Statement {
    let cursor = if after.is_some() { "(created_at, id) < (?3, ?4)" } else { "?3 IS NULL AND ?4 IS NULL" };
    Statement {
        sql: format!(
            "SELECT {FILE_COLUMNS} FROM uploaded_files WHERE account_id = ?1 AND (?2 IS NULL OR category = ?2)
             AND {cursor} ORDER BY created_at DESC, id DESC LIMIT ?5"
        ),
        args: args![user_id, category, after.map(|a| a.0), after.map(|a| a.1), limit + 1].to_vec(),
    }
}

/// The user's file `id`.
pub async fn get(db: &Db, user_id: &str, id: &str) -> ApiResult<Option<FileRow>> {
    db.first(
        &format!("SELECT {FILE_COLUMNS} FROM uploaded_files WHERE id = ?1 AND account_id = ?2"),
        args![id, user_id],
    )
    .await
}

/// A deleted file: its object, now unreferenced, and the account seq of the avatar cleared
/// with it (when it was the avatar).
pub struct Deleted {
    pub path: String,
    pub avatar_seq: Option<i64>,
}

/// Deletes the user's file `id`, clearing the avatar when it is that file's (no profile points
/// at a missing object), in one batch; `None` when the user has no such file.
pub async fn delete(db: &Db, user_id: &str, id: &str) -> ApiResult<Option<Deleted>> {
    // The seq is bumped only when the avatar is cleared, guarded by the same predicate.
    let is_avatar =
        "json_extract(avatar, '$.path') = (SELECT path FROM uploaded_files WHERE id = ?2 AND account_id = ?1)";
    let results = db
        .batch(vec![
            bump_account_seq_if(db, user_id, is_avatar, args![id])?,
            db.stmt(&format!("UPDATE accounts SET avatar = NULL WHERE id = ?1 AND {is_avatar}"), args![user_id, id])?,
            db.stmt("DELETE FROM uploaded_files WHERE id = ?2 AND account_id = ?1 RETURNING path", args![user_id, id])?,
        ])
        .await?;
    let Some(deleted) = first_row::<PathRow>(&results[2])? else { return Ok(None) };
    let avatar_seq = first_row::<SeqRow>(&results[0])?.map(|r| r.seq);
    Ok(Some(Deleted { path: deleted.path, avatar_seq }))
}

/// The objects the user's files reference (the upload sweep keeps them).
pub async fn paths(db: &Db, user_id: &str) -> ApiResult<Vec<String>> {
    let rows: Vec<PathRow> = db.all("SELECT path FROM uploaded_files WHERE account_id = ?1", args![user_id]).await?;
    Ok(rows.into_iter().map(|r| r.path).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::in_sqlite;

    #[test]
    fn a_page_of_files_starts_at_its_cursor() {
        // Two files at each of three times, of two categories.
        let inserts: String = (0..6)
            .map(|n| {
                let (at, category) = (100 + n / 2, if n % 2 == 0 { "image" } else { "file" });
                format!(
                    "INSERT INTO uploaded_files (id, account_id, path, category, original_name, content_type, size, etag, created_at, updated_at)
                     VALUES ('u{n}', 'a', 'p{n}', '{category}', 'n', 't', 1, 'e', {at}, 1);"
                )
            })
            .collect();
        let pages = [
            page_statement("a", None, None, 2),
            page_statement("a", None, Some((101, "u3")), 10),
            page_statement("a", Some("image"), Some((102, "u4")), 10),
        ];
        let ids: Vec<Vec<String>> = in_sqlite::run(&inserts, &pages, false)
            .iter()
            .map(|rows| rows.iter().map(|r| r[0].as_str().unwrap().to_string()).collect())
            .collect();
        assert_eq!(ids, [vec!["u5", "u4", "u3"], vec!["u2", "u1", "u0"], vec!["u2", "u0"]]);
        let plans = in_sqlite::run("", &pages[1..2], true);
        let plan: Vec<&str> = in_sqlite::steps(&plans[0]).collect();
        assert!(plan.iter().any(|s| s.ends_with("(account_id=? AND (created_at,id)<(?,?))")), "{plan:?}");
    }
}
