//! `Lobby`: the Durable Object that holds sockets whose credentials arrive inside the socket.
//!
//! Socket.IO clients (every stock Happy client) send their token only in the CONNECT packet,
//! after the upgrade, and raw clients may authenticate with a first frame: the upgrade cannot be
//! routed to the user's object, and a socket accepted by one object cannot move to another. So
//! the worker hands the upgrade to a lobby and is done once it returns the 101; the lobby
//! accepts it with the hibernation API, authenticates the first packet, registers the socket
//! with the user's object (`hub`) and from then on relays: each client frame is one call to the
//! hub, and the hub's frames for the lobby's sockets come back in ordered calls (see `relay`).
//! The hub keeps the remote sockets' metadata and runs the same code for them as for its own,
//! so seq order, filters, RPC, presence and limits are decided in one place.
//!
//! Weighed (costs per socket-hour and per update in the README):
//! - One lobby per client address (chosen), not one per connection: the app, the daemon and
//!   the daemon's session sockets of one machine share a lobby, so an update for a user costs
//!   one call per lobby holding their sockets (1 for 1,000 sockets of one machine), and one
//!   alarm pings all of a lobby's Socket.IO sockets: one wake-up per ping interval per lobby,
//!   not per socket. One object per connection would cost a call per socket per update and an
//!   alarm per socket. A lobby is a hot spot only for addresses that hold thousands of
//!   sockets; it serves them as the user's object serves its own.
//! - Calls, not a socket, between the objects: an outgoing WebSocket keeps an object from
//!   hibernating, which would bill a lobby's and a hub's duration around the clock. Both
//!   objects hibernate between frames.
//! - Engine.IO pongs (`3`) are answered by the runtime (`setWebSocketAutoResponse`) with a noop
//!   (`6`), which engine.io-client ignores: heartbeats wake nothing but the alarm that pings.
//!
//! Restarts: sockets and their attachments survive a lobby's hibernation or eviction; a code
//! update closes them, and the clients reconnect (their close reaches the hub as a detach, or
//! the hub's next delivery learns they are gone). The hub's registry of remote sockets is in
//! its SQLite, so a hub waking or restarting keeps them; a frame for a socket the hub does not
//! know (the socket ended meanwhile) is dropped.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket, WebSocketIncomingMessage,
    WebSocketPair, WebSocketRequestResponsePair,
};

use super::calls::{Attach, Attached, Delivered, FromClient, HubCall, LobbyCall, LobbyConnect, LobbyStats, Stubs};
use super::conn::{framing_tag, Framing, Handshake, Identity, Reject, EIO_TAG};
use super::frame::{self, Incoming, EIO_PING, EIO_PONG, MAX_PAYLOAD, MESSAGE_TOO_BIG, MESSAGE_TOO_BIG_REASON};
use super::relay::Out;
use super::timers::Timers;
use super::{random_id, send_js_text, send_rejection, sendable_close_code};
use crate::config::now_ms;

/// Raw clients must authenticate within 5 s (the seed; docs/protocol.md#socket-authentication).
const RAW_AUTH_TIMEOUT_MS: i64 = 5_000;
/// Socket.IO's `connectTimeout`: a client that sent no valid CONNECT by then is dropped.
const EIO_CONNECT_TIMEOUT_MS: i64 = 20_000;
const PING_TIMER: &str = "ping";
/// Engine.IO's noop packet: the runtime's answer to a pong, ignored by the client.
const EIO_NOOP: &str = "6";
/// The raw framing's heartbeat.
const RAW_PING: &str = r#"{"event":"ping"}"#;
const RAW_PONG: &str = r#"{"event":"pong"}"#;

/// Per-socket state in the hibernation attachment.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Waiting {
    conn: String,
    framing: Framing,
    /// Set once the first packet authenticated: frames then go to this user's object.
    user: Option<String>,
    /// When an unauthenticated socket is dropped.
    deadline: i64,
    after_seq: Option<i64>,
}

#[durable_object]
pub struct Lobby {
    state: State,
    env: Env,
    /// The users' objects this lobby calls.
    hubs: Stubs<HubCall>,
    /// The sockets by connection id, rebuilt from the attachments once per wake: a delivery to
    /// 1,000 sockets is then 1,000 map lookups, not 1,000 runtime tag lookups.
    sockets: RefCell<Option<HashMap<String, WebSocket>>>,
}

