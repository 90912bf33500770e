//! Machines' bodies (/v1/machines): the machine as every response carries it, the envelopes
//! around it and the request bodies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Versioned;
use crate::db::machines::MachineRow;

/// A machine: the seed's fields plus upstream's `activeAt` (docs/compatibility.md#machines:
/// both names of the last activity).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub id: String,
    pub account_id: String,
    pub metadata: String,
    pub metadata_version: i64,
    pub daemon_state: Option<String>,
    pub daemon_state_version: i64,
    pub data_encryption_key: Option<String>,
    pub seq: i64,
    pub active: bool,
    pub active_at: i64,
    pub last_active_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<MachineRow> for Machine {
    fn from(row: MachineRow) -> Self {
        Machine {
            id: row.id,
            account_id: row.account_id,
            metadata: row.metadata,
            metadata_version: row.metadata_version,
            daemon_state: row.daemon_state,
            daemon_state_version: row.daemon_state_version,
            data_encryption_key: row.data_encryption_key,
            seq: row.seq,
            active: row.active != 0,
            active_at: row.last_active_at,
            last_active_at: row.last_active_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// POST /v1/machines and GET /v1/machines/:id.
#[derive(Serialize, JsonSchema)]
pub struct OneMachine {
    pub machine: Machine,
}

/// GET /v1/machines (docs/compatibility.md C4).
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MachineList {
    /// What stock Happy clients iterate.
    Bare(Vec<Machine>),
    /// The seed's shape.
    Wrapped { machines: Vec<Machine> },
}

/// PUT /v1/machines/:id/status.
#[derive(Serialize, JsonSchema)]
pub struct StatusUpdated {
    pub success: bool,
    pub machine: Machine,
}

/// POST /v1/machines.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    pub id: String,
    pub metadata: String,
    pub daemon_state: Option<String>,
    pub data_encryption_key: Option<String>,
}

/// PUT /v1/machines/:id/status: each present field is written.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusBody {
    pub active: Option<bool>,
    pub metadata: Option<String>,
    pub daemon_state: Option<String>,
}

/// A machine update's body (docs/protocol.md, `Updates`).
#[derive(Serialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum MachineUpdate {
    NewMachine(NewMachine),
    /// Whichever of metadata and daemon state changed.
    #[serde(rename_all = "camelCase")]
    UpdateMachine {
        machine_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        metadata: Option<Versioned<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        daemon_state: Option<Versioned<Option<String>>>,
    },
    #[serde(rename_all = "camelCase")]
    DeleteMachine {
        machine_id: String,
    },
}

/// `new-machine`: the wire machine's fields, `id` named `machineId`, without the account and
/// the seed's second name of the last activity.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMachine {
    pub machine_id: String,
    pub seq: i64,
    #[serde(flatten)]
    pub fields: MachineFields,
}

/// A machine's own fields, apart from its id and seq: what `new-machine` carries and what an
/// import (`wire::import::MachineRecord`) brings.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MachineFields {
    pub metadata: String,
    pub metadata_version: i64,
    pub daemon_state: Option<String>,
    pub daemon_state_version: i64,
    pub data_encryption_key: Option<String>,
    pub active: bool,
    pub active_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&MachineRow> for NewMachine {
    fn from(r: &MachineRow) -> Self {
        NewMachine {
            machine_id: r.id.clone(),
            seq: r.seq,
            fields: MachineFields {
                metadata: r.metadata.clone(),
                metadata_version: r.metadata_version,
                daemon_state: r.daemon_state.clone(),
                daemon_state_version: r.daemon_state_version,
                data_encryption_key: r.data_encryption_key.clone(),
                active: r.active != 0,
                active_at: r.last_active_at,
                created_at: r.created_at,
                updated_at: r.updated_at,
            },
        }
    }
}

