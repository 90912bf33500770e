//! The published Happy CLI (npm `happy` 1.2.5, pinned in tests/cli, and the older
//! `happy-coder` 0.13 in tests/cli-legacy), unchanged and headless, against the worker, as a
//! user runs it: credentials in `$HAPPY_HOME_DIR/access.key`,
//! `happy daemon start-sync` in the foreground, `happy daemon stop`. What it does is observed the
//! way the Happy app observes it: GET /v1/machines and a user-scoped socket (updates, presence
//! ephemerals, `rpc-call` into the daemon). No Claude binary is needed for the daemon.

mod common;
#[path = "support/ws.rs"]
mod ws;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use ws::Ws;

/// The daemon's Socket.IO client drops a socket that gets no Engine.IO ping within
/// pingInterval + pingTimeout of the open packet (25 s + 20 s as the worker announces them).
const HEARTBEAT_WINDOW: Duration = Duration::from_secs(45);

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// A published CLI, pinned by the package-lock.json of its folder under tests/.
struct Cli {
    folder: &'static str,
    package: &'static str,
    version: &'static str,
    /// `npm ci` accepts the lock (see the Makefile's tests/cli rule for the one it rejects).
    npm_ci: bool,
    /// The daemon's control server answers POST /status with `connected` (happy >= 1.2).
    status_route: bool,
}

const HAPPY: Cli = Cli { folder: "cli", package: "happy", version: "1.2.5", npm_ci: false, status_route: true };
/// happy-coder 0.13: the CLI of the socket `message` event, before v3 messages.
const HAPPY_CODER: Cli =
    Cli { folder: "cli-legacy", package: "happy-coder", version: "0.13.0", npm_ci: true, status_route: false };

impl Cli {
    fn bin(&self) -> PathBuf {
        tests_dir().join(self.folder).join("node_modules").join(self.package).join("bin/happy.mjs")
    }

    /// `make setup` installs it; a bare `cargo test` does it here.
    fn ensure_installed(&self) {
        if self.bin().exists() {
            return;
        }
        let install: &[&str] = if self.npm_ci { &["ci"] } else { &["install", "--no-save"] };
        let ok = Command::new("npm")
            .args(install)
            .args(["--no-fund", "--no-audit", "--ignore-scripts", "--prefix"])
            .arg(tests_dir().join(self.folder))
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "installing tests/{}", self.folder);
    }
}

/// Runs `"$@"` in the background and waits for it; kills the whole process group (this shell,
/// the CLI and whatever it spawned) if the test process ($1) disappears without running its
/// drop guards (SIGKILL, abort).
const WATCHDOG: &str = r#"t=$1; shift; "$@" & c=$!
while kill -0 "$c" 2>/dev/null; do kill -0 "$t" 2>/dev/null || kill -KILL 0; sleep 0.2; done
wait "$c""#;

/// A CLI process in its own process group, killed with the group when dropped.
struct Proc {
    child: Child,
    what: String,
}

impl Proc {
    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
        eprintln!("[cli_daemon] stopped {}", self.what);
    }
}

/// One user's machine: a HOME and HAPPY_HOME_DIR of its own, credentials of a fresh account.
struct Machine {
    root: PathBuf,
    happy_home: PathBuf,
    /// A directory the RPC test lists through the daemon.
    work: PathBuf,
    token: String,
    /// The daemon encrypts metadata, daemon state and RPC traffic with this key (base64).
    machine_key: String,
}

impl Machine {
    fn new(app: &TestApp, token: &str) -> Machine {
        let id: String = random_bytes::<6>().iter().map(|b| format!("{b:02x}")).collect();
        let root = app.state_dir.join(format!("cli-{id}"));
        let (home, happy_home, work) = (root.join("home"), root.join("happy"), root.join("work"));
        for d in [&home, &happy_home, &work] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(work.join("hello.txt"), "hi").unwrap();
        let keys: Value = serde_json::from_str(&node_box(&["keys"])).unwrap();
        // The "dataKey" credentials `happy auth login` writes (persistence-*.mjs,
        // writeCredentialsDataKey): a box public key of the account and this machine's key.
        let access_key =
            json!({"token": token, "encryption": {"publicKey": keys["publicKey"], "machineKey": keys["machineKey"]}});
        std::fs::write(happy_home.join("access.key"), access_key.to_string()).unwrap();
        let machine_key = keys["machineKey"].as_str().unwrap().to_string();
        Machine { root, happy_home, work, token: token.to_string(), machine_key }
    }

