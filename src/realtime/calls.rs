//! Every call to the Durable Objects, from the worker or from one object to another: its method
//! and path, and the types of its request and answer. Callers go through [`Hub`] and [`Lobby`];
//! the objects read a request with [`HubCall::read`] and [`LobbyCall::read`], and answer with the
//! types declared here. So each path is spelled once, and both sides share one shape per call.
//!
//! A call's host is only a label: the stub decides which object it reaches.

use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Env, Method, Request, Response, Result};

use crate::app::request_url::{with_query, RequestUrl};

use super::conn::{Framing, Identity, Reject};
use super::relay::Out;
use super::select::Filter;
use crate::events::Outbox;
use crate::wire::realtime::Stats;

const CONNECT: &str = "/connect";
const PUBLISH: &str = "/publish";
const TICKET: &str = "/ticket";
const APP_ACTIVE: &str = "/app-active";
const STATS: &str = "/stats";
const BROADCAST: &str = "/broadcast";
const ATTACH: &str = "/lobby/attach";
const FRAME: &str = "/lobby/frame";
const DELIVER: &str = "/deliver";

/// A call to a user's object (`hub`).
pub enum HubCall {
    /// A socket the worker authenticated (header or ticket auth); answered with the 101.
    Connect(Identity),
    /// Committed events to deliver.
    Publish(Outbox),
    /// A single-use ticket for ticket auth; answered with [`Ticket`].
    Ticket,
    /// Whether an app socket reports `app-state` active; answered with [`AppActive`].
    AppActive,
    /// GET /v1/websocket/stats's body.
    Stats,
    /// Answered with [`Broadcasted`].
    Broadcast(Broadcast),
    /// A socket a lobby authenticated; answered with [`Attached`].
    Attach(Attach),
    /// A client frame a lobby relays, or its socket's end.
    Frame(FromClient),
}

/// A call to a lobby.
pub enum LobbyCall {
    /// A socket whose credentials come inside it; answered with the 101.
    Connect(LobbyConnect),
    /// The hub's frames for the lobby's sockets, in order; answered with [`Delivered`].
    Deliver(Vec<Out>),
    /// Answered with [`LobbyStats`].
    Stats,
}

/// Hub → worker, the answer to [`HubCall::Ticket`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub secret: String,
    pub expires_at: i64,
}

/// Hub → worker, the answer to [`HubCall::AppActive`].
#[derive(Debug, Serialize, Deserialize)]
pub struct AppActive {
    pub active: bool,
}

/// Worker → hub: POST /v1/websocket/broadcast, validated.
#[derive(Debug, Serialize, Deserialize)]
pub struct Broadcast {
    pub message: Value,
    pub filter: Filter,
}

/// Hub → worker, the answer to [`HubCall::Broadcast`] and the route's body.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Broadcasted {
    pub success: bool,
    pub delivered: usize,
}

/// Lobby → hub: a socket authenticated; the hub registers it under `conn` or refuses it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Attach {
    pub conn: String,
    pub lobby: String,
    pub identity: Identity,
}

/// Hub → lobby, the answer to [`Attach`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Attached {
    pub refused: Option<Reject>,
}

/// Lobby → hub: one client frame, or the socket's end (`text: None`).
#[derive(Debug, Serialize, Deserialize)]
pub struct FromClient {
    pub conn: String,
    pub text: Option<String>,
}

/// Worker → lobby: how the socket it forwards is framed, and the catch-up it asked for.
#[derive(Debug)]
pub struct LobbyConnect {
    pub framing: Framing,
    pub after_seq: Option<i64>,
}

/// Lobby → hub, the answer to a delivery: the sockets it no longer holds (closed while the
/// delivery was under way, or lost when the lobby restarted), which the hub then forgets.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Delivered {
    pub gone: Vec<String>,
}

/// Lobby → hub, the answer to [`LobbyCall::Stats`].
#[derive(Debug, Serialize, Deserialize)]
pub struct LobbyStats {
    pub wakeups: i64,
}

