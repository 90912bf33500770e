//! Sessions' and messages' bodies (/v1/sessions, /v2/sessions, the /v1 and /v3 message routes;
//! docs/compatibility.md#sessions-and-messages) and the session updates and ephemerals
//! (docs/protocol.md), which carry the same message.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Versioned;
use crate::db::messages::StoredMessage;
use crate::db::sessions::SessionRow;

/// A session as every session response carries it.
// GET /v1/sessions builds the same object in SQL (db::sessions, whose tests compare the two).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub active: bool,
    pub active_at: i64,
    pub metadata: String,
    pub metadata_version: i64,
    pub agent_state: Option<String>,
    pub agent_state_version: i64,
    pub data_encryption_key: Option<String>,
    /// Always null: no last message is kept.
    pub last_message: (),
}

impl From<&SessionRow> for Session {
    fn from(r: &SessionRow) -> Self {
        Session {
            id: r.id.clone(),
            seq: r.seq,
            created_at: r.created_at,
            updated_at: r.updated_at,
            active: r.active != 0,
            active_at: r.last_active_at,
            metadata: r.metadata.clone(),
            metadata_version: r.metadata_version,
            agent_state: r.agent_state.clone(),
            agent_state_version: r.agent_state_version,
            data_encryption_key: r.data_encryption_key.clone(),
            last_message: (),
        }
    }
}

/// GET /v1/sessions and /v2/sessions/active.
#[derive(Serialize, JsonSchema)]
pub struct SessionList {
    pub sessions: Vec<Session>,
}

/// GET /v2/sessions.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionPage {
    pub sessions: Vec<Session>,
    pub next_cursor: Option<String>,
    pub has_next: bool,
}

/// POST /v1/sessions and GET /v1/sessions/:id.
#[derive(Serialize, JsonSchema)]
pub struct OneSession {
    pub session: Session,
}

/// POST /v1/sessions.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    pub tag: String,
    pub metadata: String,
    pub agent_state: Option<String>,
    pub data_encryption_key: Option<String>,
}

/// A stored message's content: its ciphertext, tagged as such.
#[derive(Serialize, JsonSchema)]
pub struct Content {
    pub t: Encrypted,
    pub c: String,
}

#[derive(Serialize, JsonSchema)]
pub enum Encrypted {
    #[serde(rename = "encrypted")]
    Encrypted,
}

