//! Sessions in D1, and the session operations shared by the HTTP routes and the socket
//! events (`update-metadata`, `update-state`, `session-alive`, `session-end`).
//!
//! Every operation takes `(db, user_id, inputs)`, runs ONE D1 batch (or statement), decides its
//! answer from what that batch returned, and hands back the events to publish as an
//! [`Outbox`]; the caller publishes it with `realtime::publish` (or delivers it itself, inside
//! the Durable Object). Another account's session, or a deleted one, behaves as absent.

use serde::Deserialize;

use crate::args;
use crate::config::now_ms;
use crate::crypto::util::uuid_v7;
use crate::db::versioned::{self, Column, Outcome};
use crate::db::{bump_account_seq_if, first_row, Db, SeqRow, Statement};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, sessions as ev, Outbox, Recipients};

/// Columns of [`SessionRow`], in its order.
const COLUMNS: &str = "id, seq, metadata, metadata_version, agent_state, agent_state_version, data_encryption_key, \
                       active, last_active_at, created_at, updated_at";

/// A live session owned by `?1` with id `?2`.
const LIVE: &str = "account_id = ?1 AND id = ?2 AND deleted_at IS NULL";

/// How long a session counts as active without a heartbeat (GET /v2/sessions/active).
pub const ACTIVE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// `session-alive` / `machine-alive` times older than this are ignored
/// (docs/protocol.md#client-events).
pub const STALE_HEARTBEAT_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Clone, Deserialize)]
pub struct SessionRow {
    pub id: String,
    pub seq: i64,
    pub metadata: String,
    pub metadata_version: i64,
    pub agent_state: Option<String>,
    pub agent_state_version: i64,
    pub data_encryption_key: Option<String>,
    pub active: i64,
    pub last_active_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The wire session (`wire::sessions::Session`) built by SQLite, for [`list_recent_json`].
const WIRE_JSON: &str = "json_object('id', id, 'seq', seq, 'createdAt', created_at, 'updatedAt', updated_at,
    'active', json(CASE WHEN active THEN 'true' ELSE 'false' END), 'activeAt', last_active_at,
    'metadata', metadata, 'metadataVersion', metadata_version, 'agentState', agent_state,
    'agentStateVersion', agent_state_version, 'dataEncryptionKey', data_encryption_key, 'lastMessage', NULL)";

#[derive(Deserialize)]
struct JsonRow {
    body: String,
}

