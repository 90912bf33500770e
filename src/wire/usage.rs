//! Usage bodies: POST /v1/usage/query and the `usage-report` ack.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::db::usage::{Bucket, Report};
use crate::domain::usage::GroupBy;

/// The `usage` ephemeral (docs/protocol.md#ephemerals), for a usage report that names a
/// session: its tokens and cost as the report gave them.
#[derive(Serialize)]
#[serde(tag = "type", rename = "usage")]
pub struct UsageEphemeral<'a> {
    pub id: &'a str,
    pub key: &'a str,
    pub tokens: &'a Value,
    pub cost: &'a Value,
    pub timestamp: i64,
}

/// One time bucket; `timestamp` in UNIX seconds, counters summed per name.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageBucket {
    pub timestamp: i64,
    pub tokens: Map<String, Value>,
    pub cost: Map<String, Value>,
    pub report_count: i64,
}

impl From<Bucket> for UsageBucket {
    fn from(b: Bucket) -> Self {
        UsageBucket { timestamp: b.timestamp, tokens: b.tokens, cost: b.cost, report_count: b.count }
    }
}

/// POST /v1/usage/query.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageTotals {
    pub usage: Vec<UsageBucket>,
    pub group_by: GroupBy,
    pub total_reports: i64,
}

impl UsageTotals {
    pub fn new(buckets: Vec<Bucket>, group_by: GroupBy) -> Self {
        let total_reports = buckets.iter().map(|b| b.count).sum();
        UsageTotals { usage: buckets.into_iter().map(Into::into).collect(), group_by, total_reports }
    }
}

/// POST /v1/usage/query's body; times in UNIX seconds.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryBody {
    pub session_id: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    /// Parsed by `GroupBy::parse`, whose 400 names the choices.
    #[schemars(with = "Option<GroupBy>")]
    pub group_by: Option<String>,
}

/// The `usage-report` ack.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReported {
    pub success: bool,
    pub report_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Report> for UsageReported {
    fn from(r: Report) -> Self {
        UsageReported { success: true, report_id: r.id, created_at: r.created_at, updated_at: r.updated_at }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, request_schema, response_schema};

    fn counters(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn totals() -> UsageTotals {
        let buckets = vec![
            Bucket {
                timestamp: 3600,
                tokens: counters(json!({"total": 30})),
                cost: counters(json!({"total": 0.75})),
                count: 2,
            },
            Bucket { timestamp: 7200, tokens: counters(json!({"total": 5})), cost: Map::new(), count: 1 },
        ];
        UsageTotals::new(buckets, GroupBy::Hour)
    }

    /// The typed bodies serialize to the very bytes the `json!` bodies they replace did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        assert_eq!(
            to_string(&totals()).unwrap(),
            json!({"usage": [
                {"timestamp": 3600, "tokens": {"total": 30}, "cost": {"total": 0.75}, "reportCount": 2},
                {"timestamp": 7200, "tokens": {"total": 5}, "cost": {}, "reportCount": 1}
            ], "groupBy": "hour", "totalReports": 3})
            .to_string()
        );
        assert_eq!(
            to_string(&UsageTotals::new(vec![], GroupBy::Day)).unwrap(),
            json!({"usage": [], "groupBy": "day", "totalReports": 0}).to_string()
        );
        let report = Report { id: "r1".into(), created_at: 5, updated_at: 6 };
        assert_eq!(
            to_string(&UsageReported::from(report)).unwrap(),
            json!({"success": true, "reportId": "r1", "createdAt": 5, "updatedAt": 6}).to_string()
        );
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        conforms(&response_schema::<UsageTotals>(), &to_value(totals()).unwrap()).unwrap();
        let bad = json!({"usage": [], "groupBy": "week", "totalReports": 0});
        assert!(conforms(&response_schema::<UsageTotals>(), &bad).is_err());
        let query = json!({"sessionId": null, "startTime": 1, "groupBy": "hour"});
        conforms(&request_schema::<QueryBody>(), &query).unwrap();
        assert!(conforms(&request_schema::<QueryBody>(), &json!({"groupBy": "week"})).is_err());
    }
}
