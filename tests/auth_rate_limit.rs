//! The auth routes' per-address rate limit, on a server configured with a low limit.

mod common;

use common::*;
use serde_json::json;

#[test]
fn auth_requests_beyond_the_limit_get_429_with_retry_after() {
    let app = app_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "3")]);
    let body = json!({"publicKey": "AA=="});
    within_one_rate_window(20);
    let statuses: Vec<u16> = (0..5).map(|_| app.post("/v1/auth/request", None, body.clone()).status).collect();
    assert_eq!(&statuses[..3], &[401, 401, 401], "{statuses:?}");
    let r = app.post("/v1/auth/request", None, body);
    r.assert_error(429);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Other routes are not limited.
    assert_eq!(app.get("/health", None).status, 200);
}
