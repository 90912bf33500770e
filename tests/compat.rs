//! What the stock Happy CLI and app need beyond the seed (docs/compatibility.md): push events
//! through a stand-in Expo push service, session attachments in R2, voice conversations against a
//! stand-in ElevenLabs, and the one per-session message seq under mixed concurrent writers.

mod common;
#[path = "support/ws.rs"]
mod ws;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use ws::Ws;

static EXPO_SEEN: Mutex<Vec<Value>> = Mutex::new(Vec::new());

/// Expo: a token containing `gone` is unregistered, `bad` is rejected, `hang` never answers in
/// time, `down` gets a 503; every other token is accepted. ElevenLabs: `agent-ok` gets a token.
fn outside(req: &StubRequest) -> StubReply {
    if req.path == "/--/api/v2/push/send" {
        let messages: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        EXPO_SEEN.lock().unwrap().push(messages.clone());
        let text = messages.to_string();
        if text.contains("hang") {
            return StubReply { delay: Duration::from_secs(20), ..StubReply::json(200, json!({})) };
        }
        if text.contains("down") {
            return StubReply::json(503, json!({"errors": [{"code": "INTERNAL"}]}));
        }
        let tickets: Vec<Value> = messages
            .as_array()
            .map(|ms| {
                ms.iter()
                    .map(|m| match m["to"].as_str().unwrap_or("") {
                        t if t.contains("gone") => json!({"status": "error", "message": "not registered",
                                                          "details": {"error": "DeviceNotRegistered"}}),
                        t if t.contains("bad") => json!({"status": "error", "message": "invalid"}),
                        _ => json!({"status": "ok", "id": "ticket"}),
                    })
                    .collect()
            })
            .unwrap_or_default();
        return StubReply::json(200, json!({ "data": tickets }));
    }
    match req.path.split("agent_id=").nth(1) {
        Some("agent-ok") => StubReply::json(200, json!({"token": "xi-conversation-token"})),
        _ => StubReply::json(500, json!({"detail": "no such agent"})),
    }
}

fn server() -> &'static TestApp {
    static BASE: OnceLock<String> = OnceLock::new();
    let base = BASE.get_or_init(|| stub_server(outside));
    app_with(&[
        ("EXPO_PUSH_BASE_URL", base),
        ("ELEVENLABS_API_KEY", "xi-key"),
        ("ELEVENLABS_BASE_URL", base),
        ("VOICE_MONTHLY_LIMIT_SECONDS", "1000"),
        ("VOICE_CONVERSATION_SECONDS", "300"),
        ("UPSTREAM_TIMEOUT_MS", "1500"),
        // The attachment limit is tested here; the accounts all sign in from one address.
        ("RATE_LIMITS_OFF", "AUTH_RATE_LIMITER"),
    ])
}

fn add_push_token(token: &str, push: &str) {
    let r = server().post("/v1/push-tokens", Some(token), json!({ "token": push }));
    assert_eq!(r.status, 200, "{}", r.text);
}

fn push_event(token: &str, sid: &str, body: Value) -> Resp {
    server().post(&format!("/v1/sessions/{sid}/push-event"), Some(token), body)
}

fn done() -> Value {
    json!({"kind": "done", "title": "Finished", "body": "All tests pass", "data": {"extra": 1}})
}

