//! The scenarios, each printed as a row: requests/s, p50, p99, errors, workerd CPU per request.

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use crate::load::{percentile_ms, run, Stats};
use crate::server::Server;
use crate::Options;

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).unwrap();
    b
}

fn login_body() -> String {
    let key = SigningKey::from_bytes(&random::<32>());
    let challenge = random::<32>();
    json!({
        "publicKey": B64.encode(key.verifying_key().to_bytes()),
        "challenge": B64.encode(challenge),
        "signature": B64.encode(key.sign(&challenge).to_bytes()),
    })
    .to_string()
}

fn post(agent: &ureq::Agent, url: &str, token: Option<&str>, body: &str) -> Result<Value, String> {
    let mut req = agent.post(url).set("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    match req.send_string(body) {
        Ok(r) => r.into_json().map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn ok_get(agent: &ureq::Agent, url: &str, token: Option<&str>) -> bool {
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    req.call().map(|r| r.into_string().is_ok()).unwrap_or(false)
}

fn new_account(agent: &ureq::Agent, base: &str) -> Option<String> {
    post(agent, &format!("{base}/v1/auth"), None, &login_body()).ok()?["token"].as_str().map(str::to_string)
}

struct Row {
    name: String,
    stats: Option<Stats>,
    note: String,
}

fn print_rows(rows: &[Row]) {
    println!("| scenario | requests | errors | req/s | p50 ms | p99 ms | workerd CPU ms/req |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        match &r.stats {
            Some(s) => println!(
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} |",
                r.name,
                s.requests,
                s.errors,
                s.rps(),
                s.percentile_ms(0.5),
                s.percentile_ms(0.99),
                s.cpu_ms_per_request().map(|c| format!("{c:.2}")).unwrap_or_else(|| "-".into())
            ),
            None => println!("| {} | - | - | - | - | - | - | {} ", r.name, r.note),
        }
    }
}

