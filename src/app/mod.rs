//! The request pipeline: CORS preflight, routing, access control, rate limits, error mapping,
//! and the headers every response carries.

pub mod body;
pub mod client;
pub mod ctx;
pub mod openapi;
pub mod ratelimit;
pub mod request_url;
pub mod respond;
pub mod router;
pub mod schema;
pub mod warm;

use futures_util::future::LocalBoxFuture;

use worker::web_sys::Request;
use worker::{Env, Method, Response};

use crate::auth::{self, bearer};
use crate::crypto::util::uuid_v4;
use crate::error::{ApiError, ApiResult};
use ctx::Ctx;
use respond::error_response;
use router::{find, Access, Match};

pub async fn handle(req: Request, env: Env, wctx: worker::Context) -> Response {
    let request_id =
        req.headers().get("x-request-id").ok().flatten().filter(|v| v.len() <= 128).unwrap_or_else(uuid_v4);
    let requested_headers = req.headers().get("access-control-request-headers").ok().flatten();
    let method = Method::from(req.method());
    let resp = if method == Method::Options {
        Response::empty().map(|r| r.with_status(204)).map_err(ApiError::from)
    } else {
        dispatch(req, method, env, wctx, request_id.clone()).await
    };
    let mut resp = resp.unwrap_or_else(|e| error_response(&e));
    if resp.status_code() != 101 {
        decorate(&mut resp, &request_id, requested_headers.as_deref());
    }
    resp
}

const ALLOW_HEADERS: &str = "Authorization, Content-Type, X-Happy-Client, X-Client-Type, X-Session-Id, X-Machine-Id, X-Request-Id, If-None-Match, Range";

/// The preflight's allowed headers: ours plus whatever the browser asks for. The web app's
/// custom-server check sends `Cache-Control` and `Pragma`; a `*` would not cover
/// `Authorization`, so the request is echoed (header names only, bounded).
fn allow_headers(requested: Option<&str>) -> String {
    let valid = |r: &&str| {
        r.len() <= 1024 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_, ".contains(&b)) && !r.trim().is_empty()
    };
    match requested.filter(valid) {
        Some(r) => format!("{ALLOW_HEADERS}, {}", r.trim()),
        None => ALLOW_HEADERS.to_string(),
    }
}

/// CORS for the web app (any origin; it authenticates with a bearer token, not cookies) and
/// the request id.
fn decorate(resp: &mut Response, request_id: &str, requested_headers: Option<&str>) {
    let h = resp.headers_mut();
    let _ = h.set("access-control-allow-origin", "*");
    let _ = h.set("access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    let _ = h.set("access-control-allow-headers", &allow_headers(requested_headers));
    let _ = h.set("access-control-expose-headers", "X-Request-Id, ETag, Content-Length, Retry-After");
    let _ = h.set("access-control-max-age", "86400");
    let _ = h.set("x-request-id", request_id);
}

async fn dispatch(
    req: Request,
    method: Method,
    env: Env,
    wctx: worker::Context,
    request_id: String,
) -> ApiResult<Response> {
    let url = request_url::RequestUrl::parse(&req.url());
    let found = match find(crate::routes::all(), &method, &url.path) {
        Match::Found(r, params) => Ok((r.access, r.path, r.handler, params)),
        Match::WrongMethod => Err(ApiError::new(405, "Method not allowed")),
        Match::NotFound => Err(ApiError::not_found("Not found")),
    };
    let (access, path, handler, params) = found?;
    if path.starts_with("/v1/auth") && method == Method::Post {
        rate_limit_auth(&req, &env).await?;
    }
    let user = match access {
        Access::User => Some(authenticate(&req, &env).await?),
        Access::OptionalUser => match bearer(req.headers().get("authorization").ok().flatten()) {
            Some(_) => Some(authenticate(&req, &env).await?),
            None => None,
        },
        Access::Public | Access::Device => None,
    };
    let device = match access {
        Access::Device => Some(device(&req, &env).await?),
        _ => None,
    };
    let ctx = Ctx { req, method, env, wctx, url, params, user, device, request_id, db: Default::default() };
    handler(ctx).await
}

/// A step of [`dispatch`] behind a dynamic call. Awaited directly, its code would be inlined
/// into the fetch entry, which every request compiles on an isolate's first call (V8 compiles
/// wasm function by function, lazily); boxed, only the requests that take it compile it.
type Step<'a, T> = LocalBoxFuture<'a, ApiResult<T>>;

fn authenticate<'a>(req: &'a Request, env: &'a Env) -> Step<'a, auth::AuthUser> {
    Box::pin(async move {
        let token = bearer(req.headers().get("authorization").ok().flatten())
            .ok_or_else(|| ApiError::unauthorized("Missing authorization header"))?;
        auth::verify_token(env, &token).await
    })
}

/// Only the device routes.
fn device<'a>(req: &'a Request, env: &'a Env) -> Step<'a, auth::device::AuthDevice> {
    Box::pin(async move {
        let key = bearer(req.headers().get("authorization").ok().flatten());
        auth::device::verify_device_key(&crate::db::Db::from_env(env)?, key).await
    })
}

/// Only the sign-in routes.
fn rate_limit_auth<'a>(req: &'a Request, env: &'a Env) -> Step<'a, ()> {
    Box::pin(async move {
        let client = req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_else(|| "unknown".into());
        ratelimit::enforce(env, &ratelimit::AUTH, &client).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_allows_the_requested_headers() {
        assert_eq!(allow_headers(None), ALLOW_HEADERS);
        assert_eq!(allow_headers(Some("cache-control,pragma")), format!("{ALLOW_HEADERS}, cache-control,pragma"));
        assert_eq!(allow_headers(Some("  ")), ALLOW_HEADERS);
        assert_eq!(allow_headers(Some("x\r\nset-cookie: a")), ALLOW_HEADERS);
        assert_eq!(allow_headers(Some(&"a".repeat(2000))), ALLOW_HEADERS);
    }
}
