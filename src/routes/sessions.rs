//! Sessions and their messages: /v1/sessions, /v2/sessions, /v1 and /v3 message routes.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::{json, json_text};
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::db::messages::{self, NewMessage};
use crate::db::sessions::{self, NewSession};
use crate::domain::fields::{message_ciphertext, MAX_BATCH, MAX_ID, MAX_KEY};
use crate::domain::limit::Limit;
use crate::domain::paging::{self, changed_since, decode_session_cursor, encode_session_cursor};
use crate::domain::text::Text;
use crate::error::{ApiError, ApiResult};
use crate::events::Outbox;
use crate::h;

/// GET /v1/sessions returns at most this many (docs/compatibility.md#sessions-and-messages).
const V1_LIST_MAX: u32 = 150;

pub const ROUTES: &[Route] = &[
    route(Method::Get, "/v1/sessions", Access::User, h!(list_v1))
        .doc("sessions", "The 150 most recently updated sessions")
        .returns(session_list),
    route(Method::Get, "/v2/sessions/active", Access::User, h!(list_active))
        .doc("sessions", "Sessions active in the last 15 minutes (limit 1..500, default 150)")
        .returns(session_list),
    route(Method::Get, "/v2/sessions", Access::User, h!(list_v2))
        .doc("sessions", "Sessions newest first, paged by an opaque cursor; changedSince as ms or ISO 8601")
        .returns(session_page),
    route(Method::Post, "/v1/sessions", Access::User, h!(create))
        .doc("sessions", "Create a session, or return the live one with this tag")
        .body(create_body)
        .returns(session_wrapper),
    route(Method::Get, "/v1/sessions/:id", Access::User, h!(get))
        .doc("sessions", "One session")
        .returns(session_wrapper),
    route(Method::Delete, "/v1/sessions/:id", Access::User, h!(delete))
        .doc("sessions", "Delete a session (kept as a hidden, inactive row; messages and access keys dropped)")
        .returns(success),
    route(Method::Post, "/v1/sessions/:id/archive", Access::User, h!(archive))
        .doc("sessions", "Mark a session inactive")
        .returns(success),
    route(Method::Post, "/v1/sessions/:id/messages", Access::User, h!(post_v1_message))
        .doc("messages", "Store one message (idempotent by localId)")
        .body(v1_message_body)
        .returns(v1_message_response),
    route(Method::Get, "/v1/sessions/:id/messages", Access::User, h!(list_v1_messages))
        .doc("messages", "Messages newest first (limit 1..150, default 150), older than before_seq")
        .returns(message_list),
    route(Method::Get, "/v3/sessions/:id/messages", Access::User, h!(list_v3_messages))
        .doc(
            "messages",
            "Messages after after_seq (ascending) or before before_seq (descending); limit 1..500, default 100",
        )
        .returns(message_list),
    route(Method::Post, "/v3/sessions/:id/messages", Access::User, h!(post_v3_messages))
        .doc("messages", "Store 1..100 messages, idempotent by localId")
        .body(v3_post_body)
        .returns(v3_post_response),
];

fn session_schema() -> Value {
    object(&[
        ("id", string()),
        ("seq", integer()),
        ("createdAt", integer()),
        ("updatedAt", integer()),
        ("active", boolean()),
        ("activeAt", integer()),
        ("metadata", string()),
        ("metadataVersion", integer()),
        ("agentState", nullable(string())),
        ("agentStateVersion", integer()),
        ("dataEncryptionKey", nullable(string())),
        ("lastMessage", nullable(any())),
    ])
}
fn session_list() -> Value {
    object(&[("sessions", array(session_schema()))])
}
fn session_page() -> Value {
    object(&[("sessions", array(session_schema())), ("nextCursor", nullable(string())), ("hasNext", boolean())])
}
fn session_wrapper() -> Value {
    object(&[("session", session_schema())])
}
fn create_body() -> Value {
    object(&[
        ("tag", string()),
        ("metadata", string()),
        ("agentState?", nullable(string())),
        ("dataEncryptionKey?", nullable(string())),
    ])
}
fn content_schema() -> Value {
    object(&[("t", enumeration(&["encrypted"])), ("c", string())])
}
fn message_schema() -> Value {
    object(&[
        ("id", string()),
        ("seq", integer()),
        ("content", content_schema()),
        ("localId", nullable(string())),
        ("createdAt", integer()),
        ("updatedAt", integer()),
    ])
}
fn message_list() -> Value {
    object(&[("messages", array(message_schema())), ("hasMore", boolean())])
}
fn v1_message_body() -> Value {
    object(&[("localId?", nullable(string())), ("content", one_of(vec![string(), content_schema()]))])
}
fn v1_message_response() -> Value {
    object(&[(
        "message",
        object(&[
            ("id", string()),
            ("sessionId", string()),
            ("localId", nullable(string())),
            ("seq", integer()),
            ("content", content_schema()),
            ("createdAt", integer()),
            ("updatedAt", integer()),
        ]),
    )])
}
fn v3_post_body() -> Value {
    object(&[("messages", array(object(&[("content", string()), ("localId", string())])))])
}
fn v3_post_response() -> Value {
    object(&[(
        "messages",
        array(object(&[
            ("id", string()),
            ("seq", integer()),
            ("localId", nullable(string())),
            ("createdAt", integer()),
            ("updatedAt", integer()),
        ])),
    )])
}

