//! Integer query parameters with bounds (`limit`, `startTime`, ...): absent means the default,
//! anything else out of range or not an integer is a 400 naming the parameter.

use crate::error::{ApiError, ApiResult};

pub fn bounded(name: &str, raw: Option<String>, default: i64, min: i64, max: i64) -> ApiResult<i64> {
    let Some(raw) = raw else { return Ok(default) };
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| ApiError::bad_request(format!("{name} must be an integer in {min}..{max}")))
}

/// A string that must be 1..=max characters (names, keys, tokens).
pub fn text<'a>(name: &str, value: &'a str, max: usize) -> ApiResult<&'a str> {
    if value.is_empty() {
        return Err(ApiError::bad_request(format!("{name} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(ApiError::bad_request(format!("{name} must be at most {max} characters")));
    }
    Ok(value)
}

/// An opaque payload (ciphertext) of at most `max` bytes; larger is a 413.
pub fn payload<'a>(name: &str, value: &'a str, max: usize) -> ApiResult<&'a str> {
    if value.len() > max {
        return Err(ApiError::too_large(format!("{name} exceeds {max} bytes")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_defaults() {
        assert_eq!(bounded("limit", None, 10, 1, 50).unwrap(), 10);
        assert_eq!(bounded("limit", Some("50".into()), 10, 1, 50).unwrap(), 50);
        for bad in ["0", "51", "-1", "x", "", "1.5"] {
            let e = bounded("limit", Some(bad.into()), 10, 1, 50).unwrap_err();
            assert_eq!((e.status, e.message.as_str()), (400, "limit must be an integer in 1..50"), "{bad}");
        }
    }

    #[test]
    fn text_and_payload_limits() {
        assert!(text("key", "", 5).is_err());
        assert!(text("key", "ééééé", 5).is_ok());
        assert!(text("key", "ééééé!", 5).is_err());
        assert!(payload("body", "", 3).is_ok());
        assert_eq!(payload("body", "abcd", 3).unwrap_err().status, 413);
    }
}
