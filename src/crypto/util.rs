//! Randomness, hashing and encodings used across the worker.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

/// In the worker, the runtime's `crypto.getRandomValues` straight into wasm memory (at most 32
/// bytes here; it takes up to 65,536). getrandom's "js" backend first probes for Node
/// (`process`, `versions`, `require`) on every isolate's first request: imports that are
/// JavaScript functions compiled on first call, and more wasm to compile.
#[cfg(target_arch = "wasm32")]
fn fill_random(out: &mut [u8]) {
    use wasm_bindgen::prelude::*;
    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
        fn get_random_values(buf: &mut [u8]);
    }
    get_random_values(out);
}

#[cfg(not(target_arch = "wasm32"))]
fn fill_random(out: &mut [u8]) {
    getrandom::getrandom(out).expect("the platform provides randomness");
}

/// A random UUID v4, lowercase and hyphenated (privacy-kit `jti`, row ids).
pub fn uuid_v4() -> String {
    uuid::Builder::from_random_bytes(random_bytes::<16>()).into_uuid().to_string()
}

/// A random UUID v7 for `now_ms`: ids that sort by creation time (session ids, so the
/// /v2/sessions cursor order is newest first).
pub fn uuid_v7(now_ms: i64) -> String {
    uuid::Builder::from_unix_timestamp_millis(now_ms.max(0) as u64, &random_bytes::<10>()).into_uuid().to_string()
}

/// An unguessable opaque token (tickets, API keys): 32 random bytes, base64url.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex_lower(&Sha256::digest(data))
}

pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

pub fn hex_upper(bytes: &[u8]) -> String {
    hex_lower(bytes).to_ascii_uppercase()
}

pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

pub fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Equality that takes the same time wherever the inputs differ (signatures, API keys).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_v4_lowercase() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(u, u.to_lowercase());
        assert_ne!(u, uuid_v4());
    }

    #[test]
    fn uuid_v7_sorts_by_time() {
        let (a, b) = (uuid_v7(1_750_000_000_000), uuid_v7(1_750_000_000_001));
        assert_eq!(&a[14..15], "7");
        assert!(a < b);
    }

    #[test]
    fn hex_round_trip_and_case() {
        assert_eq!(hex_upper(&[0xab, 0x01]), "AB01");
        assert_eq!(hex_decode("ab01").unwrap(), vec![0xab, 0x01]);
        assert!(hex_decode("abc").is_none());
        assert!(hex_decode("zz").is_none());
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
