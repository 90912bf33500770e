//! Uploads: bytes in R2 (binding `UPLOADS`), metadata in D1 `uploaded_files`.
//!
//! The body streams: the multipart parser reads each network chunk as it arrives, the file's
//! bytes pass the checks of [`FileIntake`] and go on to an [`ObjectWriter`], which holds at
//! most one part ([`PART_SIZE`](crate::storage::writer::PART_SIZE), 8 MiB) before sending it
//! to R2. An upload of any size holds that much, never the file.
//!
//! The form's fields may come after the file (the order is the client's): a refusal that needs
//! only what has arrived comes at once (the size limit and the quota at the byte that crosses
//! them, the content at the file's first 16 bytes, a text's first bad byte), and the file is
//! stored first and validated when the form ends against its fields (the category's size and
//! kinds), the multipart upload aborted when it fails. Until a `category` field has arrived the
//! limit in force is the largest. The object's key carries the category known when its first
//! part went out, so a file over one part whose category comes after it keeps the `files/`
//! prefix (R2 cannot rename); the row's category is the form's.
//!
//! Write order, so that a failure at any step leaves at worst an unreferenced object (which
//! `POST /v1/uploads/sweep` removes) and never a row pointing at a missing object:
//! store the new object → one D1 batch swapping the rows → delete the replaced object.

use std::collections::HashSet;

use serde_json::Value;
use worker::{Method, Range, Response, ResponseBody};

use crate::app::body::BodyStream;
use crate::app::ctx::Ctx;
use crate::app::respond::{error_response, json};
use crate::app::router::{route, Access, Route};
use crate::app::schema::{any, response_schema, success};
use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::db::uploads::{self, FileRow, Quota, Swapped};
use crate::domain::limit::Limit;
use crate::error::{ApiError, ApiResult};
use crate::events::account::avatar_changed;
use crate::h;
use crate::storage::intake::{Checked, FileIntake, Refusal};
use crate::storage::multipart::{Event, FormParser};
use crate::storage::range::{none_match, parse_range, RangeRequest};
use crate::storage::sniff::Kind;
use crate::storage::writer::ObjectWriter;
use crate::storage::{self, unreferenced, Category};
use crate::wire::uploads::{AvatarFile, AvatarUploaded, File, FileList, FileWithUrl, StoredAvatar, Swept, Uploaded};
use crate::wire::Success;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/uploads", Access::User, h!(upload))
        .doc("uploads", "Upload a file (multipart/form-data: file, category, reuseKey); 403 beyond the plan's upload quota")
        .returns(response_schema::<Uploaded>),
    route(Method::Get, "/v1/uploads", Access::User, h!(list))
        .doc("uploads", "List the caller's files (category, cursor, limit 1-200)")
        .returns(response_schema::<FileList>),
    route(Method::Post, "/v1/uploads/avatar", Access::User, h!(upload_avatar))
        .doc("uploads", "Upload the profile avatar (multipart/form-data: file) and set it on the account; 403 beyond the plan's upload quota")
        .returns(response_schema::<AvatarUploaded>),
    route(Method::Post, "/v1/uploads/sweep", Access::User, h!(sweep))
        .doc("uploads", "Remove the caller's stored objects that no file references (after a failed write)")
        .returns(response_schema::<Swept>),
    route(Method::Get, "/v1/uploads/:id", Access::User, h!(get_file))
        .doc("uploads", "File metadata and its download URL")
        .returns(response_schema::<FileWithUrl>),
    route(Method::Get, "/v1/uploads/:id/download", Access::User, h!(download))
        .doc("uploads", "File content (ETag/If-None-Match, single Range)")
        .returns(any),
    route(Method::Delete, "/v1/uploads/:id", Access::User, h!(delete_file))
        .doc("uploads", "Delete a file from D1 and R2")
        .returns(success),
];

/// Room for the multipart framing and the small fields around the file.
const MULTIPART_OVERHEAD: usize = 64 * 1024;
const AVATAR_REUSE_KEY: &str = "profile-avatar";
const MAX_REUSE_KEY: usize = 128;
const MAX_NAME: usize = 255;
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;
/// Objects younger than this are never swept: their upload may still be committing.
const DEFAULT_SWEEP_GRACE_MS: i64 = 60 * 60 * 1000;

