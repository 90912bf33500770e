//! `update-account` (docs/protocol.md#updates) to *user*: settings changes and profile changes.

use serde_json::{json, Map, Value};

use super::{Outbox, Recipients};

pub fn settings_changed(user_id: &str, settings: Option<&str>, version: i64) -> Value {
    json!({"t": "update-account", "id": user_id, "settings": {"value": settings, "version": version}})
}

/// `fields` holds only the profile fields that changed (`firstName`, `lastName`, `username`,
/// `avatar`, `github`).
pub fn profile_changed(user_id: &str, fields: Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("t".into(), "update-account".into());
    m.insert("id".into(), user_id.into());
    m.extend(fields);
    Value::Object(m)
}

/// The outbox of one changed field (`avatar`, `github`) numbered `seq`.
pub fn field_changed(user_id: &str, seq: i64, field: &str, value: Value) -> Outbox {
    let mut fields = Map::new();
    fields.insert(field.into(), value);
    Outbox::default().update(seq, profile_changed(user_id, fields), Recipients::User)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_the_protocol() {
        assert_eq!(
            settings_changed("u", Some("s"), 3),
            json!({"t": "update-account", "id": "u", "settings": {"value": "s", "version": 3}})
        );
        assert_eq!(
            settings_changed("u", None, 1),
            json!({"t": "update-account", "id": "u", "settings": {"value": null, "version": 1}})
        );
        let mut fields = Map::new();
        fields.insert("username".into(), "neo".into());
        fields.insert("lastName".into(), Value::Null);
        assert_eq!(
            profile_changed("u", fields),
            json!({"t": "update-account", "id": "u", "username": "neo", "lastName": null})
        );
    }

    #[test]
    fn field_change_carries_only_that_field() {
        let outbox = field_changed("u1", 7, "avatar", Value::Null);
        assert_eq!(outbox.updates.len(), 1);
        assert_eq!(outbox.updates[0].seq, 7);
        assert_eq!(outbox.updates[0].recipients, Recipients::User);
        assert_eq!(outbox.updates[0].body, json!({"t": "update-account", "id": "u1", "avatar": null}));
    }
}
