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

/// KV items seeded beside "a" and "b/c": past the list route's 1,000.
const KV_ITEMS: usize = 1200;

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
    // More KV items than the list route answers at once (1,000, no cursor).
    for batch in 0..KV_ITEMS / 100 {
        let mutations: Vec<_> = (batch * 100..(batch + 1) * 100)
            .map(|i| json!({"key": format!("k{i:04}"), "value": format!("dmFs{i}"), "version": -1}))
            .collect();
        assert_eq!(app.post("/v1/kv", Some(token), json!({ "mutations": mutations })).status, 200);
    }
    let names = json!({"firstName": "Ada", "lastName": "Lovelace", "username": format!("mover{}", std::process::id())});
    let r = app.put("/v1/account", Some(token), names);
    assert_eq!(r.status, 200, "{}", r.text);
    let avatar = multipart(Some(("me.png", "image/png", &png(48, 40))), &[]);
    let r = app.send_multipart("/v1/uploads/avatar", token, &avatar);
    assert_eq!(r.status, 200, "{}", r.text);
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

/// The profile fields a move carries, as the app reads them.
fn names(app: &TestApp, token: &str) -> serde_json::Value {
    let p = app.get("/v1/account/profile", Some(token)).body;
    json!([p["firstName"], p["lastName"], p["username"]])
}

/// The summary's row of one kind: on the source, written now, equal on both sides, differing.
fn row(summary: &str, kind: &str) -> Vec<u64> {
    let line = summary.lines().find(|l| l.starts_with(&format!("| {kind} |"))).unwrap_or_else(|| panic!("{summary}"));
    line.split('|').skip(2).filter_map(|c| c.trim().parse().ok()).collect()
}

