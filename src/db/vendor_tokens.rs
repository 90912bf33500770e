//! `vendor_tokens`: AI vendor API keys, one per (account, vendor), sealed (D1 never holds the
//! plaintext; see `crate::crypto::vault`).

use serde::Deserialize;

use super::Db;
use crate::args;
use crate::config::now_ms;
use crate::error::{ApiError, ApiResult};

pub const VENDORS: [&str; 3] = ["openai", "anthropic", "gemini"];

/// A vendor of the path, or 400.
pub fn vendor(name: &str) -> ApiResult<&'static str> {
    VENDORS
        .into_iter()
        .find(|v| *v == name)
        .ok_or_else(|| ApiError::bad_request("vendor must be one of openai, anthropic, gemini"))
}

/// The key path a vendor token is sealed under.
pub fn key_path<'a>(user_id: &'a str, vendor: &'a str) -> [&'a str; 5] {
    ["user", user_id, "vendors", vendor, "token"]
}

#[derive(Deserialize)]
pub struct SealedToken {
    pub vendor: String,
    pub token: String,
}

pub async fn upsert(db: &Db, user_id: &str, vendor: &str, sealed: &str) -> ApiResult<()> {
    db.run(
        "INSERT INTO vendor_tokens (account_id, vendor, token, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT(account_id, vendor) DO UPDATE SET token = excluded.token, updated_at = excluded.updated_at",
        args![user_id, vendor, sealed, now_ms()],
    )
    .await?;
    Ok(())
}

pub async fn get(db: &Db, user_id: &str, vendor: &str) -> ApiResult<Option<SealedToken>> {
    db.first("SELECT vendor, token FROM vendor_tokens WHERE account_id = ?1 AND vendor = ?2", args![user_id, vendor])
        .await
}

/// Whether a token was there to delete.
pub async fn delete(db: &Db, user_id: &str, vendor: &str) -> ApiResult<bool> {
    Ok(db.run("DELETE FROM vendor_tokens WHERE account_id = ?1 AND vendor = ?2", args![user_id, vendor]).await? > 0)
}

pub async fn list(db: &Db, user_id: &str) -> ApiResult<Vec<SealedToken>> {
    db.all("SELECT vendor, token FROM vendor_tokens WHERE account_id = ?1 ORDER BY vendor", args![user_id]).await
}

/// The vendors an account has a token for (`connectedServices` of the profile).
pub async fn connected_services(db: &Db, user_id: &str) -> ApiResult<Vec<String>> {
    #[derive(Deserialize)]
    struct Row {
        vendor: String,
    }
    let rows: Vec<Row> =
        db.all("SELECT vendor FROM vendor_tokens WHERE account_id = ?1 ORDER BY vendor", args![user_id]).await?;
    Ok(rows.into_iter().map(|r| r.vendor).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::secretbox::{master_key, open, path_key, seal};

    #[test]
    fn vendors_are_a_closed_set() {
        assert_eq!(vendor("openai").unwrap(), "openai");
        assert_eq!(vendor("github").unwrap_err().status, 400);
        assert_eq!(vendor("OpenAI").unwrap_err().status, 400);
    }

    /// A token sealed here under the shared vector's secret and path opens with the vector's
    /// derivation, and the vector's blobs open here: the TypeScript worker's data stays readable.
    #[test]
    fn sealed_tokens_follow_the_shared_vector() {
        let raw =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/secretbox-vendor-tokens.json"))
                .unwrap();
        let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let user = v["path"][1].as_str().unwrap();
        let path = key_path(user, "openai");
        let expected: Vec<&str> = v["path"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        assert_eq!(path.to_vec(), expected);
        let key = path_key(&master_key(v["seed"].as_str().unwrap()), &path);
        let blob = seal(&key, &[3u8; 24], b"sk-test-123");
        assert!(!blob.windows(11).any(|w| w == b"sk-test-123"), "no plaintext in the blob");
        assert_eq!(open(&key, &blob).unwrap(), v["decrypted"].as_str().unwrap().as_bytes());
    }
}
