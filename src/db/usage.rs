//! Usage reports: the upsert behind the socket `usage-report` event, and the aggregation behind
//! POST /v1/usage/query.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{sessions, Db, Statement};
use crate::args;
use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::domain::text::Text;
use crate::domain::usage::{counters, number, report_key, GroupBy};
use crate::error::ApiResult;
use crate::events::{self, Outbox, Recipients};

pub const MAX_SESSION_ID_CHARS: usize = 128;

/// A usage report as stored.
#[derive(Deserialize)]
pub struct Report {
    pub id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Stores a usage report, replacing the previous one for the same (account, session, key): the
/// CLI reports running totals. Returns the stored report (for the socket's ack) and, when a
/// session is named, the `usage` ephemeral to publish.
/// Bad input is a 400, a session that is not the caller's a 404 `Session not found` (ack either
/// as `{success:false, error}`).
pub async fn record_usage(
    db: &Db,
    user_id: &str,
    session_id: Option<&str>,
    key: &str,
    tokens: &Value,
    cost: &Value,
) -> ApiResult<(Report, Outbox)> {
    report_key(key)?;
    counters("tokens", tokens)?;
    counters("cost", cost)?;
    if let Some(sid) = session_id {
        Text::parse("sessionId", sid, MAX_SESSION_ID_CHARS)?;
    }
    let now = now_ms();
    // A named session must be the caller's live one; checked in the same statement.
    let report: Report = db
        .first(
            "INSERT INTO usage_reports (id, account_id, session_id, key, tokens, cost, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7
             WHERE ?3 IS NULL OR EXISTS (SELECT 1 FROM sessions WHERE account_id = ?2 AND id = ?3 AND deleted_at IS NULL)
             ON CONFLICT (account_id, COALESCE(session_id, ''), key)
             DO UPDATE SET tokens = excluded.tokens, cost = excluded.cost, updated_at = excluded.updated_at
             RETURNING id, created_at, updated_at",
            args![uuid_v4(), user_id, session_id, key, tokens.to_string(), cost.to_string(), now],
        )
        .await?
        .ok_or_else(sessions::not_found)?;
    let outbox = match session_id {
        Some(sid) => Outbox::default().ephemeral(events::usage::usage(sid, key, tokens, cost, now), Recipients::User),
        None => Outbox::default(),
    };
    Ok((report, outbox))
}

pub struct UsageQuery<'a> {
    pub session_id: Option<&'a str>,
    /// UNIX seconds, inclusive.
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub group_by: GroupBy,
}

/// The buckets in ascending time (UTC hours or days), counters summed per name within a bucket.
pub async fn query_usage(db: &Db, user_id: &str, q: &UsageQuery<'_>) -> ApiResult<Vec<Bucket>> {
    if let Some(sid) = q.session_id {
        sessions::get(db, user_id, sid).await?.ok_or_else(sessions::not_found)?;
    }
    #[derive(Deserialize)]
    struct Row {
        bucket: i64,
        kind: String,
        name: String,
        total: f64,
    }
    let statement = usage_statement(user_id, q);
    let rows: Vec<Row> = db.all(&statement.sql, &statement.args).await?;
    Ok(aggregate(rows.into_iter().map(|r| (r.bucket, r.kind, r.name, r.total))))
}

