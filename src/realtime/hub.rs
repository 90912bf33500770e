//! `UserHub`: one Durable Object per account, holding its hibernating WebSockets. A thin shell:
//! framing, filters, ordering and RPC bookkeeping live in the sibling modules.
//!
//! What survives hibernation: per-socket metadata in the socket attachment, socket tags (the
//! delivery filters), and in the object's SQLite the catch-up window, the tickets and the
//! timers. What lives only in memory is short-lived by construction: updates held ≤100 ms for
//! ordering, RPC calls in flight (their handler is running, so the object stays awake
//! meanwhile) and the plan's connection limit (cached for a minute).
//!
//! Sockets held by a lobby (those that authenticated inside the socket) are registered here
//! too, with the same metadata in the `remotes` table, and served by the same code: a frame
//! for one goes to its lobby's ordered queue (`relay::Outgoing`) instead of the runtime.
//!
//! Its sockets of its own are raw (Socket.IO clients authenticate inside the socket, so lobbies
//! hold them and send their pings); the raw heartbeat is the runtime's auto-response. The alarm
//! serves the inactivity sweep (`sweep`, while something of the account is active; see
//! `inactivity`).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{select, Either, LocalBoxFuture};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::js_sys::JsString;
use worker::{
    durable_object, Delay, DurableObject, Env, Request, Response, Result, SqlStorageValue, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, WebSocketRequestResponsePair,
};

use super::calls::{AppActive, Attach, Attached, Broadcasted, FromClient, HubCall, LobbyCall, Stubs, Ticket};
use super::client_event::{AppState, ClientEvent, Label, Payload, RpcCall, RpcMethod};
use super::conn::{self, conn_tag, machine_tag, type_tag, ClientType, ConnMeta, Framing, Identity, Reject};
use super::frame::{self, AckId, Incoming};
use super::handlers::{self, OnError, Reply, Throttle};
use super::inactivity::Schedule;
use super::order::{window_covers, Sequencer};
use super::relay::Outgoing;
use super::rpc::{self, Pending, Target};
use super::select::Selection;
use super::timers::Timers;
use super::{random_id, send_js_text, send_rejection, sendable_close_code, sql_scalar};
use crate::config::now_ms;
use crate::crypto::util::random_token;
use crate::db::{plans, Db};
use crate::error::ApiError;
use crate::events::{machines, sessions, Outbox, Recipients, Update};
use crate::wire::realtime::Stats;
use crate::wire::socket::{
    empty, CatchUpSummary, Connected, Message, OkFalse, RpcError, RpcErrorKind, RpcMethodName, RpcOk, RpcRequest,
    UpdateEnvelope,
};
use crate::wire::{value, Bool, ErrorBody};

/// How long a later seq waits for a missing earlier one.
const ORDER_HOLD_MS: i64 = 100;
/// Updates kept for reconnecting clients.
const RING_SIZE: i64 = 500;
pub const TICKET_TTL_MS: i64 = 30_000;
/// How long the plan's connection limit is trusted before D1 is read again.
const PLAN_CACHE_MS: i64 = 60_000;
/// The basic plan's limit, used only while D1 cannot be read and nothing is cached.
const FALLBACK_MAX_CONNECTIONS: usize = 20;
const SWEEP_TIMER: &str = "sweep";
/// The raw framing's heartbeat, answered by the runtime without waking the object.
const PING: &str = r#"{"event":"ping"}"#;
const PONG: &str = r#"{"event":"pong"}"#;

#[durable_object]
pub struct UserHub {
    state: State,
    env: Env,
    inner: RefCell<Inner>,
    throttle: RefCell<Throttle>,
    inactivity: Schedule,
    /// The lobby-held sockets, loaded from `remotes` on first use after a wake.
    remotes: RefCell<Option<Vec<Remote>>>,
    outgoing: RefCell<Outgoing>,
    /// The lobbies holding sockets of ours.
    lobbies: Stubs<LobbyCall>,
    /// Client frames relayed by lobbies since this object woke (GET /v1/websocket/stats).
    lobby_frames: Cell<u64>,
}

/// Where a socket is held: here, or by a lobby (reached through its queue).
#[derive(Clone)]
enum Peer {
    Local(WebSocket),
    Remote { lobby: String, conn: String },
}

#[derive(Clone, Debug)]
struct Remote {
    lobby: String,
    meta: ConnMeta,
    /// `meta.tags()`, kept: a fan-out matches every remote socket by them (they never change).
    tags: Vec<String>,
}

impl Remote {
    fn new(lobby: String, meta: ConnMeta) -> Remote {
        Remote { tags: meta.tags(), lobby, meta }
    }
}

struct Inner {
    order: Sequencer<Update>,
    /// RPC requests awaiting the serving socket's answer.
    calls: Pending<oneshot::Sender<Value>>,
    /// RPC calls waiting for a socket to register their method.
    waiters: Vec<(String, oneshot::Sender<()>)>,
    /// The plan's connection limit and when it was read.
    conn_limit: Option<(usize, i64)>,
}

#[derive(Deserialize)]
struct RingRow {
    seq: i64,
    recipients: String,
    skip: Option<String>,
    payload: String,
}

#[derive(Deserialize)]
struct RemoteRow {
    lobby: String,
    meta: String,
}