pub fn run_all(server: &Server, opts: &Options, duration: Duration) {
    let base = Arc::new(server.base.clone());
    let wanted = |name: &str| opts.only.as_ref().is_none_or(|o| o.iter().any(|w| name.starts_with(w.as_str())));
    let cpu = || server.workerd_cpu_seconds();
    let conns = opts.connections;
    let setup = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    let mut rows = Vec::new();

    if wanted("hello") {
        let b = base.clone();
        let s = run(conns, duration, u64::MAX, cpu, move |a, _, _| ok_get(a, &format!("{b}/"), None));
        rows.push(Row { name: "hello floor: GET / (no D1)".into(), stats: Some(s), note: String::new() });
    }
    if wanted("floor") {
        let b = base.clone();
        let s = run(conns, duration, u64::MAX, cpu, move |a, _, _| ok_get(a, &format!("{b}/health"), None));
        rows.push(Row { name: "one-query floor: GET /health (SELECT 1)".into(), stats: Some(s), note: String::new() });
    }
    if wanted("auth") {
        let b = base.clone();
        let s = run(conns, duration, u64::MAX, cpu, move |a, _, _| post(a, &format!("{b}/v1/auth"), None, &login_body()).is_ok());
        rows.push(Row { name: "POST /v1/auth, fresh keys".into(), stats: Some(s), note: String::new() });
    }
    for (name, path, count) in [("sessions-v1", "/v1/sessions", 20), ("sessions-v2", "/v2/sessions?limit=100", 100)] {
        if !wanted(name) {
            continue;
        }
        let label = format!("GET {path} ({count} sessions), authenticated");
        let Some(token) = new_account(&setup, &base) else {
            rows.push(Row { name: label, stats: None, note: "login failed".into() });
            continue;
        };
        let created = (0..count).all(|i| {
            post(&setup, &format!("{base}/v1/sessions"), Some(&token), &json!({"tag": format!("bench-{i}"), "metadata": "bWV0YQ=="}).to_string()).is_ok()
        });
        if !created {
            rows.push(Row { name: label, stats: None, note: "POST /v1/sessions unavailable".into() });
            continue;
        }
        let (b, t, p) = (base.clone(), token.clone(), path.to_string());
        let s = run(conns, duration, u64::MAX, cpu, move |a, _, _| ok_get(a, &format!("{b}{p}"), Some(&t)));
        rows.push(Row { name: label, stats: Some(s), note: String::new() });
    }
    if wanted("messages") {
        let label = "POST /v1/sessions/:id/messages, 16 clients".to_string();
        match message_target(&setup, &base) {
            Some((token, sid)) => {
                let (b, t) = (base.clone(), token);
                let s = run(16, duration, u64::MAX, cpu, move |a, c, i| {
                    let body = json!({"localId": format!("m-{c}-{i}"), "content": {"t": "encrypted", "c": "aGVsbG8="}}).to_string();
                    post(a, &format!("{b}/v1/sessions/{sid}/messages"), Some(&t), &body).is_ok()
                });
                rows.push(Row { name: label, stats: Some(s), note: String::new() });
            }
            None => rows.push(Row { name: label, stats: None, note: "sessions routes unavailable".into() }),
        }
    }
    if wanted("v3") {
        match message_target(&setup, &base) {
            Some((token, sid)) => {
                let batch = |prefix: String| {
                    let msgs: Vec<Value> = (0..10).map(|k| json!({"localId": format!("{prefix}-{k}"), "content": "aGVsbG8="})).collect();
                    json!({"messages": msgs}).to_string()
                };
                for i in 0..10 {
                    let _ = post(&setup, &format!("{base}/v3/sessions/{sid}/messages"), Some(&token), &batch(format!("seed-{i}")));
                }
                let (b, t, s2) = (base.clone(), token.clone(), sid.clone());
                let s = run(conns, duration, u64::MAX, cpu, move |a, _, _| {
                    ok_get(a, &format!("{b}/v3/sessions/{s2}/messages?after_seq=0&limit=100"), Some(&t))
                });
                rows.push(Row { name: "GET /v3/sessions/:id/messages (100 a page)".into(), stats: Some(s), note: String::new() });
                let (b, t) = (base.clone(), token);
                let s = run(conns, duration, u64::MAX, cpu, move |a, c, i| {
                    post(a, &format!("{b}/v3/sessions/{sid}/messages"), Some(&t), &batch(format!("b-{c}-{i}"))).is_ok()
                });
                rows.push(Row { name: "POST /v3/sessions/:id/messages (10 a batch)".into(), stats: Some(s), note: String::new() });
            }
            None => rows.push(Row { name: "v3 messages".into(), stats: None, note: "sessions routes unavailable".into() }),
        }
    }
    print_rows(&rows);
    print_ratios(&rows);

    if wanted("fanout") {
        println!("\n## Fan-out: one HTTP message post → N sockets of one user\n");
        println!("| sockets | rounds | p50 ms (post answered) | p50 ms (last socket) | p99 ms (last socket) | missed |");
        println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
        for n in [1usize, 100, 1000] {
            match fanout(server, &setup, &base, n) {
                Ok(f) => println!(
                    "| {n} | {} | {:.2} | {:.2} | {:.2} | {} |",
                    f.last.len(),
                    percentile_ms(&f.posted, 0.5),
                    percentile_ms(&f.last, 0.5),
                    percentile_ms(&f.last, 0.99),
                    f.missed
                ),
                Err(e) => println!("| {n} | - | - | - | - | {e} |"),
            }
        }
    }
    if wanted("idle") {
        println!("\n## Idle sockets: one user's sockets held open, nothing sent\n");
        println!("| sockets | held | still open | object wake-ups (incl. the final stats call) | workerd CPU meanwhile |");
        println!("| ---: | ---: | ---: | ---: | ---: |");
        match idle(server, &setup, &base, 1000, opts.idle_seconds) {
            Ok(row) => println!("{row}"),
            Err(e) => println!("| 1000 | - | - | - | {e} |"),
        }
    }
}

/// 1,000 idle raw sockets held for `seconds`: how often the user's object woke (its
/// constructor count, from /v1/websocket/stats) and the workerd CPU spent meanwhile.
fn idle(server: &Server, agent: &ureq::Agent, base: &str, n: usize, seconds: u64) -> Result<String, String> {
    let token = new_account(agent, base).ok_or("login failed")?;
    if !server.allow_sockets(&user_id(&token), n + 10) {
        return Err("needs a plan allowing this many sockets (spawned servers only)".into());
    }
    let stats = || -> Result<Value, String> {
        agent
            .get(&format!("{base}/v1/websocket/stats"))
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .map_err(|e| e.to_string())?
            .into_json()
            .map_err(|e| e.to_string())
    };
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        sockets.push(open_socket(base, &token)?);
    }
    std::thread::sleep(Duration::from_secs(2));
    let before = stats()?;
    let cpu_before = server.workerd_cpu_seconds();
    std::thread::sleep(Duration::from_secs(seconds));
    let cpu = match (cpu_before, server.workerd_cpu_seconds()) {
        (Some(a), Some(b)) => format!("{:.0} ms", (b - a) * 1000.0),
        _ => "-".into(),
    };
    let after = stats()?;
    let open = after["totalConnections"].as_u64().unwrap_or(0);
    // The second stats call may itself wake the object once.
    let wakes = after["wakeups"].as_i64().unwrap_or(0) - before["wakeups"].as_i64().unwrap_or(0);
    drop(sockets);
    Ok(format!("| {n} | {seconds} s | {open} | {wakes} | {cpu} |"))
}

