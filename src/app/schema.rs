//! The JSON Schemas in /openapi.json, derived from the wire types (`crate::wire`): a body's
//! shape is declared once, as the type that serializes it.

use schemars::generate::{Contract, SchemaGenerator, SchemaSettings};
use schemars::transform::transform_subschemas;
use schemars::{JsonSchema, Schema};
use serde_json::{json, Map, Value};

/// The schema of what `T` serializes to (a response body): an `Option` field is required and
/// nullable unless it is skipped when `None`.
pub fn response_schema<T: JsonSchema>() -> Value {
    derived(Contract::Serialize, T::json_schema)
}

/// The schema of what `T` deserializes from (a request body): an `Option` field is optional
/// and nullable.
pub fn request_schema<T: JsonSchema>() -> Value {
    derived(Contract::Deserialize, T::json_schema)
}

/// Self-contained (every subschema inlined: no `$defs` to resolve in an OpenAPI document), with
/// the vocabulary's spelling of nullable. Not generic, so each wire type adds only its own
/// `json_schema` to the worker.
fn derived(contract: Contract, json_schema: fn(&mut SchemaGenerator) -> Schema) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.contract = contract;
        })
        .into_generator();
    let mut schema = json_schema(&mut generator);
    null_as_any_of(&mut schema);
    schema.to_value()
}

/// `{"type": [X, "null"], ..}` → `{"anyOf": [{"type": X, ..}, {"type": "null"}]}`: OpenAPI 3.0
/// tools read the second spelling, not the first.
fn null_as_any_of(schema: &mut Schema) {
    transform_subschemas(&mut null_as_any_of, schema);
    let Some(obj) = schema.as_object_mut() else { return };
    let inner = match obj.get("type") {
        Some(Value::Array(types)) if types.len() == 2 && types.iter().any(|t| t == "null") => {
            types.iter().find(|t| *t != "null").cloned()
        }
        _ => None,
    };
    let Some(inner) = inner else { return };
    obj.insert("type".into(), inner);
    let mut outer = Map::new();
    if let Some(d) = obj.remove("description") {
        outer.insert("description".into(), d);
    }
    outer.insert("anyOf".into(), json!([Value::Object(std::mem::take(obj)), {"type": "null"}]));
    *schema = Schema::from(outer);
}

/// Any JSON (a route that answers bytes, or a free-form body).
pub fn any() -> Value {
    json!({})
}

/// `{"success": true}`, derived from [`crate::wire::Success`].
pub fn success() -> Value {
    response_schema::<crate::wire::Success>()
}

/// Every error's body, derived from [`crate::wire::ErrorBody`].
pub fn error() -> Value {
    response_schema::<crate::wire::ErrorBody<'static>>()
}

/// Whether `value` conforms to `schema`, for the keywords these schemas use (`type`,
/// `properties`, `required`, `items`, `enum`, `anyOf`, `oneOf`); the first mismatch otherwise.
#[cfg(test)]
pub fn conforms(schema: &Value, value: &Value) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{value} does not match {schema}: {what}"));
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
        if !options.iter().any(|o| conforms(o, value).is_ok()) {
            return fail("no anyOf option");
        }
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        if options.iter().filter(|o| conforms(o, value).is_ok()).count() != 1 {
            return fail("not exactly one oneOf option");
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return fail("not in enum");
        }
    }
    if schema.get("const").is_some_and(|c| c != value) {
        return fail("not the const");
    }
    let type_ok = match schema.get("type").and_then(Value::as_str) {
        None => true,
        Some("null") => value.is_null(),
        Some("boolean") => value.is_boolean(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("string") => value.is_string(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        Some(other) => return fail(&format!("unknown type {other}")),
    };
    if !type_ok {
        return fail("wrong type");
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        values.iter().try_for_each(|v| conforms(items, v))?;
    }
    if let Some(fields) = value.as_object() {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !fields.contains_key(name.as_str().unwrap_or_default()) {
                return fail(&format!("{name} missing"));
            }
        }
        for (name, sub) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
            if let Some(v) = fields.get(name) {
                conforms(sub, v)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, JsonSchema)]
    struct Counted {
        count: Option<i64>,
    }

    #[test]
    fn nullable_is_written_as_the_vocabulary_writes_it() {
        let count = json!({"anyOf": [{"type": "integer", "format": "int64"}, {"type": "null"}]});
        assert_eq!(
            response_schema::<Counted>(),
            json!({"type": "object", "properties": {"count": count}, "required": ["count"]})
        );
        assert_eq!(request_schema::<Counted>()["required"], Value::Null, "optional when received");
    }

    #[test]
    fn conformance_checks_types_and_required_keys() {
        let schema = json!({"type": "object", "required": ["a"], "properties": {
            "a": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "b": {"type": "array", "items": {"type": "string"}},
        }});
        assert!(conforms(&schema, &json!({"a": null, "b": ["x"]})).is_ok());
        assert!(conforms(&schema, &json!({"a": 1})).is_ok());
        assert!(conforms(&schema, &json!({"b": []})).is_err());
        assert!(conforms(&schema, &json!({"a": "1"})).is_err());
        assert!(conforms(&schema, &json!({"a": 1, "b": [2]})).is_err());
    }
}