impl DurableObject for UserHub {
    fn new(state: State, env: Env) -> Self {
        // Wake-ups are what idle sockets cost, reported by /v1/websocket/stats.
        Timers(&state).init();
        let sql = state.storage().sql();
        for ddl in [
            "CREATE TABLE IF NOT EXISTS ring (seq INTEGER PRIMARY KEY, recipients TEXT NOT NULL, skip TEXT, payload TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS tickets (secret TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS remotes (id TEXT PRIMARY KEY, lobby TEXT NOT NULL, meta TEXT NOT NULL)",
        ] {
            if let Err(e) = sql.exec(ddl, None::<Vec<SqlStorageValue>>) {
                worker::console_error!("hub schema: {e}");
            }
        }
        if let Ok(pair) = WebSocketRequestResponsePair::new(PING, PONG) {
            state.set_websocket_auto_response(&pair);
        }
        let first_id = u64::from_le_bytes(crate::crypto::util::random_bytes::<8>()) % (1 << 40);
        let inner = Inner {
            order: Sequencer::new(ORDER_HOLD_MS),
            calls: Pending::new(first_id),
            waiters: Vec::new(),
            conn_limit: None,
        };
        let inactivity = Schedule::new(crate::config::var(&env, "INACTIVITY_TIMEOUT_MS").as_deref());
        UserHub {
            state,
            env,
            inner: RefCell::new(inner),
            throttle: RefCell::new(Throttle::default()),
            inactivity,
            remotes: RefCell::new(None),
            outgoing: RefCell::new(Outgoing::default()),
            lobbies: Stubs::default(),
            lobby_frames: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let Some(call) = HubCall::read(&mut req).await? else { return Response::error("Not found", 404) };
        // Each call behind a dynamic call: V8 compiles a wasm function whole on its first call,
        // and inlined, every kind (a socket's upgrade, a publish, stats) made one 30 KB function
        // that the object's first call of any kind compiled (bench/RESULTS.md, "cold requests").
        let answer: LocalBoxFuture<Result<Response>> = match call {
            HubCall::Connect(ident) => Box::pin(self.accept_socket(ident)),
            HubCall::Publish(outbox) => Box::pin(async move {
                self.publish(outbox).await;
                self.flush().await;
                Response::ok("")
            }),
            HubCall::Ticket => Box::pin(async move { Response::from_json(&self.ticket()?) }),
            HubCall::AppActive => {
                Box::pin(async move { Response::from_json(&AppActive { active: self.app_active() }) })
            }
            HubCall::Stats => Box::pin(async move { Response::from_json(&self.stats().await) }),
            HubCall::Broadcast(b) => Box::pin(async move {
                let delivered = self.send(&Selection::filter(&b.filter), "broadcast", &b.message);
                self.flush().await;
                Response::from_json(&Broadcasted { success: true, delivered })
            }),
            HubCall::Attach(attach) => Box::pin(async move {
                let answer = self.attach(attach).await?;
                self.flush().await;
                Response::from_json(&answer)
            }),
            HubCall::Frame(from) => Box::pin(async move {
                self.relayed(from).await;
                self.flush().await;
                Response::ok("")
            }),
        };
        answer.await
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let WebSocketIncomingMessage::String(text) = message else { return Ok(()) };
        // Sockets authenticated at upgrade come straight here, unbounded by the lobby's relay.
        if text.len() as u64 > frame::MAX_PAYLOAD {
            ws.close(Some(frame::MESSAGE_TOO_BIG), Some(frame::MESSAGE_TOO_BIG_REASON))?;
            return Ok(());
        }
        let Some(meta) = ws.deserialize_attachment::<ConnMeta>()? else {
            ws.close(Some(4002), Some("Invalid handshake"))?;
            return Ok(());
        };
        self.on_frame(&Peer::Local(ws), &meta, &text).await;
        self.flush().await;
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, reason: String, _was_clean: bool) -> Result<()> {
        // Completing the close handshake ourselves; otherwise the client's close hangs.
        let code = sendable_close_code(u16::try_from(code).unwrap_or(1000));
        let _ = ws.close(Some(code), Some(reason));
        self.local_gone(&ws).await;
        self.flush().await;
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, error: worker::Error) -> Result<()> {
        worker::console_error!("websocket error: {error}");
        let _ = ws.close(Some(1011), Some("error"));
        self.local_gone(&ws).await;
        self.flush().await;
        Ok(())
    }

    /// Runs the due timers, then sets the alarm for the earliest one left.
    async fn alarm(&self) -> Result<Response> {
        let (now, timers) = (now_ms(), Timers(&self.state));
        if timers.get(SWEEP_TIMER).is_some_and(|t| t <= now) {
            let next = match self.sweep(now).await {
                Ok(next) => next,
                Err(e) => {
                    worker::console_error!("inactivity sweep failed: {e}");
                    Some(self.inactivity.first(now))
                }
            };
            timers.set(SWEEP_TIMER, next);
            // Sockets a reset lobby lost without telling us are forgotten here at the latest,
            // so their machines go offline.
            self.check_remotes().await;
        }
        self.flush().await;
        timers.rearm(&[SWEEP_TIMER], None).await?;
        Response::ok("")
    }
}

impl UserHub {
    async fn accept_socket(&self, ident: Identity) -> Result<Response> {
        let pair = WebSocketPair::new()?;
        let refuse = |r: Reject| -> Result<Response> {
            pair.server.accept()?;
            send_rejection(&pair.server, ident.framing, r);
            Response::from_websocket(pair.client.clone())
        };
        if let Some(secret) = &ident.ticket {
            if !self.consume_ticket(secret)? {
                return refuse(Reject::BadToken);
            }
        }
        // Read before counting: nothing may run between the count and the accept.
        let max = self.max_connections(&ident.user_id).await;
        if self.connection_count() >= max {
            return refuse(Reject::TooMany);
        }
        let meta = ConnMeta::new(random_id(16), &ident, now_ms());
        let tags = meta.tags();
        let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
        self.state.accept_websocket_with_tags(&pair.server, &tag_refs);
        pair.server.serialize_attachment(&meta)?;
        self.welcome(&Peer::Local(pair.server.clone()), &meta, &ident)?;
        Response::from_websocket(pair.client)
    }

