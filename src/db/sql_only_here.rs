//! db/ is the one place D1 SQL lives: this test reads every `.rs` file under src/ and fails on
//! a string literal outside src/db/ that is an SQL statement, unless it is a Durable Object's
//! statement on its own storage's tables (see [`ALLOWED`]). tests/ are not scanned: the
//! black-box tests read D1 from outside the worker, which is their only view of storage.

use std::path::{Path, PathBuf};

/// Files that may hold SQL outside db/, each with the only tables its statements may name: a
/// Durable Object's own SQLite storage (`state.storage().sql()`) belongs to it, not to D1. A
/// statement there that names any other table (a D1 one) fails like one anywhere else.
const ALLOWED: &[(&str, &[&str])] = &[
    // The hub's catch-up window, socket tickets and lobby-held sockets.
    ("src/realtime/hub.rs", &["ring", "tickets", "remotes"]),
    // The objects' alarm timers and wake-up count.
    ("src/realtime/timers.rs", &["timers", "wakes"]),
];

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

/// Words that end a table's alias in a FROM list.
const CLAUSES: &[&str] = &[
    "where",
    "group",
    "order",
    "limit",
    "join",
    "inner",
    "left",
    "cross",
    "natural",
    "on",
    "using",
    "union",
    "except",
    "intersect",
    "returning",
    "having",
    "window",
];

/// A statement's words (lowercase, `schema.table` kept whole) and its `(`, `)` and `,`.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if matches!(c, '(' | ')' | ',') {
            out.push(c.to_string());
        }
    }
    out.extend((!word.is_empty()).then_some(word));
    out
}

/// The table a word names, if it can name one (not a subquery's `(` or a number).
fn table_name(word: &str) -> Option<String> {
    let table = word.rsplit('.').next()?;
    table.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_').then(|| table.to_string())
}

/// The tables a statement names: after INTO, UPDATE (not an upsert's `DO UPDATE SET`), JOIN and
/// FROM (each of a comma-separated list). Table functions and CTE names count as tables.
fn tables(text: &str) -> Vec<String> {
    let words = tokens(text);
    let at = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let mut out = Vec::new();
    for (i, word) in words.iter().enumerate() {
        match word.as_str() {
            "into" => out.extend(table_name(at(i + 1))),
            "update" => {
                let j = if at(i + 1) == "or" { i + 3 } else { i + 1 };
                if at(j) != "set" {
                    out.extend(table_name(at(j)));
                }
            }
            "from" | "join" => {
                let mut j = i + 1;
                while let Some(table) = table_name(at(j)) {
                    out.push(table);
                    j += 1;
                    // Past its alias (`[AS] a`) to the comma before the next table, if any.
                    while table_name(at(j)).is_some() && !CLAUSES.contains(&at(j)) {
                        j += 1;
                    }
                    if at(j) != "," {
                        break;
                    }
                    j += 1;
                }
            }
            _ => {}
        }
    }
    out
}

/// The statements in `src` (the file `name`) that belong in db/: every one outside it, but in an
/// [`ALLOWED`] file only those naming a table that is not its own.
fn misplaced(name: &str, src: &str) -> Vec<String> {
    if name.starts_with("src/db/") {
        return Vec::new();
    }
    let own = ALLOWED.iter().find(|(file, _)| *file == name).map(|(_, tables)| *tables);
    let foreign = |sql: &String| match own {
        None => true,
        Some(own) => tables(sql).iter().any(|t| !own.contains(&t.as_str())),
    };
    string_literals(src).into_iter().filter(|s| is_statement(s)).filter(foreign).collect()
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

/// Every `.rs` file under src/: its name from the repository root (`src/...`) and its text.
pub(crate) fn source_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files
        .iter()
        .map(|path| {
            let name = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            (name, std::fs::read_to_string(path).unwrap())
        })
        .collect()
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
    let offenders: Vec<String> = source_files()
        .into_iter()
        .filter(|(name, src)| !misplaced(name, src).is_empty())
        .map(|(name, _)| name)
        .collect();
    assert!(offenders.is_empty(), "SQL statements outside src/db/ (move them into a db module): {offenders:?}");
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

#[test]
fn an_object_file_may_name_only_its_own_tables() {
    let hub = "src/realtime/hub.rs";
    let own = r#"sql.exec("DELETE FROM ring WHERE seq <= (SELECT MAX(seq) FROM ring) - ?", args);
        sql.exec("INSERT OR REPLACE INTO remotes (id, lobby, meta) VALUES (?, ?, ?)", args);"#;
    assert!(misplaced(hub, own).is_empty());
    // The inactivity sweep, as hub.rs held it: D1's tables, not the object's.
    let d1 = r#"db.stmt("UPDATE sessions SET active = 0 WHERE account_id = ?1 AND active = 1
        AND last_active_at < ?2 RETURNING id, last_active_at", args)"#;
    assert_eq!(misplaced(hub, d1).len(), 1);
    let mixed = r#""SELECT MIN(t) AS s FROM (SELECT MIN(seq) AS t FROM ring
        UNION ALL SELECT MIN(last_active_at) FROM machines WHERE account_id = ?1)""#;
    assert_eq!(misplaced(hub, mixed).len(), 1);
    // Another object file's table, and the same own statement in a file with no allowance.
    assert_eq!(misplaced(hub, r#""SELECT at AS s FROM timers WHERE name = ?""#).len(), 1);
    assert_eq!(misplaced("src/realtime/lobby.rs", own).len(), 2);
    assert!(misplaced("src/db/sessions.rs", d1).is_empty());
}

#[test]
fn reads_the_tables_a_statement_names() {
    for (sql, expected) in [
        ("DELETE FROM tickets WHERE secret = ? AND expires_at > ? RETURNING secret", &["tickets"][..]),
        ("INSERT INTO wakes (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1", &["wakes"]),
        ("UPDATE OR REPLACE remotes SET meta = ? WHERE id = ?", &["remotes"]),
        (
            "SELECT a.size FROM session_attachments a JOIN sessions s ON s.id = a.session_id",
            &["session_attachments", "sessions"],
        ),
        ("SELECT * FROM ring AS r, main.machines m, tickets WHERE r.seq = 1", &["ring", "machines", "tickets"]),
        ("SELECT MIN(t) FROM (SELECT seq AS t FROM ring)", &["ring"]),
        ("SELECT 1 AS ok", &[]),
    ] {
        assert_eq!(tables(sql), expected, "{sql}");
    }
}

#[test]
fn allowed_tables_are_not_d1_tables() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut d1 = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read migrations/") {
        let sql = std::fs::read_to_string(entry.expect("read a migration").path()).unwrap().to_ascii_lowercase();
        let words: Vec<&str> = sql.split_whitespace().collect();
        let created = words.windows(3).filter(|w| w[0] == "create" && w[1] == "table").map(|w| w[2]);
        d1.extend(created.map(|t| t.trim_end_matches('(').to_string()));
    }
    assert!(d1.iter().any(|t| t == "sessions"), "no D1 table read from migrations/");
    for (file, tables) in ALLOWED {
        for table in *tables {
            assert!(!d1.iter().any(|t| t == table), "{file} may not name D1's table {table}");
        }
    }
}
