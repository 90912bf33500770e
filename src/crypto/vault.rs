//! Server-held secrets at rest (vendor API keys, the GitHub OAuth token): sealed with the
//! secretbox scheme under a key derived from `HAPPY_MASTER_SECRET` and the secret's path,
//! stored as base64 text. Derived keys are cached per isolate, bounded.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use worker::Env;

use super::secretbox::{master_key, open, path_key, seal};
use super::util::random_bytes;
use crate::auth::keys::master_secret;
use crate::error::ApiResult;

/// As the TypeScript worker: up to 1000 derived keys per isolate.
const CACHE_CAPACITY: usize = 1000;

thread_local! {
    static KEYS: RefCell<KeyCache> = RefCell::new(KeyCache::new(CACHE_CAPACITY));
}

/// Path → derived key, evicting the oldest entry when full.
pub struct KeyCache {
    capacity: usize,
    keys: HashMap<String, [u8; 32]>,
    order: VecDeque<String>,
}

impl KeyCache {
    pub fn new(capacity: usize) -> Self {
        KeyCache { capacity, keys: HashMap::new(), order: VecDeque::new() }
    }

    pub fn get_or_derive(&mut self, path: &str, derive: impl FnOnce() -> [u8; 32]) -> [u8; 32] {
        if let Some(k) = self.keys.get(path) {
            return *k;
        }
        if self.keys.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.keys.remove(&oldest);
            }
        }
        let key = derive();
        self.keys.insert(path.to_string(), key);
        self.order.push_back(path.to_string());
        key
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn key(env: &Env, path: &[&str]) -> ApiResult<[u8; 32]> {
    let secret = master_secret(env)?;
    Ok(KEYS.with(|c| c.borrow_mut().get_or_derive(&path.join("/"), || path_key(&master_key(&secret), path))))
}

/// base64(nonce ‖ secretbox(plaintext)).
pub fn seal_string(env: &Env, path: &[&str], plaintext: &str) -> ApiResult<String> {
    Ok(STANDARD.encode(seal(&key(env, path)?, &random_bytes::<24>(), plaintext.as_bytes())))
}

/// `None` when the blob does not open: not base64, tampered, or sealed under another master
/// secret (rotating the secret invalidates stored tokens).
pub fn open_string(env: &Env, path: &[&str], sealed: &str) -> ApiResult<Option<String>> {
    let key = key(env, path)?;
    Ok(STANDARD.decode(sealed).ok().and_then(|blob| open(&key, &blob)).and_then(|p| String::from_utf8(p).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded_and_evicts_the_oldest() {
        let mut c = KeyCache::new(2);
        let mut derived = 0;
        for path in ["a", "b", "a", "c", "a"] {
            c.get_or_derive(path, || {
                derived += 1;
                [derived as u8; 32]
            });
        }
        // a, b derived; a hit; c evicts a; a derived again (evicting b).
        assert_eq!(derived, 4);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get_or_derive("c", || [0; 32]), [3; 32]);
    }
}
