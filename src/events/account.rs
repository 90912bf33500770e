//! `update-account`: profile fields of the account changed (PROTOCOL.md), to user-scoped sockets.

use serde_json::{Map, Value};

use super::{Outbox, Recipients};

/// `{"t": "update-account", "id": ..., ...fields}`; `fields` holds only what changed.
pub fn update_account(user_id: &str, fields: Map<String, Value>) -> Value {
    let mut body = Map::new();
    body.insert("t".into(), "update-account".into());
    body.insert("id".into(), user_id.into());
    body.extend(fields);
    Value::Object(body)
}

/// The outbox of one changed field (`avatar`, `github`) numbered `seq`.
pub fn field_changed(user_id: &str, seq: i64, field: &str, value: Value) -> Outbox {
    let mut fields = Map::new();
    fields.insert(field.into(), value);
    Outbox::default().update(seq, update_account(user_id, fields), Recipients::User)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn carries_only_the_changed_field() {
        let outbox = field_changed("u1", 7, "avatar", Value::Null);
        assert_eq!(outbox.updates.len(), 1);
        assert_eq!(outbox.updates[0].seq, 7);
        assert_eq!(outbox.updates[0].recipients, Recipients::User);
        assert_eq!(outbox.updates[0].body, json!({"t": "update-account", "id": "u1", "avatar": null}));
    }
}
