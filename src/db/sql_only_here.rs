//! db/ is the one place D1 SQL lives: this test reads every `.rs` file under src/ and fails on
//! a string literal outside src/db/ that is an SQL statement. tests/ are not scanned: the
//! black-box tests read D1 from outside the worker, which is their only view of storage.

use std::path::{Path, PathBuf};

/// Files that may hold SQL outside db/, each with the reason.
const ALLOWED: &[(&str, &str)] = &[
    // Not D1: a Durable Object's own SQLite storage (`state.storage().sql()`) belongs to it.
    // hub.rs also holds the D1 inactivity sweep (`Hub::sweep`), still to move into db/: an
    // allowance by file cannot tell the two apart, so issue #17 tracks the sweep, not this test.
    ("src/realtime/hub.rs", "the hub object's own storage SQL"),
    ("src/realtime/timers.rs", "the objects' alarm timers, kept in their own storage"),
];

/// Files whose D1 SQL is still to move into db/ (issue #17). Only ever shrinks.
const NOT_YET_MOVED: &[&str] = &["src/routes/uploads.rs"];

/// Whether a string literal's text is an SQL statement: its first word is a statement keyword
/// (any case) followed by the clause that makes it one, so prose such as "Delete a session"
/// in a route's summary does not count.
fn is_statement(text: &str) -> bool {
    let words: Vec<String> = text.split_whitespace().take(8).map(str::to_ascii_lowercase).collect();
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match word(0) {
        "select" => text.to_ascii_lowercase().split_whitespace().any(|w| w == "from" || w == "as"),
        "insert" | "replace" => words.iter().any(|w| w == "into"),
        "update" => word(2) == "set",
        "delete" => word(1) == "from",
        "with" => words.iter().any(|w| w == "as" || w.starts_with("as(")),
        _ => false,
    }
}

/// The texts of the string literals (plain and raw) in Rust source, skipping comments and char
/// literals so that `'"'` or a quote in a comment does not open a string.
fn string_literals(src: &str) -> Vec<String> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &src[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |end| end + 2);
        } else if rest.starts_with("'\\") {
            // An escaped char literal: its escaped character may itself be a quote.
            i += rest[3..].find('\'').map_or(rest.len(), |end| end + 4);
        } else if bytes[i] == b'\'' && bytes.get(i + 2) == Some(&b'\'') {
            i += 3;
        } else if let Some((open, hashes)) = raw_string_start(src, i) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = &src[i + open..];
            let end = body.find(&close).unwrap_or(body.len());
            out.push(body[..end].to_string());
            i += open + end + close.len();
        } else if bytes[i] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            out.push(src[i + 1..j.min(bytes.len())].to_string());
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// At a raw string (`r"`, `r#"`, `br"`, ...) starting at `i`: the length of its opening and its
/// number of `#`s.
fn raw_string_start(src: &str, i: usize) -> Option<(usize, usize)> {
    let bytes = src.as_bytes();
    if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
        return None;
    }
    let rest = &src[i..];
    let after_r = rest.strip_prefix("br").or_else(|| rest.strip_prefix('r'))?;
    let hashes = after_r.len() - after_r.trim_start_matches('#').len();
    after_r[hashes..].starts_with('"').then(|| (rest.len() - after_r.len() + hashes + 1, hashes))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("read a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_sql_statement_outside_db() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut offenders = Vec::new();
    let mut moved = Vec::new();
    for path in files {
        let name = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        if name.starts_with("src/db/") || ALLOWED.iter().any(|(file, _)| *file == name) {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let has_sql = string_literals(&src).iter().any(|s| is_statement(s));
        match (has_sql, NOT_YET_MOVED.contains(&name.as_str())) {
            (true, false) => offenders.push(name),
            (false, true) => moved.push(name),
            _ => {}
        }
    }
    assert!(offenders.is_empty(), "SQL statements outside src/db/ (move them into a db module): {offenders:?}");
    assert!(moved.is_empty(), "no SQL left in {moved:?}: take them off NOT_YET_MOVED");
}

#[test]
fn tells_statements_from_prose() {
    for sql in [
        "SELECT 1 AS ok",
        "select id from sessions",
        "INSERT INTO t (a) VALUES (?1)",
        "INSERT OR IGNORE INTO t (a) VALUES (?1)",
        "\n  UPDATE accounts SET seq = seq + 1",
        "DELETE FROM tickets WHERE expires_at <= ?",
        "WITH gone AS (SELECT 1) SELECT * FROM gone",
    ] {
        assert!(is_statement(sql), "{sql}");
    }
    for prose in ["Delete a session", "Update URL when the app is below the minimum", "Select", "update-session", ""] {
        assert!(!is_statement(prose), "{prose}");
    }
}

#[test]
fn finds_string_literals() {
    let src = r####"let a = "x\"y"; // "comment"
        let c = '"'; let d = '\''; let r = r#"raw "quoted""#; /* "block" */ let e = "z";"####;
    assert_eq!(string_literals(src), vec![r#"x\"y"#, r#"raw "quoted""#, "z"]);
}
