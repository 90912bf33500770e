//! Rate limits through Cloudflare's Rate Limiting binding (`[[ratelimits]]` in wrangler.toml):
//! counted per key at each Cloudflare location, so a client's requests share one budget
//! whichever isolate serves them (a per-isolate counter barely limits on the platform, where
//! requests spread over many isolates). `wrangler dev` simulates the binding.
//!
//! Limits and periods are the binding's configuration; the binding allows periods of 10 or
//! 60 s and does not say when its window ends, so `Retry-After` is the period. A missing
//! binding or a failing call lets the request through (logged): the limit blunts brute force,
//! it must not take the API down.

use worker::Env;

use crate::config;
use crate::error::{ApiError, ApiResult};

/// One `[[ratelimits]]` binding of wrangler.toml.
pub struct Limit {
    pub binding: &'static str,
    /// The binding's `period`, in seconds.
    pub period_secs: u64,
}

/// POST /v1/auth*, per client address.
pub const AUTH: Limit = Limit { binding: "AUTH_RATE_LIMITER", period_secs: 60 };
/// The session attachment routes, per account.
pub const ATTACHMENTS: Limit = Limit { binding: "ATTACHMENT_RATE_LIMITER", period_secs: 60 };

/// Counts a request for `key`; 429 with `Retry-After` once the binding says it is over.
/// Outside production `RATE_LIMITS_OFF` skips bindings: `*` all of them, or a comma-separated
/// list of names (tests and benchmarks that make many accounts from one address).
pub async fn enforce(env: &Env, limit: &Limit, key: &str) -> ApiResult<()> {
    if !config::is_production(env) && skipped(config::var(env, "RATE_LIMITS_OFF").as_deref(), limit.binding) {
        return Ok(());
    }
    let outcome = match env.rate_limiter(limit.binding) {
        Ok(limiter) => limiter.limit(key.to_string()).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(o) if o.success => Ok(()),
        Ok(_) => Err(ApiError::too_many(limit.period_secs)),
        Err(e) => {
            worker::console_error!("rate limit {}: {e}", limit.binding);
            Ok(())
        }
    }
}

fn skipped(off: Option<&str>, binding: &str) -> bool {
    off.is_some_and(|off| off.split(',').map(str::trim).any(|name| name == "*" || name == binding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_bindings() {
        assert!(skipped(Some("*"), "AUTH_RATE_LIMITER"));
        assert!(skipped(Some("X, AUTH_RATE_LIMITER"), "AUTH_RATE_LIMITER"));
        assert!(!skipped(Some("AUTH_RATE_LIMITER"), "ATTACHMENT_RATE_LIMITER"));
        assert!(!skipped(None, "AUTH_RATE_LIMITER"));
    }

    /// The periods stated here are the bindings' in wrangler.toml, so `Retry-After` is right.
    #[test]
    fn periods_match_the_bindings_in_wrangler_toml() {
        let toml = include_str!("../../wrangler.toml");
        for limit in [&AUTH, &ATTACHMENTS] {
            let at = toml.find(&format!("name = \"{}\"", limit.binding)).expect(limit.binding);
            let simple = &toml[at..][..toml[at..].find("simple").expect("simple") + 60];
            assert!(simple.contains(&format!("period = {}", limit.period_secs)), "{}: {simple}", limit.binding);
        }
    }
}
