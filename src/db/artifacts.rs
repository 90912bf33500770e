//! Artifact operations shared by the HTTP routes (`routes::artifacts`) and the socket events
//! (`realtime::handlers`): validation, the atomic batches, and the events each write publishes.
//! Callers only map the outcomes to their wire shapes.

use serde::Deserialize;

use super::{bump_account_seq_if, first_row, Db, SeqRow};
use crate::args;
use crate::config::now_ms;
use crate::domain::text::payload;
use crate::error::{ApiError, ApiResult};
use crate::events::artifacts::{delete_artifact, new_artifact, update_artifact};
use crate::events::{Outbox, Recipients};

const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 768 * 1024;
const MAX_KEY_BYTES: usize = 4096;
const LIST_LIMIT: i64 = 200;

#[derive(Deserialize)]
pub struct Artifact {
    pub id: String,
    account_id: String,
    pub header: String,
    pub header_version: i64,
    pub body: String,
    pub body_version: i64,
    pub data_encryption_key: String,
    pub seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An artifact without its body, as lists show it.
#[derive(Deserialize)]
pub struct HeaderRow {
    pub id: String,
    pub header: String,
    pub header_version: i64,
    pub data_encryption_key: String,
    pub seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, account_id, header, header_version, body, body_version, data_encryption_key, seq, created_at, updated_at";

pub fn not_found() -> ApiError {
    ApiError::not_found("Artifact not found")
}

/// Artifact ids are UUIDs in the hyphenated form the app generates.
fn artifact_id(id: &str) -> ApiResult<&str> {
    if id.len() == 36 && uuid::Uuid::try_parse(id).is_ok() {
        Ok(id)
    } else {
        Err(ApiError::bad_request("id must be a UUID"))
    }
}

/// The caller's artifact headers (no body), newest first, as wire objects.
pub async fn list(db: &Db, user: &str) -> ApiResult<Vec<HeaderRow>> {
    db.all(
        "SELECT id, header, header_version, data_encryption_key, seq, created_at, updated_at FROM artifacts
         WHERE account_id = ?1 ORDER BY updated_at DESC, id LIMIT ?2",
        args![user, LIST_LIMIT],
    )
    .await
}

/// The caller's artifact, or 404 (also for another account's id).
pub async fn get(db: &Db, user: &str, id: &str) -> ApiResult<Artifact> {
    db.first(&format!("SELECT {COLUMNS} FROM artifacts WHERE id = ?1 AND account_id = ?2"), args![id, user])
        .await?
        .ok_or_else(not_found)
}

pub struct NewArtifact<'a> {
    pub id: &'a str,
    pub header: &'a str,
    pub body: &'a str,
    pub data_encryption_key: &'a str,
}

/// Creates the artifact, or returns the caller's existing one with that id unchanged (C3, no
/// event); another account's id is a 409.
pub async fn create(db: &Db, user: &str, new: &NewArtifact<'_>) -> ApiResult<(Artifact, Outbox)> {
    let id = artifact_id(new.id)?;
    payload("header", new.header, MAX_HEADER_BYTES)?;
    payload("body", new.body, MAX_BODY_BYTES)?;
    payload("dataEncryptionKey", new.data_encryption_key, MAX_KEY_BYTES)?;
    let now = now_ms();
    // One transaction: the seq is allocated only when the id is free, the insert does nothing
    // when it is taken, and the final read shows whoever owns it. Two racing creates of one id
    // thus make one row and one event.
    let results = db
        .batch(vec![
            bump_account_seq_if(db, user, "NOT EXISTS (SELECT 1 FROM artifacts WHERE id = ?2)", args![id])?,
            db.stmt(
                &format!(
                    "INSERT INTO artifacts (id, account_id, header, header_version, body, body_version,
                       data_encryption_key, seq, created_at, updated_at)
                     VALUES (?1, ?2, ?3, 1, ?4, 1, ?5, 0, ?6, ?6)
                     ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}"
                ),
                args![id, user, new.header, new.body, new.data_encryption_key, now],
            )?,
            db.stmt(&format!("SELECT {COLUMNS} FROM artifacts WHERE id = ?1"), args![id])?,
        ])
        .await?;
    if let (Some(seq), Some(row)) = (first_row::<SeqRow>(&results[0])?, first_row::<Artifact>(&results[1])?) {
        let outbox = Outbox::default().update(seq.seq, new_artifact(&row), Recipients::User);
        return Ok((row, outbox));
    }
    match first_row::<Artifact>(&results[2])? {
        Some(row) if row.account_id == user => Ok((row, Outbox::default())),
        Some(_) => Err(ApiError::conflict("Artifact with this ID already exists for another account")),
        None => Err(ApiError::internal("artifact vanished during create")),
    }
}