#[test]
fn push_event_results_and_delivery() {
    let app = server();
    let a = app.new_account();
    let sid = server().new_session(&a.token, "push");
    assert_eq!(push_event(&a.token, &sid, done()).body, json!({"success": true, "result": "no_tokens", "tokens": 0}));

    add_push_token(&a.token, "ExponentPushToken[ok-1]");
    add_push_token(&a.token, "ExponentPushToken[ok-2]");
    let r = push_event(&a.token, &sid, done());
    assert_eq!(r.body, json!({"success": true, "result": "sent", "tokens": 2, "delivered": 2}), "{}", r.text);
    let sent = EXPO_SEEN.lock().unwrap().iter().find(|m| m.to_string().contains("ok-1")).cloned().unwrap();
    assert_eq!(
        sent[0],
        json!({"to": "ExponentPushToken[ok-1]", "title": "Finished", "body": "All tests pass", "sound": "default",
               "data": {"extra": 1, "sessionId": sid, "kind": "done"}})
    );

    // One rejected and one unregistered token: partial; the unregistered one is forgotten.
    add_push_token(&a.token, "ExponentPushToken[gone-3]");
    add_push_token(&a.token, "ExponentPushToken[bad-4]");
    let r = push_event(&a.token, &sid, json!({"kind": "question", "title": "Q", "body": "?"}));
    assert_eq!(
        (r.body["result"].clone(), r.body["tokens"].clone(), r.body["delivered"].clone()),
        (json!("partial"), json!(4), json!(2))
    );
    assert_eq!(r.body["reason"], "DeviceNotRegistered");
    let tokens = app.get("/v1/push-tokens", Some(&a.token)).body["tokens"].clone();
    let left: Vec<&str> = tokens.as_array().unwrap().iter().map(|t| t["token"].as_str().unwrap()).collect();
    assert_eq!(left, ["ExponentPushToken[ok-1]", "ExponentPushToken[ok-2]", "ExponentPushToken[bad-4]"]);

    // Only rejected tokens: failed.
    let b = app.new_account();
    let sb = server().new_session(&b.token, "push");
    add_push_token(&b.token, "ExponentPushToken[bad-1]");
    let r = push_event(&b.token, &sb, done());
    assert_eq!(r.body, json!({"success": true, "result": "failed", "tokens": 1, "delivered": 0, "reason": "invalid"}));
}

#[test]
fn push_service_errors_and_hangs_are_failed_not_errors() {
    let app = server();
    for (push, reason) in [
        ("ExponentPushToken[down]", "push service answered 503"),
        ("ExponentPushToken[hang]", "push service: timed out"),
    ] {
        let a = app.new_account();
        let sid = server().new_session(&a.token, "p");
        add_push_token(&a.token, push);
        let started = std::time::Instant::now();
        let r = push_event(&a.token, &sid, done());
        assert_eq!(r.body, json!({"success": true, "result": "failed", "tokens": 1, "delivered": 0, "reason": reason}));
        assert!(started.elapsed() < Duration::from_secs(8), "bounded by UPSTREAM_TIMEOUT_MS");
    }
}

#[test]
fn push_event_reaches_session_sockets_and_is_suppressed_while_the_app_is_active() {
    let app = server();
    let a = app.new_account();
    let (sid, other) = (server().new_session(&a.token, "s"), server().new_session(&a.token, "o"));
    add_push_token(&a.token, "ExponentPushToken[ok-x]");
    let mut user = Ws::connect(server(), &a.token, "user-scoped", None);
    let mut cli = Ws::connect(server(), &a.token, "session-scoped", Some(&sid));
    let mut elsewhere = Ws::connect(server(), &a.token, "session-scoped", Some(&other));

    let r = push_event(&a.token, &sid, json!({"kind": "permission", "title": "Allow?", "body": "rm -rf build"}));
    assert_eq!(r.body["result"], "sent", "no socket reported app-state active: {}", r.text);
    for ws in [&mut user, &mut cli] {
        let e = ws.expect("ephemeral")["data"].clone();
        let ts = e["timestamp"].as_i64().unwrap();
        assert_eq!(
            e,
            json!({"type": "session-event", "sessionId": sid, "kind": "permission", "title": "Allow?",
                   "body": "rm -rf build", "timestamp": ts})
        );
    }
    assert!(elsewhere.drain(Duration::from_millis(500)).iter().all(|f| f["event"] != "ephemeral"));

    // The app in the foreground: the event still reaches sockets, no push goes out.
    assert_eq!(user.call("app-state", json!({"state": "active"})), json!({}));
    let before = EXPO_SEEN.lock().unwrap().len();
    let r = push_event(&a.token, &sid, done());
    assert_eq!(r.body, json!({"success": true, "result": "suppressed", "tokens": 1, "reason": "app-active"}));
    assert_eq!(cli.expect("ephemeral")["data"]["type"], "session-event");
    assert!(!EXPO_SEEN.lock().unwrap()[before..].iter().any(|m| m.to_string().contains("ok-x")));
    // A session-scoped socket claiming to be active does not suppress: only app sockets count.
    user.call("app-state", json!({"state": "background"}));
    cli.call("app-state", json!({"state": "active"}));
    assert_eq!(push_event(&a.token, &sid, done()).body["result"], "sent");
    // App sockets announce their state at connect too (the Socket.IO auth `appState`), and a
    // closed socket no longer counts.
    user.call("app-state", json!({"state": "active"}));
    user.close();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(push_event(&a.token, &sid, done()).body["result"], "sent");
    cli.close();
    elsewhere.close();
}

