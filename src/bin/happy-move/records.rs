//! An account's records on a server, read page by page through the ordinary API, and each
//! record's projection: the fields a move carries, so both sides compare field for field
//! whatever else a server adds to its answers.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::api::Server;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Session,
    Message,
    Machine,
    Artifact,
    AccessKey,
    Kv,
    Settings,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Session => "sessions",
            Kind::Message => "messages",
            Kind::Machine => "machines",
            Kind::Artifact => "artifacts",
            Kind::AccessKey => "access keys",
            Kind::Kv => "kv",
            Kind::Settings => "settings",
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Session => &[
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
            ],
            Kind::Message => &["id", "seq", "localId", "content", "createdAt", "updatedAt"],
            Kind::Machine => &[
                "id",
                "metadata",
                "metadataVersion",
                "daemonState",
                "daemonStateVersion",
                "dataEncryptionKey",
                "seq",
                "active",
                "activeAt",
                "createdAt",
                "updatedAt",
            ],
            Kind::Artifact => &[
                "id",
                "header",
                "headerVersion",
                "body",
                "bodyVersion",
                "dataEncryptionKey",
                "seq",
                "createdAt",
                "updatedAt",
            ],
            Kind::AccessKey => &["sessionId", "machineId", "data", "dataVersion", "createdAt", "updatedAt"],
            Kind::Kv => &["key", "value", "version"],
            Kind::Settings => &["settings", "settingsVersion"],
        }
    }

    /// The record's identity: its id, a KV item's key, an access key's session and machine.
    pub fn id(self, record: &Value) -> String {
        let text = |field: &str| record[field].as_str().unwrap_or_default().to_string();
        match self {
            Kind::Kv => text("key"),
            Kind::AccessKey => format!("{}/{}", text("sessionId"), text("machineId")),
            Kind::Settings => "settings".into(),
            _ => text("id"),
        }
    }

    /// The fields a move carries, absent ones as null.
    pub fn project(self, record: &Value) -> Value {
        let mut out = Map::new();
        for field in self.fields() {
            out.insert(field.to_string(), record.get(*field).cloned().unwrap_or(Value::Null));
        }
        Value::Object(out)
    }

    /// SHA-256 of the projection's JSON: what the verification compares on both sides.
    pub fn digest(self, record: &Value) -> [u8; 32] {
        Sha256::digest(self.project(record).to_string().as_bytes()).into()
    }
}

fn list(v: &Value, key: &str) -> Result<Vec<Value>, String> {
    v[key].as_array().cloned().ok_or_else(|| format!("the answer has no `{key}` list: {v}"))
}

/// Every session, active and archived, through every /v2/sessions page.
pub fn sessions(server: &Server) -> Result<Vec<Value>, String> {
    let (mut out, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let page = server.get(&match &cursor {
            Some(c) => format!("/v2/sessions?limit=200&cursor={c}"),
            None => "/v2/sessions?limit=200".into(),
        })?;
        out.extend(list(&page, "sessions")?);
        match page["nextCursor"].as_str() {
            Some(next) if page["hasNext"] == true => cursor = Some(next.to_string()),
            _ => return Ok(out),
        }
    }
}

/// One session's messages after `after_seq`, oldest first, one v3 page (up to 500) at a time.
pub fn message_pages(
    server: &Server,
    session: &str,
    mut after: i64,
    mut each: impl FnMut(Vec<Value>) -> Result<(), String>,
) -> Result<(), String> {
    loop {
        let page = server.get(&format!("/v3/sessions/{session}/messages?after_seq={after}&limit=500"))?;
        let messages = list(&page, "messages")?;
        let last = messages.last().and_then(|m| m["seq"].as_i64());
        let more = page["hasMore"] == true;
        if !messages.is_empty() {
            each(messages)?;
        }
        match last {
            Some(seq) if more => after = seq,
            _ => return Ok(()),
        }
    }
}

/// All of one session's messages, oldest first.
pub fn all_messages(server: &Server, session: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    message_pages(server, session, 0, |page| {
        out.extend(page);
        Ok(())
    })?;
    Ok(out)
}

pub fn machines(server: &Server) -> Result<Vec<Value>, String> {
    list(&server.get("/v1/machines?limit=500")?, "machines")
}

/// KV items: the list route has no cursor and stops at 1,000.
pub fn kv(server: &Server) -> Result<Vec<Value>, String> {
    list(&server.get("/v1/kv?limit=1000")?, "items")
}

/// Every artifact with its body (the list carries headers only).
pub fn artifacts(server: &Server) -> Result<Vec<Value>, String> {
    list(&server.get("/v1/artifacts")?, "artifacts")?
        .iter()
        .map(|a| server.get(&format!("/v1/artifacts/{}", Kind::Artifact.id(a))))
        .collect()
}

/// The access key of every pair of the given sessions and machines that has one; a pair the
/// server refuses (a session or machine it does not hold for the account) has none.
pub fn access_keys(server: &Server, sessions: &[String], machines: &[String]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for sid in sessions {
        for mid in machines {
            let key = match server.get(&format!("/v1/access-keys/{sid}/{mid}")) {
                Ok(answer) => answer["accessKey"].clone(),
                Err(e) if e.contains("answered 404") => Value::Null,
                Err(e) => return Err(e),
            };
            if let Value::Object(mut key) = key {
                key.insert("sessionId".into(), Value::from(sid.as_str()));
                key.insert("machineId".into(), Value::from(mid.as_str()));
                out.push(Value::Object(key));
            }
        }
    }
    Ok(out)
}

/// The account's settings ciphertext and version, as one record.
pub fn settings(server: &Server) -> Result<Vec<Value>, String> {
    Ok(vec![server.get("/v1/account/settings")?])
}
