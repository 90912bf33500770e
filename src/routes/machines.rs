//! Machines (/v1/machines) and the per (session, machine) access keys (/v1/access-keys).

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Method, Response};

use crate::app::client::is_stock_client;
use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::db::access_keys::{self, Created, Found, Updated};
use crate::db::machines::{self, NewMachine, StatusChange};
use crate::domain::fields::{MAX_ACCESS_KEY, MAX_ID, MAX_KEY};
use crate::domain::limit::Limit;
use crate::domain::text::Text;
use crate::error::{ApiError, ApiResult};
use crate::h;

const LIST_DEFAULT: u32 = 50;
const LIST_MAX: u32 = 500;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/machines", Access::User, h!(register))
        .doc(
            "machines",
            "Register a machine, or return the caller's existing one unchanged (409: another account's id)",
        )
        .body(register_body)
        .returns(machine_wrapper),
    route(Method::Get, "/v1/machines", Access::User, h!(list))
        .doc(
            "machines",
            "Machines, most recently active first: a bare array for stock Happy clients, {machines} otherwise",
        )
        .returns(machine_list),
    route(Method::Get, "/v1/machines/:id", Access::User, h!(get))
        .doc("machines", "One machine")
        .returns(machine_wrapper),
    route(Method::Put, "/v1/machines/:id/status", Access::User, h!(update_status))
        .doc("machines", "Refresh lastActiveAt; optionally set active, metadata, daemonState")
        .body(status_body)
        .returns(status_response),
    route(Method::Delete, "/v1/machines/:id", Access::User, h!(delete))
        .doc("machines", "Delete a machine and its access keys")
        .returns(success),
    route(Method::Get, "/v1/access-keys/:sessionId/:machineId", Access::User, h!(get_access_key))
        .doc("access-keys", "The access key of a session on a machine, or null")
        .returns(access_key_get),
    route(Method::Post, "/v1/access-keys/:sessionId/:machineId", Access::User, h!(create_access_key))
        .doc("access-keys", "Create an access key (409 when one exists)")
        .body(access_key_create_body)
        .returns(access_key_create_response),
    route(Method::Put, "/v1/access-keys/:sessionId/:machineId", Access::User, h!(update_access_key))
        .doc("access-keys", "Compare-and-set an access key")
        .body(access_key_update_body)
        .returns(access_key_update_response),
];

fn machine_schema() -> Value {
    object(&[
        ("id", string()),
        ("accountId", string()),
        ("metadata", string()),
        ("metadataVersion", integer()),
        ("daemonState", nullable(string())),
        ("daemonStateVersion", integer()),
        ("dataEncryptionKey", nullable(string())),
        ("seq", integer()),
        ("active", boolean()),
        ("activeAt", integer()),
        ("lastActiveAt", integer()),
        ("createdAt", integer()),
        ("updatedAt", integer()),
    ])
}
fn machine_wrapper() -> Value {
    object(&[("machine", machine_schema())])
}
fn machine_list() -> Value {
    one_of(vec![array(machine_schema()), object(&[("machines", array(machine_schema()))])])
}
fn register_body() -> Value {
    object(&[
        ("id", string()),
        ("metadata", string()),
        ("daemonState?", nullable(string())),
        ("dataEncryptionKey?", nullable(string())),
    ])
}
fn status_body() -> Value {
    object(&[("active?", boolean()), ("metadata?", string()), ("daemonState?", string())])
}
fn status_response() -> Value {
    object(&[("success", boolean()), ("machine", machine_schema())])
}
fn access_key_schema() -> Value {
    object(&[("data", string()), ("dataVersion", integer()), ("createdAt", integer()), ("updatedAt", integer())])
}
fn access_key_get() -> Value {
    object(&[("accessKey", nullable(access_key_schema()))])
}
fn access_key_create_body() -> Value {
    object(&[("data", string())])
}
fn access_key_create_response() -> Value {
    object(&[("success", boolean()), ("accessKey", access_key_schema())])
}
fn access_key_update_body() -> Value {
    object(&[("data", string()), ("expectedVersion", integer())])
}
fn access_key_update_response() -> Value {
    one_of(vec![
        object(&[("success", boolean()), ("version", integer())]),
        object(&[
            ("success", boolean()),
            ("error", enumeration(&["version-mismatch"])),
            ("currentVersion", integer()),
            ("currentData", string()),
        ]),
    ])
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterBody {
    id: String,
    metadata: String,
    daemon_state: Option<String>,
    data_encryption_key: Option<String>,
}

async fn register(mut ctx: Ctx) -> ApiResult<Response> {
    let body: RegisterBody = ctx.json().await?;
    Text::parse("id", &body.id, MAX_ID)?;
    Text::non_empty("metadata", &body.metadata)?;
    Text::parse_opt("dataEncryptionKey", body.data_encryption_key.as_deref(), MAX_KEY)?;
    let input = NewMachine {
        id: &body.id,
        metadata: &body.metadata,
        daemon_state: body.daemon_state.as_deref(),
        data_encryption_key: body.data_encryption_key.as_deref(),
    };
    let (machine, outbox) = machines::register(&ctx.db()?, ctx.user_id()?, &input).await?;
    crate::realtime::publish(&ctx.env, &ctx.wctx, ctx.user_id()?, outbox);
    json(&json!({"machine": machine.wire()}))
}

fn flag(name: &str, value: Option<String>) -> ApiResult<bool> {
    match value.as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be true or false"))),
    }
}