    /// Registers a socket a lobby authenticated, under the lobby's connection id.
    async fn attach(&self, attach: Attach) -> Result<Attached> {
        let Attach { conn, lobby, identity } = attach;
        let max = self.max_connections(&identity.user_id).await;
        if self.connection_count() >= max {
            // At the limit: first forget sockets a reset lobby lost, then count again.
            self.check_remotes().await;
            if self.connection_count() >= max {
                return Ok(Attached { refused: Some(Reject::TooMany) });
            }
        }
        let meta = ConnMeta::new(conn.clone(), &identity, now_ms());
        let remote = Remote::new(lobby.clone(), meta.clone());
        self.state.storage().sql().exec(
            "INSERT OR REPLACE INTO remotes (id, lobby, meta) VALUES (?, ?, ?)",
            vec![
                SqlStorageValue::String(conn.clone()),
                SqlStorageValue::String(lobby.clone()),
                SqlStorageValue::String(serde_json::to_string(&meta)?),
            ],
        )?;
        self.with_remotes(|r| {
            r.retain(|x| x.meta.id != conn);
            r.push(remote);
        });
        self.welcome(&Peer::Remote { lobby, conn }, &meta, &identity)?;
        Ok(Attached::default())
    }

    /// A frame a lobby relayed, or the end of one of its sockets.
    async fn relayed(&self, from: FromClient) {
        let Some(text) = from.text else {
            self.remote_gone(&from.conn).await;
            return;
        };
        // A socket that ended meanwhile: nothing to serve.
        let Some(remote) = self.with_remotes(|r| r.iter().find(|x| x.meta.id == from.conn).cloned()) else { return };
        self.lobby_frames.set(self.lobby_frames.get() + 1);
        let peer = Peer::Remote { lobby: remote.lobby, conn: from.conn };
        self.on_frame(&peer, &remote.meta, &text).await;
    }

    /// The welcome (`connected` or Socket.IO's CONNECT answer), the catch-up the socket asked
    /// for, and its machine online.
    fn welcome(&self, peer: &Peer, meta: &ConnMeta, ident: &Identity) -> Result<()> {
        let (backlog, catch_up) = match ident.after_seq {
            Some(after) => {
                let (frames, summary) = self.catch_up(meta, after)?;
                (frames, Some(summary))
            }
            None => (Vec::new(), None),
        };
        let welcome = match meta.framing {
            Framing::Raw => frame::event(
                Framing::Raw,
                "connected",
                &Connected {
                    connection_id: &meta.id,
                    user_id: &ident.user_id,
                    client_type: meta.client_type,
                    session_id: meta.session_id.as_deref(),
                    machine_id: meta.machine_id.as_deref(),
                    catch_up,
                },
            ),
            Framing::Eio => frame::eio_connected(&meta.id),
        };
        self.send_to(peer, welcome);
        for text in backlog {
            self.send_to(peer, text);
        }
        if let Some(machine) = &meta.machine_id {
            self.presence(machine, true, now_ms());
        }
        Ok(())
    }

    /// Asks every lobby holding sockets of ours which it still holds; the lost are forgotten.
    async fn check_remotes(&self) {
        let mut by_lobby: BTreeMap<String, Vec<String>> = BTreeMap::new();
        self.with_remotes(|r| {
            for x in r.iter() {
                by_lobby.entry(x.lobby.clone()).or_default().push(x.meta.id.clone());
            }
        });
        for (lobby, conns) in by_lobby {
            self.outgoing.borrow_mut().check(&lobby, conns);
        }
        self.flush().await;
    }

    fn connection_count(&self) -> usize {
        self.state.get_websockets().len() + self.with_remotes(|r| r.len())
    }

    /// Runs `f` on the lobby-held sockets, loading them after a wake.
    fn with_remotes<T>(&self, f: impl FnOnce(&mut Vec<Remote>) -> T) -> T {
        let mut cache = self.remotes.borrow_mut();
        let remotes = cache.get_or_insert_with(|| {
            let rows = self.state.storage().sql().exec("SELECT lobby, meta FROM remotes", None::<Vec<SqlStorageValue>>);
            let rows: Vec<RemoteRow> = rows.and_then(|c| c.to_array()).unwrap_or_else(|e| {
                worker::console_error!("remote sockets: {e}");
                Vec::new()
            });
            rows.into_iter().filter_map(|r| Some(Remote::new(r.lobby, serde_json::from_str(&r.meta).ok()?))).collect()
        });
        f(remotes)
    }

