//! GET /v1/feed: the account's notifications, newest first, paged by counter cursors (C6).

use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::response_schema;
use crate::db::feed;
use crate::domain::feed_cursor::{self, CursorStyle};
use crate::domain::limit::Limit;
use crate::error::ApiResult;
use crate::h;
use crate::wire::feed::{FeedItem, FeedPage};

pub const ROUTES: &[Route] = &[route(Method::Get, "/v1/feed", Access::User, h!(get_feed))
    .doc("feed", "Feed items newest first; `before`/`after` take `cursor_<n>` or `0-<n>`")
    .returns(response_schema::<FeedPage>)];

async fn get_feed(ctx: Ctx) -> ApiResult<Response> {
    let before = ctx.query("before").map(|c| feed_cursor::parse("before", &c)).transpose()?;
    let after = ctx.query("after").map(|c| feed_cursor::parse("after", &c)).transpose()?;
    let limit = i64::from(Limit::parse(ctx.query("limit").as_deref(), 50, 200)?.get());
    // The stock app parses `0-<n>`; it is the one client that sends X-Happy-Client.
    let style = if ctx.header("x-happy-client").is_some() { CursorStyle::Stock } else { CursorStyle::Seed };
    let mut rows = feed::page(&ctx.db()?, ctx.user_id()?, before, after, limit).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let items = rows.into_iter().map(|r| FeedItem::new(r, style)).collect();
    json(&FeedPage { items, has_more })
}
