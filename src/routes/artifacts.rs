//! Artifacts: encrypted documents the app syncs (COMPAT 1.4, conflicts C1-C3). Header, body and
//! key are opaque client strings, stored and returned verbatim.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{Method, Response};

use crate::app::client::is_stock_client;
use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::config::now_ms;
use crate::db::{bump_account_seq_if, first_row, Db, SeqRow};
use crate::domain::limit;
use crate::error::{ApiError, ApiResult};
use crate::events::artifacts::{delete_artifact, new_artifact, update_artifact, ArtifactFields};
use crate::events::{Outbox, Recipients};
use crate::realtime::publish;
use crate::{args, h};

const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 768 * 1024;
const MAX_KEY_BYTES: usize = 4096;
const LIST_LIMIT: i64 = 200;

pub fn routes() -> Vec<Route> {
    vec![
        route(Method::Get, "/v1/artifacts", Access::User, h!(list))
            .doc("artifacts", "Artifact headers, newest first (bare array for the stock app, C1)")
            .returns(list_schema),
        route(Method::Get, "/v1/artifacts/:id", Access::User, h!(get))
            .doc("artifacts", "One artifact with its body: fields at top level and under `artifact` (C2)")
            .returns(full_schema),
        route(Method::Post, "/v1/artifacts", Access::User, h!(create))
            .doc("artifacts", "Create an artifact; the same id again returns it unchanged (C3)")
            .body(create_schema)
            .returns(full_schema),
        route(Method::Post, "/v1/artifacts/:id", Access::User, h!(update))
            .doc("artifacts", "Compare-and-set header and/or body")
            .body(update_schema)
            .returns(update_result_schema),
        route(Method::Delete, "/v1/artifacts/:id", Access::User, h!(delete))
            .doc("artifacts", "Delete an artifact")
            .returns(success),
    ]
}

fn header_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("id", string()),
        ("header", string()),
        ("headerVersion", integer()),
        ("dataEncryptionKey", string()),
        ("seq", integer()),
        ("createdAt", integer()),
        ("updatedAt", integer()),
    ]
}
fn header_schema() -> Value {
    object(&header_fields())
}
fn artifact_schema() -> Value {
    let mut f = header_fields();
    f.extend([("body", string()), ("bodyVersion", integer())]);
    object(&f)
}
fn list_schema() -> Value {
    one_of(vec![array(header_schema()), object(&[("artifacts", array(header_schema()))])])
}
fn full_schema() -> Value {
    let mut f = header_fields();
    f.extend([("body", string()), ("bodyVersion", integer()), ("artifact", artifact_schema())]);
    object(&f)
}
fn create_schema() -> Value {
    object(&[("id", string()), ("header", string()), ("body", string()), ("dataEncryptionKey", string())])
}
fn update_schema() -> Value {
    object(&[
        ("header?", string()),
        ("expectedHeaderVersion?", integer()),
        ("body?", string()),
        ("expectedBodyVersion?", integer()),
    ])
}
fn update_result_schema() -> Value {
    object(&[
        ("success", boolean()),
        ("headerVersion?", integer()),
        ("bodyVersion?", integer()),
        ("error?", enumeration(&["version-mismatch"])),
        ("currentHeaderVersion?", integer()),
        ("currentHeader?", string()),
        ("currentBodyVersion?", integer()),
        ("currentBody?", string()),
    ])
}