/// [`query_usage`]'s statement. The time range is written only when given, as a range SQLite
/// looks up in `(account_id, created_at)`; written as `?4 IS NULL OR created_at >= ?4` it
/// narrowed nothing, and every query read all of the account's reports.
fn usage_statement(user_id: &str, q: &UsageQuery<'_>) -> Statement {
    // An absent bound keeps its parameter in a constant term: the statement binds all five.
    let start = if q.start.is_some() { "created_at >= ?4" } else { "?4 IS NULL" };
    let end = if q.end.is_some() { "created_at <= ?5" } else { "?5 IS NULL" };
    Statement {
        sql: format!(
            "WITH r AS (
                SELECT (created_at / 1000 / ?2) * ?2 AS bucket, tokens, cost FROM usage_reports
                WHERE account_id = ?1 AND (?3 IS NULL OR session_id = ?3) AND {start} AND {end})
             SELECT bucket, 'count' AS kind, '' AS name, COUNT(*) AS total FROM r GROUP BY bucket
             UNION ALL
             SELECT bucket, 'tokens', j.key, SUM(j.value) FROM r, json_each(r.tokens) j
               WHERE j.type IN ('integer', 'real') GROUP BY bucket, j.key
             UNION ALL
             SELECT bucket, 'cost', j.key, SUM(j.value) FROM r, json_each(r.cost) j
               WHERE j.type IN ('integer', 'real') GROUP BY bucket, j.key"
        ),
        args: args![
            user_id,
            q.group_by.seconds(),
            q.session_id,
            q.start.map(|s| s * 1000),
            q.end.map(|s| s * 1000 + 999)
        ]
        .to_vec(),
    }
}

/// One time bucket: its start (UNIX seconds), the summed counters, and how many reports.
#[derive(Debug, Default, PartialEq)]
pub struct Bucket {
    pub timestamp: i64,
    pub tokens: Map<String, Value>,
    pub cost: Map<String, Value>,
    pub count: i64,
}

fn aggregate(rows: impl Iterator<Item = (i64, String, String, f64)>) -> Vec<Bucket> {
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    for (bucket, kind, name, total) in rows {
        let b = buckets.entry(bucket).or_insert_with(|| Bucket { timestamp: bucket, ..Bucket::default() });
        match kind.as_str() {
            "count" => b.count = total as i64,
            "tokens" => {
                b.tokens.insert(name, number(total));
            }
            _ => {
                b.cost.insert(name, number(total));
            }
        }
    }
    buckets.into_values().collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::db::in_sqlite;

    #[test]
    fn aggregates_rows_into_sorted_buckets() {
        let rows = vec![
            (7200, "count".to_string(), String::new(), 1.0),
            (3600, "count".to_string(), String::new(), 2.0),
            (3600, "tokens".to_string(), "total".to_string(), 30.0),
            (3600, "cost".to_string(), "total".to_string(), 0.75),
            (7200, "tokens".to_string(), "total".to_string(), 5.0),
        ];
        let counters = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            aggregate(rows.into_iter()),
            vec![
                Bucket {
                    timestamp: 3600,
                    tokens: counters(json!({"total": 30})),
                    cost: counters(json!({"total": 0.75})),
                    count: 2
                },
                Bucket { timestamp: 7200, tokens: counters(json!({"total": 5})), cost: Map::new(), count: 1 },
            ]
        );
        assert_eq!(aggregate(std::iter::empty()), vec![]);
    }

    #[test]
    fn a_usage_query_reads_only_its_time_range() {
        // Reports at 1, 2, ..., 6 hours, one bucket each; a range keeps the buckets within it.
        let inserts: String = (1..=6)
            .map(|h| {
                format!(
                    "INSERT INTO usage_reports (id, account_id, session_id, key, tokens, cost, created_at, updated_at)
                     VALUES ('r{h}', 'a', NULL, 'k{h}', '{{\"total\":10}}', '{{}}', {}, 1);",
                    h * 3_600_000
                )
            })
            .collect();
        let query = |start, end| UsageQuery { session_id: None, start, end, group_by: GroupBy::Hour };
        let statements = [
            usage_statement("a", &query(Some(7200), Some(14_400))),
            usage_statement("a", &query(None, None)),
            usage_statement("a", &query(Some(7200), None)),
            usage_statement("a", &query(None, Some(7200))),
        ];
        let counts = |rows: &Vec<Vec<Value>>| rows.iter().filter(|r| r[1] == "count").count();
        let found = in_sqlite::run(&inserts, &statements, false);
        assert_eq!(found.iter().map(counts).collect::<Vec<_>>(), [3, 6, 5, 2]);
        let plans = in_sqlite::run("", &statements[..1], true);
        let plan: Vec<&str> = in_sqlite::steps(&plans[0]).collect();
        assert!(plan.iter().any(|s| s.contains("(account_id=? AND created_at>? AND created_at<?)")), "{plan:?}");
    }
}
