//! What happy-move sends (/v1/auth/import, /v1/import/*): records as another server holds
//! them, with their ids, versions, seqs and timestamps. The records that pass on to D1 as they
//! came also serialize.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sessions::Content;

/// POST /v1/auth/import: a sign-in, and a token of this server naming the account to keep.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountBody {
    pub public_key: String,
    pub challenge: String,
    pub signature: String,
    pub source_token: Option<String>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub id: String,
    pub metadata: String,
    pub metadata_version: i64,
    pub agent_state: Option<String>,
    pub agent_state_version: i64,
    pub data_encryption_key: Option<String>,
    pub active: bool,
    pub active_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// POST /v1/import/sessions.
#[derive(Deserialize, JsonSchema)]
pub struct SessionsBody {
    pub sessions: Vec<SessionRecord>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    pub id: String,
    pub seq: i64,
    pub local_id: Option<String>,
    /// The stored form of a ciphertext.
    #[schemars(with = "Content")]
    pub content: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// POST /v1/import/sessions/:id/messages.
#[derive(Deserialize, JsonSchema)]
pub struct MessagesBody {
    pub messages: Vec<MessageIn>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MachineRecord {
    pub id: String,
    pub metadata: String,
    pub metadata_version: i64,
    pub daemon_state: Option<String>,
    pub daemon_state_version: i64,
    pub data_encryption_key: Option<String>,
    pub seq: i64,
    pub active: bool,
    pub active_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// POST /v1/import/machines.
#[derive(Deserialize, JsonSchema)]
pub struct MachinesBody {
    pub machines: Vec<MachineRecord>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct KvRecord {
    pub key: String,
    pub value: String,
    pub version: i64,
}

/// POST /v1/import/kv.
#[derive(Deserialize, JsonSchema)]
pub struct KvBody {
    pub items: Vec<KvRecord>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRecord {
    pub id: String,
    pub header: String,
    pub header_version: i64,
    pub body: String,
    pub body_version: i64,
    pub data_encryption_key: String,
    pub seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// POST /v1/import/artifacts.
#[derive(Deserialize, JsonSchema)]
pub struct ArtifactsBody {
    pub artifacts: Vec<ArtifactRecord>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyRecord {
    pub session_id: String,
    pub machine_id: String,
    pub data: String,
    pub data_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// POST /v1/import/access-keys.
#[derive(Deserialize, JsonSchema)]
pub struct AccessKeysBody {
    pub keys: Vec<AccessKeyRecord>,
}

/// POST /v1/import/settings.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsBody {
    pub settings: Option<String>,
    pub settings_version: i64,
}

/// POST /v1/import/profile: `null` leaves a field as it is.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileBody {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
}

/// POST /v1/auth/import's answer: the token, and whether the account kept the claimed id.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportedAccount {
    pub success: bool,
    pub token: String,
    pub account_id: String,
    pub id_kept: bool,
}

/// An import call's answer: the records received, and how many rows they changed.
#[derive(Serialize, JsonSchema)]
pub struct Written {
    pub received: usize,
    pub written: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string};

    use super::*;
    use crate::app::schema::{conforms, request_schema};

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let account = ImportedAccount { success: true, token: "t".into(), account_id: "a".into(), id_kept: false };
        assert_eq!(
            to_string(&account).unwrap(),
            json!({"success": true, "token": "t", "accountId": "a", "idKept": false}).to_string()
        );
        assert_eq!(
            to_string(&Written { received: 2, written: 1 }).unwrap(),
            json!({"received": 2, "written": 1}).to_string()
        );
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let message = json!({"id": "m", "seq": 1, "localId": null, "content": {"t": "encrypted", "c": "AA=="},
                             "createdAt": 1, "updatedAt": 2});
        conforms(&request_schema::<MessagesBody>(), &json!({"messages": [message]})).unwrap();
        assert!(conforms(&request_schema::<MessagesBody>(), &json!({"messages": [{"id": "m"}]})).is_err());
        conforms(&request_schema::<ProfileBody>(), &json!({"firstName": null, "username": "u"})).unwrap();
    }
}
