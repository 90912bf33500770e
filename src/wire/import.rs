//! What happy-move sends (/v1/auth/import, /v1/import/*): records as another server holds
//! them, with their ids, versions, seqs and timestamps. The records that pass on to D1 as they
//! came also serialize.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::access_keys::AccessKey;
use super::artifacts::Artifact;
use super::kv::KvItem;
use super::machines::MachineFields;
use super::sessions::{Content, SessionFields};

/// POST /v1/auth/import: a sign-in, and a token of this server naming the account to keep.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountBody {
    pub public_key: String,
    pub challenge: String,
    pub signature: String,
    pub source_token: Option<String>,
}

/// A session as the source holds it (its seq follows its messages: db::import::sessions).
#[derive(Deserialize, Serialize, JsonSchema)]
pub struct SessionRecord {
    pub id: String,
    #[serde(flatten)]
    pub fields: SessionFields,
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

/// A machine as the source holds it.
#[derive(Deserialize, Serialize, JsonSchema)]
pub struct MachineRecord {
    pub id: String,
    pub seq: i64,
    #[serde(flatten)]
    pub fields: MachineFields,
}

/// POST /v1/import/machines.
#[derive(Deserialize, JsonSchema)]
pub struct MachinesBody {
    pub machines: Vec<MachineRecord>,
}

/// POST /v1/import/kv: items as GET /v1/kv lists them.
#[derive(Deserialize, JsonSchema)]
pub struct KvBody {
    pub items: Vec<KvItem>,
}

/// POST /v1/import/artifacts: artifacts as GET /v1/artifacts/:id answers them.
#[derive(Deserialize, JsonSchema)]
pub struct ArtifactsBody {
    pub artifacts: Vec<Artifact>,
}

/// An access key with the pair it belongs to.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyRecord {
    pub session_id: String,
    pub machine_id: String,
    #[serde(flatten)]
    pub key: AccessKey,
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

    /// A record passes on to D1's JSON statement with every field it came with, whether its
    /// type is its own or the wire type it shares (flattened fields included).
    #[test]
    fn records_pass_on_every_field_they_came_with() {
        let session = json!({"id": "s", "metadata": "m", "metadataVersion": 2, "agentState": null,
            "agentStateVersion": 0, "dataEncryptionKey": null, "active": true, "activeAt": 5, "createdAt": 1,
            "updatedAt": 3});
        let machine = json!({"id": "m", "seq": 4, "metadata": "m", "metadataVersion": 2, "daemonState": "d",
            "daemonStateVersion": 1, "dataEncryptionKey": "k", "active": false, "activeAt": 5, "createdAt": 1,
            "updatedAt": 3});
        let key = json!({"sessionId": "s", "machineId": "m", "data": "d", "dataVersion": 1, "createdAt": 1,
            "updatedAt": 2});
        let artifact = json!({"id": "a", "header": "h", "headerVersion": 1, "body": "b", "bodyVersion": 2,
            "dataEncryptionKey": "k", "seq": 3, "createdAt": 1, "updatedAt": 2});
        let item = json!({"key": "k", "value": "v", "version": 0});
        fn again<T: serde::de::DeserializeOwned + Serialize>(v: &Value) -> Value {
            serde_json::to_value(serde_json::from_value::<T>(v.clone()).unwrap()).unwrap()
        }
        assert_eq!(again::<SessionRecord>(&session), session);
        assert_eq!(again::<MachineRecord>(&machine), machine);
        assert_eq!(again::<AccessKeyRecord>(&key), key);
        assert_eq!(again::<Artifact>(&artifact), artifact);
        assert_eq!(again::<KvItem>(&item), item);
        let no_seq = json!({"id": "m", "metadata": "m"});
        assert!(serde_json::from_value::<MachineRecord>(no_seq).is_err());
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let message = json!({"id": "m", "seq": 1, "localId": null, "content": {"t": "encrypted", "c": "AA=="},
                             "createdAt": 1, "updatedAt": 2});
        conforms(&request_schema::<MessagesBody>(), &json!({"messages": [message]})).unwrap();
        assert!(conforms(&request_schema::<MessagesBody>(), &json!({"messages": [{"id": "m"}]})).is_err());
        conforms(&request_schema::<ProfileBody>(), &json!({"firstName": null, "username": "u"})).unwrap();
        let session = json!({"id": "s", "metadata": "m", "metadataVersion": 2, "agentState": null,
            "agentStateVersion": 0, "dataEncryptionKey": null, "active": true, "activeAt": 5, "createdAt": 1,
            "updatedAt": 3});
        conforms(&request_schema::<SessionsBody>(), &json!({"sessions": [session]})).unwrap();
        assert!(conforms(&request_schema::<SessionsBody>(), &json!({"sessions": [{"id": "s"}]})).is_err());
        let key = json!({"sessionId": "s", "machineId": "m", "data": "d", "dataVersion": 1, "createdAt": 1,
            "updatedAt": 2});
        conforms(&request_schema::<AccessKeysBody>(), &json!({"keys": [key]})).unwrap();
    }
}
