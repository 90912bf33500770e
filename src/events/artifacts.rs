//! `new-artifact`, `update-artifact`, `delete-artifact` (docs/protocol.md#updates), all to *user*.

use serde_json::{json, Map, Value};

/// The stored artifact as events and responses carry it.
pub struct ArtifactFields<'a> {
    pub id: &'a str,
    pub header: &'a str,
    pub header_version: i64,
    pub body: &'a str,
    pub body_version: i64,
    pub data_encryption_key: &'a str,
    pub seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn new_artifact(a: &ArtifactFields) -> Value {
    json!({
        "t": "new-artifact",
        "artifactId": a.id,
        "seq": a.seq,
        "header": a.header,
        "headerVersion": a.header_version,
        "body": a.body,
        "bodyVersion": a.body_version,
        "dataEncryptionKey": a.data_encryption_key,
        "createdAt": a.created_at,
        "updatedAt": a.updated_at,
    })
}

/// `header`/`body` are `(value, new version)` of the parts that changed.
pub fn update_artifact(id: &str, header: Option<(&str, i64)>, body: Option<(&str, i64)>) -> Value {
    let mut m = Map::new();
    m.insert("t".into(), "update-artifact".into());
    m.insert("artifactId".into(), id.into());
    if let Some((value, version)) = header {
        m.insert("header".into(), json!({"value": value, "version": version}));
    }
    if let Some((value, version)) = body {
        m.insert("body".into(), json!({"value": value, "version": version}));
    }
    Value::Object(m)
}

pub fn delete_artifact(id: &str) -> Value {
    json!({"t": "delete-artifact", "artifactId": id})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_the_protocol() {
        let a = ArtifactFields {
            id: "a1",
            header: "h",
            header_version: 1,
            body: "b",
            body_version: 1,
            data_encryption_key: "k",
            seq: 0,
            created_at: 5,
            updated_at: 6,
        };
        assert_eq!(
            new_artifact(&a),
            json!({"t": "new-artifact", "artifactId": "a1", "seq": 0, "header": "h", "headerVersion": 1,
                   "body": "b", "bodyVersion": 1, "dataEncryptionKey": "k", "createdAt": 5, "updatedAt": 6})
        );
        assert_eq!(
            update_artifact("a1", Some(("h2", 2)), None),
            json!({"t": "update-artifact", "artifactId": "a1", "header": {"value": "h2", "version": 2}})
        );
        assert_eq!(
            update_artifact("a1", None, Some(("b2", 3))),
            json!({"t": "update-artifact", "artifactId": "a1", "body": {"value": "b2", "version": 3}})
        );
        assert_eq!(delete_artifact("a1"), json!({"t": "delete-artifact", "artifactId": "a1"}));
    }
}