fn message_target(agent: &ureq::Agent, base: &str) -> Option<(String, String)> {
    let token = new_account(agent, base)?;
    let r = post(agent, &format!("{base}/v1/sessions"), Some(&token), &json!({"tag": "bench-msg", "metadata": "bWV0YQ=="}).to_string()).ok()?;
    let sid = r["session"]["id"].as_str()?.to_string();
    Some((token, sid))
}

fn print_ratios(rows: &[Row]) {
    let find = |prefix: &str| rows.iter().find(|r| r.name.starts_with(prefix)).and_then(|r| r.stats.as_ref());
    let (Some(floor), Some(hello)) = (find("one-query floor"), find("hello floor")) else { return };
    println!("\nRatios against the floors measured in this run:\n");
    println!("- hello floor vs one-query floor: {:.2}x req/s", hello.rps() / floor.rps());
    if let Some(s) = find("GET /v1/sessions") {
        let cpu = match (s.cpu_ms_per_request(), floor.cpu_ms_per_request()) {
            (Some(a), Some(b)) => format!(", {:.2}x the floor's CPU per request (target <= 1.2)", a / b),
            _ => String::new(),
        };
        println!("- GET /v1/sessions: {:.2} of the one-query floor's req/s (target >= 0.9){cpu}", s.rps() / floor.rps());
    }
}

/// The `sub` claim of a token: the account id.
fn user_id(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap_or_default();
    serde_json::from_slice::<Value>(&bytes).ok().and_then(|c| c["sub"].as_str().map(str::to_string)).unwrap_or_default()
}

type Socket = WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

fn open_socket(base: &str, token: &str) -> Result<Socket, String> {
    let url = format!("{}/v1/updates", base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    req.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    req.headers_mut().insert("X-Client-Type", "user-scoped".parse().unwrap());
    let (mut ws, _) = tungstenite::connect(req).map_err(|e| e.to_string())?;
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    }
    Ok(ws)
}

/// Sorted microseconds from posting a message until its response, and until the last socket
/// has the update.
struct Fanout {
    posted: Vec<u64>,
    last: Vec<u64>,
    missed: usize,
}

/// Time from posting a message until the last of `n` sockets has its update.
fn fanout(server: &Server, agent: &ureq::Agent, base: &str, n: usize) -> Result<Fanout, String> {
    let (token, sid) = message_target(agent, base).ok_or("sessions routes unavailable")?;
    // The basic plan allows 20 sockets per user.
    if n > 20 && !server.allow_sockets(&user_id(&token), n + 10) {
        return Err("needs a plan allowing this many sockets (spawned servers only)".into());
    }
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        sockets.push(open_socket(base, &token)?);
    }
    std::thread::sleep(Duration::from_millis(500));
    let rounds = 30;
    let (mut posted, mut last) = (Vec::new(), Vec::new());
    let mut missed = 0;
    for r in 0..rounds {
        let local = format!("fan-{n}-{r}");
        let started = Instant::now();
        post(agent, &format!("{base}/v1/sessions/{sid}/messages"), Some(&token), &json!({"localId": local, "content": {"t": "encrypted", "c": "eA=="}}).to_string())?;
        posted.push(started.elapsed().as_micros() as u64);
        for ws in sockets.iter_mut() {
            loop {
                match ws.read() {
                    Ok(Message::Text(t)) if t.contains(&local) => break,
                    Ok(_) => continue,
                    Err(_) => {
                        missed += 1;
                        break;
                    }
                }
            }
        }
        last.push(started.elapsed().as_micros() as u64);
    }
    posted.sort_unstable();
    last.sort_unstable();
    Ok(Fanout { posted, last, missed })
}
