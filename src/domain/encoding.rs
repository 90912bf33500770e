//! Base64 inputs and the keys and signatures carried in them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::{ApiError, ApiResult};

/// Standard base64 with padding, as privacy-kit's `decodeBase64` accepts it: no URL alphabet,
/// no whitespace.
pub fn b64_decode(field: &str, value: &str) -> ApiResult<Vec<u8>> {
    STANDARD.decode(value).map_err(|_| ApiError::bad_request(format!("{field} is not valid base64")))
}

/// A base64 field that must decode to exactly `N` bytes.
pub fn b64_fixed<const N: usize>(field: &str, value: &str) -> ApiResult<[u8; N]> {
    b64_decode(field, value)?.try_into().map_err(|_| ApiError::bad_request(format!("{field} must be {N} bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_privacy_kit_decode_base64() {
        assert_eq!(b64_decode("x", "AAAA").unwrap(), vec![0, 0, 0]);
        assert_eq!(b64_decode("x", "AA==").unwrap(), vec![0]);
        assert_eq!(b64_decode("x", "+/8=").unwrap(), vec![0xfb, 0xff]);
        assert!(b64_decode("x", "AAA").is_err());
        assert!(b64_decode("x", "-_8=").is_err());
        assert!(b64_decode("x", "AA==\n").is_err());
    }

    #[test]
    fn fixed_length_is_enforced() {
        assert!(b64_fixed::<1>("k", "AA==").is_ok());
        let e = b64_fixed::<32>("publicKey", "AA==").unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.message, "publicKey must be 32 bytes");
    }
}
