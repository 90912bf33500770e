//! Presence ephemerals sent when a machine's socket connects or leaves.

use serde_json::{json, Value};

/// `machine-activity`: what the app reads for the online dot.
pub fn machine_activity(machine_id: &str, active: bool, at: i64) -> Value {
    json!({"type": "machine-activity", "id": machine_id, "active": active, "activeAt": at})
}

/// `machine-status`: the older name of the same signal (the app ignores it).
pub fn machine_status(machine_id: &str, online: bool, at: i64) -> Value {
    json!({"type": "machine-status", "machineId": machine_id, "online": online, "timestamp": at})
}
