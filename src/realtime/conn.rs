//! Who a socket is: the handshake every auth method reduces to, the rejections with their close
//! codes and Socket.IO messages, and the per-socket metadata kept in the hibernation attachment.

use serde::{Deserialize, Serialize};

use crate::wire::realtime::{ByType, SocketStats};
use crate::wire::socket::AuthError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientType {
    UserScoped,
    SessionScoped,
    MachineScoped,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::UserScoped => "user-scoped",
            ClientType::SessionScoped => "session-scoped",
            ClientType::MachineScoped => "machine-scoped",
        }
    }
}

/// How frames are encoded on a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Framing {
    /// `{"event", "data", "ackId"}` JSON frames (the seed's; docs/protocol.md#raw-framing).
    Raw,
    /// Socket.IO 4 over Engine.IO 4 text packets (the stock clients).
    Eio,
}

/// The auth fields a client sent, whichever way (query, headers, first frame, CONNECT packet).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub client_type: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub machine_id: Option<String>,
    #[serde(default)]
    pub app_state: Option<String>,
    #[serde(default)]
    pub happy_client: Option<String>,
}

/// A socket's scope once its handshake is valid.
#[derive(Clone, Debug, PartialEq)]
pub struct Scope {
    pub client_type: ClientType,
    pub session_id: Option<String>,
    pub machine_id: Option<String>,
}

/// Ids become socket tags (at most 256 chars each); real ids are far shorter.
const MAX_ID_LEN: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reject {
    MissingToken,
    BadToken,
    BadHandshake,
    MissingSession,
    MissingMachine,
    TooMany,
    Timeout,
}

impl Reject {
    /// The raw framing's close code (the seed's; docs/protocol.md#close-codes-and-rejections).
    pub fn code(self) -> u16 {
        match self {
            Reject::BadToken => 4001,
            Reject::MissingToken | Reject::BadHandshake | Reject::Timeout => 4002,
            Reject::MissingSession => 4003,
            Reject::MissingMachine => 4004,
            Reject::TooMany => 4005,
        }
    }

    /// The message: Socket.IO's CONNECT_ERROR texts are the ones the stock clients know.
    pub fn message(self) -> &'static str {
        match self {
            Reject::MissingToken => "Missing authentication token",
            Reject::BadToken => "Invalid authentication token",
            Reject::BadHandshake => "Invalid handshake",
            Reject::MissingSession => "Session ID required for session-scoped clients",
            Reject::MissingMachine => "Machine ID required for machine-scoped clients",
            Reject::TooMany => "Too many connections",
            Reject::Timeout => "Authentication timeout",
        }
    }

    /// The raw framing's `auth-error` data.
    pub fn auth_error(self) -> AuthError {
        AuthError { code: self.code(), message: self.message() }
    }
}

fn id(value: &Option<String>) -> Result<Option<String>, Reject> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.len() > MAX_ID_LEN => Err(Reject::BadHandshake),
        Some(v) => Ok(Some(v.to_string())),
    }
}

impl Handshake {
    /// Validates everything but the token; the client type defaults to user-scoped.
    pub fn scope(&self) -> Result<Scope, Reject> {
        let client_type = match self.client_type.as_deref().map(str::trim) {
            None | Some("") | Some("user-scoped") => ClientType::UserScoped,
            Some("session-scoped") => ClientType::SessionScoped,
            Some("machine-scoped") => ClientType::MachineScoped,
            Some(_) => return Err(Reject::BadHandshake),
        };
        let (session_id, machine_id) = (id(&self.session_id)?, id(&self.machine_id)?);
        match client_type {
            ClientType::UserScoped => Ok(Scope { client_type, session_id: None, machine_id: None }),
            ClientType::SessionScoped => match session_id {
                Some(_) => Ok(Scope { client_type, session_id, machine_id: None }),
                None => Err(Reject::MissingSession),
            },
            ClientType::MachineScoped => match machine_id {
                Some(_) => Ok(Scope { client_type, session_id: None, machine_id }),
                None => Err(Reject::MissingMachine),
            },
        }
    }

    /// The token, or `MissingToken`.
    pub fn token(&self) -> Result<&str, Reject> {
        self.token.as_deref().map(str::trim).filter(|t| !t.is_empty()).ok_or(Reject::MissingToken)
    }
}

/// What the worker tells the user's Durable Object about a socket it forwards.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub user_id: String,
    pub client_type: ClientType,
    pub session_id: Option<String>,
    pub machine_id: Option<String>,
    pub framing: Framing,
    /// A ticket the object must consume before accepting (ticket auth).
    pub ticket: Option<String>,
    /// Replay the catch-up window after this account seq.
    pub after_seq: Option<i64>,
    pub app_state: Option<String>,
    pub happy_client: Option<String>,
}

