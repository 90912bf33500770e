//! Bounds on client-supplied strings of the sessions/machines API, and the message content
//! forms we accept. Every check runs before anything is written, so a rejected request
//! writes nothing.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Ids (session, machine), tags and message localIds.
pub const MAX_ID: usize = 256;
/// Wrapped data encryption keys (a few dozen bytes of base64 in practice).
pub const MAX_KEY: usize = 4096;
/// Access key blobs.
pub const MAX_ACCESS_KEY: usize = 64 * 1024;
/// Messages per v3 POST.
pub const MAX_BATCH: usize = 100;

/// A required string of `1..=max` characters.
pub fn bounded(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.is_empty() {
        return Err(ApiError::bad_request(format!("{field} must not be empty")));
    }
    if value.len() > max {
        return Err(ApiError::bad_request(format!("{field} exceeds {max} characters")));
    }
    Ok(())
}

/// An optional string: absent and null are the same; present values are bounded.
pub fn bounded_opt(field: &str, value: Option<&str>, max: usize) -> ApiResult<()> {
    value.map_or(Ok(()), |v| bounded(field, v, max))
}

/// An opaque blob (metadata, states, ciphertexts): any length the body limit allows, but
/// not empty, so a client cannot store a value it could never decrypt.
pub fn opaque(field: &str, value: &str) -> ApiResult<()> {
    bounded(field, value, usize::MAX)
}

/// The ciphertext of a message: the v1 route takes the bare string or the stored form
/// `{t:'encrypted', c}`; any other shape would be dropped by the app
/// (docs/compatibility.md#sessions-and-messages).
pub fn message_ciphertext(content: &Value) -> ApiResult<String> {
    let c = match content {
        Value::String(s) => Some(s),
        Value::Object(o) if o.len() == 2 && o.get("t").and_then(Value::as_str) == Some("encrypted") => match o.get("c")
        {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        _ => None,
    };
    let c = c.ok_or_else(|| {
        ApiError::bad_request("content must be a ciphertext string or {\"t\":\"encrypted\",\"c\":string}")
    })?;
    opaque("content", c)?;
    Ok(c.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounds() {
        assert!(bounded("tag", "x", MAX_ID).is_ok());
        assert!(bounded("tag", &"x".repeat(MAX_ID), MAX_ID).is_ok());
        assert_eq!(bounded("tag", &"x".repeat(MAX_ID + 1), MAX_ID).unwrap_err().status, 400);
        assert_eq!(bounded("tag", "", MAX_ID).unwrap_err().message, "tag must not be empty");
        assert!(bounded_opt("k", None, 3).is_ok());
        assert!(bounded_opt("k", Some("abcd"), 3).is_err());
        assert!(opaque("metadata", "").is_err());
    }

    #[test]
    fn message_content_forms() {
        assert_eq!(message_ciphertext(&json!("abc")).unwrap(), "abc");
        assert_eq!(message_ciphertext(&json!({"t": "encrypted", "c": "abc"})).unwrap(), "abc");
        for bad in [
            json!({"encrypted": "abc"}),
            json!({"t": "plain", "c": "abc"}),
            json!({"t": "encrypted", "c": 5}),
            json!({"t": "encrypted", "c": "abc", "x": 1}),
            json!({"t": "encrypted"}),
            json!(""),
            json!(5),
            json!(null),
            json!(["abc"]),
        ] {
            assert_eq!(message_ciphertext(&bad).unwrap_err().status, 400, "{bad}");
        }
    }
}
