//! The realtime endpoints: the WebSocket upgrade (raw JSON and Socket.IO framings on one path),
//! tickets, stats and broadcast. Sockets live in Durable Objects: the user's (`realtime::hub`)
//! when the upgrade names the user, a lobby (`realtime::lobby`) when the socket carries its
//! credentials.

use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::auth::{bearer, verify_token};
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::realtime::calls::{connect_hub, connect_lobby, Broadcast, Broadcasted, Hub};
use crate::realtime::conn::{Framing, Handshake, Identity, Reject};
use crate::realtime::hub::TICKET_TTL_MS;
use crate::realtime::rejected_socket;
use crate::realtime::select::Filter;
use crate::wire::realtime::{BroadcastBody, Stats, TicketBody};

pub const ROUTES: &[Route] = &[
    route(Method::Get, "/v1/updates", Access::Public, h!(upgrade))
        .doc("realtime", "WebSocket upgrade: raw JSON frames, or Socket.IO with EIO=4&transport=websocket"),
    route(Method::Get, "/v1/websocket", Access::Public, h!(upgrade)).doc("realtime", "WebSocket upgrade (alias)"),
    route(Method::Post, "/v1/websocket/ticket", Access::User, h!(ticket))
        .doc("realtime", "A short-lived single-use ticket for ?ticket= WebSocket auth")
        .returns(response_schema::<TicketBody>),
    route(Method::Get, "/v1/websocket/stats", Access::User, h!(stats))
        .doc("realtime", "The caller's open connections")
        .returns(response_schema::<Stats>),
    route(Method::Post, "/v1/websocket/broadcast", Access::User, h!(broadcast))
        .doc("realtime", "Send a message to the caller's connections, optionally filtered")
        .body(request_schema::<BroadcastBody>)
        .returns(response_schema::<Broadcasted>),
];

/// GET /v1/updates and /v1/websocket.
async fn upgrade(ctx: Ctx) -> ApiResult<Response> {
    let eio = ctx.query("EIO");
    if let Some(version) = &eio {
        if version != "4" {
            return Err(ApiError::bad_request("Unsupported Engine.IO protocol version"));
        }
        if ctx.query("transport").as_deref() != Some("websocket") {
            return Err(ApiError::bad_request("Only the websocket transport is supported"));
        }
    }
    if !ctx.header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return Err(ApiError::new(426, "Expected a WebSocket upgrade"));
    }
    let after_seq = match ctx.query("afterSeq") {
        Some(v) => {
            Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| ApiError::bad_request("Invalid afterSeq"))?)
        }
        None => None,
    };
    if eio.is_some() {
        return Ok(connect_lobby(&ctx.env, ctx.header("cf-connecting-ip").as_deref(), Framing::Eio, after_seq).await?);
    }
    // Ticket and header auth name the user up front: straight to the user's object.
    let first = |header: &str, query: &str| ctx.header(header).or_else(|| ctx.query(query));
    let handshake = Handshake {
        token: None,
        client_type: first("x-client-type", "clientType"),
        session_id: first("x-session-id", "sessionId"),
        machine_id: first("x-machine-id", "machineId"),
        app_state: None,
        happy_client: ctx.header("x-happy-client"),
    };
    let (user_id, ticket) = if let Some(ticket) = ctx.query("ticket") {
        match ticket.rsplit_once('.') {
            Some((user, secret)) if !user.is_empty() && !secret.is_empty() => {
                (user.to_string(), Some(secret.to_string()))
            }
            _ => return Ok(rejected_socket(Framing::Raw, Reject::BadToken)?),
        }
    } else if let Some(token) = bearer(ctx.header("authorization")) {
        if let Err(r) = handshake.scope() {
            return Ok(rejected_socket(Framing::Raw, r)?);
        }
        match verify_token(&ctx.env, &token).await {
            Ok(user) => (user.id, None),
            Err(_) => return Ok(rejected_socket(Framing::Raw, Reject::BadToken)?),
        }
    } else {
        return Ok(connect_lobby(&ctx.env, ctx.header("cf-connecting-ip").as_deref(), Framing::Raw, after_seq).await?);
    };
    let scope = match handshake.scope() {
        Ok(s) => s,
        Err(r) => return Ok(rejected_socket(Framing::Raw, r)?),
    };
    let mut ident = Identity::new(&user_id, scope, Framing::Raw, &handshake);
    ident.ticket = ticket;
    ident.after_seq = after_seq;
    Ok(connect_hub(&ctx.env, ident).await?)
}

/// POST /v1/websocket/ticket: `<userId>.<secret>`; the user part routes the upgrade to the
/// user's object, which alone knows (and consumes) the secret.
async fn ticket(ctx: Ctx) -> ApiResult<Response> {
    let user_id = ctx.user_id()?;
    let t = Hub::new(&ctx.env, user_id).ticket().await?;
    json(&TicketBody {
        ticket: format!("{user_id}.{}", t.secret),
        expires_at: t.expires_at,
        expires_in: TICKET_TTL_MS / 1000,
    })
}

async fn stats(ctx: Ctx) -> ApiResult<Response> {
    json(&Hub::new(&ctx.env, ctx.user_id()?).stats().await?)
}

async fn broadcast(mut ctx: Ctx) -> ApiResult<Response> {
    let body: BroadcastBody = ctx.json().await?;
    let message = body.message.filter(|m| !m.is_null()).ok_or_else(|| ApiError::bad_request("message is required"))?;
    let filter = match body.filter {
        None => Filter::All,
        Some(f) => serde_json::from_value(f).map_err(|e| ApiError::bad_request(format!("Invalid filter: {e}")))?,
    };
    json(&Hub::new(&ctx.env, ctx.user_id()?).broadcast(Broadcast { message, filter }).await?)
}
