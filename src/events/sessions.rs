//! Session and message event bodies (docs/protocol.md, `Updates` and `Ephemerals`), typed in
//! `wire::sessions`; the outbox carries them as JSON text.

use super::Event;
use crate::wire::sessions::{Message, NewSession, SessionEphemeral, SessionUpdate};
use crate::wire::Versioned;

/// `new-message` -> *session*.
pub fn new_message(sid: &str, message: Message) -> Event {
    Event::plain(SessionUpdate::NewMessage { sid: sid.to_string(), message })
}

/// `new-session` -> *user*: the session's fields under `t`. Marks the session active.
pub fn new_session(session: NewSession) -> Event {
    Event::marking(SessionUpdate::NewSession(session), true)
}

/// `update-session` with new metadata -> *session*.
pub fn update_session_metadata(id: &str, metadata: &str, version: i64) -> Event {
    let metadata = Some(Versioned { value: metadata.to_string(), version });
    Event::plain(SessionUpdate::UpdateSession { id: id.to_string(), metadata, agent_state: None })
}

/// `update-session` with a new agent state (null allowed) -> *session*.
pub fn update_session_agent_state(id: &str, agent_state: Option<&str>, version: i64) -> Event {
    let agent_state = Some(Versioned { value: agent_state.map(str::to_string), version });
    Event::plain(SessionUpdate::UpdateSession { id: id.to_string(), metadata: None, agent_state })
}

/// `delete-session` -> *user*.
pub fn delete_session(sid: &str) -> Event {
    Event::plain(SessionUpdate::DeleteSession { sid: sid.to_string() })
}

/// Ephemeral `activity` -> *user*; marks the session active when `active`.
pub fn activity(id: &str, active: bool, active_at: i64, thinking: bool) -> Event {
    Event::marking(SessionEphemeral::Activity { id: id.to_string(), active, active_at, thinking }, active)
}

/// Ephemeral `session-event` -> *session*.
pub fn session_event(session_id: &str, kind: &str, title: &str, body: &str, timestamp: i64) -> Event {
    Event::plain(SessionEphemeral::SessionEvent {
        session_id: session_id.to_string(),
        kind: kind.to_string(),
        title: title.to_string(),
        body: body.to_string(),
        timestamp,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::db::sessions::SessionRow;
    use crate::events::parsed;
    use crate::wire::sessions::{Content, Encrypted};

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn new_message_shape() {
        let message = Message {
            id: "m1".into(),
            seq: 3,
            content: Content { t: Encrypted::Encrypted, c: "cipher".into() },
            local_id: None,
            created_at: 10,
            updated_at: 11,
        };
        let body = parsed(&new_message("s1", message).body);
        assert_eq!(
            body,
            json!({"t": "new-message", "sid": "s1", "message": {
                "id": "m1", "seq": 3, "content": {"t": "encrypted", "c": "cipher"},
                "localId": null, "createdAt": 10, "updatedAt": 11}})
        );
    }

    #[test]
    fn new_session_carries_exactly_the_protocol_fields() {
        let session = SessionRow {
            id: "s1".into(),
            seq: 0,
            metadata: "m".into(),
            metadata_version: 0,
            agent_state: None,
            agent_state_version: 0,
            data_encryption_key: None,
            active: 1,
            last_active_at: 3,
            created_at: 1,
            updated_at: 2,
        };
        let event = new_session((&session).into());
        assert!(event.marks_active, "a new session is active");
        let body = parsed(&event.body);
        assert_eq!(
            keys(&body),
            [
                "t",
                "id",
                "seq",
                "metadata",
                "metadataVersion",
                "agentState",
                "agentStateVersion",
                "dataEncryptionKey",
                "active",
                "activeAt",
                "createdAt",
                "updatedAt"
            ]
        );
        assert_eq!(body["t"], "new-session");
        assert_eq!(body["activeAt"], 3);
        assert!(body["agentState"].is_null());
    }

    #[test]
    fn update_and_delete_session_shapes() {
        assert_eq!(
            parsed(&update_session_metadata("s1", "m2", 2).body),
            json!({"t": "update-session", "id": "s1", "metadata": {"value": "m2", "version": 2}})
        );
        assert_eq!(
            parsed(&update_session_agent_state("s1", None, 4).body),
            json!({"t": "update-session", "id": "s1", "agentState": {"value": null, "version": 4}})
        );
        assert_eq!(parsed(&delete_session("s1").body), json!({"t": "delete-session", "sid": "s1"}));
    }

    #[test]
    fn activity_always_has_thinking() {
        assert_eq!(
            parsed(&activity("s1", false, 5, false).body),
            json!({"type": "activity", "id": "s1", "active": false, "activeAt": 5, "thinking": false})
        );
    }

    #[test]
    fn session_event_shape() {
        assert_eq!(
            parsed(&session_event("s1", "done", "T", "B", 7).body),
            json!({"type": "session-event", "sessionId": "s1", "kind": "done", "title": "T", "body": "B",
                   "timestamp": 7})
        );
    }

    /// Bytes, not only values (`Value` equality ignores key order): each body as the `json!`
    /// it replaces spelled it.
    #[test]
    fn bodies_keep_the_key_order_of_the_json_they_replace() {
        let message = Message {
            id: "m1".into(),
            seq: 3,
            content: Content { t: Encrypted::Encrypted, c: "cipher".into() },
            local_id: Some("l".into()),
            created_at: 10,
            updated_at: 11,
        };
        let cases = [
            (
                new_message("s1", message),
                json!({"t": "new-message", "sid": "s1", "message": {"id": "m1", "seq": 3,
                    "content": {"t": "encrypted", "c": "cipher"}, "localId": "l", "createdAt": 10, "updatedAt": 11}}),
            ),
            (
                update_session_metadata("s1", "m2", 2),
                json!({"t": "update-session", "id": "s1", "metadata": {"value": "m2", "version": 2}}),
            ),
            (
                update_session_agent_state("s1", Some("a"), 4),
                json!({"t": "update-session", "id": "s1", "agentState": {"value": "a", "version": 4}}),
            ),
            (delete_session("s1"), json!({"t": "delete-session", "sid": "s1"})),
            (
                activity("s1", true, 5, true),
                json!({"type": "activity", "id": "s1", "active": true, "activeAt": 5, "thinking": true}),
            ),
            (
                session_event("s1", "done", "T", "B", 7),
                json!({"type": "session-event", "sessionId": "s1", "kind": "done", "title": "T", "body": "B",
                       "timestamp": 7}),
            ),
        ];
        for (typed, spelled) in cases {
            assert_eq!(typed.body.to_string(), spelled.to_string());
        }
    }
}
