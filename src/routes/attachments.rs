//! Session attachments, as the stock CLI and app share files: announce (name, size), PUT the
//! encrypted bytes to this worker, fetch them back. The bytes live in R2 under
//! `sessions/<sid>/attachments/<file>`; D1 `session_attachments` holds the announced size that
//! bounds the PUT. Every route answers 404 for a session that is not a live one of the caller.

use worker::{Method, Response, ResponseBody};

use crate::app::ctx::Ctx;
use crate::app::ratelimit;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{any, request_schema, response_schema};
use crate::crypto::util::uuid_v4;
use crate::db::{attachments, sessions};
use crate::domain::text::Text;
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::storage::writer::ObjectWriter;
use crate::storage::{self, MB};
use crate::wire::attachments::{DownloadRequest, DownloadTicket, Stored, UploadMethod, UploadRequest, UploadTicket};

/// The largest attachment (docs/compatibility.md#sessions-and-messages).
const MAX_SIZE: i64 = 10 * MB as i64;
const MAX_FILENAME: usize = 255;
/// Stored names are `<uuid>.enc`; anything else that is a single safe path segment is accepted
/// on the way back, never a `/` or a leading dot.
const MAX_FILE: usize = 128;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/sessions/:id/attachments/request-upload", Access::User, h!(request_upload))
        .doc("attachments", "Announce an attachment (size ≤ 10 MiB); answers where to PUT it")
        .body(request_schema::<UploadRequest>)
        .returns(response_schema::<UploadTicket>),
    route(Method::Post, "/v1/sessions/:id/attachments/request-download", Access::User, h!(request_download))
        .doc("attachments", "Where to GET an attachment of this session")
        .body(request_schema::<DownloadRequest>)
        .returns(response_schema::<DownloadTicket>),
    route(Method::Put, "/v1/sessions/:id/attachments/:file", Access::User, h!(put_attachment))
        .doc("attachments", "Store an announced attachment's bytes (application/octet-stream, ≤ announced size)")
        .returns(response_schema::<Stored>),
    route(Method::Get, "/v1/sessions/:id/attachments/:file", Access::User, h!(get_attachment))
        .doc("attachments", "An attachment's bytes")
        .returns(any),
];

/// Per account across these routes (the binding's limit, 60 a minute).
async fn rate_limit(ctx: &Ctx) -> ApiResult<()> {
    ratelimit::enforce(&ctx.env, &ratelimit::ATTACHMENTS, ctx.user_id()?).await
}

fn valid_file(file: &str) -> bool {
    !file.is_empty()
        && file.len() <= MAX_FILE
        && !file.starts_with('.')
        && file.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn prefix(sid: &str) -> String {
    format!("sessions/{sid}/attachments/")
}

/// The file name of a ref inside session `sid`; `None` for a ref anywhere else.
fn file_of_ref<'a>(sid: &str, r: &'a str) -> Option<&'a str> {
    r.strip_prefix(&prefix(sid)).filter(|f| valid_file(f))
}

fn url_of(ctx: &Ctx, sid: &str, file: &str) -> String {
    format!("{}/v1/sessions/{sid}/attachments/{file}", ctx.url.origin)
}

fn not_found() -> ApiError {
    ApiError::not_found("Attachment not found")
}

async fn request_upload(mut ctx: Ctx) -> ApiResult<Response> {
    rate_limit(&ctx).await?;
    let body: UploadRequest = ctx.json().await?;
    Text::parse("filename", &body.filename, MAX_FILENAME)?;
    if body.size < 0 {
        return Err(ApiError::bad_request("size must not be negative"));
    }
    if body.size > MAX_SIZE {
        return Err(ApiError::too_large(format!("Attachments are limited to {} MiB", MAX_SIZE as usize / MB)));
    }
    let sid = ctx.param("id").to_string();
    let file = format!("{}.enc", uuid_v4());
    // Announced only for a live session of the caller: the insert reads the ownership itself.
    if !attachments::announce(&ctx.db()?, ctx.user_id()?, &sid, &file, body.size).await? {
        return Err(sessions::not_found());
    }
    json(&UploadTicket {
        reference: format!("{}{file}", prefix(&sid)),
        upload_url: url_of(&ctx, &sid, &file),
        method: UploadMethod::Put,
    })
}

