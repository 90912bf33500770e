//! `new-artifact`, `update-artifact`, `delete-artifact` (docs/protocol.md#updates), all to *user*,
//! typed in `wire::artifacts`.

use super::Event;
use crate::db::artifacts::Artifact;
use crate::wire::artifacts::ArtifactUpdate;
use crate::wire::Versioned;

pub fn new_artifact(a: &Artifact) -> Event {
    Event::plain(ArtifactUpdate::NewArtifact(a.into()))
}

/// `header`/`body` are `(value, new version)` of the parts that changed.
pub fn update_artifact(id: &str, header: Option<(&str, i64)>, part: Option<(&str, i64)>) -> Event {
    let versioned = |p: Option<(&str, i64)>| p.map(|(value, version)| Versioned { value: value.to_string(), version });
    Event::plain(ArtifactUpdate::UpdateArtifact {
        artifact_id: id.to_string(),
        header: versioned(header),
        body: versioned(part),
    })
}

pub fn delete_artifact(id: &str) -> Event {
    Event::plain(ArtifactUpdate::DeleteArtifact { artifact_id: id.to_string() })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Bytes, not only values: each body as the `json!` it replaced spelled it.
    #[test]
    fn shapes_match_the_protocol() {
        let a: Artifact = serde_json::from_value(json!({
            "id": "a1", "account_id": "u", "header": "h", "header_version": 1, "body": "b", "body_version": 1,
            "data_encryption_key": "k", "seq": 0, "created_at": 5, "updated_at": 6
        }))
        .unwrap();
        let cases = [
            (
                new_artifact(&a),
                json!({"t": "new-artifact", "artifactId": "a1", "seq": 0, "header": "h", "headerVersion": 1,
                       "body": "b", "bodyVersion": 1, "dataEncryptionKey": "k", "createdAt": 5, "updatedAt": 6}),
            ),
            (
                update_artifact("a1", Some(("h2", 2)), None),
                json!({"t": "update-artifact", "artifactId": "a1", "header": {"value": "h2", "version": 2}}),
            ),
            (
                update_artifact("a1", None, Some(("b2", 3))),
                json!({"t": "update-artifact", "artifactId": "a1", "body": {"value": "b2", "version": 3}}),
            ),
            (
                update_artifact("a1", Some(("h2", 2)), Some(("b2", 3))),
                json!({"t": "update-artifact", "artifactId": "a1", "header": {"value": "h2", "version": 2},
                       "body": {"value": "b2", "version": 3}}),
            ),
            (delete_artifact("a1"), json!({"t": "delete-artifact", "artifactId": "a1"})),
        ];
        for (typed, spelled) in cases {
            assert_eq!(typed.body.to_string(), spelled.to_string());
        }
    }
}
