//! `update-account`: profile fields of the account changed (PROTOCOL.md), to user-scoped sockets.

use serde_json::{Map, Value};

/// `{"t": "update-account", "id": ..., ...fields}`; `fields` holds only what changed.
pub fn update_account(user_id: &str, fields: Map<String, Value>) -> Value {
    let mut body = Map::new();
    body.insert("t".into(), "update-account".into());
    body.insert("id".into(), user_id.into());
    body.extend(fields);
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn carries_only_the_changed_fields() {
        let mut fields = Map::new();
        fields.insert("avatar".into(), Value::Null);
        assert_eq!(update_account("u1", fields), json!({"t": "update-account", "id": "u1", "avatar": null}));
    }
}
