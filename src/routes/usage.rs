//! POST /v1/usage/query: token and cost totals over time
//! (docs/compatibility.md#utility-kv-push-usage-voice; times in UNIX seconds).

use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::db::usage::{query_usage, UsageQuery, MAX_SESSION_ID_CHARS};
use crate::domain::text::Text;
use crate::domain::usage::GroupBy;
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::wire::usage::{QueryBody, UsageTotals};

pub const ROUTES: &[Route] = &[route(Method::Post, "/v1/usage/query", Access::User, h!(query))
    .doc("usage", "Usage totals per hour or day (404 for a session that is not the caller's)")
    .body(request_schema::<QueryBody>)
    .returns(response_schema::<UsageTotals>)];

/// Seconds up to year ~5000: far enough, and `* 1000` cannot overflow.
const MAX_SECONDS: i64 = 100_000_000_000;

async fn query(mut ctx: Ctx) -> ApiResult<Response> {
    let body: QueryBody = ctx.json().await?;
    for (name, t) in [("startTime", body.start_time), ("endTime", body.end_time)] {
        if t.is_some_and(|t| !(1..=MAX_SECONDS).contains(&t)) {
            return Err(ApiError::bad_request(format!("{name} must be a positive UNIX time in seconds")));
        }
    }
    if let Some(sid) = &body.session_id {
        Text::parse("sessionId", sid, MAX_SESSION_ID_CHARS)?;
    }
    let q = UsageQuery {
        session_id: body.session_id.as_deref(),
        start: body.start_time,
        end: body.end_time,
        group_by: GroupBy::parse(body.group_by.as_deref())?,
    };
    let group_by = q.group_by;
    json(&UsageTotals::new(query_usage(&ctx.db()?, ctx.user_id()?, &q).await?, group_by))
}