fn publish(ctx: &Ctx, outbox: Outbox) -> ApiResult<()> {
    crate::realtime::publish(&ctx.env, &ctx.wctx, ctx.user_id()?, outbox);
    Ok(())
}

fn session_list_body(rows: &[sessions::SessionRow]) -> Value {
    json!({"sessions": rows.iter().map(sessions::SessionRow::wire).collect::<Vec<_>>()})
}

/// The hot route: one D1 query.
async fn list_v1(ctx: Ctx) -> ApiResult<Response> {
    json_text(200, sessions::list_recent_json(&ctx.db()?, ctx.user_id()?, V1_LIST_MAX).await?)
}

async fn list_active(ctx: Ctx) -> ApiResult<Response> {
    let limit = Limit::parse(ctx.query("limit").as_deref(), 150, 500)?.get();
    let rows = sessions::list_active(&ctx.db()?, ctx.user_id()?, limit).await?;
    json(&session_list_body(&rows))
}

async fn list_v2(ctx: Ctx) -> ApiResult<Response> {
    let limit = Limit::parse(ctx.query("limit").as_deref(), 50, 200)?.get();
    let cursor = ctx.query("cursor").map(|c| decode_session_cursor(&c)).transpose()?;
    let since = ctx.query("changedSince").map(|c| changed_since(&c)).transpose()?;
    let mut rows = sessions::list_page(&ctx.db()?, ctx.user_id()?, cursor.as_deref(), since, limit).await?;
    let has_next = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if has_next { rows.last().map(|r| encode_session_cursor(&r.id)) } else { None };
    let mut body = session_list_body(&rows);
    body["nextCursor"] = json!(next_cursor);
    body["hasNext"] = json!(has_next);
    json(&body)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    tag: String,
    metadata: String,
    agent_state: Option<String>,
    data_encryption_key: Option<String>,
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
    json(&json!({"session": session.wire()}))
}

async fn get(ctx: Ctx) -> ApiResult<Response> {
    let session = sessions::get(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?.ok_or_else(sessions::not_found)?;
    json(&json!({"session": session.wire()}))
}

async fn delete(ctx: Ctx) -> ApiResult<Response> {
    let outbox = sessions::delete(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?;
    publish(&ctx, outbox)?;
    json(&json!({"success": true}))
}

async fn archive(ctx: Ctx) -> ApiResult<Response> {
    let outbox = sessions::archive(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?;
    publish(&ctx, outbox)?;
    json(&json!({"success": true}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1MessageBody {
    local_id: Option<String>,
    content: Value,
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
    let mut message = m.wire();
    message["sessionId"] = json!(sid);
    json(&json!({"message": message}))
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V3Message {
    content: String,
    local_id: String,
}

#[derive(Deserialize)]
struct V3PostBody {
    messages: Vec<V3Message>,
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
    let out: Vec<Value> = stored
        .iter()
        .map(|m| {
            json!({"id": m.id, "seq": m.seq, "localId": m.local_id, "createdAt": m.created_at, "updatedAt": m.updated_at})
        })
        .collect();
    json(&json!({"messages": out}))
}
