//! `kv-batch-update` (docs/protocol.md#updates) to *user*: one update per committed batch.

use super::Event;
use crate::wire::kv::{KvBatchUpdate, KvChange};

/// `(key, value, version)`; a deleted key has value `None` and version -1.
pub fn kv_batch_update(changes: &[(String, Option<String>, i64)]) -> Event {
    let changes = changes
        .iter()
        .map(|(key, value, version)| KvChange { key: key.clone(), value: value.clone(), version: *version })
        .collect();
    Event::plain(KvBatchUpdate { changes })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shape_matches_the_protocol() {
        let body = kv_batch_update(&[("a".into(), Some("x".into()), 0), ("b".into(), None, -1)]);
        assert_eq!(
            body.body.to_string(),
            json!({"t": "kv-batch-update", "changes": [
                {"key": "a", "value": "x", "version": 0},
                {"key": "b", "value": null, "version": -1}
            ]})
            .to_string()
        );
    }
}
