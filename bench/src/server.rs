//! The server under test: an external URL, or `wrangler dev`'s server spawned from the repository
//! (bench/serve.mjs).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
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
    child: Option<Child>,
    /// A server this one's Durable Objects live in (`spawn_worker_alone`), ended with it.
    objects: Option<Box<Server>>,
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

const EMPTY_WORKER: &str = r#"export default {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/read") {
      // ?n=3: as many D1 round trips, one after another, as a route of ours makes.
      let row;
      for (let i = Number(new URL(request.url).searchParams.get("n") ?? 1); i > 0; i--) {
        row = await env.DB.prepare("SELECT 1 AS one").first();
      }
      return Response.json(row);
    }
    if (path === "/batch") {
      // One D1 batch of the statements posted, [{sql, args}]: a route's own batch, replayed.
      const batch = await request.json();
      const results = await env.DB.batch(batch.map((s) => env.DB.prepare(s.sql).bind(...s.args)));
      return Response.json(results.map((r) => r.results));
    }
    if (path === "/write") {
      const params = new URL(request.url).searchParams;
      // ?read, posted: as our first write, the JSON body read and the token check's one read.
      if (request.method === "POST") await request.text();
      if (params.has("read")) await env.DB.prepare("SELECT 1 AS one").first();
      const id = request.headers.get("x-id") ?? "a";
      const [, row] = await env.DB.batch([
        env.DB.prepare("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, n INTEGER)"),
        env.DB.prepare("INSERT INTO t (id, n) VALUES (?, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1 RETURNING n").bind(id),
      ]);
      if (params.has("publish")) {
        // As our writes publish: after the response, one POST to the account's object.
        const hub = env.USER_HUB.get(env.USER_HUB.idFromName(id));
        ctx.waitUntil(hub.fetch("https://hub/publish", { method: "POST", body: "[]" }).then((r) => r.arrayBuffer()));
      }
      return Response.json(row.results);
    }
    return new Response("ok");
  },
};
"#;

/// When a spawned server counts as started.
#[derive(Clone, Copy)]
pub enum Ready {
    /// `/health` answered 200 (its SELECT 1 ran through the worker).
    Health,
    /// Started and idle, no request yet: the worker's isolate has answered nothing.
    Quiet,
}

/// bench/rust-floor's entry module, when `make bench` has built it.
pub fn rust_floor() -> Option<PathBuf> {
    Some(repo().join("bench/rust-floor/build/index.js")).filter(|main| main.exists())
}

/// A new local state directory with the migrations applied.
pub fn fresh_state() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let state = std::env::temp_dir().join(format!("happy-bench-{}-{n}", std::process::id()));
    let ok = Command::new(repo().join("node_modules/.bin/wrangler"))
        .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
        .arg(&state)
        .env("CI", "1")
        .current_dir(repo())
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "migrations failed: run `make build` first");
    state
}

impl Server {
    pub fn external(base: String) -> Server {
        Server {
            base: base.trim_end_matches('/').to_string(),
            state: None,
            cold_start: None,
            root_pid: None,
            child: None,
            objects: None,
        }
    }

    /// `wrangler dev` on fresh local state, ready once `/health` answers 200.
    pub fn spawn() -> Server {
        Server::spawn_at(&fresh_state(), Ready::Health)
    }

    /// `wrangler dev` on the local state at `state` (a directory `fresh_state` made).
    pub fn spawn_at(state: &Path, ready: Ready) -> Server {
        Server::spawn_in(&repo(), state, ready)
    }

    /// The runtime's own floor: a JavaScript worker with the same D1 binding, served by the same
    /// wrangler with the same flags. `/` answers "ok"; `/read?n=N` runs `SELECT 1` N times in turn; `/write` one
    /// batch of an insert and a select, as a sign-in's upsert does (posted with `?read`: the body
    /// read and one `SELECT 1` before it, as our first write's token check); `/batch` the batch posted. Its database is a copy of
    /// `state` (ours: our schema and rows), so local D1's first-statement work (opening the file,
    /// parsing the schema), which on the platform is not the worker's CPU, is in the floor too.
    pub fn spawn_empty_js(state: &Path) -> Server {
        let dir = Server::floor_dir(state, "empty", "index.js");
        std::fs::write(dir.join("index.js"), EMPTY_WORKER).unwrap();
        Server::spawn_in(&dir, &dir.join("state"), Ready::Quiet)
    }

