//! `ENVIRONMENT=production` without `HAPPY_TOKEN_SEED`: instead of deriving the token key per
//! isolate (210k PBKDF2 rounds, far over the Free plan's 10 ms of CPU), every route that signs
//! or verifies a token answers a clear 503; routes without tokens still serve.

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::json;

#[test]
fn authenticated_routes_answer_503_naming_the_missing_seed() {
    let app = app_with(&[("ENVIRONMENT", "production")]);
    assert_eq!(app.get("/health", None).status, 200);
    let r = app.get("/v1/sessions", Some("any.token.here"));
    r.assert_error(503);
    assert!(r.text.contains("HAPPY_TOKEN_SEED"), "{}", r.text);
    // Signing in needs the key too.
    let key = SigningKey::from_bytes(&random_bytes::<32>());
    let challenge = random_bytes::<32>();
    let body = json!({
        "publicKey": B64.encode(key.verifying_key().to_bytes()),
        "challenge": B64.encode(challenge),
        "signature": B64.encode(key.sign(&challenge).to_bytes()),
    });
    app.post("/v1/auth", None, body).assert_error(503);
}
