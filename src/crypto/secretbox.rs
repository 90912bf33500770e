//! Server-held secrets (vendor API keys, OAuth tokens): HKDF-SHA256-derived per-path keys and
//! XSalsa20-Poly1305 secretbox, the format of the TypeScript worker so its data stays readable.
//!
//! master = HKDF-SHA256(ikm = secret, salt "happy-server-encryption", info "master-key")
//! key(path) = HKDF-SHA256(ikm = master, salt "path-derived-key", info = path.join("/"))
//! blob = nonce[24] || secretbox(key, nonce, plaintext)

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use hkdf::Hkdf;
use sha2::Sha256;

const NONCE_LEN: usize = 24;

fn hkdf32(ikm: &[u8], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, &mut out).expect("32 bytes is a valid HKDF-SHA256 length");
    out
}

/// The root of every derived key; cheap (two HMACs), unlike the token key's PBKDF2.
pub fn master_key(secret: &str) -> [u8; 32] {
    hkdf32(secret.as_bytes(), b"happy-server-encryption", b"master-key")
}

pub fn path_key(master: &[u8; 32], path: &[&str]) -> [u8; 32] {
    hkdf32(master, b"path-derived-key", path.join("/").as_bytes())
}

pub fn seal(key: &[u8; 32], nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XSalsa20Poly1305::new(Key::from_slice(key));
    let sealed = cipher
        .encrypt(Nonce::from_slice(nonce), plaintext)
        .expect("secretbox encryption cannot fail for in-memory input");
    let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
    blob.extend_from_slice(nonce);
    blob.extend_from_slice(&sealed);
    blob
}

/// `None` when the blob is too short or fails authentication (wrong key, tampered).
pub fn open(key: &[u8; 32], blob: &[u8]) -> Option<Vec<u8>> {
    if blob.len() < NONCE_LEN + 16 {
        return None;
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    XSalsa20Poly1305::new(Key::from_slice(key)).decrypt(Nonce::from_slice(nonce), sealed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::Value;

    fn vectors() -> Value {
        let raw =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/secretbox-vendor-tokens.json"))
                .unwrap();
        serde_json::from_str(&raw).unwrap()
    }

    #[test]
    fn decrypts_every_blob_of_the_typescript_worker() {
        let v = vectors();
        let master = master_key(v["seed"].as_str().unwrap());
        let path: Vec<&str> = v["path"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        let key = path_key(&master, &path);
        for blob in v["encrypted_b64"].as_array().unwrap() {
            let bytes = base64::engine::general_purpose::STANDARD.decode(blob.as_str().unwrap()).unwrap();
            let plain = open(&key, &bytes).expect("vector decrypts");
            assert_eq!(String::from_utf8(plain).unwrap(), v["decrypted"].as_str().unwrap());
        }
    }

    #[test]
    fn round_trips_and_rejects_other_paths_and_tampering() {
        let master = master_key("s3cret");
        let key = path_key(&master, &["user", "u1", "vendors", "openai", "token"]);
        let other = path_key(&master, &["user", "u2", "vendors", "openai", "token"]);
        let mut blob = seal(&key, &[7u8; 24], b"sk-abc");
        assert_eq!(open(&key, &blob).unwrap(), b"sk-abc");
        assert!(open(&other, &blob).is_none());
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert!(open(&key, &blob).is_none());
        assert!(open(&key, &[0u8; 10]).is_none());
    }
}