impl Identity {
    pub fn new(user_id: &str, scope: Scope, framing: Framing, handshake: &Handshake) -> Identity {
        Identity {
            user_id: user_id.to_string(),
            client_type: scope.client_type,
            session_id: scope.session_id,
            machine_id: scope.machine_id,
            framing,
            ticket: None,
            after_seq: None,
            app_state: handshake.app_state.clone(),
            happy_client: handshake.happy_client.clone(),
        }
    }
}

/// Per-socket state, stored with `serializeAttachment` so it survives hibernation (2 KB max).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnMeta {
    pub id: String,
    pub user_id: String,
    pub client_type: ClientType,
    pub session_id: Option<String>,
    pub machine_id: Option<String>,
    pub framing: Framing,
    pub connected_at: i64,
    /// RPC methods served under this socket's own scope id, stored without the `<id>:` prefix
    /// to keep the attachment small.
    #[serde(default)]
    pub rpc: Vec<String>,
    /// Other RPC methods served, stored whole.
    #[serde(default)]
    pub rpc_other: Vec<String>,
    pub app_state: Option<String>,
    pub happy_client: Option<String>,
}

impl ConnMeta {
    pub fn new(id: String, ident: &Identity, connected_at: i64) -> ConnMeta {
        ConnMeta {
            id,
            user_id: ident.user_id.clone(),
            client_type: ident.client_type,
            session_id: ident.session_id.clone(),
            machine_id: ident.machine_id.clone(),
            framing: ident.framing,
            connected_at,
            rpc: Vec::new(),
            rpc_other: Vec::new(),
            app_state: ident.app_state.clone(),
            happy_client: ident.happy_client.clone(),
        }
    }

    fn scope_id(&self) -> Option<&str> {
        self.session_id.as_deref().or(self.machine_id.as_deref())
    }

    fn split<'a>(&self, method: &'a str) -> (bool, &'a str) {
        match self.scope_id().and_then(|s| method.strip_prefix(s)).and_then(|r| r.strip_prefix(':')) {
            Some(name) => (true, name),
            None => (false, method),
        }
    }

    pub fn serves(&self, method: &str) -> bool {
        let (own, name) = self.split(method);
        if own {
            self.rpc.iter().any(|m| m == name)
        } else {
            self.rpc_other.iter().any(|m| m == name)
        }
    }

    /// Adds a served method; false when it was already served.
    pub fn add_rpc(&mut self, method: &str) -> bool {
        if self.serves(method) {
            return false;
        }
        let (own, name) = self.split(method);
        if own { &mut self.rpc } else { &mut self.rpc_other }.push(name.to_string());
        true
    }

    pub fn remove_rpc(&mut self, method: &str) {
        let (own, name) = self.split(method);
        if own { &mut self.rpc } else { &mut self.rpc_other }.retain(|m| m != name);
    }

    /// The hibernation tags: delivery filters select sockets by these, never by a scan. Each
    /// selectable tag (type, session, machine) also comes qualified by the framing, so that a
    /// delivery asks the runtime for one framing's sockets and reads no socket's tags.
    pub fn tags(&self) -> Vec<String> {
        let mut selectable = vec![type_tag(self.client_type)];
        selectable.extend(self.session_id.as_deref().map(session_tag));
        selectable.extend(self.machine_id.as_deref().map(machine_tag));
        let mut tags = vec![conn_tag(&self.id), framing_tag(self.framing).to_string()];
        for tag in selectable {
            tags.push(framed_tag(&tag, self.framing));
            tags.push(tag);
        }
        tags
    }
}

pub const EIO_TAG: &str = "f:eio";

pub fn framing_tag(f: Framing) -> &'static str {
    match f {
        Framing::Raw => "f:raw",
        Framing::Eio => EIO_TAG,
    }
}
/// A selectable tag limited to one framing (ids are at most 200 chars: within the runtime's
/// 256 per tag).
pub fn framed_tag(tag: &str, f: Framing) -> String {
    format!("{tag}@{}", framing_tag(f))
}

pub fn conn_tag(id: &str) -> String {
    format!("c:{id}")
}
pub fn type_tag(t: ClientType) -> String {
    format!("t:{}", t.as_str())
}
pub fn session_tag(id: &str) -> String {
    format!("s:{id}")
}
pub fn machine_tag(id: &str) -> String {
    format!("m:{id}")
}

