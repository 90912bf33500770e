//! The server under test: an external URL, or `wrangler dev` spawned from the repository.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::workerd;

pub struct Server {
    pub base: String,
    /// Local state of a spawned server, for setting up accounts the API cannot (plans).
    state: Option<PathBuf>,
    pub cold_start: Option<Duration>,
    /// The wrangler process group, whose workerd descendants we measure.
    root_pid: Option<u32>,
    _child: Option<Child>,
}

/// The checkout whose build/ is served; `BENCH_REPO` points at another (e.g. a copy of the
/// design being replaced, measured in the same run as the new one).
pub fn repo() -> PathBuf {
    std::env::var_os("BENCH_REPO").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."), PathBuf::from)
}

pub fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into())
}

/// (raw, gzip) size of the built wasm.
pub fn wasm_size() -> Option<(usize, usize)> {
    use std::io::Write;
    let bytes = std::fs::read(repo().join("build/index_bg.wasm")).ok()?;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&bytes).ok()?;
    Some((bytes.len(), enc.finish().ok()?.len()))
}

impl Server {
    pub fn external(base: String) -> Server {
        Server {
            base: base.trim_end_matches('/').to_string(),
            state: None,
            cold_start: None,
            root_pid: None,
            _child: None,
        }
    }

    pub fn spawn() -> Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let inspector = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let state = std::env::temp_dir().join(format!("happy-bench-{}", std::process::id()));
        let wrangler = repo().join("node_modules/.bin/wrangler");
        let ok = Command::new(&wrangler)
            .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
            .arg(&state)
            .env("CI", "1")
            .current_dir(repo())
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "migrations failed: run `make build` first");
        let started = Instant::now();
        let child = Command::new("setsid")
            .arg(&wrangler)
            .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string(), "--inspector-port", &inspector.to_string()])
            .arg("--persist-to")
            .arg(&state)
            .args(["--var", "HAPPY_MASTER_SECRET:bench-secret", "--var", "RATE_LIMITS_OFF:*"])
            // As the README's deployment sets it: tokens signed without a per-isolate PBKDF2.
            .args(["--var", &format!("HAPPY_TOKEN_SEED:{}", "5e".repeat(32))])
            // GitHub OAuth parameters: an authenticated route that needs no D1.
            .args(["--var", "GITHUB_CLIENT_ID:bench", "--var", "GITHUB_REDIRECT_URL:http://127.0.0.1/callback"])
            .env("CI", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .current_dir(repo())
            // wrangler dev reads hotkeys from stdin ("x" exits): never hand it ours.
            .stdin(Stdio::null())
            // BENCH_SERVER_LOG=path keeps wrangler's log (console output of the worker) for diagnosis.
            .stdout(
                std::env::var_os("BENCH_SERVER_LOG")
                    .and_then(|p| std::fs::File::create(p).ok())
                    .map_or(Stdio::null(), Stdio::from),
            )
            .stderr(Stdio::null())
            .spawn()
            .expect("wrangler installed (make setup)");
        let base = format!("http://127.0.0.1:{port}");
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
        loop {
            if agent.get(&format!("{base}/health")).call().map(|r| r.status() == 200).unwrap_or(false) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "wrangler dev did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let cold = started.elapsed();
        Server { base, state: Some(state), cold_start: Some(cold), root_pid: Some(child.id()), _child: Some(child) }
    }

    /// Puts `user_id` on a plan allowing `sockets` connections (spawned servers only); the
    /// seeded plans stop at 100.
    pub fn allow_sockets(&self, user_id: &str, sockets: usize) -> bool {
        let Some(state) = &self.state else { return false };
        let sql = format!(
            "INSERT OR REPLACE INTO plans (id, name, devices_per_account, ws_connections_per_user, upload_bytes_per_account, sort_order) \
             VALUES ('bench', 'Bench', 1, {sockets}, 0, 99); UPDATE accounts SET plan = 'bench' WHERE id = '{user_id}';"
        );
        Command::new(repo().join("node_modules/.bin/wrangler"))
            .args(["d1", "execute", "DB", "--local", "--persist-to"])
            .arg(state)
            .args(["--command", &sql])
            .env("CI", "1")
            .current_dir(repo())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// CPU seconds used so far by both workerd processes under our wrangler (proxy and
    /// runtime), when we spawned it.
    pub fn workerd_cpu_seconds(&self) -> Option<f64> {
        Some(workerd::cpu_seconds(self.root_pid?, false))
    }

    /// CPU seconds used so far by the workerd process that runs the worker (wrangler's proxy
    /// excluded; local D1 and R2 included, which on the platform are not the worker's CPU).
    pub fn worker_cpu_seconds(&self) -> Option<f64> {
        Some(workerd::cpu_seconds(self.root_pid?, true))
    }

    /// Resident memory of both workerd processes, in bytes.
    pub fn workerd_rss(&self) -> Option<u64> {
        Some(workerd::rss_bytes(self.root_pid?))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(pid) = self.root_pid {
            // setsid made wrangler a process-group leader: end it and workerd together.
            let _ = Command::new("kill").args(["-TERM", "--", &format!("-{pid}")]).status();
        }
    }
}
