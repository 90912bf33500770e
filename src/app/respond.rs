//! Building JSON responses.

use serde::Serialize;
use worker::Response;

use crate::error::{ApiError, ApiResult};

pub fn json<T: Serialize>(body: &T) -> ApiResult<Response> {
    json_status(200, body)
}

pub fn json_status<T: Serialize>(status: u16, body: &T) -> ApiResult<Response> {
    json_text(status, serde_json::to_string(body)?)
}

/// A response whose JSON text is already built (e.g. by SQLite's `json_object`, which skips
/// decoding rows into Rust values on hot list routes).
pub fn json_text(status: u16, text: String) -> ApiResult<Response> {
    let resp = Response::ok(text)?.with_status(status);
    resp.headers().set("content-type", "application/json; charset=utf-8")?;
    Ok(resp)
}

/// The response for an error; never fails (falls back to a bare 500).
pub fn error_response(e: &ApiError) -> Response {
    let mut resp = match json_status(e.status, &e.body()) {
        Ok(r) => r,
        Err(_) => Response::empty().map(|r| r.with_status(500)).expect("empty response"),
    };
    if let Some(secs) = e.retry_after {
        let _ = resp.headers_mut().set("retry-after", &secs.to_string());
    }
    resp
}
