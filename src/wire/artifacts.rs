//! Artifacts' bodies (/v1/artifacts and the `artifact-*` acks; docs/compatibility.md C1-C3).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{VersionMismatch, Versioned};
use crate::db::artifacts::{Artifact as Stored, HeaderRow};

/// An artifact with its body.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
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

impl From<&Stored> for Artifact {
    fn from(a: &Stored) -> Self {
        Artifact {
            id: a.id.clone(),
            header: a.header.clone(),
            header_version: a.header_version,
            body: a.body.clone(),
            body_version: a.body_version,
            data_encryption_key: a.data_encryption_key.clone(),
            seq: a.seq,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// An artifact in a list: without its body.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactHeader {
    pub id: String,
    pub header: String,
    pub header_version: i64,
    pub data_encryption_key: String,
    pub seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<HeaderRow> for ArtifactHeader {
    fn from(r: HeaderRow) -> Self {
        ArtifactHeader {
            id: r.id,
            header: r.header,
            header_version: r.header_version,
            data_encryption_key: r.data_encryption_key,
            seq: r.seq,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// GET /v1/artifacts (C1).
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ArtifactList {
    /// What the stock app iterates.
    Bare(Vec<ArtifactHeader>),
    /// The seed's shape.
    Wrapped { artifacts: Vec<ArtifactHeader> },
}

/// GET and POST of one artifact (C2, C3): every field at top level and the same under `artifact`.
#[derive(Serialize, JsonSchema)]
pub struct FullArtifact {
    #[serde(flatten)]
    pub fields: Artifact,
    pub artifact: Artifact,
}

impl From<&Stored> for FullArtifact {
    fn from(a: &Stored) -> Self {
        FullArtifact { fields: a.into(), artifact: a.into() }
    }
}

/// POST /v1/artifacts/:id: the versions written, or (still 200) what another write left.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ArtifactUpdated {
    #[serde(rename_all = "camelCase")]
    Applied {
        success: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        header_version: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        body_version: Option<i64>,
    },
    #[serde(rename_all = "camelCase")]
    Mismatch {
        success: bool,
        error: VersionMismatch,
        #[serde(skip_serializing_if = "Option::is_none")]
        current_header_version: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        current_header: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        current_body_version: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        current_body: Option<String>,
    },
}

/// POST /v1/artifacts.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    pub id: String,
    pub header: String,
    pub body: String,
    pub data_encryption_key: String,
}

/// POST /v1/artifacts/:id: each part with the version it expects.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    pub header: Option<String>,
    pub expected_header_version: Option<i64>,
    pub body: Option<String>,
    pub expected_body_version: Option<i64>,
}

/// An artifact update's body (docs/protocol.md, `Updates`), all to *user*.
#[derive(Serialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum ArtifactUpdate {
    NewArtifact(NewArtifact),
    /// The parts that changed, with their new versions.
    #[serde(rename_all = "camelCase")]
    UpdateArtifact {
        artifact_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        header: Option<Versioned<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<Versioned<String>>,
    },
    #[serde(rename_all = "camelCase")]
    DeleteArtifact {
        artifact_id: String,
    },
}

/// `new-artifact`: the artifact's fields, `id` named `artifactId`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewArtifact {
    pub artifact_id: String,
    pub seq: i64,
    pub header: String,
    pub header_version: i64,
    pub body: String,
    pub body_version: i64,
    pub data_encryption_key: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&Stored> for NewArtifact {
    fn from(a: &Stored) -> Self {
        NewArtifact {
            artifact_id: a.id.clone(),
            seq: a.seq,
            header: a.header.clone(),
            header_version: a.header_version,
            body: a.body.clone(),
            body_version: a.body_version,
            data_encryption_key: a.data_encryption_key.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, response_schema};

    fn artifact() -> Artifact {
        Artifact {
            id: "a1".into(),
            header: "h".into(),
            header_version: 1,
            body: "b".into(),
            body_version: 2,
            data_encryption_key: "k".into(),
            seq: 3,
            created_at: 5,
            updated_at: 6,
        }
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let wire = json!({"id": "a1", "header": "h", "headerVersion": 1, "body": "b", "bodyVersion": 2,
            "dataEncryptionKey": "k", "seq": 3, "createdAt": 5, "updatedAt": 6});
        let mut full = wire.as_object().unwrap().clone();
        full.insert("artifact".into(), wire.clone());
        assert_eq!(
            to_string(&FullArtifact { fields: artifact(), artifact: artifact() }).unwrap(),
            serde_json::Value::Object(full).to_string()
        );
        let header = ArtifactHeader {
            id: "a1".into(),
            header: "h".into(),
            header_version: 1,
            data_encryption_key: "k".into(),
            seq: 3,
            created_at: 5,
            updated_at: 6,
        };
        assert_eq!(
            to_string(&ArtifactList::Wrapped { artifacts: vec![header] }).unwrap(),
            json!({"artifacts": [{"id": "a1", "header": "h", "headerVersion": 1, "dataEncryptionKey": "k",
                "seq": 3, "createdAt": 5, "updatedAt": 6}]})
            .to_string()
        );
        let applied = ArtifactUpdated::Applied { success: true, header_version: None, body_version: Some(4) };
        assert_eq!(to_string(&applied).unwrap(), r#"{"success":true,"bodyVersion":4}"#);
        let mismatch = ArtifactUpdated::Mismatch {
            success: false,
            error: VersionMismatch::VersionMismatch,
            current_header_version: Some(2),
            current_header: Some("h2".into()),
            current_body_version: None,
            current_body: None,
        };
        assert_eq!(
            to_string(&mismatch).unwrap(),
            r#"{"success":false,"error":"version-mismatch","currentHeaderVersion":2,"currentHeader":"h2"}"#
        );
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let full = to_value(FullArtifact { fields: artifact(), artifact: artifact() }).unwrap();
        conforms(&response_schema::<FullArtifact>(), &full).unwrap();
        let applied = to_value(ArtifactUpdated::Applied { success: true, header_version: Some(2), body_version: None });
        conforms(&response_schema::<ArtifactUpdated>(), &applied.unwrap()).unwrap();
        assert!(conforms(&response_schema::<FullArtifact>(), &json!({"id": "a1"})).is_err());
    }
}
