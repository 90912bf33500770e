//! Voice conversations (`voice_conversations`): each start charges seconds against the
//! account's monthly allowance.

use serde::Deserialize;

use super::{changes, first_row, Db};
use crate::args;
use crate::error::ApiResult;

#[derive(Deserialize)]
struct UsedRow {
    used: i64,
}

const USED_THIS_MONTH: &str =
    "SELECT coalesce(sum(seconds), 0) AS used FROM voice_conversations WHERE account_id = ?1 AND created_at >= ?2";

/// A conversation to charge: `seconds` at `now`, against `limit` seconds used since `since`.
pub struct NewCharge<'a> {
    pub id: &'a str,
    pub agent_id: &'a str,
    pub seconds: i64,
    pub now: i64,
    pub since: i64,
    pub limit: i64,
}

/// What a charge did; `used` is the seconds used since `since` before it.
pub enum Charge {
    Charged { used: i64 },
    OverLimit { used: i64 },
}

/// Records the conversation only if its seconds fit, decided inside the insert: concurrent
/// starts cannot overdraw the allowance.
pub async fn charge(db: &Db, user_id: &str, c: &NewCharge<'_>) -> ApiResult<Charge> {
    let results = db
        .batch(vec![
            db.stmt(
                &format!(
                    "INSERT INTO voice_conversations (id, account_id, agent_id, seconds, created_at)
                     SELECT ?3, ?1, ?4, ?5, ?6 WHERE ({USED_THIS_MONTH}) + ?5 <= ?7"
                ),
                args![user_id, c.since, c.id, c.agent_id, c.seconds, c.now, c.limit],
            )?,
            db.stmt(&format!("{USED_THIS_MONTH} AND id != ?3"), args![user_id, c.since, c.id])?,
        ])
        .await?;
    let used = first_row::<UsedRow>(&results[1])?.map_or(0, |r| r.used);
    Ok(if changes(&results[0]) == 0 { Charge::OverLimit { used } } else { Charge::Charged { used } })
}

/// Gives back the charge of a conversation that did not happen (`id` was minted by the caller).
pub async fn refund(db: &Db, user_id: &str, id: &str) -> ApiResult<()> {
    db.run("DELETE FROM voice_conversations WHERE id = ?1 AND account_id = ?2", args![id, user_id]).await?;
    Ok(())
}

/// Seconds the account used since `since` (ms).
pub async fn used_since(db: &Db, user_id: &str, since: i64) -> ApiResult<i64> {
    let used: Option<UsedRow> = db.first(USED_THIS_MONTH, args![user_id, since]).await?;
    Ok(used.map_or(0, |r| r.used))
}
