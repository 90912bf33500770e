//! The WireGuard gateway that applies device peers. Contract (docs/devices.md):
//! `PUT {GATEWAY_URL}/peers/{deviceUuid}` with `{publicKey, allowedIp}` applies (idempotent per
//! device), `DELETE {GATEWAY_URL}/peers/{deviceUuid}` removes (404 counts as removed); both send
//! `Authorization: Bearer {GATEWAY_TOKEN}` when that secret is set. Any other status, a network
//! error or no answer within the timeout is a failure.

use serde::Serialize;
use worker::wasm_bindgen::JsValue;
use worker::{AbortController, Delay, Env, Fetch, Headers, Method, Request, RequestInit};

use crate::config::var;
use crate::error::{ApiError, ApiResult};

const TIMEOUT_MS: u64 = 5_000;

pub struct Gateway {
    url: String,
    token: Option<String>,
    pub public_key: String,
    pub endpoint: String,
}

impl Gateway {
    /// The configured gateway; 503 when any of its vars is missing, before anything changes.
    pub fn from_env(env: &Env) -> ApiResult<Gateway> {
        match (var(env, "GATEWAY_URL"), var(env, "GATEWAY_PUBLIC_KEY"), var(env, "GATEWAY_ENDPOINT")) {
            (Some(url), Some(public_key), Some(endpoint)) => Ok(Gateway {
                url: url.trim_end_matches('/').to_string(),
                token: var(env, "GATEWAY_TOKEN"),
                public_key,
                endpoint,
            }),
            _ => Err(ApiError::new(503, "Gateway not configured")),
        }
    }

    /// The gateway if configured: device reset and delete remove peers only where one can exist.
    pub fn optional(env: &Env) -> Option<Gateway> {
        Gateway::from_env(env).ok()
    }

    pub async fn apply(&self, device_uuid: &str, public_key: &str, allowed_ip: &str) -> Result<(), String> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Peer<'a> {
            public_key: &'a str,
            allowed_ip: &'a str,
        }
        // Cannot fail: strings only.
        let body = serde_json::to_string(&Peer { public_key, allowed_ip }).expect("a peer serializes");
        let status = self.call(Method::Put, device_uuid, Some(body)).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("gateway answered {status}"))
        }
    }

    pub async fn remove(&self, device_uuid: &str) -> Result<(), String> {
        let status = self.call(Method::Delete, device_uuid, None).await?;
        if (200..300).contains(&status) || status == 404 {
            Ok(())
        } else {
            Err(format!("gateway answered {status}"))
        }
    }

    async fn call(&self, method: Method, device_uuid: &str, body: Option<String>) -> Result<u16, String> {
        let headers = Headers::new();
        let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
        set("content-type", "application/json")?;
        if let Some(t) = &self.token {
            set("authorization", &format!("Bearer {t}"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers).with_body(body.map(|b| JsValue::from_str(&b)));
        let req = Request::new_with_init(&format!("{}/peers/{device_uuid}", self.url), &init)
            .map_err(|e| format!("bad gateway request: {e}"))?;
        let controller = AbortController::default();
        let signal = controller.signal();
        worker::wasm_bindgen_futures::spawn_local(async move {
            Delay::from(std::time::Duration::from_millis(TIMEOUT_MS)).await;
            controller.abort();
        });
        let resp =
            Fetch::Request(req).send_with_signal(&signal).await.map_err(|e| format!("gateway unreachable: {e}"))?;
        Ok(resp.status_code())
    }
}
