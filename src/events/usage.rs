//! The `usage` ephemeral (docs/protocol.md#ephemerals) to *user*, for a usage report that names a
//! session (`wire::usage::UsageEphemeral`).

use serde_json::Value;

use super::Event;
use crate::wire::usage::UsageEphemeral;

pub fn usage(session_id: &str, key: &str, tokens: &Value, cost: &Value, timestamp: i64) -> Event {
    Event::plain(UsageEphemeral { id: session_id, key, tokens, cost, timestamp })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shape_matches_the_protocol() {
        let tokens = json!({"total": 3, "input": 1, "output": 2, "cache_creation": 0, "cache_read": 0});
        let cost = json!({"total": 0.5, "input": 0.2, "output": 0.3});
        assert_eq!(
            usage("s", "claude-session", &tokens, &cost, 4).body.to_string(),
            json!({"type": "usage", "id": "s", "key": "claude-session", "tokens": tokens, "cost": cost, "timestamp": 4})
                .to_string()
        );
    }
}