#[derive(Deserialize)]
struct Row {
    id: String,
    account_id: String,
    header: String,
    header_version: i64,
    body: String,
    body_version: i64,
    data_encryption_key: String,
    seq: i64,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn fields(&self) -> ArtifactFields<'_> {
        ArtifactFields {
            id: &self.id,
            header: &self.header,
            header_version: self.header_version,
            body: &self.body,
            body_version: self.body_version,
            data_encryption_key: &self.data_encryption_key,
            seq: self.seq,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// C2/C3: every field at top level and the same object under `artifact`.
    fn full(&self) -> Value {
        let artifact = json!({
            "id": self.id,
            "header": self.header,
            "headerVersion": self.header_version,
            "body": self.body,
            "bodyVersion": self.body_version,
            "dataEncryptionKey": self.data_encryption_key,
            "seq": self.seq,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        });
        let mut top: Map<String, Value> = artifact.as_object().cloned().unwrap_or_default();
        top.insert("artifact".into(), artifact);
        Value::Object(top)
    }
}

const COLUMNS: &str =
    "id, account_id, header, header_version, body, body_version, data_encryption_key, seq, created_at, updated_at";

/// Artifact ids are UUIDs in the hyphenated form the app generates.
fn artifact_id(id: &str) -> ApiResult<&str> {
    if id.len() == 36 && uuid::Uuid::try_parse(id).is_ok() {
        Ok(id)
    } else {
        Err(ApiError::bad_request("id must be a UUID"))
    }
}

async fn list(ctx: Ctx) -> ApiResult<Response> {
    #[derive(Deserialize)]
    struct Header {
        id: String,
        header: String,
        header_version: i64,
        data_encryption_key: String,
        seq: i64,
        created_at: i64,
        updated_at: i64,
    }
    let rows: Vec<Header> = ctx
        .db()?
        .all(
            "SELECT id, header, header_version, data_encryption_key, seq, created_at, updated_at FROM artifacts
             WHERE account_id = ?1 ORDER BY updated_at DESC, id LIMIT ?2",
            args![ctx.user_id()?, LIST_LIMIT],
        )
        .await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({"id": r.id, "header": r.header, "headerVersion": r.header_version,
                   "dataEncryptionKey": r.data_encryption_key, "seq": r.seq,
                   "createdAt": r.created_at, "updatedAt": r.updated_at})
        })
        .collect();
    if is_stock_client(&ctx) {
        json(&items)
    } else {
        json(&json!({"artifacts": items}))
    }
}

async fn owned(db: &Db, user: &str, id: &str) -> ApiResult<Row> {
    db.first(&format!("SELECT {COLUMNS} FROM artifacts WHERE id = ?1 AND account_id = ?2"), args![id, user])
        .await?
        .ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::not_found("Artifact not found")
}

async fn get(ctx: Ctx) -> ApiResult<Response> {
    let row = owned(&ctx.db()?, ctx.user_id()?, ctx.param("id")).await?;
    json(&row.full())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    id: String,
    header: String,
    body: String,
    data_encryption_key: String,
}