/// A message as the message lists and the `new-message` update carry it.
// The lists build the same object in SQL (db::messages, whose tests compare the two).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub seq: i64,
    pub content: Content,
    pub local_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&StoredMessage> for Message {
    fn from(m: &StoredMessage) -> Self {
        Message {
            id: m.id.clone(),
            seq: m.seq,
            content: Content { t: Encrypted::Encrypted, c: m.content.clone() },
            local_id: m.local_id.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// GET /v1 and /v3 /sessions/:id/messages.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// POST /v1/sessions/:id/messages: the message stored, with its session.
#[derive(Serialize, JsonSchema)]
pub struct PostedMessage {
    pub message: SessionMessage,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionMessage {
    #[serde(flatten)]
    pub message: Message,
    pub session_id: String,
}

/// POST /v1/sessions/:id/messages.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct V1MessageBody {
    pub local_id: Option<String>,
    /// A ciphertext, or the stored form `{"t": "encrypted", "c": ciphertext}`.
    // A Value, documented as `ContentIn`: `domain::fields::message_ciphertext` reads it and words
    // its own 400.
    #[schemars(with = "ContentIn")]
    pub content: Value,
}

// What `content` of a posted v1 message may be.
#[derive(JsonSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "only its schema is used")]
enum ContentIn {
    Ciphertext(String),
    Encrypted(Content),
}

/// POST /v3/sessions/:id/messages.
#[derive(Deserialize, JsonSchema)]
pub struct V3PostBody {
    pub messages: Vec<V3Message>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct V3Message {
    pub content: String,
    pub local_id: String,
}

/// POST /v3/sessions/:id/messages: every message of the batch, stored now or before.
#[derive(Serialize, JsonSchema)]
pub struct V3Posted {
    pub messages: Vec<V3Stored>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct V3Stored {
    pub id: String,
    pub seq: i64,
    pub local_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&StoredMessage> for V3Stored {
    fn from(m: &StoredMessage) -> Self {
        V3Stored {
            id: m.id.clone(),
            seq: m.seq,
            local_id: m.local_id.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A session update's body (docs/protocol.md, `Updates`).
#[derive(Serialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum SessionUpdate {
    NewMessage {
        sid: String,
        message: Message,
    },
    NewSession(NewSession),
    #[serde(rename_all = "camelCase")]
    UpdateSession {
        id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        metadata: Option<Versioned<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent_state: Option<Versioned<Option<String>>>,
    },
    DeleteSession {
        sid: String,
    },
}

/// `new-session`: the session's fields in the protocol's order, without `lastMessage`.
#[derive(Serialize)]
pub struct NewSession {
    pub id: String,
    pub seq: i64,
    #[serde(flatten)]
    pub fields: SessionFields,
}

/// A session's own fields, apart from its id and seq: what `new-session` carries and what an
/// import (`wire::import::SessionRecord`) brings.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionFields {
    pub metadata: String,
    pub metadata_version: i64,
    pub agent_state: Option<String>,
    pub agent_state_version: i64,
    pub data_encryption_key: Option<String>,
    pub active: bool,
    pub active_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&SessionRow> for NewSession {
    fn from(r: &SessionRow) -> Self {
        NewSession {
            id: r.id.clone(),
            seq: r.seq,
            fields: SessionFields {
                metadata: r.metadata.clone(),
                metadata_version: r.metadata_version,
                agent_state: r.agent_state.clone(),
                agent_state_version: r.agent_state_version,
                data_encryption_key: r.data_encryption_key.clone(),
                active: r.active != 0,
                active_at: r.last_active_at,
                created_at: r.created_at,
                updated_at: r.updated_at,
            },
        }
    }
}

/// A session ephemeral's body (docs/protocol.md, `Ephemerals`).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SessionEphemeral {
    /// `thinking` is always present (the app requires it).
    #[serde(rename_all = "camelCase")]
    Activity { id: String, active: bool, active_at: i64, thinking: bool },
    /// What POST /v1/sessions/:id/push-event announces.
    #[serde(rename_all = "camelCase")]
    SessionEvent { session_id: String, kind: String, title: String, body: String, timestamp: i64 },
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, request_schema, response_schema};

    pub(crate) fn row(agent_state: Option<&str>, key: Option<&str>) -> SessionRow {
        SessionRow {
            id: "s1".into(),
            seq: 2,
            metadata: "bWV0YQ==".into(),
            metadata_version: 1,
            agent_state: agent_state.map(Into::into),
            agent_state_version: 3,
            data_encryption_key: key.map(Into::into),
            active: 1,
            last_active_at: 1_700_000_000_005,
            created_at: 1_700_000_000_001,
            updated_at: 1_700_000_000_003,
        }
    }

    pub(crate) fn stored(local_id: Option<&str>) -> StoredMessage {
        StoredMessage {
            id: "m1".into(),
            seq: 4,
            local_id: local_id.map(Into::into),
            content: "Y2lwaGVy".into(),
            created_at: 10,
            updated_at: 11,
            created: true,
        }
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        for r in [row(None, Some("k")), row(Some("c3RhdGU="), None)] {
            // `SessionRow::wire`, field by field.
            let wire = json!({"id": r.id, "seq": r.seq, "createdAt": r.created_at, "updatedAt": r.updated_at,
                "active": r.active != 0, "activeAt": r.last_active_at, "metadata": r.metadata,
                "metadataVersion": r.metadata_version, "agentState": r.agent_state,
                "agentStateVersion": r.agent_state_version, "dataEncryptionKey": r.data_encryption_key,
                "lastMessage": null});
            assert_eq!(to_string(&OneSession { session: (&r).into() }).unwrap(), json!({"session": wire}).to_string());
            assert_eq!(
                to_string(&SessionList { sessions: vec![(&r).into()] }).unwrap(),
                json!({"sessions": [wire]}).to_string()
            );
            // list_v2 appended its two keys to the list body.
            for next_cursor in [None, Some("c")] {
                let page = SessionPage {
                    sessions: vec![(&r).into()],
                    next_cursor: next_cursor.map(Into::into),
                    has_next: true,
                };
                let mut body = json!({"sessions": [wire]});
                body["nextCursor"] = json!(next_cursor);
                body["hasNext"] = json!(true);
                assert_eq!(to_string(&page).unwrap(), body.to_string());
            }
        }
        for m in [stored(None), stored(Some("l1"))] {
            // `events::sessions::message`, then the `sessionId` post_v1_message appended.
            let mut wire = json!({"id": m.id, "seq": m.seq, "content": {"t": "encrypted", "c": m.content},
                "localId": m.local_id, "createdAt": m.created_at, "updatedAt": m.updated_at});
            assert_eq!(to_string(&Message::from(&m)).unwrap(), wire.to_string());
            wire["sessionId"] = json!("s1");
            let posted = PostedMessage { message: SessionMessage { message: (&m).into(), session_id: "s1".into() } };
            assert_eq!(to_string(&posted).unwrap(), json!({"message": wire}).to_string());
            assert_eq!(
                to_string(&V3Posted { messages: vec![(&m).into()] }).unwrap(),
                json!({"messages": [{"id": m.id, "seq": m.seq, "localId": m.local_id, "createdAt": m.created_at,
                    "updatedAt": m.updated_at}]})
                .to_string()
            );
        }
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let session = || Session::from(&row(None, None));
        let one = to_value(OneSession { session: session() }).unwrap();
        conforms(&response_schema::<OneSession>(), &one).unwrap();
        let list = to_value(SessionList { sessions: vec![session(), Session::from(&row(Some("a"), Some("k")))] });
        conforms(&response_schema::<SessionList>(), &list.unwrap()).unwrap();
        let page = to_value(SessionPage { sessions: vec![session()], next_cursor: None, has_next: false });
        conforms(&response_schema::<SessionPage>(), &page.unwrap()).unwrap();
        let messages = to_value(MessagePage { messages: vec![(&stored(None)).into()], has_more: true }).unwrap();
        conforms(&response_schema::<MessagePage>(), &messages).unwrap();
        let posted =
            PostedMessage { message: SessionMessage { message: (&stored(None)).into(), session_id: "s".into() } };
        conforms(&response_schema::<PostedMessage>(), &to_value(posted).unwrap()).unwrap();
        let v3 = to_value(V3Posted { messages: vec![(&stored(Some("l"))).into()] }).unwrap();
        conforms(&response_schema::<V3Posted>(), &v3).unwrap();

        // Not vacuous: a nullable key is still required, and the content's tag is checked.
        let mut without_state = one;
        without_state["session"].as_object_mut().unwrap().remove("agentState");
        assert!(conforms(&response_schema::<OneSession>(), &without_state).is_err());
        let mut plain = messages;
        plain["messages"][0]["content"]["t"] = json!("plain");
        assert!(conforms(&response_schema::<MessagePage>(), &plain).is_err());
    }

    /// (the derived schema accepts `body`, the type parses it): both agree.
    fn accepted<T: serde::de::DeserializeOwned + JsonSchema>(body: Value) -> (bool, bool) {
        (conforms(&request_schema::<T>(), &body).is_ok(), serde_json::from_value::<T>(body).is_ok())
    }

    #[test]
    fn request_schemas_accept_what_the_types_parse() {
        assert_eq!(accepted::<CreateBody>(json!({"tag": "t", "metadata": "m", "agentState": null})), (true, true));
        assert_eq!(accepted::<CreateBody>(json!({"tag": "t"})), (false, false));
        assert_eq!(accepted::<V3PostBody>(json!({"messages": [{"content": "c", "localId": "l"}]})), (true, true));
        assert_eq!(accepted::<V3PostBody>(json!({"messages": [{"content": "c"}]})), (false, false));
        // The v1 content's schema documents what message_ciphertext takes: a string or the tagged object.
        assert_eq!(accepted::<V1MessageBody>(json!({"content": "c", "localId": null})), (true, true));
        assert_eq!(accepted::<V1MessageBody>(json!({"content": {"t": "encrypted", "c": "c"}})), (true, true));
        assert!(conforms(&request_schema::<V1MessageBody>(), &json!({"content": 1})).is_err());
        assert!(crate::domain::fields::message_ciphertext(&json!(1)).is_err());
    }
}
