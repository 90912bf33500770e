//! Inactivity: sessions and machines with no heartbeat for the timeout (10 minutes) are marked
//! inactive by the user's object, from its alarm (docs/protocol.md#presence-and-inactivity). The
//! sweep is armed when a write's outbox says something became active (`Outbox::marks_active`,
//! decided where the events are built) and re-armed for when the oldest active row would
//! expire, so an account with nothing active never wakes its object. Pure scheduling here; the hub
//! runs it.

pub const DEFAULT_TIMEOUT_MS: i64 = 10 * 60 * 1000;
/// Sweeps run at most this often (less for the short timeouts of tests).
const MAX_MIN_GAP_MS: i64 = 60_000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub timeout_ms: i64,
}

impl Schedule {
    /// `INACTIVITY_TIMEOUT_MS` when set to a positive number, else 10 minutes.
    pub fn new(configured: Option<&str>) -> Schedule {
        let timeout_ms = configured.and_then(|v| v.trim().parse::<i64>().ok()).filter(|t| *t > 0);
        Schedule { timeout_ms: timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS) }
    }

    /// The least time between two sweeps: a tenth of the timeout, at most a minute.
    fn min_gap(&self) -> i64 {
        (self.timeout_ms / 10).clamp(1, MAX_MIN_GAP_MS)
    }

    /// Rows last active before this are stale.
    pub fn cutoff(&self, now: i64) -> i64 {
        now - self.timeout_ms
    }

    /// The first sweep after something became active at `now`.
    pub fn first(&self, now: i64) -> i64 {
        now + self.timeout_ms.max(self.min_gap())
    }

    /// The sweep after one that ran at `now`: when the oldest still-active row would expire,
    /// but not sooner than the minimum gap; none while nothing is active.
    pub fn next(&self, now: i64, oldest_active: Option<i64>) -> Option<i64> {
        oldest_active.map(|t| (t + self.timeout_ms).max(now + self.min_gap()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_comes_from_the_variable_or_defaults_to_ten_minutes() {
        assert_eq!(Schedule::new(None).timeout_ms, 600_000);
        assert_eq!(Schedule::new(Some("bogus")).timeout_ms, 600_000);
        assert_eq!(Schedule::new(Some("-5")).timeout_ms, 600_000);
        assert_eq!(Schedule::new(Some(" 2000 ")).timeout_ms, 2_000);
    }

    #[test]
    fn sweeps_follow_the_oldest_active_row_and_stop_when_none_is_left() {
        let s = Schedule::new(None);
        assert_eq!(s.cutoff(1_000_000), 400_000);
        assert_eq!(s.first(1_000), 601_000);
        // The oldest heartbeat 30 s ago expires in 9.5 minutes.
        assert_eq!(s.next(1_000_000, Some(970_000)), Some(1_570_000));
        // A row that is already due waits for the minimum gap (a minute).
        assert_eq!(s.next(1_000_000, Some(100)), Some(1_060_000));
        assert_eq!(s.next(1_000_000, None), None);
        let short = Schedule::new(Some("2000"));
        assert_eq!(short.next(10_000, Some(9_999)), Some(11_999));
        assert_eq!(short.next(10_000, Some(0)), Some(10_200));
        assert_eq!(short.first(10_000), 12_000);
    }
}
