//! An account's records on a server, read page by page through the ordinary API, and each
//! record's projection: the fields a move carries verbatim, so both sides compare field for
//! field whatever else a server adds to its answers. Presence (`active`, `activeAt` of sessions
//! and machines) is carried but not compared: each server changes it on its own, with every
//! heartbeat and inactivity sweep, so it is not the account's data.

use std::collections::{BTreeMap, BTreeSet};

use happy_server::crypto::util::hex_lower;
use happy_server::domain::kv::MAX_KEY_CHARS;
use serde_json::{json, Map, Value};
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
    /// The account's own records: its settings and its profile (names, username).
    Account,
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
            Kind::Account => "account",
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
            Kind::Account => &["record", "settings", "settingsVersion", "firstName", "lastName", "username", "avatar"],
        }
    }

    /// The record's identity: its id, a KV item's key, an access key's session and machine.
    pub fn id(self, record: &Value) -> String {
        let text = |field: &str| record[field].as_str().unwrap_or_default().to_string();
        match self {
            Kind::Kv => text("key"),
            Kind::AccessKey => format!("{}/{}", text("sessionId"), text("machineId")),
            Kind::Account => text("record"),
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

/// The most items a KV list answers (the Happy server's and this worker's cap); it has no cursor.
const KV_PAGE: usize = 1000;

/// Every KV item. The list route takes a prefix and at most 1,000 items, without a cursor or a
/// defined order (the Node server sorts by its database's collation), so a full page under a
/// prefix is split by the next character: the key equal to the prefix, then the prefix plus each
/// printable ASCII character and each other character the page shows there, recursively. Whole
/// whenever the keys are printable ASCII; a key holding another character at a split position
/// that no listed key shows could be missed, so the warning says when that was possible: a page
/// was full and some key holds such a character.
pub fn kv(server: &Server) -> Result<(Vec<Value>, Option<String>), String> {
    let (mut found, mut prefixes, mut split) = (BTreeMap::new(), vec![String::new()], false);
    while let Some(prefix) = prefixes.pop() {
        let query: &[(&str, &str)] = match prefix.as_str() {
            "" => &[("limit", "1000")],
            p => &[("prefix", p), ("limit", "1000")],
        };
        let page = list(&server.get_query("/v1/kv", query)?, "items")?;
        let full = page.len() >= KV_PAGE;
        let mut next = BTreeSet::new();
        for item in page {
            let key = Kind::Kv.id(&item);
            let Some(rest) = key.strip_prefix(prefix.as_str()) else {
                return Err(format!("{}/v1/kv answered {key:?} under the prefix {prefix:?}", server.base));
            };
            next.extend(rest.chars().next());
            found.insert(key, item);
        }
        // Past this worker's longest key nothing more could be imported: a source answering full
        // pages that deep is not splitting its keys, and the split stops there.
        if !full || prefix.chars().count() >= MAX_KEY_CHARS {
            continue;
        }
        split = true;
        if !prefix.is_empty() && !found.contains_key(&prefix) {
            for item in list(&server.post("/v1/kv/bulk", json!({ "keys": [prefix] }))?, "values")? {
                found.insert(Kind::Kv.id(&item), item);
            }
        }
        next.extend(' '..='~');
        prefixes.extend(next.into_iter().map(|c| format!("{prefix}{c}")));
    }
    let unsure = split && found.keys().any(|k| k.chars().any(|c| !(' '..='~').contains(&c)));
    let warning = unsure.then(|| {
        "KV keys hold characters beyond printable ASCII and a list page was full: items under a character no \
         listed key shows may be missing (the list route has no cursor)"
            .to_string()
    });
    Ok((found.into_values().collect(), warning))
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

/// The account's records: its settings (ciphertext and version) and its profile's names,
/// username and avatar (the SHA-256 of its image: its path and URL are each server's own), each
/// marked with what it is.
pub fn account(server: &Server) -> Result<Vec<Value>, String> {
    let mut settings = server.get("/v1/account/settings")?;
    settings["record"] = json!("settings");
    let profile = server.get("/v1/account/profile")?;
    let mut carried = json!({"record": "profile"});
    for field in PROFILE_FIELDS {
        carried[field] = profile.get(field).cloned().unwrap_or(Value::Null);
    }
    if let Some((image, _)) = avatar_of(server, &profile)? {
        carried["avatar"] = json!(hex_lower(&Sha256::digest(&image)));
    }
    Ok(vec![settings, carried])
}

/// The profile fields the import route takes; the avatar goes through the upload route and the
/// GitHub link is not carried (README).
pub const PROFILE_FIELDS: [&str; 3] = ["firstName", "lastName", "username"];

/// The largest avatar read: the Happy server takes up to 5 MB.
const MAX_AVATAR: u64 = 5 * 1024 * 1024;

/// The account's avatar image and its content type, when it has one.
pub fn avatar(server: &Server) -> Result<Option<(Vec<u8>, String)>, String> {
    avatar_of(server, &server.get("/v1/account/profile")?)
}

fn avatar_of(server: &Server, profile: &Value) -> Result<Option<(Vec<u8>, String)>, String> {
    profile["avatar"]["url"].as_str().map(|url| server.download(url, MAX_AVATAR)).transpose()
}
