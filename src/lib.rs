//! Happy server on Cloudflare Workers: HTTP API over D1, uploads in R2, and one Durable Object
//! per user holding that user's WebSockets.

pub mod app;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod enrollment;
pub mod error;
pub mod events;
pub mod realtime;
pub mod routes;
pub mod storage;
pub mod upstream;

use worker::{event, Context, Env, Request, Response, Result};

/// Runs once per isolate, at startup (global scope: the platform's 1 s startup budget, not a
/// request's CPU): the first call of each wasm function compiles it, so the paths nearly every
/// request takes are called here once instead of inside an isolate's first request.
#[wasm_bindgen::prelude::wasm_bindgen(start)]
fn start() {
    app::warm();
    auth::token::warm();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    Ok(app::handle(req, env, ctx).await)
}
