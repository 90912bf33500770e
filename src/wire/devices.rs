//! Device enrollment's bodies: provisioning tokens, devices and their own calls
//! (/v1/provisioning, /v1/devices, /v1/device), and the one-time connect tokens (/v1/connect-tokens,
//! /v1/connect/:token).

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::enrollment::{ConnectStatus, DeviceRow};

/// A device as clients see it. Times are ms since the epoch, as elsewhere in the API.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub uuid: String,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub device_type: Option<String>,
    pub room: Option<String>,
    pub api_endpoint: Option<String>,
    pub provisioned: bool,
    pub registered_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub allowed_ip: Option<String>,
    pub public_key: Option<String>,
    pub peer_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<DeviceRow> for Device {
    fn from(r: DeviceRow) -> Self {
        let allowed_ip = r.allowed_ip();
        Device {
            uuid: r.uuid,
            device_id: r.device_id,
            device_name: r.device_name,
            device_type: r.device_type,
            room: r.room,
            api_endpoint: r.api_endpoint,
            provisioned: r.provisioned != 0,
            registered_at: r.registered_at,
            last_seen_at: r.last_seen_at,
            allowed_ip,
            public_key: r.public_key,
            peer_active: r.peer_active != 0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// POST /v1/provisioning/token; an empty body is `{}`. `nodeId` refreshes a pending enrollment.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisioningTokenBody {
    pub name: Option<String>,
    pub room: Option<String>,
    pub node_id: Option<String>,
    pub ttl: Option<i64>,
}

/// POST /v1/provisioning/token: the single-use token the device registers with.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningToken {
    pub token: String,
    pub node_id: String,
    pub expires_at: String,
    pub expires_in: i64,
}

/// POST /v1/devices/register.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    pub node_id: String,
    pub provisioning_token: String,
    pub device_name: Option<String>,
    pub device_type: Option<String>,
}

/// A newly provisioned device and its API key (shown once); a connect token's provision adds
/// its WireGuard peer.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    pub device: Device,
    pub api_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<Peer>,
}

/// The device's WireGuard peer on the gateway.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    pub allowed_ip: String,
    pub gateway_public_key: String,
    pub endpoint: String,
}

/// GET /v1/devices.
#[derive(Serialize, JsonSchema)]
pub struct DeviceList {
    pub devices: Vec<Device>,
}

/// Absent leaves a field alone; `null` clears it.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// PATCH /v1/devices/:ref.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub device_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub api_endpoint: Option<Option<String>>,
}

/// GET /v1/devices/:ref/provisioned.
#[derive(Serialize, JsonSchema)]
pub struct Provisioned {
    pub provisioned: bool,
}

/// POST /v1/device/heartbeat.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    pub success: bool,
    pub last_seen_at: i64,
}

/// POST /v1/connect-tokens; an empty body is `{}`.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectTokenBody {
    pub device_name: Option<String>,
    pub ttl: Option<i64>,
}

/// POST /v1/connect-tokens: the token, shown once.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectToken {
    pub token: String,
    pub expires_at: String,
    pub expires_in: i64,
}

/// GET /v1/connect/:token/status.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectTokenStatus {
    pub status: ConnectStatus,
    pub expires_at: String,
}

/// POST /v1/connect/:token/provision: the phone's WireGuard public key.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionBody {
    pub public_key: String,
    pub device_name: Option<String>,
}

/// POST /v1/connect/:token/revoke.
#[derive(Serialize, JsonSchema)]
pub struct ConnectTokenRevoked {
    pub success: bool,
    pub status: ConnectStatus,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, request_schema, response_schema};

    fn device() -> Device {
        Device {
            uuid: "u".into(),
            device_id: Some("dev_1".into()),
            device_name: None,
            device_type: Some("pi".into()),
            room: None,
            api_endpoint: None,
            provisioned: true,
            registered_at: Some(3),
            last_seen_at: None,
            allowed_ip: Some("10.0.1.2/32".into()),
            public_key: None,
            peer_active: false,
            created_at: 1,
            updated_at: 2,
        }
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let device_json = json!({"uuid": "u", "deviceId": "dev_1", "deviceName": null, "deviceType": "pi",
            "room": null, "apiEndpoint": null, "provisioned": true, "registeredAt": 3, "lastSeenAt": null,
            "allowedIp": "10.0.1.2/32", "publicKey": null, "peerActive": false, "createdAt": 1, "updatedAt": 2});
        assert_eq!(
            to_string(&Registered { device: device(), api_key: "dk_1".into(), peer: None }).unwrap(),
            json!({"device": device_json, "apiKey": "dk_1"}).to_string()
        );
        let peer = Peer { allowed_ip: "10.0.1.2/32".into(), gateway_public_key: "g".into(), endpoint: "e:1".into() };
        assert_eq!(
            to_string(&Registered { device: device(), api_key: "dk_1".into(), peer: Some(peer) }).unwrap(),
            json!({"device": device_json, "apiKey": "dk_1",
                "peer": {"allowedIp": "10.0.1.2/32", "gatewayPublicKey": "g", "endpoint": "e:1"}})
            .to_string()
        );
        let token =
            ProvisioningToken { token: "t".into(), node_id: "n".into(), expires_at: "x".into(), expires_in: 600 };
        assert_eq!(
            to_string(&token).unwrap(),
            json!({"token": "t", "nodeId": "n", "expiresAt": "x", "expiresIn": 600}).to_string()
        );
        assert_eq!(
            to_string(&DeviceList { devices: vec![device()] }).unwrap(),
            json!({"devices": [device_json]}).to_string()
        );
        assert_eq!(to_string(&Provisioned { provisioned: false }).unwrap(), r#"{"provisioned":false}"#);
        assert_eq!(
            to_string(&Heartbeat { success: true, last_seen_at: 9 }).unwrap(),
            json!({"success": true, "lastSeenAt": 9}).to_string()
        );
        let connect = ConnectToken { token: "ct_1".into(), expires_at: "x".into(), expires_in: 60 };
        assert_eq!(
            to_string(&connect).unwrap(),
            json!({"token": "ct_1", "expiresAt": "x", "expiresIn": 60}).to_string()
        );
        let status = ConnectTokenStatus { status: ConnectStatus::Expired, expires_at: "x".into() };
        assert_eq!(to_string(&status).unwrap(), json!({"status": "expired", "expiresAt": "x"}).to_string());
        let revoked = ConnectTokenRevoked { success: true, status: ConnectStatus::Revoked };
        assert_eq!(to_string(&revoked).unwrap(), json!({"success": true, "status": "revoked"}).to_string());
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        conforms(&response_schema::<Device>(), &to_value(device()).unwrap()).unwrap();
        let registered = Registered { device: device(), api_key: "k".into(), peer: None };
        conforms(&response_schema::<Registered>(), &to_value(registered).unwrap()).unwrap();
        conforms(&request_schema::<PatchBody>(), &json!({"deviceName": null})).unwrap();
        conforms(&request_schema::<PatchBody>(), &json!({"apiEndpoint": "https://x"})).unwrap();
        assert!(conforms(&request_schema::<PatchBody>(), &json!({"deviceName": 5})).is_err());
        assert!(conforms(&request_schema::<RegisterBody>(), &json!({"nodeId": "n"})).is_err());
    }

    #[test]
    fn patch_tells_absent_from_null() {
        let patch: PatchBody = serde_json::from_value(json!({"deviceName": null})).unwrap();
        assert_eq!((patch.device_name, patch.api_endpoint), (Some(None), None));
    }
}
