//! Seq ordering of updates. Concurrent writes commit in seq order but their publishes can reach
//! the object in any order, so a later seq is held briefly while an earlier one is missing;
//! when the wait runs out it goes anyway (a lost publish never blocks the stream), and a seq
//! arriving after its successors is delivered late rather than dropped.

use std::collections::BTreeMap;

pub struct Sequencer<T> {
    /// The last seq delivered; `None` until primed from storage.
    last: Option<i64>,
    /// Held items by seq, with the time they stop waiting.
    pending: BTreeMap<i64, (i64, T)>,
    hold_ms: i64,
}

impl<T> Sequencer<T> {
    pub fn new(hold_ms: i64) -> Self {
        Sequencer { last: None, pending: BTreeMap::new(), hold_ms }
    }

    pub fn is_primed(&self) -> bool {
        self.last.is_some()
    }

    /// Sets the last delivered seq (0 for an account that never had an update).
    pub fn prime(&mut self, last: i64) {
        self.last.get_or_insert(last);
    }

    /// Takes an item; returns what can go out now, in order.
    pub fn offer(&mut self, seq: i64, item: T, now: i64) -> Vec<(i64, T)> {
        let last = *self.last.get_or_insert(seq - 1);
        if seq > last + 1 {
            self.pending.entry(seq).or_insert((now + self.hold_ms, item));
            return Vec::new();
        }
        let mut out = vec![(seq, item)];
        if seq == last + 1 {
            self.last = Some(seq);
            self.drain_contiguous(&mut out);
        }
        out
    }

    /// Gives up waiting for the gaps before any item whose hold expired.
    pub fn due(&mut self, now: i64) -> Vec<(i64, T)> {
        let mut out = Vec::new();
        let Some(cut) = self.pending.iter().filter(|(_, (deadline, _))| *deadline <= now).map(|(s, _)| *s).max() else {
            return out;
        };
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > cut {
                break;
            }
            let (seq, (_, item)) = entry.remove_entry();
            out.push((seq, item));
            self.last = Some(self.last.map_or(seq, |l| l.max(seq)));
        }
        self.drain_contiguous(&mut out);
        out
    }

    /// When the earliest hold expires.
    pub fn next_deadline(&self) -> Option<i64> {
        self.pending.values().map(|(d, _)| *d).min()
    }

    fn drain_contiguous(&mut self, out: &mut Vec<(i64, T)>) {
        while let Some(entry) = self.pending.first_entry() {
            let next = self.last.map_or(*entry.key(), |l| l + 1);
            if *entry.key() != next {
                break;
            }
            let (seq, (_, item)) = entry.remove_entry();
            self.last = Some(seq);
            out.push((seq, item));
        }
    }
}

/// Whether a catch-up window holding seqs `oldest..` serves every update after `after_seq`.
pub fn window_covers(after_seq: i64, oldest: Option<i64>) -> bool {
    oldest.is_none_or(|o| o <= after_seq + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(v: Vec<(i64, ())>) -> Vec<i64> {
        v.into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn in_order_passes_through() {
        let mut s = Sequencer::new(100);
        s.prime(0);
        assert_eq!(seqs(s.offer(1, (), 0)), [1]);
        assert_eq!(seqs(s.offer(2, (), 0)), [2]);
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn a_gap_holds_later_seqs_until_filled() {
        let mut s = Sequencer::new(100);
        s.prime(0);
        assert!(s.offer(3, (), 0).is_empty());
        assert!(s.offer(2, (), 10).is_empty());
        assert_eq!(s.next_deadline(), Some(100));
        assert_eq!(seqs(s.offer(1, (), 20)), [1, 2, 3]);
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn an_expired_hold_flushes_and_late_items_still_go() {
        let mut s = Sequencer::new(100);
        s.prime(0);
        assert!(s.offer(2, (), 0).is_empty());
        assert!(s.offer(4, (), 50).is_empty());
        assert!(s.due(99).is_empty());
        // 2's hold expired: give up on 1 and send 2; 4 still waits for 3.
        assert_eq!(seqs(s.due(100)), [2]);
        assert_eq!(seqs(s.offer(3, (), 120)), [3, 4]);
        assert_eq!(seqs(s.offer(1, (), 130)), [1]);
        assert_eq!(seqs(s.offer(5, (), 140)), [5]);
    }

    #[test]
    fn an_expired_later_item_flushes_earlier_held_ones_first() {
        let mut s = Sequencer::new(100);
        s.prime(0);
        assert!(s.offer(5, (), 0).is_empty());
        assert!(s.offer(3, (), 50).is_empty());
        assert_eq!(seqs(s.due(100)), [3, 5]);
    }

    #[test]
    fn unprimed_takes_the_first_seq_as_the_start() {
        let mut s = Sequencer::new(100);
        assert!(!s.is_primed());
        assert_eq!(seqs(s.offer(7, (), 0)), [7]);
        s.prime(0);
        assert!(s.offer(9, (), 0).is_empty());
    }

    #[test]
    fn coverage() {
        assert!(window_covers(5, None));
        assert!(window_covers(5, Some(6)));
        assert!(window_covers(10, Some(3)));
        assert!(!window_covers(5, Some(7)));
    }
}
