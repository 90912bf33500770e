//! The token keys of this isolate. The PBKDF2 derivation (210k rounds) runs at most once per
//! isolate and service; `HAPPY_TOKEN_SEED` / `HAPPY_GITHUB_TOKEN_SEED` (hex Ed25519 seeds, as
//! printed by `make token-seed`) skip it; with `ENVIRONMENT=production` they are required and
//! their absence answers 503 (logged) instead of deriving per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use worker::Env;

use super::token::{derive_seed, TokenKey, TokenKind};
use crate::config::var;
use crate::crypto::util::hex_decode;
use crate::error::{ApiError, ApiResult};

pub const SERVICE: &str = "handy";
pub const GITHUB_SERVICE: &str = "github-happy";

thread_local! {
    static KEYS: RefCell<Vec<(String, Rc<TokenKey>)>> = const { RefCell::new(Vec::new()) };
}

pub fn master_secret(env: &Env) -> ApiResult<String> {
    var(env, "HAPPY_MASTER_SECRET").ok_or_else(|| misconfigured(format_args!("HAPPY_MASTER_SECRET is not set")))
}

/// The key's seed: the configured one, else derived (development only). Every branch but the
/// first is out of line: V8 compiles a wasm function whole on its first call, and a seeded
/// isolate's first authenticated request should not compile PBKDF2 or the error reports
/// (bench/RESULTS.md, "cold requests"). `cold_` keeps wasm-opt from inlining the one-caller
/// branch back (Cargo.toml).
fn seed(env: &Env, service: &str, kind: TokenKind, seed_var: &str) -> ApiResult<[u8; 32]> {
    match var(env, seed_var) {
        Some(hex) => match hex_decode(&hex).and_then(|b| <[u8; 32]>::try_from(b).ok()) {
            Some(seed) => Ok(seed),
            None => Err(misconfigured(format_args!("{seed_var} must be 64 hex characters"))),
        },
        None => cold_unseeded(env, service, kind, seed_var),
    }
}

#[inline(never)]
fn cold_unseeded(env: &Env, service: &str, kind: TokenKind, seed_var: &str) -> ApiResult<[u8; 32]> {
    // 210k PBKDF2 rounds in wasm take far more than the Free plan's 10 ms of CPU: in production
    // every isolate's first authenticated request would fail on its CPU limit.
    if crate::config::is_production(env) {
        worker::console_error!("{seed_var} is not set: run `make token-seed` and `wrangler secret put {seed_var}`");
        return Err(ApiError::new(503, format!("Server is not configured: {seed_var} is missing")));
    }
    Ok(derive_seed(&master_secret(env)?, service, kind))
}

/// Logs why the server cannot work as configured; the caller gets a 500 without the details.
#[cold]
#[inline(never)]
fn misconfigured(why: std::fmt::Arguments) -> ApiError {
    worker::console_error!("{why}");
    ApiError::internal("Server is not configured")
}

async fn load(env: &Env, service: &str, kind: TokenKind, seed_var: &str) -> ApiResult<Rc<TokenKey>> {
    let seed = seed(env, service, kind, seed_var)?;
    match TokenKey::from_seed(service, &seed).await {
        Some(key) => Ok(Rc::new(key)),
        None => Err(misconfigured(format_args!("the runtime refused the {service} token key"))),
    }
}

async fn cached(env: &Env, service: &str, kind: TokenKind, seed_var: &str) -> ApiResult<Rc<TokenKey>> {
    if let Some(k) = KEYS.with(|k| k.borrow().iter().find(|(s, _)| s == service).map(|(_, k)| k.clone())) {
        return Ok(k);
    }
    // Behind a dynamic call, so that the load is not inlined here: the isolate's warm-up loads
    // the account key at its start (app::warm), and its requests then compile only the lookup.
    let load: LocalBoxFuture<ApiResult<Rc<TokenKey>>> = Box::pin(load(env, service, kind, seed_var));
    let key = load.await?;
    KEYS.with(|k| k.borrow_mut().push((service.to_string(), key.clone())));
    Ok(key)
}

/// The `handy` persistent token key (account tokens).
pub async fn account_key(env: &Env) -> ApiResult<Rc<TokenKey>> {
    cached(env, SERVICE, TokenKind::Persistent, "HAPPY_TOKEN_SEED").await
}

/// The `github-happy` ephemeral token key (OAuth state).
pub async fn github_key(env: &Env) -> ApiResult<Rc<TokenKey>> {
    cached(env, GITHUB_SERVICE, TokenKind::Ephemeral, "HAPPY_GITHUB_TOKEN_SEED").await
}
