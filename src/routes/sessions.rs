//! Sessions and their messages: /v1/sessions, /v2/sessions, /v1 and /v3 message routes.

use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::{json, json_text};
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::db::messages::{self, NewMessage};
use crate::db::sessions::{self, NewSession};
use crate::domain::fields::{message_ciphertext, MAX_BATCH, MAX_ID, MAX_KEY};
use crate::domain::limit::Limit;
use crate::domain::paging::{self, changed_since, decode_session_cursor, encode_session_cursor};
use crate::domain::text::Text;
use crate::error::{ApiError, ApiResult};
use crate::events::Outbox;
use crate::h;
use crate::wire::sessions::{
    CreateBody, MessagePage, OneSession, PostedMessage, Session, SessionList, SessionMessage, SessionPage,
    V1MessageBody, V3PostBody, V3Posted,
};
use crate::wire::Success;

/// GET /v1/sessions returns at most this many (docs/compatibility.md#sessions-and-messages).
const V1_LIST_MAX: u32 = 150;

pub const ROUTES: &[Route] = &[
    route(Method::Get, "/v1/sessions", Access::User, h!(list_v1))
        .doc("sessions", "The 150 most recently updated sessions")
        .returns(response_schema::<SessionList>),
    route(Method::Get, "/v2/sessions/active", Access::User, h!(list_active))
        .doc("sessions", "Sessions active in the last 15 minutes (limit 1..500, default 150)")
        .returns(response_schema::<SessionList>),
    route(Method::Get, "/v2/sessions", Access::User, h!(list_v2))
        .doc("sessions", "Sessions newest first, paged by an opaque cursor; changedSince as ms or ISO 8601")
        .returns(response_schema::<SessionPage>),
    route(Method::Post, "/v1/sessions", Access::User, h!(create))
        .doc("sessions", "Create a session, or return the live one with this tag")
        .body(request_schema::<CreateBody>)
        .returns(response_schema::<OneSession>),
    route(Method::Get, "/v1/sessions/:id", Access::User, h!(get))
        .doc("sessions", "One session")
        .returns(response_schema::<OneSession>),
    route(Method::Delete, "/v1/sessions/:id", Access::User, h!(delete))
        .doc("sessions", "Delete a session (kept as a hidden, inactive row; messages and access keys dropped)")
        .returns(response_schema::<Success>),
    route(Method::Post, "/v1/sessions/:id/archive", Access::User, h!(archive))
        .doc("sessions", "Mark a session inactive")
        .returns(response_schema::<Success>),
    route(Method::Post, "/v1/sessions/:id/messages", Access::User, h!(post_v1_message))
        .doc("messages", "Store one message (idempotent by localId)")
        .body(request_schema::<V1MessageBody>)
        .returns(response_schema::<PostedMessage>),
    route(Method::Get, "/v1/sessions/:id/messages", Access::User, h!(list_v1_messages))
        .doc("messages", "Messages newest first (limit 1..150, default 150), older than before_seq")
        .returns(response_schema::<MessagePage>),
    route(Method::Get, "/v3/sessions/:id/messages", Access::User, h!(list_v3_messages))
        .doc(
            "messages",
            "Messages after after_seq (ascending) or before before_seq (descending); limit 1..500, default 100",
        )
        .returns(response_schema::<MessagePage>),
    route(Method::Post, "/v3/sessions/:id/messages", Access::User, h!(post_v3_messages))
        .doc("messages", "Store 1..100 messages, idempotent by localId")
        .body(request_schema::<V3PostBody>)
        .returns(response_schema::<V3Posted>),
];

fn publish(ctx: &Ctx, outbox: Outbox) -> ApiResult<()> {
    crate::realtime::publish(&ctx.env, &ctx.wctx, ctx.user_id()?, outbox);
    Ok(())
}

fn wire_sessions(rows: &[sessions::SessionRow]) -> Vec<Session> {
    rows.iter().map(Session::from).collect()
}

/// The hot route: one D1 query.
async fn list_v1(ctx: Ctx) -> ApiResult<Response> {
    json_text(200, sessions::list_recent_json(&ctx.db()?, ctx.user_id()?, V1_LIST_MAX).await?)
}

async fn list_active(ctx: Ctx) -> ApiResult<Response> {
    let limit = Limit::parse(ctx.query("limit").as_deref(), 150, 500)?.get();
    let rows = sessions::list_active(&ctx.db()?, ctx.user_id()?, limit).await?;
    json(&SessionList { sessions: wire_sessions(&rows) })
}

