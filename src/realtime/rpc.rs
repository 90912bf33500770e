//! RPC relay bookkeeping: which socket serves a call, and the calls waiting for an answer.

use std::collections::HashMap;

use super::conn::ConnMeta;

/// How long a call waits for a serving socket to (re)connect and register.
pub const WAIT_FOR_TARGET_MS: u64 = 15_000;
/// How long a call waits for the serving socket's answer.
pub const CALL_TIMEOUT_MS: u64 = 30_000;

#[derive(Debug, PartialEq)]
pub enum Target<'a> {
    Found(&'a ConnMeta),
    /// Only the caller serves the method: a socket never calls itself.
    OnlySelf,
    Missing,
}

/// The serving socket: the most recently connected one (an older one is more likely a
/// half-dead socket its client already replaced).
pub fn pick<'a>(conns: &'a [ConnMeta], method: &str, caller: &str) -> Target<'a> {
    let serving = conns.iter().filter(|c| c.serves(method));
    let mut self_serves = false;
    let mut best: Option<&ConnMeta> = None;
    for c in serving {
        if c.id == caller {
            self_serves = true;
        } else if best.is_none_or(|b| c.connected_at >= b.connected_at) {
            best = Some(c);
        }
    }
    match best {
        Some(c) => Target::Found(c),
        None if self_serves => Target::OnlySelf,
        None => Target::Missing,
    }
}

/// Outstanding server-to-client requests by (connection id, ack id).
pub struct Pending<T> {
    next_id: u64,
    calls: HashMap<(String, u64), T>,
}

impl<T> Pending<T> {
    /// Ids start at a random point so a restarted object does not reuse a live id.
    pub fn new(first_id: u64) -> Self {
        Pending { next_id: first_id, calls: HashMap::new() }
    }

    pub fn insert(&mut self, conn: &str, value: T) -> u64 {
        let id = self.next_id;
        // Socket.IO ack ids must stay exact in a JS number.
        self.next_id = (self.next_id + 1) % (1 << 52);
        self.calls.insert((conn.to_string(), id), value);
        id
    }

    pub fn take(&mut self, conn: &str, id: u64) -> Option<T> {
        self.calls.remove(&(conn.to_string(), id))
    }

    /// Everything waiting on a connection that went away.
    pub fn take_conn(&mut self, conn: &str) -> Vec<T> {
        let keys: Vec<_> = self.calls.keys().filter(|(c, _)| c == conn).cloned().collect();
        keys.into_iter().filter_map(|k| self.calls.remove(&k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::conn::{ClientType, Framing};

    fn conn(id: &str, at: i64, methods: &[&str]) -> ConnMeta {
        let mut m = ConnMeta {
            id: id.into(),
            user_id: "u".into(),
            client_type: ClientType::SessionScoped,
            session_id: Some("s".into()),
            machine_id: None,
            framing: Framing::Raw,
            connected_at: at,
            rpc: vec![],
            rpc_other: vec![],
            app_state: None,
            happy_client: None,
        };
        for method in methods {
            m.add_rpc(method);
        }
        m
    }

    #[test]
    fn picks_the_newest_other_server() {
        let conns = [conn("a", 1, &["s:bash"]), conn("b", 3, &["s:bash"]), conn("c", 5, &["s:x"])];
        assert_eq!(pick(&conns, "s:bash", "c"), Target::Found(&conns[1]));
        assert_eq!(pick(&conns, "s:bash", "b"), Target::Found(&conns[0]));
        assert_eq!(pick(&conns, "s:x", "c"), Target::OnlySelf);
        assert_eq!(pick(&conns, "s:nope", "c"), Target::Missing);
    }

    #[test]
    fn pending_calls_by_connection() {
        let mut p = Pending::new(7);
        let a = p.insert("a", "x");
        let b = p.insert("b", "y");
        let c = p.insert("a", "z");
        assert_eq!((a, b, c), (7, 8, 9));
        assert_eq!(p.take("b", a), None);
        assert_eq!(p.take("b", b), Some("y"));
        let mut gone = p.take_conn("a");
        gone.sort();
        assert_eq!(gone, ["x", "z"]);
        assert!(p.take_conn("a").is_empty());
    }
}
