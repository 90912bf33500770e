//! privacy-kit persistent and ephemeral tokens, byte-compatible with the Node server.
//!
//! A token is a compact JWS `{"alg":"EdDSA"}` signed with an Ed25519 key whose seed is
//! PBKDF2-HMAC-SHA512(secret, "<service> Persistent Token" | "<service> Ephemeral Token",
//! 210000, 64)[0..32]. Claims are written in privacy-kit's order: sub, extras…, iat, nbf,
//! exp (ephemeral only), iss, jti.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::crypto::ed25519::Keypair;
use crate::crypto::util::b64url_decode;

/// The only header privacy-kit emits.
pub const HEADER_B64: &str = "eyJhbGciOiJFZERTQSJ9";
const PBKDF2_ROUNDS: u32 = 210_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Persistent,
    Ephemeral,
}

impl TokenKind {
    fn usage(self, service: &str) -> String {
        match self {
            TokenKind::Persistent => format!("{service} Persistent Token"),
            TokenKind::Ephemeral => format!("{service} Ephemeral Token"),
        }
    }
}

/// PBKDF2 derivation of the Ed25519 seed. Costly (210k rounds): call once per isolate.
pub fn derive_seed(secret: &str, service: &str, kind: TokenKind) -> [u8; 32] {
    let mut out = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(secret.as_bytes(), kind.usage(service).as_bytes(), PBKDF2_ROUNDS, &mut out);
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&out[..32]);
    seed
}

/// What a valid token says: the fields callers act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// `sub`, the account id.
    pub user_id: String,
    /// `jti`, when present.
    pub uuid: Option<String>,
}

/// The claims a check reads. privacy-kit's extras (any other claim) are skipped unread, so no
/// JSON tree is built: serde_json's `Value` with its ordered map and hasher was about 6 KB of wasm
/// that every isolate's first token check compiled (bench/RESULTS.md, "cold requests").
#[derive(Deserialize)]
struct ReadClaims {
    #[serde(default)]
    sub: Present<String>,
    #[serde(default)]
    iss: Present<String>,
    #[serde(default)]
    jti: Present<String>,
    /// Read only to refuse a token whose `iat` is not a number, as jose does.
    #[serde(default, rename = "iat")]
    _iat: Present<f64>,
    #[serde(default)]
    nbf: Present<f64>,
    #[serde(default)]
    exp: Present<f64>,
}

/// A claim that, when present, has type `T`. Unlike `Option<T>`, a `null` is refused rather than
/// read as absent: jose refuses a null `nbf` or `exp`, and a token is refused when any claim it
/// reads has the wrong type.
struct Present<T>(Option<T>);

impl<T> Default for Present<T> {
    fn default() -> Self {
        Present(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Present<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|v| Present(Some(v)))
    }
}

/// What a minted token says.
pub struct Claims<'a> {
    /// The account id (`sub`).
    pub user: &'a str,
    /// More claims, in order, before the registered ones.
    pub extras: &'a Map<String, Value>,
    /// Issue time (`iat`, `nbf`), ms since the epoch.
    pub now_ms: u64,
    /// Makes the token ephemeral: `exp` is `now_ms + ttl_ms`.
    pub ttl_ms: Option<u64>,
    /// The token's id (`jti`), which a revocation names.
    pub jti: &'a str,
}

/// A signing and verifying key for one service (`handy`, `github-happy`).
pub struct TokenKey {
    service: String,
    keys: Keypair,
}

impl TokenKey {
    /// `None` only when the runtime refuses the key.
    pub async fn from_seed(service: &str, seed: &[u8; 32]) -> Option<Self> {
        Some(TokenKey { service: service.to_string(), keys: Keypair::from_seed(seed).await? })
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.keys.public()
    }

    /// Mints a token. `None` only when the runtime fails to sign.
    pub async fn mint(&self, claims: &Claims<'_>) -> Option<String> {
        let signing_input = self.signing_input(claims);
        let signature = self.keys.sign(signing_input.as_bytes()).await?;
        Some(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    fn signing_input(&self, &Claims { user, extras, now_ms, ttl_ms, jti }: &Claims<'_>) -> String {
        let iat = now_ms / 1000;
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::from(user));
        for (k, v) in extras {
            claims.insert(k.clone(), v.clone());
        }
        // Registered claims keep an extras key's position but take the builder's value,
        // as privacy-kit does.
        claims.insert("iat".into(), Value::from(iat));
        claims.insert("nbf".into(), Value::from(iat));
        if let Some(ttl) = ttl_ms {
            claims.insert("exp".into(), Value::from((now_ms + ttl) / 1000));
        }
        claims.insert("iss".into(), Value::from(self.service.as_str()));
        claims.insert("jti".into(), Value::from(jti));
        format!("{HEADER_B64}.{}", URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string()))
    }

