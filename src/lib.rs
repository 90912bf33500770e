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
pub mod wire;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

use worker::{event, web_sys, Context, Env, Response, Result};

/// Runs in the global scope, once per isolate, before any request (see `app::warm`).
#[event(start)]
fn start() {
    app::warm::start();
}

/// The runtime's request as it comes: workers-rs's `Request` wrapper would parse its URL and
/// method again on every request (code every isolate's first request compiles), and the app
/// reads only headers, method, URL and body.
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    Ok(app::handle(req, env, ctx).await)
}
