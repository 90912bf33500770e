//! Access keys' bodies (/v1/access-keys/:sessionId/:machineId and the `access-key-get` ack).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::VersionMismatch;
use crate::db::access_keys::AccessKey as Stored;

/// An access key as clients see it.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    pub data: String,
    pub data_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Stored> for AccessKey {
    fn from(k: Stored) -> Self {
        AccessKey { data: k.data, data_version: k.data_version, created_at: k.created_at, updated_at: k.updated_at }
    }
}

/// GET: the pair's key, or null before one is stored.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyFound {
    pub access_key: Option<AccessKey>,
}

/// POST.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyCreated {
    pub success: bool,
    pub access_key: AccessKey,
}

/// PUT: the new version, or (still 200) the key another write left.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum KeyUpdated {
    Applied {
        success: bool,
        version: i64,
    },
    #[serde(rename_all = "camelCase")]
    Mismatch {
        success: bool,
        error: VersionMismatch,
        current_version: i64,
        current_data: String,
    },
}

/// POST's body.
#[derive(Deserialize, JsonSchema)]
pub struct CreateBody {
    pub data: String,
}

/// PUT's body.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    pub data: String,
    pub expected_version: i64,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string};

    use super::*;
    use crate::app::schema::{conforms, response_schema};

    fn key() -> AccessKey {
        AccessKey { data: "k".into(), data_version: 2, created_at: 5, updated_at: 6 }
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let wire = json!({"data": "k", "dataVersion": 2, "createdAt": 5, "updatedAt": 6});
        assert_eq!(to_string(&KeyFound { access_key: Some(key()) }).unwrap(), json!({"accessKey": wire}).to_string());
        assert_eq!(to_string(&KeyFound { access_key: None }).unwrap(), r#"{"accessKey":null}"#);
        assert_eq!(
            to_string(&KeyCreated { success: true, access_key: key() }).unwrap(),
            json!({"success": true, "accessKey": wire}).to_string()
        );
        assert_eq!(
            to_string(&KeyUpdated::Applied { success: true, version: 3 }).unwrap(),
            json!({"success": true, "version": 3}).to_string()
        );
        let mismatch = KeyUpdated::Mismatch {
            success: false,
            error: VersionMismatch::VersionMismatch,
            current_version: 3,
            current_data: "c".into(),
        };
        assert_eq!(
            to_string(&mismatch).unwrap(),
            json!({"success": false, "error": "version-mismatch", "currentVersion": 3, "currentData": "c"}).to_string()
        );
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let found = serde_json::to_value(KeyFound { access_key: None }).unwrap();
        conforms(&response_schema::<KeyFound>(), &found).unwrap();
        let mismatch = serde_json::to_value(KeyUpdated::Mismatch {
            success: false,
            error: VersionMismatch::VersionMismatch,
            current_version: 3,
            current_data: "c".into(),
        })
        .unwrap();
        conforms(&response_schema::<KeyUpdated>(), &mismatch).unwrap();
        assert!(conforms(&response_schema::<KeyUpdated>(), &json!({"success": false, "error": "other"})).is_err());
    }
}
