//! Push notification tokens (Expo tokens) of the account's devices.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::domain::limit;
use crate::error::ApiResult;
use crate::{args, h};

const MAX_TOKEN_CHARS: usize = 512;
/// More tokens than devices anyone has; keeps one account from growing the table without bound.
const MAX_TOKENS: i64 = 100;

pub fn routes() -> Vec<Route> {
    vec![
        route(Method::Post, "/v1/push-tokens", Access::User, h!(register))
            .doc("push", "Register a push token (idempotent)")
            .body(token_body)
            .returns(success),
        route(Method::Get, "/v1/push-tokens", Access::User, h!(list))
            .doc("push", "The account's push tokens")
            .returns(list_schema),
        route(Method::Delete, "/v1/push-tokens/:token", Access::User, h!(remove))
            .doc("push", "Forget a push token")
            .returns(success),
    ]
}

fn token_body() -> Value {
    object(&[("token", string())])
}
fn list_schema() -> Value {
    object(&[(
        "tokens",
        array(object(&[("id", string()), ("token", string()), ("createdAt", integer()), ("updatedAt", integer())])),
    )])
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

async fn register(mut ctx: Ctx) -> ApiResult<Response> {
    let body: TokenBody = ctx.json().await?;
    let token = limit::text("token", &body.token, MAX_TOKEN_CHARS)?;
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    // A known token only gets a new updatedAt; a new one is refused past the cap (oldest kept).
    let changed = db
        .run(
            "INSERT INTO push_tokens (id, account_id, token, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?4
             WHERE EXISTS (SELECT 1 FROM push_tokens WHERE account_id = ?2 AND token = ?3)
                OR (SELECT COUNT(*) FROM push_tokens WHERE account_id = ?2) < ?5
             ON CONFLICT (account_id, token) DO UPDATE SET updated_at = excluded.updated_at",
            args![uuid_v4(), &user, token, now_ms(), MAX_TOKENS],
        )
        .await?;
    if changed == 0 {
        return Err(crate::error::ApiError::bad_request(format!("At most {MAX_TOKENS} push tokens per account")));
    }
    json(&json!({"success": true}))
}

async fn list(ctx: Ctx) -> ApiResult<Response> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        token: String,
        created_at: i64,
        updated_at: i64,
    }
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT id, token, created_at, updated_at FROM push_tokens WHERE account_id = ?1 ORDER BY created_at, id",
            args![ctx.user_id()?],
        )
        .await?;
    let tokens: Vec<Value> = rows
        .into_iter()
        .map(|r| json!({"id": r.id, "token": r.token, "createdAt": r.created_at, "updatedAt": r.updated_at}))
        .collect();
    json(&json!({"tokens": tokens}))
}

/// Deleting an unknown token succeeds too: the device only wants it gone.
async fn remove(ctx: Ctx) -> ApiResult<Response> {
    ctx.db()?
        .run("DELETE FROM push_tokens WHERE account_id = ?1 AND token = ?2", args![ctx.user_id()?, ctx.param("token")])
        .await?;
    json(&json!({"success": true}))
}