#[test]
fn push_event_validation_auth_and_ownership() {
    let app = server();
    let (a, b) = (app.new_account(), app.new_account());
    let sid = server().new_session(&a.token, "v");
    let bad = [
        json!({"kind": "other", "title": "t", "body": "b"}),
        json!({"kind": "done", "title": "", "body": "b"}),
        json!({"kind": "done", "title": "x".repeat(201), "body": "b"}),
        json!({"kind": "done", "title": "t", "body": "x".repeat(501)}),
        json!({"kind": "done", "title": "t"}),
        json!({"kind": "done", "title": "t", "body": "b", "data": [1]}),
        json!({"title": "t", "body": "b"}),
    ];
    for body in bad {
        push_event(&a.token, &sid, body.clone()).assert_error(400);
    }
    let ok = json!({"kind": "done", "title": "x".repeat(200), "body": "y".repeat(500), "data": null});
    assert_eq!(push_event(&a.token, &sid, ok).status, 200);
    push_event(&b.token, &sid, done()).assert_error(404);
    push_event(&a.token, "no-such-session", done()).assert_error(404);
    app.post(&format!("/v1/sessions/{sid}/push-event"), None, done()).assert_error(401);
    // A deleted session is gone here too (C5).
    app.delete(&format!("/v1/sessions/{sid}"), Some(&a.token));
    push_event(&a.token, &sid, done()).assert_error(404);
}

fn request_upload(token: &str, sid: &str, size: i64) -> Resp {
    server().post(
        &format!("/v1/sessions/{sid}/attachments/request-upload"),
        Some(token),
        json!({"filename": "photo.png", "size": size}),
    )
}

/// The path of an absolute URL on the test server.
fn path_of(url: &str) -> String {
    let base = &server().base;
    assert!(url.starts_with(base.as_str()), "{url} is not on {base}");
    url[base.len()..].to_string()
}

#[test]
fn attachments_round_trip() {
    let app = server();
    let a = app.new_account();
    let sid = server().new_session(&a.token, "att");
    let r = request_upload(&a.token, &sid, 5);
    assert_eq!(r.status, 200, "{}", r.text);
    let reference = r.body["ref"].as_str().unwrap().to_string();
    let file = reference.strip_prefix(&format!("sessions/{sid}/attachments/")).expect("ref in the session");
    assert!(file.ends_with(".enc") && file.len() == 40, "{file}");
    assert_eq!(r.body["method"], "PUT");
    let upload = path_of(r.body["uploadUrl"].as_str().unwrap());
    assert_eq!(upload, format!("/v1/sessions/{sid}/attachments/{file}"));

    // Nothing stored yet.
    app.get(&upload, Some(&a.token)).assert_error(404);
    // More than announced: 413, nothing stored.
    app.request_raw("PUT", &upload, Some(&a.token), "application/octet-stream", b"123456").assert_error(413);
    app.get(&upload, Some(&a.token)).assert_error(404);
    let put = app.request_raw("PUT", &upload, Some(&a.token), "application/octet-stream", b"\x00\x01\xfe\xffz");
    assert_eq!((put.status, put.body.clone()), (200, json!({"ok": true})), "{}", put.text);

    let d = app.post(
        &format!("/v1/sessions/{sid}/attachments/request-download"),
        Some(&a.token),
        json!({"ref": reference}),
    );
    assert_eq!(d.status, 200, "{}", d.text);
    let download = path_of(d.body["downloadUrl"].as_str().unwrap());
    let got = raw_get(&download, &a.token);
    assert_eq!(got, (200, b"\x00\x01\xfe\xffz".to_vec()));

    // Refs outside this session are 400; a file never announced cannot be PUT.
    let other = server().new_session(&a.token, "att2");
    for bad in [
        format!("sessions/{other}/attachments/{file}"),
        format!("sessions/{sid}/attachments/../../x"),
        format!("sessions/{sid}/attachments/a/b.enc"),
        "files/x.enc".to_string(),
    ] {
        app.post(&format!("/v1/sessions/{sid}/attachments/request-download"), Some(&a.token), json!({"ref": bad}))
            .assert_error(400);
    }
    app.request_raw(
        "PUT",
        &format!("/v1/sessions/{sid}/attachments/never.enc"),
        Some(&a.token),
        "application/octet-stream",
        b"x",
    )
    .assert_error(404);
}

