//! Typed wire bodies: what a route answers or accepts, declared once as a `Serialize` or
//! `Deserialize` type whose OpenAPI schema is derived from it (`app::schema::response_schema`,
//! `request_schema`). One module per API area, outside `routes/` so that socket acks and event
//! bodies of the same shapes can use it too.

pub mod access_keys;
pub mod account;
pub mod artifacts;
pub mod attachments;
pub mod auth;
pub mod connect;
pub mod devices;
pub mod feed;
pub mod import;
pub mod kv;
pub mod machines;
pub mod plans;
pub mod push;
pub mod realtime;
pub mod sessions;
pub mod socket;
pub mod system;
pub mod uploads;
pub mod usage;
pub mod users;
pub mod voice;

#[cfg(test)]
mod json_only_free_form;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

/// A typed body as a JSON value: what the outbox and the socket acks carry.
pub fn value(body: impl Serialize) -> Value {
    // Cannot fail: every wire type's map keys are strings (json! unwraps the same conversion).
    serde_json::to_value(body).expect("a wire body serializes")
}

/// `{"success": true}`: what a write with nothing else to say answers.
#[derive(Serialize, JsonSchema)]
pub struct Success {
    pub success: bool,
}

impl Success {
    /// The only value any route sends.
    pub const TRUE: Success = Success { success: true };
}

/// What every error answers (`error::ApiError::body`, and a socket event's failed ack): the
/// message, and for some errors more fields beside it (`error::ApiError::with`).
#[derive(Serialize, JsonSchema)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    #[serde(flatten)]
    pub extra: Option<&'a Map<String, Value>>,
}

impl<'a> ErrorBody<'a> {
    pub fn new(error: &'a str) -> Self {
        ErrorBody { error, extra: None }
    }
}

/// A value written by compare-and-set, with its new version (the update events' fields).
#[derive(Serialize)]
pub struct Versioned<T> {
    pub value: T,
    pub version: i64,
}

/// The error a compare-and-set answers with 200 when another write got there first.
#[derive(Serialize, JsonSchema)]
pub enum VersionMismatch {
    #[serde(rename = "version-mismatch")]
    VersionMismatch,
}

/// The literal `true` or `false`: a field that tells a body's variants apart (serde's tags are
/// strings), documented as its `const`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bool<const V: bool>;

impl<const V: bool> Serialize for Bool<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(V)
    }
}

impl<const V: bool> JsonSchema for Bool<V> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        if V { "True" } else { "False" }.into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"const": V})
    }
}
