//! Query parameters of the list routes, parsed once: the /v2/sessions cursor and
//! `changedSince`, and the message seq window of the v1/v3 message lists.

use super::invalid::Invalid;
use super::time::parse_iso8601;
use crate::error::{ApiError, ApiResult};

const CURSOR_PREFIX: &str = "cursor_v1_";

/// The opaque /v2/sessions cursor: the id of the last session of the previous page.
pub fn encode_session_cursor(session_id: &str) -> String {
    format!("{CURSOR_PREFIX}{session_id}")
}

pub fn decode_session_cursor(cursor: &str) -> ApiResult<String> {
    cursor
        .strip_prefix(CURSOR_PREFIX)
        .filter(|id| !id.is_empty() && id.len() <= 256)
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("Invalid cursor format"))
}

/// `changedSince`: integer ms (upstream) or an ISO 8601 timestamp (seed).
pub fn changed_since(value: &str) -> ApiResult<i64> {
    value
        .parse::<i64>()
        .ok()
        .filter(|ms| *ms >= 0)
        .or_else(|| parse_iso8601(value))
        .ok_or_else(|| ApiError::bad_request("changedSince must be ms since the epoch or an ISO 8601 timestamp"))
}

/// Which slice of a session's messages to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqWindow {
    /// `seq > n`, ascending.
    After(i64),
    /// `seq < n`, descending (newest first).
    Before(i64),
}

fn seq_param(name: &str, value: &str, min: i64) -> Result<i64, Invalid> {
    value.parse::<i64>().ok().filter(|n| *n >= min).ok_or_else(|| Invalid::TooSmall { field: name.into(), min })
}

/// GET /v3/sessions/:id/messages: `after_seq` (≥0) or `before_seq` (≥1), not both; neither
/// means `after_seq=0`.
pub fn v3_window(after: Option<&str>, before: Option<&str>) -> ApiResult<SeqWindow> {
    match (after, before) {
        (Some(_), Some(_)) => Err(ApiError::bad_request("after_seq and before_seq are mutually exclusive")),
        (Some(a), None) => Ok(SeqWindow::After(seq_param("after_seq", a, 0)?)),
        (None, Some(b)) => Ok(SeqWindow::Before(seq_param("before_seq", b, 1)?)),
        (None, None) => Ok(SeqWindow::After(0)),
    }
}

/// GET /v1/sessions/:id/messages: newest first, optionally older than `before_seq`.
pub fn v1_window(before: Option<&str>) -> ApiResult<SeqWindow> {
    match before {
        Some(b) => Ok(SeqWindow::Before(seq_param("before_seq", b, 1)?)),
        None => Ok(SeqWindow::Before(i64::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cursor_round_trips_and_rejects_garbage() {
        let c = encode_session_cursor("0190abcd-0000-7000-8000-000000000000");
        assert_eq!(c, "cursor_v1_0190abcd-0000-7000-8000-000000000000");
        assert_eq!(decode_session_cursor(&c).unwrap(), "0190abcd-0000-7000-8000-000000000000");
        for bad in ["", "cursor_v1_", "abc", "cursor_v2_x", "0-12"] {
            let e = decode_session_cursor(bad).unwrap_err();
            assert_eq!((e.status, e.message.as_str()), (400, "Invalid cursor format"), "{bad}");
        }
        assert!(decode_session_cursor(&format!("cursor_v1_{}", "a".repeat(257))).is_err());
    }

    #[test]
    fn changed_since_takes_ms_or_iso() {
        assert_eq!(changed_since("1750000000123").unwrap(), 1_750_000_000_123);
        assert_eq!(changed_since("2025-06-15T15:06:40.123Z").unwrap(), 1_750_000_000_123);
        assert!(changed_since("yesterday").is_err());
        assert!(changed_since("-5").is_err());
    }

    #[test]
    fn message_windows() {
        assert_eq!(v3_window(None, None).unwrap(), SeqWindow::After(0));
        assert_eq!(v3_window(Some("5"), None).unwrap(), SeqWindow::After(5));
        assert_eq!(v3_window(None, Some("2147483647")).unwrap(), SeqWindow::Before(2_147_483_647));
        assert!(v3_window(Some("1"), Some("2")).is_err());
        assert!(v3_window(Some("-1"), None).is_err());
        assert!(v3_window(None, Some("0")).is_err());
        assert!(v3_window(Some("x"), None).is_err());
        assert_eq!(v1_window(None).unwrap(), SeqWindow::Before(i64::MAX));
        assert_eq!(v1_window(Some("10")).unwrap(), SeqWindow::Before(10));
        assert!(v1_window(Some("0")).is_err());
    }
}
