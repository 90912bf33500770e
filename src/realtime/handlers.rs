//! Client events that write D1, over the teammates' ops (`db::sessions`, `db::messages`,
//! `db::machines`, `db::access_keys`, `db::usage`). Each returns the ack value and the outbox
//! the object publishes; the object itself only relays.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::conn::ConnMeta;
use crate::config::now_ms;
use crate::db::artifacts::{self, NewArtifact, Part, Updated};
use crate::db::messages::{self, NewMessage};
use crate::db::versioned::Outcome;
use crate::db::{access_keys, machines, sessions, usage, Db};
use crate::error::ApiError;
use crate::events::{self, Outbox, Recipients};

/// Heartbeats (every 2 s from the CLI, 20 s from the daemon) write D1 at most this often per
/// session or machine; the ephemeral goes out every time.
const ALIVE_WRITE_EVERY_MS: i64 = 30_000;

/// When each session/machine heartbeat last reached D1 (and so is known to be the user's).
#[derive(Default)]
pub struct Throttle {
    last: HashMap<String, i64>,
}

impl Throttle {
    /// Whether the last write is recent enough to skip this one.
    fn recent(&self, key: &str, now: i64) -> bool {
        self.last.get(key).is_some_and(|t| now - t < ALIVE_WRITE_EVERY_MS)
    }

    /// The machine was marked inactive: its next heartbeat must reach D1 again.
    pub fn forget_machine(&mut self, machine_id: &str) {
        self.last.remove(&machine_key(machine_id));
    }

    /// The session was marked inactive: its next heartbeat must reach D1 again.
    pub fn forget_session(&mut self, session_id: &str) {
        self.last.remove(&session_key(session_id));
    }

    fn record(&mut self, key: String, now: i64) {
        if self.last.len() > 1000 {
            self.last.retain(|_, t| now - *t < ALIVE_WRITE_EVERY_MS);
        }
        self.last.insert(key, now);
    }
}

fn machine_key(machine_id: &str) -> String {
    format!("m:{machine_id}")
}

fn session_key(session_id: &str) -> String {
    format!("s:{session_id}")
}

