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
use serde_json::Value;

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
    pub body: Value,
    pub recipients: Recipients,
    /// A socket (connection id) that must not get this update: the sender of a socket `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
}

/// A transient event (`{"type": ...}`), never stored, no seq.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ephemeral {
    pub body: Value,
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
    pub fn update(mut self, seq: i64, body: Value, recipients: Recipients) -> Self {
        self.updates.push(Update { seq, body, recipients, skip: None });
        self
    }
    pub fn ephemeral(mut self, body: Value, recipients: Recipients) -> Self {
        self.ephemerals.push(Ephemeral { body, recipients });
        self
    }
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty() && self.ephemerals.is_empty()
    }
}

pub fn session(id: &str) -> Recipients {
    Recipients::Session { id: id.to_string() }
}

pub fn machine(id: &str) -> Recipients {
    Recipients::Machine { id: id.to_string() }
}
