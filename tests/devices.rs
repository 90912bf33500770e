//! Device enrollment as clients see it: plans, provisioning tokens, device registration and
//! management, device API keys, and one-time connect tokens against a stand-in gateway.

mod common;
#[path = "support/gateway.rs"]
mod gateway;

use std::sync::{Barrier, OnceLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use gateway::StandInGateway;
use happy_server::domain::time::parse_iso8601;
use serde_json::{json, Value};

const GATEWAY_PUBLIC_KEY: &str = "R2F0ZXdheVB1YmxpY0tleUdhdGV3YXlQdWJsaWNLZXk=";
const GATEWAY_ENDPOINT: &str = "vpn.example.test:51820";
/// The 'basic' plan's device limit (migration 0005).
const BASIC_DEVICES: usize = 3;

static GATEWAY: OnceLock<StandInGateway> = OnceLock::new();

/// The server of this binary, pointed at the stand-in gateway. Every test starts here.
fn setup() -> (&'static TestApp, &'static StandInGateway) {
    let gw = GATEWAY.get_or_init(StandInGateway::start);
    let app = app_with(&[
        ("GATEWAY_URL", &gw.url),
        ("GATEWAY_PUBLIC_KEY", GATEWAY_PUBLIC_KEY),
        ("GATEWAY_ENDPOINT", GATEWAY_ENDPOINT),
    ]);
    (app, gw)
}

fn wg_key() -> String {
    B64.encode(random_bytes::<32>())
}

/// A fresh enrollment: (nodeId, provisioning token).
fn enroll(app: &TestApp, owner: &str, body: Value) -> (String, String) {
    let r = app.post("/v1/provisioning/token", Some(owner), body);
    assert_eq!(r.status, 200, "{}", r.text);
    (r.body["nodeId"].as_str().unwrap().to_string(), r.body["token"].as_str().unwrap().to_string())
}

fn register(app: &TestApp, node: &str, token: &str) -> Resp {
    app.post("/v1/devices/register", None, json!({"nodeId": node, "provisioningToken": token}))
}

/// A registered device of `owner`: (device, API key).
fn new_device(app: &TestApp, owner: &str) -> (Value, String) {
    let (node, token) = enroll(app, owner, json!({}));
    let r = register(app, &node, &token);
    assert_eq!(r.status, 200, "{}", r.text);
    (r.body["device"].clone(), r.body["apiKey"].as_str().unwrap().to_string())
}

fn connect_token(app: &TestApp, owner: &str, body: Value) -> String {
    let r = app.post("/v1/connect-tokens", Some(owner), body);
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["token"].as_str().unwrap().to_string()
}

fn status_of(app: &TestApp, token: &str) -> String {
    let r = app.get(&format!("/v1/connect/{token}/status"), None);
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["status"].as_str().unwrap().to_string()
}

fn device_count(app: &TestApp, owner: &str) -> usize {
    app.get("/v1/devices", Some(owner)).body["devices"].as_array().unwrap().len()
}

#[test]
fn plans_basic_and_pro_are_listed_with_their_limits() {
    let (app, _) = setup();
    let r = app.get("/v1/plans", None);
    assert_eq!(r.status, 200, "{}", r.text);
    let plans = r.body["plans"].as_array().unwrap();
    let ids: Vec<&str> = plans.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["basic", "pro"]);
    assert_eq!(
        plans[0]["limits"],
        json!({"devicesPerAccount": BASIC_DEVICES, "wsConnectionsPerUser": 20, "uploadBytesPerAccount": 1073741824u64})
    );
    for key in ["devicesPerAccount", "wsConnectionsPerUser", "uploadBytesPerAccount"] {
        assert!(plans[1]["limits"][key].as_i64().unwrap() > plans[0]["limits"][key].as_i64().unwrap(), "{key}");
    }
    assert_eq!(plans[1]["name"], "Pro");
}

