//! Per-account key-value store with optimistic versions. A mutation batch applies all or
//! nothing: guarded writes, then a guard statement that aborts the transaction unless every
//! write applied, so there is no gap between the version check and the write.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::{json, json_status};
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::db::{bump_account_seq, first_row, guard, rows, SeqRow};
use crate::domain::kv::{self, Mutation, ABSENT};
use crate::domain::limit;
use crate::error::{ApiError, ApiResult};
use crate::events::kv::kv_batch_update;
use crate::events::{Outbox, Recipients};
use crate::realtime::publish;
use crate::{args, h};

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

#[derive(Deserialize)]
struct Item {
    key: String,
    value: String,
    version: i64,
}

impl Item {
    fn json(&self) -> Value {
        json!({"key": self.key, "value": self.value, "version": self.version})
    }
}

async fn get_one(ctx: Ctx) -> ApiResult<Response> {
    let key = kv::key(ctx.param("key"))?;
    let item: Item = ctx
        .db()?
        .first(
            "SELECT key, value, version FROM kv_items WHERE account_id = ?1 AND key = ?2 AND value IS NOT NULL",
            args![ctx.user_id()?, key],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("Key not found"))?;
    json(&item.json())
}

async fn list(ctx: Ctx) -> ApiResult<Response> {
    let prefix = ctx.query("prefix").unwrap_or_default();
    if prefix.chars().count() > kv::MAX_KEY_CHARS {
        return Err(ApiError::bad_request(format!("prefix must be at most {} characters", kv::MAX_KEY_CHARS)));
    }
    let limit = limit::bounded("limit", ctx.query("limit"), 100, 1, 1000)?;
    let items: Vec<Item> = ctx
        .db()?
        .all(
            "SELECT key, value, version FROM kv_items
             WHERE account_id = ?1 AND substr(key, 1, length(?2)) = ?2 AND value IS NOT NULL
             ORDER BY key LIMIT ?3",
            args![ctx.user_id()?, &prefix, limit],
        )
        .await?;
    json(&json!({"items": items.iter().map(Item::json).collect::<Vec<_>>()}))
}

#[derive(Deserialize)]
struct BulkBody {
    keys: Vec<String>,
}

async fn bulk(mut ctx: Ctx) -> ApiResult<Response> {
    let body: BulkBody = ctx.json().await?;
    kv::keys(&body.keys)?;
    let items: Vec<Item> = ctx
        .db()?
        .all(
            "SELECT key, value, version FROM kv_items
             WHERE account_id = ?1 AND key IN (SELECT value FROM json_each(?2)) AND value IS NOT NULL ORDER BY key",
            args![ctx.user_id()?, serde_json::to_string(&body.keys)?],
        )
        .await?;
    json(&json!({"values": items.iter().map(Item::json).collect::<Vec<_>>()}))
}

#[derive(Deserialize)]
struct MutateBody {
    mutations: Vec<Mutation>,
}

