//! Per-isolate memory: verified tokens (so steady-state requests skip the signature check) and
//! the revoked token ids synced from D1 every few seconds (so revocation reaches every isolate
//! without a query per request).

use std::collections::{HashMap, HashSet};

/// How often an isolate pulls new revocations from D1.
pub const REVOCATION_SYNC_MS: i64 = 5_000;

#[derive(Clone, Debug, PartialEq)]
pub struct CachedToken {
    pub user_id: String,
    pub jti: Option<String>,
}

/// Bounded map of verified tokens. When full it starts over: simple, O(1), and a miss only
/// costs one signature check.
pub struct VerifiedCache {
    map: HashMap<String, CachedToken>,
    capacity: usize,
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> Self {
        VerifiedCache { map: HashMap::new(), capacity }
    }
    pub fn get(&self, token: &str) -> Option<&CachedToken> {
        self.map.get(token)
    }
    pub fn insert(&mut self, token: String, value: CachedToken) {
        if self.map.len() >= self.capacity {
            self.map.clear();
        }
        self.map.insert(token, value);
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Revoked `jti`s known to this isolate, and how far it has read the D1 table.
#[derive(Default)]
pub struct RevocationList {
    revoked: HashSet<String>,
    synced_at: Option<i64>,
    /// Highest `revoked_at` seen; the next sync reads from here (inclusive, as several
    /// revocations may share a millisecond).
    cursor: i64,
}

impl RevocationList {
    pub fn needs_sync(&self, now: i64) -> bool {
        self.synced_at.is_none_or(|t| now - t >= REVOCATION_SYNC_MS || now < t)
    }
    pub fn cursor(&self) -> i64 {
        self.cursor
    }
    pub fn apply(&mut self, rows: impl IntoIterator<Item = (String, i64)>, now: i64) {
        for (jti, at) in rows {
            self.cursor = self.cursor.max(at);
            self.revoked.insert(jti);
        }
        self.synced_at = Some(now);
    }
    pub fn revoke_locally(&mut self, jti: &str) {
        self.revoked.insert(jti.to_string());
    }
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked.contains(jti)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded() {
        let mut c = VerifiedCache::new(2);
        let v = CachedToken { user_id: "u".into(), jti: None };
        c.insert("a".into(), v.clone());
        c.insert("b".into(), v.clone());
        assert_eq!(c.len(), 2);
        c.insert("c".into(), v);
        assert_eq!(c.len(), 1);
        assert!(c.get("c").is_some());
        assert!(c.get("a").is_none());
    }

    #[test]
    fn revocations_sync_on_interval_and_advance_cursor() {
        let mut r = RevocationList::default();
        assert!(r.needs_sync(1000));
        r.apply(vec![("j1".to_string(), 50), ("j2".to_string(), 70)], 1000);
        assert_eq!(r.cursor(), 70);
        assert!(!r.needs_sync(1000 + REVOCATION_SYNC_MS - 1));
        assert!(r.needs_sync(1000 + REVOCATION_SYNC_MS));
        assert!(r.is_revoked("j1") && r.is_revoked("j2") && !r.is_revoked("j3"));
        r.revoke_locally("j3");
        assert!(r.is_revoked("j3"));
    }
}
