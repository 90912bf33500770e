//! GET /v1/feed: the account's notifications, newest first, paged by counter cursors (C6).

use serde_json::{json, Value};
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::db::feed;
use crate::domain::feed_cursor::{self, CursorStyle};
use crate::domain::limit::Limit;
use crate::error::ApiResult;
use crate::h;

pub const ROUTES: &[Route] = &[route(Method::Get, "/v1/feed", Access::User, h!(get_feed))
    .doc("feed", "Feed items newest first; `before`/`after` take `cursor_<n>` or `0-<n>`")
    .returns(feed_schema)];

fn feed_schema() -> Value {
    object(&[
        (
            "items",
            array(object(&[
                ("id", string()),
                ("body", object(&[("kind", string())])),
                ("repeatKey", nullable(string())),
                ("cursor", string()),
                ("createdAt", integer()),
            ])),
        ),
        ("hasMore", boolean()),
    ])
}

async fn get_feed(ctx: Ctx) -> ApiResult<Response> {
    let before = ctx.query("before").map(|c| feed_cursor::parse("before", &c)).transpose()?;
    let after = ctx.query("after").map(|c| feed_cursor::parse("after", &c)).transpose()?;
    let limit = i64::from(Limit::parse(ctx.query("limit").as_deref(), 50, 200)?.get());
    // The stock app parses `0-<n>`; it is the one client that sends X-Happy-Client.
    let style = if ctx.header("x-happy-client").is_some() { CursorStyle::Stock } else { CursorStyle::Seed };
    let mut rows = feed::page(&ctx.db()?, ctx.user_id()?, before, after, limit).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "body": serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null),
                "repeatKey": r.repeat_key,
                "cursor": feed_cursor::format(style, r.counter),
                "createdAt": r.created_at,
            })
        })
        .collect();
    json(&json!({"items": items, "hasMore": has_more}))
}
