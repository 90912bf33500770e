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
pub mod system;
pub mod uploads;
pub mod usage;
pub mod users;
pub mod voice;

use schemars::JsonSchema;
use serde::Serialize;

/// `{"success": true}`: what a write with nothing else to say answers.
#[derive(Serialize, JsonSchema)]
pub struct Success {
    pub success: bool,
}

impl Success {
    /// The only value any route sends.
    pub const TRUE: Success = Success { success: true };
}

/// What every error answers: the message, and for some errors more fields beside it
/// (`error::ApiError::with`). Built by `ApiError::body`; declared here for its schema.
#[derive(Serialize, JsonSchema)]
pub struct ErrorBody {
    pub error: String,
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