    /// Sends a frame to one socket; false when it is known to be closed.
    fn send_to(&self, peer: &Peer, text: String) -> bool {
        match peer {
            Peer::Local(ws) => ws.send_with_str(text).is_ok(),
            Peer::Remote { lobby, conn } => {
                self.outgoing.borrow_mut().send(lobby, vec![conn.clone()], text);
                true
            }
        }
    }

    fn close_peer(&self, peer: &Peer, code: u16, reason: &str) {
        match peer {
            Peer::Local(ws) => {
                let _ = ws.close(Some(code), Some(reason));
            }
            Peer::Remote { lobby, conn } => self.outgoing.borrow_mut().close(lobby, conn, code, reason),
        }
    }

    /// Makes the calls the lobbies' queues need, one in flight per lobby; returns when nothing
    /// is left that this call may send (frames for a lobby whose call another handler has in
    /// flight leave with that handler's next call).
    async fn flush(&self) {
        loop {
            let next = self.outgoing.borrow_mut().next_call();
            let Some((lobby, outs)) = next else { return };
            let delivered = self.lobbies.get(&self.env, &lobby).deliver(outs).await;
            self.outgoing.borrow_mut().done(&lobby);
            match delivered {
                Ok(d) => {
                    for conn in d.gone {
                        self.remote_gone(&conn).await;
                    }
                }
                Err(e) => worker::console_error!("delivery to lobby {lobby}: {e}"),
            }
        }
    }

    /// GET /v1/websocket/stats: the seed's shape, plus where the sockets are held and what
    /// they cost (this object's and its lobbies' wake-ups, frames relayed by lobbies).
    async fn stats(&self) -> Stats {
        let metas: Vec<ConnMeta> = self.sockets().into_iter().map(|(_, m)| m).collect();
        let (remote, lobbies) = self.with_remotes(|r| {
            let lobbies: BTreeSet<String> = r.iter().map(|x| x.lobby.clone()).collect();
            (r.len(), lobbies)
        });
        let mut lobby_wakeups = 0;
        for lobby in lobbies {
            lobby_wakeups += self.lobbies.get(&self.env, &lobby).stats().await.map_or(0, |s| s.wakeups);
        }
        Stats {
            sockets: conn::stats(&metas),
            wakeups: Timers(&self.state).wakeups(),
            lobby_sockets: remote,
            lobby_frames: self.lobby_frames.get(),
            lobby_wakeups,
        }
    }

    /// The account plan's `wsConnectionsPerUser`, cached briefly.
    async fn max_connections(&self, user_id: &str) -> usize {
        let now = now_ms();
        let cached = self.inner.borrow().conn_limit;
        if let Some((max, _)) = cached.filter(|(_, at)| now - at < PLAN_CACHE_MS) {
            return max;
        }
        let read = match Db::from_env(&self.env) {
            Ok(db) => plans::plan_limits(&db, user_id).await,
            Err(e) => Err(e),
        };
        match read {
            Ok(limits) => {
                let max = usize::try_from(limits.ws_connections_per_user).unwrap_or(0);
                self.inner.borrow_mut().conn_limit = Some((max, now));
                max
            }
            Err(e) => {
                worker::console_error!("plan limits unavailable: {e}");
                cached.map_or(FALLBACK_MAX_CONNECTIONS, |(max, _)| max)
            }
        }
    }

    /// Marks this account's sessions and machines without a heartbeat for the timeout inactive,
    /// tells the user-scoped sockets, and returns when to sweep next (none: nothing active).
    async fn sweep(&self, now: i64) -> std::result::Result<Option<i64>, ApiError> {
        let Some(user) = self.state.id().name() else {
            worker::console_error!("inactivity sweep: the object has no name");
            return Ok(None);
        };
        let db = Db::from_env(&self.env)?;
        let swept = crate::db::inactivity::sweep(&db, &user, self.inactivity.cutoff(now)).await?;
        let mut outbox = Outbox::default();
        {
            // A heartbeat after this must reach D1 again, whatever the write throttle says.
            let mut throttle = self.throttle.borrow_mut();
            for s in &swept.sessions {
                throttle.forget_session(&s.id);
                outbox = outbox.ephemeral(sessions::activity(&s.id, false, s.last_active_at, false), Recipients::User);
            }
            for m in &swept.machines {
                throttle.forget_machine(&m.id);
                outbox = outbox.ephemeral(machines::machine_activity(&m.id, false, m.last_active_at), Recipients::User);
            }
        }
        self.publish(outbox).await;
        Ok(self.inactivity.next(now, swept.oldest_active))
    }

    fn ticket(&self) -> Result<Ticket> {
        let sql = self.state.storage().sql();
        let (secret, now) = (random_token(), now_ms());
        sql.exec("DELETE FROM tickets WHERE expires_at <= ?", vec![now.into()])?;
        sql.exec(
            "INSERT INTO tickets (secret, expires_at) VALUES (?, ?)",
            vec![SqlStorageValue::String(secret.clone()), (now + TICKET_TTL_MS).into()],
        )?;
        Ok(Ticket { secret, expires_at: now + TICKET_TTL_MS })
    }

