//! `update-account` (PROTOCOL.md) to *user*: settings changes and profile changes.

use serde_json::{json, Map, Value};

pub fn settings_changed(user_id: &str, settings: Option<&str>, version: i64) -> Value {
    json!({"t": "update-account", "id": user_id, "settings": {"value": settings, "version": version}})
}

/// `fields` holds only the profile fields that changed (`firstName`, `lastName`, `username`).
pub fn profile_changed(user_id: &str, fields: Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("t".into(), "update-account".into());
    m.insert("id".into(), user_id.into());
    m.extend(fields);
    Value::Object(m)
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
}
