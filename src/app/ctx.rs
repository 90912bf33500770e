//! What a handler gets: the request, bindings, path params, the caller, and body/query parsing
//! that turns hostile input into 400/413 JSON errors.

use serde::de::DeserializeOwned;
use worker::js_sys::{ArrayBuffer, Uint8Array};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::Request;
use worker::{Env, Method};

use super::body::BodyStream;
use super::request_url::RequestUrl;
use super::router::Params;
use crate::auth::device::AuthDevice;
use crate::auth::AuthUser;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};

/// Default cap on JSON bodies; routes that take larger bodies read them differently.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

pub struct Ctx {
    pub req: Request,
    pub method: Method,
    pub env: Env,
    pub wctx: worker::Context,
    pub url: RequestUrl,
    pub params: Params,
    pub user: Option<AuthUser>,
    /// The calling device on `Access::Device` routes.
    pub device: Option<AuthDevice>,
    pub request_id: String,
    /// The request's one `Db`, made on first use: every handler's D1 calls count against one
    /// invocation budget.
    pub db: std::cell::OnceCell<Db>,
}

impl Ctx {
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    pub fn query(&self, name: &str) -> Option<String> {
        self.url.query(name)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.req.headers().get(name).ok().flatten()
    }

    /// The authenticated account; routes with `Access::User` always have one.
    pub fn user(&self) -> ApiResult<&AuthUser> {
        self.user.as_ref().ok_or_else(|| ApiError::unauthorized("Unauthorized"))
    }

    pub fn user_id(&self) -> ApiResult<&str> {
        Ok(self.user()?.id.as_str())
    }

    /// The authenticated device; routes with `Access::Device` always have one.
    pub fn device(&self) -> ApiResult<&AuthDevice> {
        self.device.as_ref().ok_or_else(|| ApiError::unauthorized("Unauthorized"))
    }

    pub fn db(&self) -> ApiResult<Db> {
        if let Some(db) = self.db.get() {
            return Ok(db.clone());
        }
        let db = Db::from_env(&self.env)?;
        Ok(self.db.get_or_init(|| db).clone())
    }

    pub fn var(&self, name: &str) -> Option<String> {
        crate::config::var(&self.env, name)
    }

    /// Reads the body, refusing more than `limit` bytes with 413.
    pub async fn body_bytes(&mut self, limit: usize) -> ApiResult<Vec<u8>> {
        self.refuse_declared_over(limit)?;
        let buffer =
            JsFuture::from(self.req.array_buffer().map_err(|_| unreadable())?).await.map_err(|_| unreadable())?;
        let bytes = Uint8Array::new(buffer.unchecked_ref::<ArrayBuffer>()).to_vec();
        if bytes.len() > limit {
            return Err(body_too_large(limit));
        }
        Ok(bytes)
    }

    /// The body as it arrives, a network chunk at a time (uploads, which are never held
    /// whole); 413 beyond `limit` bytes, from Content-Length before anything is read.
    pub fn body_stream(&mut self, limit: usize) -> ApiResult<BodyStream> {
        self.refuse_declared_over(limit)?;
        BodyStream::new(self.req.body(), limit)
    }

    /// The body's length as the client declared it (Content-Length).
    pub fn declared_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.parse::<usize>().ok())
    }

    /// A declared Content-Length over the limit is refused before anything is read.
    fn refuse_declared_over(&self, limit: usize) -> ApiResult<()> {
        match self.declared_length() {
            Some(len) if len > limit => Err(body_too_large(limit)),
            _ => Ok(()),
        }
    }

    /// Parses a JSON body into `T`; malformed JSON or wrong shapes are 400 with serde's reason.
    pub async fn json<T: DeserializeOwned>(&mut self) -> ApiResult<T> {
        let bytes = self.body_bytes(MAX_JSON_BODY).await?;
        parse_json(&bytes)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("Request body must be JSON"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("Invalid body: {e}")))
}

pub(super) fn unreadable() -> ApiError {
    ApiError::bad_request("Unreadable body")
}

pub(super) fn body_too_large(limit: usize) -> ApiError {
    ApiError::too_large(format!("Request body exceeds {limit} bytes"))
}
