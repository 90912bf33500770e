//! happy-move as a user runs it: the secret from the app's backup, one server's account moved to
//! a second fresh one, byte for byte, through a kill and a second run.

mod common;
#[path = "support/ws.rs"]
mod ws;

use std::process::Command;

use common::*;
use serde_json::json;

/// The app's backup form of a secret: RFC 4648 base32, no padding, groups of five.
fn backup(secret: &[u8; 32]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut out) = (0u32, 0, String::new());
    for b in secret {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out.as_bytes().chunks(5).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
}

fn happy_move(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_happy-move")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn secret_file(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("happy-move-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// What the app reads, asked of one server with one token.
fn read_paths(app: &TestApp, token: &str, sessions: &[String]) -> Vec<(String, serde_json::Value)> {
    let mut paths: Vec<String> = [
        "/v1/sessions",
        "/v2/sessions?limit=200",
        "/v1/machines",
        "/v1/kv?limit=1000",
        "/v1/artifacts",
        "/v1/account/settings",
    ]
    .map(String::from)
    .into();
    for sid in sessions {
        paths.push(format!("/v3/sessions/{sid}/messages?after_seq=0&limit=500"));
        paths.push(format!("/v3/sessions/{sid}/messages?before_seq=30&limit=10"));
        paths.push(format!("/v1/access-keys/{sid}/move-m1"));
    }
    paths.extend((0..3).map(|i| format!("/v1/artifacts/{}", artifact_id(i))));
    paths
        .into_iter()
        .map(|p| {
            let r = app.get(&p, Some(token));
            assert_eq!(r.status, 200, "{p}: {}", r.text);
            (p, r.body)
        })
        .collect()
}

/// This test process's artifact ids (UUIDs, as the route requires; one process seeds once).
fn artifact_id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", std::process::id(), i)
}