    /// The JavaScript floor on a copy of this server's state as it is now (taken while it is
    /// idle); `None` for a server the bench did not spawn.
    pub fn js_floor_on_copy(&self) -> Option<Server> {
        self.state.as_deref().map(Server::spawn_empty_js)
    }

    /// The Rust floor: the same three routes in workers-rs (`main`, from [`rust_floor`]), on a
    /// copy of `state` as the JavaScript floor: what any workers-rs worker pays.
    pub fn spawn_rust_floor(state: &Path, main: &Path) -> Server {
        let dir = Server::floor_dir(state, "rust-floor", &main.to_string_lossy());
        Server::spawn_in(&dir, &dir.join("state"), Ready::Quiet)
    }

    /// Ours with its Durable Objects in another runtime: our worker on a copy of `state`, its
    /// object bindings pointing (`script_name`, through wrangler's dev registry) at a second
    /// server of ours. This runtime's CPU is then the worker's part of a request that
    /// publishes to an object, apart from the object's (the one-runtime server runs both on
    /// one thread). The registry's proxy to the objects runs in this runtime, as it does in
    /// [`Server::spawn_empty_js_apart`], the floor to compare with.
    pub fn spawn_worker_alone(state: &Path) -> Server {
        let dir = Server::floor_dir(state, "worker-alone", &repo().join("build/index.js").to_string_lossy());
        let r2 = "\n[[r2_buckets]]\nbinding = \"UPLOADS\"\nbucket_name = \"happy-uploads\"\n";
        Server::spawn_objects_apart(state, &dir, r2)
    }

    /// The JavaScript floor with the same objects apart: its `/write?publish` sends one request
    /// to an object of the other server after its batch, as our writes publish (`?read`, posted:
    /// the body read and one read first, as our first write's token check).
    pub fn spawn_empty_js_apart(state: &Path) -> Server {
        let dir = Server::floor_dir(state, "empty-apart", "index.js");
        std::fs::write(dir.join("index.js"), EMPTY_WORKER).unwrap();
        Server::spawn_objects_apart(state, &dir, "")
    }

