//! Records carried over from another Happy server (happy-move), written as the source holds
//! them: ids, seqs, versions and timestamps kept. Each call is one statement over a JSON array
//! (`json_each`), so a page of records costs one D1 query whatever its length. Nothing is ever
//! overwritten with older data: a row is inserted when missing, and an existing row of the same
//! account takes only what is newer (a higher version, a later timestamp); a row of another
//! account under the same id is left alone, and the mover's verification reports it.

use serde::Deserialize;

use super::{changes, first_row, Db};
use crate::args;
use crate::error::{ApiError, ApiResult};

/// The account behind a signed challenge: created with `claimed_id` when a token of this
/// server's key names that id and neither the id nor the key is held yet, else the key's
/// existing account, else a new one under `fresh_id`. Returns the account's id.
pub async fn account(
    db: &Db,
    public_key: &str,
    claimed_id: Option<&str>,
    fresh_id: &str,
    now: i64,
) -> ApiResult<String> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
    }
    let mut stmts = Vec::new();
    if let Some(id) = claimed_id {
        stmts.push(db.stmt(
            "INSERT INTO accounts (id, public_key, created_at, updated_at) SELECT ?1, ?2, ?3, ?3
             WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE id = ?1 OR public_key = ?2)",
            args![id, public_key, now],
        )?);
    }
    stmts.push(db.stmt(
        "INSERT INTO accounts (id, public_key, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT(public_key) DO UPDATE SET updated_at = excluded.updated_at RETURNING id",
        args![fresh_id, public_key, now],
    )?);
    let results = db.batch(stmts).await?;
    let last = results.last().ok_or_else(|| ApiError::internal("account import returned nothing"))?;
    Ok(first_row::<Row>(last)?.ok_or_else(|| ApiError::internal("account upsert returned nothing"))?.id)
}

/// Sessions (`records`: a JSON array of the wire's fields). The seq stays 0 on insert and is
/// raised by [`messages`] as they arrive, so a move killed between the two resumes from the
/// destination's seq. The source's tag is not served by any Happy server's API: a moved
/// session's tag is `moved:<id>`. Returns the rows written.
pub async fn sessions(db: &Db, account: &str, records: &str) -> ApiResult<u64> {
    db.run(
        "INSERT INTO sessions (id, account_id, tag, seq, metadata, metadata_version, agent_state,
             agent_state_version, data_encryption_key, active, last_active_at, created_at, updated_at)
         SELECT s.value->>'id', ?1, 'moved:' || (s.value->>'id'), 0, s.value->>'metadata',
             s.value->>'metadataVersion', s.value->>'agentState', s.value->>'agentStateVersion',
             s.value->>'dataEncryptionKey', s.value->>'active', s.value->>'activeAt',
             s.value->>'createdAt', s.value->>'updatedAt'
         FROM json_each(?2) AS s WHERE true
         ON CONFLICT (id) DO UPDATE SET
             metadata = CASE WHEN excluded.metadata_version > sessions.metadata_version
                 THEN excluded.metadata ELSE sessions.metadata END,
             metadata_version = max(sessions.metadata_version, excluded.metadata_version),
             agent_state = CASE WHEN excluded.agent_state_version > sessions.agent_state_version
                 THEN excluded.agent_state ELSE sessions.agent_state END,
             agent_state_version = max(sessions.agent_state_version, excluded.agent_state_version),
             active = CASE WHEN excluded.updated_at > sessions.updated_at
                 THEN excluded.active ELSE sessions.active END,
             last_active_at = max(sessions.last_active_at, excluded.last_active_at),
             updated_at = max(sessions.updated_at, excluded.updated_at)
         WHERE sessions.account_id = excluded.account_id AND sessions.deleted_at IS NULL
             AND (excluded.metadata_version > sessions.metadata_version
                 OR excluded.agent_state_version > sessions.agent_state_version
                 OR excluded.updated_at > sessions.updated_at
                 OR excluded.last_active_at > sessions.last_active_at)
         ON CONFLICT DO NOTHING",
        args![account, records],
    )
    .await
}

