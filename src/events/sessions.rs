//! Session and message event bodies (docs/protocol.md, `Updates` and `Ephemerals`).

use serde_json::{json, Value};

/// The wire content of a stored message.
pub fn encrypted(c: &str) -> Value {
    json!({"t": "encrypted", "c": c})
}

/// A message as the update, the v1 GET and the v3 GET carry it.
pub fn message(id: &str, seq: i64, c: &str, local_id: Option<&str>, created_at: i64, updated_at: i64) -> Value {
    json!({
        "id": id,
        "seq": seq,
        "content": encrypted(c),
        "localId": local_id,
        "createdAt": created_at,
        "updatedAt": updated_at,
    })
}

/// `new-message` -> *session*; `message` is built by [`message`].
pub fn new_message(sid: &str, message: Value) -> Value {
    json!({"t": "new-message", "sid": sid, "message": message})
}

/// `new-session` -> *user*: the session's fields (`session` is the wire session object, whose
/// extra `lastMessage` the app ignores) under `t`.
pub fn new_session(session: &Value) -> Value {
    let mut body = json!({"t": "new-session"});
    for key in [
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
        "updatedAt",
    ] {
        body[key] = session.get(key).cloned().unwrap_or(Value::Null);
    }
    body
}

/// `update-session` with new metadata -> *session*.
pub fn update_session_metadata(id: &str, metadata: &str, version: i64) -> Value {
    json!({"t": "update-session", "id": id, "metadata": {"value": metadata, "version": version}})
}

/// `update-session` with a new agent state (null allowed) -> *session*.
pub fn update_session_agent_state(id: &str, agent_state: Option<&str>, version: i64) -> Value {
    json!({"t": "update-session", "id": id, "agentState": {"value": agent_state, "version": version}})
}

/// `delete-session` -> *user*.
pub fn delete_session(sid: &str) -> Value {
    json!({"t": "delete-session", "sid": sid})
}

/// Ephemeral `activity` -> *user*; `thinking` is always present (the app requires it).
pub fn activity(id: &str, active: bool, active_at: i64, thinking: bool) -> Value {
    json!({"type": "activity", "id": id, "active": active, "activeAt": active_at, "thinking": thinking})
}

/// Ephemeral `session-event` -> *session*: what POST /v1/sessions/:id/push-event announces.
pub fn session_event(session_id: &str, kind: &str, title: &str, body: &str, timestamp: i64) -> Value {
    json!({"type": "session-event", "sessionId": session_id, "kind": kind, "title": title, "body": body,
           "timestamp": timestamp})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn new_message_shape() {
        let body = new_message("s1", message("m1", 3, "cipher", None, 10, 11));
        assert_eq!(
            body,
            json!({"t": "new-message", "sid": "s1", "message": {
                "id": "m1", "seq": 3, "content": {"t": "encrypted", "c": "cipher"},
                "localId": null, "createdAt": 10, "updatedAt": 11}})
        );
    }

    #[test]
    fn new_session_carries_exactly_the_protocol_fields() {
        let session = json!({
            "id": "s1", "seq": 0, "createdAt": 1, "updatedAt": 2, "active": true, "activeAt": 3,
            "metadata": "m", "metadataVersion": 0, "agentState": null, "agentStateVersion": 0,
            "dataEncryptionKey": null, "lastMessage": null
        });
        let body = new_session(&session);
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
            update_session_metadata("s1", "m2", 2),
            json!({"t": "update-session", "id": "s1", "metadata": {"value": "m2", "version": 2}})
        );
        assert_eq!(
            update_session_agent_state("s1", None, 4),
            json!({"t": "update-session", "id": "s1", "agentState": {"value": null, "version": 4}})
        );
        assert_eq!(delete_session("s1"), json!({"t": "delete-session", "sid": "s1"}));
    }

    #[test]
    fn activity_always_has_thinking() {
        assert_eq!(
            activity("s1", false, 5, false),
            json!({"type": "activity", "id": "s1", "active": false, "activeAt": 5, "thinking": false})
        );
    }

    #[test]
    fn session_event_shape() {
        assert_eq!(
            session_event("s1", "done", "T", "B", 7),
            json!({"type": "session-event", "sessionId": "s1", "kind": "done", "title": "T", "body": "B",
                   "timestamp": 7})
        );
    }
}
