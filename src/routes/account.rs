//! The caller's own account: profile, profile edits, and the encrypted settings blob (one row,
//! one version counter, served under both `/v1/account/settings` and `/v1/account/preferences`).

use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::config::now_ms;
use crate::db::accounts::{self, AccountRow, ProfileChange};
use crate::db::vendor_tokens::connected_services;
use crate::db::versioned::Outcome;
use crate::db::Db;
use crate::domain::text::{payload, Text};
use crate::error::{ApiError, ApiResult};
use crate::events::account::{profile_changed, settings_changed};
use crate::events::{Outbox, Recipients};
use crate::h;
use crate::realtime::publish;
use crate::wire::account::{Profile, ProfileEdit, ProfileEdited, Settings, SettingsWrite, SettingsWritten};
use crate::wire::VersionMismatch;

const MAX_SETTINGS_BYTES: usize = 512 * 1024;
pub const MAX_NAME_CHARS: usize = 64;
const MAX_USERNAME_CHARS: usize = 32;

pub const ROUTES: &[Route] = &[
    route(Method::Get, "/v1/account", Access::User, h!(get_account))
        .doc("account", "The caller's profile")
        .returns(response_schema::<Profile>),
    route(Method::Put, "/v1/account", Access::User, h!(put_account))
        .doc("account", "Edit first name, last name, username (409 username-taken)")
        .body(request_schema::<ProfileEdit>)
        .returns(response_schema::<ProfileEdited>),
    route(Method::Get, "/v1/account/profile", Access::User, h!(get_account))
        .doc("account", "The caller's profile (as the app reads it)")
        .returns(response_schema::<Profile>),
    route(Method::Get, "/v1/account/settings", Access::User, h!(get_settings))
        .doc("account", "Encrypted account settings and their version")
        .returns(response_schema::<Settings>),
    route(Method::Post, "/v1/account/settings", Access::User, h!(set_settings))
        .doc("account", "Compare-and-set the settings")
        .body(request_schema::<SettingsWrite>)
        .returns(response_schema::<SettingsWritten>),
    route(Method::Get, "/v1/account/preferences", Access::User, h!(get_settings))
        .doc("account", "Alias of GET /v1/account/settings")
        .returns(response_schema::<Settings>),
    route(Method::Put, "/v1/account/preferences", Access::User, h!(set_settings))
        .doc("account", "Alias of POST /v1/account/settings")
        .body(request_schema::<SettingsWrite>)
        .returns(response_schema::<SettingsWritten>),
];

async fn profile(db: &Db, row: AccountRow) -> ApiResult<Profile> {
    let services = connected_services(db, &row.id).await?;
    Ok(Profile::new(row, services, now_ms()))
}

async fn get_account(ctx: Ctx) -> ApiResult<Response> {
    let db = ctx.db()?;
    let row = accounts::get(&db, ctx.user_id()?).await?.ok_or_else(|| ApiError::not_found("Account not found"))?;
    json(&profile(&db, row).await?)
}

pub fn check_username(u: &str) -> ApiResult<()> {
    Text::parse("username", u, MAX_USERNAME_CHARS)?;
    if !u.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
        return Err(ApiError::bad_request("username may hold letters, digits, '_', '-' and '.' only"));
    }
    Ok(())
}

async fn put_account(mut ctx: Ctx) -> ApiResult<Response> {
    let edit: ProfileEdit = ctx.json().await?;
    for (name, v) in [("firstName", &edit.first_name), ("lastName", &edit.last_name)] {
        if let Some(Some(s)) = v {
            Text::parse(name, s, MAX_NAME_CHARS)?;
        }
    }
    if let Some(Some(u)) = &edit.username {
        check_username(u)?;
    }
    if edit.first_name.is_none() && edit.last_name.is_none() && edit.username.is_none() {
        return Err(ApiError::bad_request("Nothing to update: send firstName, lastName and/or username"));
    }
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let change = ProfileChange { first_name: &edit.first_name, last_name: &edit.last_name, username: &edit.username };
    let (seq, row) = accounts::edit_profile(&db, &user, &change)
        .await?
        .ok_or_else(|| ApiError::conflict("username-taken").with("success", false))?;
    publish(&ctx.env, &ctx.wctx, &user, Outbox::default().update(seq, profile_changed(&user, &edit), Recipients::User));
    json(&ProfileEdited { success: true, profile: profile(&db, row).await? })
}

async fn get_settings(ctx: Ctx) -> ApiResult<Response> {
    let settings = accounts::settings(&ctx.db()?, ctx.user_id()?)
        .await?
        .ok_or_else(|| ApiError::not_found("Account not found"))?;
    json(&Settings::from(settings))
}

async fn set_settings(mut ctx: Ctx) -> ApiResult<Response> {
    let body: SettingsWrite = ctx.json().await?;
    if body.expected_version < 0 {
        return Err(ApiError::bad_request("expectedVersion must be >= 0"));
    }
    if let Some(s) = &body.settings {
        payload("settings", s, MAX_SETTINGS_BYTES)?;
    }
    let user = ctx.user_id()?.to_string();
    match accounts::set_settings(&ctx.db()?, &user, body.settings.as_deref(), body.expected_version).await? {
        Outcome::Applied { seq, current } => {
            let event = settings_changed(&user, current.value.as_deref(), current.version);
            publish(&ctx.env, &ctx.wctx, &user, Outbox::default().update(seq, event, Recipients::User));
            json(&SettingsWritten::Applied { success: true, version: current.version })
        }
        Outcome::Mismatch { current } => json(&SettingsWritten::Mismatch {
            success: false,
            error: VersionMismatch::VersionMismatch,
            current_version: current.version,
            current_settings: current.value,
        }),
        Outcome::Missing => Err(ApiError::not_found("Account not found")),
    }
}
