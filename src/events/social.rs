//! `relationship-updated` (to both users) and `new-feed-post` (to *user*), in the shapes the app
//! validates, typed in `wire::users` and `wire::feed`.

use serde_json::Value;

use super::Event;
use crate::wire::feed::NewFeedPost;
use crate::wire::users::{RelationshipUpdated, UserProfile};

/// `from` is the user who acted, `to` the other one. `status` is the recipient's own view of the
/// other user after the change; `from_user` is the actor's profile as the target sees it and
/// `to_user` the target's profile as the actor sees it, so each side reads the other's profile
/// with its own status.
pub fn relationship_updated(
    from: &str,
    to: &str,
    status: &str,
    action: &str,
    from_user: &UserProfile,
    to_user: &UserProfile,
    timestamp: i64,
) -> Event {
    Event::plain(RelationshipUpdated {
        from_user_id: from,
        to_user_id: to,
        status,
        action,
        from_user,
        to_user,
        timestamp,
    })
}

pub fn new_feed_post(id: &str, post: &Value, cursor: &str, repeat_key: Option<&str>, created_at: i64) -> Event {
    Event::plain(NewFeedPost { id, body: post, cursor, repeat_key, created_at })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::social::Status;

    #[test]
    fn shapes_match_the_app() {
        let profile = |id: &str, status| UserProfile {
            id: id.into(),
            first_name: "F".into(),
            last_name: None,
            avatar: Value::Null,
            username: id.into(),
            bio: None,
            status,
        };
        let (a, b) = (profile("a", Status::Pending), profile("b", Status::Requested));
        assert_eq!(
            relationship_updated("a", "b", "requested", "created", &a, &b, 9).body.to_string(),
            json!({"t": "relationship-updated", "fromUserId": "a", "toUserId": "b", "status": "requested",
                   "action": "created", "fromUser": a, "toUser": b, "timestamp": 9})
            .to_string()
        );
        let body = json!({"kind": "friend_request", "uid": "a"});
        assert_eq!(
            new_feed_post("f", &body, "0-3", Some("friend_request_a"), 7).body.to_string(),
            json!({"t": "new-feed-post", "id": "f", "body": body, "cursor": "0-3",
                   "repeatKey": "friend_request_a", "createdAt": 7})
            .to_string()
        );
        assert_eq!(crate::events::parsed(&new_feed_post("f", &body, "0-3", None, 7).body)["repeatKey"], Value::Null);
    }
}
