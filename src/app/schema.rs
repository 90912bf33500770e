//! A small vocabulary for the JSON Schemas in /openapi.json.

use serde_json::{json, Map, Value};

pub fn string() -> Value {
    json!({"type": "string"})
}
pub fn integer() -> Value {
    json!({"type": "integer"})
}
pub fn number() -> Value {
    json!({"type": "number"})
}
pub fn boolean() -> Value {
    json!({"type": "boolean"})
}
pub fn any() -> Value {
    json!({})
}
pub fn enumeration(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}
pub fn nullable(inner: Value) -> Value {
    json!({"anyOf": [inner, {"type": "null"}]})
}
pub fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}
pub fn one_of(options: Vec<Value>) -> Value {
    json!({"oneOf": options})
}

/// An object; a field name ending in `?` is optional.
pub fn object(fields: &[(&str, Value)]) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, schema) in fields {
        match name.strip_suffix('?') {
            Some(n) => {
                props.insert(n.to_string(), schema.clone());
            }
            None => {
                props.insert(name.to_string(), schema.clone());
                required.push(Value::from(*name));
            }
        }
    }
    json!({"type": "object", "properties": props, "required": required})
}

pub fn success() -> Value {
    object(&[("success", boolean())])
}

pub fn error() -> Value {
    object(&[("error", string())])
}
