//! A body the server sends or stores is a typed wire struct, declared once: this test reads
//! every `.rs` file under src/ and fails on a `json!` outside a test module, unless the file
//! builds JSON that is free-form by nature (see [`ALLOWED`]).

use crate::db::sql_only_here::source_files;

/// Files whose JSON has no fixed shape.
const ALLOWED: &[&str] = &[
    // The OpenAPI document: a JSON Schema and OpenAPI object tree assembled from the route table.
    "src/app/openapi.rs",
    // JSON Schema surgery on the derived schemas (nullable forms, the empty schema).
    "src/app/schema.rs",
    // happy-move compares any server's answers field by field, as plain JSON.
    "src/bin/happy-move/",
    // This test, which names the macro.
    "src/wire/json_only_free_form.rs",
];

/// The lines of `src` before its test module that call `json!`, comments aside.
fn json_lines(src: &str) -> Vec<String> {
    src.lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .filter(|line| !line.trim_start().starts_with("//") && line.contains("json!"))
        .map(|line| line.trim().to_string())
        .collect()
}

#[test]
fn json_macro_only_where_json_is_free_form() {
    let offenders: Vec<String> = source_files()
        .into_iter()
        .filter(|(name, _)| !ALLOWED.iter().any(|allowed| name.starts_with(allowed)))
        .flat_map(|(name, src)| json_lines(&src).into_iter().map(move |line| format!("{name}: {line}")))
        .collect();
    assert!(offenders.is_empty(), "json! outside a test, in files whose bodies have a type:\n{}", offenders.join("\n"));
}

#[test]
fn json_lines_skip_comments_and_tests() {
    let src = "let a = json!({});\n// json!({})\n#[cfg(test)]\nmod tests { json!({}) }\n";
    assert_eq!(json_lines(src), ["let a = json!({});"]);
}
