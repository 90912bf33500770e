//! Device enrollment: provisioning tokens (the app asks for one, the device registers with it),
//! the owner's device management, and the device's own calls with its API key.

use worker::{Method, Response};

use crate::app::ctx::{parse_json, Ctx, MAX_JSON_BODY};
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::config::now_ms;
use crate::crypto::util::{sha256_hex, uuid_v4};
use crate::db::devices::{self, DevicePatch, EnrollmentToken, Refreshed, Registered, Registration};
use crate::db::Db;
use crate::domain::text::DisplayText;
use crate::domain::time::iso8601;
use crate::enrollment::gateway::Gateway;
use crate::enrollment::{api_endpoint, device_limit_error, device_ref, new_device_id, new_secret, ttl_secs, DeviceRow};
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::wire::devices::{
    self as wire, Device, DeviceList, Heartbeat, PatchBody, Provisioned, ProvisioningToken, ProvisioningTokenBody,
    RegisterBody,
};
use crate::wire::Success;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/provisioning/token", Access::User, h!(provisioning_token))
        .doc("devices", "Start (or refresh, with nodeId) a device enrollment")
        .body(request_schema::<ProvisioningTokenBody>)
        .returns(response_schema::<ProvisioningToken>),
    // Before the `:ref` routes: the first match in table order wins.
    route(Method::Post, "/v1/devices/register", Access::Public, h!(register))
        .doc("devices", "A device registers with its single-use provisioning token")
        .body(request_schema::<RegisterBody>)
        .returns(response_schema::<wire::Registered>),
    route(Method::Get, "/v1/devices", Access::User, h!(list_devices))
        .doc("devices", "The account's devices")
        .returns(response_schema::<DeviceList>),
    route(Method::Get, "/v1/devices/:ref", Access::User, h!(get_device))
        .doc("devices", "A device by uuid or deviceId")
        .returns(response_schema::<Device>),
    route(Method::Patch, "/v1/devices/:ref", Access::User, h!(patch_device))
        .doc("devices", "Rename a device or set its API endpoint (null clears)")
        .body(request_schema::<PatchBody>)
        .returns(response_schema::<Device>),
    route(Method::Get, "/v1/devices/:ref/provisioned", Access::User, h!(device_provisioned))
        .doc("devices", "Whether a device is provisioned")
        .returns(response_schema::<Provisioned>),
    route(Method::Post, "/v1/devices/:ref/reset", Access::User, h!(reset_device))
        .doc("devices", "Unprovision a device: clears its deviceId, API key and peer, keeps its uuid")
        .returns(response_schema::<Device>),
    route(Method::Delete, "/v1/devices/:ref", Access::User, h!(delete_device))
        .doc("devices", "Delete a device (and its gateway peer)")
        .returns(response_schema::<Success>),
    route(Method::Get, "/v1/device", Access::Device, h!(device_self))
        .doc("devices", "The calling device's own record (device API key)")
        .returns(response_schema::<Device>),
    route(Method::Post, "/v1/device/heartbeat", Access::Device, h!(heartbeat))
        .doc("devices", "The calling device reports it is alive (device API key)")
        .returns(response_schema::<Heartbeat>),
];

async fn provisioning_token(mut ctx: Ctx) -> ApiResult<Response> {
    // An empty body is `{}`: curl users start an enrollment with no options.
    let bytes = ctx.body_bytes(MAX_JSON_BODY).await?;
    let body: ProvisioningTokenBody =
        if bytes.is_empty() { ProvisioningTokenBody::default() } else { parse_json(&bytes)? };
    let ttl = ttl_secs(body.ttl)?;
    let name = DisplayText::parse_opt("name", body.name.as_deref())?.map(String::from);
    let room = DisplayText::parse_opt("room", body.room.as_deref())?.map(String::from);
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let token = new_secret("prov_");
    let now = now_ms();
    let expires_at = now + ttl * 1000;
    let hash = sha256_hex(token.as_bytes());
    let stored = EnrollmentToken { token_hash: &hash, name: name.as_deref(), room: room.as_deref(), expires_at, now };

    let node_id = match body.node_id {
        None => {
            let node_id = uuid_v4();
            if !devices::start_enrollment(&db, &user, &node_id, &stored).await? {
                return Err(
                    ApiError::forbidden("Too many pending enrollments").with("max", devices::MAX_PENDING_ENROLLMENTS)
                );
            }
            node_id
        }
        Some(node_id) => match devices::refresh_enrollment(&db, &user, &node_id, &stored).await? {
            Refreshed::Pending => node_id,
            Refreshed::Provisioned => return Err(ApiError::conflict("Device is already provisioned; reset it first")),
            Refreshed::Missing => return Err(ApiError::not_found("Enrollment not found")),
        },
    };
    json(&ProvisioningToken { token, node_id, expires_at: iso8601(expires_at), expires_in: ttl })
}

