//! `update-account` (docs/protocol.md#updates) to *user*: settings changes and profile changes,
//! typed in `wire::account::AccountUpdate`.

use serde_json::Value;

use super::Event;
use super::{Outbox, Recipients};
use crate::wire::account::{AccountUpdate, ProfileEdit};
use crate::wire::Versioned;

pub fn settings_changed(user_id: &str, settings: Option<&str>, version: i64) -> Event {
    let settings = Some(Versioned { value: settings.map(str::to_string), version });
    Event::plain(AccountUpdate { id: user_id.to_string(), settings, ..AccountUpdate::default() })
}

/// The names the edit wrote (absent ones unchanged).
pub fn profile_changed(user_id: &str, edit: &ProfileEdit) -> Event {
    Event::plain(AccountUpdate {
        id: user_id.to_string(),
        first_name: edit.first_name.clone(),
        last_name: edit.last_name.clone(),
        username: edit.username.clone(),
        ..AccountUpdate::default()
    })
}

/// The outbox of a new avatar (`null`: removed), numbered `seq`.
pub fn avatar_changed(user_id: &str, seq: i64, avatar: Value) -> Outbox {
    let update = AccountUpdate { id: user_id.to_string(), avatar: Some(avatar), ..AccountUpdate::default() };
    Outbox::default().update(seq, Event::plain(update), Recipients::User)
}

/// The outbox of a linked (or, `null`, unlinked) GitHub profile, numbered `seq`.
pub fn github_changed(user_id: &str, seq: i64, github: Value) -> Outbox {
    let update = AccountUpdate { id: user_id.to_string(), github: Some(github), ..AccountUpdate::default() };
    Outbox::default().update(seq, Event::plain(update), Recipients::User)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Bytes, not only values: each body as the `json!` it replaced spelled it.
    #[test]
    fn shapes_match_the_protocol() {
        let edit: ProfileEdit = serde_json::from_value(json!({"lastName": null, "username": "neo"})).unwrap();
        let cases = [
            (
                settings_changed("u", Some("s"), 3),
                json!({"t": "update-account", "id": "u", "settings": {"value": "s", "version": 3}}),
            ),
            (
                settings_changed("u", None, 1),
                json!({"t": "update-account", "id": "u", "settings": {"value": null, "version": 1}}),
            ),
            (
                profile_changed("u", &edit),
                json!({"t": "update-account", "id": "u", "lastName": null, "username": "neo"}),
            ),
        ];
        for (typed, spelled) in cases {
            assert_eq!(typed.body.to_string(), spelled.to_string());
        }
    }

    #[test]
    fn field_change_carries_only_that_field() {
        for (outbox, field) in
            [(avatar_changed("u1", 7, Value::Null), "avatar"), (github_changed("u1", 7, json!({"id": 1})), "github")]
        {
            assert_eq!(outbox.updates.len(), 1);
            assert_eq!(outbox.updates[0].seq, 7);
            assert_eq!(outbox.updates[0].recipients, Recipients::User);
            let mut want = json!({"t": "update-account", "id": "u1"});
            want[field] = crate::events::parsed(&outbox.updates[0].body)[field].clone();
            assert_eq!(outbox.updates[0].body.to_string(), want.to_string());
        }
    }
}
