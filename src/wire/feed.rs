//! The feed's body (GET /v1/feed).

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::db::feed::FeedRow;
use crate::domain::feed_cursor::{self, CursorStyle};

/// A notification. `body` is the stored JSON (`{kind, ...}`), passed on as it is; `null` when
/// unreadable.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedItem {
    pub id: String,
    pub body: Value,
    pub repeat_key: Option<String>,
    pub cursor: String,
    pub created_at: i64,
}

impl FeedItem {
    /// The cursor in the form the client parses.
    pub fn new(row: FeedRow, style: CursorStyle) -> Self {
        FeedItem {
            body: serde_json::from_str(&row.body).unwrap_or(Value::Null),
            cursor: feed_cursor::format(style, row.counter),
            id: row.id,
            repeat_key: row.repeat_key,
            created_at: row.created_at,
        }
    }
}

/// `new-feed-post` (docs/protocol.md#updates). The app requires `repeatKey` (nullable) and
/// parses the counter out of `cursor`.
#[derive(Serialize)]
#[serde(tag = "t", rename = "new-feed-post", rename_all = "camelCase")]
pub struct NewFeedPost<'a> {
    pub id: &'a str,
    pub body: &'a Value,
    pub cursor: &'a str,
    pub repeat_key: Option<&'a str>,
    pub created_at: i64,
}

/// The stored body of a friend request or acceptance: its kind and the other user.
#[derive(Serialize)]
pub struct FriendPost<'a> {
    pub kind: &'a str,
    pub uid: &'a str,
}

/// A page, newest first.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedPage {
    pub items: Vec<FeedItem>,
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, response_schema};

    fn row(body: &str) -> FeedRow {
        FeedRow { id: "f1".into(), counter: 4, repeat_key: None, body: body.into(), created_at: 7 }
    }

    /// The typed body serializes to the very bytes the `json!` body it replaces did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let page = FeedPage {
            items: vec![
                FeedItem::new(row(r#"{"kind":"friend_request","uid":"u"}"#), CursorStyle::Stock),
                FeedItem::new(row("{"), CursorStyle::Seed),
            ],
            has_more: false,
        };
        let wire = json!({"items": [
            {"id": "f1", "body": {"kind": "friend_request", "uid": "u"}, "repeatKey": null, "cursor": "0-4",
                "createdAt": 7},
            {"id": "f1", "body": null, "repeatKey": null, "cursor": "cursor_4", "createdAt": 7},
        ], "hasMore": false});
        assert_eq!(to_string(&page).unwrap(), wire.to_string());
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let page = FeedPage { items: vec![FeedItem::new(row(r#"{"kind":"k"}"#), CursorStyle::Seed)], has_more: true };
        conforms(&response_schema::<FeedPage>(), &to_value(page).unwrap()).unwrap();
        assert!(conforms(&response_schema::<FeedPage>(), &json!({"items": [{"id": "f1"}], "hasMore": true})).is_err());
    }
}
