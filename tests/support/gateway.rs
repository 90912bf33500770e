//! A stand-in WireGuard gateway for the tests: a tiny HTTP server on a free port that keeps the
//! peers it was told to apply and fails, on demand, for chosen public keys. A failing apply
//! still records the peer first (a partial apply), so a test can see the server take it back.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::common::{stub_server, StubReply, StubRequest};

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
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let url = stub_server(move |req| serve(req, &shared));
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

fn serve(req: &StubRequest, state: &Mutex<State>) -> StubReply {
    let uuid = req.path.strip_prefix("/peers/").unwrap_or("").to_string();
    let status = {
        let mut s = state.lock().unwrap();
        match req.method.as_str() {
            "PUT" if !uuid.is_empty() => {
                let v: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
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
    StubReply { status, body: String::new(), delay: std::time::Duration::ZERO }
}
