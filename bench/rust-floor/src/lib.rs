//! The bench's Rust floor: bench/src/server.rs's empty JavaScript worker, route for route, in
//! workers-rs as its documentation writes a worker (`#[event(fetch)]`, `Env::d1`, typed rows,
//! `Response::from_json`). A fresh isolate's first request here is what any workers-rs worker
//! pays for the same D1 work; what ours costs beyond it is ours.

use serde::{Deserialize, Serialize};
use worker::{event, Context, Env, Request, Response, Result};

#[derive(Deserialize, Serialize)]
struct One {
    one: i64,
}

#[derive(Deserialize, Serialize)]
struct Count {
    n: i64,
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let url = req.url()?;
    match url.path() {
        // ?n=3: as many D1 round trips, one after another.
        "/read" => {
            let n = url.query_pairs().find(|(k, _)| k == "n").and_then(|(_, v)| v.parse().ok()).unwrap_or(1);
            let db = env.d1("DB")?;
            let mut row = None;
            for _ in 0..n {
                row = db.prepare("SELECT 1 AS one").first::<One>(None).await?;
            }
            Response::from_json(&row)
        }
        "/write" => {
            let id = req.headers().get("x-id")?.unwrap_or_else(|| "a".into());
            let db = env.d1("DB")?;
            let results = db
                .batch(vec![
                    db.prepare("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, n INTEGER)"),
                    db.prepare(
                        "INSERT INTO t (id, n) VALUES (?, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1 RETURNING n",
                    )
                    .bind(&[id.into()])?,
                ])
                .await?;
            let rows: Vec<Count> = results.get(1).map(|r| r.results()).transpose()?.unwrap_or_default();
            Response::from_json(&rows)
        }
        _ => Response::ok("ok"),
    }
}
