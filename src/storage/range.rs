//! Conditional and partial downloads: `If-None-Match` and a single `Range: bytes=` spec
//! (RFC 9110 §13.1.2, §14).

/// What a `Range` header asks of an object of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No header, a malformed one, or several ranges: serve the whole object (RFC 9110 lets a
    /// server ignore Range).
    Full,
    /// Inclusive byte positions.
    Partial { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match num(suffix) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial { start: size.saturating_sub(n), end: size - 1 },
        },
        (first, last) => {
            let Some(start) = num(first) else { return RangeRequest::Full };
            let end = match last {
                "" => u64::MAX,
                l => match num(l) {
                    Some(e) if e >= start => e,
                    _ => return RangeRequest::Full,
                },
            };
            if start >= size {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Partial { start, end: end.min(size - 1) }
            }
        }
    }
}

/// Whether `If-None-Match` names the current `etag` (weak comparison, `*` matches anything).
pub fn none_match(header: Option<&str>, etag: &str) -> bool {
    let Some(header) = header else { return false };
    let bare = |t: &str| t.trim().trim_start_matches("W/").trim_matches('"').to_string();
    let current = bare(etag);
    header.split(',').any(|t| t.trim() == "*" || bare(t) == current)
}

#[cfg(test)]
mod tests {
    use super::RangeRequest::*;
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Partial { start: 0, end: 9 });
        assert_eq!(parse_range(Some("bytes=90-"), 100), Partial { start: 90, end: 99 });
        assert_eq!(parse_range(Some("bytes=90-500"), 100), Partial { start: 90, end: 99 });
        assert_eq!(parse_range(Some("bytes=-10"), 100), Partial { start: 90, end: 99 });
        assert_eq!(parse_range(Some("bytes=-500"), 100), Partial { start: 0, end: 99 });
        assert_eq!(parse_range(Some("bytes=99-99"), 100), Partial { start: 99, end: 99 });
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-5"), 0), Unsatisfiable);
        assert_eq!(parse_range(None, 100), Full);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Full);
        assert_eq!(parse_range(Some("bytes=5-1"), 100), Full);
        assert_eq!(parse_range(Some("items=0-1"), 100), Full);
        assert_eq!(parse_range(Some("bytes=a-b"), 100), Full);
        assert_eq!(parse_range(Some("bytes=+1-2"), 100), Full);
        assert_eq!(parse_range(Some("bytes=99999999999999999999999-"), 100), Full);
        assert_eq!(parse_range(Some("bytes="), 100), Full);
    }

    #[test]
    fn etag_matching() {
        assert!(none_match(Some("\"abc\""), "\"abc\""));
        assert!(none_match(Some("W/\"abc\", \"x\""), "\"abc\""));
        assert!(none_match(Some("\"x\", \"abc\""), "abc"));
        assert!(none_match(Some("*"), "\"abc\""));
        assert!(!none_match(Some("\"abd\""), "\"abc\""));
        assert!(!none_match(None, "\"abc\""));
    }
}
