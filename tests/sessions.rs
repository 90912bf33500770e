//! Sessions and messages as a client sees them: shapes, ownership, soft delete, paging,
//! idempotency, and seq allocation under concurrent writers.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const SESSION_KEYS: &[&str] = &[
    "id",
    "seq",
    "createdAt",
    "updatedAt",
    "active",
    "activeAt",
    "metadata",
    "metadataVersion",
    "agentState",
    "agentStateVersion",
    "dataEncryptionKey",
    "lastMessage",
];

fn seqs(r: &Resp) -> Vec<i64> {
    r.body["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect()
}

#[test]
fn every_route_requires_a_token() {
    let app = app();
    let r = app.get("/v1/sessions", None);
    r.assert_error(401);
    for (method, path) in [
        ("GET", "/v2/sessions"),
        ("GET", "/v2/sessions/active"),
        ("POST", "/v1/sessions"),
        ("GET", "/v1/sessions/x"),
        ("DELETE", "/v1/sessions/x"),
        ("POST", "/v1/sessions/x/archive"),
        ("GET", "/v1/sessions/x/messages"),
        ("POST", "/v1/sessions/x/messages"),
        ("GET", "/v3/sessions/x/messages"),
        ("POST", "/v3/sessions/x/messages"),
    ] {
        app.request(method, path, None, Some(&json!({})), &[]).assert_error(401);
    }
}

#[test]
fn create_is_idempotent_by_tag_and_lists_exact_shapes() {
    let app = app();
    let a = app.new_account();
    let tag = new_id("tag");
    let r = app.post("/v1/sessions", Some(&a.token), json!({"tag": tag, "metadata": "m1"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let s = &r.body["session"];
    assert_eq!(keys(s), set(SESSION_KEYS));
    assert_eq!(s["seq"], 0);
    assert_eq!(s["metadata"], "m1");
    assert_eq!(s["metadataVersion"], 0);
    assert_eq!(s["agentState"], Value::Null);
    assert_eq!(s["agentStateVersion"], 0);
    assert_eq!(s["dataEncryptionKey"], Value::Null);
    assert_eq!(s["active"], true);
    assert_eq!(s["lastMessage"], Value::Null);
    assert!(s["createdAt"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(s["activeAt"], s["createdAt"]);

    // Same tag: the existing session, unchanged.
    let again = app.post(
        "/v1/sessions",
        Some(&a.token),
        json!({"tag": tag, "metadata": "m2", "agentState": "st", "dataEncryptionKey": "a2V5"}),
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.body["session"], *s);

    // Stored agentState and key on a new tag.
    let other = app.post(
        "/v1/sessions",
        Some(&a.token),
        json!({"tag": new_id("tag"), "metadata": "m", "agentState": "st", "dataEncryptionKey": "a2V5"}),
    );
    assert_eq!(other.body["session"]["agentState"], "st");
    assert_eq!(other.body["session"]["dataEncryptionKey"], "a2V5");
    assert_ne!(other.body["session"]["id"], s["id"]);

    let list = app.get("/v1/sessions", Some(&a.token));
    assert_eq!(list.status, 200);
    assert_eq!(keys(&list.body), set(&["sessions"]));
    let items = list.body["sessions"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], other.body["session"]["id"], "updatedAt desc");
    for it in items {
        assert_eq!(keys(it), set(SESSION_KEYS));
    }
    let one = app.get(&format!("/v1/sessions/{}", s["id"].as_str().unwrap()), Some(&a.token));
    assert_eq!(one.body, json!({"session": s}));
    // The list's SQL-built items equal the Rust-built ones, byte for byte.
    for it in items {
        let by_id = app.get(&format!("/v1/sessions/{}", it["id"].as_str().unwrap()), Some(&a.token));
        assert_eq!(by_id.body["session"].to_string(), it.to_string());
    }
}

#[test]
fn another_accounts_session_is_404_on_every_route() {
    let app = app();
    let (a, b) = (app.new_account(), app.new_account());
    let s = app.create_session(&a.token, &new_id("tag"));
    let sid = s["id"].as_str().unwrap();
    assert_eq!(app.post_messages(&a.token, sid, &[("l1", "c1")]).status, 200);
    let t = Some(b.token.as_str());
    app.get(&format!("/v1/sessions/{sid}"), t).assert_error(404);
    app.delete(&format!("/v1/sessions/{sid}"), t).assert_error(404);
    app.post(&format!("/v1/sessions/{sid}/archive"), t, json!({})).assert_error(404);
    app.get(&format!("/v1/sessions/{sid}/messages"), t).assert_error(404);
    app.post(&format!("/v1/sessions/{sid}/messages"), t, json!({"content": "x"})).assert_error(404);
    let r = app.get(&format!("/v3/sessions/{sid}/messages"), t);
    r.assert_error(404);
    assert_eq!(r.body["error"], "Session not found");
    app.post_messages(&b.token, sid, &[("l2", "c2")]).assert_error(404);
    assert_eq!(app.get("/v1/sessions", t).body["sessions"], json!([]));
    // Nothing of B's attempts landed.
    assert_eq!(seqs(&app.get(&format!("/v3/sessions/{sid}/messages"), Some(&a.token))), vec![1]);
    // Unknown ids too.
    app.get("/v1/sessions/nope", Some(&a.token)).assert_error(404);
}

#[test]
fn bad_input_is_rejected_and_writes_nothing() {
    let app = app();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    for body in [
        json!({"metadata": "m"}),
        json!({"tag": "", "metadata": "m"}),
        json!({"tag": "x".repeat(257), "metadata": "m"}),
        json!({"tag": "t", "metadata": 5}),
        json!({"tag": "t", "metadata": ""}),
        json!({"tag": "t", "metadata": "m", "dataEncryptionKey": "k".repeat(5000)}),
    ] {
        app.post("/v1/sessions", t, body).assert_error(400);
    }
    assert_eq!(app.get("/v1/sessions", t).body["sessions"], json!([]));
    let big = json!({"tag": "t", "metadata": "m".repeat(1024 * 1024 + 1)});
    app.post("/v1/sessions", t, big).assert_error(413);

    let sid = app.new_session(&a.token, &new_id("tag"));
    let v1 = format!("/v1/sessions/{sid}/messages");
    for content in [json!({"encrypted": "x"}), json!({"t": "plain", "c": "x"}), json!(5), json!(""), json!(null)] {
        app.post(&v1, t, json!({"content": content})).assert_error(400);
    }
    app.post(&v1, t, json!({"content": "x", "localId": "l".repeat(257)})).assert_error(400);
    let v3 = format!("/v3/sessions/{sid}/messages");
    app.post(&v3, t, json!({"messages": []})).assert_error(400);
    let many: Vec<Value> = (0..101).map(|i| json!({"localId": format!("l{i}"), "content": "c"})).collect();
    app.post(&v3, t, json!({ "messages": many })).assert_error(400);
    app.post(&v3, t, json!({"messages": [{"localId": "", "content": "c"}]})).assert_error(400);
    app.post(&v3, t, json!({"messages": [{"content": "c"}]})).assert_error(400);
    app.post(&v3, t, json!({"messages": [{"localId": "a", "content": "c"}, {"localId": "b", "content": ""}]}))
        .assert_error(400);
    app.request_raw("POST", &v3, t, "application/json", b"{nope").assert_error(400);
    // Nothing was stored by any of them.
    let r = app.get(&v3, t);
    assert_eq!(r.body, json!({"messages": [], "hasMore": false}));

    for q in ["after_seq=1&before_seq=5", "after_seq=-1", "before_seq=0", "limit=0", "limit=501", "after_seq=x"] {
        app.get(&format!("{v3}?{q}"), t).assert_error(400);
    }
    for q in ["limit=0", "limit=201", "cursor=bogus", "changedSince=yesterday"] {
        app.get(&format!("/v2/sessions?{q}"), t).assert_error(400);
    }
    let r = app.get("/v2/sessions?cursor=bogus", t);
    assert_eq!(r.body, json!({"error": "Invalid cursor format"}));
    app.get("/v2/sessions/active?limit=501", t).assert_error(400);
    app.get(&format!("{v1}?limit=151"), t).assert_error(400);
}

/// The pages are built by SQLite; each item must be the message as the post answered it
/// (built in Rust), with and without a localId, in both list routes.
#[test]
fn listed_messages_are_the_posted_messages() {
    let app = app();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    let sid = app.new_session(&a.token, &new_id("tag"));
    let v1 = format!("/v1/sessions/{sid}/messages");
    let posted: Vec<Value> = [json!({"content": "Zmlyc3Q=", "localId": "l-1"}), json!({"content": "c2Vjb25k"})]
        .into_iter()
        .map(|body| {
            let r = app.post(&v1, t, body);
            assert_eq!(r.status, 200, "{}", r.text);
            let mut m = r.body["message"].clone();
            m.as_object_mut().unwrap().remove("sessionId");
            m
        })
        .collect();
    assert_eq!(posted[1]["localId"], Value::Null);
    let v3 = app.get(&format!("/v3/sessions/{sid}/messages"), t);
    assert_eq!(v3.body, json!({"messages": posted, "hasMore": false}));
    let newest_first: Vec<Value> = posted.iter().rev().cloned().collect();
    assert_eq!(app.get(&v1, t).body, json!({"messages": newest_first, "hasMore": false}));
}

#[test]
fn v1_messages_store_encrypted_content_and_are_idempotent_by_local_id() {
    let app = app();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    let sid = app.new_session(&a.token, &new_id("tag"));
    let path = format!("/v1/sessions/{sid}/messages");
    let r = app.post(&path, t, json!({"content": "c1"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let m = &r.body["message"];
    assert_eq!(keys(m), set(&["id", "sessionId", "localId", "seq", "content", "createdAt", "updatedAt"]));
    assert_eq!((m["seq"].as_i64(), &m["sessionId"], &m["localId"]), (Some(1), &json!(sid), &Value::Null));
    assert_eq!(m["content"], json!({"t": "encrypted", "c": "c1"}));

    let r2 = app.post(&path, t, json!({"localId": "L", "content": {"t": "encrypted", "c": "c2"}}));
    assert_eq!(r2.body["message"]["seq"], 2);
    assert_eq!(r2.body["message"]["localId"], "L");
    // A retry returns the stored message, no new seq.
    let r3 = app.post(&path, t, json!({"localId": "L", "content": "different"}));
    assert_eq!(r3.body["message"], r2.body["message"]);

    let list = app.get(&path, t);
    assert_eq!(seqs(&list), vec![2, 1], "newest first");
    assert_eq!(list.body["hasMore"], false);
    let first = &list.body["messages"][1];
    assert_eq!(keys(first), set(&["id", "seq", "content", "localId", "createdAt", "updatedAt"]));
    assert_eq!(first["content"], json!({"t": "encrypted", "c": "c1"}));
    let page = app.get(&format!("{path}?before_seq=2&limit=1"), t);
    assert_eq!(seqs(&page), vec![1]);
    assert_eq!(page.body["hasMore"], false);
    let page = app.get(&format!("{path}?limit=1"), t);
    assert_eq!((seqs(&page), page.body["hasMore"].clone()), (vec![2], json!(true)));

    // The session's seq is its last message seq, and a message moves it up the list.
    let s = app.get(&format!("/v1/sessions/{sid}"), t);
    assert_eq!(s.body["session"]["seq"], 2);
}

#[test]
fn v3_post_is_idempotent_and_pages_both_ways() {
    let app = app();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    let sid = app.new_session(&a.token, &new_id("tag"));

    // A duplicate inside the batch collapses to the first.
    let r = app.post_messages(&a.token, &sid, &[("a", "ca"), ("b", "cb"), ("a", "other")]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(seqs(&r), vec![1, 2]);
    for m in r.body["messages"].as_array().unwrap() {
        assert_eq!(keys(m), set(&["id", "seq", "localId", "createdAt", "updatedAt"]), "no content");
    }
    // A retry (plus one new) returns the stored ones unchanged, and numbers only the new one.
    let r2 = app.post_messages(&a.token, &sid, &[("b", "x"), ("a", "y"), ("c", "cc")]);
    assert_eq!(seqs(&r2), vec![1, 2, 3]);
    assert_eq!(r2.body["messages"][0], r.body["messages"][0]);
    assert_eq!(r2.body["messages"][1], r.body["messages"][1]);
    let stored = app.get(&format!("/v3/sessions/{sid}/messages"), t);
    let contents: Vec<&str> =
        stored.body["messages"].as_array().unwrap().iter().map(|m| m["content"]["c"].as_str().unwrap()).collect();
    assert_eq!(contents, ["ca", "cb", "cc"]);

    let batch: Vec<(String, String)> = (4..=25).map(|i| (format!("l{i}"), format!("c{i}"))).collect();
    let refs: Vec<(&str, &str)> = batch.iter().map(|(l, c)| (l.as_str(), c.as_str())).collect();
    assert_eq!(seqs(&app.post_messages(&a.token, &sid, &refs)), (4..=25).collect::<Vec<_>>());

    let get = |q: &str| app.get(&format!("/v3/sessions/{sid}/messages?{q}"), t);
    let p = get("after_seq=0&limit=10");
    assert_eq!((seqs(&p), p.body["hasMore"].clone()), ((1..=10).collect(), json!(true)));
    let p = get("after_seq=10&limit=10");
    assert_eq!((seqs(&p), p.body["hasMore"].clone()), ((11..=20).collect(), json!(true)));
    let p = get("after_seq=20&limit=10");
    assert_eq!((seqs(&p), p.body["hasMore"].clone()), ((21..=25).collect(), json!(false)));
    let p = get("before_seq=2147483647&limit=10");
    assert_eq!((seqs(&p), p.body["hasMore"].clone()), ((16..=25).rev().collect(), json!(true)));
    let p = get("before_seq=6&limit=10");
    assert_eq!((seqs(&p), p.body["hasMore"].clone()), ((1..=5).rev().collect(), json!(false)));
    let p = get("");
    assert_eq!(seqs(&p), (1..=25).collect::<Vec<_>>(), "default after_seq=0, limit 100");
    let m = &p.body["messages"][0];
    assert_eq!(keys(m), set(&["id", "seq", "content", "localId", "createdAt", "updatedAt"]));
    assert_eq!(m["content"], json!({"t": "encrypted", "c": "ca"}));
    assert_eq!(m["localId"], "a");
}

#[test]
fn concurrent_message_posts_get_seqs_one_to_twenty_exactly_once() {
    let app = app();
    let a = app.new_account();
    let sid = app.new_session(&a.token, &new_id("tag"));
    let mut got: Vec<i64> = concurrently(20, |i| {
        let r = if i % 2 == 0 {
            app.post(&format!("/v1/sessions/{sid}/messages"), Some(&a.token), json!({"content": format!("c{i}")}))
        } else {
            app.post_messages(&a.token, &sid, &[(&format!("l{i}"), &format!("c{i}"))])
        };
        assert_eq!(r.status, 200, "{}", r.text);
        if i % 2 == 0 {
            r.body["message"]["seq"].as_i64().unwrap()
        } else {
            r.body["messages"][0]["seq"].as_i64().unwrap()
        }
    });
    got.sort();
    assert_eq!(got, (1..=20).collect::<Vec<_>>());
    let all = app.get(&format!("/v3/sessions/{sid}/messages"), Some(&a.token));
    assert_eq!(seqs(&all), (1..=20).collect::<Vec<_>>());
    assert_eq!(app.get(&format!("/v1/sessions/{sid}"), Some(&a.token)).body["session"]["seq"], 20);
}

#[test]
fn concurrent_retries_of_one_local_id_store_it_once() {
    let app = app();
    let a = app.new_account();
    let sid = app.new_session(&a.token, &new_id("tag"));
    let ids: BTreeSet<String> = concurrently(8, |_| {
        app.post_messages(&a.token, &sid, &[("same", "c")]).body["messages"][0]["id"].as_str().unwrap().to_string()
    })
    .into_iter()
    .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(seqs(&app.get(&format!("/v3/sessions/{sid}/messages"), Some(&a.token))), vec![1]);
}

#[test]
fn concurrent_creates_with_one_tag_give_one_session() {
    let app = app();
    let a = app.new_account();
    let tag = new_id("tag");
    let ids: BTreeSet<String> = concurrently(10, |_| app.new_session(&a.token, &tag)).into_iter().collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(app.get("/v1/sessions", Some(&a.token)).body["sessions"].as_array().unwrap().len(), 1);
}

#[test]
fn deleted_sessions_disappear_everywhere_and_free_their_tag() {
    let app = app();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    let tag = new_id("tag");
    let sid = app.new_session(&a.token, &tag);
    let keep = app.new_session(&a.token, &new_id("tag"));
    assert_eq!(app.post_messages(&a.token, &sid, &[("l", "c")]).status, 200);
    let mid = new_id("m");
    assert_eq!(app.post("/v1/machines", t, json!({"id": mid, "metadata": "m"})).status, 200);
    assert_eq!(app.post(&format!("/v1/access-keys/{sid}/{mid}"), t, json!({"data": "k"})).status, 200);

    let r = app.delete(&format!("/v1/sessions/{sid}"), t);
    assert_eq!((r.status, r.body.clone()), (200, json!({"success": true})));

    app.get(&format!("/v1/sessions/{sid}"), t).assert_error(404);
    app.delete(&format!("/v1/sessions/{sid}"), t).assert_error(404);
    app.post(&format!("/v1/sessions/{sid}/archive"), t, json!({})).assert_error(404);
    app.get(&format!("/v3/sessions/{sid}/messages"), t).assert_error(404);
    app.post_messages(&a.token, &sid, &[("l2", "c")]).assert_error(404);
    app.get(&format!("/v1/sessions/{sid}/messages"), t).assert_error(404);
    app.post(&format!("/v1/sessions/{sid}/messages"), t, json!({"content": "c"})).assert_error(404);
    app.get(&format!("/v1/access-keys/{sid}/{mid}"), t).assert_error(404);
    let ids = |r: Resp| -> Vec<String> {
        r.body["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(app.get("/v1/sessions", t)), vec![keep.clone()]);
    assert_eq!(ids(app.get("/v2/sessions", t)), vec![keep.clone()]);
    assert_eq!(ids(app.get("/v2/sessions/active", t)), vec![keep]);

    // The tag is free again: a new session.
    let again = app.create_session(&a.token, &tag);
    assert_ne!(again["id"], json!(sid));
    assert_eq!(again["seq"], 0);
}

#[test]
fn archive_marks_inactive_and_v2_lists_page_and_filter() {
    let app = app();
    let a = app.new_account();
    let t = Some(a.token.as_str());
    let before = now_ms() - 1;
    let ids: Vec<String> = (0..5).map(|_| app.new_session(&a.token, &new_id("tag"))).collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/v2/sessions?limit=2&cursor={c}"),
            None => "/v2/sessions?limit=2".to_string(),
        };
        let r = app.get(&q, t);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(keys(&r.body), set(&["sessions", "nextCursor", "hasNext"]));
        seen.extend(r.body["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()));
        if r.body["hasNext"] == false {
            assert_eq!(r.body["nextCursor"], Value::Null);
            break;
        }
        cursor = Some(r.body["nextCursor"].as_str().unwrap().to_string());
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let r = app.get(&format!("/v2/sessions?changedSince={before}"), t);
    assert_eq!(r.body["sessions"].as_array().unwrap().len(), 5);
    let r = app.get("/v2/sessions?changedSince=2999-01-01T00:00:00Z", t);
    assert_eq!(r.body["sessions"], json!([]));

    let r = app.post(&format!("/v1/sessions/{}/archive", ids[0]), t, json!({}));
    assert_eq!((r.status, r.body.clone()), (200, json!({"success": true})));
    assert_eq!(app.get(&format!("/v1/sessions/{}", ids[0]), t).body["session"]["active"], false);
    let active = app.get("/v2/sessions/active?limit=500", t);
    let active: Vec<&str> =
        active.body["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(active.len(), 4);
    assert!(!active.contains(&ids[0].as_str()));
}