async fn request_download(mut ctx: Ctx) -> ApiResult<Response> {
    rate_limit(&ctx).await?;
    let body: DownloadRequest = ctx.json().await?;
    let sid = ctx.param("id").to_string();
    sessions::get(&ctx.db()?, ctx.user_id()?, &sid).await?.ok_or_else(sessions::not_found)?;
    let file = file_of_ref(&sid, &body.reference)
        .ok_or_else(|| ApiError::bad_request("ref is not an attachment of this session"))?;
    json(&DownloadTicket { download_url: url_of(&ctx, &sid, file) })
}

async fn put_attachment(mut ctx: Ctx) -> ApiResult<Response> {
    rate_limit(&ctx).await?;
    let (sid, file) = (ctx.param("id").to_string(), ctx.param("file").to_string());
    if !valid_file(&file) {
        return Err(not_found());
    }
    let size = attachments::announced_size(&ctx.db()?, ctx.user_id()?, &sid, &file).await?.ok_or_else(not_found)?;
    // Refuses more than announced (and so more than 10 MiB) with 413, from Content-Length first.
    // The bytes are opaque (end-to-end encrypted): they stream to R2 a part at a time.
    let mut body = ctx.body_stream(size.clamp(0, MAX_SIZE) as usize)?;
    let mut writer = ObjectWriter::new(&ctx.env, ctx.declared_length())?;
    writer.name(format!("{}{file}", prefix(&sid)), "application/octet-stream");
    let streamed = async {
        while let Some(chunk) = body.next().await? {
            writer.write(chunk).await?;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(e) = streamed {
        writer.abort().await;
        body.discard_rest().await;
        return Err(e);
    }
    writer.finish().await?;
    attachments::mark_uploaded(&ctx.db()?, ctx.user_id()?, &sid, &file).await?;
    json(&Stored { ok: true })
}

async fn get_attachment(ctx: Ctx) -> ApiResult<Response> {
    rate_limit(&ctx).await?;
    let (sid, file) = (ctx.param("id"), ctx.param("file"));
    if !valid_file(file) {
        return Err(not_found());
    }
    sessions::get(&ctx.db()?, ctx.user_id()?, sid).await?.ok_or_else(sessions::not_found)?;
    let object =
        storage::bucket(&ctx.env)?.get(format!("{}{file}", prefix(sid))).execute().await?.ok_or_else(not_found)?;
    let size = object.size();
    let body = object.body().ok_or_else(|| ApiError::internal("R2 object without a body"))?;
    let ResponseBody::Stream(stream) = body.response_body()? else {
        return Err(ApiError::internal("R2 body is not a stream"));
    };
    let mut resp = Response::from_body(ResponseBody::Stream(stream))?;
    let headers = resp.headers_mut();
    headers.set("content-type", "application/octet-stream")?;
    headers.set("content-length", &size.to_string())?;
    headers.set("cache-control", "private, no-store")?;
    headers.set("x-content-type-options", "nosniff")?;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_stay_inside_their_session() {
        assert_eq!(file_of_ref("s1", "sessions/s1/attachments/ab-12.enc"), Some("ab-12.enc"));
        assert_eq!(file_of_ref("s1", "sessions/s2/attachments/a.enc"), None);
        assert_eq!(file_of_ref("s1", "sessions/s1/attachments/../x"), None);
        assert_eq!(file_of_ref("s1", "sessions/s1/attachments/a/b"), None);
        assert_eq!(file_of_ref("s1", "sessions/s1/attachments/"), None);
        assert_eq!(file_of_ref("s1", "sessions/s1/attachments/.hidden"), None);
        assert_eq!(file_of_ref("s1", "uploads/s1/attachments/a.enc"), None);
        assert!(!valid_file(&"a".repeat(MAX_FILE + 1)));
    }
}
