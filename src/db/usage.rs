//! Usage reports: the upsert behind the socket `usage-report` event, and the aggregation behind
//! POST /v1/usage/query.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{sessions, Db};
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
    let rows: Vec<Row> = db
        .all(
            "WITH r AS (
                SELECT (created_at / 1000 / ?2) * ?2 AS bucket, tokens, cost FROM usage_reports
                WHERE account_id = ?1 AND (?3 IS NULL OR session_id = ?3)
                  AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR created_at <= ?5))
             SELECT bucket, 'count' AS kind, '' AS name, COUNT(*) AS total FROM r GROUP BY bucket
             UNION ALL
             SELECT bucket, 'tokens', j.key, SUM(j.value) FROM r, json_each(r.tokens) j
               WHERE j.type IN ('integer', 'real') GROUP BY bucket, j.key
             UNION ALL
             SELECT bucket, 'cost', j.key, SUM(j.value) FROM r, json_each(r.cost) j
               WHERE j.type IN ('integer', 'real') GROUP BY bucket, j.key",
            args![
                user_id,
                q.group_by.seconds(),
                q.session_id,
                q.start.map(|s| s * 1000),
                q.end.map(|s| s * 1000 + 999)
            ],
        )
        .await?;
    Ok(aggregate(rows.into_iter().map(|r| (r.bucket, r.kind, r.name, r.total))))
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
}