/// A part to compare-and-set: the new value and the version the client last saw.
pub struct Part {
    pub value: String,
    pub expected: i64,
}

/// What an update did: the new versions of the parts sent, or (lost compare-and-set) the
/// current version and value of each part whose expected version was stale.
pub enum Updated {
    Applied { header: Option<i64>, body: Option<i64> },
    Mismatch { header: Option<(i64, String)>, body: Option<(i64, String)> },
}

fn check_part(name: &str, part: &Option<Part>, max: usize) -> ApiResult<()> {
    let Some(p) = part else { return Ok(()) };
    if p.expected < 0 {
        return Err(ApiError::bad_request(format!("{name}: the expected version must be >= 0")));
    }
    payload(name, &p.value, max)?;
    Ok(())
}

/// Compare-and-set of header and/or body; 404 for a missing or foreign artifact.
pub async fn update(
    db: &Db,
    user: &str,
    id: &str,
    header: Option<Part>,
    body: Option<Part>,
) -> ApiResult<(Updated, Outbox)> {
    check_part("header", &header, MAX_HEADER_BYTES)?;
    check_part("body", &body, MAX_BODY_BYTES)?;
    if header.is_none() && body.is_none() {
        return Err(ApiError::bad_request("Nothing to update: send header and/or body"));
    }
    let (h_val, h_exp) = header.as_ref().map(|p| (Some(p.value.as_str()), Some(p.expected))).unwrap_or((None, None));
    let (b_val, b_exp) = body.as_ref().map(|p| (Some(p.value.as_str()), Some(p.expected))).unwrap_or((None, None));
    // The compare-and-set predicate, evaluated by the seq bump and the update alike (same
    // transaction, nothing in between), so a lost race burns no seq.
    let cas = "EXISTS (SELECT 1 FROM artifacts WHERE id = ?2 AND account_id = ?1
                 AND (?3 IS NULL OR header_version = ?3) AND (?4 IS NULL OR body_version = ?4))";
    #[derive(Deserialize)]
    struct Versions {
        header_version: i64,
        body_version: i64,
    }
    let results = db
        .batch(vec![
            bump_account_seq_if(db, user, cas, args![id, h_exp, b_exp])?,
            db.stmt(
                "UPDATE artifacts SET
                   header = COALESCE(?3, header), header_version = header_version + (?3 IS NOT NULL),
                   body = COALESCE(?5, body), body_version = body_version + (?5 IS NOT NULL),
                   seq = seq + 1, updated_at = ?7
                 WHERE id = ?2 AND account_id = ?1
                   AND (?4 IS NULL OR header_version = ?4) AND (?6 IS NULL OR body_version = ?6)
                 RETURNING header_version, body_version",
                args![user, id, h_val, h_exp, b_val, b_exp, now_ms()],
            )?,
            db.stmt(&format!("SELECT {COLUMNS} FROM artifacts WHERE id = ?1 AND account_id = ?2"), args![id, user])?,
        ])
        .await?;
    if let (Some(seq), Some(v)) = (first_row::<SeqRow>(&results[0])?, first_row::<Versions>(&results[1])?) {
        let event = update_artifact(id, h_val.map(|h| (h, v.header_version)), b_val.map(|b| (b, v.body_version)));
        let applied = Updated::Applied { header: h_exp.map(|_| v.header_version), body: b_exp.map(|_| v.body_version) };
        return Ok((applied, Outbox::default().update(seq.seq, event, Recipients::User)));
    }
    let current = first_row::<Artifact>(&results[2])?.ok_or_else(not_found)?;
    let stale = Updated::Mismatch {
        header: h_exp.filter(|e| *e != current.header_version).map(|_| (current.header_version, current.header)),
        body: b_exp.filter(|e| *e != current.body_version).map(|_| (current.body_version, current.body)),
    };
    Ok((stale, Outbox::default()))
}

/// Deletes the caller's artifact; 404 when there is none.
pub async fn delete(db: &Db, user: &str, id: &str) -> ApiResult<Outbox> {
    let results = db
        .batch(vec![
            bump_account_seq_if(
                db,
                user,
                "EXISTS (SELECT 1 FROM artifacts WHERE id = ?2 AND account_id = ?1)",
                args![id],
            )?,
            db.stmt("DELETE FROM artifacts WHERE id = ?1 AND account_id = ?2", args![id, user])?,
        ])
        .await?;
    let seq = first_row::<SeqRow>(&results[0])?.ok_or_else(not_found)?;
    Ok(Outbox::default().update(seq.seq, delete_artifact(id), Recipients::User))
}
