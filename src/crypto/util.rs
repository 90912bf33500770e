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

/// Unpadded base64url, decoded as jose decodes a JWS (padding refused, the spare bits of the last
/// character ignored), so every token the Node server accepts is accepted. The base64 crate
/// decodes the same (a test compares them) in a 3.2 KB generic function that every isolate's
/// first token check compiled (bench/RESULTS.md, "cold requests").
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    }
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.as_bytes().chunks(4) {
        let mut bits = 0u32;
        for &c in chunk {
            bits = bits << 6 | sextet(c)?;
        }
        // A short last chunk of n characters holds n - 1 whole bytes, at the top of its bits.
        let bytes = (bits << (6 * (4 - chunk.len()))).to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
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
    fn b64url_decodes_as_the_base64_crate_with_jose_settings() {
        use base64::alphabet::URL_SAFE;
        use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
        let jose = GeneralPurpose::new(
            &URL_SAFE,
            GeneralPurposeConfig::new()
                .with_decode_padding_mode(DecodePaddingMode::RequireNone)
                .with_decode_allow_trailing_bits(true),
        );
        let mut cases: Vec<String> = [
            "", "A", "AA", "AAA", "AAAA", "AB", "AF", "_-", "a=", "a+b/", "ab cd", "Zm9v", "Zm9vYg", "Zm9vYmE", "AP8",
            "AP9", "éé",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Random bytes of every length up to 59, and each encoding with its last character bumped
        // (the spare bits jose ignores).
        for n in 0..60 {
            let encoded = URL_SAFE_NO_PAD.encode(&random_bytes::<60>()[..n]);
            let mut bumped = encoded.clone().into_bytes();
            if let Some(last) = bumped.last_mut() {
                *last = if *last == b'A' { b'B' } else { b'A' };
            }
            cases.push(String::from_utf8(bumped).unwrap());
            cases.push(encoded);
        }
        for case in cases {
            assert_eq!(b64url_decode(&case), jose.decode(&case).ok(), "{case:?}");
        }
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
