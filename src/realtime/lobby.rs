//! The lobby: sockets whose credentials arrive inside the socket.
//!
//! Socket.IO clients (every stock Happy client) send their token only in the CONNECT packet,
//! after the upgrade, and raw clients may authenticate with a first frame. The upgrade therefore
//! cannot be routed to the user's Durable Object, and a socket accepted by one object cannot be
//! handed to another. Options weighed:
//! - a shared "gateway" object accepting every such socket and relaying to user objects: every
//!   delivery would cross two objects, tag filtering would have to live in the gateway, and the
//!   gateway is a hot spot;
//! - the worker holding the client's socket (a `WebSocketPair`) and relaying frames to a socket
//!   it opens to the user's object once the first packet authenticated. Chosen: the object keeps
//!   one hibernatable socket per client, filters by tags and runs the same code for every socket,
//!   and the relay costs only worker CPU per frame (no duration billing, nothing held in an
//!   object). Engine.IO pongs (`3`) stop here, so heartbeats never wake the object; its single
//!   alarm sends the pings (`2`) through the relay.
//!
//! The relay runs with `spawn_local`, not `waitUntil` (whose 30 s cap would cut the socket): the
//! runtime keeps the request alive while the client's socket is open. However the relay ends
//! (either side closing, a send failing, an oversize frame) it closes both sockets, so the
//! object always learns that the client left (presence, RPC calls in flight) and the client's
//! close handshake completes. Client frames larger than Socket.IO's `maxPayload` close the
//! socket with 1009 before they are copied into the worker's memory.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::wasm_bindgen::JsCast;
use worker::{console_error, js_sys, Delay, Env, MessageEvent, Response, WebSocket, WebSocketPair, WebsocketEvent};

use super::conn::{Framing, Handshake, Identity, Reject};
use super::frame::{self, Incoming, EIO_PONG, MAX_PAYLOAD, MESSAGE_TOO_BIG, MESSAGE_TOO_BIG_REASON};
use super::{connect_hub, random_id, send_rejection, sendable_close_code};
use crate::config::now_ms;

/// Raw clients must authenticate within 5 s (seed 001).
const RAW_AUTH_TIMEOUT_MS: i64 = 5_000;
/// Socket.IO's `connectTimeout`: a client that sent no valid CONNECT by then is dropped.
const EIO_CONNECT_TIMEOUT_MS: i64 = 20_000;

/// Accepts the client's socket and authenticates its first packet before relaying.
pub fn accept(env: Env, framing: Framing, after_seq: Option<i64>) -> worker::Result<Response> {
    let pair = WebSocketPair::new()?;
    let client = pair.server;
    worker::wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = run(&env, &client, framing, after_seq).await {
            console_error!("lobby: {e}");
            let _ = client.close(Some(1011), Some("error"));
        }
    });
    Response::from_websocket(pair.client)
}

/// A client frame, bounded by `maxPayload`.
enum Frame {
    Text(String),
    /// Binary frames: no Happy client sends them.
    Other,
    TooBig,
}

/// Measures the frame where it lives (JS) before copying it: UTF-16 units never exceed the
/// UTF-8 bytes, so a string over the limit in units is over it in bytes.
fn frame_of(m: &MessageEvent) -> Frame {
    let data = m.as_ref().data();
    if let Some(s) = data.dyn_ref::<js_sys::JsString>() {
        if u64::from(s.length()) > MAX_PAYLOAD {
            return Frame::TooBig;
        }
        let text = String::from(s);
        return if text.len() as u64 > MAX_PAYLOAD { Frame::TooBig } else { Frame::Text(text) };
    }
    match data.dyn_ref::<js_sys::ArrayBuffer>() {
        Some(b) if u64::from(b.byte_length()) > MAX_PAYLOAD => Frame::TooBig,
        _ => Frame::Other,
    }
}