async fn create(mut ctx: Ctx) -> ApiResult<Response> {
    let b: CreateBody = ctx.json().await?;
    let id = artifact_id(&b.id)?;
    limit::payload("header", &b.header, MAX_HEADER_BYTES)?;
    limit::payload("body", &b.body, MAX_BODY_BYTES)?;
    limit::payload("dataEncryptionKey", &b.data_encryption_key, MAX_KEY_BYTES)?;
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let now = now_ms();
    // One transaction: the seq is allocated only when the id is free, the insert does nothing
    // when it is taken, and the final read shows whoever owns it. Two racing creates of one id
    // thus make one row and one event.
    let results = db
        .batch(vec![
            bump_account_seq_if(&db, &user, "NOT EXISTS (SELECT 1 FROM artifacts WHERE id = ?2)", args![id])?,
            db.stmt(
                &format!(
                    "INSERT INTO artifacts (id, account_id, header, header_version, body, body_version,
                       data_encryption_key, seq, created_at, updated_at)
                     VALUES (?1, ?2, ?3, 1, ?4, 1, ?5, 0, ?6, ?6)
                     ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}"
                ),
                args![id, &user, &b.header, &b.body, &b.data_encryption_key, now],
            )?,
            db.stmt(&format!("SELECT {COLUMNS} FROM artifacts WHERE id = ?1"), args![id])?,
        ])
        .await?;
    if let (Some(seq), Some(row)) = (first_row::<SeqRow>(&results[0])?, first_row::<Row>(&results[1])?) {
        let outbox = Outbox::default().update(seq.seq, new_artifact(&row.fields()), Recipients::User);
        publish(&ctx.env, &ctx.wctx, &user, outbox);
        return json(&row.full());
    }
    match first_row::<Row>(&results[2])? {
        Some(row) if row.account_id == user => json(&row.full()),
        Some(_) => Err(ApiError::conflict("Artifact with this ID already exists for another account")),
        None => Err(ApiError::internal("artifact vanished during create")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    header: Option<String>,
    expected_header_version: Option<i64>,
    body: Option<String>,
    expected_body_version: Option<i64>,
}

/// A part to compare-and-set: `(new value, expected version)`.
fn part(name: &str, value: Option<String>, expected: Option<i64>, max: usize) -> ApiResult<Option<(String, i64)>> {
    match (value, expected) {
        (None, _) => Ok(None),
        (Some(v), Some(e)) if e >= 0 => {
            limit::payload(name, &v, max)?;
            Ok(Some((v, e)))
        }
        (Some(_), _) => Err(ApiError::bad_request(format!(
            "{name} needs expected{}Version >= 0",
            if name == "header" { "Header" } else { "Body" }
        ))),
    }
}

async fn update(mut ctx: Ctx) -> ApiResult<Response> {
    let b: UpdateBody = ctx.json().await?;
    let header = part("header", b.header, b.expected_header_version, MAX_HEADER_BYTES)?;
    let body = part("body", b.body, b.expected_body_version, MAX_BODY_BYTES)?;
    if header.is_none() && body.is_none() {
        return Err(ApiError::bad_request("Nothing to update: send header and/or body"));
    }
    let id = ctx.param("id").to_string();
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let (h_val, h_exp) = header.as_ref().map(|(v, e)| (Some(v.as_str()), Some(*e))).unwrap_or((None, None));
    let (b_val, b_exp) = body.as_ref().map(|(v, e)| (Some(v.as_str()), Some(*e))).unwrap_or((None, None));
    // The compare-and-set predicate, evaluated by the seq bump and the update alike (same
    // transaction, nothing in between), so a lost race burns no seq.
    let cas = "EXISTS (SELECT 1 FROM artifacts WHERE id = ?2 AND account_id = ?1
                 AND (?3 IS NULL OR header_version = ?3) AND (?4 IS NULL OR body_version = ?4))";
    #[derive(Deserialize)]
    struct Versions {
        header_version: i64,
        body_version: i64,
    }
    let results = db
        .batch(vec![
            bump_account_seq_if(&db, &user, cas, args![&id, h_exp, b_exp])?,
            db.stmt(
                "UPDATE artifacts SET
                   header = COALESCE(?3, header), header_version = header_version + (?3 IS NOT NULL),
                   body = COALESCE(?5, body), body_version = body_version + (?5 IS NOT NULL),
                   seq = seq + 1, updated_at = ?7
                 WHERE id = ?2 AND account_id = ?1
                   AND (?4 IS NULL OR header_version = ?4) AND (?6 IS NULL OR body_version = ?6)
                 RETURNING header_version, body_version",
                args![&user, &id, h_val, h_exp, b_val, b_exp, now_ms()],
            )?,
            db.stmt(&format!("SELECT {COLUMNS} FROM artifacts WHERE id = ?1 AND account_id = ?2"), args![&id, &user])?,
        ])
        .await?;
    if let (Some(seq), Some(v)) = (first_row::<SeqRow>(&results[0])?, first_row::<Versions>(&results[1])?) {
        let event = update_artifact(&id, h_val.map(|h| (h, v.header_version)), b_val.map(|b| (b, v.body_version)));
        publish(&ctx.env, &ctx.wctx, &user, Outbox::default().update(seq.seq, event, Recipients::User));
        let mut out = Map::new();
        out.insert("success".into(), true.into());
        if header.is_some() {
            out.insert("headerVersion".into(), v.header_version.into());
        }
        if body.is_some() {
            out.insert("bodyVersion".into(), v.body_version.into());
        }
        return json(&out);
    }
    let current = first_row::<Row>(&results[2])?.ok_or_else(not_found)?;
    let mut out = Map::new();
    out.insert("success".into(), false.into());
    out.insert("error".into(), "version-mismatch".into());
    if h_exp.is_some_and(|e| e != current.header_version) {
        out.insert("currentHeaderVersion".into(), current.header_version.into());
        out.insert("currentHeader".into(), current.header.into());
    }
    if b_exp.is_some_and(|e| e != current.body_version) {
        out.insert("currentBodyVersion".into(), current.body_version.into());
        out.insert("currentBody".into(), current.body.into());
    }
    json(&out)
}

async fn delete(ctx: Ctx) -> ApiResult<Response> {
    let id = ctx.param("id").to_string();
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let results = db
        .batch(vec![
            bump_account_seq_if(
                &db,
                &user,
                "EXISTS (SELECT 1 FROM artifacts WHERE id = ?2 AND account_id = ?1)",
                args![&id],
            )?,
            db.stmt("DELETE FROM artifacts WHERE id = ?1 AND account_id = ?2", args![&id, &user])?,
        ])
        .await?;
    let seq = first_row::<SeqRow>(&results[0])?.ok_or_else(not_found)?;
    publish(&ctx.env, &ctx.wctx, &user, Outbox::default().update(seq.seq, delete_artifact(&id), Recipients::User));
    json(&json!({"success": true}))
}
