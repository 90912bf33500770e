//! POST /v1/version against configured minimums, and the debug log sink when it is enabled.

mod common;

use common::*;
use serde_json::json;

fn server() -> &'static TestApp {
    app_with(&[
        ("MIN_VERSION_IOS", "1.4.0"),
        ("UPDATE_URL_IOS", "https://apps.apple.com/app/id1"),
        ("MIN_VERSION_ANDROID", "2.0.0"),
        ("UPDATE_URL_ANDROID", "https://play.google.com/x"),
        ("DANGEROUSLY_LOG_TO_SERVER_FOR_AI_AUTO_DEBUGGING", "1"),
    ])
}

fn check(platform: &str, version: &str) -> serde_json::Value {
    let r = server().post(
        "/v1/version",
        None,
        json!({"platform": platform, "version": version, "app_id": "com.ex3ndr.happy"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

#[test]
fn version_check_compares_against_the_platform_minimum() {
    assert_eq!(check("ios", "1.3.9"), json!({"updateUrl": "https://apps.apple.com/app/id1"}));
    assert_eq!(check("ios", "1.4.0-beta.1"), json!({"updateUrl": "https://apps.apple.com/app/id1"}));
    assert_eq!(check("ios", "1.4.0"), json!({"updateUrl": null}));
    assert_eq!(check("ios", "1.10.0"), json!({"updateUrl": null}));
    assert_eq!(check("android", "1.9.9"), json!({"updateUrl": "https://play.google.com/x"}));
    assert_eq!(check("web", "0.0.1"), json!({"updateUrl": null}));
    let app = server();
    app.post("/v1/version", None, json!({"platform": "ios", "version": "latest"})).assert_error(400);
    app.post("/v1/version", None, json!({"platform": "ios"})).assert_error(400);
    app.post("/v1/version", None, json!({"platform": "", "version": "1.0.0"})).assert_error(400);
}

#[test]
fn debug_log_sink_accepts_lines_when_enabled() {
    let app = server();
    let r = app.post(
        "/logs-combined-from-cli-and-mobile-for-simple-ai-debugging",
        None,
        json!({"timestamp": "2024-01-15T10:30:00.000Z", "level": "info", "message": "User action completed",
               "source": "mobile", "platform": "ios"}),
    );
    assert_eq!(r.body, json!({"success": true}));
    app.post("/logs-combined-from-cli-and-mobile-for-simple-ai-debugging", None, json!({"level": "info"}))
        .assert_error(400);
}

/// One server per test binary: asking for it again with other vars fails loudly instead of
/// handing back the server started with the first ones.
#[test]
#[should_panic(expected = "one binary has one server")]
fn asking_for_the_server_again_with_other_vars_panics() {
    server();
    app_with(&[("MIN_VERSION_IOS", "9.9.9")]);
}
