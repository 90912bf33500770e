//! Machine event bodies (docs/protocol.md, `Updates` and `Ephemerals`), typed in
//! `wire::machines`.

use super::Event;
use crate::db::machines::MachineRow;
use crate::wire::machines::{MachineEphemeral, MachineUpdate};
use crate::wire::Versioned;

/// `new-machine` -> *user*.
pub fn new_machine(machine: &MachineRow) -> Event {
    Event::plain(MachineUpdate::NewMachine(machine.into()))
}

/// `update-machine` -> *machine*, with whichever of metadata / daemonState changed; a daemon
/// state marks the machine active.
pub fn update_machine(
    machine_id: &str,
    metadata: Option<(&str, i64)>,
    daemon_state: Option<(Option<&str>, i64)>,
) -> Event {
    let marks_active = daemon_state.is_some();
    let update = MachineUpdate::UpdateMachine {
        machine_id: machine_id.to_string(),
        metadata: metadata.map(|(value, version)| Versioned { value: value.to_string(), version }),
        daemon_state: daemon_state.map(|(value, version)| Versioned { value: value.map(str::to_string), version }),
    };
    Event::marking(update, marks_active)
}

/// `delete-machine` -> *user*.
pub fn delete_machine(machine_id: &str) -> Event {
    Event::plain(MachineUpdate::DeleteMachine { machine_id: machine_id.to_string() })
}

/// Ephemeral `machine-activity` -> *user*; marks the machine active when `active`.
pub fn machine_activity(id: &str, active: bool, active_at: i64) -> Event {
    Event::marking(MachineEphemeral::MachineActivity { id: id.to_string(), active, active_at }, active)
}

/// Ephemeral `machine-status` -> *user* (`MachineEphemeral::MachineStatus`).
pub fn machine_status(machine_id: &str, online: bool, at: i64) -> Event {
    Event::plain(MachineEphemeral::MachineStatus { machine_id: machine_id.to_string(), online, timestamp: at })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn machine() -> MachineRow {
        MachineRow {
            id: "m1".into(),
            account_id: "a".into(),
            metadata: "md".into(),
            metadata_version: 1,
            daemon_state: None,
            daemon_state_version: 0,
            data_encryption_key: None,
            seq: 0,
            active: 0,
            last_active_at: 5,
            created_at: 5,
            updated_at: 5,
        }
    }

    #[test]
    fn new_machine_shape() {
        let body = new_machine(&machine());
        assert_eq!(
            body.body.to_string(),
            json!({"t": "new-machine", "machineId": "m1", "seq": 0, "metadata": "md", "metadataVersion": 1,
                "daemonState": null, "daemonStateVersion": 0, "dataEncryptionKey": null, "active": false,
                "activeAt": 5, "createdAt": 5, "updatedAt": 5})
            .to_string()
        );
        let body = crate::events::parsed(&body.body);
        assert!(body.get("id").is_none() && body.get("accountId").is_none());
    }

    /// Bytes, not only values: each body as the `json!` it replaced spelled it.
    #[test]
    fn update_and_ephemeral_shapes() {
        let cases = [
            (
                update_machine("m1", Some(("md", 2)), None),
                json!({"t": "update-machine", "machineId": "m1", "metadata": {"value": "md", "version": 2}}),
            ),
            (
                update_machine("m1", None, Some((Some("ds"), 3))),
                json!({"t": "update-machine", "machineId": "m1", "daemonState": {"value": "ds", "version": 3}}),
            ),
            (
                update_machine("m1", Some(("md", 2)), Some((None, 3))),
                json!({"t": "update-machine", "machineId": "m1", "metadata": {"value": "md", "version": 2},
                       "daemonState": {"value": null, "version": 3}}),
            ),
            (delete_machine("m1"), json!({"t": "delete-machine", "machineId": "m1"})),
            (
                machine_activity("m1", true, 9),
                json!({"type": "machine-activity", "id": "m1", "active": true, "activeAt": 9}),
            ),
            (
                machine_status("m1", false, 4),
                json!({"type": "machine-status", "machineId": "m1", "online": false, "timestamp": 4}),
            ),
        ];
        for (typed, spelled) in cases {
            assert_eq!(typed.body.to_string(), spelled.to_string());
        }
    }
}
