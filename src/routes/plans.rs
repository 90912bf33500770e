//! Plans and their limits (public).

use serde_json::{json, Value};
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::db::plans;
use crate::error::ApiResult;
use crate::h;

pub const ROUTES: &[Route] = &[route(Method::Get, "/v1/plans", Access::Public, h!(list_plans))
    .doc("plans", "Plans and their limits")
    .returns(plans_response)];

pub fn limits_schema() -> Value {
    object(&[
        ("devicesPerAccount", integer()),
        ("wsConnectionsPerUser", integer()),
        ("uploadBytesPerAccount", integer()),
    ])
}

fn plans_response() -> Value {
    object(&[("plans", array(object(&[("id", string()), ("name", string()), ("limits", limits_schema())])))])
}

async fn list_plans(ctx: Ctx) -> ApiResult<Response> {
    let plans: Vec<Value> = plans::list(&ctx.db()?)
        .await?
        .into_iter()
        .map(|p| json!({"id": p.limits.plan, "name": p.name, "limits": p.limits.wire()}))
        .collect();
    json(&json!({ "plans": plans }))
}
