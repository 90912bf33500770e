//! The one error type of the API. Every failure a handler returns becomes a JSON body
//! `{"error": "..."}` (plus optional extra fields) with the status the variant names.

use serde_json::{Map, Value};

use crate::wire::ErrorBody;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    /// Extra top-level fields merged into the body (e.g. current versions on a conflict).
    pub extra: Option<Map<String, Value>>,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), extra: None, retry_after: None }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, message)
    }
    pub fn too_many(retry_after: u64) -> Self {
        ApiError { retry_after: Some(retry_after), ..Self::new(429, "Too many requests") }
    }
    /// 503 with `Retry-After`: a dependency failed in a way a retry may fix.
    pub fn unavailable(message: impl Into<String>, retry_after: u64) -> Self {
        ApiError { retry_after: Some(retry_after), ..Self::new(503, message) }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.get_or_insert_with(Map::new).insert(key.to_string(), value.into());
        self
    }

    /// The JSON body sent to the client.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody { error: &self.message, extra: self.extra.as_ref() }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::internal(format!("serialization failed: {e}"))
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        // Binding failures (D1, R2, DO) are our fault, never the client's: log and hide details.
        worker::console_error!("internal error: {e}");
        ApiError::internal("Internal error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_merges_extra_fields_after_error() {
        let e = ApiError::conflict("version-mismatch").with("version", 3);
        assert_eq!(serde_json::to_string(&e.body()).unwrap(), r#"{"error":"version-mismatch","version":3}"#);
        let plain = ApiError::not_found("Session not found");
        assert_eq!(serde_json::to_string(&plain.body()).unwrap(), r#"{"error":"Session not found"}"#);
    }
}