/// Text fields (category, reuseKey) longer than this are refused.
const MAX_FIELD: usize = 1024;

fn over_quota(max: i64) -> ApiError {
    ApiError::forbidden("Upload quota exceeded").with("limit", "uploadBytesPerAccount").with("max", max)
}

fn too_large(category: Category) -> ApiError {
    ApiError::too_large(format!(
        "File exceeds {} MB for {}",
        category.max_size() / crate::storage::MB,
        category.as_str()
    ))
}

fn unsupported() -> ApiError {
    ApiError::new(415, "Unsupported or mismatched content type")
}

/// The form's fields as they arrive; the avatar route fixes them.
struct Fields {
    fixed: bool,
    category: Option<Category>,
    reuse_key: Option<String>,
}

impl Fields {
    fn set(&mut self, name: &str, raw: &[u8]) -> ApiResult<()> {
        let text = std::str::from_utf8(raw).map_err(|_| ApiError::bad_request(format!("{name} must be text")))?;
        let value = Some(text.trim().to_string()).filter(|s| !s.is_empty());
        match name {
            "category" => {
                self.category = match value {
                    None => None,
                    Some(c) => Some(
                        Category::parse(&c)
                            .ok_or_else(|| ApiError::bad_request("category must be avatars, documents or files"))?,
                    ),
                }
            }
            _ => {
                if let Some(k) = &value {
                    if k.len() > MAX_REUSE_KEY {
                        return Err(ApiError::bad_request(format!("reuseKey must be at most {MAX_REUSE_KEY} bytes")));
                    }
                    if k == AVATAR_REUSE_KEY {
                        return Err(ApiError::bad_request(
                            "reuseKey profile-avatar is reserved for /v1/uploads/avatar",
                        ));
                    }
                }
                self.reuse_key = value;
            }
        }
        Ok(())
    }

    /// The category in force: the form's so far, else the default.
    fn category(&self) -> Category {
        self.category.unwrap_or(Category::Files)
    }
}

/// The form's file part, as it streams.
struct FilePart {
    intake: FileIntake,
    writer: ObjectWriter,
    original_name: String,
}

/// Where the current part's bytes go.
enum Sink {
    File,
    Field(String, Vec<u8>),
    Skip,
}

/// The object's key for a file of this account, category and kind.
fn object_key(user: &str, id: &str, category: Category, kind: Kind) -> String {
    format!("{}{id}.{}", category.prefix(user), kind.extension())
}

/// Reads the form to its end (its closing delimiter: the parser answers an error for a body
/// that ends before it), streaming the file into `file` (created at its first byte).
async fn receive(
    ctx: &Ctx,
    body: &mut BodyStream,
    fields: &mut Fields,
    file: &mut Option<FilePart>,
    (user, id, quota): (&str, &str, &Quota),
) -> ApiResult<()> {
    let content_type = ctx.header("content-type").unwrap_or_default();
    let mut parser = FormParser::new(&content_type).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut sink = Sink::Skip;
    loop {
        let more = match body.next().await? {
            Some(bytes) => {
                parser.push(bytes);
                true
            }
            None => {
                parser.finish();
                false
            }
        };
        while let Some(event) = parser.next_event().map_err(|e| ApiError::bad_request(e.to_string()))? {
            match event {
                Event::Part(head) => {
                    sink = if head.name == "file" && head.filename.is_some() && file.is_none() {
                        let name = head.filename.as_deref().unwrap_or("");
                        *file = Some(FilePart {
                            intake: FileIntake::new(
                                head.content_type,
                                fields.category().max_size(),
                                quota.room.max(0) as u64,
                            ),
                            writer: ObjectWriter::new(&ctx.env, ctx.declared_length())?,
                            original_name: name.chars().filter(|c| !c.is_control()).take(MAX_NAME).collect(),
                        });
                        Sink::File
                    } else if !fields.fixed && (head.name == "category" || head.name == "reuseKey") {
                        Sink::Field(head.name, Vec::new())
                    } else {
                        Sink::Skip
                    };
                }
                Event::Data(bytes) => match (&mut sink, file.as_mut()) {
                    (Sink::File, Some(f)) => {
                        let known = f.intake.kind();
                        f.intake.feed(bytes).map_err(|r| refused(r, fields.category(), quota))?;
                        if let (None, Some(kind)) = (known, f.intake.kind()) {
                            if fields.category.is_some_and(|c| !c.allows(kind)) {
                                return Err(unsupported());
                            }
                            f.writer.name(object_key(user, id, fields.category(), kind), kind.mime());
                        }
                        f.writer.write(bytes).await?;
                    }
                    (Sink::Field(name, value), _) => {
                        if value.len() + bytes.len() > MAX_FIELD {
                            return Err(ApiError::bad_request(format!("{name} is too long")));
                        }
                        value.extend_from_slice(bytes);
                    }
                    _ => {}
                },
                Event::End => {
                    if let Sink::Field(name, value) = std::mem::replace(&mut sink, Sink::Skip) {
                        fields.set(&name, &value)?;
                    }
                }
            }
        }
        if !more {
            return Ok(());
        }
    }
}