/// GET /v1/websocket/stats (seed shape).
pub fn stats(conns: &[ConnMeta]) -> SocketStats {
    let count = |t: ClientType| conns.iter().filter(|c| c.client_type == t).count();
    let distinct = |f: fn(&ConnMeta) -> Option<&String>| {
        let mut ids: Vec<&String> = conns.iter().filter_map(f).collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    SocketStats {
        total_connections: conns.len(),
        by_type: ByType {
            user_scoped: count(ClientType::UserScoped),
            session_scoped: count(ClientType::SessionScoped),
            machine_scoped: count(ClientType::MachineScoped),
        },
        active_sessions: distinct(|c| c.session_id.as_ref()),
        active_machines: distinct(|c| c.machine_id.as_ref()),
        oldest_connection: conns.iter().map(|c| c.connected_at).min(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn hs(client_type: Option<&str>, session: Option<&str>, machine: Option<&str>) -> Handshake {
        Handshake {
            token: Some("t".into()),
            client_type: client_type.map(Into::into),
            session_id: session.map(Into::into),
            machine_id: machine.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn scope_defaults_and_requirements() {
        assert_eq!(hs(None, Some("s"), None).scope().unwrap().client_type, ClientType::UserScoped);
        assert_eq!(hs(None, Some("s"), None).scope().unwrap().session_id, None);
        assert_eq!(hs(Some("session-scoped"), None, None).scope(), Err(Reject::MissingSession));
        assert_eq!(hs(Some("session-scoped"), Some("  "), None).scope(), Err(Reject::MissingSession));
        assert_eq!(hs(Some("machine-scoped"), Some("s"), None).scope(), Err(Reject::MissingMachine));
        assert_eq!(hs(Some("bogus"), None, None).scope(), Err(Reject::BadHandshake));
        let long = "x".repeat(201);
        assert_eq!(hs(Some("session-scoped"), Some(&long), None).scope(), Err(Reject::BadHandshake));
        let s = hs(Some("machine-scoped"), None, Some("m1")).scope().unwrap();
        assert_eq!((s.client_type, s.machine_id.as_deref()), (ClientType::MachineScoped, Some("m1")));
    }

    #[test]
    fn rejections_map_to_seed_codes_and_socket_io_messages() {
        assert_eq!(Reject::BadToken.code(), 4001);
        assert_eq!(Reject::Timeout.code(), 4002);
        assert_eq!(Reject::MissingSession.code(), 4003);
        assert_eq!(Reject::MissingMachine.code(), 4004);
        assert_eq!(Reject::TooMany.code(), 4005);
        assert_eq!(Reject::MissingToken.message(), "Missing authentication token");
        assert_eq!(Reject::BadToken.message(), "Invalid authentication token");
        assert_eq!(Handshake::default().token(), Err(Reject::MissingToken));
    }

    fn meta(t: ClientType, session: Option<&str>, machine: Option<&str>) -> ConnMeta {
        ConnMeta {
            id: "c1".into(),
            user_id: "u".into(),
            client_type: t,
            session_id: session.map(Into::into),
            machine_id: machine.map(Into::into),
            framing: Framing::Eio,
            connected_at: 5,
            rpc: vec![],
            rpc_other: vec![],
            app_state: None,
            happy_client: None,
        }
    }

    #[test]
    fn rpc_methods_are_stored_relative_to_the_scope() {
        let mut m = meta(ClientType::SessionScoped, Some("sess"), None);
        assert!(m.add_rpc("sess:bash"));
        assert!(!m.add_rpc("sess:bash"));
        assert!(m.add_rpc("other:bash"));
        assert_eq!(m.rpc, vec!["bash"]);
        assert_eq!(m.rpc_other, vec!["other:bash"]);
        assert!(m.serves("sess:bash") && m.serves("other:bash") && !m.serves("bash") && !m.serves("sess:x"));
        m.remove_rpc("sess:bash");
        assert!(!m.serves("sess:bash") && m.serves("other:bash"));
    }

    #[test]
    fn tags_and_stats() {
        let m = meta(ClientType::MachineScoped, None, Some("m1"));
        assert_eq!(m.tags(), vec!["c:c1", "f:eio", "t:machine-scoped@f:eio", "t:machine-scoped", "m:m1@f:eio", "m:m1"]);
        assert!(m.tags().len() <= 10, "the runtime allows 10 tags a socket");
        let s = stats(&[
            m.clone(),
            meta(ClientType::SessionScoped, Some("a"), None),
            meta(ClientType::SessionScoped, Some("a"), None),
            ConnMeta { connected_at: 2, ..meta(ClientType::UserScoped, None, None) },
        ]);
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            json!({"totalConnections": 4, "byType": {"user-scoped": 1, "session-scoped": 2, "machine-scoped": 1},
                   "activeSessions": 1, "activeMachines": 1, "oldestConnection": 2})
        );
        assert_eq!(stats(&[]).oldest_connection, None);
    }
}
