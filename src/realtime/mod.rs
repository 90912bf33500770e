//! Realtime: the per-user Durable Object and the protocol modules it is a thin shell over.
//!
//! Every socket is accepted by a Durable Object with the hibernation API; the stateless worker's
//! part ends with the 101. A socket whose upgrade names its user (header or ticket auth) is
//! accepted by the user's object (`hub`), which the worker hands the caller's
//! [`conn::Identity`]. A socket whose credentials arrive inside it (Socket.IO CONNECT, raw
//! first-frame auth) is accepted by a `lobby` object chosen before the user is known, which
//! authenticates the first packet and relays between the socket and the user's object (see
//! there and `relay`). Every call to the objects goes through `calls`.
pub mod calls;
pub mod client_event;
pub mod conn;
pub mod frame;
pub mod handlers;
pub mod hub;
pub mod inactivity;
pub mod lobby;
pub mod order;
pub mod relay;
pub mod rpc;
pub mod select;
pub mod timers;

use wasm_bindgen::prelude::*;
use worker::js_sys::JsString;
use worker::{web_sys, Env, Response, WebSocket, WebSocketPair};

use crate::crypto::util::random_bytes;
use crate::events::Outbox;
use conn::{Framing, Reject};

/// Hands committed events to the user's Durable Object without delaying the response. Delivery
/// is best effort: the write has already succeeded.
pub fn publish(env: &Env, wctx: &worker::Context, user_id: &str, outbox: Outbox) {
    if outbox.is_empty() {
        return;
    }
    if let Err(e) = calls::Hub::new(env, user_id).publish_later(wctx, outbox) {
        worker::console_error!("publish to {user_id} failed: {e}");
    }
}

/// Whether one of the user's app sockets reports `app-state` active; false when the object
/// cannot be asked (a push then goes out rather than being lost).
pub async fn app_active(env: &Env, user_id: &str) -> bool {
    calls::Hub::new(env, user_id).app_active().await.unwrap_or_else(|e| {
        worker::console_error!("app-active of {user_id}: {e}");
        false
    })
}

/// The integer column `s` of the first row of a query on an object's SQLite, if any.
pub fn sql_scalar(state: &worker::State, query: &str, args: Vec<worker::SqlStorageValue>) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Scalar {
        s: Option<i64>,
    }
    let rows = state.storage().sql().exec(query, args).and_then(|c| c.to_array::<Scalar>()).ok()?;
    rows.into_iter().next().and_then(|r| r.s)
}

/// Tells a client why it is refused, in its framing, and closes with the seed's code.
pub fn send_rejection(ws: &WebSocket, framing: Framing, r: Reject) {
    let _ = match framing {
        Framing::Raw => ws.send_with_str(frame::event(Framing::Raw, "auth-error", &r.auth_error())),
        Framing::Eio => ws.send_with_str(frame::eio_connect_error(r.message())),
    };
    let _ = ws.close(Some(r.code()), Some(r.message()));
}

/// A socket that is accepted only to be refused (close codes need an open socket).
pub fn rejected_socket(framing: Framing, r: Reject) -> worker::Result<Response> {
    let pair = WebSocketPair::new()?;
    pair.server.accept()?;
    send_rejection(&pair.server, framing, r);
    Response::from_websocket(pair.client)
}

/// A close code a peer may be sent: 1005/1006 and other reserved codes become 1000.
pub fn sendable_close_code(code: u16) -> u16 {
    if code == 1000 || (3000..=4999).contains(&code) {
        code
    } else {
        1000
    }
}

#[wasm_bindgen]
extern "C" {
    /// A WebSocket seen only for `send` with a string already in JS: web-sys takes `&str`,
    /// which would be copied and decoded again for every socket of a fan-out.
    type TextSocket;
    #[wasm_bindgen(method, catch, js_name = send)]
    fn send(this: &TextSocket, text: &JsString) -> std::result::Result<(), JsValue>;
}

/// Sends a string already in JS; false when the socket is closed.
pub fn send_js_text(ws: &WebSocket, text: &JsString) -> bool {
    AsRef::<web_sys::WebSocket>::as_ref(ws).unchecked_ref::<TextSocket>().send(text).is_ok()
}

/// A random alphanumeric id of up to 32 chars (update ids, connection ids, Engine.IO sids).
pub fn random_id(len: usize) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    random_bytes::<32>().iter().take(len).map(|b| ALPHABET[*b as usize % 62] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_close_codes() {
        let id = random_id(12);
        assert_eq!(id.len(), 12);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(random_id(12), id);
        assert_eq!(sendable_close_code(1006), 1000);
        assert_eq!(sendable_close_code(1001), 1000);
        assert_eq!(sendable_close_code(4001), 4001);
    }
}
