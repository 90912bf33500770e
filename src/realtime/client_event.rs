//! The events a socket client sends, parsed once from their name and data (docs/protocol.md).
//! A known event whose data does not parse still arrives as its variant, carrying why: each
//! event answers bad data its own way.

use serde::de::{DeserializeOwned, Deserializer, IgnoredAny};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::handlers::{
    AccessKeyEvt, AliveEvt, ArtifactCreateEvt, ArtifactIdEvt, ArtifactUpdateEvt, MachineAliveEvt, MachineMetadataEvt,
    MachineStateEvt, MessageEvt, MetadataEvt, StateEvt, UsageEvt,
};
use crate::error::ApiError;

/// One client event. Served by the object alone: `ping` to `catch-up`; the rest write D1
/// (`handlers`).
#[derive(Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "kebab-case")]
pub enum ClientEvent {
    Ping(IgnoredAny),
    RpcRegister(Payload<RpcMethod>),
    RpcUnregister(Payload<RpcMethod>),
    RpcCall(Payload<RpcCall>),
    AppState(Payload<AppState>),
    CatchUp(Payload<CatchUp>),
    Message(Payload<MessageEvt>),
    SessionAlive(Payload<AliveEvt>),
    SessionEnd(Payload<AliveEvt>),
    UpdateMetadata(Payload<MetadataEvt>),
    UpdateState(Payload<StateEvt>),
    MachineAlive(Payload<MachineAliveEvt>),
    MachineUpdateMetadata(Payload<MachineMetadataEvt>),
    MachineUpdateState(Payload<MachineStateEvt>),
    UsageReport(Payload<UsageEvt>),
    AccessKeyGet(Payload<AccessKeyEvt>),
    ArtifactRead(Payload<ArtifactIdEvt>),
    ArtifactCreate(Payload<ArtifactCreateEvt>),
    ArtifactUpdate(Payload<ArtifactUpdateEvt>),
    ArtifactDelete(Payload<ArtifactIdEvt>),
}

impl ClientEvent {
    /// `None`: an event this server does not know.
    pub fn parse(name: &str, data: Value) -> Option<ClientEvent> {
        // The name first: serde then reads the data straight into its variant, unbuffered.
        let mut frame = Map::new();
        frame.insert("event".into(), name.into());
        frame.insert("data".into(), data);
        ClientEvent::deserialize(Value::Object(frame)).ok()
    }
}

/// An event's data, or why it did not parse (`Invalid event data: …`).
pub struct Payload<T>(pub Result<T, ApiError>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Payload<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let data = Value::deserialize(d)?;
        Ok(Payload(T::deserialize(data).map_err(|e| ApiError::bad_request(format!("Invalid event data: {e}")))))
    }
}

/// A method or state name: 1 to 512 bytes.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct Label(pub String);

impl TryFrom<String> for Label {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Label, &'static str> {
        if s.is_empty() || s.len() > 512 {
            return Err("1 to 512 bytes");
        }
        Ok(Label(s))
    }
}

#[derive(Deserialize)]
pub struct RpcMethod {
    pub method: Label,
}

#[derive(Deserialize)]
pub struct RpcCall {
    pub method: String,
    #[serde(default)]
    pub params: Value,
}

#[derive(Deserialize)]
pub struct AppState {
    pub state: Label,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatchUp {
    pub after_seq: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_parse_once_by_name_and_keep_bad_data_as_their_own() {
        assert!(ClientEvent::parse("no-such-event", json!({})).is_none());
        let names = "ping rpc-register rpc-unregister rpc-call app-state catch-up message session-alive session-end \
            update-metadata update-state machine-alive machine-update-metadata machine-update-state usage-report \
            access-key-get artifact-read artifact-create artifact-update artifact-delete";
        for name in names.split_whitespace() {
            assert!(ClientEvent::parse(name, Value::Null).is_some(), "{name}");
        }
        assert!(matches!(ClientEvent::parse("ping", Value::Null), Some(ClientEvent::Ping(_))));
        let Some(ClientEvent::UpdateMetadata(Payload(Err(e)))) =
            ClientEvent::parse("update-metadata", json!({"sid": "s"}))
        else {
            panic!("update-metadata with bad data");
        };
        assert!(e.message.starts_with("Invalid event data: missing field"));
        let Some(ClientEvent::RpcRegister(Payload(Ok(m)))) = ClientEvent::parse("rpc-register", json!({"method": "m"}))
        else {
            panic!("rpc-register");
        };
        assert_eq!(m.method.0, "m");
        let long = "x".repeat(513);
        let bad = ClientEvent::parse("app-state", json!({"state": long}));
        assert!(matches!(bad, Some(ClientEvent::AppState(Payload(Err(_))))));
        let Some(ClientEvent::RpcCall(Payload(Ok(c)))) = ClientEvent::parse("rpc-call", json!({"method": "m"})) else {
            panic!("rpc-call");
        };
        assert!(c.params.is_null());
        let Some(ClientEvent::CatchUp(Payload(Ok(c)))) = ClientEvent::parse("catch-up", json!({"afterSeq": 4})) else {
            panic!("catch-up");
        };
        assert_eq!(c.after_seq, Some(4));
        let Some(ClientEvent::MachineAlive(Payload(Ok(_)))) =
            ClientEvent::parse("machine-alive", json!({"machineId": "m", "time": 1.0}))
        else {
            panic!("machine-alive");
        };
    }
}
