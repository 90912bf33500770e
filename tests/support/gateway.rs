//! A stand-in WireGuard gateway for the tests: a tiny HTTP server on a free port that keeps the
//! peers it was told to apply and fails, on demand, for chosen public keys. A failing apply
//! still records the peer first (a partial apply), so a test can see the server take it back.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

#[derive(Default)]
struct State {
    /// device uuid → (publicKey, allowedIp)
    peers: HashMap<String, (String, String)>,
    failing_keys: HashSet<String>,
}

#[derive(Clone)]
pub struct StandInGateway {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl StandInGateway {
    pub fn start() -> StandInGateway {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        StandInGateway { url, state }
    }

    pub fn fail_for(&self, public_key: &str, fail: bool) {
        let mut s = self.state.lock().unwrap();
        if fail {
            s.failing_keys.insert(public_key.to_string());
        } else {
            s.failing_keys.remove(public_key);
        }
    }

    pub fn peer(&self, device_uuid: &str) -> Option<(String, String)> {
        self.state.lock().unwrap().peers.get(device_uuid).cloned()
    }

    pub fn peers_with_key(&self, public_key: &str) -> usize {
        self.state.lock().unwrap().peers.values().filter(|(k, _)| k == public_key).count()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut length = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let uuid = path.strip_prefix("/peers/").unwrap_or("").to_string();
    let status = {
        let mut s = state.lock().unwrap();
        match method.as_str() {
            "PUT" if !uuid.is_empty() => {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let key = v["publicKey"].as_str().unwrap_or("").to_string();
                let ip = v["allowedIp"].as_str().unwrap_or("").to_string();
                let fail = s.failing_keys.contains(&key);
                s.peers.insert(uuid, (key, ip));
                if fail {
                    500
                } else {
                    200
                }
            }
            "DELETE" if !uuid.is_empty() => {
                if s.peers.remove(&uuid).is_some() {
                    200
                } else {
                    404
                }
            }
            _ => 400,
        }
    };
    let mut stream = stream;
    let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}
