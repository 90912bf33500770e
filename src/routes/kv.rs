//! Per-account key-value store with optimistic versions (`db::kv`): a mutation batch applies
//! all or nothing.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::{json, json_status};
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::db::kv::{self as store, Item, Mutated};
use crate::domain::kv::{self, Mutation};
use crate::domain::limit::Limit;
use crate::domain::text::Text;
use crate::error::{ApiError, ApiResult};
use crate::events::kv::kv_batch_update;
use crate::events::{Outbox, Recipients};
use crate::h;
use crate::realtime::publish;

pub const ROUTES: &[Route] = &[
    route(Method::Get, "/v1/kv", Access::User, h!(list))
        .doc("kv", "Items by key, optionally under a prefix")
        .returns(|| object(&[("items", array(item_schema()))])),
    route(Method::Post, "/v1/kv", Access::User, h!(mutate))
        .doc("kv", "Atomic batch of creates (version -1), updates and deletes (value null)")
        .body(mutate_schema)
        .returns(mutate_result),
    route(Method::Post, "/v1/kv/bulk", Access::User, h!(bulk))
        .doc("kv", "The existing items among up to 100 keys")
        .body(|| object(&[("keys", array(string()))]))
        .returns(|| object(&[("values", array(item_schema()))])),
    route(Method::Get, "/v1/kv/:key", Access::User, h!(get_one))
        .doc("kv", "One item; 404 when absent")
        .returns(item_schema),
];

fn item_schema() -> Value {
    object(&[("key", string()), ("value", string()), ("version", integer())])
}
fn mutate_schema() -> Value {
    object(&[("mutations", array(object(&[("key", string()), ("value", nullable(string())), ("version", integer())])))])
}
fn mutate_result() -> Value {
    object(&[("success", boolean()), ("results", array(object(&[("key", string()), ("version", integer())])))])
}

fn item_json(item: &Item) -> Value {
    json!({"key": item.key, "value": item.value, "version": item.version})
}

async fn get_one(ctx: Ctx) -> ApiResult<Response> {
    let key = kv::key(ctx.param("key"))?;
    let item =
        store::get(&ctx.db()?, ctx.user_id()?, key).await?.ok_or_else(|| ApiError::not_found("Key not found"))?;
    json(&item_json(&item))
}

async fn list(ctx: Ctx) -> ApiResult<Response> {
    let prefix = ctx.query("prefix").unwrap_or_default();
    Text::up_to("prefix", &prefix, kv::MAX_KEY_CHARS)?;
    let limit = i64::from(Limit::parse(ctx.query("limit").as_deref(), 100, 1000)?.get());
    let items = store::list(&ctx.db()?, ctx.user_id()?, &prefix, limit).await?;
    json(&json!({"items": items.iter().map(item_json).collect::<Vec<_>>()}))
}

#[derive(Deserialize)]
struct BulkBody {
    keys: Vec<String>,
}

async fn bulk(mut ctx: Ctx) -> ApiResult<Response> {
    let body: BulkBody = ctx.json().await?;
    kv::keys(&body.keys)?;
    let keys: Vec<&str> = body.keys.iter().map(String::as_str).collect();
    let items = store::get_many(&ctx.db()?, ctx.user_id()?, &keys).await?;
    json(&json!({"values": items.iter().map(item_json).collect::<Vec<_>>()}))
}

#[derive(Deserialize)]
struct MutateBody {
    mutations: Vec<Mutation>,
}

/// 200 with each key's new version (-1: absent) and a `kv-batch-update`, or 409 with every
/// mismatch and the key's current version and value.
async fn mutate(mut ctx: Ctx) -> ApiResult<Response> {
    let body: MutateBody = ctx.json().await?;
    kv::mutations(&body.mutations)?;
    let user = ctx.user_id()?.to_string();
    match store::mutate(&ctx.db()?, &user, &body.mutations).await? {
        Mutated::Applied { seq, versions, changed } => {
            let update = kv_batch_update(&changed);
            publish(&ctx.env, &ctx.wctx, &user, Outbox::default().update(seq, update, Recipients::User));
            let results: Vec<Value> = versions.iter().map(|(k, v)| json!({"key": k, "version": v})).collect();
            json(&json!({"success": true, "results": results}))
        }
        Mutated::Mismatch(conflicts) => {
            let errors: Vec<Value> = conflicts
                .iter()
                .map(|c| json!({"key": c.key, "error": "version-mismatch", "version": c.version, "value": c.value}))
                .collect();
            json_status(409, &json!({"success": false, "errors": errors}))
        }
    }
}
