//! `machine-status`: the older name of machine presence, sent beside `machine-activity`
//! (`machines::machine_activity`) when a machine's socket connects or leaves; the app ignores it.

use serde_json::{json, Value};

pub fn machine_status(machine_id: &str, online: bool, at: i64) -> Value {
    json!({"type": "machine-status", "machineId": machine_id, "online": online, "timestamp": at})
}
