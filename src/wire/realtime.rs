//! The realtime endpoints' bodies (/v1/websocket/ticket, stats, broadcast).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::realtime::select::Filter;

/// POST /v1/websocket/ticket: `<userId>.<secret>` for `?ticket=`, single use.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketBody {
    pub ticket: String,
    pub expires_at: i64,
    /// Seconds.
    pub expires_in: i64,
}

/// Open sockets by client type.
#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ByType {
    pub user_scoped: usize,
    pub session_scoped: usize,
    pub machine_scoped: usize,
}

/// The user's open sockets, in the seed's shape.
#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SocketStats {
    pub total_connections: usize,
    pub by_type: ByType,
    pub active_sessions: usize,
    pub active_machines: usize,
    /// When the longest-open socket connected (ms); `null` with none open.
    pub oldest_connection: Option<i64>,
}

/// GET /v1/websocket/stats (the hub's answer too): the sockets, where they are held and what
/// they cost.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    #[serde(flatten)]
    pub sockets: SocketStats,
    /// The user's object's alarm wake-ups so far.
    pub wakeups: i64,
    /// Sockets held by lobbies for this user.
    pub lobby_sockets: usize,
    /// Frames lobbies relayed to this user's object since it woke.
    pub lobby_frames: u64,
    /// Those lobbies' alarm wake-ups.
    pub lobby_wakeups: i64,
}

/// POST /v1/websocket/broadcast.
#[derive(Deserialize, JsonSchema)]
pub struct BroadcastBody {
    /// Any JSON but `null`.
    #[schemars(with = "Value")]
    pub message: Option<Value>,
    /// Which sockets; all of them when absent. Read by the route, whose 400 says what is wrong.
    #[schemars(with = "Option<Filter>")]
    pub filter: Option<Value>,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, request_schema, response_schema};

    fn stats() -> Stats {
        let by_type = ByType { user_scoped: 1, session_scoped: 2, machine_scoped: 0 };
        Stats {
            sockets: SocketStats {
                total_connections: 3,
                by_type,
                active_sessions: 1,
                active_machines: 0,
                oldest_connection: None,
            },
            wakeups: 4,
            lobby_sockets: 1,
            lobby_frames: 5,
            lobby_wakeups: 6,
        }
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        assert_eq!(
            to_string(&stats()).unwrap(),
            json!({"totalConnections": 3, "byType": {"user-scoped": 1, "session-scoped": 2, "machine-scoped": 0},
                   "activeSessions": 1, "activeMachines": 0, "oldestConnection": null, "wakeups": 4,
                   "lobbySockets": 1, "lobbyFrames": 5, "lobbyWakeups": 6})
            .to_string()
        );
        let ticket = TicketBody { ticket: "u.s".into(), expires_at: 1, expires_in: 30 };
        assert_eq!(to_string(&ticket).unwrap(), json!({"ticket": "u.s", "expiresAt": 1, "expiresIn": 30}).to_string());
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        conforms(&response_schema::<Stats>(), &to_value(stats()).unwrap()).unwrap();
        assert!(conforms(&response_schema::<Stats>(), &json!({"totalConnections": 3})).is_err());
        let body = request_schema::<BroadcastBody>();
        conforms(&body, &json!({"message": {"x": 1}, "filter": {"type": "session", "sessionId": "s"}})).unwrap();
        conforms(&body, &json!({"message": "m"})).unwrap();
        assert!(conforms(&body, &json!({"message": 1, "filter": {"type": "room"}})).is_err());
        assert!(conforms(&body, &json!({"filter": {"type": "all"}})).is_err(), "message is required");
    }
}
