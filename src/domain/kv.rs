//! KV inputs: keys, opaque values, and mutation batches, checked before anything is written.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::text::{payload, Text};
use crate::error::{ApiError, ApiResult};

pub const MAX_KEY_CHARS: usize = 256;
pub const MAX_VALUE_BYTES: usize = 256 * 1024;
pub const MAX_BATCH: usize = 100;

/// The version a mutation expects for a key that does not exist yet.
pub const ABSENT: i64 = -1;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct Mutation {
    pub key: String,
    /// `null` deletes.
    pub value: Option<String>,
    pub version: i64,
}

pub fn key(value: &str) -> ApiResult<&str> {
    Ok(Text::parse("key", value, MAX_KEY_CHARS)?.as_str())
}

/// 1..=100 keys, each valid.
pub fn keys(keys: &[String]) -> ApiResult<()> {
    if keys.is_empty() || keys.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!("keys must hold 1..{MAX_BATCH} keys")));
    }
    keys.iter().try_for_each(|k| key(k).map(|_| ()))
}

/// 1..=100 mutations of distinct valid keys, versions -1 or above.
pub fn mutations(batch: &[Mutation]) -> ApiResult<()> {
    if batch.is_empty() || batch.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!("mutations must hold 1..{MAX_BATCH} items")));
    }
    let mut seen = HashSet::new();
    for m in batch {
        key(&m.key)?;
        if !seen.insert(m.key.as_str()) {
            return Err(ApiError::bad_request(format!("key {} appears twice", m.key)));
        }
        if m.version < ABSENT || m.version > i64::from(u32::MAX) {
            return Err(ApiError::bad_request("version must be -1 (new key) or a current version"));
        }
        if let Some(v) = &m.value {
            payload("value", v, MAX_VALUE_BYTES)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(key: &str, value: Option<&str>, version: i64) -> Mutation {
        Mutation { key: key.into(), value: value.map(Into::into), version }
    }

    #[test]
    fn accepts_a_normal_batch() {
        assert!(mutations(&[m("a", Some("x"), -1), m("b", None, 3)]).is_ok());
    }

    #[test]
    fn rejects_bad_batches() {
        assert_eq!(mutations(&[]).unwrap_err().status, 400);
        let many: Vec<_> = (0..101).map(|i| m(&format!("k{i}"), Some("v"), -1)).collect();
        assert_eq!(mutations(&many).unwrap_err().status, 400);
        assert_eq!(mutations(&[m("a", None, -1), m("a", None, 0)]).unwrap_err().status, 400);
        assert_eq!(mutations(&[m("", None, -1)]).unwrap_err().status, 400);
        assert_eq!(mutations(&[m("a", None, -2)]).unwrap_err().status, 400);
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        assert_eq!(mutations(&[m("a", Some(&big), -1)]).unwrap_err().status, 413);
        assert_eq!(keys(&[]).unwrap_err().status, 400);
        assert_eq!(keys(&["k".repeat(MAX_KEY_CHARS + 1)]).unwrap_err().status, 400);
    }
}