fn raw_get(path: &str, token: &str) -> (u16, Vec<u8>) {
    use std::io::Read;
    let resp =
        match ureq::get(&format!("{}{path}", server().base)).set("Authorization", &format!("Bearer {token}")).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
    let status = resp.status();
    let mut bytes = Vec::new();
    resp.into_reader().read_to_end(&mut bytes).unwrap();
    (status, bytes)
}

#[test]
fn attachment_sizes_auth_and_ownership() {
    let app = server();
    let (a, b) = (app.new_account(), app.new_account());
    let sid = server().new_session(&a.token, "att");
    let ten_mib = 10 * 1024 * 1024;
    request_upload(&a.token, &sid, ten_mib + 1).assert_error(413);
    request_upload(&a.token, &sid, -1).assert_error(400);
    let base = format!("/v1/sessions/{sid}/attachments");
    for body in [
        json!({"size": 1}),
        json!({"filename": "", "size": 1}),
        json!({"filename": "a", "size": 1.5}),
        json!({"filename": "a"}),
    ] {
        app.post(&format!("{base}/request-upload"), Some(&a.token), body).assert_error(400);
    }
    app.post(&format!("{base}/request-download"), Some(&a.token), json!({})).assert_error(400);

    // The full 10 MiB is accepted; one byte more is 413.
    let r = request_upload(&a.token, &sid, ten_mib);
    let upload = path_of(r.body["uploadUrl"].as_str().unwrap());
    let big = vec![7u8; ten_mib as usize + 1];
    app.request_raw("PUT", &upload, Some(&a.token), "application/octet-stream", &big).assert_error(413);
    let put = app.request_raw("PUT", &upload, Some(&a.token), "application/octet-stream", &big[..ten_mib as usize]);
    assert_eq!(put.status, 200, "{}", put.text);
    let reference = r.body["ref"].as_str().unwrap();

    // Another account: 404 on every route, nothing stored or shown.
    request_upload(&b.token, &sid, 1).assert_error(404);
    app.request_raw("PUT", &upload, Some(&b.token), "application/octet-stream", b"x").assert_error(404);
    app.post(&format!("{base}/request-download"), Some(&b.token), json!({"ref": reference})).assert_error(404);
    app.get(&upload, Some(&b.token)).assert_error(404);
    assert_eq!(raw_get(&upload, &a.token).1.len(), ten_mib as usize);
    // No token: 401 everywhere.
    app.post(&format!("{base}/request-upload"), None, json!({"filename": "a", "size": 1})).assert_error(401);
    app.post(&format!("{base}/request-download"), None, json!({"ref": reference})).assert_error(401);
    app.request_raw("PUT", &upload, None, "application/octet-stream", b"x").assert_error(401);
    app.get(&upload, None).assert_error(401);
    // A deleted session's attachments are gone with it (C5).
    app.delete(&format!("/v1/sessions/{sid}"), Some(&a.token));
    app.get(&upload, Some(&a.token)).assert_error(404);
}

#[test]
fn attachments_are_rate_limited_per_account() {
    let app = server();
    let (a, b) = (app.new_account(), app.new_account());
    let sid = server().new_session(&a.token, "rl");
    let probe = format!("/v1/sessions/{sid}/attachments/none.enc");
    within_one_rate_window(20);
    let mut statuses = Vec::new();
    for _ in 0..61 {
        statuses.push(app.get(&probe, Some(&a.token)).status);
    }
    assert!(statuses[..60].iter().all(|s| *s == 404), "{statuses:?}");
    let limited = app.get(&probe, Some(&a.token));
    limited.assert_error(429);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    request_upload(&a.token, &sid, 1).assert_error(429);
    // Another account has its own budget.
    let sb = server().new_session(&b.token, "rl");
    assert_eq!(request_upload(&b.token, &sb, 1).status, 200);
}

