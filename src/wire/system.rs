//! The server's own bodies: GET /, GET /health, POST /v1/version and the debug log sink.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// GET /.
#[derive(Serialize, JsonSchema)]
pub struct Welcome {
    pub message: &'static str,
    pub version: &'static str,
}

/// GET /health: 200 when D1 answers, else 503 with the same shape.
#[derive(Serialize, JsonSchema)]
pub struct Health {
    pub status: HealthStatus,
    pub timestamp: String,
    pub service: &'static str,
    pub database: DatabaseStatus,
}

#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Error,
}

#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseStatus {
    Ok,
    Unreachable,
}

/// POST /v1/version: the app's platform and build (the stock app also sends `app_id`, unread).
#[derive(Deserialize, JsonSchema)]
pub struct VersionBody {
    pub platform: String,
    pub version: String,
}

/// POST /v1/version: where to update, or null when the build is recent enough.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUrl {
    pub update_url: Option<String>,
}

/// The debug log sink's line: only `message` is required.
#[derive(Deserialize, JsonSchema)]
pub struct LogBody {
    pub message: String,
    pub level: Option<String>,
    pub source: Option<String>,
    pub platform: Option<String>,
    pub timestamp: Option<String>,
    #[serde(rename = "messageRawObject")]
    pub raw: Option<Value>,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, request_schema, response_schema};

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let welcome = Welcome { message: "Welcome to Happy Server!", version: "1.0" };
        assert_eq!(
            to_string(&welcome).unwrap(),
            json!({"message": "Welcome to Happy Server!", "version": "1.0"}).to_string()
        );
        let health = Health {
            status: HealthStatus::Error,
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            service: "happy-server",
            database: DatabaseStatus::Unreachable,
        };
        assert_eq!(
            to_string(&health).unwrap(),
            json!({"status": "error", "timestamp": "2026-01-01T00:00:00.000Z", "service": "happy-server",
                "database": "unreachable"})
            .to_string()
        );
        assert_eq!(to_string(&UpdateUrl { update_url: None }).unwrap(), json!({"updateUrl": null}).to_string());
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let health = Health {
            status: HealthStatus::Ok,
            timestamp: "t".into(),
            service: "happy-server",
            database: DatabaseStatus::Ok,
        };
        conforms(&response_schema::<Health>(), &to_value(health).unwrap()).unwrap();
        conforms(&response_schema::<UpdateUrl>(), &json!({"updateUrl": "https://x"})).unwrap();
        conforms(&request_schema::<LogBody>(), &json!({"message": "m", "messageRawObject": {"a": [1]}})).unwrap();
        assert!(conforms(&request_schema::<VersionBody>(), &json!({"platform": "ios"})).is_err());
    }
}
