//! /openapi.json, generated from the route table the router dispatches on.

use serde_json::{json, Map, Value};

use super::router::{Access, Route};
use super::schema;

/// `/v1/sessions/:id` → `/v1/sessions/{id}`.
pub fn openapi_path(path: &str) -> String {
    path.split('/')
        .map(|s| match s.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub fn document<'a>(routes: impl IntoIterator<Item = &'a Route>) -> Value {
    let mut paths = Map::new();
    for r in routes {
        let mut op = Map::new();
        op.insert("tags".into(), json!([r.tag]));
        op.insert("summary".into(), json!(r.summary));
        op.insert("operationId".into(), json!(format!("{} {}", r.method, r.path)));
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix(':'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}))
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        match r.access {
            Access::User => {
                op.insert("security".into(), json!([{"bearer": []}]));
            }
            Access::OptionalUser => {
                op.insert("security".into(), json!([{}, {"bearer": []}]));
            }
            Access::Device => {
                op.insert("security".into(), json!([{"deviceKey": []}]));
            }
            Access::Public => {}
        }
        if let Some(req) = r.request {
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": req()}}}),
            );
        }
        let error = json!({"description": "Error", "content": {"application/json": {"schema": schema::error()}}});
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            json!({"description": "OK", "content": {"application/json": {"schema": (r.response)()}}}),
        );
        responses.insert("4XX".into(), error.clone());
        responses.insert("5XX".into(), error);
        op.insert("responses".into(), Value::Object(responses));
        let entry = paths.entry(openapi_path(r.path)).or_insert_with(|| json!({}));
        entry[r.method.to_string().to_lowercase()] = Value::Object(op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Happy Server (Cloudflare Workers, Rust)", "version": env!("CARGO_PKG_VERSION")},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "privacy-kit persistent token"},
            "deviceKey": {"type": "http", "scheme": "bearer", "description": "device API key"}
        }},
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_routed_path_is_documented_and_nothing_else() {
        let routes: Vec<&Route> = crate::routes::all().collect();
        let doc = document(routes.iter().copied());
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = 0;
        for (path, item) in paths {
            for (method, _) in item.as_object().unwrap() {
                documented += 1;
                assert!(
                    routes
                        .iter()
                        .any(|r| openapi_path(r.path) == *path && r.method.to_string().to_lowercase() == *method),
                    "{method} {path} is documented but not routed"
                );
            }
        }
        assert_eq!(documented, routes.len(), "a route is missing from the document or routed twice");
    }

    /// Derived schemas are inlined: a `$ref` would point at nothing in the document.
    #[test]
    fn every_schema_is_inline() {
        let doc = document(crate::routes::all()).to_string();
        assert!(!doc.contains("\"$ref\"") && !doc.contains("\"$defs\""));
    }

    #[test]
    fn converts_params() {
        assert_eq!(openapi_path("/v1/access-keys/:sessionId/:machineId"), "/v1/access-keys/{sessionId}/{machineId}");
    }
}