#[test]
fn voice_conversations_within_the_monthly_allowance() {
    let app = server();
    let a = app.new_account();
    let usage = app.get("/v1/voice/usage", Some(&a.token));
    assert_eq!(usage.status, 200, "{}", usage.text);
    let eleven = usage.body["elevenUserId"].as_str().unwrap().to_string();
    assert!(eleven.starts_with("u_") && !eleven.contains(&user_id_of(&a.token)), "{eleven}");
    assert_eq!(usage.body, json!({"usedSeconds": 0, "limitSeconds": 1000, "elevenUserId": eleven}));

    // 1000 s a month at 300 s a conversation: three fit, the fourth is refused.
    let mut ids = Vec::new();
    for used in [0, 300, 600] {
        let r = app.post("/v1/voice/conversations", Some(&a.token), json!({"agentId": "agent-ok"}));
        assert_eq!(r.status, 200, "{}", r.text);
        let id = r.body["conversationId"].as_str().unwrap().to_string();
        assert_eq!(
            r.body,
            json!({"allowed": true, "conversationToken": "xi-conversation-token", "conversationId": id,
                   "agentId": "agent-ok", "elevenUserId": eleven, "usedSeconds": used, "limitSeconds": 1000})
        );
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 3);
    let r = app.post("/v1/voice/conversations", Some(&a.token), json!({"agentId": "agent-ok"}));
    assert_eq!(
        r.body,
        json!({"allowed": false, "reason": "voice_hard_limit_reached", "usedSeconds": 900, "limitSeconds": 1000,
               "agentId": "agent-ok"})
    );
    assert_eq!(app.get("/v1/voice/usage", Some(&a.token)).body["usedSeconds"], 900);

    // An ElevenLabs failure is a 502 and charges nothing.
    let b = app.new_account();
    app.post("/v1/voice/conversations", Some(&b.token), json!({"agentId": "agent-broken"})).assert_error(502);
    assert_eq!(app.get("/v1/voice/usage", Some(&b.token)).body["usedSeconds"], 0);
    // Accounts are charged separately and have distinct pseudonyms.
    assert_ne!(app.get("/v1/voice/usage", Some(&b.token)).body["elevenUserId"], json!(eleven));
}

#[test]
fn voice_conversations_never_overdraw_under_concurrent_starts() {
    let app = server();
    let a = app.new_account();
    let allowed = concurrently(8, |_| {
        app.post("/v1/voice/conversations", Some(&a.token), json!({"agentId": "agent-ok"})).body["allowed"].clone()
    });
    let granted = allowed.into_iter().filter(|v| *v == json!(true)).count();
    assert_eq!(granted, 3);
    assert_eq!(app.get("/v1/voice/usage", Some(&a.token)).body["usedSeconds"], 900);
}

#[test]
fn voice_validation_and_auth() {
    let app = server();
    let a = app.new_account();
    for body in [json!({}), json!({"agentId": ""}), json!({"agentId": 5}), json!({"agentId": "x".repeat(257)})] {
        app.post("/v1/voice/conversations", Some(&a.token), body).assert_error(400);
    }
    app.post("/v1/voice/conversations", None, json!({"agentId": "agent-ok"})).assert_error(401);
    app.get("/v1/voice/usage", None).assert_error(401);
}