    /// `happy <args>` with this machine's environment, pointed at the worker.
    fn happy(&self, app: &TestApp, cli: &Cli, args: &[&str], log: &str) -> Proc {
        let out = std::fs::File::create(self.root.join(log)).unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(std::process::id().to_string())
            .arg("node")
            .arg(cli.bin())
            .args(args)
            .current_dir(&self.work)
            .env("HOME", self.root.join("home"))
            .env("HAPPY_HOME_DIR", &self.happy_home)
            .env("HAPPY_SERVER_URL", &app.base)
            .env("HAPPY_WEBAPP_URL", &app.base)
            .env("HAPPY_DISABLE_CAFFEINATE", "1")
            .env_remove("HAPPY_EXPERIMENTAL")
            .env_remove("HAPPY_BOOT_AGENT")
            .env_remove("HAPPY_VARIANT")
            .env_remove("DEBUG")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0);
        let child = cmd.spawn().expect("bash and node");
        Proc { child, what: format!("{} {}", cli.package, args.join(" ")) }
    }

    fn start_daemon(&self, app: &TestApp, cli: &Cli, n: usize) -> Proc {
        self.happy(app, cli, &["daemon", "start-sync"], &format!("daemon-{n}.out"))
    }

    /// `happy daemon stop` (asks the daemon's control server to shut down, SIGKILL after 2 s).
    fn stop_daemon(&self, app: &TestApp, cli: &Cli, n: usize) {
        let mut stop = self.happy(app, cli, &["daemon", "stop"], &format!("stop-{n}.out"));
        let status = stop.wait(Duration::from_secs(30)).expect("`happy daemon stop` within 30 s");
        assert!(status.success(), "happy daemon stop: {status}\n{}", self.logs());
    }

    /// The daemon's control server (port in daemon.state.json): POST /status says whether the
    /// daemon counts itself connected, which happy@1.2.5 decides from `rpc-registered` replies.
    fn daemon_status(&self) -> Option<Value> {
        let state: Value =
            serde_json::from_str(&std::fs::read_to_string(self.happy_home.join("daemon.state.json")).ok()?).ok()?;
        let port = state["httpPort"].as_u64()?;
        let resp = ureq::post(&format!("http://127.0.0.1:{port}/status"))
            .timeout(Duration::from_secs(5))
            .set("Content-Type", "application/json")
            .send_string("{}")
            .ok()?;
        resp.into_json().ok()
    }

    /// The CLI's own logs, for failure messages.
    fn logs(&self) -> String {
        let mut text = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.happy_home.join("logs"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.extend(std::fs::read_dir(&self.root).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_file()));
        files.sort();
        for f in files {
            let body = std::fs::read_to_string(&f).unwrap_or_default();
            let tail: String = body.chars().rev().take(6000).collect::<Vec<_>>().into_iter().rev().collect();
            text.push_str(&format!("==== {}\n{tail}\n", f.display()));
        }
        text
    }

    fn daemon_log(&self) -> String {
        std::fs::read_dir(self.happy_home.join("logs"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with("-daemon.log"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn encrypt(&self, value: &Value) -> String {
        node_box(&["encrypt", &self.machine_key, &value.to_string()])
    }

    fn decrypt(&self, bundle: &str) -> Value {
        serde_json::from_str(&node_box(&["decrypt", &self.machine_key, bundle])).unwrap()
    }
}

/// tests/cli/box.mjs: the CLI's "dataKey" crypto (AES-256-GCM) with node's own crypto.
fn node_box(args: &[&str]) -> String {
    let out = Command::new("node").arg(tests_dir().join("cli/box.mjs")).args(args).output().expect("node");
    assert!(out.status.success(), "box.mjs {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The next `update` whose body is `t` (for this machine, if given).
fn update(user: &mut Ws, t: &str, machine_id: Option<&str>) -> Value {
    user.wait_for(&format!("update {t}"), Duration::from_secs(30), |f| {
        f["event"] == "update"
            && f["data"]["body"]["t"] == t
            && machine_id.is_none_or(|id| f["data"]["body"]["machineId"] == id)
    })["data"]
        .clone()
}

/// The next `machine-activity` ephemeral of this machine with this `active`.
fn machine_activity(user: &mut Ws, machine_id: &str, active: bool, timeout: Duration) -> Value {
    user.activity("machine-activity", machine_id, active, timeout)
}

/// `rpc-call` as the app sends it; returns the ack.
fn rpc_call(user: &mut Ws, method: &str, params: &str) -> Value {
    user.call_within("rpc-call", json!({"method": method, "params": params}), Duration::from_secs(40))
}

/// GET /v1/machines as the app calls it (`X-Happy-Client`: the bare array,
/// docs/compatibility.md C4).
fn machines(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.request("GET", "/v1/machines", Some(token), None, &[("X-Happy-Client", "web/1.0.0")]);
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap_or_else(|| panic!("bare array expected: {}", r.text)).clone()
}

#[test]
fn published_cli_daemon_registers_serves_rpc_and_stops() {
    daemon_lifecycle(&HAPPY);
}

#[test]
fn legacy_cli_daemon_registers_serves_rpc_and_stops() {
    daemon_lifecycle(&HAPPY_CODER);
}

/// What a user does with the CLI's daemon, checked as the app sees it.
fn daemon_lifecycle(cli: &Cli) {
    cli.ensure_installed();
    let app = app();
    let account = app.new_account();
    let m = Machine::new(app, &account.token);
    let mut user = Ws::connect(app, &account.token, "user-scoped", None);

    // Start: POST /v1/machines (new-machine to the app), the machine-scoped socket, its
    // `machine-update-state` (update-machine with the daemon state) and presence.
    let mut daemon = m.start_daemon(app, cli, 1);
    let created = update(&mut user, "new-machine", None);
    let machine_id = created["body"]["machineId"].as_str().expect("machineId").to_string();
    let body = &created["body"];
    for field in [
        "seq",
        "metadata",
        "metadataVersion",
        "daemonState",
        "daemonStateVersion",
        "dataEncryptionKey",
        "active",
        "activeAt",
        "createdAt",
        "updatedAt",
    ] {
        assert!(body.get(field).is_some(), "new-machine without {field}: {body}");
    }
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(m.happy_home.join("settings.json")).unwrap()).unwrap();
    assert_eq!(settings["machineId"], machine_id.as_str(), "the daemon registered the id it keeps");
    let metadata = m.decrypt(body["metadata"].as_str().unwrap());
    assert_eq!(metadata["happyCliVersion"], cli.version);
    assert_eq!(metadata["happyHomeDir"], m.happy_home.to_str().unwrap());

    let connected_at = Instant::now();
    let running = user.wait_for("update-machine with daemon state `running`", Duration::from_secs(30), |f| {
        f["event"] == "update"
            && f["data"]["body"]["t"] == "update-machine"
            && f["data"]["body"]["machineId"] == machine_id.as_str()
            && f["data"]["body"]["daemonState"]["value"].as_str().is_some_and(|s| m.decrypt(s)["status"] == "running")
    });
    let state = m.decrypt(running["data"]["body"]["daemonState"]["value"].as_str().unwrap());
    assert!(state["pid"].is_number() && state["httpPort"].is_number(), "{state}");
    machine_activity(&mut user, &machine_id, true, Duration::from_secs(30));

    // happy@1.2.5 counts itself connected only once the worker answered its `rpc-register`s
    // with `rpc-registered`.
    if cli.status_route {
        let status = poll("daemon status connected:true", Duration::from_secs(30), || {
            m.daemon_status().filter(|s| s["connected"] == true)
        });
        assert_eq!(status["machineId"], machine_id.as_str());
        assert_eq!(status["serverUrl"], app.base.as_str());
    }

    let listed = machines(app, &m.token);
    let mine = listed.iter().find(|x| x["id"] == machine_id.as_str()).expect("machine listed");
    assert_eq!(mine["active"], true, "{mine}");
    assert!(mine["daemonStateVersion"].as_i64().unwrap() >= 2, "machine-update-state stored: {mine}");
    assert_eq!(m.decrypt(mine["daemonState"].as_str().unwrap())["status"], "running");

    // RPC from the app side into the daemon: `listDirectory` only reads.
    let ack = rpc_call(&mut user, &format!("{machine_id}:listDirectory"), &m.encrypt(&json!({"path": m.work})));
    assert_eq!(ack["ok"], true, "rpc-call ack: {ack}\n{}", m.logs());
    let result = m.decrypt(ack["result"].as_str().expect("result is the daemon's b64 answer"));
    assert_eq!(result["success"], true, "{result}");
    assert_eq!(result["entries"][0]["name"], "hello.txt", "{result}");
    assert_eq!(result["entries"][0]["type"], "file", "{result}");

    // Heartbeats: still the first connection after the client's ping deadline, with
    // `machine-alive`s (every 20 s) turning into presence for the app.
    while connected_at.elapsed() < HEARTBEAT_WINDOW + Duration::from_secs(5) {
        machine_activity(&mut user, &machine_id, true, Duration::from_secs(30));
    }
    let log = m.daemon_log();
    assert_eq!(log.matches("[API MACHINE] Connected to server").count(), 1, "reconnected:\n{}", m.logs());
    assert!(!log.contains("Disconnected from server"), "dropped:\n{}", m.logs());
    if cli.status_route {
        assert_eq!(m.daemon_status().expect("daemon up")["connected"], true);
    }

    // `happy daemon stop`: the daemon reports `shutting-down`, leaves, and the machine is
    // offline for the app both live and on refetch.
    m.stop_daemon(app, cli, 1);
    let exit = daemon.wait(Duration::from_secs(15)).expect("daemon exits after stop");
    assert!(exit.success(), "daemon exit: {exit}\n{}", m.logs());
    let left = machine_activity(&mut user, &machine_id, false, Duration::from_secs(15));
    assert!(left["activeAt"].is_number());
    let listed = machines(app, &m.token);
    let mine = listed.iter().find(|x| x["id"] == machine_id.as_str()).unwrap();
    assert_eq!(mine["active"], false, "stopped daemon still active: {mine}");
    assert_eq!(m.decrypt(mine["daemonState"].as_str().unwrap())["status"], "shutting-down");

    // A restart reuses the machine (no new-machine), comes back active and stops again.
    user.clear();
    let mut daemon = m.start_daemon(app, cli, 2);
    machine_activity(&mut user, &machine_id, true, Duration::from_secs(30));
    if cli.status_route {
        poll("restarted daemon connected:true", Duration::from_secs(30), || {
            m.daemon_status().filter(|s| s["connected"] == true)
        });
    }
    poll("restarted machine active", Duration::from_secs(10), || {
        machines(app, &m.token).into_iter().find(|x| x["id"] == machine_id.as_str() && x["active"] == true)
    });
    assert_eq!(machines(app, &m.token).len(), 1);
    m.stop_daemon(app, cli, 2);
    assert!(daemon.wait(Duration::from_secs(15)).is_some_and(|s| s.success()), "{}", m.logs());
    machine_activity(&mut user, &machine_id, false, Duration::from_secs(15));
    assert_eq!(machines(app, &m.token)[0]["active"], false);
    assert!(!user.unread.iter().any(|f| f["data"]["body"]["t"] == "new-machine"), "a restart is no new machine");
}

/// The app's "custom server" screen accepts a URL only after `GET <url>` (with `Cache-Control`
/// and `Pragma`, so from the web app behind a CORS preflight) answers a body containing
/// `Welcome to Happy Server!`.
#[test]
fn the_apps_custom_server_check_passes() {
    let app = app();
    let preflight = app.request(
        "OPTIONS",
        "/",
        None,
        None,
        &[
            ("Origin", "https://app.happy.engineering"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "cache-control,pragma"),
        ],
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    let allowed = preflight.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
    for h in ["cache-control", "pragma", "authorization", "content-type", "x-happy-client"] {
        assert!(allowed.contains(h), "{h} not allowed: {allowed}");
    }
    let r = app.request(
        "GET",
        "/",
        None,
        None,
        &[("Accept", "text/plain"), ("Cache-Control", "no-cache"), ("Pragma", "no-cache")],
    );
    assert_eq!(r.status, 200);
    assert!(r.text.contains("Welcome to Happy Server!"), "{}", r.text);
}
