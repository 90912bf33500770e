//! A raw-framing WebSocket client for the tests (header auth, JSON frames).
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
    /// Frames read while waiting for another one (`expect`, `call`), served first later.
    backlog: VecDeque<Value>,
}

impl Ws {
    /// Header auth on `app` ([`TestApp::updates_request`]), waiting for `connected`.
    pub fn connect(app: &TestApp, token: &str, client_type: &str, id: Option<&str>) -> Ws {
        let (sock, _) = tungstenite::connect(app.updates_request(token, client_type, id)).expect("upgrade");
        let mut ws = Ws { sock, backlog: VecDeque::new() };
        ws.expect("connected");
        ws
    }

    pub fn send(&mut self, event: &str, data: Value) {
        self.sock.send(Message::text(json!({"event": event, "data": data}).to_string())).unwrap();
    }

    /// Sends with an ack id and returns the ack value.
    pub fn call(&mut self, event: &str, data: Value) -> Value {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = format!("a{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        self.sock.send(Message::text(json!({"event": event, "data": data, "ackId": id}).to_string())).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Some(f) = self.read(left) {
                if f["event"] == "ack" && f["ackId"] == id.as_str() {
                    return f["ack"].clone();
                }
                self.backlog.push_back(f);
            }
        }
        panic!("no ack for {event} within 10 s");
    }

    /// The next frame, or `None` after `timeout` (or once closed).
    pub fn recv(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(f) = self.backlog.pop_front() {
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

    /// The next frame with this event name; frames passed over stay in the backlog. Panics
    /// after 10 s.
    pub fn expect(&mut self, event: &str) -> Value {
        if let Some(i) = self.backlog.iter().position(|f| f["event"] == event) {
            return self.backlog.remove(i).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Some(f) = self.read(left) {
                if f["event"] == event {
                    return f;
                }
                self.backlog.push_back(f);
            }
        }
        panic!("no {event} within 10 s");
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
        let _ = self.recv(Duration::from_millis(300));
    }
}
