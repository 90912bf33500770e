//! `relationship-updated` (to both users) and `new-feed-post` (to *user*), in the shapes the app
//! validates (docs/compatibility.md#server-events): the app's union, not upstream's unused
//! `{uid, status}` builder.

use serde_json::{json, Value};

use crate::wire::users::UserProfile;

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
) -> Value {
    json!({
        "t": "relationship-updated",
        "fromUserId": from,
        "toUserId": to,
        "status": status,
        "action": action,
        "fromUser": from_user,
        "toUser": to_user,
        "timestamp": timestamp,
    })
}

/// The app requires `repeatKey` (nullable) and parses the counter out of `cursor`.
pub fn new_feed_post(id: &str, body: &Value, cursor: &str, repeat_key: Option<&str>, created_at: i64) -> Value {
    json!({
        "t": "new-feed-post",
        "id": id,
        "body": body,
        "cursor": cursor,
        "repeatKey": repeat_key,
        "createdAt": created_at,
    })
}

#[cfg(test)]
mod tests {
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
            relationship_updated("a", "b", "requested", "created", &a, &b, 9),
            json!({"t": "relationship-updated", "fromUserId": "a", "toUserId": "b", "status": "requested",
                   "action": "created", "fromUser": a, "toUser": b, "timestamp": 9})
        );
        let body = json!({"kind": "friend_request", "uid": "a"});
        assert_eq!(
            new_feed_post("f", &body, "0-3", Some("friend_request_a"), 7),
            json!({"t": "new-feed-post", "id": "f", "body": body, "cursor": "0-3",
                   "repeatKey": "friend_request_a", "createdAt": 7})
        );
        assert_eq!(new_feed_post("f", &body, "0-3", None, 7)["repeatKey"], Value::Null);
    }
}