    /// Serves `dir` (a [`Server::floor_dir`]) with `more` and object bindings appended to its
    /// wrangler.toml, the objects served by a server of ours on another copy of `state`.
    fn spawn_objects_apart(state: &Path, dir: &Path, more: &str) -> Server {
        let registry = std::env::temp_dir().join(format!("happy-bench-registry-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&registry);
        // Only the copy of `state` is used: the objects' server runs our wrangler.toml.
        let objects_state = Server::floor_dir(state, "objects", "").join("state");
        let objects = Server::spawn_with(&repo(), &objects_state, Ready::Quiet, Some(&registry));
        let binding = |name: &str, class: &str| {
            format!("{{ name = \"{name}\", class_name = \"{class}\", script_name = \"happy-server\" }}")
        };
        let objects_section = format!(
            "\n[durable_objects]\nbindings = [{}, {}]\n",
            binding("USER_HUB", "UserHub"),
            binding("LOBBY", "Lobby")
        );
        let config = std::fs::read_to_string(dir.join("wrangler.toml")).unwrap_or_default();
        std::fs::write(dir.join("wrangler.toml"), config + more + &objects_section).unwrap();
        let mut server = Server::spawn_with(dir, &dir.join("state"), Ready::Quiet, Some(&registry));
        server.objects = Some(Box::new(objects));
        server
    }

    /// A directory for a floor worker: a copy of `state` and a wrangler.toml serving `main`
    /// with our D1 binding.
    fn floor_dir(state: &Path, name: &str, main: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("happy-bench-{name}-{}", std::process::id()));
        let copy = dir.join("state");
        let _ = std::fs::remove_dir_all(&copy);
        std::fs::create_dir_all(&dir).unwrap();
        let copied = Command::new("cp").arg("-a").arg(state).arg(&copy).status().is_ok_and(|s| s.success());
        assert!(copied, "copying {} failed", state.display());
        let config = std::fs::read_to_string(repo().join("wrangler.toml")).unwrap_or_default();
        let line = |key: &str| config.lines().find(|l| l.starts_with(key)).unwrap_or_default().to_string();
        let (date, db, id) = (line("compatibility_date"), line("database_name"), line("database_id"));
        std::fs::write(
            dir.join("wrangler.toml"),
            format!("name = \"{name}\"\nmain = \"{main}\"\n{date}\n\n[[d1_databases]]\nbinding = \"DB\"\n{db}\n{id}\n"),
        )
        .unwrap();
        dir
    }

    fn spawn_in(dir: &Path, state: &Path, ready: Ready) -> Server {
        Server::spawn_with(dir, state, ready, None)
    }

    /// `registry`: wrangler's dev registry, through which servers reach each other's objects.
    fn spawn_with(dir: &Path, state: &Path, ready: Ready, registry: Option<&Path>) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let started = Instant::now();
        let mut vars = vec![
            "HAPPY_MASTER_SECRET:bench-secret".to_string(),
            "RATE_LIMITS_OFF:*".into(),
            // As the README's deployment sets it: tokens signed without a per-isolate PBKDF2.
            format!("HAPPY_TOKEN_SEED:{}", "5e".repeat(32)),
            format!("HAPPY_GITHUB_TOKEN_SEED:{}", "6f".repeat(32)),
            // GitHub OAuth parameters: an authenticated route that needs no D1.
            "GITHUB_CLIENT_ID:bench".into(),
            "GITHUB_REDIRECT_URL:http://127.0.0.1/callback".into(),
        ];
        // The warm-up's rounds (src/app/warm.rs), to compare settings on one build.
        vars.extend(std::env::var("HAPPY_WARM_UP_ROUNDS").ok().map(|n| format!("HAPPY_WARM_UP_ROUNDS:{n}")));
        // `wrangler dev` without its inspector (bench/serve.mjs says why).
        let child = Command::new("setsid")
            .arg("node")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("serve.mjs"))
            .arg(dir.join("wrangler.toml"))
            .arg(port.to_string())
            .arg(state)
            .args(&vars)
            .env("CI", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .envs(registry.map(|r| ("BENCH_DEV_REGISTRY", r)))
            .current_dir(dir)
            .stdin(Stdio::null())
            // BENCH_SERVER_LOG=path keeps wrangler's log (console output of the worker) for diagnosis.
            .stdout(
                std::env::var_os("BENCH_SERVER_LOG")
                    .and_then(|p| std::fs::File::create(p).ok())
                    .map_or(Stdio::null(), Stdio::from),
            )
            .stderr(Stdio::null())
            .spawn()
            .expect("node and wrangler installed (make setup)");
        let root_pid = Some(child.id());
        let base = format!("http://127.0.0.1:{port}");
        let mut server = Server {
            base,
            state: Some(state.to_path_buf()),
            cold_start: None,
            root_pid,
            child: Some(child),
            objects: None,
        };
        let up = || match ready {
            Ready::Health => server.get_ok("/health"),
            Ready::Quiet => server.is_quiet(),
        };
        while !up() {
            assert!(started.elapsed() < Duration::from_secs(120), "wrangler dev did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server.cold_start = Some(started.elapsed());
        server
    }

    fn get_ok(&self, path: &str) -> bool {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
        agent.get(&format!("{}{path}", self.base)).call().map(|r| r.status() == 200).unwrap_or(false)
    }

    /// The proxy accepts connections and the worker's runtime has started and gone idle (its
    /// CPU still for 300 ms): up, with no request sent to the worker yet.
    fn is_quiet(&self) -> bool {
        let port = self.base.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            return false;
        }
        let Some(before) = self.worker_cpu_seconds().filter(|s| *s > 0.0) else { return false };
        std::thread::sleep(Duration::from_millis(300));
        self.worker_cpu_seconds().is_some_and(|after| after - before < 0.001)
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

    /// The workerd process that runs the worker (spawned servers only).
    pub fn runtime_pid(&self) -> Option<u32> {
        workerd::runtime_pid(self.root_pid?)
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

    /// The runtime's CPU on its request threads only (V8's background compiler and GC out).
    pub fn request_thread_cpu_seconds(&self) -> Option<f64> {
        workerd::request_thread_cpu_seconds(self.root_pid?)
    }

    /// Resident memory of both workerd processes, in bytes.
    pub fn workerd_rss(&self) -> Option<u64> {
        Some(workerd::rss_bytes(self.root_pid?))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(pid) = self.root_pid {
            let workerds = workerd::workerd_pids(pid);
            // setsid made wrangler a process-group leader: end it and workerd together.
            let _ = Command::new("kill").args(["-TERM", "--", &format!("-{pid}")]).status();
            // Gone before the next server opens the same state.
            if let Some(child) = self.child.as_mut() {
                let _ = child.wait();
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while workerds.iter().any(|p| Path::new(&format!("/proc/{p}")).exists()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
