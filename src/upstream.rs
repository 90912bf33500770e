//! Calls to outside services (GitHub, RevenueCat, ElevenLabs) that never hang a request: the
//! whole exchange, body included, races a timer, and the fetch is aborted when the timer wins.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use worker::{AbortController, Delay, Env, Fetch, Headers, Method, Request, RequestInit};

/// Default bound on one outside call; `UPSTREAM_TIMEOUT_MS` overrides it.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug)]
pub enum UpstreamError {
    Timeout,
    Network(String),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Timeout => write!(f, "timed out"),
            UpstreamError::Network(e) => write!(f, "{e}"),
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A service's base URL from `var` (tests point it at a local stand-in), without a trailing slash.
pub fn base_url(env: &Env, var: &str, default: &str) -> String {
    crate::config::var(env, var).unwrap_or_else(|| default.into()).trim_end_matches('/').to_string()
}

pub fn timeout_ms(env: &Env) -> u64 {
    crate::config::var(env, "UPSTREAM_TIMEOUT_MS").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_TIMEOUT_MS)
}

/// `Some(output)`, or `None` when `ms` passed first.
pub async fn race<T>(fut: impl Future<Output = T>, ms: u64) -> Option<T> {
    let mut fut = pin!(fut);
    let mut timer = pin!(Delay::from(Duration::from_millis(ms)));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Sends one request and reads its whole body within the timeout.
pub async fn send(
    env: &Env,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Result<Reply, UpstreamError> {
    let net = |e: worker::Error| UpstreamError::Network(e.to_string());
    let h = Headers::new();
    for (k, v) in headers {
        h.set(k, v).map_err(net)?;
    }
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(h);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    let req = Request::new_with_init(url, &init).map_err(net)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
        let body = resp.bytes().await?;
        Ok::<_, worker::Error>(Reply { status: resp.status_code(), body })
    };
    match race(exchange, timeout_ms(env)).await {
        Some(result) => result.map_err(net),
        None => {
            controller.abort();
            Err(UpstreamError::Timeout)
        }
    }
}
