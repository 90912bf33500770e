//! Machines (/v1/machines) and the per (session, machine) access keys (/v1/access-keys).

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
use crate::wire::access_keys::{CreateBody, KeyCreated, KeyFound, KeyUpdated, UpdateBody};
use crate::wire::machines::{Machine, MachineList, OneMachine, RegisterBody, StatusBody, StatusUpdated};
use crate::wire::{Success, VersionMismatch};

const LIST_DEFAULT: u32 = 50;
const LIST_MAX: u32 = 500;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/machines", Access::User, h!(register))
        .doc(
            "machines",
            "Register a machine, or return the caller's existing one unchanged (409: another account's id)",
        )
        .body(request_schema::<RegisterBody>)
        .returns(response_schema::<OneMachine>),
    route(Method::Get, "/v1/machines", Access::User, h!(list))
        .doc(
            "machines",
            "Machines, most recently active first: a bare array for stock Happy clients, {machines} otherwise",
        )
        .returns(response_schema::<MachineList>),
    route(Method::Get, "/v1/machines/:id", Access::User, h!(get))
        .doc("machines", "One machine")
        .returns(response_schema::<OneMachine>),
    route(Method::Put, "/v1/machines/:id/status", Access::User, h!(update_status))
        .doc("machines", "Refresh lastActiveAt; optionally set active, metadata, daemonState")
        .body(request_schema::<StatusBody>)
        .returns(response_schema::<StatusUpdated>),
    route(Method::Delete, "/v1/machines/:id", Access::User, h!(delete))
        .doc("machines", "Delete a machine and its access keys")
        .returns(response_schema::<Success>),
    route(Method::Get, "/v1/access-keys/:sessionId/:machineId", Access::User, h!(get_access_key))
        .doc("access-keys", "The access key of a session on a machine, or null")
        .returns(response_schema::<KeyFound>),
    route(Method::Post, "/v1/access-keys/:sessionId/:machineId", Access::User, h!(create_access_key))
        .doc("access-keys", "Create an access key (409 when one exists)")
        .body(request_schema::<CreateBody>)
        .returns(response_schema::<KeyCreated>),
    route(Method::Put, "/v1/access-keys/:sessionId/:machineId", Access::User, h!(update_access_key))
        .doc("access-keys", "Compare-and-set an access key")
        .body(request_schema::<UpdateBody>)
        .returns(response_schema::<KeyUpdated>),
];

async fn register(mut ctx: Ctx) -> ApiResult<Response> {
    let body: RegisterBody = ctx.json().await?;
    Text::parse("id", &body.id, MAX_ID)?;
    Text::non_empty("metadata", &body.metadata)?;
    Text::blob_opt("dataEncryptionKey", body.data_encryption_key.as_deref(), MAX_KEY)?;
    let input = NewMachine {
        id: &body.id,
        metadata: &body.metadata,
        daemon_state: body.daemon_state.as_deref(),
        data_encryption_key: body.data_encryption_key.as_deref(),
    };
    let (machine, outbox) = machines::register(&ctx.db()?, ctx.user_id()?, &input).await?;
    crate::realtime::publish(&ctx.env, &ctx.wctx, ctx.user_id()?, outbox);
    json(&OneMachine { machine: machine.into() })
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
    let items = rows.into_iter().map(Machine::from).collect();
    json(&if stock { MachineList::Bare(items) } else { MachineList::Wrapped { machines: items } })
}

async fn get(ctx: Ctx) -> ApiResult<Response> {
    let machine = machines::get(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?.ok_or_else(machines::not_found)?;
    json(&OneMachine { machine: machine.into() })
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
    json(&StatusUpdated { success: true, machine: machine.into() })
}

async fn delete(ctx: Ctx) -> ApiResult<Response> {
    let outbox = machines::delete(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?;
    crate::realtime::publish(&ctx.env, &ctx.wctx, ctx.user_id()?, outbox);
    json(&Success::TRUE)
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
        Found::Pair(key) => json(&KeyFound { access_key: key.map(Into::into) }),
        Found::NotOwned => Err(access_keys::not_found()),
    }
}

async fn create_access_key(mut ctx: Ctx) -> ApiResult<Response> {
    let body: CreateBody = ctx.json().await?;
    Text::blob("data", &body.data, MAX_ACCESS_KEY)?;
    let (sid, mid) = pair(&ctx)?;
    match access_keys::create(&ctx.db()?, ctx.user_id()?, &sid, &mid, &body.data).await? {
        Created::Created(key) => json(&KeyCreated { success: true, access_key: key.into() }),
        Created::Exists => Err(ApiError::conflict("Access key already exists")),
        Created::NotOwned => Err(access_keys::not_found()),
    }
}

async fn update_access_key(mut ctx: Ctx) -> ApiResult<Response> {
    let body: UpdateBody = ctx.json().await?;
    Text::blob("data", &body.data, MAX_ACCESS_KEY)?;
    let (sid, mid) = pair(&ctx)?;
    match access_keys::update(&ctx.db()?, ctx.user_id()?, &sid, &mid, &body.data, body.expected_version).await? {
        Updated::Applied { current } => json(&KeyUpdated::Applied { success: true, version: current.data_version }),
        // A stale version answers 200 with the current key, not 409.
        Updated::Mismatch { current } => json(&KeyUpdated::Mismatch {
            success: false,
            error: VersionMismatch::VersionMismatch,
            current_version: current.data_version,
            current_data: current.data,
        }),
        Updated::Missing => Err(ApiError::not_found("Access key not found")),
        Updated::NotOwned => Err(access_keys::not_found()),
    }
}