/// One kind of object and the calls it serves.
pub trait Call: Sized {
    /// The namespace's binding in wrangler.toml.
    const BINDING: &'static str;
    /// The URL's host, a label in logs.
    const HOST: &'static str;
    fn wire(&self) -> Result<Wire>;
    /// `None`: no such call.
    fn parse(wire: Wire) -> Result<Option<Self>>;
}

impl Call for HubCall {
    const BINDING: &'static str = "USER_HUB";
    const HOST: &'static str = "hub";

    fn wire(&self) -> Result<Wire> {
        Ok(match self {
            HubCall::Connect(ident) => Wire::upgrade(CONNECT, vec![("identity".into(), serde_json::to_string(ident)?)]),
            HubCall::Publish(outbox) => HubCall::publish_wire(outbox)?,
            HubCall::Ticket => Wire { method: Method::Post, ..Wire::get(TICKET) },
            HubCall::AppActive => Wire::get(APP_ACTIVE),
            HubCall::Stats => Wire::get(STATS),
            HubCall::Broadcast(b) => Wire::post(BROADCAST, b)?,
            HubCall::Attach(a) => Wire::post(ATTACH, a)?,
            HubCall::Frame(f) => Wire::post(FRAME, f)?,
        })
    }

    fn parse(wire: Wire) -> Result<Option<HubCall>> {
        Ok(Some(match (&wire.method, wire.path.as_str()) {
            (Method::Get, CONNECT) => {
                let ident =
                    wire.query("identity").ok_or_else(|| worker::Error::RustError("missing identity".into()))?;
                HubCall::Connect(serde_json::from_str(ident)?)
            }
            (Method::Post, PUBLISH) => HubCall::Publish(wire.json()?),
            (Method::Post, TICKET) => HubCall::Ticket,
            (Method::Get, APP_ACTIVE) => HubCall::AppActive,
            (Method::Get, STATS) => HubCall::Stats,
            (Method::Post, BROADCAST) => HubCall::Broadcast(wire.json()?),
            (Method::Post, ATTACH) => HubCall::Attach(wire.json()?),
            (Method::Post, FRAME) => HubCall::Frame(wire.json()?),
            _ => return Ok(None),
        }))
    }
}

impl HubCall {
    /// A publish's wire. Apart from [`Call::wire`] so that a write's publish, which needs only
    /// this arm, does not compile the whole match (4.3 KB of wasm on a fresh isolate's first
    /// write; bench/RESULTS.md, "cold requests").
    fn publish_wire(outbox: &Outbox) -> Result<Wire> {
        Wire::post(PUBLISH, outbox)
    }

    /// The call a request to the user's object makes; `None`: no such call.
    pub async fn read(req: &mut Request) -> Result<Option<HubCall>> {
        HubCall::parse(Wire::read(req).await?)
    }
}

impl Call for LobbyCall {
    const BINDING: &'static str = "LOBBY";
    const HOST: &'static str = "lobby";

    fn wire(&self) -> Result<Wire> {
        Ok(match self {
            LobbyCall::Connect(c) => {
                let framing = if c.framing == Framing::Eio { "eio" } else { "raw" };
                let mut query = vec![("framing".into(), framing.into())];
                query.extend(c.after_seq.map(|after| ("afterSeq".into(), after.to_string())));
                Wire::upgrade(CONNECT, query)
            }
            LobbyCall::Deliver(outs) => Wire::post(DELIVER, outs)?,
            LobbyCall::Stats => Wire::get(STATS),
        })
    }

    fn parse(wire: Wire) -> Result<Option<LobbyCall>> {
        Ok(Some(match (&wire.method, wire.path.as_str()) {
            (Method::Get, CONNECT) => LobbyCall::Connect(LobbyConnect {
                framing: if wire.query("framing") == Some("eio") { Framing::Eio } else { Framing::Raw },
                after_seq: wire.query("afterSeq").and_then(|v| v.parse().ok()),
            }),
            (Method::Post, DELIVER) => LobbyCall::Deliver(wire.json()?),
            (Method::Get, STATS) => LobbyCall::Stats,
            _ => return Ok(None),
        }))
    }
}