fn refused(refusal: Refusal, category: Category, quota: &Quota) -> ApiError {
    match refusal {
        Refusal::TooLarge => too_large(category),
        Refusal::OverQuota => over_quota(quota.max),
        Refusal::Unsupported => unsupported(),
    }
}

/// The checks a whole file passes against the form's final fields.
fn settle(intake: FileIntake, category: Category, quota: &Quota) -> ApiResult<Checked> {
    let checked = intake.finish().map_err(|r| refused(r, category, quota))?;
    if checked.size > category.max_size() {
        return Err(too_large(category));
    }
    if !category.allows(checked.kind) {
        return Err(unsupported());
    }
    Ok(checked)
}

/// Streams, validates and stores the multipart body within the plan's upload quota (403 beyond
/// it); `avatar` gets the new row and may answer the account's new avatar (its stored JSON),
/// set in the same swap batch.
async fn store(
    ctx: &mut Ctx,
    fixed: Option<Category>,
    avatar: impl FnOnce(&FileRow) -> Option<String>,
) -> ApiResult<(FileRow, Swapped)> {
    let max = fixed.map(Category::max_size).unwrap_or(Category::Files.max_size());
    let mut body = ctx.body_stream(max + MULTIPART_OVERHEAD)?;
    let user = ctx.user_id()?.to_string();
    let db = ctx.db()?;
    let quota = uploads::quota(&db, &user).await?;
    let id = uuid_v4();
    let mut fields =
        Fields { fixed: fixed.is_some(), category: fixed, reuse_key: fixed.map(|_| AVATAR_REUSE_KEY.to_string()) };
    let mut file = None;
    let received = receive(ctx, &mut body, &mut fields, &mut file, (&user, &id, &quota)).await;
    let category = fields.category();
    let (Checked { kind, size, dims }, mut writer, original_name) = match (received, file) {
        (Ok(()), Some(FilePart { intake, writer, original_name })) => match settle(intake, category, &quota) {
            Ok(checked) => (checked, writer, original_name),
            Err(e) => {
                writer.abort().await;
                return Err(e);
            }
        },
        (received, file) => {
            if let Some(f) = file {
                f.writer.abort().await;
            }
            body.discard_rest().await;
            return Err(received.err().unwrap_or_else(|| ApiError::bad_request("file is required")));
        }
    };
    writer.name(object_key(&user, &id, category, kind), kind.mime());
    let path = writer.key().to_string();
    let etag = writer.finish().await?;
    let bucket = storage::bucket(&ctx.env)?;

    let now = now_ms();
    let row = FileRow {
        id,
        path,
        category: category.as_str().into(),
        original_name,
        content_type: kind.mime().into(),
        size: size as i64,
        etag,
        width: dims.map(|d| d.0 as i64),
        height: dims.map(|d| d.1 as i64),
        thumbhash: None,
        reuse_key: fields.reuse_key,
        created_at: now,
        updated_at: now,
    };
    let swap = uploads::swap(&db, &user, &row, avatar(&row).as_deref())?;
    let swapped = match swap.run(&db).await {
        Ok(Some(swapped)) => swapped,
        refused_or_failed => {
            // Nothing references the new object; remove it now (the sweep catches it otherwise).
            if let Err(del) = bucket.delete(&row.path).await {
                worker::console_error!("orphan {} left after a failed batch: {del}", row.path);
            }
            // A failed batch answers its error; a rolled-back one is the quota.
            refused_or_failed?;
            return Err(over_quota(quota.max));
        }
    };
    for old in swapped.replaced()? {
        if let Err(e) = bucket.delete(&old).await {
            worker::console_error!("replaced object {old} not deleted (sweep will): {e}");
        }
    }
    Ok((row, swapped))
}

