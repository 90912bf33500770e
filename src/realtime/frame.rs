//! The two framings of one event stream: raw JSON frames (the seed's) and Socket.IO 4 over
//! Engine.IO 4 text packets (the stock clients); docs/protocol.md describes both. Pure codecs;
//! the object picks one per socket.

use serde::Serialize;
use serde_json::Value;

use super::conn::Framing;
use crate::wire::socket::Message;

/// Announced in the Engine.IO open packet. The object's alarm sends `2` every interval; a
/// client drops the socket after interval + timeout without one.
pub const PING_INTERVAL_MS: i64 = 25_000;
pub const PING_TIMEOUT_MS: i64 = 20_000;
/// The largest client frame (Socket.IO's `maxPayload`, for both framings); larger ones close
/// the socket with [`MESSAGE_TOO_BIG`].
pub const MAX_PAYLOAD: u64 = 1_000_000;
pub const MESSAGE_TOO_BIG: u16 = 1009;
pub const MESSAGE_TOO_BIG_REASON: &str = "Message too big";

/// What a client sent, framing aside.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// An event; `ack` is the id the client wants answered.
    Event {
        name: String,
        data: Value,
        ack: Option<AckId>,
    },
    /// The answer to a server-initiated request (`rpc-request`).
    Reply {
        id: AckId,
        value: Value,
    },
    /// Engine.IO: CONNECT (`40`), with its auth object.
    Connect(Value),
    /// Engine.IO: DISCONNECT (`41`) or close (`1`).
    Disconnect,
    /// Heartbeats and packets we do not serve (binary, other namespaces).
    Ignore,
    Malformed,
}

/// Raw acks carry any JSON id; Socket.IO ack ids are integers.
#[derive(Clone, Debug, PartialEq)]
pub enum AckId {
    Raw(Value),
    Num(u64),
}

impl AckId {
    /// The number of a server-issued id, whichever framing answered.
    pub fn number(&self) -> Option<u64> {
        match self {
            AckId::Num(n) => Some(*n),
            AckId::Raw(Value::Number(n)) => n.as_u64(),
            AckId::Raw(Value::String(s)) => s.parse().ok(),
            AckId::Raw(_) => None,
        }
    }
}

pub fn parse(framing: Framing, text: &str) -> Incoming {
    match framing {
        Framing::Raw => parse_raw(text),
        Framing::Eio => parse_eio(text),
    }
}

/// `{"event": NAME, "data": ..., "ackId": ...}`; `rpc-response` frames answer server requests.
fn parse_raw(text: &str) -> Incoming {
    let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(text) else {
        return Incoming::Malformed;
    };
    let Some(Value::String(name)) = obj.remove("event") else {
        return Incoming::Malformed;
    };
    let ack = obj.remove("ackId").filter(|v| !v.is_null()).map(AckId::Raw);
    if name == "rpc-response" {
        return match ack {
            Some(id) => {
                Incoming::Reply { id, value: obj.remove("ack").or_else(|| obj.remove("data")).unwrap_or(Value::Null) }
            }
            None => Incoming::Malformed,
        };
    }
    Incoming::Event { name, data: obj.remove("data").unwrap_or(Value::Null), ack }
}