async fn list_v2(ctx: Ctx) -> ApiResult<Response> {
    let limit = Limit::parse(ctx.query("limit").as_deref(), 50, 200)?.get();
    let cursor = ctx.query("cursor").map(|c| decode_session_cursor(&c)).transpose()?;
    let since = ctx.query("changedSince").map(|c| changed_since(&c)).transpose()?;
    let mut rows = sessions::list_page(&ctx.db()?, ctx.user_id()?, cursor.as_deref(), since, limit).await?;
    let has_next = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if has_next { rows.last().map(|r| encode_session_cursor(&r.id)) } else { None };
    json(&SessionPage { sessions: wire_sessions(&rows), next_cursor, has_next })
}

async fn create(mut ctx: Ctx) -> ApiResult<Response> {
    let body: CreateBody = ctx.json().await?;
    Text::parse("tag", &body.tag, MAX_ID)?;
    Text::non_empty("metadata", &body.metadata)?;
    Text::blob_opt("dataEncryptionKey", body.data_encryption_key.as_deref(), MAX_KEY)?;
    let input = NewSession {
        tag: &body.tag,
        metadata: &body.metadata,
        agent_state: body.agent_state.as_deref(),
        data_encryption_key: body.data_encryption_key.as_deref(),
    };
    let (session, outbox) = sessions::create(&ctx.db()?, ctx.user_id()?, &input).await?;
    publish(&ctx, outbox)?;
    json(&OneSession { session: (&session).into() })
}

async fn get(ctx: Ctx) -> ApiResult<Response> {
    let session = sessions::get(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?.ok_or_else(sessions::not_found)?;
    json(&OneSession { session: (&session).into() })
}

async fn delete(ctx: Ctx) -> ApiResult<Response> {
    let outbox = sessions::delete(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?;
    publish(&ctx, outbox)?;
    json(&Success::TRUE)
}

async fn archive(ctx: Ctx) -> ApiResult<Response> {
    let outbox = sessions::archive(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?;
    publish(&ctx, outbox)?;
    json(&Success::TRUE)
}

async fn post_v1_message(mut ctx: Ctx) -> ApiResult<Response> {
    let body: V1MessageBody = ctx.json().await?;
    Text::parse_opt("localId", body.local_id.as_deref(), MAX_ID)?;
    let ciphertext = message_ciphertext(&body.content)?;
    let sid = ctx.param("id").to_string();
    let (stored, outbox) = messages::create_messages(
        &ctx.db()?,
        ctx.user_id()?,
        &sid,
        vec![NewMessage { local_id: body.local_id, ciphertext }],
    )
    .await?;
    publish(&ctx, outbox)?;
    let m = stored.first().ok_or_else(|| ApiError::internal("message insert returned nothing"))?;
    json(&PostedMessage { message: SessionMessage { message: m.into(), session_id: sid } })
}

async fn list_v1_messages(ctx: Ctx) -> ApiResult<Response> {
    let window = paging::v1_window(ctx.query("before_seq").as_deref())?;
    let limit = Limit::parse(ctx.query("limit").as_deref(), V1_LIST_MAX, V1_LIST_MAX)?.get();
    let page = messages::list_messages_json(&ctx.db()?, ctx.user_id()?, ctx.param("id"), window, limit)
        .await?
        .ok_or_else(sessions::not_found)?;
    json_text(200, page)
}

async fn list_v3_messages(ctx: Ctx) -> ApiResult<Response> {
    let window = paging::v3_window(ctx.query("after_seq").as_deref(), ctx.query("before_seq").as_deref())?;
    let limit = Limit::parse(ctx.query("limit").as_deref(), 100, 500)?.get();
    let page = messages::list_messages_json(&ctx.db()?, ctx.user_id()?, ctx.param("id"), window, limit)
        .await?
        .ok_or_else(sessions::not_found)?;
    json_text(200, page)
}

async fn post_v3_messages(mut ctx: Ctx) -> ApiResult<Response> {
    let body: V3PostBody = ctx.json().await?;
    if body.messages.is_empty() || body.messages.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!("messages must hold 1..{MAX_BATCH} items")));
    }
    for m in &body.messages {
        Text::parse("localId", &m.local_id, MAX_ID)?;
        Text::non_empty("content", &m.content)?;
    }
    let input =
        body.messages.into_iter().map(|m| NewMessage { local_id: Some(m.local_id), ciphertext: m.content }).collect();
    let (stored, outbox) = messages::create_messages(&ctx.db()?, ctx.user_id()?, ctx.param("id"), input).await?;
    publish(&ctx, outbox)?;
    json(&V3Posted { messages: stored.iter().map(Into::into).collect() })
}