    /// Single use: the object runs one event at a time, so the delete decides.
    fn consume_ticket(&self, secret: &str) -> Result<bool> {
        let rows: Vec<Value> = self
            .state
            .storage()
            .sql()
            .exec(
                "DELETE FROM tickets WHERE secret = ? AND expires_at > ? RETURNING secret",
                vec![SqlStorageValue::String(secret.to_string()), now_ms().into()],
            )?
            .to_array()?;
        Ok(!rows.is_empty())
    }

    /// Every socket with its metadata, wherever it is held.
    fn sockets(&self) -> Vec<(Peer, ConnMeta)> {
        let mut all: Vec<(Peer, ConnMeta)> = self
            .state
            .get_websockets()
            .into_iter()
            .filter_map(|ws| ws.deserialize_attachment::<ConnMeta>().ok().flatten().map(|m| (Peer::Local(ws), m)))
            .collect();
        self.with_remotes(|r| {
            all.extend(
                r.iter().map(|x| (Peer::Remote { lobby: x.lobby.clone(), conn: x.meta.id.clone() }, x.meta.clone())),
            )
        });
        all
    }

    /// Whether one of the user's app sockets last reported `app-state` active (push suppression).
    fn app_active(&self) -> bool {
        let active = |m: &ConnMeta| m.client_type == ClientType::UserScoped && m.app_state.as_deref() == Some("active");
        self.state
            .get_websockets_with_tag(&type_tag(ClientType::UserScoped))
            .iter()
            .any(|ws| ws.deserialize_attachment::<ConnMeta>().ok().flatten().is_some_and(|m| active(&m)))
            || self.with_remotes(|r| r.iter().any(|x| active(&x.meta)))
    }

    /// Sends an event to the selected sockets, each in its framing; returns how many got it.
    /// Per socket of ours this is one runtime call: the frame is encoded and copied to JS once
    /// per framing, and the sockets come from tag lookups rather than from reading their tags.
    /// Lobby-held sockets are matched by their metadata; each lobby gets the frame once, with
    /// the list of its sockets.
    fn send(&self, sel: &Selection, name: &str, data: &impl Serialize) -> usize {
        let excluded = sel.exclude.as_deref().map(|c| self.state.get_websockets_with_tag(&conn_tag(c)));
        let mut sent = 0;
        for framing in [Framing::Raw, Framing::Eio] {
            let mut text: Option<JsString> = None;
            for tag in sel.lookups(framing) {
                for ws in self.state.get_websockets_with_tag(&tag) {
                    if excluded.iter().flatten().any(|x| same_socket(x, &ws)) {
                        continue;
                    }
                    let text = text.get_or_insert_with(|| JsString::from(frame::event(framing, name, data)));
                    if send_js_text(&ws, text) {
                        sent += 1;
                    }
                }
            }
        }
        let mut remote: BTreeMap<(String, Framing), Vec<String>> = BTreeMap::new();
        self.with_remotes(|r| {
            for x in r.iter().filter(|x| sel.matches_tags(&x.tags)) {
                remote.entry((x.lobby.clone(), x.meta.framing)).or_default().push(x.meta.id.clone());
            }
        });
        let mut outgoing = self.outgoing.borrow_mut();
        let mut encoded: [Option<String>; 2] = [None, None];
        for ((lobby, framing), conns) in remote {
            sent += conns.len();
            let text = encoded[framing as usize].get_or_insert_with(|| frame::event(framing, name, data));
            outgoing.send(&lobby, conns, text.clone());
        }
        sent
    }

    async fn publish(&self, outbox: Outbox) {
        if outbox.marks_active {
            let first = self.inactivity.first(now_ms());
            if let Err(e) = Timers(&self.state).start(SWEEP_TIMER, first).await {
                worker::console_error!("arming the inactivity sweep: {e}");
            }
        }
        self.prime_order();
        let now = now_ms();
        let ready: Vec<Update> = {
            let mut inner = self.inner.borrow_mut();
            outbox.updates.into_iter().flat_map(|u| inner.order.offer(u.seq, u, now)).map(|(_, u)| u).collect()
        };
        for u in ready {
            self.deliver(u);
        }
        for e in outbox.ephemerals {
            self.send(&Selection::recipients(&e.recipients, None), "ephemeral", &e.body);
        }
        // Whoever holds an update out of order also flushes it when the hold runs out; what is
        // ready goes to the lobbies first.
        self.flush().await;
        loop {
            let next = self.inner.borrow().order.next_deadline();
            let Some(deadline) = next else { break };
            let wait = deadline - now_ms();
            if wait > 0 {
                Delay::from(Duration::from_millis(wait as u64)).await;
            }
            let due = self.inner.borrow_mut().order.due(now_ms());
            for (_, u) in due {
                self.deliver(u);
            }
        }
    }

    /// After a wake the last delivered seq comes from the catch-up window.
    fn prime_order(&self) {
        if self.inner.borrow().order.is_primed() {
            return;
        }
        let last = sql_scalar(&self.state, "SELECT MAX(seq) AS s FROM ring", vec![]).unwrap_or(0);
        self.inner.borrow_mut().order.prime(last);
    }

