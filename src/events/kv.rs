//! `kv-batch-update` (docs/protocol.md#updates) to *user*: one update per committed batch.

use serde_json::{json, Value};

/// `(key, value, version)`; a deleted key has value `None` and version -1.
pub fn kv_batch_update(changes: &[(String, Option<String>, i64)]) -> Value {
    let changes: Vec<Value> =
        changes.iter().map(|(key, value, version)| json!({"key": key, "value": value, "version": version})).collect();
    json!({"t": "kv-batch-update", "changes": changes})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_matches_the_protocol() {
        let body = kv_batch_update(&[("a".into(), Some("x".into()), 0), ("b".into(), None, -1)]);
        assert_eq!(
            body,
            json!({"t": "kv-batch-update", "changes": [
                {"key": "a", "value": "x", "version": 0},
                {"key": "b", "value": null, "version": -1}
            ]})
        );
    }
}
