//! schemathesis (PyPI) against /openapi.json of the running worker, every operation, with a
//! valid token: no 5xx, and every response conforms to its documented schema. `make test` runs a
//! bounded number of examples; `make fuzz` sets SCHEMATHESIS_EXAMPLES higher.

mod common;

use std::process::Command;

use common::*;

#[test]
fn every_operation_answers_without_5xx_and_matches_its_schema() {
    let app = app();
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
