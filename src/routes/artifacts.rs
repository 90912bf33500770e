//! Artifacts: encrypted documents the app syncs (docs/compatibility.md#artifacts-and-access-keys,
//! conflicts C1-C3). Header, body and key are opaque client strings, stored and returned verbatim.

use worker::{Method, Response};

use crate::app::client::is_stock_client;
use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::db::artifacts::{self, NewArtifact, Part, Updated};
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::realtime::publish;
use crate::wire::artifacts::{ArtifactList, ArtifactUpdated, CreateBody, FullArtifact, UpdateBody};
use crate::wire::{Success, VersionMismatch};

pub const ROUTES: &[Route] = &[
    route(Method::Get, "/v1/artifacts", Access::User, h!(list))
        .doc("artifacts", "Artifact headers, newest first (bare array for the stock app, C1)")
        .returns(response_schema::<ArtifactList>),
    route(Method::Get, "/v1/artifacts/:id", Access::User, h!(get))
        .doc("artifacts", "One artifact with its body: fields at top level and under `artifact` (C2)")
        .returns(response_schema::<FullArtifact>),
    route(Method::Post, "/v1/artifacts", Access::User, h!(create))
        .doc("artifacts", "Create an artifact; the same id again returns it unchanged (C3)")
        .body(request_schema::<CreateBody>)
        .returns(response_schema::<FullArtifact>),
    route(Method::Post, "/v1/artifacts/:id", Access::User, h!(update))
        .doc("artifacts", "Compare-and-set header and/or body")
        .body(request_schema::<UpdateBody>)
        .returns(response_schema::<ArtifactUpdated>),
    route(Method::Delete, "/v1/artifacts/:id", Access::User, h!(delete))
        .doc("artifacts", "Delete an artifact")
        .returns(response_schema::<Success>),
];

async fn list(ctx: Ctx) -> ApiResult<Response> {
    let items = artifacts::list(&ctx.db()?, ctx.user_id()?).await?.into_iter().map(Into::into).collect();
    if is_stock_client(&ctx) {
        json(&ArtifactList::Bare(items))
    } else {
        json(&ArtifactList::Wrapped { artifacts: items })
    }
}

async fn get(ctx: Ctx) -> ApiResult<Response> {
    let row = artifacts::get(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?;
    json(&FullArtifact::from(&row))
}

async fn create(mut ctx: Ctx) -> ApiResult<Response> {
    let b: CreateBody = ctx.json().await?;
    let user = ctx.user_id()?.to_string();
    let new = NewArtifact { id: &b.id, header: &b.header, body: &b.body, data_encryption_key: &b.data_encryption_key };
    let (row, outbox) = artifacts::create(&ctx.db()?, &user, &new).await?;
    publish(&ctx.env, &ctx.wctx, &user, outbox);
    json(&FullArtifact::from(&row))
}

/// A part sent without its expected version is a 400.
fn part(name: &str, value: Option<String>, expected: Option<i64>) -> ApiResult<Option<Part>> {
    match (value, expected) {
        (None, _) => Ok(None),
        (Some(value), Some(expected)) => Ok(Some(Part { value, expected })),
        (Some(_), None) => Err(ApiError::bad_request(format!("{name} needs expected{}Version >= 0", capitalize(name)))),
    }
}

fn capitalize(name: &str) -> String {
    let mut c = name.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

async fn update(mut ctx: Ctx) -> ApiResult<Response> {
    let b: UpdateBody = ctx.json().await?;
    let header = part("header", b.header, b.expected_header_version)?;
    let body = part("body", b.body, b.expected_body_version)?;
    let user = ctx.user_id()?.to_string();
    let (updated, outbox) = artifacts::update(&ctx.db()?, &user, ctx.param("id"), header, body).await?;
    publish(&ctx.env, &ctx.wctx, &user, outbox);
    json(&match updated {
        Updated::Applied { header, body } => {
            ArtifactUpdated::Applied { success: true, header_version: header, body_version: body }
        }
        Updated::Mismatch { header, body } => ArtifactUpdated::Mismatch {
            success: false,
            error: VersionMismatch::VersionMismatch,
            current_header_version: header.as_ref().map(|(version, _)| *version),
            current_header: header.map(|(_, value)| value),
            current_body_version: body.as_ref().map(|(version, _)| *version),
            current_body: body.map(|(_, value)| value),
        },
    })
}

async fn delete(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?.to_string();
    let outbox = artifacts::delete(&ctx.db()?, &user, ctx.param("id")).await?;
    publish(&ctx.env, &ctx.wctx, &user, outbox);
    json(&Success::TRUE)
}