async fn register(mut ctx: Ctx) -> ApiResult<Response> {
    let body: RegisterBody = ctx.json().await?;
    let name = DisplayText::parse_opt("deviceName", body.device_name.as_deref())?.map(String::from);
    let kind = DisplayText::parse_opt("deviceType", body.device_type.as_deref())?.map(String::from);
    if body.node_id.is_empty() || body.node_id.len() > 64 || body.provisioning_token.len() > 256 {
        return Err(invalid_provisioning_token());
    }
    let db = ctx.db()?;
    let token_hash = sha256_hex(body.provisioning_token.as_bytes());
    let (api_key, device_id) = (new_secret("dk_"), new_device_id());
    let key_hash = sha256_hex(api_key.as_bytes());
    let registration = Registration {
        node_id: &body.node_id,
        token_hash: &token_hash,
        device_id: &device_id,
        name: name.as_deref(),
        kind: kind.as_deref(),
        key_hash: &key_hash,
    };
    match devices::register(&db, &registration).await? {
        Registered::Device(device) => json(&wire::Registered { device: Device::from(*device), api_key, peer: None }),
        Registered::InvalidToken => Err(invalid_provisioning_token()),
        Registered::Expired => Err(ApiError::unauthorized("Provisioning token expired")),
        Registered::Provisioned => Err(ApiError::conflict("Device is already provisioned")),
        Registered::OverLimit { limit } => Err(device_limit_error(limit)),
    }
}

fn invalid_provisioning_token() -> ApiError {
    ApiError::unauthorized("Invalid provisioning token")
}

/// The owner's device by uuid or deviceId; another account's ref is 404.
async fn owned_device(db: &Db, user: &str, reference: &str) -> ApiResult<DeviceRow> {
    devices::owned(db, user, device_ref(reference)?).await?.ok_or_else(device_not_found)
}

fn device_not_found() -> ApiError {
    ApiError::not_found("Device not found")
}

async fn list_devices(ctx: Ctx) -> ApiResult<Response> {
    let rows = devices::list(&ctx.db()?, ctx.user_id()?).await?;
    json(&DeviceList { devices: rows.into_iter().map(Device::from).collect() })
}

async fn get_device(ctx: Ctx) -> ApiResult<Response> {
    let device = owned_device(&ctx.db()?, ctx.user_id()?, ctx.param("ref")).await?;
    json(&Device::from(device))
}

async fn device_provisioned(ctx: Ctx) -> ApiResult<Response> {
    let device = owned_device(&ctx.db()?, ctx.user_id()?, ctx.param("ref")).await?;
    json(&Provisioned { provisioned: device.provisioned != 0 })
}

async fn patch_device(mut ctx: Ctx) -> ApiResult<Response> {
    let body: PatchBody = ctx.json().await?;
    let name = body.device_name.map(|n| DisplayText::parse_opt("deviceName", n.as_deref())).transpose()?;
    let name = name.map(|n| n.map(String::from));
    let endpoint = body.api_endpoint.map(|e| e.as_deref().map(api_endpoint).transpose()).transpose()?;
    let reference = device_ref(ctx.param("ref"))?;
    let patch = DevicePatch { name, api_endpoint: endpoint };
    let device = devices::update(&ctx.db()?, ctx.user_id()?, reference, patch).await?.ok_or_else(device_not_found)?;
    json(&Device::from(device))
}

/// Takes a device's peer off the gateway before the row forgets it, so no active peer outlives
/// its device; 502 (and no change) when the gateway does not confirm.
async fn remove_peer(ctx: &Ctx, device: &DeviceRow) -> ApiResult<()> {
    if device.peer_active == 0 {
        return Ok(());
    }
    let gateway = Gateway::optional(&ctx.env).ok_or_else(|| ApiError::new(503, "Gateway not configured"))?;
    gateway.remove(&device.uuid).await.map_err(|e| {
        worker::console_error!("gateway remove {}: {e}", device.uuid);
        ApiError::new(502, "Gateway failed to remove the peer")
    })
}

async fn reset_device(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let device = owned_device(&db, &user, ctx.param("ref")).await?;
    remove_peer(&ctx, &device).await?;
    let device = devices::reset(&db, &user, &device.uuid).await?.ok_or_else(device_not_found)?;
    json(&Device::from(device))
}

async fn delete_device(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let device = owned_device(&db, &user, ctx.param("ref")).await?;
    remove_peer(&ctx, &device).await?;
    devices::delete(&db, &user, &device.uuid).await?;
    json(&Success::TRUE)
}

fn invalid_device_key() -> ApiError {
    ApiError::unauthorized("Invalid device API key")
}

async fn device_self(ctx: Ctx) -> ApiResult<Response> {
    let device = devices::by_uuid(&ctx.db()?, &ctx.device()?.uuid).await?.ok_or_else(invalid_device_key)?;
    json(&Device::from(device))
}

async fn heartbeat(ctx: Ctx) -> ApiResult<Response> {
    let last_seen_at = devices::heartbeat(&ctx.db()?, &ctx.device()?.uuid).await?.ok_or_else(invalid_device_key)?;
    json(&Heartbeat { success: true, last_seen_at })
}
