//! What an account holds on a server, kind by kind, read through every page of the API.

use serde_json::Value;

use crate::api::Server;

#[derive(Debug, Default)]
pub struct Inventory {
    pub sessions: usize,
    pub active_sessions: usize,
    pub messages: usize,
    pub machines: usize,
    pub artifacts: usize,
    /// KV items, up to the list route's 1,000 (it has no cursor).
    pub kv: usize,
}

fn items(v: &Value, key: &str) -> Result<Vec<Value>, String> {
    v[key].as_array().cloned().ok_or_else(|| format!("the answer has no `{key}` list: {v}"))
}

impl Inventory {
    pub fn read(server: &Server) -> Result<Inventory, String> {
        let mut inv = Inventory::default();
        let mut cursor: Option<String> = None;
        loop {
            let page = server.get(&match &cursor {
                Some(c) => format!("/v2/sessions?limit=200&cursor={c}"),
                None => "/v2/sessions?limit=200".into(),
            })?;
            for session in items(&page, "sessions")? {
                inv.sessions += 1;
                inv.active_sessions += usize::from(session["active"] == true);
                let id = session["id"].as_str().ok_or("a session without an id")?;
                inv.messages += count_messages(server, id)?;
            }
            match page["nextCursor"].as_str() {
                Some(next) if page["hasNext"] == true => cursor = Some(next.to_string()),
                _ => break,
            }
        }
        inv.machines = items(&server.get("/v1/machines?limit=500")?, "machines")?.len();
        inv.artifacts = items(&server.get("/v1/artifacts")?, "artifacts")?.len();
        inv.kv = items(&server.get("/v1/kv?limit=1000")?, "items")?.len();
        Ok(inv)
    }
}

/// Every v3 page of one session, oldest first.
fn count_messages(server: &Server, session: &str) -> Result<usize, String> {
    let (mut count, mut after) = (0, 0i64);
    loop {
        let page = server.get(&format!("/v3/sessions/{session}/messages?after_seq={after}&limit=500"))?;
        let messages = items(&page, "messages")?;
        count += messages.len();
        match messages.last().and_then(|m| m["seq"].as_i64()) {
            Some(seq) if page["hasMore"] == true => after = seq,
            _ => return Ok(count),
        }
    }
}
