//! The route table: one entry per (method, path) with its access rule, OpenAPI description and
//! handler. Matching is pure so it is unit-tested natively; `/openapi.json` is built from the
//! same table, so the document cannot drift from what is served.

use futures_util::future::LocalBoxFuture;

use serde_json::Value;
use worker::{Method, Response};

use super::ctx::Ctx;
use crate::error::ApiResult;

pub type HandlerFuture = LocalBoxFuture<'static, ApiResult<Response>>;
pub type Handler = fn(Ctx) -> HandlerFuture;
pub type SchemaFn = fn() -> Value;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    /// A valid account bearer token is required.
    User,
    /// The account is resolved when a valid token is sent; anonymous otherwise.
    OptionalUser,
    /// A device API key (device enrollment) is required.
    Device,
}

pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub tag: &'static str,
    pub summary: &'static str,
    pub request: Option<SchemaFn>,
    pub response: SchemaFn,
    pub handler: Handler,
}

/// Starts a route; `.doc()`, `.body()` and `.returns()` describe it for OpenAPI.
pub const fn route(method: Method, path: &'static str, access: Access, handler: Handler) -> Route {
    Route { method, path, access, tag: "", summary: "", request: None, response: super::schema::any, handler }
}

impl Route {
    pub const fn doc(mut self, tag: &'static str, summary: &'static str) -> Self {
        self.tag = tag;
        self.summary = summary;
        self
    }
    /// The JSON request body's schema.
    pub const fn body(mut self, schema: SchemaFn) -> Self {
        self.request = Some(schema);
        self
    }
    /// The 200 response's schema.
    pub const fn returns(mut self, schema: SchemaFn) -> Self {
        self.response = schema;
        self
    }
}

pub type Params = Vec<(&'static str, String)>;

pub enum Match<'a> {
    Found(&'a Route, Params),
    /// The path exists but not for this method.
    WrongMethod,
    NotFound,
}

/// Matches `path` against a pattern like `/v1/sessions/:id/messages`.
pub fn match_path(pattern: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let mut pat = pattern.split('/');
    let mut segs = path.split('/');
    loop {
        match (pat.next(), segs.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix(':') {
                    if s.is_empty() {
                        return None;
                    }
                    params.push((name, percent_decode(s)?));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

pub fn find<'a>(routes: impl IntoIterator<Item = &'a Route>, method: &Method, path: &str) -> Match<'a> {
    // A trailing slash names the same resource (engine.io clients add one to /v1/updates).
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    let mut path_exists = false;
    for r in routes {
        if let Some(params) = match_path(r.path, path) {
            if &r.method == method {
                return Match::Found(r, params);
            }
            path_exists = true;
        }
    }
    if path_exists {
        Match::WrongMethod
    } else {
        Match::NotFound
    }
}

/// Decodes `%XX` escapes of a path segment; `None` for malformed escapes or invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_params_and_literals() {
        let p = match_path("/v1/sessions/:id/messages", "/v1/sessions/abc/messages").unwrap();
        assert_eq!(p, vec![("id", "abc".to_string())]);
        assert!(match_path("/v1/sessions/:id", "/v1/sessions/").is_none());
        assert!(match_path("/v1/sessions/:id", "/v1/sessions/a/b").is_none());
        assert!(match_path("/v1/sessions", "/v1/session").is_none());
        let p = match_path("/v1/kv/:key", "/v1/kv/settings%3Atheme").unwrap();
        assert_eq!(p[0].1, "settings:theme");
        assert!(match_path("/v1/kv/:key", "/v1/kv/%zz").is_none());
        assert!(match_path("/v1/kv/:key", "/v1/kv/%ff").is_none());
    }
}
