//! What a move costs: happy-move carrying a seeded account (50 sessions, 2,000 messages, two
//! machines, access keys, KV, settings) from one fresh `wrangler dev` to another, timed end to
//! end with its verification, then run again (nothing to write: what a repeated move costs);
//! then the worker CPU of single message imports, the largest request a move makes, against the
//! Free plan's 10 ms a request.

use std::process::Command;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::scenarios::{login_body_for, post, random};
use crate::server::{repo, Server};

fn seed(agent: &ureq::Agent, base: &str, secret: &[u8; 32]) -> Option<String> {
    let token =
        post(agent, &format!("{base}/v1/auth"), None, &login_body_for(secret)).ok()?["token"].as_str()?.to_string();
    let t = Some(token.as_str());
    let mut sessions = Vec::new();
    for i in 0..50 {
        let s = post(
            agent,
            &format!("{base}/v1/sessions"),
            t,
            &json!({"tag": format!("b{i}"), "metadata": "bWV0YQ=="}).to_string(),
        )
        .ok()?;
        let sid = s["session"]["id"].as_str()?.to_string();
        for half in 0..2 {
            let messages: Vec<_> =
                (0..20).map(|m| json!({"localId": format!("{i}-{half}-{m}"), "content": "Y2lwaGVydGV4dA=="})).collect();
            post(agent, &format!("{base}/v3/sessions/{sid}/messages"), t, &json!({ "messages": messages }).to_string())
                .ok()?;
        }
        sessions.push(sid);
    }
    for m in ["bench-m1", "bench-m2"] {
        post(
            agent,
            &format!("{base}/v1/machines"),
            t,
            &json!({"id": m, "metadata": "bQ==", "daemonState": "ZA=="}).to_string(),
        )
        .ok()?;
    }
    for sid in &sessions[..3] {
        post(agent, &format!("{base}/v1/access-keys/{sid}/bench-m1"), t, &json!({"data": "a2V5"}).to_string()).ok()?;
    }
    post(
        agent,
        &format!("{base}/v1/kv"),
        t,
        &json!({"mutations": [{"key": "a", "value": "dg==", "version": -1}]}).to_string(),
    )
    .ok()?;
    Some(token)
}

pub fn run() {
    let built = Command::new("cargo")
        .args(["build", "--quiet", "--release", "--bin", "happy-move"])
        .current_dir(repo())
        .status()
        .is_ok_and(|s| s.success());
    if !built {
        println!("- move: happy-move did not build");
        return;
    }
    let (source, dest) = (Server::spawn(), Server::spawn());
    let agent = ureq::AgentBuilder::new().build();
    let secret = random::<32>();
    if seed(&agent, &source.base, &secret).is_none() {
        println!("- move: seeding the source failed");
        return;
    }
    let file = std::env::temp_dir().join(format!("happy-bench-secret-{}", std::process::id()));
    std::fs::write(&file, URL_SAFE_NO_PAD.encode(secret)).unwrap();
    println!("\nA move (happy-move, the seeded account: 50 sessions, 2,000 messages, 2 machines, 3 access keys, 1 KV item, the settings and the profile):\n");
    println!("| run | wall s | records | records/s | source worker CPU ms | destination worker CPU ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for run in ["first", "again (nothing to write)"] {
        let cpu = |s: &Server| s.worker_cpu_seconds().unwrap_or(0.0);
        let (c0, d0, started) = (cpu(&source), cpu(&dest), Instant::now());
        let out = Command::new(repo().join("target/release/happy-move"))
            .args(["--from", &source.base, "--to", &dest.base, "--secret-file"])
            .arg(&file)
            .output()
            .unwrap();
        let wall = started.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout);
        let records: usize = text
            .lines()
            .filter_map(|l| l.strip_suffix(')').and(l.split(" records in ").next()?.parse().ok()))
            .next()
            .unwrap_or(0);
        let verified = out.status.success() && text.contains("verified");
        println!(
            "| {run}{} | {wall:.2} | {records} | {:.0} | {:.0} | {:.0} |",
            if verified { "" } else { " (not verified)" },
            records as f64 / wall,
            (cpu(&source) - c0) * 1000.0,
            (cpu(&dest) - d0) * 1000.0
        );
    }
    import_cpu(&agent, &dest, &secret);
}

/// Messages imports measured one request at a time on the destination, its isolate warm.
fn import_cpu(agent: &ureq::Agent, server: &Server, secret: &[u8; 32]) {
    let Some(token) = post(agent, &format!("{}/v1/auth", server.base), None, &login_body_for(secret))
        .ok()
        .and_then(|a| a["token"].as_str().map(str::to_string))
    else {
        println!("- move: signing in on the destination failed");
        return;
    };
    println!("\nOne messages import (POST /v1/import/sessions/:id/messages) into a session of its own, worker CPU (local D1 included), median of {SAMPLES} after {WARM}:\n");
    println!("| request | body KB | worker CPU ms |");
    println!("| --- | ---: | ---: |");
    for (label, count, size) in [
        ("100 messages of 16 B (the most a call takes)", 100, 16),
        ("100 messages of 1,200 B (about the largest part happy-move sends)", 100, 1200),
        ("100 messages of 9,000 B (a 0.9 MB body, near the 1 MB the route reads)", 100, 9000),
    ] {
        match import_page_cpu(agent, server, &token, count, size) {
            Some((kb, ms)) => println!("| {label} | {kb:.0} | {ms:.2} |"),
            None => println!("| {label} | - | failed |"),
        }
    }
}

const WARM: usize = 2;
const SAMPLES: usize = 7;

/// Body size (KB) and median worker CPU (ms) of importing `count` messages of `size` bytes of
/// ciphertext each, every request into a fresh session (inserts, not conflicts).
fn import_page_cpu(agent: &ureq::Agent, server: &Server, token: &str, count: usize, size: usize) -> Option<(f64, f64)> {
    let tag = format!("cpu-{count}-{size}");
    let sessions: Vec<_> = (0..WARM + SAMPLES)
        .map(|s| {
            json!({"id": format!("{tag}-{s}"), "metadata": "bQ==", "metadataVersion": 0, "agentState": null,
                   "agentStateVersion": 0, "dataEncryptionKey": null, "active": false, "activeAt": 1,
                   "createdAt": 1, "updatedAt": 1})
        })
        .collect();
    post(
        agent,
        &format!("{}/v1/import/sessions", server.base),
        Some(token),
        &json!({ "sessions": sessions }).to_string(),
    )
    .ok()?;
    let ciphertext = "Q".repeat(size);
    let mut samples = Vec::new();
    let mut kb = 0.0;
    for s in 0..WARM + SAMPLES {
        let messages: Vec<_> = (1..=count)
            .map(|m| {
                json!({"id": format!("{tag}-{s}-{m}"), "seq": m, "localId": format!("l{m}"),
                       "content": {"t": "encrypted", "c": ciphertext}, "createdAt": m, "updatedAt": m})
            })
            .collect();
        let body = json!({ "messages": messages }).to_string();
        kb = body.len() as f64 / 1024.0;
        let url = format!("{}/v1/import/sessions/{tag}-{s}/messages", server.base);
        let before = server.worker_cpu_seconds()?;
        let answer = post(agent, &url, Some(token), &body).ok()?;
        let ms = (server.worker_cpu_seconds()? - before) * 1000.0;
        if answer["written"].as_u64() != Some(count as u64) {
            return None;
        }
        if s >= WARM {
            samples.push(ms);
        }
    }
    samples.sort_by(f64::total_cmp);
    Some((kb, samples[SAMPLES / 2]))
}
