//! Users, friends and the feed: search and profiles on both paths, the request/accept/remove
//! state machine on both sides, feed posts with both cursor forms (C6), and concurrent adds.

mod common;

use common::*;
use serde_json::{json, Value};

const STOCK: &[(&str, &str)] = &[("X-Happy-Client", "ios/1.0.0")];

/// A fresh account with a unique username starting with `prefix`.
fn named(prefix: &str) -> (Account, String, String) {
    let app = app();
    let a = app.new_account();
    let id = user_id_of(&a.token);
    let name = format!("{prefix}{}", &id[..8]);
    let r = app.put("/v1/account", Some(&a.token), json!({"username": name, "firstName": "First"}));
    assert_eq!(r.status, 200, "{}", r.text);
    (a, id, name)
}

fn add(token: &str, uid: &str) -> Resp {
    app().post("/v1/friends/add", Some(token), json!({ "uid": uid }))
}

fn remove(token: &str, uid: &str) -> Resp {
    app().post("/v1/friends/remove", Some(token), json!({ "uid": uid }))
}

fn status_of(token: &str, uid: &str) -> Value {
    app().get(&format!("/v1/user/{uid}"), Some(token)).body["user"]["status"].clone()
}

#[test]
fn search_and_profiles_on_both_paths() {
    let app = app();
    let (a, _, _) = named("srch");
    let (_, b_id, b_name) = named("Srch");
    for path in ["/v1/users/search", "/v1/user/search"] {
        let r = app.get(&format!("{path}?query={}", b_name.to_uppercase()), Some(&a.token));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body,
            json!({"users": [{"id": b_id, "firstName": "First", "lastName": null, "avatar": null,
                              "username": b_name, "bio": null, "status": "none"}]})
        );
    }
    // Prefix, case-insensitive, limited.
    let r = app.get("/v1/users/search?query=SRCH&limit=1", Some(&a.token));
    assert_eq!(r.body["users"].as_array().unwrap().len(), 1);
    // Wildcards are literal.
    assert_eq!(app.get("/v1/users/search?query=%25", Some(&a.token)).body, json!({"users": []}));
    // The longest allowed query, all wildcards and escapes, stays within D1's pattern limit.
    // `%`, `_` and a backslash: 21 of the three and one more `%` make 64 characters.
    let longest = format!("{}%25", "%25_%5C".repeat(21));
    let r = app.get(&format!("/v1/users/search?query={longest}"), Some(&a.token));
    assert_eq!((r.status, &r.body), (200, &json!({"users": []})), "{}", r.text);
    app.get(&format!("/v1/users/search?query={longest}_"), Some(&a.token)).assert_error(400);
    app.get("/v1/users/search?query=x&limit=51", Some(&a.token)).assert_error(400);
    app.get("/v1/users/search?query=x&limit=0", Some(&a.token)).assert_error(400);
    app.get("/v1/users/search", Some(&a.token)).assert_error(400);
    app.get("/v1/users/search?query=x", None).assert_error(401);

    for path in ["/v1/users", "/v1/user"] {
        let r = app.get(&format!("{path}/{b_id}"), Some(&a.token));
        assert_eq!(r.body["user"]["id"], b_id.as_str());
        assert_eq!(r.body["user"]["bio"], json!(null));
        let missing = app.get(&format!("{path}/no-such-user"), Some(&a.token));
        missing.assert_error(404);
        assert_eq!(missing.body["error"], "User not found");
    }
}

#[test]
fn request_accept_and_remove_update_both_sides_and_the_feed() {
    let app = app();
    let (a, a_id, a_name) = named("fa");
    let (b, b_id, _) = named("fb");

    // a requests: a sees requested, b sees pending.
    let r = add(&a.token, &b_id);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["id"], b_id.as_str());
    assert_eq!(r.body["user"]["status"], "requested");
    assert_eq!(status_of(&b.token, &a_id), "pending");
    // Adding again changes nothing.
    assert_eq!(add(&a.token, &b_id).body["user"]["status"], "requested");

    // b's feed has the request, in the seed cursor form, and in the stock form with the header.
    let feed = app.get("/v1/feed", Some(&b.token)).body;
    assert_eq!(feed["hasMore"], false);
    let item = &feed["items"][0];
    assert_eq!(item["body"], json!({"kind": "friend_request", "uid": a_id}));
    assert_eq!(item["repeatKey"], format!("friend_request_{a_id}"));
    assert_eq!(item["cursor"], "cursor_1");
    assert!(item["id"].is_string() && item["createdAt"].is_i64());
    let stock = app.request("GET", "/v1/feed", Some(&b.token), None, STOCK).body;
    assert_eq!(stock["items"][0]["cursor"], "0-1");

    // b's friends list shows the open request; a's too.
    let friends = app.get("/v1/friends", Some(&b.token)).body;
    assert_eq!(friends["friends"][0]["id"], a_id.as_str());
    assert_eq!(friends["friends"][0]["status"], "pending");
    assert_eq!(friends["friends"][0]["username"], a_name.as_str());

    // b accepts: both friends; a is told. b, notified about a minutes ago, is not told again
    // (one notification per pair and day, as upstream).
    let r = add(&b.token, &a_id);
    assert_eq!(r.body["user"]["status"], "friend");
    assert_eq!(status_of(&a.token, &b_id), "friend");
    let a_feed = app.get("/v1/feed", Some(&a.token)).body;
    assert_eq!(a_feed["items"][0]["body"], json!({"kind": "friend_accepted", "uid": b_id}));
    assert_eq!(a_feed["items"][0]["cursor"], "cursor_1");
    let b_feed = app.get("/v1/feed", Some(&b.token)).body;
    assert_eq!(b_feed["items"].as_array().unwrap().len(), 1);
    assert_eq!(b_feed["items"][0]["body"]["kind"], "friend_request");

    // a unfriends: a keeps a pending request from b's side.
    let r = remove(&a.token, &b_id);
    assert_eq!(r.body["user"]["status"], "pending");
    assert_eq!(status_of(&a.token, &b_id), "pending");
    assert_eq!(status_of(&b.token, &a_id), "requested");
    // a declines: both none, and gone from both lists.
    let r = remove(&a.token, &b_id);
    assert_eq!(r.body["user"]["status"], "none");
    assert_eq!(status_of(&b.token, &a_id), "none");
    assert_eq!(app.get("/v1/friends", Some(&a.token)).body, json!({"friends": []}));
    assert_eq!(app.get("/v1/friends", Some(&b.token)).body, json!({"friends": []}));
}

