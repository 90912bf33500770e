//! A fresh isolate's first requests: what each code path costs the first time the worker's
//! runtime runs it, against the same request warm, beside the same for an empty JavaScript
//! worker on a copy of the same D1 database (the floor: the runtime's and local D1's own
//! first-run work, which on the platform is not the worker's CPU). Each server counts as up
//! before any request reaches it (`Ready::Quiet`), and ours starts on an account an earlier
//! server made (same state, same `HAPPY_TOKEN_SEED`), so a first row is truly an isolate's
//! first request.

use std::time::Duration;

use crate::scenarios::{new_account, ok_get, post};
use crate::server::{fresh_state, rust_floor, Ready, Server};

/// A request: its label, and how to send it (agent, base URL, token); `false` when it failed.
pub type Step = (&'static str, fn(&ureq::Agent, &str, &str) -> bool);

/// The floor's requests, in the order sent.
pub const FLOOR: [Step; 4] = [
    ("empty JS worker: GET / (no D1)", |a, base, _| ok_get(a, &format!("{base}/"), None)),
    ("empty JS worker: SELECT 1", |a, base, _| ok_get(a, &format!("{base}/read"), None)),
    ("empty JS worker: one batch, an upsert", |a, base, _| ok_get(a, &format!("{base}/write"), None)),
    ("empty JS worker: 2 × SELECT 1", |a, base, _| ok_get(a, &format!("{base}/read?n=2"), None)),
];

/// The floor of [`FIRST_WRITE_ALONE`] (served by [`Server::spawn_empty_js_apart`]), with its I/O:
/// the same JSON body read, one D1 read (ours: the token check's), the upsert batch, then one
/// request to an object in the other runtime. Until 2026-12-07 it had neither the body nor the
/// read (bench/RESULTS.md, "the first write's floor").
const FLOOR_PUBLISH: Step = (
    "empty JS worker: the body read, SELECT 1, the upsert batch, then a request to an object in another runtime",
    |a, base, _| post(a, &format!("{base}/write?read&publish"), None, &session_body()).is_ok(),
);

/// Ours, in the order a fresh isolate meets them: each row's first-time cost is what its path
/// adds to those before it.
pub const OURS: [Step; 6] = [
    ("GET / (hello, no D1)", |a, base, _| ok_get(a, &format!("{base}/"), None)),
    ("GET /health (SELECT 1)", |a, base, _| ok_get(a, &format!("{base}/health"), None)),
    ("GET /v1/connect/github/params (token check: one read of account and revocation; token signing)", |a, base, t| {
        ok_get(a, &format!("{base}/v1/connect/github/params"), Some(t))
    }),
    ("GET /v1/sessions (token check, 2 D1 reads in all)", |a, base, t| {
        ok_get(a, &format!("{base}/v1/sessions"), Some(t))
    }),
    ("POST /v1/auth (Ed25519 verify, D1 batch, token signing)", |a, base, _| new_account(a, base).is_some()),
    ("POST /v1/sessions (token check, D1 batch, publish to the account's object)", new_session),
];

/// The first write again, served by [`Server::spawn_worker_alone`]: the account's objects run
/// in another runtime, so this one's CPU is the worker's part alone.
pub const FIRST_WRITE_ALONE: Step =
    ("POST /v1/sessions, the worker alone (its objects served by another runtime)", new_session);

/// Whether `step` is served with its objects in another runtime ([`FIRST_WRITE_ALONE`]).
pub fn objects_apart(step: &Step) -> bool {
    step.0 == FIRST_WRITE_ALONE.0
}

/// An isolate's first write: a new session (a D1 batch) and its update published to the
/// account's Durable Object, which wakes. A fresh tag each time, so every run creates.
fn new_session(agent: &ureq::Agent, base: &str, token: &str) -> bool {
    post(agent, &format!("{base}/v1/sessions"), Some(token), &session_body()).is_ok()
}

/// A new session's body, with a fresh tag.
fn session_body() -> String {
    let tag =
        format!("cold-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    serde_json::json!({"tag": tag, "metadata": "bWV0YQ=="}).to_string()
}

/// The worker process's CPU for one request, in ms, read once it has gone idle again (work
/// after the response, such as `waitUntil`, counts).
fn cpu_ms(server: &Server, agent: &ureq::Agent, token: &str, step: &Step) -> Option<f64> {
    cpu_split_ms(server, agent, token, step).map(|(all, _)| all)
}

/// The same, and the part of it on the runtime's request threads (V8's background tier-up
/// compiler and GC threads out: on the platform the CPU limit counts the request's thread).
fn cpu_split_ms(server: &Server, agent: &ureq::Agent, token: &str, step: &Step) -> Option<(f64, f64)> {
    let before = (server.worker_cpu_seconds()?, server.request_thread_cpu_seconds()?);
    if !(step.1)(agent, &server.base, token) {
        return None;
    }
    let after = settled(server)?;
    Some(((after.0 - before.0) * 1000.0, (after.1 - before.1) * 1000.0))
}

/// The runtime's CPU (whole process, request threads) once the request's work after its
/// response (`waitUntil`: a publish to an object, which may be in another runtime) has ended:
/// read every 30 ms until the request threads stop moving, for at most 2 s.
fn settled(server: &Server) -> Option<(f64, f64)> {
    let mut last = server.request_thread_cpu_seconds()?;
    for _ in 0..66 {
        std::thread::sleep(Duration::from_millis(30));
        let now = server.request_thread_cpu_seconds()?;
        if now - last < 0.000_05 {
            break;
        }
        last = now;
    }
    Some((server.worker_cpu_seconds()?, server.request_thread_cpu_seconds()?))
}

/// Fresh isolates per very-first-request row (`BENCH_FRESH`, default 5): this VM's swings are
/// a millisecond either way, so comparing two builds wants more.
fn fresh_count() -> usize {
    std::env::var("BENCH_FRESH").ok().and_then(|n| n.parse().ok()).filter(|&n| n > 0).unwrap_or(5)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("failed".into(), |v| format!("{v:.2}"))
}

/// Each step once on a fresh isolate, in order, then each warm; one table row a step.
fn rows(server: Server, agent: &ureq::Agent, token: &str, steps: &[Step]) {
    let first: Vec<Option<f64>> = steps.iter().map(|s| cpu_ms(&server, agent, token, s)).collect();
    for (step, first) in steps.iter().zip(first) {
        let warm = median((0..15).filter_map(|_| cpu_ms(&server, agent, token, step)).collect());
        println!("| {} | {} | {} | {} |", step.0, fmt(first), fmt(warm), fmt(first.zip(warm).map(|(c, w)| c - w)));
    }
}

pub fn run() {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    let state = fresh_state();
    let token = {
        let first = Server::spawn_at(&state, Ready::Health);
        new_account(&agent, &first.base)
    };
    let Some(token) = token else {
        println!("- fresh isolate: no account could be made");
        return;
    };
    println!("\nA fresh isolate's first requests (worker process CPU ms, `HAPPY_TOKEN_SEED` set):\n");
    println!("| request, in the order sent to one fresh isolate | first time | warm median | first − warm |");
    println!("| --- | ---: | ---: | ---: |");
    rows(Server::spawn_empty_js(&state), &agent, "", &FLOOR);
    rows(Server::spawn_at(&state, Ready::Quiet), &agent, &token, &OURS);
    // Each as an isolate's very first request, on fresh isolates.
    let n = fresh_count();
    let rust = rust_floor();
    println!("\nAs an isolate's very first request (median of {n} fresh isolates each, spawned in turns; each");
    println!("difference is the median of the turns' differences; whole process, and on the request thread");
    println!(
        "alone; the workers-rs floor is bench/rust-floor, the JavaScript floor's routes in Rust{}):\n",
        if rust.is_some() { "" } else { ", not built: `make bench` builds it" }
    );
    println!("| request | ours | empty JS worker | ours − floor | request thread: ours | floor | ours − floor | workers-rs floor | ours − workers-rs floor |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    // The first write's row counts the worker and the account's object together: one runtime
    // thread runs both here; on the platform each is an invocation with its own CPU limit. The
    // last row, objects apart, is the worker's part alone.
    let pairs = [
        (&OURS[0], &FLOOR[0]),
        (&OURS[2], &FLOOR[1]),
        (&OURS[3], &FLOOR[3]),
        (&OURS[4], &FLOOR[2]),
        (&OURS[5], &FLOOR[2]),
        (&FIRST_WRITE_ALONE, &FLOOR_PUBLISH),
    ];
    // Each fresh server's start, request thread: ours, the JS floor, the workers-rs floor.
    let mut starts: [Vec<f64>; 3] = Default::default();
    for (ours, floor) in pairs {
        // Fresh isolates in turns (ours, the JavaScript floor, the workers-rs floor), so that a
        // drift of this VM touches the three alike; each "ours − floor" is the median of the
        // turns' differences. A turn: (whole process, request thread) for each, `None` if failed.
        let mut turns: Vec<[Option<(f64, f64)>; 3]> = Vec::new();
        for _ in 0..n {
            let once = |spawn: &dyn Fn() -> Server, step: &Step, starts: &mut Vec<f64>| {
                let server = spawn();
                starts.extend(server.request_thread_cpu_seconds().map(|s| s * 1000.0));
                cpu_split_ms(&server, &agent, &token, step)
            };
            let turn = if objects_apart(ours) {
                // Their starts include the objects' server, so they stay out of `starts`; the
                // workers-rs floor has no objects to publish to.
                let o = once(&|| Server::spawn_worker_alone(&state), ours, &mut Vec::new());
                [o, once(&|| Server::spawn_empty_js_apart(&state), floor, &mut Vec::new()), None]
            } else {
                let o = once(&|| Server::spawn_at(&state, Ready::Quiet), ours, &mut starts[0]);
                let f = once(&|| Server::spawn_empty_js(&state), floor, &mut starts[1]);
                let rust = rust.as_ref();
                [o, f, rust.and_then(|main| once(&|| Server::spawn_rust_floor(&state, main), floor, &mut starts[2]))]
            };
            turns.push(turn);
        }
        let all = |t: &(f64, f64)| t.0;
        let thread = |t: &(f64, f64)| t.1;
        let one = |k: usize, part: &dyn Fn(&(f64, f64)) -> f64| {
            fmt(median(turns.iter().filter_map(|t| t[k].as_ref().map(part)).collect()))
        };
        let over = |k: usize, part: &dyn Fn(&(f64, f64)) -> f64| {
            fmt(median(turns.iter().filter_map(|t| Some(part(t[0].as_ref()?) - part(t[k].as_ref()?))).collect()))
        };
        println!(
            "| {} / {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            ours.0,
            floor.0,
            one(0, &all),
            one(1, &all),
            over(1, &all),
            one(0, &thread),
            one(1, &thread),
            over(1, &thread),
            one(2, &thread),
            over(2, &thread)
        );
    }
    // What Workers hold to the startup limit (1 s) rather than to a request's CPU: workerd's own
    // start, and for ours the module's instantiation and the warm-up (src/app/warm.rs).
    let [ours, js, rust] = starts.map(median);
    println!(
        "\nA fresh runtime's start, request thread, median of every start above, ms: ours {}, empty JS",
        fmt(ours)
    );
    println!(
        "worker {}, workers-rs floor {}; ours − JS floor {}.",
        fmt(js),
        fmt(rust),
        fmt(ours.zip(js).map(|(o, j)| o - j))
    );
}
