//! Client events that write D1, over the teammates' ops (`db::sessions`, `db::messages`,
//! `db::machines`, `db::access_keys`, `db::usage`). Each takes its parsed data
//! (`client_event`) and returns the ack value and the outbox the object publishes; the hub's
//! one dispatch (`UserHub::serve`) picks how each acks a failure ([`OnError`]).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::client_event::Payload;
use super::conn::ConnMeta;
use crate::config::now_ms;
use crate::db::access_keys::{self, Found};
use crate::db::artifacts::{self, NewArtifact, Part, Updated};
use crate::db::messages::{self, NewMessage};
use crate::db::versioned::Outcome;
use crate::db::{machines, sessions, usage, Db};
use crate::error::ApiError;
use crate::events::{self, Outbox, Recipients};
use crate::wire::artifacts::Artifact;
use crate::wire::socket::{
    AccessKeyAck, AckResult, ArtifactAck, ArtifactUpdateAck, OkFalse, PartCurrent, PartWritten, ResultAck,
    SuccessFalse, VersionedAck, VersionedValue,
};
use crate::wire::{self, value, Bool};

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageEvt {
    sid: String,
    message: String,
    #[serde(default)]
    local_id: Option<String>,
}

#[derive(Deserialize)]
pub struct AliveEvt {
    sid: String,
    time: f64,
    #[serde(default)]
    thinking: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataEvt {
    sid: String,
    metadata: String,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateEvt {
    sid: String,
    #[serde(default)]
    agent_state: Option<String>,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineAliveEvt {
    machine_id: String,
    time: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineMetadataEvt {
    machine_id: String,
    metadata: String,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineStateEvt {
    machine_id: String,
    daemon_state: String,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageEvt {
    key: String,
    #[serde(default)]
    session_id: Option<String>,
    tokens: Value,
    cost: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactIdEvt {
    artifact_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactCreateEvt {
    id: String,
    header: String,
    body: String,
    data_encryption_key: String,
}

/// A part of `artifact-update`: `{data, expectedVersion}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactPartEvt {
    data: String,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactUpdateEvt {
    artifact_id: String,
    #[serde(default)]
    header: Option<ArtifactPartEvt>,
    #[serde(default)]
    body: Option<ArtifactPartEvt>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyEvt {
    session_id: String,
    machine_id: String,
}

/// What a client event answers: the ack value (`None`: `{}` when asked for) and what to publish.
pub type Reply = (Option<Value>, Outbox);

/// How an event acks a failure, bad data included (the stock clients' shapes).
#[derive(Clone, Copy)]
pub enum OnError {
    /// Logged; acked `{}`.
    Logged,
    /// `{result: "error"}`.
    Result,
    /// `{result: "error", message}`.
    ResultMessage,
    /// `{success: false, error}`.
    Success,
    /// `{ok: false, error}`.
    Ok,
}

impl OnError {
    pub fn reply(self, event: &str, done: Result<Reply, ApiError>) -> Reply {
        done.unwrap_or_else(|e| {
            let ack = match self {
                OnError::Logged => {
                    worker::console_log!("socket event {event} failed: {e}");
                    None
                }
                OnError::Result => Some(value(error(None))),
                OnError::ResultMessage => Some(value(error(Some(e.message)))),
                OnError::Success => Some(value(SuccessFalse { success: Bool, error: e.message })),
                OnError::Ok => Some(value(OkFalse::new(e.message))),
            };
            (ack, Outbox::default())
        })
    }
}

pub async fn session_end(db: &Db, user: &str, e: Payload<AliveEvt>) -> Result<Reply, ApiError> {
    let e = e.0?;
    Ok((None, sessions::session_end(db, user, &e.sid, e.time as i64).await?))
}

fn error(message: Option<String>) -> ResultAck {
    ResultAck { result: AckResult::Error, message }
}

/// The ack of a versioned update: `{result:'success', version, <field>}` with the new value,
/// `{result:'version-mismatch', version, <field>}` with the current one, or `missing`.
fn versioned_ack(
    (outcome, outbox): (Outcome, Outbox),
    field: fn(Option<String>) -> VersionedValue,
    missing: ResultAck,
) -> Reply {
    let (result, current) = match outcome {
        Outcome::Applied { current, .. } => (AckResult::Success, current),
        Outcome::Mismatch { current } => (AckResult::VersionMismatch, current),
        Outcome::Missing => return (Some(value(missing)), outbox),
    };
    (Some(value(VersionedAck { result, version: current.version, value: field(current.value) })), outbox)
}

fn session_missing() -> ResultAck {
    error(None)
}

fn machine_missing() -> ResultAck {
    error(Some("Machine not found".into()))
}

pub async fn update_metadata(db: &Db, user: &str, e: Payload<MetadataEvt>) -> Result<Reply, ApiError> {
    let e = e.0?;
    let done = sessions::update_metadata(db, user, &e.sid, &e.metadata, e.expected_version).await?;
    Ok(versioned_ack(done, VersionedValue::Metadata, session_missing()))
}

pub async fn update_state(db: &Db, user: &str, e: Payload<StateEvt>) -> Result<Reply, ApiError> {
    let e = e.0?;
    let done = sessions::update_agent_state(db, user, &e.sid, e.agent_state.as_deref(), e.expected_version).await?;
    Ok(versioned_ack(done, VersionedValue::AgentState, session_missing()))
}

pub async fn machine_update_metadata(db: &Db, user: &str, e: Payload<MachineMetadataEvt>) -> Result<Reply, ApiError> {
    let e = e.0?;
    let done = machines::update_metadata(db, user, &e.machine_id, &e.metadata, e.expected_version).await?;
    Ok(versioned_ack(done, VersionedValue::Metadata, machine_missing()))
}

pub async fn machine_update_state(db: &Db, user: &str, e: Payload<MachineStateEvt>) -> Result<Reply, ApiError> {
    let e = e.0?;
    let done = machines::update_daemon_state(db, user, &e.machine_id, &e.daemon_state, e.expected_version).await?;
    Ok(versioned_ack(done, VersionedValue::DaemonState, machine_missing()))
}

pub async fn usage_report(db: &Db, user: &str, e: Payload<UsageEvt>) -> Result<Reply, ApiError> {
    let e = e.0?;
    let (report, outbox) = usage::record_usage(db, user, e.session_id.as_deref(), &e.key, &e.tokens, &e.cost).await?;
    Ok((Some(value(wire::usage::UsageReported::from(report))), outbox))
}

pub async fn access_key_get(db: &Db, user: &str, e: Payload<AccessKeyEvt>) -> Result<Reply, ApiError> {
    let e = e.0?;
    match access_keys::get(db, user, &e.session_id, &e.machine_id).await? {
        Found::Pair(key) => {
            let access_key = key.map(wire::access_keys::AccessKey::from);
            Ok((Some(value(AccessKeyAck { access_key, ok: Bool })), Outbox::default()))
        }
        Found::NotOwned => Err(access_keys::not_found()),
    }
}

/// The artifact events over the same ops as the HTTP routes; acks `{result: "success", ...}`,
/// `{result: "version-mismatch", header?/body?: {currentVersion, currentData}}` or
/// `{result: "error", message}` (upstream's shapes).
fn artifact_ack(a: &artifacts::Artifact) -> Value {
    value(ArtifactAck { result: AckResult::Success, artifact: Artifact::from(a) })
}

pub async fn artifact_read(db: &Db, user: &str, e: Payload<ArtifactIdEvt>) -> Result<Reply, ApiError> {
    let a = artifacts::get(db, user, &e.0?.artifact_id).await?;
    Ok((Some(artifact_ack(&a)), Outbox::default()))
}

pub async fn artifact_create(db: &Db, user: &str, e: Payload<ArtifactCreateEvt>) -> Result<Reply, ApiError> {
    let e = e.0?;
    let new = NewArtifact { id: &e.id, header: &e.header, body: &e.body, data_encryption_key: &e.data_encryption_key };
    let (a, outbox) = artifacts::create(db, user, &new).await?;
    Ok((Some(artifact_ack(&a)), outbox))
}

pub async fn artifact_update(db: &Db, user: &str, e: Payload<ArtifactUpdateEvt>) -> Result<Reply, ApiError> {
    let e = e.0?;
    let part = |p: Option<ArtifactPartEvt>| p.map(|p| Part { value: p.data, expected: p.expected_version });
    let sent = |p: &Option<ArtifactPartEvt>| p.as_ref().map(|p| p.data.clone());
    let (header_sent, body_sent) = (sent(&e.header), sent(&e.body));
    let (updated, outbox) = artifacts::update(db, user, &e.artifact_id, part(e.header), part(e.body)).await?;
    let ack = match updated {
        Updated::Applied { header, body } => {
            let written =
                |version: Option<i64>, data: Option<String>| Some(PartWritten { version: version?, data: data? });
            value(ArtifactUpdateAck {
                result: AckResult::Success,
                header: written(header, header_sent),
                body: written(body, body_sent),
            })
        }
        Updated::Mismatch { header, body } => {
            let current = |p: Option<(i64, String)>| {
                p.map(|(current_version, current_data)| PartCurrent { current_version, current_data })
            };
            value(ArtifactUpdateAck {
                result: AckResult::VersionMismatch,
                header: current(header),
                body: current(body),
            })
        }
    };
    Ok((Some(ack), outbox))
}

pub async fn artifact_delete(db: &Db, user: &str, e: Payload<ArtifactIdEvt>) -> Result<Reply, ApiError> {
    let outbox = artifacts::delete(db, user, &e.0?.artifact_id).await?;
    Ok((Some(value(ResultAck { result: AckResult::Success, message: None })), outbox))
}

/// Stored as content `{t:'encrypted', c: message}`; the sender does not get its own echo.
pub async fn message(db: &Db, conn: &ConnMeta, e: Payload<MessageEvt>) -> Result<Reply, ApiError> {
    let (e, user) = (e.0?, &conn.user_id);
    let new = NewMessage { local_id: e.local_id, ciphertext: e.message };
    let (_, mut outbox) = messages::create_messages(db, user, &e.sid, vec![new]).await?;
    for u in &mut outbox.updates {
        u.skip = Some(conn.id.clone());
    }
    Ok((None, outbox))
}

pub async fn session_alive(
    db: &Db,
    user: &str,
    e: Payload<AliveEvt>,
    throttle: &std::cell::RefCell<Throttle>,
) -> Result<Reply, ApiError> {
    let e = e.0?;
    let now = now_ms();
    let Some(at) = sessions::heartbeat_time(e.time as i64, now) else { return Ok((None, Outbox::default())) };
    let thinking = e.thinking.unwrap_or(false);
    let key = session_key(&e.sid);
    if throttle.borrow().recent(&key, now) {
        let event = events::sessions::activity(&e.sid, true, at, thinking);
        return Ok((None, Outbox::default().ephemeral(event, Recipients::User)));
    }
    let outbox = sessions::session_alive(db, user, &e.sid, at, thinking).await?;
    if !outbox.is_empty() {
        throttle.borrow_mut().record(key, now);
    }
    Ok((None, outbox))
}

pub async fn machine_alive(
    db: &Db,
    user: &str,
    e: Payload<MachineAliveEvt>,
    throttle: &std::cell::RefCell<Throttle>,
) -> Result<Reply, ApiError> {
    let e = e.0?;
    let now = now_ms();
    let Some(at) = sessions::heartbeat_time(e.time as i64, now) else { return Ok((None, Outbox::default())) };
    let key = machine_key(&e.machine_id);
    if throttle.borrow().recent(&key, now) {
        let event = events::machines::machine_activity(&e.machine_id, true, at);
        return Ok((None, Outbox::default().ephemeral(event, Recipients::User)));
    }
    let outbox = machines::machine_alive(db, user, &e.machine_id, at).await?;
    if !outbox.is_empty() {
        throttle.borrow_mut().record(key, now);
    }
    Ok((None, outbox))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
        use crate::realtime::client_event::ClientEvent;
        let parse = |name: &str, data: Value| ClientEvent::parse(name, data).expect("a known event");
        let ClientEvent::Message(Payload(Ok(m))) =
            parse("message", json!({"sid": "s", "message": "YQ==", "localId": "l1"}))
        else {
            panic!("message")
        };
        assert_eq!((m.sid.as_str(), m.local_id.as_deref()), ("s", Some("l1")));
        let alive = json!({"sid": "s", "time": 1.7e12, "thinking": true, "mode": "local"});
        let ClientEvent::SessionAlive(Payload(Ok(a))) = parse("session-alive", alive) else { panic!("session-alive") };
        assert_eq!(a.time as i64, 1_700_000_000_000);
        let state = json!({"sid": "s", "agentState": null, "expectedVersion": 2});
        let ClientEvent::UpdateState(Payload(Ok(s))) = parse("update-state", state) else { panic!("update-state") };
        assert!(s.agent_state.is_none());
        assert!(matches!(parse("update-metadata", json!({"sid": "s"})), ClientEvent::UpdateMetadata(Payload(Err(_)))));
        let usage = json!({"key": "claude-session", "sessionId": "s", "tokens": {}, "cost": {}});
        let ClientEvent::UsageReport(Payload(Ok(u))) = parse("usage-report", usage) else { panic!("usage-report") };
        assert_eq!(u.session_id.as_deref(), Some("s"));
        let update = json!({"artifactId": "a", "body": {"data": "b", "expectedVersion": 2}});
        let ClientEvent::ArtifactUpdate(Payload(Ok(u))) = parse("artifact-update", update) else {
            panic!("artifact-update")
        };
        assert!(u.header.is_none() && u.body.is_some_and(|b| b.expected_version == 2));
        let no_version = json!({"artifactId": "a", "header": {"data": "h"}});
        assert!(matches!(parse("artifact-update", no_version), ClientEvent::ArtifactUpdate(Payload(Err(_)))));
        assert!(matches!(parse("artifact-delete", json!({})), ClientEvent::ArtifactDelete(Payload(Err(_)))));
    }
}
