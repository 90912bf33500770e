//! POST /v1/usage/query: token and cost totals over time
//! (docs/compatibility.md#utility-kv-push-usage-voice; times in UNIX seconds).

use serde::Deserialize;
use serde_json::Value;
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::db::usage::{query_usage, UsageQuery, MAX_SESSION_ID_CHARS};
use crate::domain::text::Text;
use crate::domain::usage::GroupBy;
use crate::error::{ApiError, ApiResult};
use crate::h;

pub const ROUTES: &[Route] = &[route(Method::Post, "/v1/usage/query", Access::User, h!(query))
    .doc("usage", "Usage totals per hour or day (404 for a session that is not the caller's)")
    .body(query_schema)
    .returns(result_schema)];

fn query_schema() -> Value {
    object(&[
        ("sessionId?", nullable(string())),
        ("startTime?", nullable(integer())),
        ("endTime?", nullable(integer())),
        ("groupBy?", nullable(enumeration(&["hour", "day"]))),
    ])
}
fn result_schema() -> Value {
    object(&[
        (
            "usage",
            array(object(&[("timestamp", integer()), ("tokens", any()), ("cost", any()), ("reportCount", integer())])),
        ),
        ("groupBy", enumeration(&["hour", "day"])),
        ("totalReports", integer()),
    ])
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryBody {
    session_id: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    group_by: Option<String>,
}

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
    json(&query_usage(&ctx.db()?, ctx.user_id()?, &q).await?)
}
