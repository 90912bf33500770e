//! The friendship state machine. Each direction is stored separately: `a→b` is how `a` sees `b`.
//! A friend request leaves `requested` on the sender's side and `pending` on the receiver's; the
//! receiver adding back makes both `friend`. Pure, so every transition is tested natively.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    None,
    Requested,
    Pending,
    Friend,
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::None => "none",
            Status::Requested => "requested",
            Status::Pending => "pending",
            Status::Friend => "friend",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Status {
        match s {
            "requested" => Status::Requested,
            "pending" => Status::Pending,
            "friend" => Status::Friend,
            "rejected" => Status::Rejected,
            _ => Status::None,
        }
    }
}

/// What one call changes. `a` is the caller, `b` the other user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub a_to_b: Status,
    pub b_to_a: Status,
    /// Feed posts to write: `b` gets a friend request / both get "friend accepted".
    pub feed: Feed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    Nothing,
    RequestToB,
    AcceptedToBoth,
}

impl Transition {
    pub fn changes(&self, before: (Status, Status)) -> bool {
        (self.a_to_b, self.b_to_a) != before
    }
}

/// `a` adds `b`: accept `b`'s request, or send one (again after a rejection).
pub fn add(a_to_b: Status, b_to_a: Status) -> Transition {
    use Status::*;
    if b_to_a == Requested {
        return Transition { a_to_b: Friend, b_to_a: Friend, feed: Feed::AcceptedToBoth };
    }
    if matches!(a_to_b, None | Rejected) {
        // `b` keeps `rejected` (or whatever it is) unless it had no opinion yet.
        let b_to_a = if b_to_a == None { Pending } else { b_to_a };
        return Transition { a_to_b: Requested, b_to_a, feed: Feed::RequestToB };
    }
    Transition { a_to_b, b_to_a, feed: Feed::Nothing }
}

/// `a` removes `b`: cancel own request, unfriend (the other side keeps a request towards `a`),
/// or decline `b`'s request.
pub fn remove(a_to_b: Status, b_to_a: Status) -> Transition {
    use Status::*;
    let (a, b) = match a_to_b {
        Requested => (Rejected, if b_to_a == Pending { None } else { b_to_a }),
        Friend => (Pending, Requested),
        Pending => (None, if b_to_a == Rejected { b_to_a } else { None }),
        other => (other, b_to_a),
    };
    Transition { a_to_b: a, b_to_a: b, feed: Feed::Nothing }
}

/// `created` when a side had no relationship before, `deleted` when it has none after.
pub fn action(before: Status, after: Status) -> &'static str {
    match (before, after) {
        (_, Status::None) => "deleted",
        (Status::None, _) => "created",
        _ => "updated",
    }
}

/// Feed notifications about the same user are sent at most once a day, and never while the
/// receiving side has rejected.
pub const NOTIFY_COOLDOWN_MS: i64 = 24 * 60 * 60 * 1000;

pub fn should_notify(last_notified_at: Option<i64>, receiver_status: Status, now: i64) -> bool {
    receiver_status != Status::Rejected && last_notified_at.is_none_or(|t| t <= now - NOTIFY_COOLDOWN_MS)
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    fn pair(t: Transition) -> (Status, Status) {
        (t.a_to_b, t.b_to_a)
    }

    #[test]
    fn request_then_accept_makes_friends() {
        let t = add(None, None);
        assert_eq!(pair(t), (Requested, Pending));
        assert_eq!(t.feed, Feed::RequestToB);
        // b adds a back: seen from b, a has requested.
        let t = add(Pending, Requested);
        assert_eq!(pair(t), (Friend, Friend));
        assert_eq!(t.feed, Feed::AcceptedToBoth);
    }

    #[test]
    fn repeated_add_changes_nothing() {
        for before in [(Requested, Pending), (Friend, Friend), (Pending, Rejected)] {
            let t = add(before.0, before.1);
            assert!(!t.changes(before), "{before:?}");
            assert_eq!(t.feed, Feed::Nothing);
        }
    }

    #[test]
    fn re_request_after_rejection_keeps_the_other_side() {
        assert_eq!(pair(add(Rejected, None)), (Requested, Pending));
        assert_eq!(pair(add(Rejected, Rejected)), (Requested, Rejected));
    }

    #[test]
    fn removals_downgrade_both_sides() {
        assert_eq!(pair(remove(Requested, Pending)), (Rejected, None));
        assert_eq!(pair(remove(Friend, Friend)), (Pending, Requested));
        assert_eq!(pair(remove(Pending, Requested)), (None, None));
        assert_eq!(pair(remove(Pending, Rejected)), (None, Rejected));
        assert!(!remove(None, None).changes((None, None)));
    }

    #[test]
    fn actions_and_cooldown() {
        assert_eq!(action(None, Requested), "created");
        assert_eq!(action(Requested, Friend), "updated");
        assert_eq!(action(Friend, None), "deleted");
        assert!(should_notify(Option::None, Pending, 1000));
        assert!(!should_notify(Some(900), Pending, 1000));
        assert!(should_notify(Some(0), Pending, NOTIFY_COOLDOWN_MS));
        assert!(!should_notify(Option::None, Rejected, 1000));
    }

    #[test]
    fn statuses_round_trip() {
        for s in [None, Requested, Pending, Friend, Rejected] {
            assert_eq!(Status::parse(s.as_str()), s);
        }
        assert_eq!(Status::parse("junk"), None);
    }
}
