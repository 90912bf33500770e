//! What the sockets carry besides the update and ephemeral bodies (docs/protocol.md): the acks
//! of client events in the shapes the stock clients read, the raw framing's welcome and
//! `auth-error`, the update envelope, the catch-up summary and the RPC messages.

use serde::Serialize;
use serde_json::{Map, Value};

use super::access_keys::AccessKey;
use super::artifacts::Artifact;
use super::Bool;
use crate::realtime::conn::ClientType;

/// `{}`: the ack of an event with nothing to say.
pub fn empty() -> Value {
    Value::Object(Map::new())
}

/// An ack's `result`.
#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AckResult {
    Success,
    VersionMismatch,
    Error,
}

/// `{result}`, with a message on some failures: a failed versioned update or artifact event,
/// a deleted artifact.
#[derive(Serialize)]
pub struct ResultAck {
    pub result: AckResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `{success: false, error}`: a failed usage report.
#[derive(Serialize)]
pub struct SuccessFalse {
    pub success: Bool<false>,
    pub error: String,
}

/// `{ok: false, error}`: a failed access-key read or RPC call.
#[derive(Serialize)]
pub struct OkFalse {
    pub ok: Bool<false>,
    pub error: String,
}

impl OkFalse {
    pub fn new(error: impl Into<String>) -> Self {
        OkFalse { ok: Bool, error: error.into() }
    }
}

/// A versioned update's ack: the new value and version, or the current ones on a mismatch.
#[derive(Serialize)]
pub struct VersionedAck {
    pub result: AckResult,
    pub version: i64,
    #[serde(flatten)]
    pub value: VersionedValue,
}

/// The field a versioned update wrote, under its name.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub enum VersionedValue {
    Metadata(Option<String>),
    AgentState(Option<String>),
    DaemonState(Option<String>),
}

/// `access-key-get`: the key, `null` when the pair has none.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyAck {
    pub access_key: Option<AccessKey>,
    pub ok: Bool<true>,
}

/// `artifact-read` and `artifact-create`.
#[derive(Serialize)]
pub struct ArtifactAck {
    pub result: AckResult,
    pub artifact: Artifact,
}

/// `artifact-update`: for each part sent, what it holds now ([`PartWritten`]) or, on a
/// mismatch, what it held ([`PartCurrent`]).
#[derive(Serialize)]
pub struct ArtifactUpdateAck<P> {
    pub result: AckResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<P>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<P>,
}

#[derive(Serialize)]
pub struct PartWritten {
    pub version: i64,
    pub data: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartCurrent {
    pub current_version: i64,
    pub current_data: String,
}

/// The raw framing's `connected`: who the socket is, and the catch-up it asked for.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connected<'a> {
    pub connection_id: &'a str,
    pub user_id: &'a str,
    pub client_type: ClientType,
    pub session_id: Option<&'a str>,
    pub machine_id: Option<&'a str>,
    pub catch_up: Option<CatchUpSummary>,
}

/// What a catch-up sent: the updates after `after_seq` up to `last_seq` this socket gets, and
/// whether the window still held all of them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatchUpSummary {
    pub after_seq: i64,
    pub last_seq: i64,
    pub delivered: usize,
    pub complete: bool,
}

/// The `update` event around an update body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateEnvelope<'a> {
    pub id: &'a str,
    pub seq: i64,
    pub body: &'a serde_json::value::RawValue,
    pub created_at: i64,
}

/// The raw framing's `auth-error`.
#[derive(Serialize)]
pub struct AuthError {
    pub code: u16,
    pub message: &'static str,
}

/// `{message}`: the raw framing's `error` for a frame it cannot read, and Engine.IO's connect
/// error.
#[derive(Serialize)]
pub struct Message<'a> {
    pub message: &'a str,
}

/// `rpc-error` of a registration.
#[derive(Serialize)]
pub struct RpcError<'a> {
    #[serde(rename = "type")]
    pub kind: RpcErrorKind,
    pub error: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RpcErrorKind {
    Register,
}

/// `rpc-registered`, `rpc-unregistered`.
#[derive(Serialize)]
pub struct RpcMethodName<'a> {
    pub method: &'a str,
}

/// `rpc-request` to the socket serving the method.
#[derive(Serialize)]
pub struct RpcRequest<'a> {
    pub method: &'a str,
    pub params: &'a Value,
}