/// One session's messages (`records`: `[{id, seq, localId, content, createdAt, updatedAt}]`,
/// `content` the ciphertext), inserted when their id, seq and localId are all free, then the
/// session's seq raised to its last message. `None` when the session is not the account's.
pub async fn messages(db: &Db, account: &str, session: &str, records: &str) -> ApiResult<Option<u64>> {
    let results = db
        .batch(vec![
            db.stmt(
                "SELECT 1 AS found FROM sessions WHERE id = ?1 AND account_id = ?2 AND deleted_at IS NULL",
                args![session, account],
            )?,
            db.stmt(
                "INSERT INTO session_messages (id, session_id, seq, local_id, content, created_at, updated_at)
                 SELECT m.value->>'id', ?1, m.value->>'seq', m.value->>'localId', m.value->>'content',
                     m.value->>'createdAt', m.value->>'updatedAt'
                 FROM json_each(?3) AS m
                 WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?1 AND account_id = ?2 AND deleted_at IS NULL)
                 ON CONFLICT DO NOTHING",
                args![session, account, records],
            )?,
            db.stmt(
                "UPDATE sessions SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM session_messages WHERE session_id = ?1))
                 WHERE id = ?1 AND account_id = ?2",
                args![session, account],
            )?,
        ])
        .await?;
    if first_row::<serde_json::Value>(&results[0])?.is_none() {
        return Ok(None);
    }
    Ok(Some(changes(&results[1])))
}

/// Machines (`records`: the wire's fields). Returns the rows written.
pub async fn machines(db: &Db, account: &str, records: &str) -> ApiResult<u64> {
    db.run(
        "INSERT INTO machines (id, account_id, metadata, metadata_version, daemon_state, daemon_state_version,
             data_encryption_key, seq, active, last_active_at, created_at, updated_at)
         SELECT m.value->>'id', ?1, m.value->>'metadata', m.value->>'metadataVersion', m.value->>'daemonState',
             m.value->>'daemonStateVersion', m.value->>'dataEncryptionKey', m.value->>'seq', m.value->>'active',
             m.value->>'activeAt', m.value->>'createdAt', m.value->>'updatedAt'
         FROM json_each(?2) AS m WHERE true
         ON CONFLICT (id) DO UPDATE SET
             metadata = CASE WHEN excluded.metadata_version > machines.metadata_version
                 THEN excluded.metadata ELSE machines.metadata END,
             metadata_version = max(machines.metadata_version, excluded.metadata_version),
             daemon_state = CASE WHEN excluded.daemon_state_version > machines.daemon_state_version
                 THEN excluded.daemon_state ELSE machines.daemon_state END,
             daemon_state_version = max(machines.daemon_state_version, excluded.daemon_state_version),
             seq = max(machines.seq, excluded.seq),
             active = CASE WHEN excluded.updated_at > machines.updated_at
                 THEN excluded.active ELSE machines.active END,
             last_active_at = max(machines.last_active_at, excluded.last_active_at),
             updated_at = max(machines.updated_at, excluded.updated_at)
         WHERE machines.account_id = excluded.account_id
             AND (excluded.metadata_version > machines.metadata_version
                 OR excluded.daemon_state_version > machines.daemon_state_version
                 OR excluded.seq > machines.seq
                 OR excluded.updated_at > machines.updated_at
                 OR excluded.last_active_at > machines.last_active_at)",
        args![account, records],
    )
    .await
}

/// KV items (`records`: `[{key, value, version}]`): inserted, or replacing a lower version.
pub async fn kv(db: &Db, account: &str, records: &str, now: i64) -> ApiResult<u64> {
    db.run(
        "INSERT INTO kv_items (account_id, key, value, version, created_at, updated_at)
         SELECT ?1, k.value->>'key', k.value->>'value', k.value->>'version', ?3, ?3
         FROM json_each(?2) AS k WHERE true
         ON CONFLICT (account_id, key) DO UPDATE SET
             value = excluded.value, version = excluded.version, updated_at = excluded.updated_at
         WHERE excluded.version > kv_items.version",
        args![account, records, now],
    )
    .await
}