async fn upload(mut ctx: Ctx) -> ApiResult<Response> {
    let (row, _) = store(&mut ctx, None, |_| None).await?;
    json(&Uploaded { success: true, file: File::from(&row) })
}

/// Absolute URL of a file: `UPLOADS_PUBLIC_URL` (a public bucket domain) + path when set,
/// else this API's authenticated download route.
fn file_url(public: Option<&str>, origin: &str, row: &FileRow) -> String {
    match public {
        Some(base) => format!("{}/{}", base.trim_end_matches('/'), row.path),
        None => format!("{origin}/v1/uploads/{}/download", row.id),
    }
}

fn origin(ctx: &Ctx) -> String {
    ctx.url.origin.clone()
}

async fn upload_avatar(mut ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?.to_string();
    let public = ctx.var("UPLOADS_PUBLIC_URL");
    let origin = origin(&ctx);
    let url = |row: &FileRow| file_url(public.as_deref(), &origin, row);
    let stored = |row: &FileRow| StoredAvatar::of(row, url(row));
    let (row, swapped) =
        store(&mut ctx, Some(Category::Avatars), |row| serde_json::to_string(&stored(row)).ok()).await?;
    let seq = swapped.avatar_seq()?;
    let avatar = serde_json::to_value(stored(&row)).map_err(|_| ApiError::internal("avatar not serializable"))?;
    crate::realtime::publish(&ctx.env, &ctx.wctx, &user, avatar_changed(&user, seq, avatar));
    json(&AvatarUploaded { success: true, avatar: AvatarFile::of(&row, url(&row)) })
}

/// `<createdAt>_<id>` of the last row of a page.
fn parse_cursor(cursor: &str) -> ApiResult<(i64, String)> {
    cursor
        .split_once('_')
        .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_string())))
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| ApiError::bad_request("Invalid cursor format"))
}

