//! Authentication: privacy-kit tokens, per-isolate key and verification caches, revocation.

pub mod cache;
pub mod device;
pub mod keys;
pub mod token;

use std::cell::RefCell;

use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};
use worker::Env;

use cache::{CachedToken, RevocationList, VerifiedCache};
use token::Claims;

use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::db::{accounts, revoked_tokens, Db};
use crate::error::{ApiError, ApiResult};

const VERIFIED_CACHE_CAPACITY: usize = 10_000;

thread_local! {
    static VERIFIED: RefCell<VerifiedCache> = RefCell::new(VerifiedCache::new(VERIFIED_CACHE_CAPACITY));
    static REVOKED: RefCell<RevocationList> = RefCell::new(RevocationList::default());
}

/// The caller of a request.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub id: String,
    /// The token id, for logout.
    pub jti: Option<String>,
}

/// `Authorization: Bearer <token>` → the token.
pub fn bearer(header: Option<String>) -> Option<String> {
    let h = header?;
    let token = h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))?.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// Verifies a token: cache, then signature, its account's existence and its revocation in one
/// read; a cached token against the revocation list (synced from D1 at most every few seconds
/// per isolate).
///
/// The two paths are behind dynamic calls so neither is inlined into the other: V8 compiles a
/// wasm function whole on its first call, and an isolate's first request takes only the first
/// check (bench/RESULTS.md, "cold requests").
pub async fn verify_token(env: &Env, token: &str) -> ApiResult<AuthUser> {
    let check: LocalBoxFuture<ApiResult<AuthUser>> = match VERIFIED.with(|c| c.borrow().get(token).cloned()) {
        Some(entry) => Box::pin(recheck(env, entry)),
        None => Box::pin(first_check(env, token)),
    };
    check.await
}

/// A token verified before in this isolate: only its revocation can have changed.
async fn recheck(env: &Env, entry: CachedToken) -> ApiResult<AuthUser> {
    if let Some(jti) = &entry.jti {
        sync_revocations(env).await?;
        if REVOKED.with(|r| r.borrow().is_revoked(jti)) {
            return Err(invalid());
        }
    }
    Ok(AuthUser { id: entry.user_id, jti: entry.jti })
}

async fn first_check(env: &Env, token: &str) -> ApiResult<AuthUser> {
    let key = keys::account_key(env).await?;
    let now = now_ms();
    let verified = key.verify(token, now as u64).await.ok_or_else(invalid)?;
    let standing = accounts::standing(&Db::from_env(env)?, &verified.user_id, verified.uuid.as_deref()).await?;
    // 401, not a later 404: the status the app and CLI sign in again on. A miss is not cached,
    // so the account can arrive (a sign-in, a move) and the same token then works.
    if !standing.account {
        return Err(ApiError::unauthorized("Account not found"));
    }
    if standing.revoked {
        return Err(invalid());
    }
    // Revocations made before this read were just checked; the list follows from here.
    REVOKED.with(|r| r.borrow_mut().start(now));
    let entry = CachedToken { user_id: verified.user_id, jti: verified.uuid };
    VERIFIED.with(|c| c.borrow_mut().insert(token.to_string(), entry.clone()));
    Ok(AuthUser { id: entry.user_id, jti: entry.jti })
}

/// The runtime failed to sign: ours, logged.
pub fn signing_failed() -> ApiError {
    worker::console_error!("the runtime failed to sign a token");
    ApiError::internal("Internal error")
}

fn invalid() -> ApiError {
    ApiError::unauthorized("Invalid token")
}

async fn sync_revocations(env: &Env) -> ApiResult<()> {
    let now = now_ms();
    let Some(since) = REVOKED.with(|r| r.borrow().due(now)) else {
        return Ok(());
    };
    let rows = revoked_tokens::since(&Db::from_env(env)?, since).await?;
    REVOKED.with(|r| r.borrow_mut().apply(rows.into_iter().map(|r| r.jti), now));
    Ok(())
}

/// Persists a revocation; every isolate honours it within one sync interval.
pub async fn revoke(db: &Db, user_id: &str, jti: &str) -> ApiResult<()> {
    revoked_tokens::insert(db, user_id, jti).await?;
    REVOKED.with(|r| r.borrow_mut().revoke_locally(jti));
    Ok(())
}

/// Mints an account token (privacy-kit persistent, service `handy`).
pub async fn mint(env: &Env, user_id: &str, extras: &Map<String, Value>) -> ApiResult<String> {
    let key = keys::account_key(env).await?;
    let claims = Claims { user: user_id, extras, now_ms: now_ms() as u64, ttl_ms: None, jti: &uuid_v4() };
    key.mint(&claims).await.ok_or_else(signing_failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_extracts_token() {
        assert_eq!(bearer(Some("Bearer abc".into())).as_deref(), Some("abc"));
        assert_eq!(bearer(Some("Basic abc".into())), None);
        assert_eq!(bearer(Some("Bearer ".into())), None);
        assert_eq!(bearer(None), None);
    }
}