/// GET /v1/sessions (the hot route): the JSON body `{"sessions":[...]}` of the `limit` most
/// recently updated live sessions, built by SQLite in one query: the rows never cross into
/// Rust values (one string instead of 150 x 12 decoded fields, a Value tree and a re-encode).
/// Its bodies are byte-identical to serialising `wire::sessions::SessionList` (the tests below
/// run this SQL in SQLite; tests/sessions.rs compares list items with GET /v1/sessions/:id).
pub async fn list_recent_json(db: &Db, user_id: &str, limit: u32) -> ApiResult<String> {
    let row: Option<JsonRow> = db.first(&list_recent_sql(), args![user_id, limit]).await?;
    Ok(row.map(|r| r.body).unwrap_or_else(|| r#"{"sessions":[]}"#.to_string()))
}

/// [`list_recent_json`]'s statement (`?1` account, `?2` limit). The subquery's order is the
/// array's order; `json(s)` keeps each object JSON rather than a quoted string once it has
/// passed through the subquery.
fn list_recent_sql() -> String {
    format!(
        "SELECT '{{\"sessions\":' || coalesce(json_group_array(json(s)), '[]') || '}}' AS body FROM (
         SELECT {WIRE_JSON} AS s FROM sessions WHERE account_id = ?1 AND deleted_at IS NULL
         ORDER BY updated_at DESC LIMIT ?2)"
    )
}

/// GET /v2/sessions: newest first by id (ids are UUID v7), strictly after the cursor's id,
/// optionally only those updated after `changed_since`. Reads `limit + 1` rows so the caller
/// knows whether there is a next page.
pub async fn list_page(
    db: &Db,
    user_id: &str,
    before_id: Option<&str>,
    changed_since: Option<i64>,
    limit: u32,
) -> ApiResult<Vec<SessionRow>> {
    let page = list_page_statement(user_id, before_id, changed_since, limit);
    db.all(&page.sql, &page.args).await
}

/// [`list_page`]'s statement. Each filter is written only when given, as a range SQLite can
/// look up in an index: the cursor in `(account_id, id)`, the change time in
/// `(account_id, updated_at)`. Written as `?2 IS NULL OR id < ?2`, neither could be, and a
/// sync asking what changed since its last call read every session of the account.
fn list_page_statement(user_id: &str, before_id: Option<&str>, changed_since: Option<i64>, limit: u32) -> Statement {
    let cursor = if before_id.is_some() { " AND id < ?2" } else { "" };
    let since = if changed_since.is_some() { " AND updated_at > ?3" } else { "" };
    Statement {
        sql: format!(
            "SELECT {COLUMNS} FROM sessions WHERE account_id = ?1 AND deleted_at IS NULL{cursor}{since}
             ORDER BY id DESC LIMIT ?4"
        ),
        args: args![user_id, before_id, changed_since, limit + 1].to_vec(),
    }
}

/// GET /v2/sessions/active: active sessions with a heartbeat in the last 15 minutes.
pub async fn list_active(db: &Db, user_id: &str, limit: u32) -> ApiResult<Vec<SessionRow>> {
    db.all(
        &format!(
            "SELECT {COLUMNS} FROM sessions WHERE account_id = ?1 AND deleted_at IS NULL AND active = 1
             AND last_active_at > ?2 ORDER BY last_active_at DESC LIMIT ?3"
        ),
        args![user_id, now_ms() - ACTIVE_WINDOW_MS, limit],
    )
    .await
}

pub async fn get(db: &Db, user_id: &str, session_id: &str) -> ApiResult<Option<SessionRow>> {
    db.first(&format!("SELECT {COLUMNS} FROM sessions WHERE {LIVE}"), args![user_id, session_id]).await
}

pub fn not_found() -> ApiError {
    ApiError::not_found("Session not found")
}

/// POST /v1/sessions input, already validated.
pub struct NewSession<'a> {
    pub tag: &'a str,
    pub metadata: &'a str,
    pub agent_state: Option<&'a str>,
    pub data_encryption_key: Option<&'a str>,
}

/// Creates the session of `tag`, or returns the live one that has it. Race-safe: concurrent
/// creates with one tag yield one session (the unique index on live tags, and the insert and
/// its seq bump commit together). A new session emits `new-session` to *user*.
pub async fn create(db: &Db, user_id: &str, input: &NewSession<'_>) -> ApiResult<(SessionRow, Outbox)> {
    let now = now_ms();
    let id = uuid_v7(now);
    let tag_is_free = "NOT EXISTS (SELECT 1 FROM sessions WHERE account_id = ?1 AND tag = ?2 AND deleted_at IS NULL)";
    let results = db
        .batch(vec![
            bump_account_seq_if(db, user_id, tag_is_free, args![input.tag])?,
            db.stmt(
                "INSERT INTO sessions (id, account_id, tag, metadata, agent_state, data_encryption_key, active,
                 last_active_at, created_at, updated_at) VALUES (?3, ?1, ?2, ?4, ?5, ?6, 1, ?7, ?7, ?7)
                 ON CONFLICT (account_id, tag) WHERE deleted_at IS NULL DO NOTHING",
                args![user_id, input.tag, &id, input.metadata, input.agent_state, input.data_encryption_key, now],
            )?,
            db.stmt(
                &format!("SELECT {COLUMNS} FROM sessions WHERE account_id = ?1 AND tag = ?2 AND deleted_at IS NULL"),
                args![user_id, input.tag],
            )?,
        ])
        .await?;
    let session: SessionRow =
        first_row(&results[2])?.ok_or_else(|| ApiError::internal("session upsert returned nothing"))?;
    let mut outbox = Outbox::default();
    if session.id == id {
        if let Some(bump) = first_row::<SeqRow>(&results[0])? {
            outbox = outbox.update(bump.seq, ev::new_session((&session).into()), Recipients::User);
        }
    }
    Ok((session, outbox))
}