#[test]
fn provisioning_tokens_are_issued_to_accounts_only_with_bounded_input() {
    let (app, _) = setup();
    let owner = app.new_account();
    app.post("/v1/provisioning/token", None, json!({})).assert_error(401);

    let before = now_ms();
    let r = app.post("/v1/provisioning/token", Some(&owner.token), json!({"name": "Kitchen", "room": "kitchen"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["token", "nodeId", "expiresAt", "expiresIn"]);
    assert!(r.body["token"].as_str().unwrap().starts_with("prov_"));
    let node = r.body["nodeId"].as_str().unwrap();
    assert!(uuid_v4_shaped(node), "{node}");
    assert_eq!(r.body["expiresIn"], 600);
    let expires = parse_iso8601(r.body["expiresAt"].as_str().unwrap()).unwrap();
    assert!((before + 599_000..=now_ms() + 601_000).contains(&expires), "{expires}");

    // An empty body is allowed; each enrollment gets its own node id.
    let r2 = app.request_raw("POST", "/v1/provisioning/token", Some(&owner.token), "application/json", b"");
    assert_eq!(r2.status, 200, "{}", r2.text);
    assert_ne!(r2.body["nodeId"], r.body["nodeId"]);

    for bad in [
        json!({"ttl": 1}),
        json!({"ttl": 3601}),
        json!({"ttl": "60"}),
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({"room": "a\u{7}b"}),
        json!({"nodeId": 5}),
        json!({"unknown": true}),
    ] {
        app.post("/v1/provisioning/token", Some(&owner.token), bad.clone()).assert_error(400);
    }
    app.request_raw("POST", "/v1/provisioning/token", Some(&owner.token), "application/json", b"{x").assert_error(400);
    let r = app.post("/v1/provisioning/token", Some(&owner.token), json!({"ttl": 30}));
    assert_eq!(r.body["expiresIn"], 30);
}

fn uuid_v4_shaped(s: &str) -> bool {
    s.len() == 36 && &s[14..15] == "4" && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

#[test]
fn refreshing_keeps_the_node_id_and_kills_the_old_token() {
    let (app, _) = setup();
    let owner = app.new_account();
    let (node, old) = enroll(app, &owner.token, json!({"name": "Hall"}));

    let r = app.post("/v1/provisioning/token", Some(&owner.token), json!({"nodeId": node}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["nodeId"], node.as_str());
    let new = r.body["token"].as_str().unwrap().to_string();
    assert_ne!(new, old);

    // The old token is dead; a failed attempt leaves the new one usable.
    let r = register(app, &node, &old);
    r.assert_error(401);
    // Another account cannot refresh (or learn about) this node; unknown nodes are 404 too.
    let other = app.new_account();
    app.post("/v1/provisioning/token", Some(&other.token), json!({"nodeId": node})).assert_error(404);
    let unknown = "5f0c6d1e-3a1b-4c2d-9e8f-0a1b2c3d4e5f";
    app.post("/v1/provisioning/token", Some(&owner.token), json!({"nodeId": unknown})).assert_error(404);
    // The other account's failed refresh did not touch it either.
    let r = register(app, &node, &new);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["device"]["uuid"], node.as_str());
    assert_eq!(r.body["device"]["deviceName"], "Hall");

    // Once registered, the node is no longer a pending enrollment.
    app.post("/v1/provisioning/token", Some(&owner.token), json!({"nodeId": node})).assert_error(409);
}

#[test]
fn registration_creates_the_device_once_and_failed_attempts_keep_the_token() {
    let (app, _) = setup();
    let owner = app.new_account();
    let (node, token) = enroll(app, &owner.token, json!({"name": "Pi", "room": "garage"}));

    // Failures that must not spend the token.
    register(app, &node, "prov_wrong").assert_error(401);
    register(app, "5f0c6d1e-3a1b-4c2d-9e8f-0a1b2c3d4e5f", &token).assert_error(401);
    register(app, "", &token).assert_error(401);
    app.post("/v1/devices/register", None, json!({"nodeId": node})).assert_error(400);
    app.post(
        "/v1/devices/register",
        None,
        json!({"nodeId": node, "provisioningToken": token, "deviceName": "x".repeat(101)}),
    )
    .assert_error(400);

    let r = app.post(
        "/v1/devices/register",
        None,
        json!({"nodeId": node, "provisioningToken": token, "deviceName": "rpi-garage", "deviceType": "raspberrypi4-64"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.body["device"];
    assert_eq!(d["uuid"], node.as_str());
    let device_id = d["deviceId"].as_str().unwrap();
    assert!(device_id.starts_with("dev_") && device_id.len() == 24, "{device_id}");
    assert_eq!(d["deviceName"], "rpi-garage");
    assert_eq!(d["deviceType"], "raspberrypi4-64");
    assert_eq!(d["room"], "garage");
    assert_eq!(d["provisioned"], true);
    assert_eq!(d["peerActive"], false);
    assert_eq!(d["allowedIp"], Value::Null);
    assert!(d["registeredAt"].as_i64().unwrap() > 0);
    let api_key = r.body["apiKey"].as_str().unwrap();
    assert!(api_key.starts_with("dk_"));
    // The key is shown once: no device read returns it.
    assert!(!app.get(&format!("/v1/devices/{node}"), Some(&owner.token)).text.contains(api_key));

    // Single use.
    register(app, &node, &token).assert_error(401);
    assert_eq!(device_count(app, &owner.token), 1);
}

#[test]
fn concurrent_registrations_with_one_token_have_exactly_one_winner() {
    let (app, _) = setup();
    let owner = app.new_account();
    let (node, token) = enroll(app, &owner.token, json!({}));
    let n = 12;
    let barrier = Barrier::new(n);
    let results: Vec<(u16, Option<String>)> = concurrently(n, |_| {
        barrier.wait();
        let r = register(app, &node, &token);
        (r.status, r.body["apiKey"].as_str().map(str::to_string))
    });
    let winners: Vec<&String> = results.iter().filter(|(s, _)| *s == 200).filter_map(|(_, k)| k.as_ref()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results.iter().all(|(s, _)| *s == 200 || *s == 401), "{results:?}");
    assert_eq!(device_count(app, &owner.token), 1);
    // The winner's key is the one that works.
    assert_eq!(app.get("/v1/device", Some(winners[0])).body["uuid"], node.as_str());
}

#[test]
fn expired_tokens_are_refused_and_a_refresh_revives_the_enrollment() {
    let (app, _) = setup();
    let owner = app.new_account();
    let (node, token) = enroll(app, &owner.token, json!({"ttl": 2}));
    std::thread::sleep(std::time::Duration::from_millis(2300));
    let r = register(app, &node, &token);
    r.assert_error(401);
    assert_eq!(r.body["error"], "Provisioning token expired");

    let r = app.post("/v1/provisioning/token", Some(&owner.token), json!({"nodeId": node}));
    assert_eq!(r.status, 200, "{}", r.text);
    let fresh = r.body["token"].as_str().unwrap();
    register(app, &node, &token).assert_error(401);
    assert_eq!(register(app, &node, fresh).status, 200);
}

#[test]
fn the_device_limit_is_enforced_with_a_named_403_and_keeps_the_token() {
    let (app, _) = setup();
    let owner = app.new_account();
    for _ in 0..BASIC_DEVICES {
        new_device(app, &owner.token);
    }
    let (node, token) = enroll(app, &owner.token, json!({}));
    let r = register(app, &node, &token);
    r.assert_error(403);
    assert_eq!(r.body, json!({"error": "Device limit reached", "limit": "devicesPerAccount", "max": BASIC_DEVICES}));

    // Connect-token provisioning counts against the same limit.
    let ct = connect_token(app, &owner.token, json!({}));
    let r = app.post(&format!("/v1/connect/{ct}/provision"), None, json!({"publicKey": wg_key()}));
    r.assert_error(403);
    assert_eq!(r.body["limit"], "devicesPerAccount");
    assert_eq!(status_of(app, &ct), "pending");

    // The refused token is still good once a slot frees up.
    let first = app.get("/v1/devices", Some(&owner.token)).body["devices"][0]["uuid"].as_str().unwrap().to_string();
    assert_eq!(app.delete(&format!("/v1/devices/{first}"), Some(&owner.token)).status, 200);
    assert_eq!(register(app, &node, &token).status, 200);
    assert_eq!(device_count(app, &owner.token), BASIC_DEVICES);
}

#[test]
fn concurrent_registrations_never_exceed_the_device_limit() {
    let (app, _) = setup();
    let owner = app.new_account();
    let enrollments: Vec<(String, String)> = (0..8).map(|_| enroll(app, &owner.token, json!({}))).collect();
    let barrier = Barrier::new(enrollments.len());
    let statuses: Vec<u16> = concurrently(enrollments.len(), |i| {
        let (node, token) = &enrollments[i];
        barrier.wait();
        register(app, node, token).status
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), BASIC_DEVICES, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 8 - BASIC_DEVICES, "{statuses:?}");
    assert_eq!(device_count(app, &owner.token), BASIC_DEVICES);
}

#[test]
fn a_pro_account_gets_the_pro_device_limit() {
    let (app, _) = setup();
    let owner = app.new_account();
    let id = user_id_of(&owner.token);
    let out = std::process::Command::new(app_dir().join("node_modules/.bin/wrangler"))
        .args(["d1", "execute", "DB", "--local", "--persist-to"])
        .arg(&app.state_dir)
        .args(["--command", &format!("UPDATE accounts SET plan = 'pro' WHERE id = '{id}'")])
        .env("CI", "1")
        .env("WRANGLER_SEND_METRICS", "false")
        .current_dir(app_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for _ in 0..=BASIC_DEVICES {
        new_device(app, &owner.token);
    }
    assert_eq!(device_count(app, &owner.token), BASIC_DEVICES + 1);
}

fn app_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn owners_manage_devices_by_uuid_or_device_id_and_others_see_404() {
    let (app, _) = setup();
    let owner = app.new_account();
    let other = app.new_account();
    let t = Some(owner.token.as_str());
    let (device, _) = new_device(app, &owner.token);
    let uuid = device["uuid"].as_str().unwrap().to_string();
    let device_id = device["deviceId"].as_str().unwrap().to_string();

    for reference in [&uuid, &device_id] {
        let r = app.get(&format!("/v1/devices/{reference}"), t);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body, device);
        let r = app.get(&format!("/v1/devices/{reference}/provisioned"), t);
        assert_eq!(r.body, json!({"provisioned": true}));
    }
    let list = app.get("/v1/devices", t);
    assert_eq!(list.body["devices"], json!([device]));
    app.get("/v1/devices", None).assert_error(401);

    // Rename and set the endpoint; null clears; absent leaves alone.
    let r = app.patch(
        &format!("/v1/devices/{device_id}"),
        t,
        json!({"deviceName": "den", "apiEndpoint": "https://api.example.com"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["deviceName"].as_str(), r.body["apiEndpoint"].as_str()),
        (Some("den"), Some("https://api.example.com"))
    );
    let r = app.patch(&format!("/v1/devices/{uuid}"), t, json!({"apiEndpoint": null}));
    assert_eq!((r.body["deviceName"].as_str(), r.body["apiEndpoint"].as_str()), (Some("den"), None));
    for bad in
        [json!({"apiEndpoint": "ftp://x"}), json!({"deviceName": ""}), json!({"deviceName": 3}), json!({"other": 1})]
    {
        app.patch(&format!("/v1/devices/{uuid}"), t, bad).assert_error(400);
    }

    // Another account: every route is 404, and nothing changed.
    let o = Some(other.token.as_str());
    for reference in [&uuid, &device_id] {
        app.get(&format!("/v1/devices/{reference}"), o).assert_error(404);
        app.get(&format!("/v1/devices/{reference}/provisioned"), o).assert_error(404);
        app.patch(&format!("/v1/devices/{reference}"), o, json!({"deviceName": "mine"})).assert_error(404);
        app.post(&format!("/v1/devices/{reference}/reset"), o, json!({})).assert_error(404);
        app.delete(&format!("/v1/devices/{reference}"), o).assert_error(404);
    }
    assert_eq!(app.get("/v1/devices", o).body["devices"], json!([]));
    assert_eq!(app.get(&format!("/v1/devices/{uuid}"), t).body["deviceName"], "den");

    // Reset unprovisions but keeps the uuid; delete removes it.
    let r = app.post(&format!("/v1/devices/{device_id}/reset"), t, json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["uuid"], uuid.as_str());
    assert_eq!((r.body["deviceId"].clone(), r.body["provisioned"].clone()), (Value::Null, json!(false)));
    assert_eq!(app.get(&format!("/v1/devices/{uuid}/provisioned"), t).body, json!({"provisioned": false}));
    app.get(&format!("/v1/devices/{device_id}"), t).assert_error(404);
    assert_eq!(app.delete(&format!("/v1/devices/{uuid}"), t).body, json!({"success": true}));
    app.get(&format!("/v1/devices/{uuid}"), t).assert_error(404);
    app.delete(&format!("/v1/devices/{uuid}"), t).assert_error(404);
}

#[test]
fn devices_authenticate_with_their_api_key_until_reset_and_re_enroll_with_the_same_uuid() {
    let (app, _) = setup();
    let owner = app.new_account();
    let (device, key) = new_device(app, &owner.token);
    let uuid = device["uuid"].as_str().unwrap();

    let r = app.get("/v1/device", Some(&key));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, device);
    let r = app.post("/v1/device/heartbeat", Some(&key), json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    let seen = r.body["lastSeenAt"].as_i64().unwrap();
    assert!((now_ms() - seen).abs() < 60_000);
    assert_eq!(app.get("/v1/device", Some(&key)).body["lastSeenAt"], seen);

    // Missing, wrong, and account tokens are not device keys.
    for bad in [None, Some("dk_nope"), Some(owner.token.as_str())] {
        app.get("/v1/device", bad).assert_error(401);
        app.post("/v1/device/heartbeat", bad, json!({})).assert_error(401);
    }
    // Device keys are not account tokens.
    app.get("/v1/devices", Some(&key)).assert_error(401);

    assert_eq!(app.post(&format!("/v1/devices/{uuid}/reset"), Some(&owner.token), json!({})).status, 200);
    app.get("/v1/device", Some(&key)).assert_error(401);

    // Re-enrollment: a token for the reset device's uuid, then a new deviceId and key.
    let r = app.post("/v1/provisioning/token", Some(&owner.token), json!({"nodeId": uuid}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["nodeId"], uuid);
    let r = register(app, uuid, r.body["token"].as_str().unwrap());
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["device"]["uuid"], uuid);
    assert_ne!(r.body["device"]["deviceId"], device["deviceId"]);
    let new_key = r.body["apiKey"].as_str().unwrap();
    assert_eq!(app.get("/v1/device", Some(new_key)).body["uuid"], uuid);
    app.get("/v1/device", Some(&key)).assert_error(401);
    assert_eq!(device_count(app, &owner.token), 1);
}

#[test]
fn connect_tokens_provision_once_with_a_peer_config() {
    let (app, gw) = setup();
    let owner = app.new_account();
    app.post("/v1/connect-tokens", None, json!({})).assert_error(401);
    for bad in [json!({"ttl": 0}), json!({"ttl": 100000}), json!({"deviceName": ""}), json!({"x": 1})] {
        app.post("/v1/connect-tokens", Some(&owner.token), bad).assert_error(400);
    }
    let r = app.post("/v1/connect-tokens", Some(&owner.token), json!({"deviceName": "iPhone"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ct_"));
    assert!(parse_iso8601(r.body["expiresAt"].as_str().unwrap()).unwrap() > now_ms() + 590_000);
    assert_eq!(status_of(app, &token), "pending");

    // Bad input leaves the token pending.
    let path = format!("/v1/connect/{token}/provision");
    app.post(&path, None, json!({"publicKey": "not base64"})).assert_error(400);
    app.post(&path, None, json!({"publicKey": B64.encode([1u8; 31])})).assert_error(400);
    app.post(&path, None, json!({})).assert_error(400);
    assert_eq!(status_of(app, &token), "pending");

    let key = wg_key();
    let r = app.post(&path, None, json!({"publicKey": key}));
    assert_eq!(r.status, 200, "{}", r.text);
    let device = &r.body["device"];
    let uuid = device["uuid"].as_str().unwrap();
    assert_eq!(device["deviceName"], "iPhone");
    assert_eq!(device["publicKey"], key.as_str());
    assert_eq!((device["peerActive"].clone(), device["provisioned"].clone()), (json!(true), json!(true)));
    let ip = r.body["peer"]["allowedIp"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.") && ip.ends_with("/32"), "{ip}");
    assert_eq!(device["allowedIp"], ip.as_str());
    assert_eq!(
        r.body["peer"],
        json!({"allowedIp": ip, "gatewayPublicKey": GATEWAY_PUBLIC_KEY, "endpoint": GATEWAY_ENDPOINT})
    );
    assert_eq!(gw.peer(uuid), Some((key.clone(), ip.clone())));
    let api_key = r.body["apiKey"].as_str().unwrap();
    assert_eq!(app.get("/v1/device", Some(api_key)).body["uuid"], uuid);
    assert_eq!(status_of(app, &token), "provisioned");

    // Single use; a provisioned token cannot be revoked.
    let r = app.post(&path, None, json!({"publicKey": wg_key()}));
    r.assert_error(409);
    assert_eq!(r.body["status"], "provisioned");
    app.post(&format!("/v1/connect/{token}/revoke"), Some(&owner.token), json!({})).assert_error(409);

    // A second device of the account gets the next address of the same /24.
    let t2 = connect_token(app, &owner.token, json!({}));
    let r =
        app.post(&format!("/v1/connect/{t2}/provision"), None, json!({"publicKey": wg_key(), "deviceName": "iPad"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let ip2 = r.body["peer"]["allowedIp"].as_str().unwrap();
    assert_ne!(ip2, ip);
    assert_eq!(ip2.rsplit_once('.').unwrap().0, ip.rsplit_once('.').unwrap().0);
    assert_eq!(r.body["device"]["deviceName"], "iPad");

    // Deleting the device removes its peer from the gateway.
    assert_eq!(app.delete(&format!("/v1/devices/{uuid}"), Some(&owner.token)).status, 200);
    assert_eq!(gw.peer(uuid), None);
}

#[test]
fn connect_tokens_are_revoked_by_their_owner_and_expire() {
    let (app, _) = setup();
    let owner = app.new_account();
    let other = app.new_account();
    let token = connect_token(app, &owner.token, json!({}));
    let revoke = format!("/v1/connect/{token}/revoke");
    app.post(&revoke, None, json!({})).assert_error(401);
    app.post(&revoke, Some(&other.token), json!({})).assert_error(404);
    assert_eq!(status_of(app, &token), "pending");
    let r = app.post(&revoke, Some(&owner.token), json!({}));
    assert_eq!(r.body, json!({"success": true, "status": "revoked"}));
    assert_eq!(app.post(&revoke, Some(&owner.token), json!({})).status, 200, "idempotent");
    assert_eq!(status_of(app, &token), "revoked");
    let r = app.post(&format!("/v1/connect/{token}/provision"), None, json!({"publicKey": wg_key()}));
    r.assert_error(410);
    assert_eq!(r.body["status"], "revoked");

    let short = connect_token(app, &owner.token, json!({"ttl": 2}));
    std::thread::sleep(std::time::Duration::from_millis(2300));
    assert_eq!(status_of(app, &short), "expired");
    let r = app.post(&format!("/v1/connect/{short}/provision"), None, json!({"publicKey": wg_key()}));
    r.assert_error(410);
    assert_eq!(r.body["status"], "expired");

    app.get("/v1/connect/ct_unknown/status", None).assert_error(404);
    app.post("/v1/connect/ct_unknown/provision", None, json!({"publicKey": wg_key()})).assert_error(404);
    app.post("/v1/connect/ct_unknown/revoke", Some(&owner.token), json!({})).assert_error(404);
    assert_eq!(device_count(app, &owner.token), 0);
}

#[test]
fn a_gateway_failure_leaves_no_peer_keeps_the_token_and_the_retry_gets_the_same_address() {
    let (app, gw) = setup();
    let owner = app.new_account();
    let token = connect_token(app, &owner.token, json!({"deviceName": "phone"}));
    let path = format!("/v1/connect/{token}/provision");
    let key = wg_key();
    gw.fail_for(&key, true);

    let mut addresses = Vec::new();
    for _ in 0..2 {
        let r = app.post(&path, None, json!({"publicKey": key}));
        r.assert_error(502);
        assert_eq!(r.body["status"], "pending");
        addresses.push(r.body["allowedIp"].as_str().unwrap().to_string());
        assert_eq!(status_of(app, &token), "pending");
        // The stand-in recorded the partial apply; the server took it back.
        assert_eq!(gw.peers_with_key(&key), 0);
        let devices = app.get("/v1/devices", Some(&owner.token)).body["devices"].clone();
        assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
        assert_eq!(devices[0]["peerActive"], false);
        assert_eq!(devices[0]["provisioned"], false);
        assert_eq!(devices[0]["allowedIp"], addresses[0].as_str());
    }
    assert_eq!(addresses[0], addresses[1]);

    gw.fail_for(&key, false);
    let r = app.post(&path, None, json!({"publicKey": key}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["peer"]["allowedIp"], addresses[0].as_str());
    let uuid = r.body["device"]["uuid"].as_str().unwrap();
    assert_eq!(gw.peer(uuid), Some((key.clone(), addresses[0].clone())));
    assert_eq!(status_of(app, &token), "provisioned");
    assert_eq!(device_count(app, &owner.token), 1);
}

#[test]
fn a_revoked_token_frees_the_device_a_failed_attempt_reserved() {
    let (app, gw) = setup();
    let owner = app.new_account();
    let token = connect_token(app, &owner.token, json!({}));
    let key = wg_key();
    gw.fail_for(&key, true);
    app.post(&format!("/v1/connect/{token}/provision"), None, json!({"publicKey": key})).assert_error(502);
    assert_eq!(device_count(app, &owner.token), 1);
    assert_eq!(app.post(&format!("/v1/connect/{token}/revoke"), Some(&owner.token), json!({})).status, 200);
    assert_eq!(device_count(app, &owner.token), 0);
}

#[test]
fn concurrent_provisions_with_one_connect_token_have_exactly_one_winner() {
    let (app, gw) = setup();
    let owner = app.new_account();
    let token = connect_token(app, &owner.token, json!({}));
    let n = 8;
    let barrier = Barrier::new(n);
    let results: Vec<_> = concurrently(n, |_| {
        let key = wg_key();
        barrier.wait();
        let r = app.post(&format!("/v1/connect/{token}/provision"), None, json!({"publicKey": key}));
        (r.status, key, r.body["device"]["uuid"].as_str().map(str::to_string))
    });
    let winners: Vec<_> = results.iter().filter(|(s, _, _)| *s == 200).collect();
    assert_eq!(winners.len(), 1, "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    assert!(results.iter().all(|(s, _, _)| *s == 200 || *s == 409));
    let (_, key, uuid) = winners[0];
    assert_eq!(gw.peer(uuid.as_ref().unwrap()).unwrap().0, *key);
    assert_eq!(device_count(app, &owner.token), 1);
    assert_eq!(status_of(app, &token), "provisioned");
}

#[test]
fn the_openapi_document_lists_the_enrollment_routes() {
    let (app, _) = setup();
    let doc = app.get("/openapi.json", None).body;
    for path in [
        "/v1/plans",
        "/v1/provisioning/token",
        "/v1/devices/register",
        "/v1/devices/{ref}",
        "/v1/device/heartbeat",
        "/v1/connect-tokens",
        "/v1/connect/{token}/status",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
}
