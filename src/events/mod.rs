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

/// An event as a write hands it to the outbox: its body, and whether it is the cue that a
/// session or machine became active in D1 (a new session, a daemon state, an `activity` or
/// `machine-activity` that says active), which arms the object's inactivity sweep
/// (`realtime::inactivity`). Decided here, where the event is built, so that the object need not
/// parse every body again (a new message's ciphertext too) to find out.
#[derive(Debug)]
pub struct Event {
    pub body: Body,
    pub marks_active: bool,
}

impl Event {
    /// An event that marks nothing active.
    fn plain(body: impl Serialize) -> Event {
        Event { body: raw(body), marks_active: false }
    }

    /// An event that marks something active when `marks_active`.
    fn marking(body: impl Serialize, marks_active: bool) -> Event {
        Event { body: raw(body), marks_active }
    }
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
#[serde(rename_all = "camelCase")]
pub struct Outbox {
    #[serde(default)]
    pub updates: Vec<Update>,
    #[serde(default)]
    pub ephemerals: Vec<Ephemeral>,
    /// Whether one of the events marks something active ([`Event::marks_active`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub marks_active: bool,
}

impl Outbox {
    pub fn update(mut self, seq: i64, event: Event, recipients: Recipients) -> Self {
        self.marks_active |= event.marks_active;
        self.updates.push(Update { seq, body: event.body, recipients, skip: None });
        self
    }
    pub fn ephemeral(mut self, event: Event, recipients: Recipients) -> Self {
        self.marks_active |= event.marks_active;
        self.ephemerals.push(Ephemeral { body: event.body, recipients });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_says_whether_something_became_active() {
        let with = |event: Event| Outbox::default().ephemeral(event, Recipients::User).marks_active;
        let update = |event: Event| Outbox::default().update(1, event, Recipients::User).marks_active;
        assert!(with(sessions::activity("s", true, 1, false)));
        assert!(with(machines::machine_activity("m", true, 1)));
        assert!(update(machines::update_machine("m", None, Some((None, 2)))));
        assert!(!with(sessions::activity("s", false, 1, false)));
        assert!(!with(machines::machine_activity("m", false, 1)));
        assert!(!update(machines::update_machine("m", Some(("md", 2)), None)));
        assert!(!update(sessions::delete_session("s")));
        assert!(!Outbox::default().marks_active);
        // One marking event is enough, whatever comes after it.
        let mixed = Outbox::default().ephemeral(sessions::activity("s", true, 1, false), Recipients::User).update(
            2,
            sessions::delete_session("s"),
            Recipients::User,
        );
        assert!(mixed.marks_active);
    }

    #[test]
    fn the_cue_crosses_to_the_object_and_is_left_out_when_false() {
        let marked = Outbox::default().ephemeral(sessions::activity("s", true, 1, false), Recipients::User);
        let text = serde_json::to_string(&marked).unwrap();
        assert!(text.ends_with(r#""marksActive":true}"#), "{text}");
        assert!(serde_json::from_str::<Outbox>(&text).unwrap().marks_active);
        let plain = Outbox::default().update(1, sessions::delete_session("s"), Recipients::User);
        let text = serde_json::to_string(&plain).unwrap();
        assert!(!text.contains("marksActive"), "{text}");
        assert!(!serde_json::from_str::<Outbox>(&text).unwrap().marks_active);
    }
}