/// Artifacts (`records`: the full wire, header and body): inserted, or taking a newer header or
/// body. Returns the rows written.
pub async fn artifacts(db: &Db, account: &str, records: &str) -> ApiResult<u64> {
    db.run(
        "INSERT INTO artifacts (id, account_id, header, header_version, body, body_version, data_encryption_key,
             seq, created_at, updated_at)
         SELECT a.value->>'id', ?1, a.value->>'header', a.value->>'headerVersion', a.value->>'body',
             a.value->>'bodyVersion', a.value->>'dataEncryptionKey', a.value->>'seq', a.value->>'createdAt',
             a.value->>'updatedAt'
         FROM json_each(?2) AS a WHERE true
         ON CONFLICT (id) DO UPDATE SET
             header = CASE WHEN excluded.header_version > artifacts.header_version
                 THEN excluded.header ELSE artifacts.header END,
             header_version = max(artifacts.header_version, excluded.header_version),
             body = CASE WHEN excluded.body_version > artifacts.body_version
                 THEN excluded.body ELSE artifacts.body END,
             body_version = max(artifacts.body_version, excluded.body_version),
             seq = max(artifacts.seq, excluded.seq),
             updated_at = max(artifacts.updated_at, excluded.updated_at)
         WHERE artifacts.account_id = excluded.account_id
             AND (excluded.header_version > artifacts.header_version
                 OR excluded.body_version > artifacts.body_version
                 OR excluded.seq > artifacts.seq
                 OR excluded.updated_at > artifacts.updated_at)",
        args![account, records],
    )
    .await
}

/// Access keys (`records`: `[{sessionId, machineId, data, dataVersion, createdAt, updatedAt}]`),
/// for sessions and machines of the account only: inserted, or replacing a lower version.
pub async fn access_keys(db: &Db, account: &str, records: &str) -> ApiResult<u64> {
    db.run(
        "INSERT INTO access_keys (account_id, session_id, machine_id, data, data_version, created_at, updated_at)
         SELECT ?1, k.value->>'sessionId', k.value->>'machineId', k.value->>'data', k.value->>'dataVersion',
             k.value->>'createdAt', k.value->>'updatedAt'
         FROM json_each(?2) AS k
         WHERE EXISTS (SELECT 1 FROM sessions WHERE id = k.value->>'sessionId' AND account_id = ?1 AND deleted_at IS NULL)
             AND EXISTS (SELECT 1 FROM machines WHERE id = k.value->>'machineId' AND account_id = ?1)
         ON CONFLICT (account_id, session_id, machine_id) DO UPDATE SET
             data = excluded.data, data_version = excluded.data_version, updated_at = excluded.updated_at
         WHERE excluded.data_version > access_keys.data_version",
        args![account, records],
    )
    .await
}

/// The account's settings ciphertext, when its version is newer than the one held.
pub async fn settings(db: &Db, account: &str, settings: Option<&str>, version: i64, now: i64) -> ApiResult<u64> {
    db.run(
        "UPDATE accounts SET settings = ?2, settings_version = ?3, updated_at = ?4 WHERE id = ?1 AND settings_version < ?3",
        args![account, settings.map(str::to_string), version, now],
    )
    .await
}

/// An account's names and username, as the source holds them.
pub struct Profile {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
}

/// The account's names and username where the account has none: the API gives a profile no
/// version to tell which side is newer, so a value held here is never overwritten (the mover's
/// verification reports a different one). The username is written only when free here: no
/// other account holds it, in the column's case-insensitive sense. `None` when the account
/// would take a username another account holds: nothing is written.
pub async fn profile(db: &Db, account: &str, p: &Profile, now: i64) -> ApiResult<Option<u64>> {
    let results = db
        .batch(vec![
            db.stmt(
                "UPDATE accounts SET first_name = coalesce(first_name, ?2), last_name = coalesce(last_name, ?3),
                     username = coalesce(username, ?4), updated_at = ?5
                 WHERE id = ?1
                     AND (username IS NOT NULL OR NOT EXISTS (SELECT 1 FROM accounts WHERE username = ?4 AND id != ?1))
                     AND ((first_name IS NULL AND ?2 IS NOT NULL) OR (last_name IS NULL AND ?3 IS NOT NULL)
                         OR (username IS NULL AND ?4 IS NOT NULL))",
                args![account, &p.first_name, &p.last_name, &p.username, now],
            )?,
            db.stmt(
                "SELECT username IS NULL AND EXISTS (SELECT 1 FROM accounts WHERE username = ?2 AND id != ?1) AS taken
                 FROM accounts WHERE id = ?1",
                args![account, &p.username],
            )?,
        ])
        .await?;
    #[derive(Deserialize)]
    struct Taken {
        taken: i64,
    }
    match first_row::<Taken>(&results[1])? {
        Some(Taken { taken: 0 }) => Ok(Some(changes(&results[0]))),
        _ => Ok(None),
    }
}
