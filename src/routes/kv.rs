//! Per-account key-value store with optimistic versions (`db::kv`): a mutation batch applies
//! all or nothing.

use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::{json, json_status};
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::db::kv::{self as store, Mutated};
use crate::domain::kv;
use crate::domain::limit::Limit;
use crate::domain::text::Text;
use crate::error::{ApiError, ApiResult};
use crate::events::kv::kv_batch_update;
use crate::events::{Outbox, Recipients};
use crate::h;
use crate::realtime::publish;
use crate::wire::kv::{BatchApplied, BatchMismatched, BulkBody, BulkValues, ItemList, KeyVersion, KvItem, MutateBody};

pub const ROUTES: &[Route] = &[
    route(Method::Get, "/v1/kv", Access::User, h!(list))
        .doc("kv", "Items by key, optionally under a prefix")
        .returns(response_schema::<ItemList>),
    route(Method::Post, "/v1/kv", Access::User, h!(mutate))
        .doc("kv", "Atomic batch of creates (version -1), updates and deletes (value null)")
        .body(request_schema::<MutateBody>)
        .returns(response_schema::<BatchApplied>),
    route(Method::Post, "/v1/kv/bulk", Access::User, h!(bulk))
        .doc("kv", "The existing items among up to 100 keys")
        .body(request_schema::<BulkBody>)
        .returns(response_schema::<BulkValues>),
    route(Method::Get, "/v1/kv/:key", Access::User, h!(get_one))
        .doc("kv", "One item; 404 when absent")
        .returns(response_schema::<KvItem>),
];

async fn get_one(ctx: Ctx) -> ApiResult<Response> {
    let key = kv::key(ctx.param("key"))?;
    let item =
        store::get(&ctx.db()?, ctx.user_id()?, key).await?.ok_or_else(|| ApiError::not_found("Key not found"))?;
    json(&KvItem::from(item))
}

async fn list(ctx: Ctx) -> ApiResult<Response> {
    let prefix = ctx.query("prefix").unwrap_or_default();
    Text::up_to("prefix", &prefix, kv::MAX_KEY_CHARS)?;
    let limit = i64::from(Limit::parse(ctx.query("limit").as_deref(), 100, 1000)?.get());
    let items = store::list(&ctx.db()?, ctx.user_id()?, &prefix, limit).await?;
    json(&ItemList { items: items.into_iter().map(Into::into).collect() })
}

async fn bulk(mut ctx: Ctx) -> ApiResult<Response> {
    let body: BulkBody = ctx.json().await?;
    kv::keys(&body.keys)?;
    let keys: Vec<&str> = body.keys.iter().map(String::as_str).collect();
    let items = store::get_many(&ctx.db()?, ctx.user_id()?, &keys).await?;
    json(&BulkValues { values: items.into_iter().map(Into::into).collect() })
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
            let results = versions.into_iter().map(|(key, version)| KeyVersion { key, version }).collect();
            json(&BatchApplied { success: true, results })
        }
        Mutated::Mismatch(conflicts) => json_status(
            409,
            &BatchMismatched { success: false, errors: conflicts.into_iter().map(Into::into).collect() },
        ),
    }
}
