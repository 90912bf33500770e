//! The account's GitHub connection: the profile and user id on `accounts` (`github_profile`,
//! `github_user_id`) and the sealed access token in `github_tokens`. A GitHub account is
//! linked to at most one Happy account.

use serde::Deserialize;

use super::{bump_account_seq, bump_account_seq_if, first_row, rows, Db, SeqRow};
use crate::args;
use crate::config::now_ms;
use crate::error::ApiResult;

/// An account and the seq that numbers its change.
#[derive(Debug, Deserialize)]
pub struct AccountSeq {
    pub id: String,
    pub seq: i64,
}

/// What linking a GitHub account did. Either way it was taken from every other account that
/// had it (`taken_from`, each with the seq of its change).
#[derive(Debug)]
pub enum Connected {
    /// Linked to the account: its seq numbering the change.
    Applied { seq: i64, taken_from: Vec<AccountSeq> },
    /// No such account.
    Missing { taken_from: Vec<AccountSeq> },
}

/// Links GitHub user `github_user_id` to the account, in one batch: takes it (and its token)
/// from any other account, stores `profile` (JSON) and the `sealed` token here, bumps the
/// seq(s).
pub async fn connect(
    db: &Db,
    user_id: &str,
    github_user_id: &str,
    profile: &str,
    sealed: &str,
) -> ApiResult<Connected> {
    let now = now_ms();
    let results = db
        .batch(vec![
            db.stmt(
                "DELETE FROM github_tokens WHERE account_id IN (SELECT id FROM accounts WHERE github_user_id = ?1 AND id != ?2)",
                args![github_user_id, user_id],
            )?,
            db.stmt(
                "UPDATE accounts SET seq = seq + 1, github_profile = NULL, github_user_id = NULL, updated_at = ?3
                 WHERE github_user_id = ?1 AND id != ?2 RETURNING id, seq",
                args![github_user_id, user_id, now],
            )?,
            db.stmt(
                "UPDATE accounts SET github_profile = ?2, github_user_id = ?3, updated_at = ?4 WHERE id = ?1",
                args![user_id, profile, github_user_id, now],
            )?,
            db.stmt(
                "INSERT INTO github_tokens (account_id, token, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(account_id) DO UPDATE SET token = excluded.token, updated_at = excluded.updated_at",
                args![user_id, sealed, now],
            )?,
            bump_account_seq(db, user_id)?,
        ])
        .await?;
    let taken_from = rows::<AccountSeq>(&results[1])?;
    Ok(match first_row::<SeqRow>(&results[4])? {
        Some(bump) => Connected::Applied { seq: bump.seq, taken_from },
        None => Connected::Missing { taken_from },
    })
}

/// What unlinking did.
#[derive(Debug, PartialEq)]
pub enum Disconnected {
    /// Unlinked and the token forgotten: the seq numbering the change.
    Applied { seq: i64 },
    /// The account had no GitHub account linked (or does not exist): nothing changed.
    NotConnected,
}

/// Unlinks the account's GitHub account and deletes its token; the seq is bumped only when one
/// was linked.
pub async fn disconnect(db: &Db, user_id: &str) -> ApiResult<Disconnected> {
    let results = db
        .batch(vec![
            bump_account_seq_if(db, user_id, "github_user_id IS NOT NULL", &[])?,
            db.stmt(
                "UPDATE accounts SET github_profile = NULL, github_user_id = NULL, updated_at = ?2 WHERE id = ?1",
                args![user_id, now_ms()],
            )?,
            db.stmt("DELETE FROM github_tokens WHERE account_id = ?1", args![user_id])?,
        ])
        .await?;
    Ok(match first_row::<SeqRow>(&results[0])? {
        Some(bump) => Disconnected::Applied { seq: bump.seq },
        None => Disconnected::NotConnected,
    })
}
