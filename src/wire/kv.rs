//! The key-value store's bodies (/v1/kv).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::VersionMismatch;
use crate::db::kv::{Conflict, Item};
use crate::domain::kv::Mutation;

/// A stored item.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct KvItem {
    pub key: String,
    pub value: String,
    pub version: i64,
}

impl From<Item> for KvItem {
    fn from(i: Item) -> Self {
        KvItem { key: i.key, value: i.value, version: i.version }
    }
}

/// GET /v1/kv.
#[derive(Serialize, JsonSchema)]
pub struct ItemList {
    pub items: Vec<KvItem>,
}

/// POST /v1/kv/bulk: only the keys that exist.
#[derive(Serialize, JsonSchema)]
pub struct BulkValues {
    pub values: Vec<KvItem>,
}

/// The version a mutation left its key at (-1: absent).
#[derive(Serialize, JsonSchema)]
pub struct KeyVersion {
    pub key: String,
    pub version: i64,
}

/// POST /v1/kv, applied: one result per mutation, in request order.
#[derive(Serialize, JsonSchema)]
pub struct BatchApplied {
    pub success: bool,
    pub results: Vec<KeyVersion>,
}

/// A mutation whose expected version does not hold, with the key's current version and value.
#[derive(Serialize)]
pub struct KeyMismatch {
    pub key: String,
    pub error: VersionMismatch,
    pub version: i64,
    pub value: Option<String>,
}

impl From<Conflict> for KeyMismatch {
    fn from(c: Conflict) -> Self {
        KeyMismatch { key: c.key, error: VersionMismatch::VersionMismatch, version: c.version, value: c.value }
    }
}

/// POST /v1/kv's 409: nothing was written.
#[derive(Serialize)]
pub struct BatchMismatched {
    pub success: bool,
    pub errors: Vec<KeyMismatch>,
}

/// `kv-batch-update` (docs/protocol.md#updates): one per committed batch.
#[derive(Serialize)]
#[serde(tag = "t", rename = "kv-batch-update")]
pub struct KvBatchUpdate {
    pub changes: Vec<KvChange>,
}

/// A key a batch changed; a deleted key has value `null` and version -1.
#[derive(Serialize)]
pub struct KvChange {
    pub key: String,
    pub value: Option<String>,
    pub version: i64,
}

/// POST /v1/kv/bulk's body.
#[derive(Deserialize, JsonSchema)]
pub struct BulkBody {
    pub keys: Vec<String>,
}

/// POST /v1/kv's body.
#[derive(Deserialize, JsonSchema)]
pub struct MutateBody {
    pub mutations: Vec<Mutation>,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value, Value};

    use super::*;
    use crate::app::schema::{conforms, request_schema, response_schema};

    fn item() -> KvItem {
        Item { key: "a".into(), value: "x".into(), version: 2 }.into()
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let wire = json!({"key": "a", "value": "x", "version": 2});
        assert_eq!(to_string(&item()).unwrap(), wire.to_string());
        assert_eq!(to_string(&ItemList { items: vec![item()] }).unwrap(), json!({"items": [wire]}).to_string());
        assert_eq!(to_string(&BulkValues { values: vec![] }).unwrap(), json!({"values": []}).to_string());
        let results = vec![KeyVersion { key: "a".into(), version: 0 }, KeyVersion { key: "b".into(), version: -1 }];
        assert_eq!(
            to_string(&BatchApplied { success: true, results }).unwrap(),
            json!({"success": true, "results": [{"key": "a", "version": 0}, {"key": "b", "version": -1}]}).to_string()
        );
        let conflicts = [
            Conflict { key: "a".into(), version: 3, value: Some("y".into()) },
            Conflict { key: "b".into(), version: -1, value: None },
        ];
        assert_eq!(
            to_string(&BatchMismatched { success: false, errors: conflicts.into_iter().map(Into::into).collect() })
                .unwrap(),
            json!({"success": false, "errors": [
                {"key": "a", "error": "version-mismatch", "version": 3, "value": "y"},
                {"key": "b", "error": "version-mismatch", "version": -1, "value": null},
            ]})
            .to_string()
        );
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        conforms(&response_schema::<KvItem>(), &to_value(item()).unwrap()).unwrap();
        conforms(&response_schema::<ItemList>(), &to_value(ItemList { items: vec![item()] }).unwrap()).unwrap();
        let mutated = BatchApplied { success: true, results: vec![KeyVersion { key: "a".into(), version: 1 }] };
        conforms(&response_schema::<BatchApplied>(), &to_value(mutated).unwrap()).unwrap();
        assert!(conforms(&response_schema::<KvItem>(), &json!({"key": "a", "value": null, "version": 1})).is_err());
    }

    /// (the derived schema accepts `body`, the type parses it): both agree.
    fn accepted<T: serde::de::DeserializeOwned + JsonSchema>(body: Value) -> (bool, bool) {
        (conforms(&request_schema::<T>(), &body).is_ok(), serde_json::from_value::<T>(body).is_ok())
    }

    #[test]
    fn request_schemas_accept_what_the_types_parse() {
        let batch = json!({"mutations": [{"key": "a", "value": null, "version": 0}, {"key": "b", "version": -1}]});
        assert_eq!(accepted::<MutateBody>(batch), (true, true));
        assert_eq!(accepted::<MutateBody>(json!({"mutations": [{"key": "a", "value": "x"}]})), (false, false));
        assert_eq!(accepted::<BulkBody>(json!({"keys": ["a"]})), (true, true));
        assert_eq!(accepted::<BulkBody>(json!({"keys": "a"})), (false, false));
    }
}
