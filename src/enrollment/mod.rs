//! Device enrollment: the values and rows shared by the provisioning-token, device and
//! connect-token routes. Input checks are pure and unit-tested natively.

pub mod gateway;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::request_url::is_absolute_http;
use crate::crypto::util::{hex_lower, random_bytes, random_token};
use crate::error::{ApiError, ApiResult};

/// Default and bounds of a provisioning or connect token's lifetime, in seconds. Ten minutes
/// covers the whole mobile flow; the short minimum exists for tests and smoke runs.
pub const DEFAULT_TTL_SECS: i64 = 600;
pub const MIN_TTL_SECS: i64 = 2;
pub const MAX_TTL_SECS: i64 = 3600;

/// How long a provision attempt holds its connect token while it calls the gateway; a crashed
/// attempt frees the token after this.
pub const CLAIM_LEASE_MS: i64 = 30_000;

const MAX_ENDPOINT: usize = 2048;

/// Opaque secrets carry a prefix saying what they are (logs, support): `prov_`, `ct_`, `dk_`.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", random_token())
}

/// A device's own id, distinct in shape from its uuid so a ref can be either.
pub fn new_device_id() -> String {
    format!("dev_{}", hex_lower(&random_bytes::<10>()))
}

/// A token lifetime in seconds: the default when absent, 400 outside the bounds.
pub fn ttl_secs(requested: Option<i64>) -> ApiResult<i64> {
    match requested {
        None => Ok(DEFAULT_TTL_SECS),
        Some(t) if (MIN_TTL_SECS..=MAX_TTL_SECS).contains(&t) => Ok(t),
        Some(_) => Err(ApiError::bad_request(format!("ttl must be {MIN_TTL_SECS}..{MAX_TTL_SECS} seconds"))),
    }
}

/// An http(s) URL the device talks to.
pub fn api_endpoint(value: &str) -> ApiResult<String> {
    let ok = value.len() <= MAX_ENDPOINT
        && is_absolute_http(value)
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(value.to_string())
    } else {
        Err(ApiError::bad_request("apiEndpoint must be an http(s) URL"))
    }
}

/// A ref from the path: a device uuid or deviceId, bounded so it never reaches SQL oversized.
pub fn device_ref(value: &str) -> ApiResult<&str> {
    if value.is_empty() || value.len() > 64 {
        return Err(ApiError::not_found("Device not found"));
    }
    Ok(value)
}

/// What a connect token's holder sees of it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConnectStatus {
    Pending,
    Provisioned,
    Revoked,
    Expired,
}

impl ConnectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectStatus::Pending => "pending",
            ConnectStatus::Provisioned => "provisioned",
            ConnectStatus::Revoked => "revoked",
            ConnectStatus::Expired => "expired",
        }
    }
}

/// A stored token's `state` as its holder sees it at `now`.
pub fn connect_status(state: &str, expires_at: i64, now: i64) -> ConnectStatus {
    match state {
        "provisioned" => ConnectStatus::Provisioned,
        "revoked" => ConnectStatus::Revoked,
        _ if expires_at <= now => ConnectStatus::Expired,
        _ => ConnectStatus::Pending,
    }
}

/// The peer address of host `host` in the account's pool `subnet` (one /24 per account inside
/// 10.0.0.0/8).
pub fn allowed_ip(subnet: i64, host: i64) -> String {
    format!("10.{}.{}.{host}/32", subnet >> 8, subnet & 255)
}

/// The columns of [`DeviceRow`], for every query that returns a device.
pub const DEVICE_COLUMNS: &str = "uuid, device_id, device_name, device_type, room, api_endpoint, registered_at, last_seen_at, ip_host, (SELECT subnet FROM device_address_pools p WHERE p.account_id = devices.account_id) AS subnet, public_key, peer_active, created_at, updated_at, (device_id IS NOT NULL AND api_key_hash IS NOT NULL) AS provisioned";

#[derive(Clone, Debug, Deserialize)]
pub struct DeviceRow {
    pub uuid: String,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub device_type: Option<String>,
    pub room: Option<String>,
    pub api_endpoint: Option<String>,
    pub registered_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub ip_host: Option<i64>,
    pub subnet: Option<i64>,
    pub public_key: Option<String>,
    pub peer_active: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub provisioned: i64,
}

impl DeviceRow {
    /// The device's peer address, once one was allocated.
    pub fn allowed_ip(&self) -> Option<String> {
        Some(allowed_ip(self.subnet?, self.ip_host?))
    }
}

/// The 403 of a registration over the plan's device limit.
pub fn device_limit_error(max: i64) -> ApiError {
    ApiError::forbidden("Device limit reached").with("limit", "devicesPerAccount").with("max", max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_defaults_and_bounds() {
        assert_eq!(ttl_secs(None).unwrap(), 600);
        assert_eq!(ttl_secs(Some(2)).unwrap(), 2);
        assert_eq!(ttl_secs(Some(3600)).unwrap(), 3600);
        for bad in [0, 1, -5, 3601, i64::MAX] {
            assert_eq!(ttl_secs(Some(bad)).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn endpoints_must_be_http_urls() {
        assert!(api_endpoint("https://api.example.com/v1").is_ok());
        assert!(api_endpoint("http://10.0.0.1:8080").is_ok());
        for bad in ["", "ftp://x", "https://", "https:///x", "https://a b", "javascript:alert(1)"] {
            assert!(api_endpoint(bad).is_err(), "{bad}");
        }
        assert!(api_endpoint(&format!("https://{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn connect_status_derives_expiry() {
        assert_eq!(connect_status("pending", 1000, 999).as_str(), "pending");
        assert_eq!(connect_status("pending", 1000, 1000).as_str(), "expired");
        assert_eq!(connect_status("provisioned", 1000, 5000).as_str(), "provisioned");
        assert_eq!(connect_status("revoked", 1000, 5).as_str(), "revoked");
    }

    #[test]
    fn addresses_come_from_the_account_subnet() {
        assert_eq!(allowed_ip(1, 2), "10.0.1.2/32");
        assert_eq!(allowed_ip(258, 254), "10.1.2.254/32");
    }

    #[test]
    fn secrets_and_ids_have_their_shapes() {
        let t = new_secret("prov_");
        assert!(t.starts_with("prov_") && t.len() == 5 + 43);
        assert!(t[5..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let id = new_device_id();
        assert_eq!(id.len(), 24);
        assert_ne!(id, new_device_id());
        assert_eq!(device_ref("").unwrap_err().status, 404);
        assert_eq!(device_ref(&"x".repeat(65)).unwrap_err().status, 404);
    }
}
