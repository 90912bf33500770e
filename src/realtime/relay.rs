//! The hub's per-lobby outgoing queue (the calls themselves are in `calls`). Pure: the objects
//! only move its entries over `fetch`.
//!
//! Every frame for a socket held by a lobby goes through the queue of that lobby, in the order
//! the hub produced it, and at most one call per lobby is in flight: the lobby sends each call's
//! frames in order before the next call arrives, so per-socket order (seq order, an ack before
//! the update it caused) is the hub's own order. Frames queued while a call is in flight leave in
//! the next one, so a burst costs a few calls, not one per frame.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Hub → lobby: what to do to its sockets, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Out {
    Send {
        text: String,
        conns: Vec<String>,
    },
    Close {
        conn: String,
        code: u16,
        reason: String,
    },
    /// Sends nothing: only which of these the lobby no longer holds (a lobby reset by a code
    /// update loses its sockets without telling anyone).
    Check {
        conns: Vec<String>,
    },
}

/// Frames waiting for their lobby, and which lobbies have a call in flight.
#[derive(Debug, Default)]
pub struct Outgoing {
    queued: BTreeMap<String, Vec<Out>>,
    in_flight: BTreeSet<String>,
}

impl Outgoing {
    /// Queues one frame for several sockets of a lobby (a fan-out is one entry, not one per
    /// socket).
    pub fn send(&mut self, lobby: &str, conns: Vec<String>, text: String) {
        if !conns.is_empty() {
            self.queued.entry(lobby.to_string()).or_default().push(Out::Send { text, conns });
        }
    }

    pub fn check(&mut self, lobby: &str, conns: Vec<String>) {
        if !conns.is_empty() {
            self.queued.entry(lobby.to_string()).or_default().push(Out::Check { conns });
        }
    }

    pub fn close(&mut self, lobby: &str, conn: &str, code: u16, reason: &str) {
        let close = Out::Close { conn: conn.to_string(), code, reason: reason.to_string() };
        self.queued.entry(lobby.to_string()).or_default().push(close);
    }

    /// The next call to make: a lobby with frames queued and no call in flight, and its frames.
    /// The lobby counts as in flight until [`Outgoing::done`].
    pub fn next_call(&mut self) -> Option<(String, Vec<Out>)> {
        let lobby = self.queued.keys().find(|l| !self.in_flight.contains(*l))?.clone();
        let outs = self.queued.remove(&lobby)?;
        self.in_flight.insert(lobby.clone());
        Some((lobby, outs))
    }

    pub fn done(&mut self, lobby: &str) {
        self.in_flight.remove(lobby);
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(text: &str, conns: &[&str]) -> Out {
        Out::Send { text: text.into(), conns: conns.iter().map(|c| c.to_string()).collect() }
    }

    #[test]
    fn one_call_per_lobby_in_flight_and_frames_keep_their_order() {
        let mut q = Outgoing::default();
        q.send("a", vec!["c1".into(), "c2".into()], "u1".into());
        q.send("b", vec!["c3".into()], "u1".into());
        q.send("a", vec![], "nobody".into());
        q.check("b", vec![]);
        q.close("a", "c1", 1000, "bye");
        let (lobby, outs) = q.next_call().unwrap();
        assert_eq!(lobby, "a");
        assert_eq!(
            outs,
            vec![send("u1", &["c1", "c2"]), Out::Close { conn: "c1".into(), code: 1000, reason: "bye".into() }]
        );
        // Queued while a's call is in flight: waits for it; b goes meanwhile.
        q.send("a", vec!["c2".into()], "u2".into());
        assert_eq!(q.next_call().unwrap(), ("b".into(), vec![send("u1", &["c3"])]));
        assert_eq!(q.next_call(), None);
        assert!(!q.is_empty());
        q.done("a");
        assert_eq!(q.next_call().unwrap(), ("a".into(), vec![send("u2", &["c2"])]));
        q.done("a");
        q.done("b");
        assert!(q.is_empty() && q.next_call().is_none());
        q.check("b", vec!["c3".into()]);
        assert_eq!(q.next_call().unwrap(), ("b".into(), vec![Out::Check { conns: vec!["c3".into()] }]));
    }

    #[test]
    fn frames_round_trip_as_json() {
        let out: Vec<Out> = serde_json::from_str(&serde_json::to_string(&vec![send("x", &["c"])]).unwrap()).unwrap();
        assert_eq!(out, vec![send("x", &["c"])]);
    }
}