#[test]
fn cancelled_requests_and_bad_targets() {
    let app = app();
    let (a, a_id, _) = named("ca");
    let (b, b_id, _) = named("cb");
    add(&a.token, &b_id);
    // a cancels: a rejected (hidden), b back to none.
    assert_eq!(remove(&a.token, &b_id).body["user"]["status"], "rejected");
    assert_eq!(status_of(&b.token, &a_id), "none");
    assert_eq!(app.get("/v1/friends", Some(&a.token)).body, json!({"friends": []}));

    // Unknown users and oneself give `user: null`.
    assert_eq!(add(&a.token, "no-such-user").body, json!({"user": null}));
    assert_eq!(add(&a.token, &a_id).body, json!({"user": null}));
    app.post("/v1/friends/add", Some(&a.token), json!({})).assert_error(400);
    app.post("/v1/friends/add", Some(&a.token), json!({"uid": ""})).assert_error(400);
    app.post("/v1/friends/add", None, json!({"uid": b_id})).assert_error(401);
    app.get("/v1/friends", None).assert_error(401);
}

#[test]
fn concurrent_mutual_adds_end_as_friends() {
    let (a, a_id, _) = named("ra");
    let (b, b_id, _) = named("rb");
    let statuses: Vec<u16> = concurrently(6, |i| {
        let (token, uid) = if i % 2 == 0 { (&a.token, &b_id) } else { (&b.token, &a_id) };
        add(token, uid).status
    });
    assert!(statuses.iter().all(|&s| s == 200 || s == 409), "{statuses:?}");
    assert_eq!(status_of(&a.token, &b_id), "friend");
    assert_eq!(status_of(&b.token, &a_id), "friend");
}

#[test]
fn feed_pages_with_either_cursor_form() {
    let app = app();
    let (a, _, _) = named("pg");
    // Five distinct requesters give five posts to a.
    let a_id = user_id_of(&a.token);
    for i in 0..5 {
        let (x, _, _) = named(&format!("p{i}"));
        assert_eq!(add(&x.token, &a_id).status, 200);
    }
    let r = app.get("/v1/feed?limit=2", Some(&a.token)).body;
    let cursors: Vec<&str> = r["items"].as_array().unwrap().iter().map(|i| i["cursor"].as_str().unwrap()).collect();
    assert_eq!(cursors, ["cursor_5", "cursor_4"]);
    assert_eq!(r["hasMore"], true);
    for before in ["cursor_4", "0-4"] {
        let page = app.get(&format!("/v1/feed?limit=2&before={before}"), Some(&a.token)).body;
        let c: Vec<&str> = page["items"].as_array().unwrap().iter().map(|i| i["cursor"].as_str().unwrap()).collect();
        assert_eq!(c, ["cursor_3", "cursor_2"]);
        assert_eq!(page["hasMore"], true);
    }
    let last = app.request("GET", "/v1/feed?before=0-2", Some(&a.token), None, STOCK).body;
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert_eq!(last["items"][0]["cursor"], "0-1");
    assert_eq!(last["hasMore"], false);
    let newer = app.get("/v1/feed?after=cursor_3", Some(&a.token)).body;
    assert_eq!(newer["items"].as_array().unwrap().len(), 2);

    app.get("/v1/feed?before=42", Some(&a.token)).assert_error(400);
    app.get("/v1/feed?limit=201", Some(&a.token)).assert_error(400);
    app.get("/v1/feed?limit=0", Some(&a.token)).assert_error(400);
    app.get("/v1/feed", None).assert_error(401);
    // Rule 3: an account without posts answers 200.
    let fresh = app.new_account();
    assert_eq!(app.get("/v1/feed", Some(&fresh.token)).body, json!({"items": [], "hasMore": false}));
}
