//! A Happy server as the move reads it: the ordinary HTTP API, signed in with the account's
//! secret as the app signs in (an Ed25519 signature over a random challenge).

use std::io::Read;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

pub struct Server {
    pub base: String,
    agent: ureq::Agent,
    pub token: String,
}

/// The account as the destination's import sign-in answers it.
pub struct Imported {
    pub server: Server,
    pub account_id: String,
    pub id_kept: bool,
}

fn signed_challenge(secret: &[u8; 32]) -> Result<Value, String> {
    let key = SigningKey::from_bytes(secret);
    let mut challenge = [0u8; 32];
    getrandom::getrandom(&mut challenge).map_err(|e| format!("no randomness: {e}"))?;
    Ok(json!({
        "publicKey": STANDARD.encode(key.verifying_key().to_bytes()),
        "challenge": STANDARD.encode(challenge),
        "signature": STANDARD.encode(key.sign(&challenge).to_bytes()),
    }))
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build()
}

/// What went wrong talking to `base`, as the user should read it.
fn failure(base: &str, path: &str, e: ureq::Error) -> String {
    match e {
        ureq::Error::Status(status, r) => {
            format!("{base}{path} answered {status}: {}", r.into_string().unwrap_or_default())
        }
        ureq::Error::Transport(t) => format!("cannot reach {base}: {t}"),
    }
}

impl Server {
    /// Signs in on `base` with the account's secret. POST /v1/auth creates the account when the
    /// server does not hold it, so this is only called on the source.
    pub fn sign_in(base: &str, secret: &[u8; 32]) -> Result<Server, String> {
        let base = base.trim_end_matches('/').to_string();
        let body = signed_challenge(secret)?;
        let agent = agent();
        let answer: Value = agent
            .post(&format!("{base}/v1/auth"))
            .send_json(body)
            .map_err(|e| failure(&base, "/v1/auth", e))?
            .into_json()
            .map_err(|_| format!("{base} is not a Happy server: POST /v1/auth did not answer JSON"))?;
        let token = answer["token"]
            .as_str()
            .ok_or_else(|| format!("{base} is not a Happy server: POST /v1/auth answered no token"))?
            .to_string();
        Ok(Server { base, agent, token })
    }

    /// Signs in on this worker's import route, handing it the source's token: when both servers
    /// share a master secret the account keeps its id (and every token the source minted).
    pub fn sign_in_import(base: &str, secret: &[u8; 32], source_token: &str) -> Result<Imported, String> {
        let base = base.trim_end_matches('/').to_string();
        let mut body = signed_challenge(secret)?;
        body["sourceToken"] = json!(source_token);
        let agent = agent();
        let answer: Value = agent
            .post(&format!("{base}/v1/auth/import"))
            .send_json(body)
            .map_err(|e| match e {
                ureq::Error::Status(404, _) => format!("{base} has no import route: is it this worker?"),
                e => failure(&base, "/v1/auth/import", e),
            })?
            .into_json()
            .map_err(|e| format!("{base}/v1/auth/import did not answer JSON: {e}"))?;
        let field =
            |name: &str| answer[name].as_str().map(str::to_string).ok_or(format!("import sign-in answered no {name}"));
        let (token, account_id) = (field("token")?, field("accountId")?);
        Ok(Imported { server: Server { base, agent, token }, account_id, id_kept: answer["idKept"] == true })
    }

    /// Checks that `base` answers as a Happy server without signing in (nothing is created).
    pub fn probe(base: &str) -> Result<(), String> {
        let base = base.trim_end_matches('/');
        let answer: Value = agent()
            .get(&format!("{base}/"))
            .call()
            .map_err(|e| failure(base, "/", e))?
            .into_json()
            .map_err(|_| format!("{base} is not a Happy server: GET / did not answer JSON"))?;
        match answer["message"].as_str() {
            Some(m) if m.contains("Happy") => Ok(()),
            _ => Err(format!("{base} is not a Happy server: GET / answered {answer}")),
        }
    }

    pub fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.agent
            .post(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token))
            .send_json(body)
            .map_err(|e| failure(&self.base, path, e))?
            .into_json()
            .map_err(|e| format!("{}{path} did not answer JSON: {e}", self.base))
    }

    /// The bytes at `url`, at most `limit`, and their content type. The token goes only to this
    /// server's own URLs (this worker's download route); a Node server's avatars are public.
    pub fn download(&self, url: &str, limit: u64) -> Result<(Vec<u8>, String), String> {
        let mut request = self.agent.get(url);
        if url.starts_with(&format!("{}/", self.base)) {
            request = request.set("Authorization", &format!("Bearer {}", self.token));
        }
        let answer = request.call().map_err(|e| failure(url, "", e))?;
        let content_type = answer.content_type().to_string();
        let mut bytes = Vec::new();
        answer.into_reader().take(limit + 1).read_to_end(&mut bytes).map_err(|e| format!("reading {url}: {e}"))?;
        if bytes.len() as u64 > limit {
            return Err(format!("{url} holds more than {limit} bytes"));
        }
        Ok((bytes, content_type))
    }

    /// POSTs one file as the form field `file` (multipart/form-data).
    pub fn post_file(&self, path: &str, content_type: &str, bytes: &[u8]) -> Result<Value, String> {
        const BOUNDARY: &str = "happy-move-3f9a1c";
        let mut body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"avatar\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        self.agent
            .post(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Content-Type", &format!("multipart/form-data; boundary={BOUNDARY}"))
            .send_bytes(&body)
            .map_err(|e| failure(&self.base, path, e))?
            .into_json()
            .map_err(|e| format!("{}{path} did not answer JSON: {e}", self.base))
    }

    pub fn get(&self, path: &str) -> Result<Value, String> {
        self.get_query(path, &[])
    }

    /// GET with query parameters, percent-encoded (a KV prefix may hold any character).
    pub fn get_query(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        self.agent
            .get(&format!("{}{path}", self.base))
            .query_pairs(query.iter().copied())
            .set("Authorization", &format!("Bearer {}", self.token))
            .call()
            .map_err(|e| failure(&self.base, path, e))?
            .into_json()
            .map_err(|e| format!("{}{path} did not answer JSON: {e}", self.base))
    }
}
