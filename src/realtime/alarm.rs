//! When the object's alarm runs: Engine.IO pings for Socket.IO sockets, and the presence sweep
//! that marks sessions and machines inactive after a silent `timeout` (PROTOCOL: 10 minutes).
//! Pure timing; the object does the I/O.

use super::frame::PING_INTERVAL_MS;

/// PROTOCOL: no heartbeat for this long and a session or machine is inactive.
pub const DEFAULT_TIMEOUT_MS: i64 = 10 * 60 * 1000;

/// How often the sweep runs while sockets are connected: a tenth of the timeout, so an item is
/// marked inactive at most 10% late, but never more than once a minute (one D1 batch each).
pub fn sweep_every(timeout: i64) -> i64 {
    (timeout / 10).clamp(1_000, 60_000)
}

/// When the sweep after one that ran at `now` is due. With sockets connected, every
/// [`sweep_every`]; with none, only when the oldest still active heartbeat goes stale (no
/// heartbeat can arrive without a socket); `None` when nothing is active any more.
pub fn next_sweep(now: i64, timeout: i64, sockets: bool, oldest_active: Option<i64>) -> Option<i64> {
    let soonest = now + sweep_every(timeout);
    if sockets {
        return Some(soonest);
    }
    oldest_active.map(|t| (t + timeout).max(soonest))
}

/// The alarm time: the next ping while Socket.IO sockets are connected, or the sweep if sooner.
pub fn next_alarm(now: i64, socket_io: bool, sweep_at: Option<i64>) -> Option<i64> {
    let ping = socket_io.then_some(now + PING_INTERVAL_MS);
    match (ping, sweep_at) {
        (Some(p), Some(s)) => Some(p.min(s)),
        (p, s) => p.or(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_cadence() {
        assert_eq!(sweep_every(DEFAULT_TIMEOUT_MS), 60_000);
        assert_eq!(sweep_every(3_000), 1_000);
        assert_eq!(sweep_every(200_000), 20_000);
    }

    #[test]
    fn next_sweep_depends_on_sockets_and_what_is_still_active() {
        let t = DEFAULT_TIMEOUT_MS;
        assert_eq!(next_sweep(1_000, t, true, None), Some(61_000));
        assert_eq!(next_sweep(1_000, t, false, None), None);
        // Without sockets: when the oldest active heartbeat goes stale, not before the cadence.
        assert_eq!(next_sweep(1_000, t, false, Some(500)), Some(500 + t));
        assert_eq!(next_sweep(1_000_000, t, false, Some(500)), Some(1_060_000));
    }

    #[test]
    fn alarm_is_the_sooner_of_ping_and_sweep() {
        assert_eq!(next_alarm(0, true, None), Some(PING_INTERVAL_MS));
        assert_eq!(next_alarm(0, true, Some(60_000)), Some(PING_INTERVAL_MS));
        assert_eq!(next_alarm(0, true, Some(1_000)), Some(1_000));
        assert_eq!(next_alarm(0, false, Some(60_000)), Some(60_000));
        assert_eq!(next_alarm(0, false, None), None);
    }
}