    /// Sends one update and records it in the catch-up window (after sending: nothing else
    /// runs in between, and the sockets get it sooner).
    fn deliver(&self, u: Update) {
        let envelope = UpdateEnvelope { id: &random_id(12), seq: u.seq, body: &u.body, created_at: now_ms() };
        self.send(&Selection::recipients(&u.recipients, u.skip.as_deref()), "update", &envelope);
        let sql = self.state.storage().sql();
        let encoded = serde_json::to_string(&u.recipients).and_then(|r| Ok((r, serde_json::to_string(&envelope)?)));
        let stored = encoded.map_err(worker::Error::from).and_then(|(recipients, payload)| {
            sql.exec(
                "INSERT OR IGNORE INTO ring (seq, recipients, skip, payload) VALUES (?, ?, ?, ?)",
                vec![
                    u.seq.into(),
                    SqlStorageValue::String(recipients),
                    u.skip.map_or(SqlStorageValue::Null, SqlStorageValue::String),
                    SqlStorageValue::String(payload),
                ],
            )?;
            sql.exec("DELETE FROM ring WHERE seq <= (SELECT MAX(seq) FROM ring) - ?", vec![RING_SIZE.into()])
        });
        if let Err(e) = stored {
            worker::console_error!("catch-up window: {e}");
        }
    }

    /// The window's updates after `after` that this socket would have received, encoded for it.
    fn catch_up(&self, meta: &ConnMeta, after: i64) -> Result<(Vec<String>, CatchUpSummary)> {
        let rows: Vec<RingRow> = self
            .state
            .storage()
            .sql()
            .exec("SELECT seq, recipients, skip, payload FROM ring WHERE seq > ? ORDER BY seq", vec![after.into()])?
            .to_array()?;
        let oldest = sql_scalar(&self.state, "SELECT MIN(seq) AS s FROM ring", vec![]);
        let mut frames = Vec::new();
        let mut last = after;
        for row in rows {
            last = last.max(row.seq);
            let Ok(recipients) = serde_json::from_str::<Recipients>(&row.recipients) else { continue };
            if !Selection::recipients(&recipients, row.skip.as_deref()).matches(meta) {
                continue;
            }
            let payload: Value = serde_json::from_str(&row.payload)?;
            frames.push(frame::event(meta.framing, "update", &payload));
        }
        let summary = CatchUpSummary {
            after_seq: after,
            last_seq: last,
            delivered: frames.len(),
            complete: window_covers(after, oldest),
        };
        Ok((frames, summary))
    }

    fn presence(&self, machine_id: &str, online: bool, now: i64) {
        let sel = Selection::recipients(&Recipients::User, None);
        self.send(&sel, "ephemeral", &machines::machine_activity(machine_id, online, now).body);
        self.send(&sel, "ephemeral", &machines::machine_status(machine_id, online, now).body);
    }

    async fn local_gone(&self, ws: &WebSocket) {
        if let Ok(Some(meta)) = ws.deserialize_attachment::<ConnMeta>() {
            self.gone(&meta, Some(ws)).await;
        }
    }

    /// A lobby's socket ended (or the lobby no longer holds it): forgotten here, once.
    async fn remote_gone(&self, conn: &str) {
        let removed = self.with_remotes(|r| {
            let at = r.iter().position(|x| x.meta.id == conn)?;
            Some(r.remove(at))
        });
        let Some(remote) = removed else { return };
        let deleted = self
            .state
            .storage()
            .sql()
            .exec("DELETE FROM remotes WHERE id = ?", vec![SqlStorageValue::String(conn.into())]);
        if let Err(e) = deleted {
            worker::console_error!("forgetting remote socket {conn}: {e}");
        }
        self.gone(&remote.meta, None).await;
    }

    /// A socket left: its pending RPC requests fail now, and its machine may be offline. The
    /// last socket of a machine leaving marks it inactive in D1 too (a daemon that stopped must
    /// not stay "online" in GET /v1/machines), before the ephemeral goes out. `closing` is our
    /// own socket that is closing (still listed by the runtime); a lobby's is already forgotten.
    async fn gone(&self, meta: &ConnMeta, closing: Option<&WebSocket>) {
        // Dropping the senders wakes the callers with "disconnected".
        drop(self.inner.borrow_mut().calls.take_conn(&meta.id));
        let Some(machine) = &meta.machine_id else { return };
        let local = self
            .state
            .get_websockets_with_tag(&machine_tag(machine))
            .iter()
            .filter(|w| closing.is_none_or(|c| !same_socket(w, c)))
            .count();
        let remote = self.with_remotes(|r| r.iter().filter(|x| x.meta.machine_id.as_ref() == Some(machine)).count());
        if local + remote > 0 {
            return;
        }
        let now = now_ms();
        self.throttle.borrow_mut().forget_machine(machine);
        let offline = match Db::from_env(&self.env) {
            Ok(db) => crate::db::machines::machine_offline(&db, &meta.user_id, machine, now).await,
            Err(e) => Err(e),
        };
        if let Err(e) = offline {
            worker::console_error!("marking machine {machine} offline: {e}");
        }
        self.presence(machine, false, now);
    }

    fn emit(&self, peer: &Peer, framing: Framing, name: &str, data: &impl Serialize) {
        self.send_to(peer, frame::event(framing, name, data));
    }