/// DELETE /v1/sessions/:id (docs/compatibility.md C5): the row stays, inactive and marked deleted,
/// hidden from every read; its messages and access keys are dropped. Emits `delete-session` to
/// *user*. `Err(404)` when not a live session of the user.
pub async fn delete(db: &Db, user_id: &str, session_id: &str) -> ApiResult<Outbox> {
    let now = now_ms();
    let results = db
        .batch(vec![
            bump_account_seq_if(db, user_id, &format!("EXISTS (SELECT 1 FROM sessions WHERE {LIVE})"), args![session_id])?,
            db.stmt(
                &format!("UPDATE sessions SET active = 0, deleted_at = ?3, updated_at = ?3 WHERE {LIVE} RETURNING id"),
                args![user_id, session_id, now],
            )?,
            db.stmt(
                "DELETE FROM session_messages WHERE session_id IN (SELECT id FROM sessions WHERE account_id = ?1 AND id = ?2)",
                args![user_id, session_id],
            )?,
            db.stmt("DELETE FROM access_keys WHERE account_id = ?1 AND session_id = ?2", args![user_id, session_id])?,
        ])
        .await?;
    let bump = first_row::<SeqRow>(&results[0])?.ok_or_else(not_found)?;
    Ok(Outbox::default().update(bump.seq, ev::delete_session(session_id), Recipients::User))
}

#[derive(Deserialize)]
struct ActiveAtRow {
    last_active_at: i64,
}

/// Sets `active` and `last_active_at` of a live session; `None` when it is not one.
async fn set_activity(db: &Db, user_id: &str, session_id: &str, active: bool, at: i64) -> ApiResult<Option<i64>> {
    let row: Option<ActiveAtRow> = db
        .first(
            &format!("UPDATE sessions SET active = ?3, last_active_at = ?4 WHERE {LIVE} RETURNING last_active_at"),
            args![user_id, session_id, active, at],
        )
        .await?;
    Ok(row.map(|r| r.last_active_at))
}

/// POST /v1/sessions/:id/archive: inactive now; ephemeral `activity` (active false) to
/// *user*. `Err(404)` when not a live session of the user.
pub async fn archive(db: &Db, user_id: &str, session_id: &str) -> ApiResult<Outbox> {
    let at = set_activity(db, user_id, session_id, false, now_ms()).await?.ok_or_else(not_found)?;
    Ok(Outbox::default().ephemeral(ev::activity(session_id, false, at, false), Recipients::User))
}

/// A heartbeat time as the socket handlers take it: `None` (ignore) when older than 10
/// minutes, future times clamped to now.
pub fn heartbeat_time(time: i64, now: i64) -> Option<i64> {
    (time >= now - STALE_HEARTBEAT_MS).then(|| time.min(now))
}

/// Socket `session-alive {sid, time, thinking}`: marks the session active at `time` and emits
/// ephemeral `activity` to *user*. An empty outbox when the time is stale or the session is
/// not a live one of the user. One UPDATE: the caller throttles how often it calls this.
pub async fn session_alive(db: &Db, user_id: &str, session_id: &str, time: i64, thinking: bool) -> ApiResult<Outbox> {
    let Some(at) = heartbeat_time(time, now_ms()) else { return Ok(Outbox::default()) };
    Ok(match set_activity(db, user_id, session_id, true, at).await? {
        Some(at) => Outbox::default().ephemeral(ev::activity(session_id, true, at, thinking), Recipients::User),
        None => Outbox::default(),
    })
}