/// docs/compatibility.md C4: the app iterates the body as an array; seed clients get `{machines}`.
async fn list(ctx: Ctx) -> ApiResult<Response> {
    let stock = is_stock_client(&ctx);
    // The app sends no limit and expects every machine.
    let default = if stock { LIST_MAX } else { LIST_DEFAULT };
    let limit = Limit::parse(ctx.query("limit").as_deref(), default, LIST_MAX)?.get();
    let active_only = flag("activeOnly", ctx.query("activeOnly"))?;
    let rows = machines::list(&ctx.db()?, ctx.user_id()?, limit, active_only).await?;
    let items: Vec<Value> = rows.iter().map(machines::MachineRow::wire).collect();
    if stock {
        json(&items)
    } else {
        json(&json!({"machines": items}))
    }
}

async fn get(ctx: Ctx) -> ApiResult<Response> {
    let machine = machines::get(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?.ok_or_else(machines::not_found)?;
    json(&json!({"machine": machine.wire()}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    active: Option<bool>,
    metadata: Option<String>,
    daemon_state: Option<String>,
}

async fn update_status(mut ctx: Ctx) -> ApiResult<Response> {
    let body: StatusBody = ctx.json().await?;
    if let Some(m) = &body.metadata {
        Text::non_empty("metadata", m)?;
    }
    if let Some(d) = &body.daemon_state {
        Text::non_empty("daemonState", d)?;
    }
    let change = StatusChange {
        active: body.active,
        metadata: body.metadata.as_deref(),
        daemon_state: body.daemon_state.as_deref(),
    };
    let (machine, outbox) = machines::update_status(&ctx.db()?, ctx.user_id()?, ctx.param("id"), &change).await?;
    crate::realtime::publish(&ctx.env, &ctx.wctx, ctx.user_id()?, outbox);
    json(&json!({"success": true, "machine": machine.wire()}))
}

async fn delete(ctx: Ctx) -> ApiResult<Response> {
    let outbox = machines::delete(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?;
    crate::realtime::publish(&ctx.env, &ctx.wctx, ctx.user_id()?, outbox);
    json(&json!({"success": true}))
}

/// Path ids longer than any stored id name nothing.
fn pair(ctx: &Ctx) -> ApiResult<(String, String)> {
    let (sid, mid) = (ctx.param("sessionId"), ctx.param("machineId"));
    if sid.len() > MAX_ID || mid.len() > MAX_ID {
        return Err(access_keys::not_found());
    }
    Ok((sid.to_string(), mid.to_string()))
}

async fn get_access_key(ctx: Ctx) -> ApiResult<Response> {
    let (sid, mid) = pair(&ctx)?;
    match access_keys::get(&ctx.db()?, ctx.user_id()?, &sid, &mid).await? {
        Found::Pair(key) => json(&json!({"accessKey": key})),
        Found::NotOwned => Err(access_keys::not_found()),
    }
}

#[derive(Deserialize)]
struct CreateKeyBody {
    data: String,
}

async fn create_access_key(mut ctx: Ctx) -> ApiResult<Response> {
    let body: CreateKeyBody = ctx.json().await?;
    Text::parse("data", &body.data, MAX_ACCESS_KEY)?;
    let (sid, mid) = pair(&ctx)?;
    match access_keys::create(&ctx.db()?, ctx.user_id()?, &sid, &mid, &body.data).await? {
        Created::Created(key) => json(&json!({"success": true, "accessKey": key})),
        Created::Exists => Err(ApiError::conflict("Access key already exists")),
        Created::NotOwned => Err(access_keys::not_found()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateKeyBody {
    data: String,
    expected_version: i64,
}

async fn update_access_key(mut ctx: Ctx) -> ApiResult<Response> {
    let body: UpdateKeyBody = ctx.json().await?;
    Text::parse("data", &body.data, MAX_ACCESS_KEY)?;
    let (sid, mid) = pair(&ctx)?;
    match access_keys::update(&ctx.db()?, ctx.user_id()?, &sid, &mid, &body.data, body.expected_version).await? {
        Updated::Applied { current } => json(&json!({"success": true, "version": current.data_version})),
        // A stale version answers 200 with the current key, not 409.
        Updated::Mismatch { current } => json(&json!({
            "success": false,
            "error": "version-mismatch",
            "currentVersion": current.data_version,
            "currentData": current.data,
        })),
        Updated::Missing => Err(ApiError::not_found("Access key not found")),
        Updated::NotOwned => Err(access_keys::not_found()),
    }
}