    /// Re-reads the metadata right before changing it, so concurrent handlers do not clobber
    /// each other's changes.
    fn update_meta(&self, peer: &Peer, change: impl FnOnce(&mut ConnMeta)) -> Result<()> {
        match peer {
            Peer::Local(ws) => {
                let mut meta = ws
                    .deserialize_attachment::<ConnMeta>()?
                    .ok_or_else(|| worker::Error::RustError("no meta".into()))?;
                change(&mut meta);
                ws.serialize_attachment(&meta)
            }
            Peer::Remote { conn, .. } => {
                let meta = self.with_remotes(|r| {
                    let x = r.iter_mut().find(|x| &x.meta.id == conn)?;
                    change(&mut x.meta);
                    Some(x.meta.clone())
                });
                let meta = meta.ok_or_else(|| worker::Error::RustError("socket gone".into()))?;
                self.state.storage().sql().exec(
                    "UPDATE remotes SET meta = ? WHERE id = ?",
                    vec![SqlStorageValue::String(serde_json::to_string(&meta)?), SqlStorageValue::String(conn.clone())],
                )?;
                Ok(())
            }
        }
    }

    /// One client frame, from a socket of ours or a lobby's.
    async fn on_frame(&self, peer: &Peer, meta: &ConnMeta, text: &str) {
        match frame::parse(meta.framing, text) {
            Incoming::Event { name, data, ack } => {
                let (result, outbox) = self.on_event(peer, meta, &name, data, ack.is_some()).await;
                if let Some(id) = ack {
                    self.send_to(peer, frame::ack(&id, &result.unwrap_or_else(empty)));
                }
                self.publish(outbox).await;
            }
            Incoming::Reply { id, value } => self.on_reply(&meta.id, &id, value),
            Incoming::Disconnect => self.close_peer(peer, 1000, "client disconnect"),
            // A client repeating CONNECT on the same engine is told it is connected.
            Incoming::Connect(_) => {
                self.send_to(peer, frame::eio_connected(&meta.id));
            }
            Incoming::Ignore => {}
            Incoming::Malformed => {
                if meta.framing == Framing::Raw {
                    self.emit(peer, Framing::Raw, "error", &Message { message: "Malformed frame" });
                }
            }
        }
    }

    /// Handles a client event; returns the ack value (an ack is sent only when asked for) and
    /// what to publish once it is sent.
    async fn on_event(&self, peer: &Peer, meta: &ConnMeta, name: &str, data: Value, wants_ack: bool) -> Reply {
        let Some(event) = ClientEvent::parse(name, data) else {
            return (Some(value(ErrorBody::new(&format!("Unknown event: {name}")))), Outbox::default());
        };
        self.serve(peer, meta, name, event, wants_ack)
            .await
            .unwrap_or_else(|e| (Some(value(ErrorBody::new(&e.message))), Outbox::default()))
    }

    /// The one dispatch of client events; fails only when D1 cannot be reached.
    async fn serve(
        &self,
        peer: &Peer,
        meta: &ConnMeta,
        name: &str,
        event: ClientEvent,
        wants_ack: bool,
    ) -> std::result::Result<Reply, ApiError> {
        let db = || Db::from_env(&self.env).map_err(|_| ApiError::new(503, "Database unavailable"));
        let (user, throttle) = (meta.user_id.as_str(), &self.throttle);
        let ack = |ack: Option<Value>| Ok((ack, Outbox::default()));
        let (on_error, done) = match event {
            ClientEvent::Ping(_) => {
                if meta.framing == Framing::Raw && !wants_ack {
                    self.send_to(peer, PONG.to_string());
                }
                return ack(Some(empty()));
            }
            ClientEvent::RpcRegister(m) => return ack(self.rpc_register(peer, meta, m, true)),
            ClientEvent::RpcUnregister(m) => return ack(self.rpc_register(peer, meta, m, false)),
            ClientEvent::RpcCall(call) => return ack(Some(self.rpc_call(meta, call).await)),
            ClientEvent::AppState(Payload(state)) => {
                if let Ok(AppState { state }) = state {
                    let _ = self.update_meta(peer, |m| m.app_state = Some(state.0));
                }
                return ack(None);
            }
            ClientEvent::CatchUp(Payload(c)) => {
                let after = c.ok().and_then(|c| c.after_seq).unwrap_or(0);
                return ack(Some(match self.catch_up(meta, after) {
                    Ok((frames, summary)) => {
                        for text in frames {
                            self.send_to(peer, text);
                        }
                        value(summary)
                    }
                    Err(e) => value(ErrorBody::new(&e.to_string())),
                }));
            }
            ClientEvent::Message(e) => (OnError::Logged, handlers::message(&db()?, meta, e).await),
            ClientEvent::SessionAlive(e) => (OnError::Logged, handlers::session_alive(&db()?, user, e, throttle).await),
            ClientEvent::SessionEnd(e) => (OnError::Logged, handlers::session_end(&db()?, user, e).await),
            ClientEvent::MachineAlive(e) => (OnError::Logged, handlers::machine_alive(&db()?, user, e, throttle).await),
            ClientEvent::UpdateMetadata(e) => (OnError::Result, handlers::update_metadata(&db()?, user, e).await),
            ClientEvent::UpdateState(e) => (OnError::Result, handlers::update_state(&db()?, user, e).await),
            ClientEvent::MachineUpdateMetadata(e) => {
                (OnError::ResultMessage, handlers::machine_update_metadata(&db()?, user, e).await)
            }
            ClientEvent::MachineUpdateState(e) => {
                (OnError::ResultMessage, handlers::machine_update_state(&db()?, user, e).await)
            }
            ClientEvent::UsageReport(e) => (OnError::Success, handlers::usage_report(&db()?, user, e).await),
            ClientEvent::AccessKeyGet(e) => (OnError::Ok, handlers::access_key_get(&db()?, user, e).await),
            ClientEvent::ArtifactRead(e) => (OnError::ResultMessage, handlers::artifact_read(&db()?, user, e).await),
            ClientEvent::ArtifactCreate(e) => {
                (OnError::ResultMessage, handlers::artifact_create(&db()?, user, e).await)
            }
            ClientEvent::ArtifactUpdate(e) => {
                (OnError::ResultMessage, handlers::artifact_update(&db()?, user, e).await)
            }
            ClientEvent::ArtifactDelete(e) => {
                (OnError::ResultMessage, handlers::artifact_delete(&db()?, user, e).await)
            }
        };
        Ok(on_error.reply(name, done))
    }