/// Whether `handle` serves this event.
pub fn is_data_event(name: &str) -> bool {
    matches!(
        name,
        "message"
            | "session-alive"
            | "session-end"
            | "update-metadata"
            | "update-state"
            | "machine-alive"
            | "machine-update-metadata"
            | "machine-update-state"
            | "usage-report"
            | "access-key-get"
            | "artifact-read"
            | "artifact-create"
            | "artifact-update"
            | "artifact-delete"
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageEvt {
    sid: String,
    message: String,
    #[serde(default)]
    local_id: Option<String>,
}

#[derive(Deserialize)]
struct AliveEvt {
    sid: String,
    time: f64,
    #[serde(default)]
    thinking: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataEvt {
    sid: String,
    metadata: String,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateEvt {
    sid: String,
    #[serde(default)]
    agent_state: Option<String>,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MachineAliveEvt {
    machine_id: String,
    time: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MachineMetadataEvt {
    machine_id: String,
    metadata: String,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MachineStateEvt {
    machine_id: String,
    daemon_state: String,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageEvt {
    key: String,
    #[serde(default)]
    session_id: Option<String>,
    tokens: Value,
    cost: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactIdEvt {
    artifact_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactCreateEvt {
    id: String,
    header: String,
    body: String,
    data_encryption_key: String,
}

/// A part of `artifact-update`: `{data, expectedVersion}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactPartEvt {
    data: String,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactUpdateEvt {
    artifact_id: String,
    #[serde(default)]
    header: Option<ArtifactPartEvt>,
    #[serde(default)]
    body: Option<ArtifactPartEvt>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessKeyEvt {
    session_id: String,
    machine_id: String,
}

/// The ack of a versioned update: `{result:'success', version, <key>}` with the new value,
/// `{result:'version-mismatch', version, <key>}` with the current one, or `missing`.
fn versioned_ack(outcome: Outcome, key: &str, missing: Value) -> Value {
    let (result, current) = match outcome {
        Outcome::Applied { current, .. } => ("success", current),
        Outcome::Mismatch { current } => ("version-mismatch", current),
        Outcome::Missing => return missing,
    };
    json!({"result": result, "version": current.version, key: current.value})
}

fn machine_missing() -> Value {
    json!({"result": "error", "message": "Machine not found"})
}

fn parse<T: DeserializeOwned>(data: &Value) -> Result<T, ApiError> {
    T::deserialize(data).map_err(|e| ApiError::bad_request(format!("Invalid event data: {e}")))
}

/// Handles one data event; `(ack, outbox)`. Events without a meaningful ack return `None` (the
/// caller acks `{}` when asked).
pub async fn handle(
    db: &Db,
    user: &str,
    conn: &ConnMeta,
    name: &str,
    data: &Value,
    throttle: &std::cell::RefCell<Throttle>,
) -> (Option<Value>, Outbox) {
    let result = match name {
        "message" => message(db, user, conn, data).await.map(|o| (None, o)),
        "session-alive" => session_alive(db, user, data, throttle).await.map(|o| (None, o)),
        "session-end" => match parse::<AliveEvt>(data) {
            Ok(e) => sessions::session_end(db, user, &e.sid, e.time as i64).await.map(|o| (None, o)),
            Err(e) => Err(e),
        },
        "update-metadata" => match parse::<MetadataEvt>(data) {
            Ok(e) => sessions::update_metadata(db, user, &e.sid, &e.metadata, e.expected_version).await,
            Err(e) => Err(e),
        }
        .map(|(outcome, o)| (Some(versioned_ack(outcome, "metadata", json!({"result": "error"}))), o))
        .or_else(|_| Ok((Some(json!({"result": "error"})), Outbox::default()))),
        "update-state" => match parse::<StateEvt>(data) {
            Ok(e) => sessions::update_agent_state(db, user, &e.sid, e.agent_state.as_deref(), e.expected_version).await,
            Err(e) => Err(e),
        }
        .map(|(outcome, o)| (Some(versioned_ack(outcome, "agentState", json!({"result": "error"}))), o))
        .or_else(|_| Ok((Some(json!({"result": "error"})), Outbox::default()))),
        "machine-alive" => machine_alive(db, user, data, throttle).await.map(|o| (None, o)),
        "machine-update-metadata" => match parse::<MachineMetadataEvt>(data) {
            Ok(e) => machines::update_metadata(db, user, &e.machine_id, &e.metadata, e.expected_version).await,
            Err(e) => Err(e),
        }
        .map(|(outcome, o)| (Some(versioned_ack(outcome, "metadata", machine_missing())), o))
        .or_else(|e| Ok((Some(json!({"result": "error", "message": e.message})), Outbox::default()))),
        "machine-update-state" => match parse::<MachineStateEvt>(data) {
            Ok(e) => machines::update_daemon_state(db, user, &e.machine_id, &e.daemon_state, e.expected_version).await,
            Err(e) => Err(e),
        }
        .map(|(outcome, o)| (Some(versioned_ack(outcome, "daemonState", machine_missing())), o))
        .or_else(|e| Ok((Some(json!({"result": "error", "message": e.message})), Outbox::default()))),
        "usage-report" => match parse::<UsageEvt>(data) {
            Ok(e) => usage::record_usage(db, user, e.session_id.as_deref(), &e.key, &e.tokens, &e.cost).await,
            Err(e) => Err(e),
        }
        .map(|(ack, o)| (Some(ack), o))
        .or_else(|e| Ok((Some(json!({"success": false, "error": e.message})), Outbox::default()))),
        "access-key-get" => match parse::<AccessKeyEvt>(data) {
            Ok(e) => access_keys::get(db, user, &e.session_id, &e.machine_id).await,
            Err(e) => Err(e),
        }
        .map(|mut v| {
            v["ok"] = json!(true);
            (Some(v), Outbox::default())
        })
        .or_else(|e| Ok((Some(json!({"ok": false, "error": e.message})), Outbox::default()))),
        "artifact-read" | "artifact-create" | "artifact-update" | "artifact-delete" => {
            let (ack, outbox) = artifact_event(db, user, name, data)
                .await
                .unwrap_or_else(|e| (json!({"result": "error", "message": e.message}), Outbox::default()));
            Ok((Some(ack), outbox))
        }
        _ => Err(ApiError::bad_request(format!("Unknown event: {name}"))),
    };
    result.unwrap_or_else(|e: ApiError| {
        worker::console_log!("socket event {name} failed: {e}");
        (None, Outbox::default())
    })
}

/// The artifact events over the same ops as the HTTP routes; acks `{result: "success", ...}`,
/// `{result: "version-mismatch", header?/body?: {currentVersion, currentData}}` or
/// `{result: "error", message}` (upstream's shapes).
async fn artifact_event(db: &Db, user: &str, name: &str, data: &Value) -> Result<(Value, Outbox), ApiError> {
    match name {
        "artifact-read" => {
            let e: ArtifactIdEvt = parse(data)?;
            let a = artifacts::get(db, user, &e.artifact_id).await?;
            Ok((json!({"result": "success", "artifact": a.wire()}), Outbox::default()))
        }
        "artifact-create" => {
            let e: ArtifactCreateEvt = parse(data)?;
            let new = NewArtifact {
                id: &e.id,
                header: &e.header,
                body: &e.body,
                data_encryption_key: &e.data_encryption_key,
            };
            let (a, outbox) = artifacts::create(db, user, &new).await?;
            Ok((json!({"result": "success", "artifact": a.wire()}), outbox))
        }
        "artifact-update" => {
            let e: ArtifactUpdateEvt = parse(data)?;
            let part = |p: Option<ArtifactPartEvt>| p.map(|p| Part { value: p.data, expected: p.expected_version });
            let sent = |p: &Option<ArtifactPartEvt>| p.as_ref().map(|p| p.data.clone());
            let (header_sent, body_sent) = (sent(&e.header), sent(&e.body));
            let (updated, outbox) = artifacts::update(db, user, &e.artifact_id, part(e.header), part(e.body)).await?;
            let mut ack = serde_json::Map::new();
            match updated {
                Updated::Applied { header, body } => {
                    ack.insert("result".into(), "success".into());
                    for (k, version, value) in [("header", header, header_sent), ("body", body, body_sent)] {
                        if let (Some(version), Some(value)) = (version, value) {
                            ack.insert(k.into(), json!({"version": version, "data": value}));
                        }
                    }
                }
                Updated::Mismatch { header, body } => {
                    ack.insert("result".into(), "version-mismatch".into());
                    for (k, current) in [("header", header), ("body", body)] {
                        if let Some((version, value)) = current {
                            ack.insert(k.into(), json!({"currentVersion": version, "currentData": value}));
                        }
                    }
                }
            }
            Ok((Value::Object(ack), outbox))
        }
        "artifact-delete" => {
            let e: ArtifactIdEvt = parse(data)?;
            let outbox = artifacts::delete(db, user, &e.artifact_id).await?;
            Ok((json!({"result": "success"}), outbox))
        }
        _ => Err(ApiError::bad_request(format!("Unknown event: {name}"))),
    }
}

/// Stored as content `{t:'encrypted', c: message}`; the sender does not get its own echo.
async fn message(db: &Db, user: &str, conn: &ConnMeta, data: &Value) -> Result<Outbox, ApiError> {
    let e: MessageEvt = parse(data)?;
    let new = NewMessage { local_id: e.local_id, ciphertext: e.message };
    let (_, mut outbox) = messages::create_messages(db, user, &e.sid, vec![new]).await?;
    for u in &mut outbox.updates {
        u.skip = Some(conn.id.clone());
    }
    Ok(outbox)
}

async fn session_alive(
    db: &Db,
    user: &str,
    data: &Value,
    throttle: &std::cell::RefCell<Throttle>,
) -> Result<Outbox, ApiError> {
    let e: AliveEvt = parse(data)?;
    let now = now_ms();
    let Some(at) = sessions::heartbeat_time(e.time as i64, now) else { return Ok(Outbox::default()) };
    let thinking = e.thinking.unwrap_or(false);
    let key = session_key(&e.sid);
    if throttle.borrow().recent(&key, now) {
        let body = events::sessions::activity(&e.sid, true, at, thinking);
        return Ok(Outbox::default().ephemeral(body, Recipients::User));
    }
    let outbox = sessions::session_alive(db, user, &e.sid, at, thinking).await?;
    if !outbox.is_empty() {
        throttle.borrow_mut().record(key, now);
    }
    Ok(outbox)
}

async fn machine_alive(
    db: &Db,
    user: &str,
    data: &Value,
    throttle: &std::cell::RefCell<Throttle>,
) -> Result<Outbox, ApiError> {
    let e: MachineAliveEvt = parse(data)?;
    let now = now_ms();
    let Some(at) = sessions::heartbeat_time(e.time as i64, now) else { return Ok(Outbox::default()) };
    let key = machine_key(&e.machine_id);
    if throttle.borrow().recent(&key, now) {
        let body = events::machines::machine_activity(&e.machine_id, true, at);
        return Ok(Outbox::default().ephemeral(body, Recipients::User));
    }
    let outbox = machines::machine_alive(db, user, &e.machine_id, at).await?;
    if !outbox.is_empty() {
        throttle.borrow_mut().record(key, now);
    }
    Ok(outbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_skips_recent_writes_only() {
        let mut t = Throttle::default();
        assert!(!t.recent("s:a", 1_000));
        t.record("s:a".into(), 1_000);
        assert!(t.recent("s:a", 1_000 + ALIVE_WRITE_EVERY_MS - 1));
        assert!(!t.recent("s:a", 1_000 + ALIVE_WRITE_EVERY_MS));
        assert!(!t.recent("s:b", 1_000));
        t.record(machine_key("m1"), 1_000);
        assert!(t.recent(&machine_key("m1"), 1_001));
        t.forget_machine("m1");
        assert!(!t.recent(&machine_key("m1"), 1_001));
        t.record(session_key("s1"), 1_000);
        t.forget_session("s1");
        assert!(!t.recent(&session_key("s1"), 1_001));
    }

    #[test]
    fn event_payloads_parse_as_the_clients_send_them() {
        let m: MessageEvt = parse(&json!({"sid": "s", "message": "YQ==", "localId": "l1"})).unwrap();
        assert_eq!((m.sid.as_str(), m.local_id.as_deref()), ("s", Some("l1")));
        let a: AliveEvt = parse(&json!({"sid": "s", "time": 1.7e12, "thinking": true, "mode": "local"})).unwrap();
        assert_eq!(a.time as i64, 1_700_000_000_000);
        let s: StateEvt = parse(&json!({"sid": "s", "agentState": null, "expectedVersion": 2})).unwrap();
        assert!(s.agent_state.is_none());
        assert!(parse::<MetadataEvt>(&json!({"sid": "s"})).is_err());
        let u: UsageEvt = parse(&json!({"key": "claude-session", "sessionId": "s", "tokens": {}, "cost": {}})).unwrap();
        assert_eq!(u.session_id.as_deref(), Some("s"));
        assert!(is_data_event("machine-update-state") && !is_data_event("rpc-call"));
        let u: ArtifactUpdateEvt =
            parse(&json!({"artifactId": "a", "body": {"data": "b", "expectedVersion": 2}})).unwrap();
        assert!(u.header.is_none() && u.body.is_some_and(|b| b.expected_version == 2));
        assert!(parse::<ArtifactUpdateEvt>(&json!({"artifactId": "a", "header": {"data": "h"}})).is_err());
        assert!(parse::<ArtifactIdEvt>(&json!({})).is_err() && is_data_event("artifact-delete"));
    }
}
