//! Plans and their limits (public).

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::db::plans::PlanLimits;
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
    #[derive(Deserialize)]
    struct Row {
        plan: String,
        name: String,
        devices_per_account: i64,
        ws_connections_per_user: i64,
        upload_bytes_per_account: i64,
    }
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT id AS plan, name, devices_per_account, ws_connections_per_user, upload_bytes_per_account
             FROM plans ORDER BY sort_order, id",
            &[],
        )
        .await?;
    let plans: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let limits = PlanLimits {
                plan: r.plan,
                devices_per_account: r.devices_per_account,
                ws_connections_per_user: r.ws_connections_per_user,
                upload_bytes_per_account: r.upload_bytes_per_account,
            };
            json!({"id": limits.plan, "name": r.name, "limits": limits.wire()})
        })
        .collect();
    json(&json!({ "plans": plans }))
}