    /// `rpc-register` / `rpc-unregister`: answered with an event, never an ack value.
    fn rpc_register(&self, peer: &Peer, meta: &ConnMeta, m: Payload<RpcMethod>, register: bool) -> Option<Value> {
        let Ok(RpcMethod { method: Label(method) }) = m.0 else {
            let error = RpcError { kind: RpcErrorKind::Register, error: "Invalid method" };
            self.emit(peer, meta.framing, "rpc-error", &error);
            return None;
        };
        let saved = self.update_meta(peer, |m| {
            if register {
                m.add_rpc(&method);
            } else {
                m.remove_rpc(&method);
            }
        });
        if let Err(e) = saved {
            let error = RpcError { kind: RpcErrorKind::Register, error: &e.to_string() };
            self.emit(peer, meta.framing, "rpc-error", &error);
            return None;
        }
        let reply = if register { "rpc-registered" } else { "rpc-unregistered" };
        self.emit(peer, meta.framing, reply, &RpcMethodName { method: &method });
        if register {
            let waiting = std::mem::take(&mut self.inner.borrow_mut().waiters);
            let (wake, keep): (Vec<_>, Vec<_>) = waiting.into_iter().partition(|(m, _)| *m == method);
            self.inner.borrow_mut().waiters.extend(keep.into_iter().filter(|(_, tx)| !tx.is_canceled()));
            for (_, tx) in wake {
                let _ = tx.send(());
            }
        }
        None
    }

    async fn rpc_call(&self, caller: &ConnMeta, call: Payload<RpcCall>) -> Value {
        let fail = |error: &str| value(OkFalse::new(error));
        let Some(RpcCall { method, params }) = call.0.ok().filter(|c| !c.method.is_empty()) else {
            return fail("Invalid RPC call");
        };
        let method = method.as_str();
        let give_up = now_ms() + rpc::WAIT_FOR_TARGET_MS as i64;
        let (target_peer, target) = loop {
            let sockets = self.sockets();
            let metas: Vec<ConnMeta> = sockets.iter().map(|(_, m)| m.clone()).collect();
            match rpc::pick(&metas, method, &caller.id) {
                Target::Found(m) => match sockets.into_iter().find(|(_, s)| s.id == m.id) {
                    Some(found) => break found,
                    None => return fail("RPC method not available"),
                },
                Target::OnlySelf => return fail("Cannot call an RPC method served by the calling socket"),
                Target::Missing => {
                    let left = give_up - now_ms();
                    if left <= 0 {
                        return fail("RPC method not available");
                    }
                    let (tx, rx) = oneshot::channel();
                    self.inner.borrow_mut().waiters.push((method.to_string(), tx));
                    let _ = select(rx, Box::pin(Delay::from(Duration::from_millis(left as u64)))).await;
                }
            }
        };
        let (tx, rx) = oneshot::channel();
        let id = self.inner.borrow_mut().calls.insert(&target.id, tx);
        let request = frame::request(target.framing, id, "rpc-request", &RpcRequest { method, params: &params });
        if !self.send_to(&target_peer, request) {
            self.inner.borrow_mut().calls.take(&target.id, id);
            return fail("RPC target disconnected");
        }
        // A lobby's socket gets the request now, not when this call ends.
        self.flush().await;
        let timeout = Box::pin(Delay::from(Duration::from_millis(rpc::CALL_TIMEOUT_MS)));
        match select(rx, timeout).await {
            Either::Left((Ok(result), _)) => value(RpcOk { ok: Bool, result }),
            Either::Left((Err(_), _)) => fail("RPC target disconnected"),
            Either::Right(_) => {
                self.inner.borrow_mut().calls.take(&target.id, id);
                fail("RPC call timed out")
            }
        }
    }

    fn on_reply(&self, conn: &str, id: &AckId, value: Value) {
        let Some(n) = id.number() else { return };
        let waiting = self.inner.borrow_mut().calls.take(conn, n);
        if let Some(tx) = waiting {
            let _ = tx.send(value);
        }
    }
}

fn same_socket(a: &WebSocket, b: &WebSocket) -> bool {
    AsRef::<JsValue>::as_ref(a.as_ref()) == AsRef::<JsValue>::as_ref(b.as_ref())
}
