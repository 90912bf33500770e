//! Plans and their limits. Accounts name a plan (`accounts.plan`, default 'basic'); the rows are
//! seeded by migration 0005.

use serde::{Deserialize, Serialize};

use super::Db;
use crate::args;
use crate::error::ApiResult;

/// One plan's limits, as teammates enforce them (realtime connections, upload quota) and as
/// GET /v1/plans shows them.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PlanLimits {
    pub plan: String,
    pub devices_per_account: i64,
    pub ws_connections_per_user: i64,
    pub upload_bytes_per_account: i64,
}

/// The wire shape of a plan's limits.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitsWire {
    pub devices_per_account: i64,
    pub ws_connections_per_user: i64,
    pub upload_bytes_per_account: i64,
}

impl PlanLimits {
    pub fn wire(&self) -> LimitsWire {
        LimitsWire {
            devices_per_account: self.devices_per_account,
            ws_connections_per_user: self.ws_connections_per_user,
            upload_bytes_per_account: self.upload_bytes_per_account,
        }
    }
}

/// SQL for one limit column of the plan of the account `account_expr` (an SQL expression), for
/// guards that check the limit in the same statement as the insert.
fn limit_sql(column: &str, account_expr: &str) -> String {
    format!("(SELECT {column} FROM plans WHERE id IN ((SELECT plan FROM accounts WHERE id = {account_expr}), 'basic') ORDER BY id = 'basic' LIMIT 1)")
}

pub fn device_limit_sql(account_expr: &str) -> String {
    limit_sql("devices_per_account", account_expr)
}

pub fn upload_limit_sql(account_expr: &str) -> String {
    limit_sql("upload_bytes_per_account", account_expr)
}

/// The limits of the user's plan; an account naming an unknown plan gets 'basic'.
pub async fn plan_limits(db: &Db, user_id: &str) -> ApiResult<PlanLimits> {
    // The account's own plan sorts first (`id = 'basic'` is 0 for it), 'basic' is the fallback.
    let row: Option<PlanLimits> = db
        .first(
            "SELECT id AS plan, devices_per_account, ws_connections_per_user, upload_bytes_per_account FROM plans
             WHERE id IN ((SELECT plan FROM accounts WHERE id = ?1), 'basic') ORDER BY id = 'basic' LIMIT 1",
            args![user_id],
        )
        .await?;
    row.ok_or_else(|| crate::error::ApiError::internal("plans are not seeded"))
}
