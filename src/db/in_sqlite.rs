//! Tests run D1's statements in SQLite (python3's module, as the test setup needs python3
//! anyway for schemathesis) over every migration: what they return, and how SQLite plans them.

use serde_json::Value;

use super::{Arg, Statement};

/// Each statement's rows when `statements` run in order over every migration and `inserts`;
/// with `explain`, each statement's query plan instead (`EXPLAIN QUERY PLAN`, one row a step).
pub(crate) fn run(inserts: &str, statements: &[Statement], explain: bool) -> Vec<Vec<Vec<Value>>> {
    // Every migration, in the order wrangler applies them (by file name).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let migrations: Vec<String> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "sql"))
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let setup = format!("{}\n{inserts}", migrations.join("\n"));
    let script = "import json, sqlite3, sys\nc = sqlite3.connect(':memory:')\nc.executescript(sys.argv[1])\n\
                  p = sys.argv[3]\n\
                  print(json.dumps([c.execute(p + s['sql'], s['args']).fetchall() for s in json.loads(sys.argv[2])]))";
    let prefix = if explain { "EXPLAIN QUERY PLAN " } else { "" };
    let out = std::process::Command::new("python3")
        .args(["-c", script, &setup, &serde_json::to_string(statements).unwrap(), prefix])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The steps of one statement's plan, as SQLite words them.
pub(crate) fn steps(plan: &[Vec<Value>]) -> impl Iterator<Item = &str> {
    plan.iter().filter_map(|s| s.last()?.as_str())
}

/// The first row of `sql` over `args` (its columns as JSON), over every migration and `inserts`.
pub(crate) fn first_row(inserts: &str, sql: &str, args: &[Arg]) -> Vec<Value> {
    let statement = Statement { sql: sql.to_string(), args: args.to_vec() };
    run(inserts, &[statement], false).remove(0).into_iter().next().expect("a row")
}
