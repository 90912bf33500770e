//! Feed cursors (docs/compatibility.md C6): seed clients use `cursor_<n>`, the stock app `0-<n>`
//! and parses the number after the first two characters. Both are accepted; the style emitted
//! follows the caller.

use crate::error::{ApiError, ApiResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorStyle {
    /// `cursor_<n>` (seed contract).
    Seed,
    /// `0-<n>` (stock app, which sends `X-Happy-Client`).
    Stock,
}

pub fn format(style: CursorStyle, counter: i64) -> String {
    match style {
        CursorStyle::Seed => format!("cursor_{counter}"),
        CursorStyle::Stock => format!("0-{counter}"),
    }
}

/// The feed counter a cursor names.
pub fn parse(field: &str, cursor: &str) -> ApiResult<i64> {
    let digits = cursor.strip_prefix("cursor_").or_else(|| cursor.strip_prefix("0-"));
    digits
        .filter(|d| !d.is_empty() && d.len() <= 15 && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("Invalid cursor format in {field}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_round_trip() {
        assert_eq!(parse("before", "cursor_42").unwrap(), 42);
        assert_eq!(parse("before", "0-42").unwrap(), 42);
        assert_eq!(parse("after", &format(CursorStyle::Stock, 7)).unwrap(), 7);
        assert_eq!(format(CursorStyle::Seed, 7), "cursor_7");
        assert_eq!(format(CursorStyle::Stock, 7), "0-7");
        for bad in ["", "42", "cursor_", "0-", "cursor_-1", "0-1x", "1-5", "cursor_9999999999999999"] {
            assert_eq!(parse("before", bad).unwrap_err().status, 400, "{bad}");
        }
    }
}