fn seed(app: &TestApp, token: &str) -> Vec<String> {
    let mut sessions = Vec::new();
    for i in 0..50 {
        let r = app.post(
            "/v1/sessions",
            Some(token),
            json!({"tag": format!("seed-{i}"), "metadata": format!("bWV0YS{i}"), "agentState": "c3RhdGU=", "dataEncryptionKey": "a2V5"}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let sid = r.body["session"]["id"].as_str().unwrap().to_string();
        let messages: Vec<_> =
            (0..40).map(|m| json!({"localId": format!("l-{i}-{m}"), "content": format!("Y2lwaGVy{m}")})).collect();
        let r = app.post(&format!("/v3/sessions/{sid}/messages"), Some(token), json!({ "messages": messages[..20] }));
        assert_eq!(r.status, 200, "{}", r.text);
        let r = app.post(&format!("/v3/sessions/{sid}/messages"), Some(token), json!({ "messages": messages[20..] }));
        assert_eq!(r.status, 200, "{}", r.text);
        sessions.push(sid);
    }
    for m in ["move-m1", "move-m2"] {
        let r = app.post(
            "/v1/machines",
            Some(token),
            json!({"id": m, "metadata": "bWV0YQ==", "daemonState": "ZGFlbW9u", "dataEncryptionKey": "a2V5"}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let kv = json!({"mutations": [{"key": "a", "value": "dg==", "version": -1}, {"key": "b/c", "value": "dw==", "version": -1}]});
    assert_eq!(app.post("/v1/kv", Some(token), kv).status, 200);
    for (i, sid) in sessions.iter().take(3).enumerate() {
        let r = app.post(&format!("/v1/access-keys/{sid}/move-m1"), Some(token), json!({"data": format!("a2V5{i}")}));
        assert_eq!(r.status, 200, "{}", r.text);
    }
    for i in 0..3 {
        let artifact = json!({"id": artifact_id(i), "header": "aGVhZGVy", "body": "Ym9keQ==".repeat(i + 1), "dataEncryptionKey": "a2V5"});
        let r = app.post("/v1/artifacts", Some(token), artifact);
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = app.post("/v1/account/settings", Some(token), json!({"settings": "c2V0dGluZ3M=", "expectedVersion": 0}));
    assert_eq!(r.status, 200, "{}", r.text);
    // Ten sessions archived, as the CLI ends them: over its session socket.
    for sid in &sessions[..10] {
        let mut cli = ws::Ws::connect(app, token, "session-scoped", Some(sid));
        let now = now_ms();
        cli.send("session-end", json!({"sid": sid, "time": now}));
    }
    let archived = || {
        let r = app.get("/v2/sessions?limit=200", Some(token));
        r.body["sessions"].as_array().unwrap().iter().filter(|s| s["active"] == false).count()
    };
    wait_until("sessions archived", std::time::Duration::from_secs(10), || archived() >= 10);
    sessions
}

/// The summary's "written now" column, per kind.
fn written(summary: &str) -> Vec<(String, u64)> {
    summary
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() == 7 && cells[3].parse::<u64>().is_ok())
                .then(|| (cells[1].to_string(), cells[3].parse().unwrap()))
        })
        .collect()
}

#[test]
fn an_account_moves_verbatim_resumes_after_a_kill_and_a_second_run_copies_nothing() {
    let source = app();
    let dest = another_app();
    let account = source.new_account();
    let sessions = seed(source, &account.token);
    let file = secret_file("move", &format!("{}\n", backup(&account.key.to_bytes())));
    let args = ["--from", &source.base, "--to", &dest.base, "--secret-file", &file];

    // Before the move the source's token names an account the destination does not hold.
    dest.get("/v1/sessions", Some(&account.token)).assert_error(401);

    // Killed partway, then run again to the end.
    let mut first = Command::new(env!("CARGO_BIN_EXE_happy-move"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the destination holds some of the messages and not all.
    let held = || -> i64 {
        let r = dest.get("/v2/sessions?limit=200", Some(&account.token));
        r.body["sessions"].as_array().map_or(0, |s| s.iter().map(|s| s["seq"].as_i64().unwrap_or(0)).sum())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut at_kill = 0;
    while at_kill == 0 && std::time::Instant::now() < deadline {
        at_kill = held();
    }
    let _ = first.kill();
    let _ = first.wait();
    let at_kill = held();
    assert!(at_kill > 0 && at_kill < 2000, "killed with {at_kill} of 2000 messages copied");
    let (code, out, err) = happy_move(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("id kept") && out.contains("verified: every record equal"), "{out}");
    eprintln!("killed at {at_kill} of 2000 messages; the resumed move:\n{out}");

    // The same token, minted by the source, now reads the same answers here, byte for byte.
    assert_eq!(read_paths(&dest, &account.token, &sessions), read_paths(source, &account.token, &sessions));

    // A second run writes nothing.
    let (code, out, err) = happy_move(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    let rows = written(&out);
    assert_eq!(rows.len(), 7, "{out}");
    assert!(rows.iter().all(|(_, n)| *n == 0), "{out}");
}

#[test]
fn dry_run_counts_and_writes_nothing() {
    let app = app();
    let account = app.new_account();
    let sid = app.new_session(&account.token, "dry");
    let messages: Vec<_> = (0..30).map(|i| json!({"localId": format!("d-{i}"), "content": "Yw=="})).collect();
    assert_eq!(
        app.post(&format!("/v3/sessions/{sid}/messages"), Some(&account.token), json!({ "messages": messages })).status,
        200
    );
    let dest = another_app();
    let file = secret_file("dry", &backup(&account.key.to_bytes()));
    let (code, out, err) = happy_move(&["--from", &app.base, "--to", &dest.base, "--secret-file", &file, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sessions   1 ") && out.contains("messages   30\n"), "{out}");
    // The destination was not signed in on: the account does not exist there.
    dest.get("/v1/sessions", Some(&account.token)).assert_error(401);
}

#[test]
fn bad_input_exits_nonzero_and_says_why() {
    let app = app();
    let account = app.new_account();
    let backup_file = secret_file("ok", &backup(&account.key.to_bytes()));
    let data_key = secret_file("data-key", r#"{"token":"t","encryption":{"publicKey":"cA==","machineKey":"bQ=="}}"#);
    let cases: [(&[&str], &str); 4] = [
        (&["--from", &app.base, "--to", &app.base, "--secret-file", &data_key, "--dry-run"], "secret key backup"),
        (
            &["--from", "http://127.0.0.1:9", "--to", &app.base, "--secret-file", &backup_file, "--dry-run"],
            "cannot reach",
        ),
        (&["--from", &app.base, "--to", &app.base, "--secret-file", "/nonexistent", "--dry-run"], "cannot read"),
        (&["--from", &app.base], "usage"),
    ];
    for (args, expected) in cases {
        let (code, _, err) = happy_move(args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// The destination already holds another account's machine under an id the moved account uses
/// on the source: reported, left as it was, and the command fails; the rest is copied.
#[test]
fn another_accounts_record_under_the_same_id_is_reported_and_untouched() {
    let source = app();
    let dest = another_app();
    let account = source.new_account();
    let squatter = dest.new_account();
    let machine = json!({"id": "move-taken", "metadata": "c291cmNl", "daemonState": "ZA=="});
    assert_eq!(source.post("/v1/machines", Some(&account.token), machine).status, 200);
    let theirs = json!({"id": "move-taken", "metadata": "dGhlaXJz"});
    assert_eq!(dest.post("/v1/machines", Some(&squatter.token), theirs).status, 200);
    let sid = source.new_session(&account.token, "t");

    let file = secret_file("conflict", &backup(&account.key.to_bytes()));
    let (code, out, err) = happy_move(&["--from", &source.base, "--to", &dest.base, "--secret-file", &file]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("differs: machines move-taken"), "{out}");
    assert!(err.contains("1 records differ"), "{err}");
    // The squatter's machine is as it was; the session moved.
    assert_eq!(dest.get("/v1/machines/move-taken", Some(&squatter.token)).body["machine"]["metadata"], "dGhlaXJz");
    assert_eq!(dest.get(&format!("/v1/sessions/{sid}"), Some(&account.token)).status, 200);
}
