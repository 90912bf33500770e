//! Black-box test support: one `wrangler dev` per test binary (real workerd with local D1, R2
//! and Durable Objects on a fresh state directory), real HTTP and WebSocket clients, real
//! Ed25519 keys.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

#[path = "../support/workerd.rs"]
pub mod workerd;

/// The master secret of every test server; tests mint tokens natively with it.
pub const MASTER_SECRET: &str = "test-master-secret-0123456789";

pub struct TestApp {
    pub base: String,
    pub port: u16,
    /// wrangler's inspector (DevTools protocol) of the worker's isolate.
    pub inspector: u16,
    pub state_dir: PathBuf,
    agent: ureq::Agent,
    watchdog: std::process::Child,
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// Asserts a JSON error body with the given status.
    pub fn assert_error(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert!(self.body["error"].is_string(), "error body expected, got {}", self.text);
        self
    }
}

pub struct Account {
    pub key: SigningKey,
    pub token: String,
}

impl Account {
    pub fn public_key_b64(&self) -> String {
        B64.encode(self.key.verifying_key().to_bytes())
    }
}

/// The server of this test binary, and the `--var`s it was started with.
static APP: OnceLock<(Vec<(String, String)>, TestApp)> = OnceLock::new();

/// The server of this test binary, started on first use with no extra vars.
pub fn app() -> &'static TestApp {
    app_with(&[])
}

/// The server of this test binary, started on first use with extra `--var NAME:VALUE`s. One
/// server serves the whole binary: a later call with other vars panics rather than hand back a
/// server configured differently from what the caller asked for.
pub fn app_with(vars: &[(&str, &str)]) -> &'static TestApp {
    let wanted = sorted_vars(vars);
    let (started, app) = APP.get_or_init(|| (wanted.clone(), TestApp::spawn(vars)));
    assert!(
        *started == wanted,
        "app_with: this test binary's server was started with vars {started:?}, and is now asked for \
         {wanted:?}; one binary has one server, so every call must pass the same vars \
         (a second server of its own: another_app())"
    );
    app
}

fn sorted_vars(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    v.sort();
    v
}

/// A second server of its own (fresh state, the same master secret), beside [`app`]'s: for
/// what moves between two servers. It stops when the test process ends.
pub fn another_app() -> TestApp {
    another_app_with(&[])
}

/// [`another_app`] with extra `--var NAME:VALUE`s.
pub fn another_app_with(vars: &[(&str, &str)]) -> TestApp {
    TestApp::spawn(vars)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits, when need be, until the next `seconds` fall inside one wall-clock minute: the
/// server's rate limiters count per minute window, and a window turning over mid-test would
/// hand out a fresh budget.
pub fn within_one_rate_window(seconds: u64) {
    let into_minute = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 60_000;
    let left = 60_000 - into_minute as u64;
    if left < seconds * 1000 {
        std::thread::sleep(Duration::from_millis(left + 50));
    }
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).unwrap();
    b
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random id: `prefix-` and 16 hex digits.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", hex(&random_bytes::<8>()))
}