#[test]
fn an_account_moves_verbatim_resumes_after_a_kill_and_a_second_run_copies_nothing() {
    let source = app();
    // Sessions and machines without a heartbeat for 2 s go inactive there, once its sweep runs.
    let dest = another_app_with(&[("INACTIVITY_TIMEOUT_MS", "2000")]);
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

    // The profile's names and username, and every KV item, past the first 1,000 too.
    assert_eq!(names(&dest, &account.token), json!(["Ada", "Lovelace", format!("mover{}", std::process::id())]));
    // The avatar image was uploaded to the destination (its own path and URL, the dimensions it
    // read from the image), once: the second run found the images' SHA-256 equal.
    let avatar = |app: &TestApp| app.get("/v1/account/profile", Some(&account.token)).body["avatar"].clone();
    let (here, there) = (avatar(&dest), avatar(source));
    assert_eq!((&here["width"], &here["height"]), (&json!(48), &json!(40)), "{here}");
    assert!(here["url"].as_str().unwrap().starts_with(&dest.base) && here["path"] != there["path"], "{here}");
    assert_eq!(row(&out, "account"), [2, 0, 2, 0], "{out}");
    assert_eq!(row(&out, "kv"), [KV_ITEMS as u64 + 2, 0, KV_ITEMS as u64 + 2, 0], "{out}");
    assert!(!out.contains("warning:"), "ASCII keys are read whole: {out}");
    let past_first_page = |app: &TestApp| app.get("/v1/kv?prefix=k1&limit=1000", Some(&account.token)).body;
    assert_eq!(past_first_page(&dest)["items"].as_array().unwrap().len(), KV_ITEMS - 1000);
    assert_eq!(past_first_page(&dest), past_first_page(source));

    // The destination's inactivity sweep marks the moved sessions and machines inactive (armed
    // by one heartbeat there): presence, not the account's data, so a run after it finds every
    // record equal and writes nothing.
    let mut cli = ws::Ws::connect(&dest, &account.token, "session-scoped", Some(sessions[20].as_str()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    cli.send("session-alive", json!({"sid": sessions[20], "time": now, "thinking": false}));
    let active = |app: &TestApp| {
        let r = app.get("/v2/sessions?limit=200", Some(&account.token));
        r.body["sessions"].as_array().unwrap().iter().filter(|s| s["active"] == true).count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while active(&dest) > 0 {
        assert!(std::time::Instant::now() < deadline, "the destination's sweep did not run");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(active(source), 40);
    let (code, out, err) = happy_move(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("verified: every record equal"), "{out}");
    assert!(written(&out).iter().all(|(_, n)| *n == 0), "{out}");
}

/// A username another account holds on the destination: the profile is reported, that
/// account's username stays, and the import route refuses hostile profiles with a 4xx.
#[test]
fn a_username_another_account_holds_is_reported_and_untouched() {
    let source = app();
    let dest = another_app();
    let account = source.new_account();
    let squatter = dest.new_account();
    let username = format!("taken{}", std::process::id());
    for (app, token, first) in [(source, &account.token, "Mover"), (&dest, &squatter.token, "Squatter")] {
        let r = app.put("/v1/account", Some(token), json!({"firstName": first, "username": username}));
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let file = secret_file("username", &backup(&account.key.to_bytes()));
    let (code, out, err) = happy_move(&["--from", &source.base, "--to", &dest.base, "--secret-file", &file]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("differs: account profile") && out.contains("username-taken"), "{out}");
    assert_eq!(names(&dest, &squatter.token), json!(["Squatter", null, username]));
    // Nothing of the refused profile landed, not even the names.
    assert_eq!(names(&dest, &account.token), json!([null, null, null]));

    let import = |body: serde_json::Value| dest.post("/v1/import/profile", Some(&account.token), body);
    import(json!({"firstName": "x", "lastName": null, "username": username.to_uppercase()})).assert_error(409);
    import(json!({"firstName": "y".repeat(65), "lastName": null, "username": null})).assert_error(400);
    import(json!({"firstName": null, "lastName": null, "username": "has space"})).assert_error(400);
    import(json!({"firstName": 7})).assert_error(400);
    assert_eq!(names(&dest, &squatter.token), json!(["Squatter", null, username]));
    let r = import(json!({"firstName": "", "lastName": "L", "username": "freename"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&dest, &account.token), json!(["", "L", "freename"]));
    // A profile held here is never overwritten: it has no version to tell the newer side.
    let r = import(json!({"firstName": "Other", "lastName": "Name", "username": "othername"}));
    assert_eq!((r.status, &r.body["written"]), (200, &json!(0)), "{}", r.text);
    assert_eq!(names(&dest, &account.token), json!(["", "L", "freename"]));
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
    assert!(out.contains("profile    no names, username or avatar"), "{out}");
    // The destination was not signed in on: the account does not exist there.
    dest.get("/v1/sessions", Some(&account.token)).assert_error(401);
}

#[test]
fn bad_input_exits_nonzero_and_says_why() {
    let app = app();
    let account = app.new_account();
    let backup_file = secret_file("ok", &backup(&account.key.to_bytes()));
    let data_key = secret_file("data-key", r#"{"token":"t","encryption":{"publicKey":"cA==","machineKey":"bQ=="}}"#);
    let stranger = secret_file("stranger", &backup(&[9; 32]));
    // A web page where the API should be, as a mistyped URL gives.
    let not_happy =
        stub_server(|_| StubReply { status: 200, body: "<html>hello</html>".into(), delay: std::time::Duration::ZERO });
    let cases: [(&[&str], &str); 6] = [
        (&["--from", &app.base, "--to", &app.base, "--secret-file", &data_key, "--dry-run"], "secret key backup"),
        (&["--from", &app.base, "--to", &app.base, "--secret-file", &stranger, "--dry-run"], "is it the right one"),
        (&["--from", &not_happy, "--to", &app.base, "--secret-file", &backup_file, "--dry-run"], "not a Happy server"),
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

/// A full KV page of keys beyond printable ASCII: every item is still read (the split tries
/// each character a page shows), and the move says loudly that one it never saw could be missed.
#[test]
fn kv_keys_beyond_ascii_in_a_full_page_are_read_and_warned_about() {
    let app = app();
    let account = app.new_account();
    for batch in 0..10 {
        let mutations: Vec<_> = (batch * 100..(batch + 1) * 100)
            .map(|i| json!({"key": format!("é{i:04}"), "value": "dg==", "version": -1}))
            .collect();
        assert_eq!(app.post("/v1/kv", Some(&account.token), json!({ "mutations": mutations })).status, 200);
    }
    let file = secret_file("kv-unicode", &backup(&account.key.to_bytes()));
    let (code, out, err) = happy_move(&["--from", &app.base, "--to", &app.base, "--secret-file", &file, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("kv         1000\n"), "{out}");
    assert!(out.contains("warning: KV keys hold characters beyond printable ASCII"), "{out}");
}
