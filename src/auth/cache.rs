//! Per-isolate memory: verified tokens (so steady-state requests skip the signature check) and
//! the revoked token ids synced from D1 every few seconds (so revocation reaches every isolate
//! without a query per request). A token's first check reads its own revocation, so the list
//! holds only what was revoked since the isolate's first check, not every logout ever.

use std::collections::{HashMap, HashSet};

/// How often an isolate pulls new revocations from D1.
pub const REVOCATION_SYNC_MS: i64 = 5_000;

/// How far before its last read a sync reads again: a revocation's time is taken before its
/// insert commits, on another machine's clock.
pub const LATE_WRITE_MS: i64 = 60_000;

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

/// Revoked `jti`s known to this isolate, and when it last read them.
#[derive(Default)]
pub struct RevocationList {
    revoked: HashSet<String>,
    synced_at: Option<i64>,
}

impl RevocationList {
    /// Follows revocations from `now` on, unless already following: the tokens cached so far
    /// were each checked against the table when verified.
    pub fn start(&mut self, now: i64) {
        self.synced_at.get_or_insert(now);
    }
    /// The `revoked_at` to read from, when a sync is due.
    pub fn due(&self, now: i64) -> Option<i64> {
        match self.synced_at {
            None => Some(0),
            Some(t) if now - t >= REVOCATION_SYNC_MS || now < t => Some(t - LATE_WRITE_MS),
            Some(_) => None,
        }
    }
    pub fn apply(&mut self, jtis: impl IntoIterator<Item = String>, now: i64) {
        self.revoked.extend(jtis);
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
    fn revocations_follow_from_the_first_check_with_a_margin() {
        let mut r = RevocationList::default();
        assert_eq!(r.due(1_000_000), Some(0), "never checked: read everything");
        r.start(1_000_000);
        r.start(1_000_500);
        assert_eq!(r.due(1_000_000 + REVOCATION_SYNC_MS - 1), None);
        assert_eq!(r.due(1_000_000 + REVOCATION_SYNC_MS), Some(1_000_000 - LATE_WRITE_MS), "from the first check");
        r.apply(vec!["j1".to_string(), "j2".to_string()], 1_010_000);
        assert_eq!(r.due(1_010_000 + REVOCATION_SYNC_MS), Some(1_010_000 - LATE_WRITE_MS));
        assert_eq!(r.due(1_009_000), Some(1_010_000 - LATE_WRITE_MS), "a clock that went back syncs");
        assert!(r.is_revoked("j1") && r.is_revoked("j2") && !r.is_revoked("j3"));
        r.revoke_locally("j3");
        assert!(r.is_revoked("j3"));
    }
}
