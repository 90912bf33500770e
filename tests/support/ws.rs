//! A socket on /v1/updates in the seed's raw framing with header auth, for tests that watch
//! what the app (user-scoped) or a CLI (session- or machine-scoped) would receive. Frames read
//! while waiting for another one are kept and served first later, so the order in which
//! independent events arrive does not matter.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::protocol::CloseFrame;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::common::TestApp;

pub struct Ws {
    sock: WebSocket<MaybeTlsStream<TcpStream>>,
    /// Frames read while waiting for another one, oldest first.
    pub unread: VecDeque<Value>,
}

impl Ws {
    /// Header auth on `app` as `client_type` scoped to `id` ([`TestApp::updates_request`]),
    /// waiting for `connected`.
    pub fn connect(app: &TestApp, token: &str, client_type: &str, id: Option<&str>) -> Ws {
        let (sock, _) = tungstenite::connect(app.updates_request(token, client_type, id)).expect("upgrade");
        let mut ws = Ws { sock, unread: VecDeque::new() };
        ws.expect("connected");
        ws
    }

    /// Sends `{"event", "data"}`.
    pub fn send(&mut self, event: &str, data: Value) {
        self.send_frame(json!({"event": event, "data": data}));
    }

    /// Sends a whole frame as is.
    pub fn send_frame(&mut self, frame: Value) {
        self.sock.send(Message::text(frame.to_string())).unwrap();
    }

    /// Sends with an ack id and returns the ack value; panics after 10 s.
    pub fn call(&mut self, event: &str, data: Value) -> Value {
        self.call_within(event, data, Duration::from_secs(10))
    }

    /// [`Self::call`], waiting up to `timeout` for the ack.
    pub fn call_within(&mut self, event: &str, data: Value, timeout: Duration) -> Value {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = format!("a{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        self.send_frame(json!({"event": event, "data": data, "ackId": id}));
        self.wait_for(&format!("ack of {event}"), timeout, |f| f["event"] == "ack" && f["ackId"] == id.as_str())["ack"]
            .clone()
    }

    /// The next frame, kept or new, or `None` after `timeout` (or once closed).
    pub fn recv(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(f) = self.unread.pop_front() {
            return Some(f);
        }
        self.read(timeout)
    }

    fn read(&mut self, timeout: Duration) -> Option<Value> {
        if let MaybeTlsStream::Plain(s) = self.sock.get_mut() {
            s.set_read_timeout(Some(timeout.max(Duration::from_millis(1)))).unwrap();
        }
        loop {
            match self.sock.read() {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).expect("JSON frame")),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The first frame matching `want`, kept or new; frames passed over stay unread. Panics
    /// naming `what` after `timeout`.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.unread.iter().position(&want) {
            return self.unread.remove(i).unwrap();
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Some(f) = self.read(left) {
                if want(&f) {
                    return f;
                }
                self.unread.push_back(f);
            }
        }
        panic!("no {what} within {timeout:?}; got {:?}", self.unread);
    }

    /// The next frame with this event name; panics after 10 s.
    pub fn expect(&mut self, event: &str) -> Value {
        self.wait_for(event, Duration::from_secs(10), |f| f["event"] == event)
    }

    /// The next ephemeral of this `type` about `id` with this `active`: its data.
    pub fn activity(&mut self, kind: &str, id: &str, active: bool, timeout: Duration) -> Value {
        self.wait_for(&format!("{kind} {id} active:{active}"), timeout, |f| {
            f["event"] == "ephemeral"
                && f["data"]["type"] == kind
                && f["data"]["id"] == id
                && f["data"]["active"] == active
        })["data"]
            .clone()
    }

    /// Forgets what arrived so far.
    pub fn clear(&mut self) {
        self.unread.clear();
    }

    /// Every frame arriving within `window` (all events).
    pub fn drain(&mut self, window: Duration) -> Vec<Value> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.recv(left) {
                Some(f) => out.push(f),
                None => break,
            }
        }
        out
    }

    pub fn close(mut self) {
        let _ = self.sock.close(Some(CloseFrame { code: 1000.into(), reason: "bye".into() }));
        let _ = self.read(Duration::from_millis(300));
    }
}
