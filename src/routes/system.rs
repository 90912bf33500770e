//! GET /, GET /health, GET /openapi.json.

use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::openapi;
use crate::app::respond::{json, json_status};
use crate::app::router::{route, Access, Route};
use crate::app::schema::response_schema;
use crate::config::now_ms;
use crate::domain::time::iso8601;
use crate::error::ApiResult;
use crate::h;
use crate::wire::system::{DatabaseStatus, Health, HealthStatus, Welcome};

pub const ROUTES: &[Route] = &[
    route(Method::Get, "/", Access::Public, h!(welcome)).doc("system", "Welcome").returns(response_schema::<Welcome>),
    route(Method::Get, "/health", Access::Public, h!(health))
        .doc("system", "Liveness and D1 reachability (503 when D1 fails)")
        .returns(response_schema::<Health>),
    route(Method::Get, "/openapi.json", Access::Public, h!(openapi_json)).doc("system", "This document"),
];

async fn welcome(_: Ctx) -> ApiResult<Response> {
    json(&Welcome { message: "Welcome to Happy Server!", version: env!("CARGO_PKG_VERSION") })
}

async fn health(ctx: Ctx) -> ApiResult<Response> {
    let db_ok = match ctx.db() {
        Ok(db) => db.reachable().await,
        Err(_) => false,
    };
    let body = Health {
        status: if db_ok { HealthStatus::Ok } else { HealthStatus::Error },
        timestamp: iso8601(now_ms()),
        service: "happy-server",
        database: if db_ok { DatabaseStatus::Ok } else { DatabaseStatus::Unreachable },
    };
    json_status(if db_ok { 200 } else { 503 }, &body)
}

async fn openapi_json(_: Ctx) -> ApiResult<Response> {
    json(&openapi::document(super::all()))
}