async fn run(env: &Env, client: &WebSocket, framing: Framing, after_seq: Option<i64>) -> worker::Result<()> {
    let mut from_client = client.events()?;
    client.accept()?;
    if framing == Framing::Eio {
        client.send_with_str(frame::eio_open(&random_id(20)))?;
    }
    let timeout = if framing == Framing::Eio { EIO_CONNECT_TIMEOUT_MS } else { RAW_AUTH_TIMEOUT_MS };
    let deadline = now_ms() + timeout;
    let mut ident = loop {
        let left = deadline - now_ms();
        if left <= 0 {
            match framing {
                Framing::Raw => send_rejection(client, framing, Reject::Timeout),
                Framing::Eio => client.close(Some(1000), Some("connect timeout"))?,
            }
            return Ok(());
        }
        let timer = Box::pin(Delay::from(Duration::from_millis(left as u64)));
        let text = match select(from_client.next(), timer).await {
            Either::Left((Some(Ok(WebsocketEvent::Message(m))), _)) => match frame_of(&m) {
                Frame::Text(t) => t,
                Frame::Other => continue,
                Frame::TooBig => {
                    let _ = client.close(Some(MESSAGE_TOO_BIG), Some(MESSAGE_TOO_BIG_REASON));
                    return Ok(());
                }
            },
            // Gone before authenticating: complete its close handshake.
            Either::Left((event, _)) => {
                let (code, reason) = close_of(event);
                let _ = client.close(Some(code), Some(reason));
                return Ok(());
            }
            Either::Right(_) => continue,
        };
        match authenticate(env, framing, &text).await {
            Ok(ident) => break ident,
            Err(None) => {}
            // Socket.IO clients may send CONNECT again on the same engine after an error.
            Err(Some(r)) if framing == Framing::Eio => client.send_with_str(frame::eio_connect_error(r.message()))?,
            Err(Some(r)) => {
                send_rejection(client, framing, r);
                return Ok(());
            }
        }
    };
    ident.after_seq = after_seq;
    let hub = match connect_hub(env, &ident).await.map(Response::websocket) {
        Ok(Some(hub)) => hub,
        other => {
            if let Err(e) = other {
                console_error!("lobby: connecting to the hub failed: {e}");
            }
            client.close(Some(1011), Some("unavailable"))?;
            return Ok(());
        }
    };
    relay(framing, client, &mut from_client, &hub).await
}

/// What the first packet proves: `Err(None)` for packets that do not authenticate anything
/// (Engine.IO pongs, events sent too early).
async fn authenticate(env: &Env, framing: Framing, text: &str) -> Result<Identity, Option<Reject>> {
    let handshake = match frame::parse(framing, text) {
        Incoming::Event { name, data, .. } if framing == Framing::Raw && name == "auth" => data,
        Incoming::Connect(auth) => auth,
        _ if framing == Framing::Raw => return Err(Some(Reject::BadHandshake)),
        _ => return Err(None),
    };
    let handshake: Handshake = match handshake {
        serde_json::Value::Null => Handshake::default(),
        v => serde_json::from_value(v).map_err(|_| Some(Reject::BadHandshake))?,
    };
    let token = handshake.token()?;
    let scope = handshake.scope()?;
    let user = crate::auth::verify_token(env, token).await.map_err(|_| Some(Reject::BadToken))?;
    Ok(Identity::new(&user.id, scope, framing, &handshake))
}

/// Copies frames both ways until either side closes, then closes both with that code.
async fn relay(
    framing: Framing,
    client: &WebSocket,
    from_client: &mut worker::EventStream<'_>,
    hub: &WebSocket,
) -> worker::Result<()> {
    let mut from_hub = hub.events()?;
    hub.accept()?;
    let (code, reason) = pump(framing, client, from_client, hub, &mut from_hub).await.unwrap_or_else(|e| {
        console_error!("relay: {e}");
        (1011, "relay error".to_string())
    });
    let _ = client.close(Some(code), Some(reason.clone()));
    let _ = hub.close(Some(code), Some(reason));
    Ok(())
}

/// Relays until one side ends; returns the close code and reason to pass on.
async fn pump(
    framing: Framing,
    client: &WebSocket,
    from_client: &mut worker::EventStream<'_>,
    hub: &WebSocket,
    from_hub: &mut worker::EventStream<'_>,
) -> worker::Result<(u16, String)> {
    loop {
        match select(from_client.next(), from_hub.next()).await {
            Either::Left((Some(Ok(WebsocketEvent::Message(m))), _)) => match frame_of(&m) {
                // Engine.IO pongs stop here: heartbeats never wake the object.
                Frame::Text(text) if !(framing == Framing::Eio && text == EIO_PONG) => hub.send_with_str(text)?,
                Frame::Text(_) | Frame::Other => {}
                Frame::TooBig => return Ok((MESSAGE_TOO_BIG, MESSAGE_TOO_BIG_REASON.to_string())),
            },
            Either::Right((Some(Ok(WebsocketEvent::Message(m))), _)) => {
                if let Some(text) = m.text() {
                    client.send_with_str(text)?;
                }
            }
            Either::Left((event, _)) => return Ok(close_of(event)),
            Either::Right((event, _)) => return Ok(close_of(event)),
        }
    }
}

fn close_of(event: Option<worker::Result<WebsocketEvent>>) -> (u16, String) {
    match event {
        Some(Ok(WebsocketEvent::Close(c))) => (sendable_close_code(c.code()), c.reason()),
        _ => (1000, String::new()),
    }
}