/// Socket `session-end {sid, time}`: inactive at `time` (clamped to now); ephemeral `activity`
/// (active false, thinking false) to *user*. Empty outbox for an unknown session.
pub async fn session_end(db: &Db, user_id: &str, session_id: &str, time: i64) -> ApiResult<Outbox> {
    let at = time.min(now_ms());
    Ok(match set_activity(db, user_id, session_id, false, at).await? {
        Some(at) => Outbox::default().ephemeral(ev::activity(session_id, false, at, false), Recipients::User),
        None => Outbox::default(),
    })
}

/// The session's metadata, for [`versioned::compare_and_set`].
const METADATA: Column =
    Column { table: "sessions", value: "metadata", version: "metadata_version", owned: LIVE, also_set: "" };

/// The session's agent state, for [`versioned::compare_and_set`].
const AGENT_STATE: Column =
    Column { table: "sessions", value: "agent_state", version: "agent_state_version", owned: LIVE, also_set: "" };

/// Socket `update-metadata {sid, metadata, expectedVersion}`: compare-and-set of the metadata.
/// Success emits `update-session {id, metadata:{value, version}}` to *session*.
pub async fn update_metadata(
    db: &Db,
    user_id: &str,
    session_id: &str,
    metadata: &str,
    expected_version: i64,
) -> ApiResult<(Outcome, Outbox)> {
    let outcome =
        versioned::compare_and_set(db, user_id, session_id, &METADATA, Some(metadata), expected_version).await?;
    let outbox = match &outcome {
        Outcome::Applied { seq, current } => Outbox::default().update(
            *seq,
            ev::update_session_metadata(session_id, current.value.as_deref().unwrap_or(""), current.version),
            events::session(session_id),
        ),
        _ => Outbox::default(),
    };
    Ok((outcome, outbox))
}