async fn list(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?;
    let limit = Limit::parse(ctx.query("limit").as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?.get() as usize;
    let category = match ctx.query("category") {
        None => None,
        Some(c) => Some(
            Category::parse(&c)
                .ok_or_else(|| ApiError::bad_request("category must be avatars, documents or files"))?
                .as_str(),
        ),
    };
    let after = ctx.query("cursor").map(|c| parse_cursor(&c)).transpose()?;
    let after = after.as_ref().map(|(t, id)| (*t, id.as_str()));
    let mut files = uploads::page(&ctx.db()?, user, category, after, limit).await?;
    let more = files.len() > limit;
    files.truncate(limit);
    let next_cursor = files.last().filter(|_| more).map(|last| format!("{}_{}", last.created_at, last.id));
    json(&FileList { files: files.iter().map(File::from).collect(), next_cursor })
}

async fn find_file(ctx: &Ctx) -> ApiResult<FileRow> {
    uploads::get(&ctx.db()?, ctx.user_id()?, ctx.param("id"))
        .await?
        .ok_or_else(|| ApiError::not_found("File not found"))
}

async fn get_file(ctx: Ctx) -> ApiResult<Response> {
    let row = find_file(&ctx).await?;
    let url = file_url(ctx.var("UPLOADS_PUBLIC_URL").as_deref(), &origin(&ctx), &row);
    json(&FileWithUrl { file: File::from(&row), url })
}

async fn download(ctx: Ctx) -> ApiResult<Response> {
    let row = find_file(&ctx).await?;
    let size = row.size as u64;
    let mut headers = vec![
        ("etag", row.etag.clone()),
        ("accept-ranges", "bytes".to_string()),
        ("cache-control", "private, no-cache".to_string()),
        ("x-content-type-options", "nosniff".to_string()),
    ];
    let (status, range) = if none_match(ctx.header("if-none-match").as_deref(), &row.etag) {
        (304, None)
    } else {
        match parse_range(ctx.header("range").as_deref(), size) {
            RangeRequest::Unsatisfiable => {
                let mut resp = error_response(&ApiError::new(416, "Range not satisfiable"));
                resp.headers_mut().set("content-range", &format!("bytes */{size}"))?;
                return Ok(resp);
            }
            RangeRequest::Full => (200, None),
            RangeRequest::Partial { start, end } => {
                headers.push(("content-range", format!("bytes {start}-{end}/{size}")));
                (206, Some(Range::OffsetWithLength { offset: start, length: end - start + 1 }))
            }
        }
    };
    let mut resp = if status == 304 {
        Response::empty()?.with_status(304)
    } else {
        let length = match &range {
            Some(Range::OffsetWithLength { length, .. }) => *length,
            _ => size,
        };
        let bucket = storage::bucket(&ctx.env)?;
        let mut get = bucket.get(&row.path);
        if let Some(r) = range {
            get = get.range(r);
        }
        let object = get.execute().await?.ok_or_else(|| {
            worker::console_error!("row {} points at missing object {}", row.id, row.path);
            ApiError::not_found("File not found")
        })?;
        let body = object.body().ok_or_else(|| ApiError::internal("R2 object without a body"))?;
        headers.push(("content-type", row.content_type.clone()));
        headers.push(("content-length", length.to_string()));
        Response::from_body(ResponseBody::Stream(match body.response_body()? {
            ResponseBody::Stream(s) => s,
            _ => return Err(ApiError::internal("R2 body is not a stream")),
        }))?
        .with_status(status)
    };
    for (k, v) in headers {
        resp.headers_mut().set(k, &v)?;
    }
    Ok(resp)
}

async fn delete_file(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?;
    let deleted = uploads::delete(&ctx.db()?, user, ctx.param("id"))
        .await?
        .ok_or_else(|| ApiError::not_found("File not found"))?;
    if let Some(seq) = deleted.avatar_seq {
        crate::realtime::publish(&ctx.env, &ctx.wctx, user, avatar_changed(user, seq, Value::Null));
    }
    if let Err(e) = storage::bucket(&ctx.env)?.delete(&deleted.path).await {
        worker::console_error!("deleted file's object {} not removed (sweep will): {e}", deleted.path);
    }
    json(&Success::TRUE)
}

/// Compares the caller's R2 prefixes with D1 and deletes objects no row references. R2 is
/// listed before D1 is read, so a row committed in between still protects its object.
async fn sweep(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?;
    let bucket = storage::bucket(&ctx.env)?;
    let mut listed = Vec::new();
    for category in Category::ALL {
        let mut cursor = None;
        loop {
            let mut req = bucket.list().prefix(category.prefix(user));
            if let Some(c) = cursor.take() {
                req = req.cursor(c);
            }
            let page = req.execute().await?;
            listed.extend(page.objects().iter().map(|o| (o.key(), o.uploaded().as_millis() as i64)));
            match (page.truncated(), page.cursor()) {
                (true, Some(c)) => cursor = Some(c),
                _ => break,
            }
        }
    }
    let referenced: HashSet<String> = uploads::paths(&ctx.db()?, user).await?.into_iter().collect();
    let grace = ctx.var("UPLOAD_SWEEP_GRACE_MS").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_SWEEP_GRACE_MS);
    let removed: Vec<String> =
        unreferenced(&listed, &referenced, now_ms(), grace).into_iter().map(String::from).collect();
    for chunk in removed.chunks(1000) {
        bucket.delete_multiple(chunk.iter().map(String::as_str).collect()).await?;
    }
    json(&Swept { scanned: listed.len(), removed })
}
