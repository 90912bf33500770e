//! happy-move as a user runs it: the secret from the app's backup, the source read through
//! every page of its API. Today the command reports what a move would copy (`--dry-run`).

mod common;

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

#[test]
fn dry_run_counts_every_page_of_the_account() {
    let app = app();
    let account = app.new_account();
    let token = account.token.as_str();
    // More sessions than one v2 page (200) and more messages than one v3 page (500).
    for i in 0..205 {
        let r = app.post("/v1/sessions", Some(token), json!({"tag": format!("move-{i}"), "metadata": "bWV0YQ=="}));
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let sid = app.post("/v1/sessions", Some(token), json!({"tag": "move-long", "metadata": "bWV0YQ=="})).body
        ["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for batch in 0..6 {
        let messages: Vec<_> =
            (0..100).map(|i| json!({"localId": format!("l-{batch}-{i}"), "content": "Y2lwaGVy"})).collect();
        let r = app.post(&format!("/v3/sessions/{sid}/messages"), Some(token), json!({ "messages": messages }));
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(app.post("/v1/machines", Some(token), json!({"id": "move-m1", "metadata": "bQ=="})).status, 200);
    let kv = json!({"mutations": [{"key": "a", "value": "dg==", "version": -1}, {"key": "b", "value": "dg==", "version": -1}]});
    assert_eq!(app.post("/v1/kv", Some(token), kv).status, 200);

    let file = secret_file("backup", &format!("{}\n", backup(&account.key.to_bytes())));
    let (code, out, err) = happy_move(&["--from", &app.base, "--to", &app.base, "--secret-file", &file, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sessions   206 "), "{out}");
    assert!(out.contains("messages   600\n"), "{out}");
    assert!(out.contains("machines   1\n"), "{out}");
    assert!(out.contains("kv         2\n"), "{out}");
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
    // The copy is not built yet, and says so.
    let (code, _, err) = happy_move(&["--from", &app.base, "--to", &app.base, "--secret-file", &backup_file]);
    assert_eq!((code, err.contains("only --dry-run")), (2, true), "{err}");
}
