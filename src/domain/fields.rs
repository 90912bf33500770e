//! Bounds on client-supplied strings of the sessions/machines API (checked with `text::Text`),
//! and the message content forms we accept. Every check runs before anything is written, so a
//! rejected request writes nothing.

use serde_json::Value;

use super::text::Text;
use crate::error::{ApiError, ApiResult};

/// Ids (session, machine), tags and message localIds.
pub const MAX_ID: usize = 256;
/// Wrapped data encryption keys (a few dozen bytes of base64 in practice).
pub const MAX_KEY: usize = 4096;
/// Access key blobs.
pub const MAX_ACCESS_KEY: usize = 64 * 1024;
/// Messages per v3 POST.
pub const MAX_BATCH: usize = 100;

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
    Text::non_empty("content", c)?;
    Ok(c.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
