//! The auth routes' per-address rate limit, through Cloudflare's Rate Limiting binding
//! (wrangler.toml: 120 a minute; `wrangler dev` simulates the binding).

mod common;

use common::*;
use serde_json::json;

#[test]
fn auth_requests_beyond_the_limit_get_429_with_retry_after() {
    let app = app_with(&[("RATE_LIMITS_OFF", "ATTACHMENT_RATE_LIMITER")]);
    let body = json!({"publicKey": "AA=="});
    within_one_rate_window(30);
    let statuses: Vec<u16> = (0..120).map(|_| app.post("/v1/auth/request", None, body.clone()).status).collect();
    assert!(statuses.iter().all(|s| *s == 401), "the first 120 are served: {statuses:?}");
    let r = app.post("/v1/auth/request", None, body);
    r.assert_error(429);
    assert_eq!(r.header("retry-after"), Some("60"), "Retry-After is the binding's period");
    // Other routes are not limited.
    assert_eq!(app.get("/health", None).status, 200);
}
