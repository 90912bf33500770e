//! The per-account key-value store (`kv_items`) with optimistic versions. A mutation batch
//! applies all or nothing: guarded writes, then a guard statement that aborts the transaction
//! unless every write applied, so there is no gap between the version check and the write.

use serde::Deserialize;

use super::{bump_account_seq, first_row, guard, rows, Db, SeqRow};
use crate::args;
use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::domain::kv::{Mutation, ABSENT};
use crate::error::{ApiError, ApiResult};

/// A stored item (deleted keys are never returned).
#[derive(Debug, Clone, Deserialize)]
pub struct Item {
    pub key: String,
    pub value: String,
    pub version: i64,
}

/// What a mutation batch did.
#[derive(Debug)]
pub enum Mutated {
    Applied {
        /// The account seq that numbers the batch.
        seq: i64,
        /// Each mutation's key and the version it left (-1: absent), in request order.
        versions: Vec<(String, i64)>,
        /// What the batch changed, in request order: `(key, value, version)`, a deleted key
        /// with `None` and -1; asserting that a key is absent changes nothing.
        changed: Vec<(String, Option<String>, i64)>,
    },
    /// Rolled back: every mutation whose expectation does not hold now.
    Mismatch(Vec<Conflict>),
}

/// A key whose version is not the one its mutation expected.
#[derive(Debug)]
pub struct Conflict {
    pub key: String,
    /// The key's current version, -1 when absent.
    pub version: i64,
    pub value: Option<String>,
}

/// The account's item at `key`, if any.
pub async fn get(db: &Db, user_id: &str, key: &str) -> ApiResult<Option<Item>> {
    db.first(
        "SELECT key, value, version FROM kv_items WHERE account_id = ?1 AND key = ?2 AND value IS NOT NULL",
        args![user_id, key],
    )
    .await
}

/// Up to `limit` of the account's items whose key starts with `prefix`, by key.
pub async fn list(db: &Db, user_id: &str, prefix: &str, limit: i64) -> ApiResult<Vec<Item>> {
    db.all(
        "SELECT key, value, version FROM kv_items
         WHERE account_id = ?1 AND substr(key, 1, length(?2)) = ?2 AND value IS NOT NULL
         ORDER BY key LIMIT ?3",
        args![user_id, prefix, limit],
    )
    .await
}

/// The account's existing items among `keys`, by key.
pub async fn get_many(db: &Db, user_id: &str, keys: &[&str]) -> ApiResult<Vec<Item>> {
    db.all(
        "SELECT key, value, version FROM kv_items
         WHERE account_id = ?1 AND key IN (SELECT value FROM json_each(?2)) AND value IS NOT NULL ORDER BY key",
        args![user_id, serde_json::to_string(keys)?],
    )
    .await
}

/// Applies a validated batch (distinct keys) in one transaction, or nothing when any
/// expectation fails.
pub async fn mutate(db: &Db, user_id: &str, batch: &[Mutation]) -> ApiResult<Mutated> {
    let batch_id = uuid_v4();
    let now = now_ms();

    // Creates need the key absent; updates and deletes need the exact version (a delete first
    // writes a NULL tombstone so the guard can count it, and is swept after the guard).
    // "Delete a key that does not exist" (-1, null) only asserts absence.
    let creates: Vec<&Mutation> = batch.iter().filter(|m| m.version == ABSENT && m.value.is_some()).collect();
    let writes: Vec<&Mutation> = batch.iter().filter(|m| m.version != ABSENT).collect();
    let absent: Vec<&str> =
        batch.iter().filter(|m| m.version == ABSENT && m.value.is_none()).map(|m| m.key.as_str()).collect();
    // Cannot fail: a mutation is strings and a number.
    let as_json = |ms: &[&Mutation]| serde_json::to_string(ms).expect("mutations serialize");
    let applied = creates.len() + writes.len();
    let stmts = vec![
        db.stmt(
            "UPDATE kv_items SET value = m.value, version = kv_items.version + 1, batch_id = ?2, updated_at = ?3
             FROM (SELECT json_extract(j.value, '$.key') AS key, json_extract(j.value, '$.value') AS value,
                          json_extract(j.value, '$.version') AS expected FROM json_each(?4) j) AS m
             WHERE kv_items.account_id = ?1 AND kv_items.key = m.key AND kv_items.version = m.expected
               AND kv_items.value IS NOT NULL",
            args![user_id, &batch_id, now, as_json(&writes)],
        )?,
        db.stmt(
            "INSERT INTO kv_items (account_id, key, value, version, batch_id, created_at, updated_at)
             SELECT ?1, json_extract(j.value, '$.key'), json_extract(j.value, '$.value'), 0, ?2, ?3, ?3
             FROM json_each(?4) j WHERE true
             ON CONFLICT (account_id, key) DO NOTHING",
            args![user_id, &batch_id, now, as_json(&creates)],
        )?,
        guard(
            db,
            "(SELECT COUNT(*) FROM kv_items WHERE account_id = ?1 AND batch_id = ?2) = ?3
             AND NOT EXISTS (SELECT 1 FROM kv_items WHERE account_id = ?1 AND key IN (SELECT value FROM json_each(?4)))",
            args![user_id, &batch_id, applied, serde_json::to_string(&absent)?],
        )?,
        db.stmt(
            "SELECT key, value, version FROM kv_items WHERE account_id = ?1 AND batch_id = ?2",
            args![user_id, &batch_id],
        )?,
        db.stmt(
            "DELETE FROM kv_items WHERE account_id = ?1 AND batch_id = ?2 AND value IS NULL",
            args![user_id, &batch_id],
        )?,
        bump_account_seq(db, user_id)?,
    ];
    let Some(results) = db.batch_guarded(stmts).await? else {
        return Ok(Mutated::Mismatch(conflicts(db, user_id, batch).await?));
    };

    #[derive(Deserialize)]
    struct Written {
        key: String,
        value: Option<String>,
        version: i64,
    }
    let written: Vec<Written> = rows(&results[3])?;
    let seq = first_row::<SeqRow>(&results[5])?.ok_or_else(|| ApiError::internal("seq bump returned nothing"))?;
    // A deleted (or asserted-absent) key reports version -1.
    let changes: Vec<(String, Option<String>, i64)> = batch
        .iter()
        .map(|m| {
            let version = match (&m.value, written.iter().find(|w| w.key == m.key)) {
                (Some(_), Some(w)) if w.value.is_some() => w.version,
                _ => ABSENT,
            };
            (m.key.clone(), m.value.clone(), version)
        })
        .collect();
    let versions = changes.iter().map(|(k, _, v)| (k.clone(), *v)).collect();
    let changed = changes.into_iter().filter(|(k, _, _)| !absent.contains(&k.as_str())).collect();
    Ok(Mutated::Applied { seq: seq.seq, versions, changed })
}

/// After a rolled-back batch: every mutation whose expectation does not hold now, with the
/// key's current version and value.
async fn conflicts(db: &Db, user_id: &str, batch: &[Mutation]) -> ApiResult<Vec<Conflict>> {
    let keys: Vec<&str> = batch.iter().map(|m| m.key.as_str()).collect();
    let current = get_many(db, user_id, &keys).await?;
    Ok(batch
        .iter()
        .filter_map(|m| {
            let now = current.iter().find(|c| c.key == m.key);
            let version = now.map(|c| c.version).unwrap_or(ABSENT);
            (version != m.version).then(|| Conflict {
                key: m.key.clone(),
                version,
                value: now.map(|c| c.value.clone()),
            })
        })
        .collect())
}