    /// Verifies as jose `jwtVerify` + privacy-kit do; `None` for anything else, and for a token
    /// whose `sub` or `jti` is not a string (privacy-kit mints strings; every caller refused a
    /// token without a string `sub` anyway).
    pub async fn verify(&self, token: &str, now_ms: u64) -> Option<Verified> {
        let (verified, signing_input, signature) = self.read(token, now_ms)?;
        self.keys.verify(signing_input.as_bytes(), &signature).await.then_some(verified)
    }

    /// What `token` says if its header and claims are acceptable at `now_ms`, with the signature
    /// still to check.
    fn read<'t>(&self, token: &'t str, now_ms: u64) -> Option<(Verified, &'t str, [u8; 64])> {
        let mut parts = token.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        // privacy-kit emits one header; any other is read in full, in a function of its own so
        // that the usual token never compiles it (`cold_`: not inlined by wasm-opt either).
        if header != HEADER_B64 && !cold_other_header_acceptable(header) {
            return None;
        }
        let signature: [u8; 64] = b64url_decode(signature)?.try_into().ok()?;
        let signing_input = &token[..header_len(token)?];

        let payload = b64url_decode(payload)?;
        // A struct also reads from a JSON array; jose wants an object.
        if payload.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        let claims: ReadClaims = serde_json::from_slice(&payload).ok()?;
        let now_s = (now_ms / 1000) as f64;
        if claims.nbf.0.is_some_and(|nbf| nbf > now_s) || claims.exp.0.is_some_and(|exp| exp <= now_s) {
            return None;
        }
        if claims.iss.0.as_deref() != Some(self.service.as_str()) {
            return None;
        }
        let verified = Verified { user_id: claims.sub.0?, uuid: claims.jti.0 };
        Some((verified, signing_input, signature))
    }
}

/// A header other than privacy-kit's: acceptable to jose if it names EdDSA, has no `crit` and
/// does not turn off base64 payloads.
#[inline(never)]
fn cold_other_header_acceptable(header: &str) -> bool {
    let Some(header) = b64url_decode(header).and_then(|h| serde_json::from_slice::<Value>(&h).ok()) else {
        return false;
    };
    let Some(header) = header.as_object() else {
        return false;
    };
    matches!(header.get("alg").and_then(Value::as_str), Some("EdDSA") | Some("Ed25519"))
        && !header.contains_key("crit")
        && header.get("b64") != Some(&Value::Bool(false))
}

/// Native callers (unit tests, black-box tests, tools) sign with ed25519-dalek, whose futures
/// are ready on the first poll.
#[cfg(not(target_arch = "wasm32"))]
impl TokenKey {
    pub fn native(service: &str, seed: &[u8; 32]) -> TokenKey {
        ready(TokenKey::from_seed(service, seed)).expect("dalek takes every seed")
    }

    pub fn mint_now(&self, claims: &Claims<'_>) -> String {
        ready(self.mint(claims)).expect("dalek always signs")
    }

    pub fn verify_now(&self, token: &str, now_ms: u64) -> Option<Verified> {
        ready(self.verify(token, now_ms))
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => unreachable!("the native signer never waits"),
    }
}

