//! Plans and their limits (public).

use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::response_schema;
use crate::db::plans;
use crate::error::ApiResult;
use crate::h;
use crate::wire::plans::PlanList;

pub const ROUTES: &[Route] = &[route(Method::Get, "/v1/plans", Access::Public, h!(list_plans))
    .doc("plans", "Plans and their limits")
    .returns(response_schema::<PlanList>)];

async fn list_plans(ctx: Ctx) -> ApiResult<Response> {
    let plans = plans::list(&ctx.db()?).await?.into_iter().map(Into::into).collect();
    json(&PlanList { plans })
}
