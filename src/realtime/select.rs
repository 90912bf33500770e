//! Which sockets get a message: event recipients (docs/protocol.md#recipients) and the seed's
//! broadcast filters (docs/protocol.md#stats-and-broadcast), both reduced to a set of socket tags.

use serde::{Deserialize, Serialize};

use super::conn::{
    conn_tag, framed_tag, framing_tag, machine_tag, session_tag, type_tag, ClientType, ConnMeta, Framing,
};
use crate::events::Recipients;

/// A selection's tags never share a socket (a socket has one client type and only its type's
/// scope tag), so the tag lookups of a delivery are disjoint and need no dedupe.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// Sockets carrying any of these tags; `None` selects every socket.
    pub tags: Option<Vec<String>>,
    /// A connection id left out.
    pub exclude: Option<String>,
}

/// POST /v1/websocket/broadcast `filter`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Filter {
    All,
    UserScopedOnly,
    Session {
        #[serde(rename = "sessionId")]
        session_id: String,
    },
    Machine {
        #[serde(rename = "machineId")]
        machine_id: String,
    },
    Exclude {
        #[serde(rename = "connectionId")]
        connection_id: String,
    },
}

impl Selection {
    pub fn recipients(r: &Recipients, skip: Option<&str>) -> Selection {
        let user = type_tag(ClientType::UserScoped);
        let tags = match r {
            Recipients::Session { id } => Some(vec![session_tag(id), user]),
            Recipients::User => Some(vec![user]),
            Recipients::Machine { id } => Some(vec![machine_tag(id), user]),
            Recipients::All => None,
        };
        Selection { tags, exclude: skip.map(str::to_string) }
    }

    pub fn filter(f: &Filter) -> Selection {
        let (tags, exclude) = match f {
            Filter::All => (None, None),
            Filter::UserScopedOnly => (Some(vec![type_tag(ClientType::UserScoped)]), None),
            Filter::Session { session_id } => (Some(vec![session_tag(session_id)]), None),
            Filter::Machine { machine_id } => (Some(vec![machine_tag(machine_id)]), None),
            Filter::Exclude { connection_id } => (None, Some(connection_id.clone())),
        };
        Selection { tags, exclude }
    }

    /// The runtime tag lookups that yield the selected sockets of one framing (before the
    /// exclusion).
    pub fn lookups(&self, framing: Framing) -> Vec<String> {
        match &self.tags {
            None => vec![framing_tag(framing).to_string()],
            Some(tags) => tags.iter().map(|t| framed_tag(t, framing)).collect(),
        }
    }

    /// Whether a socket with these tags is selected (the runtime's tag lookup, restated for
    /// sockets we only know by metadata, e.g. when replaying the catch-up window).
    pub fn matches_tags(&self, socket_tags: &[String]) -> bool {
        if let Some(ex) = &self.exclude {
            if socket_tags.contains(&conn_tag(ex)) {
                return false;
            }
        }
        match &self.tags {
            None => true,
            Some(wanted) => socket_tags.iter().any(|t| wanted.contains(t)),
        }
    }

    pub fn matches(&self, meta: &ConnMeta) -> bool {
        self.matches_tags(&meta.tags())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::conn::Framing;

    fn meta(id: &str, t: ClientType, session: Option<&str>, machine: Option<&str>) -> ConnMeta {
        ConnMeta {
            id: id.into(),
            user_id: "u".into(),
            client_type: t,
            session_id: session.map(Into::into),
            machine_id: machine.map(Into::into),
            framing: Framing::Raw,
            connected_at: 0,
            rpc: vec![],
            rpc_other: vec![],
            app_state: None,
            happy_client: None,
        }
    }

    fn who(sel: &Selection) -> Vec<&'static str> {
        let all = [
            ("user", meta("user", ClientType::UserScoped, None, None)),
            ("s1", meta("s1", ClientType::SessionScoped, Some("a"), None)),
            ("s2", meta("s2", ClientType::SessionScoped, Some("b"), None)),
            ("m1", meta("m1", ClientType::MachineScoped, None, Some("a"))),
        ];
        all.iter().filter(|(_, m)| sel.matches(m)).map(|(n, _)| *n).collect()
    }

    #[test]
    fn recipients_follow_the_protocol() {
        assert_eq!(who(&Selection::recipients(&Recipients::Session { id: "a".into() }, None)), ["user", "s1"]);
        assert_eq!(who(&Selection::recipients(&Recipients::User, None)), ["user"]);
        // A machine and a session with the same id stay apart.
        assert_eq!(who(&Selection::recipients(&Recipients::Machine { id: "a".into() }, None)), ["user", "m1"]);
        assert_eq!(who(&Selection::recipients(&Recipients::All, None)), ["user", "s1", "s2", "m1"]);
        assert_eq!(who(&Selection::recipients(&Recipients::Session { id: "a".into() }, Some("s1"))), ["user"]);
    }

    /// What `send` relies on: every selected socket is found by exactly one lookup of its
    /// framing, and unselected ones by none.
    #[test]
    fn lookups_find_each_selected_socket_once() {
        let sockets: Vec<ConnMeta> = [Framing::Raw, Framing::Eio]
            .into_iter()
            .flat_map(|framing| {
                [
                    meta("user", ClientType::UserScoped, None, None),
                    meta("s1", ClientType::SessionScoped, Some("a"), None),
                    meta("m1", ClientType::MachineScoped, None, Some("a")),
                ]
                .map(|m| ConnMeta { framing, ..m })
            })
            .collect();
        let filters = ["all", "user-scoped-only"].map(|t| serde_json::json!({"type": t}));
        let mut selections: Vec<Selection> =
            filters.iter().map(|f| Selection::filter(&serde_json::from_value(f.clone()).unwrap())).collect();
        for r in [
            Recipients::User,
            Recipients::All,
            Recipients::Session { id: "a".into() },
            Recipients::Machine { id: "a".into() },
        ] {
            selections.push(Selection::recipients(&r, None));
        }
        for sel in &selections {
            for m in &sockets {
                let tags = m.tags();
                let hits: usize = [Framing::Raw, Framing::Eio]
                    .into_iter()
                    .flat_map(|f| sel.lookups(f))
                    .filter(|t| tags.contains(t))
                    .count();
                assert_eq!(hits, usize::from(sel.matches(m)), "{sel:?} {:?}", m.id);
            }
        }
    }

    #[test]
    fn broadcast_filters() {
        let f = |v: serde_json::Value| who(&Selection::filter(&serde_json::from_value(v).unwrap()));
        assert_eq!(f(serde_json::json!({"type": "all"})), ["user", "s1", "s2", "m1"]);
        assert_eq!(f(serde_json::json!({"type": "user-scoped-only"})), ["user"]);
        assert_eq!(f(serde_json::json!({"type": "session", "sessionId": "b"})), ["s2"]);
        assert_eq!(f(serde_json::json!({"type": "machine", "machineId": "a"})), ["m1"]);
        assert_eq!(f(serde_json::json!({"type": "exclude", "connectionId": "s1"})), ["user", "s2", "m1"]);
        assert!(serde_json::from_value::<Filter>(serde_json::json!({"type": "session"})).is_err());
        assert!(serde_json::from_value::<Filter>(serde_json::json!({"type": "nope"})).is_err());
    }
}
