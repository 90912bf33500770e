//! The isolate's warm-up: in the global scope, before any request, the worker answers requests
//! of its own through the real pipeline ([`super::handle`]), so that their first-time work is
//! done at the isolate's start and not in its first real request.
//!
//! Why: an isolate's first request did much that no later one does. It loaded the token key
//! (WebCrypto's import), made the runtime's first `Request` and `Headers`, compiled the
//! JavaScript glue it called, and compiled its wasm. Workers' limits page holds the global scope
//! to a limit of its own, startup time (1 s on every plan), apart from a request's CPU time
//! (10 ms on Free), and the platform may start an isolate while the client's TLS handshake is
//! still under way. What moves is measured in bench/RESULTS.md ("cold requests: a warm-up at
//! the isolate's start"). The wasm compiled here does not always stay: V8 drops baseline wasm
//! code of every module in the process each time workerd creates another isolate, and wrangler
//! dev creates some after ours.
//!
//! What runs is no stand-in: `GET /` (the router, the response and its headers), and, when
//! `HAPPY_TOKEN_SEED` is set, `GET /v1/sessions` under a well-formed token with a signature of
//! zeros (the bearer read, the key's load, the claims' check; WebCrypto refuses the signature,
//! so the answer is a 401 and nothing is cached but the key). Without the seed the key would be
//! derived (PBKDF2, far too slow for a start) or refused, so that request is skipped. The global
//! scope may not do I/O, and neither request does any: no D1, no R2, no randomness (each names
//! its request id), and their responses stay Rust values (making a runtime `Response` with a
//! body is refused there). tests/auth_token_seed.rs checks that a start logs no error.

use worker::js_sys::Object;
use worker::wasm_bindgen::{self, prelude::*, JsCast};
use worker::web_sys::{Headers, Request, RequestInit};
use worker::Env;

use crate::auth::token::HEADER_B64;

#[wasm_bindgen(module = "cloudflare:workers")]
extern "C" {
    /// The worker's bindings, which workerd exports to the global scope (since 2025).
    #[wasm_bindgen(thread_local_v2, js_name = env)]
    static BINDINGS: JsValue;
}

/// The claims and signature of a token privacy-kit's reader accepts up to its signature, under
/// its one header: `handy`'s claims (`sub` and `jti` "warm-up", `iat` and `nbf` 0), then 63
/// zero bytes and 0xff. That makes the signature's `S` larger than the group order, which RFC
/// 8032 (5.1.7) refuses before any curve arithmetic: WebCrypto's verify costs the round next to
/// nothing, where a signature of zeros was checked in full (about 35 µs a round here).
const CLAIMS_AND_SIGNATURE: &str = concat!(
    "eyJzdWIiOiJ3YXJtLXVwIiwiaWF0IjowLCJuYmYiOjAsImlzcyI6ImhhbmR5IiwianRpIjoid2FybS11cCJ9.",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_w"
);

/// One round by default, for `wrangler dev` and the tests: their starts stay short. More rounds
/// let V8 tier the pipeline's hot functions up to optimized code, which survives the flush of
/// baseline code above, so the first request compiles and runs less. The production
/// environment (wrangler.toml) runs 3,000: in paired runs that took 0.4-2.6 ms off each first
/// request (1.5-1.9 off an authenticated read) and added about 120 ms to every start, Durable
/// Object isolates' too (bench/RESULTS.md, "warm-up rounds"). 250 rounds tier up the three
/// largest functions but measured within the noise.
const DEFAULT_ROUNDS: usize = 1;
/// About 34 µs a round here (both requests; 3,000 took 102 ms): some 140 ms more at the start,
/// well under the platform's startup limit (1 s).
const MAX_ROUNDS: usize = 4000;

/// Starts the warm-up; it runs as the global scope's microtasks. Does nothing without bindings.
pub fn start() {
    let env = BINDINGS.with(JsValue::clone);
    if !env.is_object() {
        return;
    }
    let env: Env = env.unchecked_into();
    let seeded = crate::config::var(&env, "HAPPY_TOKEN_SEED").is_some();
    let rounds = rounds(crate::config::var(&env, "HAPPY_WARM_UP_ROUNDS").as_deref());
    worker::wasm_bindgen_futures::spawn_local(async move {
        // Made once: neither request has a body, so every round can read the same object.
        let requests: Vec<Request> = [Some(("/", false)), seeded.then_some(("/v1/sessions", true))]
            .into_iter()
            .flatten()
            .map_while(|(path, authorized)| request(path, authorized))
            .collect();
        for _ in 0..rounds {
            for req in &requests {
                // Read only by routes that defer work (`waitUntil`); neither of these does.
                let ctx = worker::Context::new(Object::new().unchecked_into());
                super::handle(Clone::clone(req), env.clone(), ctx).await;
            }
        }
    });
}

/// How many times the warm-up's requests run: `HAPPY_WARM_UP_ROUNDS` if it is a number (at
/// most [`MAX_ROUNDS`]; 0 turns the warm-up off), else [`DEFAULT_ROUNDS`].
fn rounds(value: Option<&str>) -> usize {
    value.and_then(|v| v.parse::<usize>().ok()).map_or(DEFAULT_ROUNDS, |n| n.min(MAX_ROUNDS))
}

fn request(path: &str, authorized: bool) -> Option<Request> {
    let headers = Headers::new().ok()?;
    headers.set("x-request-id", "warm-up").ok()?;
    if authorized {
        headers.set("authorization", &format!("Bearer {HEADER_B64}.{CLAIMS_AND_SIGNATURE}")).ok()?;
    }
    let init = RequestInit::new();
    init.set_headers(&headers);
    Request::new_with_str_and_init(&format!("https://warm-up.invalid{path}"), &init).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_come_from_the_setting_within_bounds() {
        assert_eq!(rounds(None), DEFAULT_ROUNDS);
        assert_eq!(rounds(Some("1")), 1);
        assert_eq!(rounds(Some("0")), 0);
        assert_eq!(rounds(Some("1000000")), MAX_ROUNDS);
        assert_eq!(rounds(Some("many")), DEFAULT_ROUNDS);
        assert_eq!(rounds(Some("-1")), DEFAULT_ROUNDS);
    }
}