/// A machine ephemeral's body (docs/protocol.md, `Ephemerals`).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum MachineEphemeral {
    #[serde(rename_all = "camelCase")]
    MachineActivity { id: String, active: bool, active_at: i64 },
    /// The older name of machine presence, sent beside `machine-activity` when a machine's
    /// socket connects or leaves; the app ignores it.
    #[serde(rename_all = "camelCase")]
    MachineStatus { machine_id: String, online: bool, timestamp: i64 },
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value, Value};

    use super::*;
    use crate::app::schema::{conforms, request_schema, response_schema};

    fn row(daemon_state: Option<&str>) -> MachineRow {
        MachineRow {
            id: "m1".into(),
            account_id: "a1".into(),
            metadata: "bWV0YQ==".into(),
            metadata_version: 2,
            daemon_state: daemon_state.map(Into::into),
            daemon_state_version: u8::from(daemon_state.is_some()).into(),
            data_encryption_key: None,
            seq: 3,
            active: 1,
            last_active_at: 1_700_000_000_123,
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_100,
        }
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        for r in [row(None), row(Some("ZA=="))] {
            // What the `json!` body spelled, field by field.
            let wire = json!({
                "id": "m1", "accountId": "a1", "metadata": "bWV0YQ==", "metadataVersion": 2,
                "daemonState": r.daemon_state, "daemonStateVersion": r.daemon_state_version,
                "dataEncryptionKey": null, "seq": 3, "active": true, "activeAt": 1_700_000_000_123_i64,
                "lastActiveAt": 1_700_000_000_123_i64, "createdAt": 1_700_000_000_000_i64,
                "updatedAt": 1_700_000_000_100_i64,
            });
            assert_eq!(
                to_string(&OneMachine { machine: r.clone().into() }).unwrap(),
                json!({"machine": wire}).to_string()
            );
            assert_eq!(
                to_string(&StatusUpdated { success: true, machine: r.clone().into() }).unwrap(),
                json!({"success": true, "machine": wire}).to_string()
            );
            assert_eq!(to_string(&MachineList::Bare(vec![r.clone().into()])).unwrap(), json!([wire]).to_string());
            assert_eq!(
                to_string(&MachineList::Wrapped { machines: vec![r.into()] }).unwrap(),
                json!({"machines": [wire]}).to_string()
            );
        }
        assert_eq!(to_string(&crate::wire::Success::TRUE).unwrap(), r#"{"success":true}"#);
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let machine = || Machine::from(row(None));
        let one = to_value(OneMachine { machine: machine() }).unwrap();
        conforms(&response_schema::<OneMachine>(), &one).unwrap();
        let status = to_value(StatusUpdated { success: true, machine: Machine::from(row(Some("ZA=="))) }).unwrap();
        conforms(&response_schema::<StatusUpdated>(), &status).unwrap();
        let list = response_schema::<MachineList>();
        conforms(&list, &to_value(MachineList::Bare(vec![machine(), machine()])).unwrap()).unwrap();
        conforms(&list, &to_value(MachineList::Wrapped { machines: vec![] }).unwrap()).unwrap();
        conforms(&response_schema::<crate::wire::Success>(), &to_value(crate::wire::Success::TRUE).unwrap()).unwrap();

        // Not vacuous: a nullable key is still required, and a wrong type is refused.
        let mut without_state = one.clone();
        without_state["machine"].as_object_mut().unwrap().remove("daemonState");
        assert!(conforms(&response_schema::<OneMachine>(), &without_state).is_err());
        let mut wrong = one;
        wrong["machine"]["active"] = json!(1);
        assert!(conforms(&response_schema::<OneMachine>(), &wrong).is_err());
    }

    /// (the derived schema accepts `body`, the type parses it): both agree.
    fn accepted<T: serde::de::DeserializeOwned + JsonSchema>(body: Value) -> (bool, bool) {
        (conforms(&request_schema::<T>(), &body).is_ok(), serde_json::from_value::<T>(body).is_ok())
    }

    #[test]
    fn request_schemas_accept_what_the_types_parse() {
        let register = json!({"id": "m", "metadata": "x", "daemonState": null});
        assert_eq!(accepted::<RegisterBody>(register), (true, true));
        assert_eq!(accepted::<RegisterBody>(json!({"id": "m"})), (false, false));
        assert_eq!(accepted::<RegisterBody>(json!({"id": "m", "metadata": 1})), (false, false));
        assert_eq!(accepted::<StatusBody>(json!({"active": null, "metadata": "x"})), (true, true));
        assert_eq!(accepted::<StatusBody>(json!({"active": "yes"})), (false, false));
    }
}