impl LobbyCall {
    /// The call a request to a lobby makes; `None`: no such call.
    pub async fn read(req: &mut Request) -> Result<Option<LobbyCall>> {
        LobbyCall::parse(Wire::read(req).await?)
    }
}

/// A call as it travels between our parts.
#[derive(Debug, PartialEq)]
pub struct Wire {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<String>,
    /// A WebSocket upgrade, which the object answers with the 101 and its socket.
    upgrade: bool,
}

impl Wire {
    fn get(path: &str) -> Wire {
        Wire { method: Method::Get, path: path.into(), query: Vec::new(), body: None, upgrade: false }
    }

    fn post(path: &str, body: &impl Serialize) -> Result<Wire> {
        Ok(Wire { method: Method::Post, body: Some(serde_json::to_string(body)?), ..Wire::get(path) })
    }

    fn upgrade(path: &str, query: Vec<(String, String)>) -> Wire {
        Wire { query, upgrade: true, ..Wire::get(path) }
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_str(self.body.as_deref().unwrap_or_default())?)
    }

    fn url(&self, host: &str) -> String {
        with_query(format!("https://{host}{}", self.path), &self.query)
    }

    /// Built on the runtime's own `Request`, and sent as it is: the url crate's parser and
    /// workers-rs's `RequestInit` conversion (its `cf` properties) were 46 KB of wasm that V8
    /// compiled on an isolate's first write or socket, and wrapping it in workers-rs's
    /// `Request` (which splits its URL with a substring search) 4 KB more (bench/RESULTS.md,
    /// "cold requests").
    fn request(self, host: &str) -> Result<web_sys::Request> {
        let url = self.url(host);
        let init = web_sys::RequestInit::new();
        init.set_method(self.method.as_ref());
        if let Some(body) = self.body {
            init.set_body(&body.into());
        }
        let req = web_sys::Request::new_with_str_and_init(&url, &init)?;
        if self.upgrade {
            req.headers().set("upgrade", "websocket")?;
        }
        Ok(req)
    }

    async fn read(req: &mut Request) -> Result<Wire> {
        let url = RequestUrl::parse(&req.inner().url());
        let method = req.method();
        let body = if method == Method::Post { Some(req.text().await?) } else { None };
        Ok(Wire {
            method,
            query: url.pairs().collect(),
            path: url.path,
            body,
            upgrade: req.headers().get("upgrade")?.is_some_and(|u| u.eq_ignore_ascii_case("websocket")),
        })
    }
}

/// One object as a caller sees it. The worker reaches it with a stub made for the call; objects
/// reach each other through their kept [`Stubs`], so their calls arrive in order.
pub struct Object<'a, C> {
    env: &'a Env,
    name: &'a str,
    kept: Option<&'a Stubs<C>>,
}

/// A user's object, named by the user id.
pub type Hub<'a> = Object<'a, HubCall>;
/// A lobby, named by a client address.
pub type Lobby<'a> = Object<'a, LobbyCall>;

impl<'a, C: Call> Object<'a, C> {
    /// From the worker: a stub for this call.
    pub fn new(env: &'a Env, name: &'a str) -> Object<'a, C> {
        Object { env, name, kept: None }
    }

    async fn call(&self, call: C) -> Result<Response> {
        let req = call.wire()?.request(C::HOST)?;
        match self.kept {
            Some(stubs) => stubs.fetch(self.env, self.name, &req).await,
            None => fetch(&stub::<C>(self.env, self.name)?, &req).await,
        }
    }
}

