//! Production configuration: with HAPPY_TOKEN_SEED set, the worker signs and verifies with that
//! seed (no PBKDF2 at all), and its tokens are the ones the master secret's derivation gives.

mod common;

use common::*;
use happy_server::auth::token::{derive_seed, Claims, TokenKey, TokenKind};
use happy_server::crypto::util::hex_lower;
use serde_json::Map;

#[test]
fn configured_seed_replaces_the_derivation() {
    let seed = derive_seed("seed-owner-secret", "handy", TokenKind::Persistent);
    // The master secret differs on purpose: only the configured seed can explain the tokens.
    let app = app_with(&[("HAPPY_TOKEN_SEED", &hex_lower(&seed))]);
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
    let app = app_with(&[("HAPPY_TOKEN_SEED", &hex_lower(&seed))]);
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
