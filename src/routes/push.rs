//! Push notification tokens (Expo tokens) of the account's devices, and session push events
//! delivered to them through the Expo push API.

use serde::Serialize;
use serde_json::{Map, Value};
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema, success};
use crate::config::now_ms;
use crate::db::{push_tokens, sessions};
use crate::domain::text::Text;
use crate::error::{ApiError, ApiResult};
use crate::events::{self, sessions::session_event, Outbox};
use crate::wire::push::{EventKind, PushEventBody, PushOutcome, PushResult, PushToken, PushTokenList, TokenBody};
use crate::wire::Success;
use crate::{h, upstream};

const MAX_TOKEN_CHARS: usize = 512;
/// More tokens than devices anyone has; keeps one account from growing the table without bound.
const MAX_TOKENS: i64 = 100;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/push-tokens", Access::User, h!(register))
        .doc("push", "Register a push token (idempotent)")
        .body(request_schema::<TokenBody>)
        .returns(success),
    route(Method::Get, "/v1/push-tokens", Access::User, h!(list))
        .doc("push", "The account's push tokens")
        .returns(response_schema::<PushTokenList>),
    route(Method::Delete, "/v1/push-tokens/:token", Access::User, h!(remove))
        .doc("push", "Forget a push token")
        .returns(success),
    route(Method::Post, "/v1/sessions/:id/push-event", Access::User, h!(push_event))
        .doc(
            "push",
            "Announce a session event (done, permission, question) to the session's sockets and the account's devices; suppressed while the app is in the foreground",
        )
        .body(request_schema::<PushEventBody>)
        .returns(response_schema::<PushOutcome>),
];

const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 500;
/// Expo refuses notifications over 4 KiB; `data` travels inside one.
const MAX_DATA_BYTES: usize = 2048;

/// Checks a push event; `data` must be an object (or absent/null) of at most 2 KiB.
fn validate_event(e: &PushEventBody) -> ApiResult<()> {
    if EventKind::parse(&e.kind).is_none() {
        return Err(ApiError::bad_request("kind must be done, permission or question"));
    }
    Text::parse("title", &e.title, MAX_TITLE)?;
    Text::parse("body", &e.body, MAX_BODY)?;
    match &e.data {
        None | Some(Value::Null) => Ok(()),
        Some(d @ Value::Object(_)) if d.to_string().len() <= MAX_DATA_BYTES => Ok(()),
        Some(Value::Object(_)) => Err(ApiError::bad_request(format!("data exceeds {MAX_DATA_BYTES} bytes"))),
        Some(_) => Err(ApiError::bad_request("data must be an object")),
    }
}

/// One notification of Expo's push API.
#[derive(Serialize)]
struct ExpoMessage<'a> {
    to: &'a str,
    title: &'a str,
    body: &'a str,
    data: &'a Map<String, Value>,
    sound: &'static str,
}

