//! Machine event bodies (docs/protocol.md, `Updates` and `Ephemerals`).

use serde_json::{json, Value};

/// `new-machine` -> *user*: the wire machine's fields, `id` renamed `machineId`.
pub fn new_machine(machine: &Value) -> Value {
    let mut body = json!({"t": "new-machine", "machineId": machine.get("id").cloned().unwrap_or(Value::Null)});
    for key in [
        "seq",
        "metadata",
        "metadataVersion",
        "daemonState",
        "daemonStateVersion",
        "dataEncryptionKey",
        "active",
        "activeAt",
        "createdAt",
        "updatedAt",
    ] {
        body[key] = machine.get(key).cloned().unwrap_or(Value::Null);
    }
    body
}

/// `update-machine` -> *machine*, with whichever of metadata / daemonState changed.
pub fn update_machine(
    machine_id: &str,
    metadata: Option<(&str, i64)>,
    daemon_state: Option<(Option<&str>, i64)>,
) -> Value {
    let mut body = json!({"t": "update-machine", "machineId": machine_id});
    if let Some((value, version)) = metadata {
        body["metadata"] = json!({"value": value, "version": version});
    }
    if let Some((value, version)) = daemon_state {
        body["daemonState"] = json!({"value": value, "version": version});
    }
    body
}

/// `delete-machine` -> *user*.
pub fn delete_machine(machine_id: &str) -> Value {
    json!({"t": "delete-machine", "machineId": machine_id})
}

/// Ephemeral `machine-activity` -> *user*.
pub fn machine_activity(id: &str, active: bool, active_at: i64) -> Value {
    json!({"type": "machine-activity", "id": id, "active": active, "activeAt": active_at})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_machine_shape() {
        let machine = json!({
            "id": "m1", "accountId": "a", "metadata": "md", "metadataVersion": 1, "daemonState": null,
            "daemonStateVersion": 0, "dataEncryptionKey": null, "seq": 0, "active": false, "activeAt": 5,
            "lastActiveAt": 5, "createdAt": 5, "updatedAt": 5
        });
        let body = new_machine(&machine);
        assert_eq!(
            body,
            json!({"t": "new-machine", "machineId": "m1", "seq": 0, "metadata": "md", "metadataVersion": 1,
                "daemonState": null, "daemonStateVersion": 0, "dataEncryptionKey": null, "active": false,
                "activeAt": 5, "createdAt": 5, "updatedAt": 5})
        );
        assert!(body.get("id").is_none() && body.get("accountId").is_none());
    }

    #[test]
    fn update_machine_shapes() {
        assert_eq!(
            update_machine("m1", Some(("md", 2)), None),
            json!({"t": "update-machine", "machineId": "m1", "metadata": {"value": "md", "version": 2}})
        );
        assert_eq!(
            update_machine("m1", None, Some((Some("ds"), 3))),
            json!({"t": "update-machine", "machineId": "m1", "daemonState": {"value": "ds", "version": 3}})
        );
        assert_eq!(delete_machine("m1"), json!({"t": "delete-machine", "machineId": "m1"}));
        assert_eq!(
            machine_activity("m1", true, 9),
            json!({"type": "machine-activity", "id": "m1", "active": true, "activeAt": 9})
        );
    }
}
