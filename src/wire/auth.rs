//! Sign-in and pairing bodies (/v1/auth/*).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// POST /v1/auth: a challenge signed with the account's Ed25519 key, all three base64.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginBody {
    pub public_key: String,
    pub challenge: String,
    pub signature: String,
}

/// POST /v1/auth: the account's token.
#[derive(Serialize, JsonSchema)]
pub struct Login {
    pub success: bool,
    pub token: String,
}

/// POST /v1/auth/request and /v1/auth/account/request: the requester's box public key.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairingBody {
    pub public_key: String,
    pub supports_v2: Option<bool>,
}

/// Where a pairing request stands, as its requester polls it.
#[derive(Serialize, JsonSchema)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum PairingState {
    Requested,
    /// Approved: a token for the approving account and its opaque box for the requester.
    Authorized {
        token: String,
        response: String,
    },
}

/// GET /v1/auth/request/status.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairingStatus {
    pub status: PairingProgress,
    pub supports_v2: bool,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PairingProgress {
    NotFound,
    Pending,
    Authorized,
}

/// POST /v1/auth/response and /v1/auth/account/response: the approver's box for the requester.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseBody {
    pub public_key: String,
    pub response: String,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, request_schema, response_schema};

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let login = Login { success: true, token: "t".into() };
        assert_eq!(to_string(&login).unwrap(), json!({"success": true, "token": "t"}).to_string());
        assert_eq!(to_string(&PairingState::Requested).unwrap(), json!({"state": "requested"}).to_string());
        let authorized = PairingState::Authorized { token: "t".into(), response: "r".into() };
        assert_eq!(
            to_string(&authorized).unwrap(),
            json!({"state": "authorized", "token": "t", "response": "r"}).to_string()
        );
        for (progress, name, v2) in [
            (PairingProgress::NotFound, "not_found", false),
            (PairingProgress::Pending, "pending", true),
            (PairingProgress::Authorized, "authorized", false),
        ] {
            assert_eq!(
                to_string(&PairingStatus { status: progress, supports_v2: v2 }).unwrap(),
                json!({"status": name, "supportsV2": v2}).to_string()
            );
        }
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        let states = [PairingState::Requested, PairingState::Authorized { token: "t".into(), response: "r".into() }];
        for state in states {
            conforms(&response_schema::<PairingState>(), &to_value(state).unwrap()).unwrap();
        }
        assert!(conforms(&response_schema::<PairingState>(), &json!({"state": "authorized"})).is_err());
        let status = PairingStatus { status: PairingProgress::Pending, supports_v2: false };
        conforms(&response_schema::<PairingStatus>(), &to_value(status).unwrap()).unwrap();
        conforms(&request_schema::<PairingBody>(), &json!({"publicKey": "k"})).unwrap();
        assert!(conforms(&request_schema::<LoginBody>(), &json!({"publicKey": "k"})).is_err());
    }
}
