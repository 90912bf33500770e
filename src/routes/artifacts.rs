//! Artifacts: encrypted documents the app syncs (docs/compatibility.md#artifacts-and-access-keys,
//! conflicts C1-C3). Header, body and key are opaque client strings, stored and returned verbatim.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{Method, Response};

use crate::app::client::is_stock_client;
use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::db::artifacts::{self, Artifact, NewArtifact, Part, Updated};
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::realtime::publish;

pub const ROUTES: &[Route] = &[
    route(Method::Get, "/v1/artifacts", Access::User, h!(list))
        .doc("artifacts", "Artifact headers, newest first (bare array for the stock app, C1)")
        .returns(list_schema),
    route(Method::Get, "/v1/artifacts/:id", Access::User, h!(get))
        .doc("artifacts", "One artifact with its body: fields at top level and under `artifact` (C2)")
        .returns(full_schema),
    route(Method::Post, "/v1/artifacts", Access::User, h!(create))
        .doc("artifacts", "Create an artifact; the same id again returns it unchanged (C3)")
        .body(create_schema)
        .returns(full_schema),
    route(Method::Post, "/v1/artifacts/:id", Access::User, h!(update))
        .doc("artifacts", "Compare-and-set header and/or body")
        .body(update_schema)
        .returns(update_result_schema),
    route(Method::Delete, "/v1/artifacts/:id", Access::User, h!(delete))
        .doc("artifacts", "Delete an artifact")
        .returns(success),
];

fn header_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("id", string()),
        ("header", string()),
        ("headerVersion", integer()),
        ("dataEncryptionKey", string()),
        ("seq", integer()),
        ("createdAt", integer()),
        ("updatedAt", integer()),
    ]
}
fn header_schema() -> Value {
    object(&header_fields())
}
fn artifact_schema() -> Value {
    let mut f = header_fields();
    f.extend([("body", string()), ("bodyVersion", integer())]);
    object(&f)
}
fn list_schema() -> Value {
    one_of(vec![array(header_schema()), object(&[("artifacts", array(header_schema()))])])
}
fn full_schema() -> Value {
    let mut f = header_fields();
    f.extend([("body", string()), ("bodyVersion", integer()), ("artifact", artifact_schema())]);
    object(&f)
}
fn create_schema() -> Value {
    object(&[("id", string()), ("header", string()), ("body", string()), ("dataEncryptionKey", string())])
}
fn update_schema() -> Value {
    object(&[
        ("header?", string()),
        ("expectedHeaderVersion?", integer()),
        ("body?", string()),
        ("expectedBodyVersion?", integer()),
    ])
}
fn update_result_schema() -> Value {
    object(&[
        ("success", boolean()),
        ("headerVersion?", integer()),
        ("bodyVersion?", integer()),
        ("error?", enumeration(&["version-mismatch"])),
        ("currentHeaderVersion?", integer()),
        ("currentHeader?", string()),
        ("currentBodyVersion?", integer()),
        ("currentBody?", string()),
    ])
}

/// C2/C3: every field at top level and the same object under `artifact`.
fn full(a: &Artifact) -> Value {
    let artifact = a.wire();
    let mut top: Map<String, Value> = artifact.as_object().cloned().unwrap_or_default();
    top.insert("artifact".into(), artifact);
    Value::Object(top)
}

async fn list(ctx: Ctx) -> ApiResult<Response> {
    let items = artifacts::list(&ctx.db()?, ctx.user_id()?).await?;
    if is_stock_client(&ctx) {
        json(&items)
    } else {
        json(&json!({"artifacts": items}))
    }
}

async fn get(ctx: Ctx) -> ApiResult<Response> {
    let row = artifacts::get(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?;
    json(&full(&row))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    id: String,
    header: String,
    body: String,
    data_encryption_key: String,
}

async fn create(mut ctx: Ctx) -> ApiResult<Response> {
    let b: CreateBody = ctx.json().await?;
    let user = ctx.user_id()?.to_string();
    let new = NewArtifact { id: &b.id, header: &b.header, body: &b.body, data_encryption_key: &b.data_encryption_key };
    let (row, outbox) = artifacts::create(&ctx.db()?, &user, &new).await?;
    publish(&ctx.env, &ctx.wctx, &user, outbox);
    json(&full(&row))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    header: Option<String>,
    expected_header_version: Option<i64>,
    body: Option<String>,
    expected_body_version: Option<i64>,
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
    let mut out = Map::new();
    match updated {
        Updated::Applied { header, body } => {
            out.insert("success".into(), true.into());
            if let Some(v) = header {
                out.insert("headerVersion".into(), v.into());
            }
            if let Some(v) = body {
                out.insert("bodyVersion".into(), v.into());
            }
        }
        Updated::Mismatch { header, body } => {
            out.insert("success".into(), false.into());
            out.insert("error".into(), "version-mismatch".into());
            if let Some((version, value)) = header {
                out.insert("currentHeaderVersion".into(), version.into());
                out.insert("currentHeader".into(), value.into());
            }
            if let Some((version, value)) = body {
                out.insert("currentBodyVersion".into(), version.into());
                out.insert("currentBody".into(), value.into());
            }
        }
    }
    json(&out)
}

async fn delete(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?.to_string();
    let outbox = artifacts::delete(&ctx.db()?, &user, ctx.param("id")).await?;
    publish(&ctx.env, &ctx.wctx, &user, outbox);
    json(&json!({"success": true}))
}