/// The stub, request and `waitUntil` of a call nobody waits for, made by JavaScript: the wasm
/// would only pass runtime objects along, and its code for them (the call's future, the stub,
/// the request, the response) was 20 functions and 7.3 KB of wasm, and 9 JavaScript functions
/// of glue, that V8 compiled in a fresh isolate's first write (bench/RESULTS.md, "cold
/// requests"). The call's method, URL and body still come from its [`Wire`].
#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function sendLater(ctx, env, binding, name, method, url, body) {
  const namespace = env[binding];
  const sent = namespace.get(namespace.idFromName(name)).fetch(url, { method, body });
  ctx.waitUntil(sent.then(() => {}, (e) => console.error(`${method} ${url} to ${name} failed: ${e}`)));
}
"#)]
extern "C" {
    #[wasm_bindgen(catch, js_name = sendLater)]
    fn send_later(
        ctx: &JsValue,
        env: &JsValue,
        binding: &str,
        name: &str,
        method: &str,
        url: &str,
        body: Option<String>,
    ) -> std::result::Result<(), JsValue>;
}

impl Hub<'_> {
    /// Sends the outbox to the user's object after the response (`waitUntil`); a failure is
    /// logged by the runtime.
    pub fn publish_later(&self, wctx: &worker::Context, outbox: Outbox) -> Result<()> {
        let wire = HubCall::publish_wire(&outbox)?;
        let url = wire.url(HubCall::HOST);
        let ctx: &JsValue = wctx.as_ref();
        Ok(send_later(ctx, self.env, HubCall::BINDING, self.name, wire.method.as_ref(), &url, wire.body)?)
    }

    pub async fn ticket(&self) -> Result<Ticket> {
        self.call(HubCall::Ticket).await?.json().await
    }

    pub async fn app_active(&self) -> Result<bool> {
        Ok(self.call(HubCall::AppActive).await?.json::<AppActive>().await?.active)
    }

    pub async fn stats(&self) -> Result<Stats> {
        self.call(HubCall::Stats).await?.json().await
    }

    pub async fn broadcast(&self, broadcast: Broadcast) -> Result<Broadcasted> {
        self.call(HubCall::Broadcast(broadcast)).await?.json().await
    }

    pub async fn attach(&self, attach: Attach) -> Result<Attached> {
        self.call(HubCall::Attach(attach)).await?.json().await
    }

    pub async fn frame(&self, from: FromClient) -> Result<()> {
        self.call(HubCall::Frame(from)).await.map(drop)
    }
}

impl Lobby<'_> {
    pub async fn deliver(&self, outs: Vec<Out>) -> Result<Delivered> {
        self.call(LobbyCall::Deliver(outs)).await?.json().await
    }

    pub async fn stats(&self) -> Result<LobbyStats> {
        self.call(LobbyCall::Stats).await?.json().await
    }
}

/// Forwards an authenticated upgrade to the user's object; the response carries its socket.
pub async fn connect_hub(env: &Env, ident: Identity) -> Result<Response> {
    let user = ident.user_id.clone();
    Hub::new(env, &user).call(HubCall::Connect(ident)).await
}

/// Forwards an upgrade whose credentials come inside the socket to the lobby of its client
/// address (one client's sockets meet there); the response carries its socket.
pub async fn connect_lobby(
    env: &Env,
    client_address: Option<&str>,
    framing: Framing,
    after_seq: Option<i64>,
) -> Result<Response> {
    let connect = LobbyConnect { framing, after_seq };
    Lobby::new(env, client_address.unwrap_or("local")).call(LobbyCall::Connect(connect)).await
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// An object's stub as the runtime gives it, called with the runtime's own `Request`.
    type ObjectStub;
    #[wasm_bindgen(method, catch)]
    fn fetch(this: &ObjectStub, req: &web_sys::Request) -> std::result::Result<worker::js_sys::Promise, JsValue>;
}

fn stub<C: Call>(env: &Env, name: &str) -> Result<ObjectStub> {
    Ok(env.durable_object(C::BINDING)?.id_from_name(name)?.get_stub()?.into_rpc())
}

async fn fetch(stub: &ObjectStub, req: &web_sys::Request) -> Result<Response> {
    let response = JsFuture::from(stub.fetch(req)?).await?;
    Ok(response.dyn_into::<web_sys::Response>()?.into())
}

