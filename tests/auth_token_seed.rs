//! Production configuration: with HAPPY_TOKEN_SEED set, the worker signs and verifies with that
//! seed (no PBKDF2 at all), and its tokens are the ones the master secret's derivation gives.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use ed25519_dalek::{Signer, SigningKey};
use happy_server::auth::token::{derive_seed, Claims, TokenKey, TokenKind};
use happy_server::crypto::util::hex_lower;
use serde_json::Map;

/// This binary's server: seeded, and warming up with the most rounds a deployment may set
/// (src/app/warm.rs; every other test binary's server starts with the default).
fn seeded_app(seed: &[u8; 32]) -> &'static TestApp {
    app_with(&[("HAPPY_TOKEN_SEED", &hex_lower(seed)), ("HAPPY_WARM_UP_ROUNDS", "4000")])
}

#[test]
fn configured_seed_replaces_the_derivation() {
    let seed = derive_seed("seed-owner-secret", "handy", TokenKind::Persistent);
    // The master secret differs on purpose: only the configured seed can explain the tokens.
    let app = seeded_app(&seed);
    let account = app.new_account();
    let now = now_ms() as u64;
    let key = TokenKey::native("handy", &seed);
    assert!(key.verify_now(&account.token, now + 2000).is_some(), "signed with the configured seed");
    let minted = key.mint_now(&Claims {
        user: &user_id_of(&account.token),
        extras: &Map::new(),
        now_ms: now - 2000,
        ttl_ms: None,
        jti: "33333333-3333-4333-8333-333333333333",
    });
    assert_eq!(app.get("/v1/account/profile", Some(&minted)).status, 200);
}

/// A token another server minted with the same master secret, for an account this one does not
/// hold: 401, the status the clients sign in again on (not a 404 from the route), on reads and
/// writes alike.
#[test]
fn a_valid_token_for_an_account_not_held_here_is_401() {
    let seed = derive_seed("seed-owner-secret", "handy", TokenKind::Persistent);
    let app = seeded_app(&seed);
    let now = now_ms() as u64;
    let key = TokenKey::native("handy", &seed);
    let stranger = key.mint_now(&Claims {
        user: "cmnotheldhere0000000000000",
        extras: &Map::new(),
        now_ms: now - 2000,
        ttl_ms: None,
        jti: "44444444-4444-4444-8444-444444444444",
    });
    for path in ["/v1/account/profile", "/v1/sessions", "/v1/machines"] {
        let r = app.get(path, Some(&stranger));
        r.assert_error(401);
        assert_eq!(r.body["error"], "Account not found", "{path}");
    }
    app.post("/v1/sessions", Some(&stranger), serde_json::json!({"tag": "t", "metadata": "bQ=="})).assert_error(401);
}

/// privacy-kit writes one header, but jose accepts others: the worker reads any other header in
/// a function kept out of line (`cold_other_header_acceptable`), and judges it as jose does.
#[test]
fn tokens_under_other_headers_are_judged_as_jose_judges_them() {
    let seed = derive_seed("seed-owner-secret", "handy", TokenKind::Persistent);
    let app = seeded_app(&seed);
    let account = app.new_account();
    let claims = account.token.split('.').nth(1).expect("a compact JWS");
    let signed_under = |header: &str| {
        let input = format!("{}.{claims}", URL_SAFE_NO_PAD.encode(header));
        let signature = SigningKey::from_bytes(&seed).sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    };
    for (header, status) in [
        (r#"{"alg":"EdDSA","typ":"JWT"}"#, 200),
        (r#"{"typ":"JWT","alg":"Ed25519"}"#, 200),
        (r#"{"alg":"EdDSA","crit":["exp"]}"#, 401),
        (r#"{"alg":"EdDSA","b64":false}"#, 401),
        (r#"{"alg":"HS256"}"#, 401),
        (r#"["alg","EdDSA"]"#, 401),
    ] {
        assert_eq!(app.get("/v1/account/profile", Some(&signed_under(header))).status, status, "{header}");
    }
}

/// Every isolate answers requests of its own at its start (src/app/warm.rs), in the global
/// scope, where the runtime refuses I/O and a panic would leave the isolate broken: a start
/// that errs there shows in the runtime's log, and the first real token check still works.
#[test]
fn the_isolates_start_logs_no_error_and_its_first_token_check_works() {
    let seed = derive_seed("seed-owner-secret", "handy", TokenKind::Persistent);
    let app = seeded_app(&seed);
    let account = app.new_account();
    assert_eq!(app.get("/v1/sessions", Some(&account.token)).status, 200);
    let logs = std::fs::read_dir(&app.state_dir).unwrap().flatten().filter(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with("wrangler-") && name.ends_with(".log")
    });
    let log: String = logs.map(|e| std::fs::read_to_string(e.path()).unwrap()).collect();
    assert!(log.contains("Ready on"), "the runtime's log is read: {log}");
    for error in ["Disallowed operation", "Critical", "panicked", "Uncaught"] {
        assert!(!log.contains(error), "the log has {error:?}: {log}");
    }
}
