//! Fixed-window request counters per client key, kept per isolate. Cheap (no I/O) and enough
//! to blunt brute force on the auth routes; Cloudflare's edge rate limiting can sit in front.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::error::{ApiError, ApiResult};

pub struct RateLimiter {
    window_ms: i64,
    counts: HashMap<String, (i64, u32)>,
}

impl RateLimiter {
    pub fn new(window_ms: i64) -> Self {
        RateLimiter { window_ms, counts: HashMap::new() }
    }

    /// Counts a hit; `Err(retry_after_secs)` once `limit` hits fell in the current window.
    pub fn hit(&mut self, key: &str, limit: u32, now: i64) -> Result<(), u64> {
        let window = now.div_euclid(self.window_ms);
        if self.counts.len() > 10_000 {
            self.counts.retain(|_, (w, _)| *w == window);
        }
        let entry = self.counts.entry(key.to_string()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            let reset = (window + 1) * self.window_ms;
            return Err(((reset - now + 999) / 1000).max(1) as u64);
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Counts a hit for `key` against `configured` (a variable's value: requests per minute, 0
/// disables) or `default`; 429 with `Retry-After` once over.
pub fn enforce(
    limiter: &RefCell<RateLimiter>,
    configured: Option<String>,
    default: u32,
    key: &str,
    now: i64,
) -> ApiResult<()> {
    let limit = configured.and_then(|v| v.parse::<u32>().ok()).unwrap_or(default);
    if limit == 0 {
        return Ok(());
    }
    limiter.borrow_mut().hit(key, limit, now).map_err(ApiError::too_many)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_resets_each_window() {
        let mut r = RateLimiter::new(60_000);
        assert!(r.hit("a", 2, 1_000).is_ok());
        assert!(r.hit("a", 2, 2_000).is_ok());
        assert_eq!(r.hit("a", 2, 3_000), Err(57));
        assert!(r.hit("b", 2, 3_000).is_ok());
        assert!(r.hit("a", 2, 60_000).is_ok());
    }

    #[test]
    fn enforce_reads_the_configured_limit_and_zero_disables() {
        let l = RefCell::new(RateLimiter::new(60_000));
        assert!(enforce(&l, Some("1".into()), 5, "k", 0).is_ok());
        assert_eq!(enforce(&l, Some("1".into()), 5, "k", 0).unwrap_err().status, 429);
        assert!(enforce(&l, Some("0".into()), 5, "k", 0).is_ok());
        assert!(enforce(&l, Some("junk".into()), 2, "k", 0).is_ok());
    }
}