fn parse_eio(text: &str) -> Incoming {
    let mut chars = text.chars();
    match chars.next() {
        Some('4') => {}
        Some('1') => return Incoming::Disconnect,
        Some('2' | '3' | '6') => return Incoming::Ignore,
        _ => return Incoming::Malformed,
    }
    let Some(kind) = chars.next() else { return Incoming::Malformed };
    let mut rest = chars.as_str();
    // Only the main namespace exists; `/ns,` prefixes address others.
    if rest.starts_with('/') {
        return Incoming::Ignore;
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = if digits > 0 { rest[..digits].parse::<u64>().ok() } else { None };
    if digits > 0 && id.is_none() {
        return Incoming::Malformed;
    }
    rest = &rest[digits..];
    let payload = if rest.is_empty() { None } else { serde_json::from_str::<Value>(rest).ok() };
    if !rest.is_empty() && payload.is_none() {
        return Incoming::Malformed;
    }
    match kind {
        '0' => Incoming::Connect(payload.unwrap_or(Value::Null)),
        '1' => Incoming::Disconnect,
        '2' => match payload {
            Some(Value::Array(args)) => {
                let mut args = args.into_iter();
                match (args.next(), args.next()) {
                    (Some(Value::String(name)), data) => {
                        Incoming::Event { name, data: data.unwrap_or(Value::Null), ack: id.map(AckId::Num) }
                    }
                    _ => Incoming::Malformed,
                }
            }
            _ => Incoming::Malformed,
        },
        '3' => match (id, payload) {
            (Some(id), Some(Value::Array(mut args))) => {
                let value = if args.is_empty() { Value::Null } else { args.swap_remove(0) };
                Incoming::Reply { id: AckId::Num(id), value }
            }
            _ => Incoming::Malformed,
        },
        _ => Incoming::Ignore,
    }
}

/// A frame as text. Cannot fail: every frame's map keys are strings.
fn text(frame: impl Serialize) -> String {
    serde_json::to_string(&frame).expect("a frame serializes")
}

/// The raw framing's server event; `ack_id` on a request the client must answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent<'a, T: ?Sized> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_id: Option<String>,
    data: &'a T,
}

/// The raw framing's answer to a client event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RawAck<'a, T: ?Sized> {
    event: &'static str,
    ack_id: &'a Value,
    ack: &'a T,
}

/// Engine.IO's open packet.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EioOpen<'a> {
    sid: &'a str,
    upgrades: [&'static str; 0],
    ping_interval: i64,
    ping_timeout: i64,
    max_payload: u64,
}

/// Socket.IO's CONNECT answer.
#[derive(Serialize)]
struct EioConnected<'a> {
    sid: &'a str,
}

/// A server event.
pub fn event<T: Serialize + ?Sized>(framing: Framing, name: &str, data: &T) -> String {
    match framing {
        Framing::Raw => text(RawEvent { event: name, ack_id: None, data }),
        Framing::Eio => format!("42{}", text((name, data))),
    }
}

/// A server event the client must answer (`rpc-request`); raw ids are sent as strings.
pub fn request<T: Serialize + ?Sized>(framing: Framing, id: u64, name: &str, data: &T) -> String {
    match framing {
        Framing::Raw => text(RawEvent { event: name, ack_id: Some(id.to_string()), data }),
        Framing::Eio => format!("42{id}{}", text((name, data))),
    }
}

/// The server's answer to a client event that asked for one.
pub fn ack<T: Serialize + ?Sized>(id: &AckId, value: &T) -> String {
    match id {
        AckId::Raw(raw) => text(RawAck { event: "ack", ack_id: raw, ack: value }),
        AckId::Num(n) => format!("43{n}{}", text((value,))),
    }
}

pub fn eio_open(sid: &str) -> String {
    let open = EioOpen {
        sid,
        upgrades: [],
        ping_interval: PING_INTERVAL_MS,
        ping_timeout: PING_TIMEOUT_MS,
        max_payload: MAX_PAYLOAD,
    };
    format!("0{}", text(open))
}

pub fn eio_connected(sid: &str) -> String {
    format!("40{}", text(EioConnected { sid }))
}

pub fn eio_connect_error(message: &str) -> String {
    format!("44{}", text(Message { message }))
}

