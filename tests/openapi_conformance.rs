//! schemathesis (PyPI) against /openapi.json of the running worker, every operation, with a
//! valid token: no 5xx, and every response conforms to its documented schema. `make test` runs a
//! bounded number of examples; `make fuzz` sets SCHEMATHESIS_EXAMPLES higher.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

/// A healthy stand-in for every outside service (RevenueCat: no subscription; ElevenLabs: a
/// token; GitHub: a token and a profile), so 5xx can only come from our own code. Unconfigured
/// (503) and failing (502) upstreams have their own tests.
fn healthy_upstream(_: &StubRequest) -> StubReply {
    StubReply::json(
        200,
        json!({"subscriber": {"entitlements": {}}, "token": "xi-token", "access_token": "gh-token",
               "id": 1, "login": "octo", "name": null, "avatar_url": "https://example.invalid/a.png", "bio": null}),
    )
}

#[test]
fn every_operation_answers_without_5xx_and_matches_its_schema() {
    let upstream = stub_server(healthy_upstream);
    let app = app_with(&[
        ("ELEVENLABS_API_KEY", "xi-key"),
        ("ELEVENLABS_BASE_URL", &upstream),
        ("REVENUECAT_API_KEY", "rc-key"),
        ("REVENUECAT_BASE_URL", &upstream),
        ("GITHUB_CLIENT_ID", "client"),
        ("GITHUB_CLIENT_SECRET", "secret"),
        ("GITHUB_WEBHOOK_SECRET", "hook-secret"),
        ("GITHUB_OAUTH_BASE_URL", &upstream),
        ("GITHUB_API_BASE_URL", &upstream),
        ("EXPO_PUSH_BASE_URL", &upstream),
    ]);
    let account = app.new_account();
    let schemathesis = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/schemathesis");
    assert!(schemathesis.exists(), "schemathesis is installed by `make setup` into .venv");
    let examples = std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".into());
    let output = Command::new(schemathesis)
        .arg("run")
        .arg(format!("{}/openapi.json", app.base))
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-examples", &examples, "--seed", "1", "--workers", "2", "--no-color"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--suppress-health-check", "all", "--request-timeout", "30"])
        // Logging out would revoke the token every other operation runs with.
        .args(["--exclude-path", "/v1/auth/logout"])
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", account.token))
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
