//! The scenarios, each printed as a row: requests/s, p50, p99, errors, workerd CPU per request.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

use happy_server::config::now_ms;
use happy_server::crypto::util::uuid_v7;
use happy_server::db::messages::{create_batch, input_rows, NewMessage};

use crate::load::{percentile_ms, run, Stats};
use crate::server::Server;
use crate::Options;

pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).unwrap();
    b
}

fn login_body() -> String {
    login_body_for(&random::<32>())
}

/// POST /v1/auth's body for the account whose secret (Ed25519 seed) is `seed`.
pub(crate) fn login_body_for(seed: &[u8; 32]) -> String {
    let key = SigningKey::from_bytes(seed);
    let challenge = random::<32>();
    json!({
        "publicKey": B64.encode(key.verifying_key().to_bytes()),
        "challenge": B64.encode(challenge),
        "signature": B64.encode(key.sign(&challenge).to_bytes()),
    })
    .to_string()
}

pub(crate) fn post(agent: &ureq::Agent, url: &str, token: Option<&str>, body: &str) -> Result<Value, String> {
    let mut req = agent.post(url).set("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    match req.send_string(body) {
        Ok(r) => r.into_json().map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

pub(crate) fn ok_get(agent: &ureq::Agent, url: &str, token: Option<&str>) -> bool {
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    // Drained, not decoded: the load generator shares the cores with workerd, so it should
    // spend as little as it can on each response.
    req.call().map(|r| std::io::copy(&mut r.into_reader(), &mut std::io::sink()).is_ok()).unwrap_or(false)
}

pub(crate) fn new_account(agent: &ureq::Agent, base: &str) -> Option<String> {
    post(agent, &format!("{base}/v1/auth"), None, &login_body()).ok()?["token"].as_str().map(str::to_string)
}

/// The heaviest measured write, and its D1 batch alone on the JavaScript floor.
const V3_BATCH: &str = "POST /v3/sessions/:id/messages (10 a batch)";
const V3_FLOOR: &str = "empty JS worker: POST /v3's D1 batch alone (the same statements, 10 messages)";

/// One request of a connection: `(agent, connection, index)`, true on success.
type Request = Arc<dyn Fn(&ureq::Agent, usize, u64) -> bool + Send + Sync>;

/// A request scenario: its row label and the request its connections send.
struct Scenario {
    name: String,
    connections: usize,
    /// Writers run after the readers, in rounds of their own: their database growth and
    /// checkpoints would otherwise land in the slices of the reads compared with the floors.
    writes: bool,
    request: Request,
    /// Sent to the JavaScript floor, whose CPU its row reads, instead of to ours.
    on_floor: bool,
}

/// A scenario's slices, one a round, merged for its row.
struct Row {
    name: String,
    rounds: Vec<Stats>,
    note: String,
}

impl Row {
    fn median_rps(&self) -> f64 {
        median(self.rounds.iter().map(Stats::rps).collect())
    }
    fn median_cpu(&self) -> Option<f64> {
        let cpu: Option<Vec<f64>> = self.rounds.iter().map(Stats::cpu_ms_per_request).collect();
        cpu.map(median)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn print_rows(rows: &[Row]) {
    println!(
        "| scenario | requests | errors | req/s (median of rounds) | p50 ms | p99 ms | worker process CPU ms/req (median) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        if r.rounds.is_empty() {
            println!("| {} | - | - | - | - | - | {} |", r.name, r.note);
            continue;
        }
        let mut lat: Vec<u64> = r.rounds.iter().flat_map(|s| s.latencies_us.iter().copied()).collect();
        lat.sort_unstable();
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            r.name,
            lat.len(),
            r.rounds.iter().map(|s| s.errors).sum::<u64>(),
            r.median_rps(),
            percentile_ms(&lat, 0.5),
            percentile_ms(&lat, 0.99),
            r.median_cpu().map(|c| format!("{c:.2}")).unwrap_or_else(|| "-".into())
        );
    }
}

/// Prepares every wanted request scenario, then runs them in turns: `rounds` rounds, each
/// giving every scenario its slice of `duration` (the reads first, then the writes). A drift
/// of the machine then touches the floors and the routes compared with them alike.
pub fn run_all(server: &Server, opts: &Options, duration: Duration) {
    let base = Arc::new(server.base.clone());
    let wanted = |name: &str| opts.only.as_ref().is_none_or(|o| o.iter().any(|w| name.starts_with(w.as_str())));
    let conns = opts.connections;
    let setup = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut failed: Vec<Row> = Vec::new();
    // The scenarios that insert rows (POST /v1/version only reads).
    const WRITERS: [&str; 3] = ["POST /v1/auth", "POST /v1/sessions", "POST /v3"];
    let mut add = |name: &str, connections: usize, request: Request| {
        let writes = WRITERS.iter().any(|w| name.starts_with(w));
        scenarios.push(Scenario { name: name.to_string(), connections, writes, request, on_floor: false })
    };
    // The JavaScript floor, on a copy of our database, and the scenarios sent to it.
    let mut js_floor: Option<Server> = None;
    let mut floor_scenarios: Vec<Scenario> = Vec::new();
    let unavailable = |name: &str, note: &str| Row { name: name.into(), rounds: Vec::new(), note: note.into() };

    if wanted("hello") {
        let b = base.clone();
        add("hello floor: GET / (no D1)", conns, Arc::new(move |a, _, _| ok_get(a, &format!("{b}/"), None)));
    }
    if wanted("floor") {
        let b = base.clone();
        add(
            "one-query floor: GET /health (SELECT 1)",
            conns,
            Arc::new(move |a, _, _| ok_get(a, &format!("{b}/health"), None)),
        );
    }
    if wanted("nodb") {
        let b = base.clone();
        add(
            "POST /v1/version (no D1)",
            conns,
            Arc::new(move |a, _, _| {
                post(a, &format!("{b}/v1/version"), None, r#"{"platform":"ios","version":"1.4.0"}"#).is_ok()
            }),
        );
        match new_account(&setup, &base) {
            Some(token) => {
                let b = base.clone();
                add(
                    "GET /v1/connect/github/params (no D1), authenticated",
                    conns,
                    Arc::new(move |a, _, _| ok_get(a, &format!("{b}/v1/connect/github/params"), Some(&token))),
                );
            }
            None => failed.push(unavailable("GET /v1/connect/github/params", "login failed")),
        }
    }
    if wanted("auth") {
        let b = base.clone();
        add(
            "POST /v1/auth, fresh keys",
            conns,
            Arc::new(move |a, _, _| post(a, &format!("{b}/v1/auth"), None, &login_body()).is_ok()),
        );
    }
    for (name, path, count) in [("sessions-v1", "/v1/sessions", 20), ("sessions-v2", "/v2/sessions?limit=100", 100)] {
        if !wanted(name) {
            continue;
        }
        let label = format!("GET {path} ({count} sessions), authenticated");
        let Some(token) = new_account(&setup, &base) else {
            failed.push(unavailable(&label, "login failed"));
            continue;
        };
        let created = (0..count).all(|i| {
            post(
                &setup,
                &format!("{base}/v1/sessions"),
                Some(&token),
                &json!({"tag": format!("bench-{i}"), "metadata": "bWV0YQ=="}).to_string(),
            )
            .is_ok()
        });
        if !created {
            failed.push(unavailable(&label, "POST /v1/sessions unavailable"));
            continue;
        }
        let (b, p) = (base.clone(), path.to_string());
        add(&label, conns, Arc::new(move |a, _, _| ok_get(a, &format!("{b}{p}"), Some(&token))));
    }
    if wanted("messages") {
        let label = "POST /v1/sessions/:id/messages, 16 clients";
        match message_target(&setup, &base) {
            Some((token, sid)) => {
                let b = base.clone();
                add(
                    label,
                    16,
                    Arc::new(move |a, c, i| {
                        let body =
                            json!({"localId": format!("m-{c}-{i}"), "content": {"t": "encrypted", "c": "aGVsbG8="}})
                                .to_string();
                        post(a, &format!("{b}/v1/sessions/{sid}/messages"), Some(&token), &body).is_ok()
                    }),
                );
            }
            None => failed.push(unavailable(label, "sessions routes unavailable")),
        }
    }
    if wanted("v3") {
        match message_target(&setup, &base) {
            Some((token, sid)) => {
                let batch = |prefix: String| {
                    let msgs: Vec<Value> =
                        (0..10).map(|k| json!({"localId": format!("{prefix}-{k}"), "content": "aGVsbG8="})).collect();
                    json!({"messages": msgs}).to_string()
                };
                for i in 0..10 {
                    let _ = post(
                        &setup,
                        &format!("{base}/v3/sessions/{sid}/messages"),
                        Some(&token),
                        &batch(format!("seed-{i}")),
                    );
                }
                let (b, t, s2) = (base.clone(), token.clone(), sid.clone());
                add(
                    "GET /v3/sessions/:id/messages (100 a page)",
                    conns,
                    Arc::new(move |a, _, _| {
                        ok_get(a, &format!("{b}/v3/sessions/{s2}/messages?after_seq=0&limit=100"), Some(&t))
                    }),
                );
                let b = base.clone();
                let (t, s2) = (token.clone(), sid.clone());
                add(
                    V3_BATCH,
                    conns,
                    Arc::new(move |a, c, i| {
                        post(a, &format!("{b}/v3/sessions/{s2}/messages"), Some(&t), &batch(format!("b-{c}-{i}")))
                            .is_ok()
                    }),
                );
                // Its D1 batch alone, the same statements (built by the worker's own code) on a
                // copy of the same database: local D1's share, which on the platform is not the
                // worker's CPU.
                js_floor = server.js_floor_on_copy();
                if let Some(floor) = &js_floor {
                    let (fb, user) = (floor.base.clone(), user_id(&token));
                    floor_scenarios.push(Scenario {
                        name: V3_FLOOR.into(),
                        connections: conns,
                        writes: true,
                        on_floor: true,
                        request: Arc::new(move |a, c, i| {
                            let messages: Vec<NewMessage> = (0..10)
                                .map(|k| NewMessage {
                                    local_id: Some(format!("f-{c}-{i}-{k}")),
                                    ciphertext: "aGVsbG8=".into(),
                                })
                                .collect();
                            let now = now_ms();
                            let ids: Vec<String> = messages.iter().map(|_| uuid_v7(now)).collect();
                            let batch = create_batch(&sid, &user, &input_rows(&messages, &ids), now);
                            post(a, &format!("{fb}/batch"), None, &serde_json::to_string(&batch).unwrap()).is_ok()
                        }),
                    });
                }
            }
            None => failed.push(unavailable("v3 messages", "sessions routes unavailable")),
        }
    }

    scenarios.extend(floor_scenarios);
    let rounds = opts.rounds.max(1);
    let slice = duration / rounds as u32;
    let mut rows: Vec<Row> =
        scenarios.iter().map(|s| Row { name: s.name.clone(), rounds: Vec::new(), note: String::new() }).collect();
    for writes in [false, true] {
        for _ in 0..rounds {
            for (s, row) in scenarios.iter().zip(rows.iter_mut()).filter(|(s, _)| s.writes == writes) {
                let request = s.request.clone();
                let target = if s.on_floor { js_floor.as_ref().unwrap_or(server) } else { server };
                row.rounds.push(run(
                    s.connections,
                    slice,
                    u64::MAX,
                    || target.worker_cpu_seconds(),
                    move |a, c, i| request(a, c, i),
                ));
            }
        }
    }
    rows.extend(failed);
    print_rows(&rows);
    print_ratios(&rows);
    print_own_cpu(&rows);

    if wanted("uploads") {
        crate::uploads::run(server, &base);
    }
    crate::sockets::run(server, &setup, &base, opts, &wanted);
}

pub(crate) fn message_target(agent: &ureq::Agent, base: &str) -> Option<(String, String)> {
    let token = new_account(agent, base)?;
    let r = post(
        agent,
        &format!("{base}/v1/sessions"),
        Some(&token),
        &json!({"tag": "bench-msg", "metadata": "bWV0YQ=="}).to_string(),
    )
    .ok()?;
    let sid = r["session"]["id"].as_str()?.to_string();
    Some((token, sid))
}

/// Ratios against the floors, paired round by round (each round's slices ran within seconds of
/// each other), then the median.
fn print_ratios(rows: &[Row]) {
    let find = |prefix: &str| rows.iter().find(|r| r.name.starts_with(prefix)).filter(|r| !r.rounds.is_empty());
    let (Some(floor), Some(hello)) = (find("one-query floor"), find("hello floor")) else { return };
    let paired = |a: &Row, b: &Row, f: &dyn Fn(&Stats) -> Option<f64>| -> Option<(f64, String)> {
        let ratios: Vec<f64> =
            a.rounds.iter().zip(&b.rounds).map(|(x, y)| Some(f(x)? / f(y)?)).collect::<Option<_>>()?;
        let each = ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" ");
        Some((median(ratios), each))
    };
    let rps = |s: &Stats| Some(s.rps());
    let cpu = |s: &Stats| s.cpu_ms_per_request();
    println!("\nRatios against the floors, median of the {} rounds' paired ratios:\n", floor.rounds.len());
    if let Some((r, each)) = paired(hello, floor, &rps) {
        println!("- hello floor vs one-query floor: {r:.2}x req/s (rounds: {each})");
    }
    for name in ["POST /v1/version", "GET /v1/connect/github/params"] {
        if let Some((r, each)) = find(name).and_then(|s| paired(s, hello, &rps)) {
            println!("- {name} (no D1): {r:.2} of the hello floor's req/s (target >= 0.9; rounds: {each})");
        }
    }
    if let Some(s) = find("GET /v1/sessions") {
        if let Some((r, each)) = paired(s, floor, &rps) {
            println!("- GET /v1/sessions: {r:.2} of the one-query floor's req/s (target >= 0.9; rounds: {each})");
        }
        if let Some((c, each)) = paired(s, floor, &cpu) {
            println!("- GET /v1/sessions: {c:.2}x the floor's workerd CPU per request (target <= 1.2; rounds: {each})");
        }
    }
}

/// The worker's own CPU on the heaviest measured write: ours less the same D1 batch on the
/// JavaScript floor, round by round (ours counts the account's object too, which on the
/// platform is an invocation of its own).
fn print_own_cpu(rows: &[Row]) {
    let find = |name: &str| rows.iter().find(|r| r.name == name).filter(|r| !r.rounds.is_empty());
    let (Some(ours), Some(alone)) = (find(V3_BATCH), find(V3_FLOOR)) else { return };
    let own: Option<Vec<f64>> = ours
        .rounds
        .iter()
        .zip(&alone.rounds)
        .map(|(o, f)| Some(o.cpu_ms_per_request()? - f.cpu_ms_per_request()?))
        .collect();
    let list = |v: &mut dyn Iterator<Item = Option<f64>>| {
        v.map(|d| d.map_or("-".into(), |d| format!("{d:.2}"))).collect::<Vec<String>>().join(" ")
    };
    if let Some(own) = own {
        let each = list(&mut own.iter().map(|&d| Some(d)));
        println!(
            "- {V3_BATCH}: {:.2} ms of CPU a request over its D1 batch alone on the JS floor (rounds: {each};",
            median(own)
        );
        println!(
            "  ours {}; the batch alone {})",
            list(&mut ours.rounds.iter().map(Stats::cpu_ms_per_request)),
            list(&mut alone.rounds.iter().map(Stats::cpu_ms_per_request))
        );
    }
}

/// The `sub` claim of a token: the account id.
pub(crate) fn user_id(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap_or_default();
    serde_json::from_slice::<Value>(&bytes).ok().and_then(|c| c["sub"].as_str().map(str::to_string)).unwrap_or_default()
}
