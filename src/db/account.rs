//! Account-level reads shared by several routes.

use super::Db;
use crate::error::ApiResult;

/// The AI vendors (`openai`, `anthropic`, `gemini`) the account has registered a token for, for
/// `connectedServices` in GET /v1/account and /v1/account/profile. The `vendor_tokens` table
/// arrives with the connect routes (migration 0004); until then no vendor is connected.
pub async fn connected_services(db: &Db, user_id: &str) -> ApiResult<Vec<String>> {
    let _ = (db, user_id);
    Ok(Vec::new())
}