impl DurableObject for Lobby {
    fn new(state: State, env: Env) -> Self {
        Timers(&state).init();
        if let Ok(pair) = WebSocketRequestResponsePair::new(EIO_PONG, EIO_NOOP) {
            state.set_websocket_auto_response(&pair);
        }
        Lobby { state, env, hubs: Stubs::default(), sockets: RefCell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let Some(call) = LobbyCall::read(&mut req).await? else { return Response::error("Not found", 404) };
        match call {
            LobbyCall::Connect(connect) => self.accept(connect).await,
            LobbyCall::Deliver(outs) => Response::from_json(&self.deliver(outs)),
            LobbyCall::Stats => Response::from_json(&LobbyStats { wakeups: Timers(&self.state).wakeups() }),
        }
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let WebSocketIncomingMessage::String(text) = message else { return Ok(()) };
        let Some(mut socket) = ws.deserialize_attachment::<Waiting>()? else { return Ok(()) };
        if text.len() as u64 > MAX_PAYLOAD {
            ws.close(Some(MESSAGE_TOO_BIG), Some(MESSAGE_TOO_BIG_REASON))?;
            self.left(&socket).await;
            return Ok(());
        }
        let Some(user) = socket.user.clone() else { return self.authenticate(&ws, &mut socket, &text).await };
        if socket.framing == Framing::Raw && text == RAW_PING {
            ws.send_with_str(RAW_PONG)?;
            return Ok(());
        }
        let frame = FromClient { conn: socket.conn.clone(), text: Some(text) };
        if let Err(e) = self.hubs.get(&self.env, &user).frame(frame).await {
            worker::console_error!("lobby: frame to the hub: {e}");
        }
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, reason: String, _was_clean: bool) -> Result<()> {
        // Completing the close handshake ourselves; otherwise the client's close hangs.
        let _ = ws.close(Some(sendable_close_code(u16::try_from(code).unwrap_or(1000))), Some(reason));
        if let Some(socket) = ws.deserialize_attachment::<Waiting>()? {
            self.left(&socket).await;
        }
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, error: worker::Error) -> Result<()> {
        worker::console_error!("lobby socket error: {error}");
        let _ = ws.close(Some(1011), Some("error"));
        if let Some(socket) = ws.deserialize_attachment::<Waiting>()? {
            self.left(&socket).await;
        }
        Ok(())
    }

    /// Pings every Socket.IO socket when the ping timer is due, and drops sockets that did not
    /// authenticate in time.
    async fn alarm(&self) -> Result<Response> {
        let (now, timers) = (now_ms(), Timers(&self.state));
        if timers.get(PING_TIMER).is_some_and(|t| t <= now) {
            let sockets = self.state.get_websockets_with_tag(EIO_TAG);
            let ping = worker::js_sys::JsString::from(EIO_PING);
            for ws in &sockets {
                send_js_text(ws, &ping);
            }
            timers.set(PING_TIMER, (!sockets.is_empty()).then_some(now + frame::PING_INTERVAL_MS));
        }
        let mut next_deadline: Option<i64> = None;
        for ws in self.state.get_websockets() {
            let Ok(Some(socket)) = ws.deserialize_attachment::<Waiting>() else { continue };
            if socket.user.is_some() {
                continue;
            }
            if socket.deadline <= now {
                match socket.framing {
                    Framing::Raw => send_rejection(&ws, Framing::Raw, Reject::Timeout),
                    Framing::Eio => {
                        let _ = ws.close(Some(1000), Some("connect timeout"));
                    }
                }
            } else {
                next_deadline = Some(next_deadline.map_or(socket.deadline, |d| d.min(socket.deadline)));
            }
        }
        timers.rearm(&[PING_TIMER], next_deadline).await?;
        Response::ok("")
    }
}

impl Lobby {
    async fn accept(&self, LobbyConnect { framing, after_seq }: LobbyConnect) -> Result<Response> {
        let now = now_ms();
        let timeout = if framing == Framing::Eio { EIO_CONNECT_TIMEOUT_MS } else { RAW_AUTH_TIMEOUT_MS };
        let socket = Waiting { conn: random_id(16), framing, user: None, deadline: now + timeout, after_seq };
        let pair = WebSocketPair::new()?;
        // The framing tag finds the Socket.IO sockets to ping; connections are found by the index.
        self.state.accept_websocket_with_tags(&pair.server, &[framing_tag(framing)]);
        pair.server.serialize_attachment(&socket)?;
        self.with_sockets(|s| s.insert(socket.conn.clone(), pair.server.clone()));
        let timers = Timers(&self.state);
        if framing == Framing::Eio {
            pair.server.send_with_str(frame::eio_open(&socket.conn))?;
            timers.start(PING_TIMER, now + frame::PING_INTERVAL_MS).await?;
        }
        timers.wake_by(socket.deadline).await?;
        Response::from_websocket(pair.client)
    }