/// Length of `header.payload` (the signing input) within the token.
fn header_len(token: &str) -> Option<usize> {
    token.rfind('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> Value {
        let raw = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/privacy-kit-exact.json"))
            .expect("tests/vectors");
        serde_json::from_str(&raw).unwrap()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn seed_from_hex(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    fn key_for(v: &Value, name: &str) -> TokenKey {
        let k = &v["token_keys"][name];
        TokenKey::native(k["service"].as_str().unwrap(), &seed_from_hex(k["ed25519_seed_hex"].as_str().unwrap()))
    }

    fn as_json(v: Option<Verified>) -> Value {
        match v {
            None => Value::Null,
            Some(v) => serde_json::json!({"user": v.user_id, "uuid": v.uuid}),
        }
    }

    /// What the library's verification result means here: the account and token id, and no
    /// account for a token without a string `sub` (which every caller refused).
    fn expected(library: &Value) -> Value {
        match library["user"].as_str() {
            Some(user) => serde_json::json!({"user": user, "uuid": library["uuid"]}),
            None => Value::Null,
        }
    }

    #[test]
    fn pbkdf2_derivation_matches_privacy_kit() {
        let v = vectors();
        for (name, kind) in [
            ("persistent_handy", TokenKind::Persistent),
            ("ephemeral_github_happy", TokenKind::Ephemeral),
            ("persistent_handy_other_secret", TokenKind::Persistent),
        ] {
            let k = &v["token_keys"][name];
            let seed = derive_seed(k["secret"].as_str().unwrap(), k["service"].as_str().unwrap(), kind);
            assert_eq!(hex(&seed), k["ed25519_seed_hex"].as_str().unwrap(), "{name}");
            let key = TokenKey::native(k["service"].as_str().unwrap(), &seed);
            assert_eq!(hex(&key.public_key()), k["public_key_hex"].as_str().unwrap(), "{name}");
        }
    }

    #[test]
    fn persistent_tokens_are_byte_identical_and_verify() {
        let v = vectors();
        let key = key_for(&v, "persistent_handy");
        for case in v["persistent_tokens"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let now = case["now_ms"].as_u64().unwrap();
            let input = &case["input"];
            let extras = input["extras"].as_object().cloned().unwrap_or_default();
            // Cases with JS-only key ordering quirks are verified, not re-minted.
            let simple = input["user"].is_string()
                && !extras.keys().any(|k| {
                    k.parse::<u64>().is_ok() || ["sub", "iat", "nbf", "iss", "jti", "exp"].contains(&k.as_str())
                })
                && !extras.values().any(|x| x.to_string().contains('.') || x.to_string().contains('e'));
            if simple {
                let minted = key.mint_now(&Claims {
                    user: input["user"].as_str().unwrap(),
                    extras: &extras,
                    now_ms: now,
                    ttl_ms: None,
                    jti: case["jti"].as_str().unwrap(),
                });
                assert_eq!(minted, case["token"].as_str().unwrap(), "{name}");
            }
            let token = case["token"].as_str().unwrap();
            assert_eq!(as_json(key.verify_now(token, now)), expected(&case["verify_now"]), "{name}");
            assert_eq!(
                as_json(key.verify_now(token, now - 1000)),
                expected(&case["verify_one_second_before_iat"]),
                "{name}"
            );
        }
    }

    #[test]
    fn ephemeral_github_token_matches_and_expires() {
        let v = vectors();
        let key = key_for(&v, "ephemeral_github_happy");
        let case = &v["ephemeral_tokens"][0];
        let now = case["now_ms"].as_u64().unwrap();
        let ttl = case["ttl_ms"].as_u64().unwrap();
        let minted = key.mint_now(&Claims {
            user: case["input"]["user"].as_str().unwrap(),
            extras: &Map::new(),
            now_ms: now,
            ttl_ms: Some(ttl),
            jti: case["jti"].as_str().unwrap(),
        });
        assert_eq!(minted, case["token"].as_str().unwrap());
        let exp_ms = (now + ttl) / 1000 * 1000;
        assert_eq!(as_json(key.verify_now(&minted, now)), expected(&case["verify"]["at_now"]));
        assert_eq!(as_json(key.verify_now(&minted, exp_ms - 1000)), expected(&case["verify"]["at_exp_minus_1s"]));
        assert_eq!(as_json(key.verify_now(&minted, exp_ms)), Value::Null);
        assert_eq!(as_json(key.verify_now(&minted, exp_ms + 1000)), Value::Null);
        assert_eq!(as_json(key.verify_now(&minted, now - 1000)), Value::Null);
        assert!(key_for(&v, "persistent_handy").verify_now(&minted, now).is_none());
    }

    #[test]
    fn negative_and_foreign_cases_match_the_library() {
        let v = vectors();
        let key = key_for(&v, "persistent_handy");
        let now = v["meta"]["fixed_now_ms"].as_u64().unwrap();
        for list in ["negative_cases", "foreign_tokens_verified_by_library"] {
            for case in v[list].as_array().unwrap() {
                let name = case["name"].as_str().unwrap();
                let verifier = if name.starts_with("N5") {
                    TokenKey::native(
                        "other-service",
                        &seed_from_hex(v["token_keys"]["persistent_handy"]["ed25519_seed_hex"].as_str().unwrap()),
                    )
                } else {
                    key_for(&v, "persistent_handy")
                };
                let got = as_json(verifier.verify_now(case["token"].as_str().unwrap(), now));
                assert_eq!(got, expected(&case["verify_at_now"]), "{list}/{name}");
            }
        }
        let other = key_for(&v, "persistent_handy_other_secret");
        let n3 = &v["negative_cases"][2];
        assert_eq!(
            as_json(other.verify_now(n3["token"].as_str().unwrap(), now)),
            expected(&n3["verify_by_other_secret_verifier"])
        );
        assert!(key.verify_now("", now).is_none());
    }

    /// A token over any header and payload text, signed with `key`.
    fn signed(key: &TokenKey, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let signature = ready(key.keys.sign(input.as_bytes())).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    #[test]
    fn claims_are_read_with_their_types_and_extras_skipped() {
        let key = TokenKey::native("handy", &[7; 32]);
        let header = r#"{"alg":"EdDSA"}"#;
        let verify = |payload: &str| key.verify_now(&signed(&key, header, payload), 1_750_000_000_000);
        let ok = Verified { user_id: "u".into(), uuid: Some("j".into()) };
        assert_eq!(verify(r#"{"sub":"u","iss":"handy","jti":"j"}"#), Some(ok.clone()));
        // Extras of any shape are skipped, and JSON may start with whitespace.
        assert_eq!(
            verify(r#" {"sub":"u","deep":{"a":[1,{"b":null}],"s":"x\"y"},"iss":"handy","n":-0.5,"jti":"j"}"#),
            Some(ok.clone())
        );
        assert_eq!(verify(r#"{"sub":"u","iss":"handy","exp":1750000001,"nbf":1750000000,"jti":"j"}"#), Some(ok));
        // A claim that is read has its type; null is not absent.
        for refused in [
            r#"{"sub":"u","iss":"handy","nbf":null}"#,
            r#"{"sub":"u","iss":"handy","exp":null}"#,
            r#"{"sub":"u","iss":"handy","iat":null}"#,
            r#"{"sub":"u","iss":"handy","jti":7}"#,
            r#"{"sub":null,"iss":"handy"}"#,
            r#"{"sub":"u","iss":null}"#,
            r#"{"sub":"u","iss":"handy","exp":1750000000}"#,
            r#"{"sub":"u","iss":"handy"} x"#,
            r#"[{"sub":"u","iss":"handy"}]"#,
        ] {
            assert_eq!(verify(refused), None, "{refused}");
        }
    }

    #[test]
    fn tokens_minted_by_the_v025_library_verify() {
        let raw =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/privacy-kit-tokens.json"))
                .unwrap();
        let v: Value = serde_json::from_str(&raw).unwrap();
        for case in v["cases"].as_array().unwrap() {
            let seed =
                derive_seed(case["seed"].as_str().unwrap(), case["service"].as_str().unwrap(), TokenKind::Persistent);
            assert_eq!(hex(&seed), case["ed25519_private_seed_hex"].as_str().unwrap());
            let key = TokenKey::native(case["service"].as_str().unwrap(), &seed);
            assert_eq!(hex(&key.public_key()), case["ed25519_public_key_hex"].as_str().unwrap());
            let eph = TokenKey::native(
                "github-happy",
                &derive_seed(case["seed"].as_str().unwrap(), "github-happy", TokenKind::Ephemeral),
            );
            assert_eq!(hex(&eph.public_key()), case["ephemeral_public_key_hex"].as_str().unwrap());
            for t in case["tokens"].as_array().unwrap() {
                let got = as_json(key.verify_now(t["token"].as_str().unwrap(), 2_000_000_000_000));
                assert_eq!(got, expected(&t["verified"]), "{}", t["token"]);
            }
        }
        for case in ["other_seed", "tampered_payload"] {
            let n = &v["negative"][case];
            let seed = derive_seed(n["seed_of_verifier"].as_str().unwrap(), "handy", TokenKind::Persistent);
            let key = TokenKey::native("handy", &seed);
            assert!(key.verify_now(n["token"].as_str().unwrap(), 2_000_000_000_000).is_none(), "{case}");
        }
    }
}
