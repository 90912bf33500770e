//! GET /, GET /health, GET /openapi.json.

use serde_json::json;
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::openapi;
use crate::app::respond::{json, json_status};
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::config::now_ms;
use crate::domain::time::iso8601;
use crate::error::ApiResult;
use crate::h;

pub const ROUTES: &[Route] = &[
    route(Method::Get, "/", Access::Public, h!(welcome)).doc("system", "Welcome").returns(welcome_schema),
    route(Method::Get, "/health", Access::Public, h!(health))
        .doc("system", "Liveness and D1 reachability (503 when D1 fails)")
        .returns(health_schema),
    route(Method::Get, "/openapi.json", Access::Public, h!(openapi_json)).doc("system", "This document"),
];

fn welcome_schema() -> serde_json::Value {
    object(&[("message", string()), ("version", string())])
}

fn health_schema() -> serde_json::Value {
    object(&[
        ("status", enumeration(&["ok", "error"])),
        ("timestamp", string()),
        ("service", string()),
        ("database", string()),
    ])
}

async fn welcome(_: Ctx) -> ApiResult<Response> {
    json(&json!({"message": "Welcome to Happy Server!", "version": env!("CARGO_PKG_VERSION")}))
}

async fn health(ctx: Ctx) -> ApiResult<Response> {
    let db_ok = match ctx.db() {
        Ok(db) => db.reachable().await,
        Err(_) => false,
    };
    let body = json!({
        "status": if db_ok { "ok" } else { "error" },
        "timestamp": iso8601(now_ms()),
        "service": "happy-server",
        "database": if db_ok { "ok" } else { "unreachable" },
    });
    json_status(if db_ok { 200 } else { 503 }, &body)
}

async fn openapi_json(_: Ctx) -> ApiResult<Response> {
    json(&openapi::document(super::all()))
}
