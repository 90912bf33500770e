//! The account's secret in the forms a user holds it: the secret-key backup the Happy app shows
//! (RFC 4648 base32, no padding, in dash-separated groups of five), the same 32 bytes as
//! base64url, or the legacy CLI credential file `{"token", "secret"}` (standard base64). The
//! data-key credential file a paired CLI writes holds a machine key, not the account's secret,
//! and is refused with where to find the backup.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The 32-byte account secret: the Ed25519 seed the account signs in with.
pub fn parse(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    if text.starts_with('{') {
        return from_credential_file(text);
    }
    // A dash is base64url too: an exact 32-byte base64url decode wins, as in the app.
    if let Some(bytes) = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok().and_then(exact) {
        return Ok(bytes);
    }
    from_backup(text)
}

fn exact(bytes: Vec<u8>) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

fn from_credential_file(text: &str) -> Result<[u8; 32], String> {
    let file: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the secret file looks like JSON but is not: {e}"))?;
    if let Some(secret) = file.get("secret").and_then(|s| s.as_str()) {
        return STANDARD
            .decode(secret)
            .ok()
            .and_then(exact)
            .ok_or_else(|| "the credential file's `secret` is not 32 bytes of base64".to_string());
    }
    if file.get("encryption").is_some() {
        return Err("this credential file holds the CLI's machine key, not the account's secret. Use the \
                    secret key backup the Happy app shows (account settings, \"Secret key\" / backup: \
                    XXXXX-XXXXX-...), saved to a file"
            .into());
    }
    Err("the secret file is JSON without a `secret`: pass the app's secret key backup instead".into())
}

fn from_backup(text: &str) -> Result<[u8; 32], String> {
    let (mut bits, mut acc, mut out) = (0u32, 0u32, Vec::with_capacity(32));
    for c in text.chars().filter(|c| *c != '-' && !c.is_whitespace()) {
        let value = BASE32
            .iter()
            .position(|b| *b as char == c.to_ascii_uppercase())
            .ok_or_else(|| format!("not a secret key backup: {c:?} is not a base32 letter (A-Z, 2-7)"))?;
        acc = (acc << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    let len = out.len();
    exact(out).ok_or_else(|| format!("not a secret key backup: it holds {len} bytes, a secret has 32"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI's own vector for the bytes 0..31 (happy-cli's backup key test).
    const SEQUENTIAL: &str = "AAAQE-AYEAU-DAOCA-JBIFQ-YDIOB-4IBCE-QTCQK-RMFYY-DENBW-HA5DY-PQ";

    fn sequential() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn reads_the_apps_backup_in_any_case_and_spacing() {
        assert_eq!(parse(SEQUENTIAL), Ok(sequential()));
        assert_eq!(parse(&format!("  {}\n", SEQUENTIAL.to_lowercase())), Ok(sequential()));
        assert_eq!(parse(&SEQUENTIAL.replace('-', " ")), Ok(sequential()));
    }

    #[test]
    fn reads_base64url_and_the_legacy_credential_file() {
        assert_eq!(parse(&URL_SAFE_NO_PAD.encode(sequential())), Ok(sequential()));
        let file = serde_json::json!({"token": "t", "secret": STANDARD.encode(sequential())}).to_string();
        assert_eq!(parse(&file), Ok(sequential()));
    }

    #[test]
    fn refuses_what_is_not_a_secret() {
        let data_key = r#"{"token":"t","encryption":{"publicKey":"cA==","machineKey":"bQ=="}}"#;
        assert!(parse(data_key).unwrap_err().contains("secret key backup"));
        assert!(parse("AAAQE-AYEAU").unwrap_err().contains("6 bytes"));
        assert!(parse("AAAQE-AYEA1").unwrap_err().contains("'1'"));
        assert!(parse(r#"{"token":"t","secret":"c2hvcnQ="}"#).unwrap_err().contains("32 bytes"));
        assert!(parse("{not json").unwrap_err().contains("not"));
    }
}
