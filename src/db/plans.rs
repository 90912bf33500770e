//! Plans and their limits. Accounts name a plan (`accounts.plan`, default 'basic'); the rows are
//! seeded by migration 0005.

use serde::Deserialize;

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

/// A plan as GET /v1/plans lists it.
pub struct Plan {
    pub name: String,
    pub limits: PlanLimits,
}

/// Every plan, in display order.
pub async fn list(db: &Db) -> ApiResult<Vec<Plan>> {
    // Flat: serde's `flatten` would buffer D1's numbers as floats, which i64 fields refuse.
    #[derive(Deserialize)]
    struct Row {
        plan: String,
        name: String,
        devices_per_account: i64,
        ws_connections_per_user: i64,
        upload_bytes_per_account: i64,
    }
    let rows: Vec<Row> = db
        .all(
            "SELECT id AS plan, name, devices_per_account, ws_connections_per_user, upload_bytes_per_account
             FROM plans ORDER BY sort_order, id",
            &[],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Plan {
            name: r.name,
            limits: PlanLimits {
                plan: r.plan,
                devices_per_account: r.devices_per_account,
                ws_connections_per_user: r.ws_connections_per_user,
                upload_bytes_per_account: r.upload_bytes_per_account,
            },
        })
        .collect())
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