pub const EIO_PING: &str = "2";
pub const EIO_PONG: &str = "3";

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(name: &str, data: Value, ack: Option<AckId>) -> Incoming {
        Incoming::Event { name: name.into(), data, ack }
    }

    #[test]
    fn raw_frames() {
        assert_eq!(parse(Framing::Raw, r#"{"event":"ping"}"#), ev("ping", Value::Null, None));
        assert_eq!(
            parse(Framing::Raw, r#"{"event":"rpc-call","data":{"method":"m"},"ackId":"a1"}"#),
            ev("rpc-call", json!({"method": "m"}), Some(AckId::Raw(json!("a1"))))
        );
        assert_eq!(
            parse(Framing::Raw, r#"{"event":"rpc-response","ackId":"7","ack":"r"}"#),
            Incoming::Reply { id: AckId::Raw(json!("7")), value: json!("r") }
        );
        assert_eq!(parse(Framing::Raw, r#"{"event":"rpc-response"}"#), Incoming::Malformed);
        assert_eq!(parse(Framing::Raw, "[1]"), Incoming::Malformed);
        assert_eq!(parse(Framing::Raw, r#"{"event":3}"#), Incoming::Malformed);
        assert_eq!(parse(Framing::Raw, "not json"), Incoming::Malformed);
        assert_eq!(AckId::Raw(json!("7")).number(), Some(7));
        assert_eq!(ack(&AckId::Raw(json!("a1")), &json!({})), r#"{"event":"ack","ackId":"a1","ack":{}}"#);
        assert_eq!(event(Framing::Raw, "update", &json!({"seq": 1})), r#"{"event":"update","data":{"seq":1}}"#);
        assert_eq!(
            request(Framing::Raw, 9, "rpc-request", &json!({})),
            r#"{"event":"rpc-request","ackId":"9","data":{}}"#
        );
    }

    #[test]
    fn socket_io_packets() {
        assert_eq!(parse(Framing::Eio, r#"40{"token":"t"}"#), Incoming::Connect(json!({"token": "t"})));
        assert_eq!(parse(Framing::Eio, "40"), Incoming::Connect(Value::Null));
        assert_eq!(parse(Framing::Eio, "41"), Incoming::Disconnect);
        assert_eq!(parse(Framing::Eio, "1"), Incoming::Disconnect);
        assert_eq!(parse(Framing::Eio, "3"), Incoming::Ignore);
        assert_eq!(parse(Framing::Eio, r#"42["ping"]"#), ev("ping", Value::Null, None));
        assert_eq!(parse(Framing::Eio, r#"4212["ping"]"#), ev("ping", Value::Null, Some(AckId::Num(12))));
        assert_eq!(
            parse(Framing::Eio, r#"42["app-state",{"state":"active"},5]"#),
            ev("app-state", json!({"state": "active"}), None)
        );
        assert_eq!(parse(Framing::Eio, r#"433["ok"]"#), Incoming::Reply { id: AckId::Num(3), value: json!("ok") });
        assert_eq!(parse(Framing::Eio, r#"43["ok"]"#), Incoming::Malformed);
        assert_eq!(parse(Framing::Eio, r#"42[1]"#), Incoming::Malformed);
        assert_eq!(parse(Framing::Eio, r#"42{"#), Incoming::Malformed);
        assert_eq!(parse(Framing::Eio, r#"42/admin,["x"]"#), Incoming::Ignore);
        assert_eq!(parse(Framing::Eio, "4"), Incoming::Malformed);
        assert_eq!(parse(Framing::Eio, "x"), Incoming::Malformed);
        assert_eq!(parse(Framing::Eio, "42999999999999999999999[\"x\"]"), Incoming::Malformed);
    }

    #[test]
    fn socket_io_encoding() {
        assert_eq!(event(Framing::Eio, "update", &json!({"seq": 1})), r#"42["update",{"seq":1}]"#);
        assert_eq!(
            request(Framing::Eio, 4, "rpc-request", &json!({"method": "m"})),
            r#"424["rpc-request",{"method":"m"}]"#
        );
        assert_eq!(ack(&AckId::Num(4), &json!({})), "434[{}]");
        assert_eq!(eio_connected("abc"), r#"40{"sid":"abc"}"#);
        assert_eq!(
            eio_connect_error("Invalid authentication token"),
            r#"44{"message":"Invalid authentication token"}"#
        );
        let open: Value = serde_json::from_str(&eio_open("s")[1..]).unwrap();
        assert_eq!(
            open,
            json!({"sid": "s", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 1000000})
        );
    }
}
