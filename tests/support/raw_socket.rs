//! A socket on /v1/updates in the seed's raw framing with header auth, for tests that watch
//! what the app (user-scoped) or a CLI (session- or machine-scoped) would receive. Frames not
//! asked for yet are kept, so the order in which independent events arrive does not matter.
#![allow(dead_code)]

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::protocol::CloseFrame;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::common::TestApp;

pub struct RawSocket {
    sock: WebSocket<MaybeTlsStream<TcpStream>>,
    pub unread: Vec<Value>,
}

impl RawSocket {
    /// Connected as `client_type`, scoped to `id` (`X-Session-Id` / `X-Machine-Id`).
    pub fn open(app: &TestApp, token: &str, client_type: &str, id: Option<&str>) -> RawSocket {
        let (sock, _) = tungstenite::connect(app.updates_request(token, client_type, id)).expect("upgrade");
        let mut s = RawSocket { sock, unread: Vec::new() };
        s.wait_for("connected", Duration::from_secs(10), |f| f["event"] == "connected");
        s
    }

    pub fn send(&mut self, frame: Value) {
        self.sock.send(Message::text(frame.to_string())).unwrap();
    }

    /// Forgets what arrived so far.
    pub fn clear(&mut self) {
        self.unread.clear();
    }

    /// The first frame matching `want`, kept or new; panics after `timeout`.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.unread.iter().position(&want) {
            return self.unread.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {what} within {timeout:?}; got {:?}", self.unread);
            if let MaybeTlsStream::Plain(s) = self.sock.get_mut() {
                s.set_read_timeout(Some(left)).unwrap();
            }
            match self.sock.read() {
                Ok(Message::Text(t)) => {
                    let frame: Value = serde_json::from_str(&t).expect("JSON frame");
                    if want(&frame) {
                        return frame;
                    }
                    self.unread.push(frame);
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("socket failed while waiting for {what}: {e}"),
            }
        }
    }

    /// The next ephemeral of this `type` about `id` with this `active`.
    pub fn activity(&mut self, kind: &str, id: &str, active: bool, timeout: Duration) -> Value {
        self.wait_for(&format!("{kind} {id} active:{active}"), timeout, |f| {
            f["event"] == "ephemeral"
                && f["data"]["type"] == kind
                && f["data"]["id"] == id
                && f["data"]["active"] == active
        })["data"]
            .clone()
    }

    pub fn close(mut self) {
        let _ = self.sock.close(Some(CloseFrame { code: 1000.into(), reason: "bye".into() }));
        let _ = self.sock.flush();
    }
}