async fn mutate(mut ctx: Ctx) -> ApiResult<Response> {
    let body: MutateBody = ctx.json().await?;
    let batch = body.mutations;
    kv::mutations(&batch)?;
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let batch_id = uuid_v4();
    let now = now_ms();

    // Creates need the key absent; updates and deletes need the exact version (a delete first
    // writes a NULL tombstone so the guard can count it, and is swept after the guard).
    // "Delete a key that does not exist" (-1, null) only asserts absence.
    let creates: Vec<&Mutation> = batch.iter().filter(|m| m.version == ABSENT && m.value.is_some()).collect();
    let writes: Vec<&Mutation> = batch.iter().filter(|m| m.version != ABSENT).collect();
    let absent: Vec<&str> =
        batch.iter().filter(|m| m.version == ABSENT && m.value.is_none()).map(|m| m.key.as_str()).collect();
    let as_json = |ms: &[&Mutation]| -> String {
        Value::Array(ms.iter().map(|m| json!({"key": m.key, "value": m.value, "version": m.version})).collect())
            .to_string()
    };
    let applied = creates.len() + writes.len();
    let stmts = vec![
        db.stmt(
            "UPDATE kv_items SET value = m.value, version = kv_items.version + 1, batch_id = ?2, updated_at = ?3
             FROM (SELECT json_extract(j.value, '$.key') AS key, json_extract(j.value, '$.value') AS value,
                          json_extract(j.value, '$.version') AS expected FROM json_each(?4) j) AS m
             WHERE kv_items.account_id = ?1 AND kv_items.key = m.key AND kv_items.version = m.expected
               AND kv_items.value IS NOT NULL",
            args![&user, &batch_id, now, as_json(&writes)],
        )?,
        db.stmt(
            "INSERT INTO kv_items (account_id, key, value, version, batch_id, created_at, updated_at)
             SELECT ?1, json_extract(j.value, '$.key'), json_extract(j.value, '$.value'), 0, ?2, ?3, ?3
             FROM json_each(?4) j WHERE true
             ON CONFLICT (account_id, key) DO NOTHING",
            args![&user, &batch_id, now, as_json(&creates)],
        )?,
        guard(
            &db,
            "(SELECT COUNT(*) FROM kv_items WHERE account_id = ?1 AND batch_id = ?2) = ?3
             AND NOT EXISTS (SELECT 1 FROM kv_items WHERE account_id = ?1 AND key IN (SELECT value FROM json_each(?4)))",
            args![&user, &batch_id, applied, serde_json::to_string(&absent)?],
        )?,
        db.stmt(
            "SELECT key, value, version FROM kv_items WHERE account_id = ?1 AND batch_id = ?2",
            args![&user, &batch_id],
        )?,
        db.stmt("DELETE FROM kv_items WHERE account_id = ?1 AND batch_id = ?2 AND value IS NULL", args![&user, &batch_id])?,
        bump_account_seq(&db, &user)?,
    ];
    let Some(results) = db.batch_guarded(stmts).await? else {
        return conflict(&db, &user, &batch).await;
    };

    #[derive(Deserialize)]
    struct Written {
        key: String,
        value: Option<String>,
        version: i64,
    }
    let written: Vec<Written> = rows(&results[3])?;
    let seq = first_row::<SeqRow>(&results[5])?.ok_or_else(|| ApiError::internal("seq bump returned nothing"))?;
    // In request order; a deleted (or asserted-absent) key reports version -1.
    let changes: Vec<(String, Option<String>, i64)> = batch
        .iter()
        .map(|m| {
            let version = match (&m.value, written.iter().find(|w| w.key == m.key)) {
                (Some(_), Some(w)) if w.value.is_some() => w.version,
                _ => ABSENT,
            };
            (m.key.clone(), m.value.clone(), version)
        })
        .collect();
    let results: Vec<Value> = changes.iter().map(|(k, _, v)| json!({"key": k, "version": v})).collect();
    let effective: Vec<_> = changes.into_iter().filter(|(k, _, _)| !absent.contains(&k.as_str())).collect();
    publish(
        &ctx.env,
        &ctx.wctx,
        &user,
        Outbox::default().update(seq.seq, kv_batch_update(&effective), Recipients::User),
    );
    json(&json!({"success": true, "results": results}))
}

/// The 409 after a rolled-back batch: every mutation whose expectation does not hold now, with
/// the key's current version (-1 when absent) and value.
async fn conflict(db: &crate::db::Db, user: &str, batch: &[Mutation]) -> ApiResult<Response> {
    let keys: Vec<&str> = batch.iter().map(|m| m.key.as_str()).collect();
    let current: Vec<Item> = db
        .all(
            "SELECT key, value, version FROM kv_items
             WHERE account_id = ?1 AND key IN (SELECT value FROM json_each(?2)) AND value IS NOT NULL",
            args![user, serde_json::to_string(&keys)?],
        )
        .await?;
    let errors: Vec<Value> = batch
        .iter()
        .filter_map(|m| {
            let now = current.iter().find(|c| c.key == m.key);
            let version = now.map(|c| c.version).unwrap_or(ABSENT);
            (version != m.version).then(|| {
                json!({"key": m.key, "error": "version-mismatch", "version": version, "value": now.map(|c| &c.value)})
            })
        })
        .collect();
    json_status(409, &json!({"success": false, "errors": errors}))
}
