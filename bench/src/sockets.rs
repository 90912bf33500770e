//! The realtime scenarios: fan-out of one message post to N sockets of one user, an RPC round
//! trip between two sockets, and idle sockets held for minutes. Each runs with both ways a
//! client can authenticate, since the server holds them in different places:
//! - `header`: raw JSON frames with the token in the upgrade, accepted by the user's object;
//! - `socket.io`: Engine.IO 4 with the token in the CONNECT packet, as every stock Happy client
//!   does, accepted before the user is known.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use crate::load::percentile_ms;
use crate::scenarios::{message_target, new_account, post, user_id};
use crate::server::Server;
use crate::Options;

type Socket = WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

#[derive(Clone, Copy, PartialEq)]
pub enum Client {
    Header,
    SocketIo,
}

impl Client {
    fn label(self) -> &'static str {
        match self {
            Client::Header => "header",
            Client::SocketIo => "socket.io",
        }
    }
}

pub fn run(server: &Server, agent: &ureq::Agent, base: &str, opts: &Options, wanted: &dyn Fn(&str) -> bool) {
    if wanted("fanout") {
        println!("\n## Fan-out: one HTTP message post → N sockets of one user\n");
        println!(
            "| client | sockets | rounds | post answered p50 / p99 ms | last socket p50 ms | last socket p99 ms | missed |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for client in [Client::Header, Client::SocketIo] {
            for n in [1usize, 5, 100, 1000] {
                let label = client.label();
                match fanout(server, agent, base, client, n) {
                    Ok(f) => println!(
                        "| {label} | {n} | {} | {:.2} / {:.2} | {:.2} | {:.2} | {} |",
                        f.last.len(),
                        percentile_ms(&f.posted, 0.5),
                        percentile_ms(&f.posted, 0.99),
                        percentile_ms(&f.last, 0.5),
                        percentile_ms(&f.last, 0.99),
                        f.missed
                    ),
                    Err(e) => println!("| {label} | {n} | - | - | - | - | {e} |"),
                }
            }
        }
    }
    if wanted("rpc") {
        println!("\n## RPC: one socket calls a method another socket serves (both socket.io)\n");
        println!("| calls | round trip p50 ms | p99 ms |");
        println!("| ---: | ---: | ---: |");
        match rpc(agent, base, 200) {
            Ok(t) => println!("| {} | {:.2} | {:.2} |", t.len(), percentile_ms(&t, 0.5), percentile_ms(&t, 0.99)),
            Err(e) => println!("| - | - | {e} |"),
        }
    }
    if wanted("idle") {
        println!("\n## Idle sockets: one user's sockets held open, answering pings, nothing else sent\n");
        println!(
            "| client | sockets | held | still open | user object wake-ups | lobby wake-ups | workerd CPU meanwhile | CPU ms per socket-hour |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for client in [Client::Header, Client::SocketIo] {
            match idle(server, agent, base, client, 1000, opts.idle_seconds) {
                Ok(row) => println!("{row}"),
                Err(e) => println!("| {} | 1000 | - | - | - | - | - | {e} |", client.label()),
            }
        }
    }
}

/// Opens one user-scoped socket, authenticated and ready for events.
fn open(base: &str, token: &str, client: Client) -> Result<Socket, String> {
    let ws_base = base.replacen("http", "ws", 1);
    let url = match client {
        Client::Header => format!("{ws_base}/v1/updates"),
        Client::SocketIo => format!("{ws_base}/v1/updates/?EIO=4&transport=websocket"),
    };
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    if client == Client::Header {
        req.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
        req.headers_mut().insert("X-Client-Type", "user-scoped".parse().unwrap());
    }
    let (mut ws, _) = tungstenite::connect(req).map_err(|e| e.to_string())?;
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    }
    if client == Client::SocketIo {
        let connect = format!("40{}", json!({"token": token, "clientType": "user-scoped"}));
        ws.send(Message::text(connect)).map_err(|e| e.to_string())?;
        loop {
            let text = read_text(&mut ws)?;
            if text.starts_with("40") {
                break;
            }
            if text.starts_with("44") {
                return Err(format!("connect refused: {text}"));
            }
        }
    }
    Ok(ws)
}

/// The next text frame; Engine.IO pings are answered on the way, as engine.io-client does.
fn read_text(ws: &mut Socket) -> Result<String, String> {
    loop {
        match ws.read().map_err(|e| e.to_string())? {
            Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).map_err(|e| e.to_string())?,
            Message::Text(t) => return Ok(t.to_string()),
            _ => {}
        }
    }
}