/// `rpc-call`'s ack when the target answered: its answer as it came.
#[derive(Serialize)]
pub struct RpcOk {
    pub ok: Bool<true>,
    pub result: Value,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::wire::{value, ErrorBody};

    /// Bytes, not only values (`Value` equality ignores key order): each message as the `json!`
    /// it replaced spelled it.
    #[test]
    fn messages_keep_the_bytes_of_the_json_they_replace() {
        let error = |message: Option<&str>| ResultAck { result: AckResult::Error, message: message.map(Into::into) };
        let params = json!({"a": [1]});
        let cases: Vec<(Value, Value)> = vec![
            (empty(), json!({})),
            (value(error(None)), json!({"result": "error"})),
            (value(error(Some("Machine not found"))), json!({"result": "error", "message": "Machine not found"})),
            (value(ResultAck { result: AckResult::Success, message: None }), json!({"result": "success"})),
            (value(SuccessFalse { success: Bool, error: "e".into() }), json!({"success": false, "error": "e"})),
            (value(OkFalse::new("e")), json!({"ok": false, "error": "e"})),
            (
                value(VersionedAck {
                    result: AckResult::VersionMismatch,
                    version: 3,
                    value: VersionedValue::AgentState(None),
                }),
                json!({"result": "version-mismatch", "version": 3, "agentState": null}),
            ),
            (
                value(VersionedAck {
                    result: AckResult::Success,
                    version: 4,
                    value: VersionedValue::DaemonState(Some("d".into())),
                }),
                json!({"result": "success", "version": 4, "daemonState": "d"}),
            ),
            (
                value(VersionedAck {
                    result: AckResult::Success,
                    version: 2,
                    value: VersionedValue::Metadata(Some("m".into())),
                }),
                json!({"result": "success", "version": 2, "metadata": "m"}),
            ),
            (value(AccessKeyAck { access_key: None, ok: Bool }), json!({"accessKey": null, "ok": true})),
            (
                value(ArtifactUpdateAck {
                    result: AckResult::Success,
                    header: None,
                    body: Some(PartWritten { version: 2, data: "b".into() }),
                }),
                json!({"result": "success", "body": {"version": 2, "data": "b"}}),
            ),
            (
                value(ArtifactUpdateAck {
                    result: AckResult::VersionMismatch,
                    header: Some(PartCurrent { current_version: 1, current_data: "h".into() }),
                    body: None,
                }),
                json!({"result": "version-mismatch", "header": {"currentVersion": 1, "currentData": "h"}}),
            ),
            (
                value(Connected {
                    connection_id: "c",
                    user_id: "u",
                    client_type: ClientType::SessionScoped,
                    session_id: Some("s"),
                    machine_id: None,
                    catch_up: Some(CatchUpSummary { after_seq: 1, last_seq: 5, delivered: 2, complete: true }),
                }),
                json!({"connectionId": "c", "userId": "u", "clientType": "session-scoped", "sessionId": "s",
                       "machineId": null, "catchUp": {"afterSeq": 1, "lastSeq": 5, "delivered": 2, "complete": true}}),
            ),
            (
                value(UpdateEnvelope { id: "i", seq: 7, body: &crate::events::raw(json!({"t": "x"})), created_at: 9 }),
                json!({"id": "i", "seq": 7, "body": {"t": "x"}, "createdAt": 9}),
            ),
            (value(AuthError { code: 4001, message: "m" }), json!({"code": 4001, "message": "m"})),
            (value(Message { message: "Malformed frame" }), json!({"message": "Malformed frame"})),
            (value(ErrorBody::new("Unknown event: x")), json!({"error": "Unknown event: x"})),
            (
                value(RpcError { kind: RpcErrorKind::Register, error: "Invalid method" }),
                json!({"type": "register", "error": "Invalid method"}),
            ),
            (value(RpcMethodName { method: "m" }), json!({"method": "m"})),
            (value(RpcRequest { method: "m", params: &params }), json!({"method": "m", "params": {"a": [1]}})),
            (value(RpcOk { ok: Bool, result: json!("r") }), json!({"ok": true, "result": "r"})),
        ];
        for (typed, spelled) in cases {
            assert_eq!(typed.to_string(), spelled.to_string());
        }
    }
}