/// Socket `update-state {sid, agentState (or null), expectedVersion}`: as [`update_metadata`],
/// with `agentState` in the `update-session` body.
pub async fn update_agent_state(
    db: &Db,
    user_id: &str,
    session_id: &str,
    agent_state: Option<&str>,
    expected_version: i64,
) -> ApiResult<(Outcome, Outbox)> {
    let outcome =
        versioned::compare_and_set(db, user_id, session_id, &AGENT_STATE, agent_state, expected_version).await?;
    let outbox = match &outcome {
        Outcome::Applied { seq, current } => Outbox::default().update(
            *seq,
            ev::update_session_agent_state(session_id, current.value.as_deref(), current.version),
            events::session(session_id),
        ),
        _ => Outbox::default(),
    };
    Ok((outcome, outbox))
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::app::schema::{conforms, response_schema};
    use crate::db::in_sqlite;
    use crate::wire::sessions::SessionList;

    #[test]
    fn a_page_of_sessions_reads_from_its_cursor_and_a_sync_only_what_changed() {
        let inserts: String = (1..=30).map(|i| insert(&row(&format!("s{i:02}"), i), "a", false)).collect();
        let page = |cursor: Option<&str>, since: Option<i64>| list_page_statement("a", cursor, since, 3);
        let cases = [page(None, None), page(Some("s20"), None), page(None, Some(27)), page(Some("s29"), Some(26))];
        let ids = in_sqlite::run(&inserts, &cases, false)
            .iter()
            .map(|rows| rows.iter().map(|r| r[0].as_str().unwrap().to_string()).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>();
        assert_eq!(ids, ["s30 s29 s28 s27", "s19 s18 s17 s16", "s30 s29 s28", "s28 s27"]);
        // Each filter narrows the index it is looked up in; none walks the account's sessions.
        let plans = in_sqlite::run("", &cases, true);
        let plan = |i: usize| in_sqlite::steps(&plans[i]).collect::<Vec<_>>().join("; ");
        assert!(plan(1).contains("(account_id=? AND id<?)"), "{}", plan(1));
        assert!(plan(2).contains("(account_id=? AND updated_at>?)"), "{}", plan(2));
    }

    #[test]
    fn heartbeat_times() {
        let now = 1_000_000_000;
        assert_eq!(heartbeat_time(now - 1000, now), Some(now - 1000));
        assert_eq!(heartbeat_time(now + 60_000, now), Some(now));
        assert_eq!(heartbeat_time(now - STALE_HEARTBEAT_MS - 1, now), None);
    }

    fn sql_text(v: Option<&str>) -> String {
        v.map_or("NULL".into(), |s| format!("'{s}'"))
    }

    /// An INSERT of `r` (values free of single quotes) into account `account`.
    pub(crate) fn insert(r: &SessionRow, account: &str, deleted: bool) -> String {
        format!(
            "INSERT INTO sessions (id, account_id, tag, seq, metadata, metadata_version, agent_state,
             agent_state_version, data_encryption_key, active, last_active_at, deleted_at, created_at, updated_at)
             VALUES ('{}', '{account}', '{}', {}, '{}', {}, {}, {}, {}, {}, {}, {}, {}, {});",
            r.id,
            r.id,
            r.seq,
            r.metadata,
            r.metadata_version,
            sql_text(r.agent_state.as_deref()),
            r.agent_state_version,
            sql_text(r.data_encryption_key.as_deref()),
            r.active,
            r.last_active_at,
            if deleted { "1" } else { "NULL" },
            r.created_at,
            r.updated_at
        )
    }

    pub(crate) fn row(id: &str, updated_at: i64) -> SessionRow {
        SessionRow {
            id: id.into(),
            seq: 7,
            // JSON escapes differ most on quotes, backslashes and non-ASCII.
            metadata: "m\"\\é/\u{1}".into(),
            metadata_version: 2,
            agent_state: None,
            agent_state_version: 0,
            data_encryption_key: Some("k".into()),
            active: 1,
            last_active_at: 1_700_000_000_005,
            created_at: 1_700_000_000_001,
            updated_at,
        }
    }

    /// The hot route's SQL-built body is byte for byte `wire::sessions::SessionList`.
    #[test]
    fn list_recent_sql_builds_the_wire_session_list() {
        let old = row("s1", 1_700_000_000_002);
        let new = SessionRow {
            agent_state: Some("c3RhdGU=".into()),
            agent_state_version: 3,
            data_encryption_key: None,
            active: 0,
            ..row("s2", 1_700_000_000_003)
        };
        let inserts = [insert(&old, "a", false), insert(&new, "a", false), insert(&row("s3", 9), "a", true)].join("\n")
            + &insert(&row("s4", 9), "b", false);
        let body = in_sqlite::first_row(&inserts, &list_recent_sql(), args!["a", 150_i64]);
        let typed = SessionList { sessions: vec![(&new).into(), (&old).into()] };
        assert_eq!(body, [json!(serde_json::to_string(&typed).unwrap())]);
        let parsed: Value = serde_json::from_str(body[0].as_str().unwrap()).unwrap();
        conforms(&response_schema::<SessionList>(), &parsed).unwrap();

        let limited = in_sqlite::first_row(&inserts, &list_recent_sql(), args!["a", 1_i64]);
        assert_eq!(limited, [json!(serde_json::to_string(&SessionList { sessions: vec![(&new).into()] }).unwrap())]);
        // No session: no row in the group, and `coalesce` answers the empty list.
        let none = in_sqlite::first_row(&inserts, &list_recent_sql(), args!["c", 150_i64]);
        assert_eq!(none, [json!(serde_json::to_string(&SessionList { sessions: vec![] }).unwrap())]);
    }
}
