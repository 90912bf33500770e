//! A raw WebSocket client for the realtime tests (JSON frames, or Engine.IO packets as text).
//! The including test binary provides `server()`.
#![allow(dead_code)]

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::CloseFrame;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::server;

pub struct Ws {
    sock: WebSocket<MaybeTlsStream<TcpStream>>,
}

#[derive(Debug)]
pub enum Got {
    Frame(Value),
    Closed(u16),
    Nothing,
}

impl Ws {
    pub fn open(path: &str, headers: &[(&str, &str)]) -> Ws {
        let mut req = server().ws_url(path).into_client_request().unwrap();
        for (k, v) in headers {
            let name = tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
            req.headers_mut().insert(name, v.parse().unwrap());
        }
        Ws::upgrade(req)
    }

    /// Header auth ([`TestApp::updates_request`]).
    pub fn bearer(token: &str, client_type: &str, id: Option<&str>) -> Ws {
        Ws::upgrade(server().updates_request(token, client_type, id))
    }

    fn upgrade(req: tungstenite::handshake::client::Request) -> Ws {
        let (sock, resp) = tungstenite::connect(req).expect("upgrade");
        assert_eq!(resp.status(), 101);
        Ws { sock }
    }

    /// Header auth, waiting for `connected`.
    pub fn connected(token: &str, client_type: &str, id: Option<&str>) -> Ws {
        let mut ws = Ws::bearer(token, client_type, id);
        ws.expect("connected");
        ws
    }

    pub fn send(&mut self, v: Value) {
        self.send_text(&v.to_string());
    }

    pub fn send_text(&mut self, text: &str) {
        self.sock.send(Message::text(text)).unwrap();
    }

    pub fn recv(&mut self, timeout: Duration) -> Got {
        if let MaybeTlsStream::Plain(s) = self.sock.get_mut() {
            s.set_read_timeout(Some(timeout)).unwrap();
        }
        loop {
            match self.sock.read() {
                Ok(Message::Text(t)) => return Got::Frame(serde_json::from_str(&t).expect("JSON frame")),
                Ok(Message::Close(frame)) => {
                    // Sends the queued close reply now, as a real client would.
                    let _ = self.sock.flush();
                    return Got::Closed(frame.map(|f| u16::from(f.code)).unwrap_or(1005));
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    return Got::Nothing
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Got::Closed(1006)
                }
                Err(e) => panic!("socket error: {e}"),
            }
        }
    }

    /// The next text frame as is (Engine.IO packets are not JSON).
    pub fn recv_raw(&mut self, timeout: Duration) -> Option<String> {
        if let MaybeTlsStream::Plain(s) = self.sock.get_mut() {
            s.set_read_timeout(Some(timeout.max(Duration::from_millis(1)))).unwrap();
        }
        loop {
            match self.sock.read() {
                Ok(Message::Text(t)) => return Some(t.to_string()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next frame with this event name, skipping others (presence ephemerals etc.).
    pub fn expect(&mut self, event: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left.max(Duration::from_millis(1))) {
                Got::Frame(f) if f["event"] == event => return f,
                Got::Frame(_) => {}
                other => panic!("waiting for {event}: {other:?}"),
            }
            assert!(Instant::now() < deadline, "no {event} within 10 s");
        }
    }

    /// Frames with this event name arriving within `window`.
    pub fn collect(&mut self, event: &str, window: Duration) -> Vec<Value> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.recv(left.max(Duration::from_millis(1))) {
                Got::Frame(f) if f["event"] == event => out.push(f),
                Got::Frame(_) => {}
                _ => break,
            }
        }
        out
    }

    /// The close code, skipping frames before it.
    pub fn expect_close(&mut self) -> u16 {
        loop {
            match self.recv(Duration::from_secs(10)) {
                Got::Frame(_) => {}
                Got::Closed(code) => return code,
                Got::Nothing => panic!("not closed within 10 s"),
            }
        }
    }

    pub fn close(mut self) {
        let _ = self.sock.close(Some(CloseFrame { code: 1000.into(), reason: "bye".into() }));
        let _ = self.recv(Duration::from_millis(500));
    }
}

impl Ws {
    /// Drops the TCP connection without a close frame (a client that vanished).
    pub fn vanish(mut self) {
        if let MaybeTlsStream::Plain(s) = self.sock.get_mut() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The next frame that satisfies `pred`, skipping others, within `within`.
    pub fn expect_where(&mut self, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no matching frame within {within:?}");
            match self.recv(left) {
                Got::Frame(f) if pred(&f) => return f,
                Got::Frame(_) | Got::Nothing => {}
                Got::Closed(code) => panic!("closed ({code}) while waiting"),
            }
        }
    }
}