/// The Expo messages of one event, one per token, as sent; `data` carries the session and kind
/// so the app can open the session.
fn expo_messages(tokens: &[String], sid: &str, e: &PushEventBody) -> String {
    let mut data = match &e.data {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    data.insert("sessionId".into(), sid.into());
    data.insert("kind".into(), e.kind.as_str().into());
    let messages: Vec<ExpoMessage> = tokens
        .iter()
        .map(|to| ExpoMessage { to, title: &e.title, body: &e.body, data: &data, sound: "default" })
        .collect();
    serde_json::to_string(&messages).expect("strings and JSON values serialize")
}

/// What Expo did with a batch: its reply holds one ticket per message, in order.
#[derive(Debug, PartialEq)]
struct Delivery {
    delivered: usize,
    reason: Option<String>,
    /// Tokens Expo reports as no longer registered (the app was uninstalled): forgotten.
    unregistered: Vec<String>,
}

fn read_tickets(tokens: &[String], reply: &Value) -> Delivery {
    let tickets = reply.get("data").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut out = Delivery { delivered: 0, reason: None, unregistered: Vec::new() };
    for (token, ticket) in tokens.iter().zip(tickets) {
        if ticket.get("status").and_then(Value::as_str) == Some("ok") {
            out.delivered += 1;
            continue;
        }
        let code = ticket.pointer("/details/error").and_then(Value::as_str);
        if code == Some("DeviceNotRegistered") {
            out.unregistered.push(token.clone());
        }
        if out.reason.is_none() {
            out.reason =
                Some(code.or_else(|| ticket.get("message").and_then(Value::as_str)).unwrap_or("rejected").to_string());
        }
    }
    if tickets.len() < tokens.len() && out.reason.is_none() {
        out.reason = Some("missing tickets".into());
    }
    out
}

async fn push_event(mut ctx: Ctx) -> ApiResult<Response> {
    let event: PushEventBody = ctx.json().await?;
    validate_event(&event)?;
    let user = ctx.user_id()?.to_string();
    let sid = ctx.param("id").to_string();
    let db = ctx.db()?;
    let tokens = push_tokens::for_session_push(&db, &user, &sid).await?.ok_or_else(sessions::not_found)?;
    let ephemeral = session_event(&sid, &event.kind, &event.title, &event.body, now_ms());
    crate::realtime::publish(&ctx.env, &ctx.wctx, &user, Outbox::default().ephemeral(ephemeral, events::session(&sid)));
    if tokens.is_empty() {
        return json(&PushOutcome::skipped(PushResult::NoTokens, 0, None));
    }
    if crate::realtime::app_active(&ctx.env, &user).await {
        return json(&PushOutcome::skipped(PushResult::Suppressed, tokens.len(), Some("app-active")));
    }
    let url = format!("{}/--/api/v2/push/send", upstream::base_url(&ctx.env, "EXPO_PUSH_BASE_URL", "https://exp.host"));
    let bearer = ctx.var("EXPO_ACCESS_TOKEN").map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json"), ("accept", "application/json")];
    if let Some(b) = &bearer {
        headers.push(("authorization", b));
    }
    let messages = expo_messages(&tokens, &sid, &event);
    let failed = |reason: String| PushOutcome::delivered(tokens.len(), 0, Some(reason));
    let reply = match upstream::send(&ctx.env, Method::Post, &url, &headers, Some(messages)).await {
        Ok(r) if r.ok() => r,
        Ok(r) => return json(&failed(format!("push service answered {}", r.status))),
        Err(e) => return json(&failed(format!("push service: {e}"))),
    };
    let Some(reply) = reply.json::<Value>() else { return json(&failed("push service reply is not JSON".into())) };
    let delivery = read_tickets(&tokens, &reply);
    if !delivery.unregistered.is_empty() {
        push_tokens::remove_all(&db, &user, &delivery.unregistered).await?;
    }
    json(&PushOutcome::delivered(tokens.len(), delivery.delivered, delivery.reason))
}

async fn register(mut ctx: Ctx) -> ApiResult<Response> {
    let body: TokenBody = ctx.json().await?;
    let token = Text::parse("token", &body.token, MAX_TOKEN_CHARS)?.as_str();
    let user = ctx.user_id()?.to_string();
    // A new token is refused past the cap (oldest kept).
    if !push_tokens::register(&ctx.db()?, &user, token, MAX_TOKENS).await? {
        return Err(crate::error::ApiError::bad_request(format!("At most {MAX_TOKENS} push tokens per account")));
    }
    json(&Success::TRUE)
}

async fn list(ctx: Ctx) -> ApiResult<Response> {
    let tokens: Vec<PushToken> =
        push_tokens::list(&ctx.db()?, ctx.user_id()?).await?.into_iter().map(Into::into).collect();
    json(&PushTokenList { tokens })
}

/// Deleting an unknown token succeeds too: the device only wants it gone.
async fn remove(ctx: Ctx) -> ApiResult<Response> {
    push_tokens::remove(&ctx.db()?, ctx.user_id()?, ctx.param("token")).await?;
    json(&Success::TRUE)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, title: &str, body: &str, data: Option<Value>) -> PushEventBody {
        PushEventBody { kind: kind.into(), title: title.into(), body: body.into(), data }
    }

    #[test]
    fn events_are_validated() {
        assert!(validate_event(&event("done", "t", "b", None)).is_ok());
        assert!(validate_event(&event("question", "t", "b", Some(json!({"a": 1})))).is_ok());
        assert!(validate_event(&event("permission", "t", "b", Some(Value::Null))).is_ok());
        assert!(validate_event(&event("other", "t", "b", None)).is_err());
        assert!(validate_event(&event("done", "", "b", None)).is_err());
        assert!(validate_event(&event("done", &"x".repeat(201), "b", None)).is_err());
        assert!(validate_event(&event("done", &"é".repeat(200), &"x".repeat(500), None)).is_ok());
        assert!(validate_event(&event("done", "t", &"x".repeat(501), None)).is_err());
        assert!(validate_event(&event("done", "t", "b", Some(json!([1])))).is_err());
        assert!(validate_event(&event("done", "t", "b", Some(json!({"a": "x".repeat(3000)})))).is_err());
    }

    #[test]
    fn expo_messages_carry_the_session() {
        let m = expo_messages(&["A".into(), "B".into()], "s1", &event("done", "T", "B", Some(json!({"x": 1}))));
        let m: Value = serde_json::from_str(&m).unwrap();
        assert_eq!(m.as_array().unwrap().len(), 2);
        assert_eq!(
            m[1],
            json!({"to": "B", "title": "T", "body": "B", "sound": "default",
                   "data": {"x": 1, "sessionId": "s1", "kind": "done"}})
        );
    }

    #[test]
    fn tickets_decide_the_result() {
        let tokens: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let all_ok = json!({"data": [{"status": "ok"}, {"status": "ok"}, {"status": "ok"}]});
        assert_eq!(read_tickets(&tokens, &all_ok), Delivery { delivered: 3, reason: None, unregistered: vec![] });
        let mixed = json!({"data": [{"status": "ok"}, {"status": "error", "message": "gone",
                                     "details": {"error": "DeviceNotRegistered"}}, {"status": "error", "message": "m"}]});
        assert_eq!(
            read_tickets(&tokens, &mixed),
            Delivery { delivered: 1, reason: Some("DeviceNotRegistered".into()), unregistered: vec!["b".into()] }
        );
        assert_eq!(read_tickets(&tokens, &json!({"errors": []})).reason.as_deref(), Some("missing tickets"));
    }
}
