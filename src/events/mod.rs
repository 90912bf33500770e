//! Every realtime event body is built here, with who receives it. Routes and socket handlers
//! build events through these functions, commit their D1 batch (which yields the account seq),
//! then hand the events to `realtime::publish`.
//!
//! Bodies follow docs/protocol.md field for field: the app validates them with zod and
//! silently drops what does not match.

pub mod account;
pub mod artifacts;
pub mod kv;
pub mod machines;
pub mod sessions;
pub mod social;
pub mod usage;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// An event's body as JSON text (`{"t": ...}` or `{"type": ...}`): serialized once, where the
/// write builds it, then carried as it is into the object's call and every socket's frame. As a
/// `serde_json::Value` it was a tree of ordered maps, built and serialized on the worker, then
/// parsed and rebuilt in the object; that tree's code was 29 functions and 6.5 KB of the wasm V8
/// compiles in a fresh isolate's first write (bench/RESULTS.md, "cold requests").
pub type Body = Box<RawValue>;

/// A typed event body as its JSON text.
pub fn raw(body: impl Serialize) -> Body {
    // Cannot fail: every event type's map keys are strings, and serde_json's own text is JSON.
    serde_json::value::to_raw_value(&body).expect("an event body serializes")
}

/// Which of the user's sockets get an event (docs/protocol.md#recipients).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Recipients {
    /// That session's sockets plus every user-scoped socket.
    Session { id: String },
    /// User-scoped sockets only.
    User,
    /// That machine's sockets plus every user-scoped socket.
    Machine { id: String },
    /// Every socket of the user.
    All,
}

/// A persistent update: numbered with the account seq allocated in the write's batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Update {
    pub seq: i64,
    /// `{"t": ..., ...}`
    pub body: Body,
    pub recipients: Recipients,
    /// A socket (connection id) that must not get this update: the sender of a socket `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
}

/// A transient event (`{"type": ...}`), never stored, no seq.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ephemeral {
    pub body: Body,
    pub recipients: Recipients,
}

/// What a write hands to the user's Durable Object.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Outbox {
    #[serde(default)]
    pub updates: Vec<Update>,
    #[serde(default)]
    pub ephemerals: Vec<Ephemeral>,
}

impl Outbox {
    pub fn update(mut self, seq: i64, body: Body, recipients: Recipients) -> Self {
        self.updates.push(Update { seq, body, recipients, skip: None });
        self
    }
    pub fn ephemeral(mut self, body: Body, recipients: Recipients) -> Self {
        self.ephemerals.push(Ephemeral { body, recipients });
        self
    }
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty() && self.ephemerals.is_empty()
    }
}

/// A body as a value, for tests that read its fields.
#[cfg(test)]
pub fn parsed(body: &Body) -> serde_json::Value {
    serde_json::from_str(body.get()).expect("a body is JSON")
}

pub fn session(id: &str) -> Recipients {
    Recipients::Session { id: id.to_string() }
}

pub fn machine(id: &str) -> Recipients {
    Recipients::Machine { id: id.to_string() }
}