/// Stubs of one namespace's objects, kept per name: calls through one stub arrive in the order
/// they were made (E-order), which the lobby ↔ hub relay relies on.
pub struct Stubs<C> {
    cache: RefCell<HashMap<String, Rc<ObjectStub>>>,
    calls: PhantomData<C>,
}

impl<C> Default for Stubs<C> {
    fn default() -> Stubs<C> {
        Stubs { cache: RefCell::new(HashMap::new()), calls: PhantomData }
    }
}

impl<C: Call> Stubs<C> {
    /// The object of this name, reached through the kept stub.
    pub fn get<'a>(&'a self, env: &'a Env, name: &'a str) -> Object<'a, C> {
        Object { env, name, kept: Some(self) }
    }

    async fn fetch(&self, env: &Env, name: &str, req: &web_sys::Request) -> Result<Response> {
        let cached = self.cache.borrow().get(name).cloned();
        let stub = match cached {
            Some(stub) => stub,
            None => {
                let stub = Rc::new(stub::<C>(env, name)?);
                self.cache.borrow_mut().insert(name.to_string(), stub.clone());
                stub
            }
        };
        let resp = fetch(&stub, req).await;
        if resp.is_err() {
            // A failed stub stays broken: the next call makes a new one.
            self.cache.borrow_mut().remove(name);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::conn::{ClientType, Handshake, Scope};

    /// What the caller writes is what the object reads, call by call.
    fn round_trips<C: Call>(call: C) {
        let wire = call.wire().unwrap();
        let read = C::parse(call.wire().unwrap()).unwrap().expect("a known call");
        assert_eq!(read.wire().unwrap(), wire);
    }

    #[test]
    fn every_call_reads_back_as_written() {
        let scope = Scope { client_type: ClientType::MachineScoped, session_id: None, machine_id: Some("m".into()) };
        let ident = Identity::new("u", scope, Framing::Raw, &Handshake::default());
        round_trips(HubCall::Connect(ident.clone()));
        round_trips(HubCall::Publish(Outbox::default()));
        round_trips(HubCall::Ticket);
        round_trips(HubCall::AppActive);
        round_trips(HubCall::Stats);
        round_trips(HubCall::Broadcast(Broadcast { message: "hi".into(), filter: Filter::All }));
        round_trips(HubCall::Attach(Attach { conn: "c".into(), lobby: "l".into(), identity: ident }));
        round_trips(HubCall::Frame(FromClient { conn: "c".into(), text: None }));
        round_trips(LobbyCall::Connect(LobbyConnect { framing: Framing::Eio, after_seq: Some(3) }));
        round_trips(LobbyCall::Connect(LobbyConnect { framing: Framing::Raw, after_seq: None }));
        round_trips(LobbyCall::Deliver(vec![Out::Check { conns: vec!["c".into()] }]));
        round_trips(LobbyCall::Stats);
    }

    #[test]
    fn unknown_calls_are_none() {
        let mut wire = HubCall::Stats.wire().unwrap();
        wire.method = Method::Post;
        assert!(HubCall::parse(wire).unwrap().is_none());
        assert!(LobbyCall::parse(HubCall::Ticket.wire().unwrap()).unwrap().is_none());
        assert!(HubCall::parse(Wire::get(CONNECT)).is_err());
    }

    #[test]
    fn answers_round_trip_as_json() {
        let refused: Attached = serde_json::from_str(r#"{"refused":"TooMany"}"#).unwrap();
        assert_eq!(refused.refused, Some(Reject::TooMany));
        let b = serde_json::to_string(&Broadcasted { success: true, delivered: 2 }).unwrap();
        assert_eq!(b, r#"{"success":true,"delivered":2}"#);
        let t = serde_json::to_string(&Ticket { secret: "s".into(), expires_at: 1 }).unwrap();
        assert_eq!(t, r#"{"secret":"s","expiresAt":1}"#);
    }
}