/// A fresh random UUID of version 4's shape (artifact and device ids, idempotency keys).
pub fn uuid() -> String {
    let h = hex(&random_bytes::<16>());
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

/// Milliseconds since the Unix epoch, as the wire's timestamps count them.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The key names of a JSON object.
pub fn keys(v: &Value) -> std::collections::BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

/// Calls `f` every 100 ms until it returns `Some`; panics naming `what` after `timeout`.
pub fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `f(0)` … `f(n - 1)` at once, one thread each, and returns their results in order (races
/// on one row, one key, one version).
pub fn concurrently<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = (0..n).map(|i| s.spawn(move || f(i))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Polls until `f` holds (effects of socket events land concurrently with later frames);
/// panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    poll(what, timeout, || f().then_some(()))
}

impl TestApp {
    fn spawn(vars: &[(&str, &str)]) -> TestApp {
        let state_dir = repo().join("target/test-state").join(format!("{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&state_dir).unwrap();
        let wrangler = repo().join("node_modules/.bin/wrangler");
        let status = Command::new(&wrangler)
            .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
            .arg(&state_dir)
            .env("CI", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .current_dir(repo())
            .stdout(Stdio::null())
            .status()
            .expect("wrangler installed (make setup)");
        assert!(status.success(), "migrations failed");
        // A free port can be taken by another process between our probe and workerd's bind
        // (test binaries start servers in parallel): try again on fresh ports.
        for attempt in 0..4 {
            if let Some(app) = Self::start(&wrangler, &state_dir, vars, attempt) {
                return app;
            }
        }
        panic!("wrangler dev did not start; see {}/wrangler-*.log", state_dir.display());
    }

    fn start(
        wrangler: &std::path::Path,
        state_dir: &std::path::Path,
        vars: &[(&str, &str)],
        attempt: u32,
    ) -> Option<TestApp> {
        let port = free_port();
        let inspector = free_port();
        let mut args = vec![
            "dev".to_string(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--inspector-port".into(),
            inspector.to_string(),
            "--persist-to".into(),
            state_dir.display().to_string(),
            "--var".into(),
            format!("HAPPY_MASTER_SECRET:{MASTER_SECRET}"),
        ];
        // Every test binary makes its accounts from one address: no rate limits, unless asked.
        if !vars.iter().any(|(k, _)| *k == "RATE_LIMITS_OFF") {
            args.push("--var".into());
            args.push("RATE_LIMITS_OFF:*".into());
        }
        for (k, v) in vars {
            args.push("--var".into());
            args.push(format!("{k}:{v}"));
        }
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let log = state_dir.join(format!("wrangler-{attempt}.log"));
        let stop = state_dir.join(format!("stop-{attempt}"));
        // The watchdog stops wrangler and workerd (one process group) when this test process
        // exits, however it exits, or when a failed attempt is abandoned.
        let script = format!(
            "set -m; '{}' {} > '{}' 2>&1 & W=$!; while kill -0 {} 2>/dev/null && [ ! -e '{}' ]; do sleep 0.5; done; kill -TERM -$W 2>/dev/null; sleep 1; kill -KILL -$W 2>/dev/null",
            wrangler.display(),
            quoted.join(" "),
            log.display(),
            std::process::id(),
            stop.display()
        );
        let watchdog = Command::new("bash")
            .arg("-c")
            .arg(script)
            .env("CI", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
        let app = TestApp {
            base: format!("http://127.0.0.1:{port}"),
            port,
            inspector,
            state_dir: state_dir.to_path_buf(),
            agent,
            watchdog,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(r) = app.agent.get(&format!("{}/health", app.base)).call() {
                if r.status() == 200 {
                    return Some(app);
                }
            }
            let failed = std::fs::read_to_string(&log)
                .map(|l| l.contains("Address already in use") || l.contains("failed to start"))
                .unwrap_or(false);
            if failed || Instant::now() > deadline {
                std::fs::write(&stop, b"").ok();
                std::thread::sleep(Duration::from_millis(1500));
                return None;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{}", self.port, path)
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let _shared = LOCAL_FILES.read().unwrap_or_else(|e| e.into_inner());
        let mut req = self.agent.request(method, &format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(&b.to_string()),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        Self::read(resp)
    }

    /// Sends raw bytes (bad JSON, oversize bodies, uploads).
    pub fn request_raw(&self, method: &str, path: &str, token: Option<&str>, content_type: &str, body: &[u8]) -> Resp {
        let _shared = LOCAL_FILES.read().unwrap_or_else(|e| e.into_inner());
        let mut req = self.agent.request(method, &format!("{}{}", self.base, path)).set("Content-Type", content_type);
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let resp = match req.send_bytes(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        Self::read(resp)
    }

    fn read(resp: ureq::Response) -> Resp {
        let status = resp.status();
        let headers =
            resp.headers_names().into_iter().map(|n| (n.clone(), resp.header(&n).unwrap_or("").to_string())).collect();
        let mut text = String::new();
        resp.into_reader().read_to_string(&mut text).ok();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text, headers }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request("GET", path, token, None, &[])
    }
    pub fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request("POST", path, token, Some(&body), &[])
    }
    pub fn put(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request("PUT", path, token, Some(&body), &[])
    }
    pub fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request("PATCH", path, token, Some(&body), &[])
    }
    pub fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.request("DELETE", path, token, None, &[])
    }

    /// Signs up a fresh account through POST /v1/auth with a new Ed25519 key.
    pub fn new_account(&self) -> Account {
        let key = SigningKey::from_bytes(&random_bytes::<32>());
        let token = self.login(&key);
        Account { key, token }
    }

    pub fn login(&self, key: &SigningKey) -> String {
        let challenge = random_bytes::<32>();
        let r = self.post(
            "/v1/auth",
            None,
            json!({
                "publicKey": B64.encode(key.verifying_key().to_bytes()),
                "challenge": B64.encode(challenge),
                "signature": B64.encode(key.sign(&challenge).to_bytes()),
            }),
        );
        assert_eq!(r.status, 200, "login: {}", r.text);
        r.body["token"].as_str().unwrap().to_string()
    }
}

/// Typed steps the tests share: each asserts the call succeeded and returns what it made.
impl TestApp {
    /// POST /v1/sessions with `tag` (metadata `bWV0YQ==`); the session object.
    pub fn create_session(&self, token: &str, tag: &str) -> Value {
        let r = self.post("/v1/sessions", Some(token), json!({"tag": tag, "metadata": "bWV0YQ=="}));
        assert_eq!(r.status, 200, "create session: {}", r.text);
        r.body["session"].clone()
    }

    /// [`Self::create_session`], returning only the id.
    pub fn new_session(&self, token: &str, tag: &str) -> String {
        self.create_session(token, tag)["id"].as_str().unwrap().to_string()
    }

    /// POST /v1/machines with `id` (metadata `bWV0YQ==`); the machine object.
    pub fn register_machine(&self, token: &str, id: &str) -> Value {
        let r = self.post("/v1/machines", Some(token), json!({"id": id, "metadata": "bWV0YQ=="}));
        assert_eq!(r.status, 200, "register machine: {}", r.text);
        r.body["machine"].clone()
    }

    /// POST /v3/sessions/{sid}/messages with `(localId, content)` pairs, as is.
    pub fn post_messages(&self, token: &str, sid: &str, messages: &[(&str, &str)]) -> Resp {
        let messages: Vec<Value> = messages.iter().map(|(l, c)| json!({"localId": l, "content": c})).collect();
        self.post(&format!("/v3/sessions/{sid}/messages"), Some(token), json!({ "messages": messages }))
    }

    /// POST /v1/uploads/sweep for the account: (objects scanned, objects removed).
    pub fn sweep_uploads(&self, token: &str) -> (u64, Vec<Value>) {
        let r = self.post("/v1/uploads/sweep", Some(token), json!({}));
        assert_eq!(r.status, 200, "sweep: {}", r.text);
        (r.body["scanned"].as_u64().unwrap(), r.body["removed"].as_array().unwrap().clone())
    }

    /// POST a multipart body built by [`multipart`] to `path`.
    pub fn send_multipart(&self, path: &str, token: &str, body: &[u8]) -> Resp {
        let content_type = format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}");
        self.request_raw("POST", path, Some(token), &content_type, body)
    }

    /// POST /v1/uploads with the file `(name, content type, bytes)` and text `fields`.
    pub fn upload(&self, token: &str, file: (&str, &str, &[u8]), fields: &[(&str, &str)]) -> Resp {
        self.send_multipart("/v1/uploads", token, &multipart(Some(file), fields))
    }

    /// Puts the account on a test plan `plan` (3 devices) allowing `ws_connections` sockets and
    /// `upload_bytes` of uploads, written straight into D1 (the API has no plan writes).
    pub fn put_on_test_plan(&self, token: &str, plan: &str, ws_connections: u64, upload_bytes: u64) {
        self.d1(&format!(
            "INSERT OR IGNORE INTO plans (id, name, devices_per_account, ws_connections_per_user, upload_bytes_per_account, sort_order)
             VALUES ('{plan}', 'Test', 3, {ws_connections}, {upload_bytes}, 90)"
        ));
        self.d1(&format!("UPDATE accounts SET plan = '{plan}' WHERE id = '{}'", user_id_of(token)));
    }

    /// The upgrade request of a socket on /v1/updates with header auth, as `client_type`
    /// scoped to `id` (`X-Session-Id` for a session-scoped one, `X-Machine-Id` for a
    /// machine-scoped one).
    pub fn updates_request(
        &self,
        token: &str,
        client_type: &str,
        id: Option<&str>,
    ) -> tungstenite::handshake::client::Request {
        use tungstenite::client::IntoClientRequest;
        let mut req = self.ws_url("/v1/updates").into_client_request().unwrap();
        let h = req.headers_mut();
        h.insert("authorization", format!("Bearer {token}").parse().unwrap());
        h.insert("x-client-type", client_type.parse().unwrap());
        match (client_type, id) {
            ("session-scoped", Some(id)) => h.insert("x-session-id", id.parse().unwrap()),
            ("machine-scoped", Some(id)) => h.insert("x-machine-id", id.parse().unwrap()),
            _ => None,
        };
        req
    }
}

/// The boundary of [`multipart`] bodies.
pub const MULTIPART_BOUNDARY: &str = "----happy-test-boundary-7MA4YWxk";

/// A multipart body: the file part `(name, content type, bytes)` (when given), then `fields` as
/// text parts.
pub fn multipart(file: Option<(&str, &str, &[u8])>, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    if let Some((name, ct, data)) = file {
        b.extend_from_slice(
            format!(
                "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    b.extend_from_slice(format!("--{MULTIPART_BOUNDARY}--\r\n").as_bytes());
    b
}

/// A PNG signature and IHDR chunk of `w` × `h`: enough for the upload checks.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut d = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    d.extend_from_slice(&w.to_be_bytes());
    d.extend_from_slice(&h.to_be_bytes());
    d.extend_from_slice(&[8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89]);
    d
}

/// The account id inside a token (the `sub` claim).
pub fn user_id_of(token: &str) -> String {
    claims_of(token)["sub"].as_str().unwrap().to_string()
}

/// A token's claims, read without checking its signature.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

impl TestApp {
    fn wrangler(&self, args: &[&str]) -> std::process::Output {
        let _exclusive = LOCAL_FILES.write().unwrap_or_else(|e| e.into_inner());
        // The running workerd may hold the SQLite file busy for a moment: try a few times.
        let mut last = None;
        for _ in 0..4 {
            let out = Command::new(repo().join("node_modules/.bin/wrangler"))
                .args(args)
                .arg("--local")
                .arg("--persist-to")
                .arg(&self.state_dir)
                .env("CI", "1")
                .env("WRANGLER_SEND_METRICS", "false")
                .current_dir(repo())
                .output()
                .expect("wrangler installed (make setup)");
            if out.status.success() {
                return out;
            }
            last = Some(out);
            std::thread::sleep(Duration::from_millis(500));
        }
        let out = last.expect("at least one attempt");
        panic!("wrangler {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Resident memory of this server's workerd, in bytes.
    pub fn workerd_rss(&self) -> u64 {
        workerd::rss_bytes(self.watchdog.id())
    }

    /// The rows of one SQL statement run on this server's local D1 (read what the API hides).
    pub fn d1(&self, sql: &str) -> Vec<Value> {
        let out = self.wrangler(&["d1", "execute", "DB", "--json", "--command", sql]);
        let v: Value = serde_json::from_slice(&out.stdout).expect("wrangler d1 --json output");
        v[0]["results"].as_array().cloned().unwrap_or_default()
    }

    /// Writes an object straight into this server's local R2 bucket (bypassing the API).
    pub fn r2_put(&self, key: &str, bytes: &[u8]) {
        let file = self.state_dir.join(new_id("r2-put"));
        std::fs::write(&file, bytes).unwrap();
        self.wrangler(&["r2", "object", "put", &format!("happy-uploads/{key}"), "--file", file.to_str().unwrap()]);
    }
}

/// `wrangler d1 execute` and `r2 object put` open the server's local SQLite files from another
/// process and hold their lock meanwhile; a request of a parallel test that reaches local D1 then
/// fails inside workerd with SQLITE_BUSY (surfacing as an opaque "internal error", a 500).
/// Nothing on the platform shares D1's files, so the harness keeps the two apart: HTTP requests
/// share this lock, out-of-process access takes it alone.
static LOCAL_FILES: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A request as a stand-in outside service saw it.
#[derive(Clone, Debug)]
pub struct StubRequest {
    pub method: String,
    /// Path with its query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl StubRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub struct StubReply {
    pub status: u16,
    pub body: String,
    /// Wait this long before answering (upstream timeouts).
    pub delay: Duration,
}

impl StubReply {
    pub fn json(status: u16, body: Value) -> Self {
        StubReply { status, body: body.to_string(), delay: Duration::ZERO }
    }
}

/// A local stand-in for an outside HTTP service (GitHub, RevenueCat, ElevenLabs, the WireGuard
/// gateway): each request is answered by `handler` on its own thread. Returns the base URL to
/// pass to the server.
pub fn stub_server(handler: impl Fn(&StubRequest) -> StubReply + Send + Sync + 'static) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let handler = std::sync::Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = handler.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let mut words = line.split_whitespace();
                let (method, path) = (words.next().unwrap_or("").to_string(), words.next().unwrap_or("").to_string());
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.trim().split_once(':') {
                        headers.push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                let len = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let reply = handler(&StubRequest { method, path, headers, body });
                std::thread::sleep(reply.delay);
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {} Stub\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    reply.status,
                    reply.body.len(),
                    reply.body
                );
            });
        }
    });
    base
}