fn stats(agent: &ureq::Agent, base: &str, token: &str) -> Result<Value, String> {
    agent
        .get(&format!("{base}/v1/websocket/stats"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .map_err(|e| e.to_string())?
        .into_json()
        .map_err(|e| e.to_string())
}

/// Sorted microseconds from posting a message until its response, and until the last socket
/// has the update.
struct Fanout {
    posted: Vec<u64>,
    last: Vec<u64>,
    missed: usize,
}

fn fanout(server: &Server, agent: &ureq::Agent, base: &str, client: Client, n: usize) -> Result<Fanout, String> {
    let (token, sid) = message_target(agent, base).ok_or("sessions routes unavailable")?;
    // The basic plan allows 20 sockets per user.
    if n > 20 && !server.allow_sockets(&user_id(&token), n + 10) {
        return Err("needs a plan allowing this many sockets (spawned servers only)".into());
    }
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        sockets.push(open(base, &token, client)?);
    }
    std::thread::sleep(Duration::from_millis(500));
    let rounds = 100;
    let (mut posted, mut last) = (Vec::new(), Vec::new());
    let mut missed = 0;
    for r in 0..rounds {
        let local = format!("fan-{n}-{r}");
        let started = Instant::now();
        post(
            agent,
            &format!("{base}/v1/sessions/{sid}/messages"),
            Some(&token),
            &json!({"localId": local, "content": {"t": "encrypted", "c": "eA=="}}).to_string(),
        )?;
        posted.push(started.elapsed().as_micros() as u64);
        for ws in sockets.iter_mut() {
            loop {
                match read_text(ws) {
                    Ok(t) if t.contains(&local) => break,
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

/// Sorted microseconds of `calls` RPC round trips: the caller's `rpc-call` until its ack, the
/// serving socket answering each `rpc-request` as it arrives.
fn rpc(agent: &ureq::Agent, base: &str, calls: usize) -> Result<Vec<u64>, String> {
    let token = new_account(agent, base).ok_or("login failed")?;
    let mut server_side = open(base, &token, Client::SocketIo)?;
    let mut caller = open(base, &token, Client::SocketIo)?;
    server_side.send(Message::text(r#"42["rpc-register",{"method":"bench:echo"}]"#)).map_err(|e| e.to_string())?;
    while !read_text(&mut server_side)?.contains("rpc-registered") {}
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls {
        let started = Instant::now();
        let call = format!(r#"42{i}["rpc-call",{{"method":"bench:echo","params":"p{i}"}}]"#);
        caller.send(Message::text(call)).map_err(|e| e.to_string())?;
        // The request carries its ack id: `42<id>["rpc-request",...]`, answered `43<id>[...]`.
        let request = loop {
            let t = read_text(&mut server_side)?;
            if t.contains("rpc-request") {
                break t;
            }
        };
        let id: String = request[2..].chars().take_while(char::is_ascii_digit).collect();
        server_side.send(Message::text(format!(r#"43{id}["echo"]"#))).map_err(|e| e.to_string())?;
        let ack = format!("43{i}[");
        loop {
            let t = read_text(&mut caller)?;
            if t.starts_with(&ack) {
                if !t.contains(r#""ok":true"#) {
                    return Err(format!("call failed: {t}"));
                }
                break;
            }
        }
        times.push(started.elapsed().as_micros() as u64);
    }
    times.sort_unstable();
    Ok(times)
}

/// `n` idle sockets held for `seconds`, answering pings as the stock clients do: how often the
/// objects woke (their constructor counts, from /v1/websocket/stats) and the workerd CPU spent.
fn idle(
    server: &Server,
    agent: &ureq::Agent,
    base: &str,
    client: Client,
    n: usize,
    seconds: u64,
) -> Result<String, String> {
    let token = new_account(agent, base).ok_or("login failed")?;
    if !server.allow_sockets(&user_id(&token), n + 10) {
        return Err("needs a plan allowing this many sockets (spawned servers only)".into());
    }
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let mut ws = open(base, &token, client)?;
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
        }
        sockets.push(ws);
    }
    std::thread::sleep(Duration::from_secs(2));
    let before = stats(agent, base, &token)?;
    let cpu_before = server.workerd_cpu_seconds();
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        for ws in sockets.iter_mut() {
            // Nonblocking: read what arrived (pings), then move on.
            while let Ok(m) = ws.read() {
                if m.to_text().is_ok_and(|t| t == "2") {
                    let _ = ws.send(Message::text("3"));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let cpu = match (cpu_before, server.workerd_cpu_seconds()) {
        (Some(a), Some(b)) => Some((b - a) * 1000.0),
        _ => None,
    };
    let after = stats(agent, base, &token)?;
    let open = after["totalConnections"].as_u64().unwrap_or(0);
    // The second stats call may itself wake the user's object once.
    let delta = |k: &str| match (before[k].as_i64(), after[k].as_i64()) {
        (Some(a), Some(b)) => (b - a).to_string(),
        _ => "-".into(),
    };
    let socket_hours = n as f64 * seconds as f64 / 3600.0;
    let (cpu, per_hour) = match cpu {
        Some(ms) => (format!("{ms:.0} ms"), format!("{:.2}", ms / socket_hours)),
        None => ("-".into(), "-".into()),
    };
    drop(sockets);
    Ok(format!(
        "| {} | {n} | {seconds} s | {open} | {} | {} | {cpu} | {per_hour} |",
        client.label(),
        delta("wakeups"),
        delta("lobbyWakeups")
    ))
}
