//! Ed25519 signatures for tokens and sign-in challenges.
//!
//! In the worker the runtime's WebCrypto signs and verifies (native code). The curve arithmetic
//! compiled to wasm was about 25 KB that V8 compiled lazily on a cold isolate's first
//! authenticated request, and again after every flush of baseline code, then ran unoptimised
//! (bench/RESULTS.md, "cold requests"). Natively (unit tests, `happy-move`) ed25519-dalek does
//! the same job; tests/auth.rs checks that each verifies what the other signs.
//!
//! Verification is RFC 8032's, as privacy-kit's (tweetnacl) is: a non-canonical `S` is refused,
//! a small-order key is not, so every signature the Node server accepts is accepted here.

/// A key pair from a 32-byte seed, ready to sign and verify.
pub struct Keypair {
    public: [u8; 32],
    inner: imp::Keypair,
}

impl Keypair {
    /// `None` only when the runtime refuses the key (it accepts every 32-byte seed).
    pub async fn from_seed(seed: &[u8; 32]) -> Option<Keypair> {
        let (inner, public) = imp::Keypair::from_seed(seed).await?;
        Some(Keypair { public, inner })
    }

    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    pub async fn sign(&self, message: &[u8]) -> Option<[u8; 64]> {
        self.inner.sign(message).await
    }

    pub async fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.inner.verify(message, signature).await
    }
}

/// Whether `signature` is `public`'s over `message`.
pub async fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    imp::verify(public, message, signature).await
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use wasm_bindgen::prelude::*;
    use worker::js_sys::{Array, Promise, Reflect};
    use worker::wasm_bindgen_futures::JsFuture;

    use crate::crypto::util::b64url_decode;

    const ALGORITHM: &str = "Ed25519";
    /// PKCS #8 for an Ed25519 seed (RFC 8410): this prefix, then the 32 bytes.
    const PKCS8_PREFIX: [u8; 16] =
        [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = importKey)]
        fn import_key(
            format: &str,
            data: &[u8],
            algorithm: &str,
            extractable: bool,
            usages: &Array,
        ) -> Result<Promise, JsValue>;
        #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = exportKey)]
        fn export_key(format: &str, key: &JsValue) -> Result<Promise, JsValue>;
        #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = sign)]
        fn subtle_sign(algorithm: &str, key: &JsValue, data: &[u8]) -> Result<Promise, JsValue>;
        #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = verify)]
        fn subtle_verify(algorithm: &str, key: &JsValue, signature: &[u8], data: &[u8]) -> Result<Promise, JsValue>;
    }

    async fn settle(promise: Result<Promise, JsValue>) -> Option<JsValue> {
        JsFuture::from(promise.ok()?).await.ok()
    }

    async fn import(format: &str, data: &[u8], extractable: bool, usage: &str) -> Option<JsValue> {
        let usages = Array::of1(&JsValue::from_str(usage));
        settle(import_key(format, data, ALGORITHM, extractable, &usages)).await
    }

    pub struct Keypair {
        signing: JsValue,
        verifying: JsValue,
    }

    impl Keypair {
        pub async fn from_seed(seed: &[u8; 32]) -> Option<(Keypair, [u8; 32])> {
            let mut pkcs8 = PKCS8_PREFIX.to_vec();
            pkcs8.extend_from_slice(seed);
            let signing = import("pkcs8", &pkcs8, true, "sign").await?;
            // The public key is the JWK's `x`: WebCrypto derives it, no curve code here.
            let jwk = settle(export_key("jwk", &signing)).await?;
            let x = Reflect::get(&jwk, &JsValue::from_str("x")).ok()?.as_string()?;
            let public: [u8; 32] = b64url_decode(&x)?.try_into().ok()?;
            let verifying = import("raw", &public, false, "verify").await?;
            Some((Keypair { signing, verifying }, public))
        }

        pub async fn sign(&self, message: &[u8]) -> Option<[u8; 64]> {
            let signature = settle(subtle_sign(ALGORITHM, &self.signing, message)).await?;
            worker::js_sys::Uint8Array::new(&signature).to_vec().try_into().ok()
        }

        pub async fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
            check(&self.verifying, message, signature).await
        }
    }

    async fn check(key: &JsValue, message: &[u8], signature: &[u8; 64]) -> bool {
        settle(subtle_verify(ALGORITHM, key, signature, message)).await.and_then(|v| v.as_bool()).unwrap_or(false)
    }

    pub async fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        match import("raw", public, false, "verify").await {
            Some(key) => check(&key, message, signature).await,
            None => false,
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

    pub struct Keypair(SigningKey);

    impl Keypair {
        pub async fn from_seed(seed: &[u8; 32]) -> Option<(Keypair, [u8; 32])> {
            let key = SigningKey::from_bytes(seed);
            let public = key.verifying_key().to_bytes();
            Some((Keypair(key), public))
        }

        pub async fn sign(&self, message: &[u8]) -> Option<[u8; 64]> {
            Some(self.0.sign(message).to_bytes())
        }

        pub async fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
            self.0.verifying_key().verify(message, &Signature::from_bytes(signature)).is_ok()
        }
    }

    pub async fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        VerifyingKey::from_bytes(public).is_ok_and(|k| k.verify(message, &Signature::from_bytes(signature)).is_ok())
    }
}