/// docs/compatibility.md#v3-messages: one gap-free message seq per session, shared by v3 POST, v1
/// POST and the socket `message` event, under 30 concurrent writers.
#[test]
fn thirty_mixed_concurrent_writers_get_seqs_1_to_30_once() {
    let app = server();
    let a = app.new_account();
    let sid = server().new_session(&a.token, "race");
    let mut watcher = Ws::connect(server(), &a.token, "user-scoped", None);
    concurrently(30, |i| {
        let local = format!("w-{i}");
        match i % 3 {
            0 => {
                let body = json!({"messages": [{"localId": local, "content": "djM="}]});
                let r = app.post(&format!("/v3/sessions/{sid}/messages"), Some(&a.token), body);
                assert_eq!(r.status, 200, "{}", r.text);
            }
            1 => {
                let body = json!({"localId": local, "content": {"t": "encrypted", "c": "djE="}});
                let r = app.post(&format!("/v1/sessions/{sid}/messages"), Some(&a.token), body);
                assert_eq!(r.status, 200, "{}", r.text);
            }
            _ => {
                // Each socket writer on its own session-scoped socket, as a legacy CLI.
                let mut ws = Ws::connect(app, &a.token, "session-scoped", Some(&sid));
                ws.send("message", json!({"sid": sid, "message": "c29jaw==", "localId": local}));
                assert_eq!(ws.call("ping", json!({})), json!({}));
                ws.close();
            }
        }
    });
    // Socket writes are not acked: wait until all 30 are stored.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let msgs = loop {
        let page = app.get(&format!("/v3/sessions/{sid}/messages?after_seq=0&limit=100"), Some(&a.token));
        let msgs = page.body["messages"].as_array().unwrap().clone();
        if msgs.len() >= 30 || std::time::Instant::now() > deadline {
            break msgs;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut seqs: Vec<i64> = msgs.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>());
    let mut locals: Vec<String> = msgs.iter().map(|m| m["localId"].as_str().unwrap().to_string()).collect();
    locals.sort();
    locals.dedup();
    assert_eq!(locals.len(), 30);
    // The user-scoped socket saw 30 new-message updates, message seqs 1..30 exactly once.
    let mut seen: Vec<i64> = (0..30)
        .map(|_| {
            let u = watcher.expect("update");
            assert_eq!(u["data"]["body"]["t"], "new-message");
            u["data"]["body"]["message"]["seq"].as_i64().unwrap()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, (1..=30).collect::<Vec<_>>());
    watcher.close();
}

const HAPPY_CLIENT: (&str, &str) = ("X-Happy-Client", "ios/1.7.0");
const JSON_GET: (&str, &str) = ("Content-Type", "application/json");

/// docs/compatibility.md C1–C4, C6 as decided, each with no stock signal, with `X-Happy-Client`,
/// and with only the `Content-Type: application/json` GET that every app build sends.
#[test]
fn conflicts_c1_to_c4_and_c6_with_and_without_the_stock_signal() {
    let app = server();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    let get = |path: &str, h: &[(&str, &str)]| app.request("GET", path, t, None, h);

    // C1: bare array for stock clients (either signal), {artifacts} otherwise.
    let id = uuid();
    let art = json!({"id": id, "header": "h", "body": "b", "dataEncryptionKey": "k"});
    // C3: the create answers the same additive shape whoever asks.
    let created = app.request("POST", "/v1/artifacts", t, Some(&art), &[HAPPY_CLIENT]).body;
    assert_eq!((created["id"].clone(), created["artifact"]["id"].clone()), (json!(id), json!(id)));
    assert_eq!(created["headerVersion"], created["artifact"]["headerVersion"]);
    let wrapped = get("/v1/artifacts", &[]).body;
    assert_eq!(wrapped["artifacts"][0]["id"], json!(id));
    for signal in [HAPPY_CLIENT, JSON_GET] {
        let bare = get("/v1/artifacts", &[signal]).body;
        assert_eq!(bare.as_array().map(Vec::len), Some(1), "{signal:?}: {bare}");
        assert_eq!(bare[0], wrapped["artifacts"][0]);
    }
    // C2: top-level fields and `artifact`, identical with and without a signal.
    let plain = get(&format!("/v1/artifacts/{id}"), &[]).body;
    assert_eq!((plain["body"].clone(), plain["artifact"]["body"].clone()), (json!("b"), json!("b")));
    assert_eq!(get(&format!("/v1/artifacts/{id}"), &[HAPPY_CLIENT]).body, plain);

    // C4: bare array for stock clients; items carry activeAt and lastActiveAt in both shapes.
    let mid = format!("m-{}", &uuid()[..8]);
    assert_eq!(app.post("/v1/machines", t, json!({"id": mid, "metadata": "bQ=="})).status, 200);
    let seed = get("/v1/machines", &[]).body;
    let item = &seed["machines"][0];
    assert!(item["activeAt"].is_i64() && item["activeAt"] == item["lastActiveAt"], "{item}");
    for signal in [HAPPY_CLIENT, JSON_GET] {
        let bare = get("/v1/machines", &[signal]).body;
        assert_eq!(bare.as_array().map(Vec::len), Some(1), "{signal:?}: {bare}");
        assert_eq!(&bare[0], item);
    }

    // C6: upstream `kind` bodies always; `0-<n>` cursors only with X-Happy-Client (as decided:
    // the Content-Type GET alone keeps the seed's `cursor_<n>`); both forms accepted back.
    let b = app.new_account();
    for acc in [&a, &b] {
        let name = format!("c6{}", &user_id_of(&acc.token)[..8]);
        assert_eq!(app.put("/v1/account", Some(&acc.token), json!({"username": name})).status, 200);
    }
    assert_eq!(app.post("/v1/friends/add", Some(&b.token), json!({"uid": user_id_of(&a.token)})).status, 200);
    let cursor = |h: &[(&str, &str)]| get("/v1/feed", h).body["items"][0]["cursor"].clone();
    assert_eq!(cursor(&[]), "cursor_1");
    assert_eq!(cursor(&[JSON_GET]), "cursor_1");
    assert_eq!(cursor(&[HAPPY_CLIENT]), "0-1");
    let item = get("/v1/feed", &[HAPPY_CLIENT]).body["items"][0].clone();
    assert_eq!(item["body"], json!({"kind": "friend_request", "uid": user_id_of(&b.token)}));
    assert!(item.as_object().unwrap().contains_key("repeatKey"));
    for after in ["cursor_0", "0-0"] {
        assert_eq!(get(&format!("/v1/feed?after={after}"), &[HAPPY_CLIENT]).body["items"].as_array().unwrap().len(), 1);
    }
}

/// C5: a deleted session keeps its row but is gone everywhere, sockets included, and
/// `delete-session` reaches user-scoped sockets only.
#[test]
fn conflict_c5_deleted_sessions_are_gone_for_sockets_too() {
    let app = server();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    let sid = server().new_session(&a.token, "c5");
    let mut user = Ws::connect(server(), &a.token, "user-scoped", None);
    let mut cli = Ws::connect(server(), &a.token, "session-scoped", Some(&sid));
    for h in [vec![], vec![HAPPY_CLIENT]] {
        let r = app.request("DELETE", &format!("/v1/sessions/{sid}"), t, None, &h);
        if h.is_empty() {
            assert_eq!((r.status, r.body), (200, json!({"success": true})));
        } else {
            r.assert_error(404);
        }
    }
    let u = user.expect("update");
    assert_eq!(u["data"]["body"], json!({"t": "delete-session", "sid": sid}));
    assert!(cli.drain(Duration::from_millis(500)).iter().all(|f| f["event"] != "update"));
    // The row stays (seed: soft delete, inactive) but no read or write finds it.
    let row = app.d1(&format!("SELECT active, deleted_at FROM sessions WHERE id = '{sid}'"));
    assert_eq!(row[0]["active"], 0);
    assert!(row[0]["deleted_at"].is_i64());
    for h in [vec![], vec![HAPPY_CLIENT], vec![JSON_GET]] {
        let list = app.request("GET", "/v1/sessions", t, None, &h).body;
        assert_eq!(list["sessions"], json!([]), "{h:?}");
    }
    // Socket writes to it fail like an unknown session's.
    let ack = cli.call("update-metadata", json!({"sid": sid, "metadata": "eA==", "expectedVersion": 0}));
    assert_eq!(ack, json!({"result": "error"}));
    cli.send("message", json!({"sid": sid, "message": "eA==", "localId": "after-delete"}));
    let now = now_ms();
    cli.send("session-alive", json!({"sid": sid, "time": now}));
    cli.call("ping", json!({}));
    assert!(user.drain(Duration::from_millis(700)).is_empty(), "no update or activity for a deleted session");
    let stored = app.d1(&format!("SELECT count(*) AS n FROM session_messages WHERE session_id = '{sid}'"));
    assert_eq!(stored[0]["n"], 0);
    user.close();
    cli.close();
}