    /// A packet from a socket that has not authenticated yet.
    async fn authenticate(&self, ws: &WebSocket, socket: &mut Waiting, text: &str) -> Result<()> {
        let mut ident = match identify(&self.env, socket.framing, text).await {
            Ok(ident) => ident,
            Err(None) => return Ok(()),
            // Socket.IO clients may send CONNECT again on the same engine after an error.
            Err(Some(r)) if socket.framing == Framing::Eio => {
                return ws.send_with_str(frame::eio_connect_error(r.message()));
            }
            Err(Some(r)) => {
                send_rejection(ws, socket.framing, r);
                return Ok(());
            }
        };
        ident.after_seq = socket.after_seq;
        // Recorded before the call: a second CONNECT meanwhile is relayed, not authenticated twice.
        socket.user = Some(ident.user_id.clone());
        ws.serialize_attachment(&*socket)?;
        let lobby = self.state.id().name().unwrap_or_default();
        let user = ident.user_id.clone();
        let attach = Attach { conn: socket.conn.clone(), lobby, identity: ident };
        match self.hubs.get(&self.env, &user).attach(attach).await {
            Ok(Attached { refused: None }) => {}
            Ok(Attached { refused: Some(r) }) => send_rejection(ws, socket.framing, r),
            Err(e) => {
                worker::console_error!("lobby: registering with the hub: {e}");
                ws.close(Some(1011), Some("unavailable"))?;
            }
        }
        Ok(())
    }

    /// A socket ended: this lobby's index and its user's object forget it.
    async fn left(&self, socket: &Waiting) {
        self.with_sockets(|s| s.remove(&socket.conn));
        let Some(user) = &socket.user else { return };
        let gone = FromClient { conn: socket.conn.clone(), text: None };
        if let Err(e) = self.hubs.get(&self.env, user).frame(gone).await {
            worker::console_error!("lobby: telling the hub a socket left: {e}");
        }
    }

    /// Runs the hub's frames in order; answers which sockets are no longer here.
    fn deliver(&self, outs: Vec<Out>) -> Delivered {
        let mut gone: Vec<String> = Vec::new();
        self.with_sockets(|sockets| {
            let mut note_gone = |conn: &str| {
                if !gone.iter().any(|g| g == conn) {
                    gone.push(conn.to_string());
                }
            };
            for out in outs {
                match out {
                    Out::Send { text, conns } => {
                        let text = worker::js_sys::JsString::from(text);
                        for conn in conns {
                            if !sockets.get(&conn).is_some_and(|ws| send_js_text(ws, &text)) {
                                note_gone(&conn);
                            }
                        }
                    }
                    Out::Check { conns } => {
                        conns.iter().filter(|c| !sockets.contains_key(*c)).for_each(|c| note_gone(c))
                    }
                    Out::Close { conn, code, reason } => match sockets.get(&conn) {
                        Some(ws) => {
                            let _ = ws.close(Some(code), Some(reason));
                        }
                        None => note_gone(&conn),
                    },
                }
            }
        });
        Delivered { gone }
    }

    /// Runs `f` on the socket index, building it from the runtime's sockets after a wake.
    fn with_sockets<T>(&self, f: impl FnOnce(&mut HashMap<String, WebSocket>) -> T) -> T {
        let mut index = self.sockets.borrow_mut();
        let sockets = index.get_or_insert_with(|| {
            self.state
                .get_websockets()
                .into_iter()
                .filter_map(|ws| Some((ws.deserialize_attachment::<Waiting>().ok()??.conn, ws)))
                .collect()
        });
        f(sockets)
    }
}

/// What the first packet proves: `Err(None)` for packets that do not authenticate anything
/// (Engine.IO pongs, events sent too early).
async fn identify(env: &Env, framing: Framing, text: &str) -> std::result::Result<Identity, Option<Reject>> {
    let handshake = match frame::parse(framing, text) {
        Incoming::Event { name, data, .. } if framing == Framing::Raw && name == "auth" => data,
        Incoming::Connect(auth) => auth,
        _ if framing == Framing::Raw => return Err(Some(Reject::BadHandshake)),
        _ => return Err(None),
    };
    let handshake: Handshake = match handshake {
        Value::Null => Handshake::default(),
        v => serde_json::from_value(v).map_err(|_| Some(Reject::BadHandshake))?,
    };
    let token = handshake.token()?;
    let scope = handshake.scope()?;
    let user = crate::auth::verify_token(env, token).await.map_err(|_| Some(Reject::BadToken))?;
    Ok(Identity::new(&user.id, scope, framing, &handshake))
}
