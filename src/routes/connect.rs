//! Connect routes: AI vendor tokens (sealed at rest) and the GitHub OAuth connection.
//! GitHub's own routes come first in the table so `/v1/connect/github` is never read as a
//! vendor name.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;
use worker::{Method, Response, Url};

use crate::app::ctx::Ctx;
use crate::app::request_url::{is_http_base, with_query};
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema, success};
use crate::auth::keys::github_key;
use crate::auth::token::Claims;
use crate::config::now_ms;
use crate::crypto::util::{constant_time_eq, hex_decode, uuid_v4};
use crate::crypto::vault::{open_string, seal_string};
use crate::db::github::{self, Connected, Disconnected};
use crate::db::vendor_tokens::{self, key_path, vendor};
use crate::error::{ApiError, ApiResult};
use crate::events::account::github_changed;
use crate::h;
use crate::upstream;
use crate::wire::connect::{
    AuthorizeUrl, RegisterBody, VendorToken, VendorTokenEntry, VendorTokenList, WebhookReceived,
};
use crate::wire::Success;

pub const ROUTES: &[Route] = &[
    route(Method::Get, "/v1/connect/github/params", Access::User, h!(github_params))
        .doc("connect", "GitHub OAuth authorize URL with a 5-minute state token")
        .returns(response_schema::<AuthorizeUrl>),
    route(Method::Get, "/v1/connect/github/callback", Access::Public, h!(github_callback))
        .doc("connect", "GitHub OAuth redirect target; redirects to the app"),
    route(Method::Post, "/v1/connect/github/webhook", Access::Public, h!(github_webhook))
        .doc("connect", "GitHub webhook (X-Hub-Signature-256 HMAC-SHA256)")
        .returns(response_schema::<WebhookReceived>),
    route(Method::Delete, "/v1/connect/github", Access::User, h!(github_disconnect))
        .doc("connect", "Disconnect GitHub and forget its token")
        .returns(success),
    route(Method::Get, "/v1/connect/tokens", Access::User, h!(list_tokens))
        .doc("connect", "Every stored AI vendor token, decrypted")
        .returns(response_schema::<VendorTokenList>),
    route(Method::Post, "/v1/connect/:vendor/register", Access::User, h!(register))
        .doc("connect", "Store an AI vendor token (openai, anthropic, gemini), encrypted")
        .body(request_schema::<RegisterBody>)
        .returns(success),
    route(Method::Get, "/v1/connect/:vendor/token", Access::User, h!(get_token))
        .doc("connect", "The decrypted vendor token, or null")
        .returns(response_schema::<VendorToken>),
    route(Method::Delete, "/v1/connect/:vendor", Access::User, h!(delete_token))
        .doc("connect", "Remove a vendor token (404 when absent)")
        .returns(success),
];

/// The CLI and app send a JSON-stringified credentials object; bound it generously.
const MAX_TOKEN: usize = 16 * 1024;

async fn register(mut ctx: Ctx) -> ApiResult<Response> {
    let vendor = vendor(ctx.param("vendor"))?;
    let body: RegisterBody = ctx.json().await?;
    if body.token.is_empty() || body.token.len() > MAX_TOKEN {
        return Err(ApiError::bad_request(format!("token must be 1..{MAX_TOKEN} bytes")));
    }
    let user = ctx.user_id()?;
    let sealed = seal_string(&ctx.env, &key_path(user, vendor), &body.token)?;
    vendor_tokens::upsert(&ctx.db()?, user, vendor, &sealed).await?;
    json(&Success::TRUE)
}

async fn get_token(ctx: Ctx) -> ApiResult<Response> {
    let vendor = vendor(ctx.param("vendor"))?;
    let user = ctx.user_id()?;
    let token = match vendor_tokens::get(&ctx.db()?, user, vendor).await? {
        Some(row) => open_string(&ctx.env, &key_path(user, vendor), &row.token)?,
        None => None,
    };
    json(&VendorToken { token })
}

async fn delete_token(ctx: Ctx) -> ApiResult<Response> {
    let vendor = vendor(ctx.param("vendor"))?;
    if !vendor_tokens::delete(&ctx.db()?, ctx.user_id()?, vendor).await? {
        return Err(ApiError::not_found("Token not found"));
    }
    json(&Success::TRUE)
}

async fn list_tokens(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?;
    let mut tokens = Vec::new();
    for row in vendor_tokens::list(&ctx.db()?, user).await? {
        // A blob sealed under a rotated master secret no longer opens: leave it out.
        if let Some(token) = open_string(&ctx.env, &key_path(user, &row.vendor), &row.token)? {
            tokens.push(VendorTokenEntry { vendor: row.vendor, token });
        }
    }
    json(&VendorTokenList { tokens })
}

// ---- GitHub -------------------------------------------------------------------------------

const STATE_TTL_MS: u64 = 5 * 60 * 1000;
const SCOPES: &str = "read:user,user:email,read:org,codespace";

fn oauth_base(ctx: &Ctx) -> String {
    upstream::base_url(&ctx.env, "GITHUB_OAUTH_BASE_URL", "https://github.com")
}
fn api_base(ctx: &Ctx) -> String {
    upstream::base_url(&ctx.env, "GITHUB_API_BASE_URL", "https://api.github.com")
}

/// The key path of the account's GitHub access token.
fn github_token_path(user_id: &str) -> [&str; 4] {
    ["user", user_id, "github", "token"]
}

async fn github_params(ctx: Ctx) -> ApiResult<Response> {
    let (Some(client_id), Some(redirect)) = (ctx.var("GITHUB_CLIENT_ID"), ctx.var("GITHUB_REDIRECT_URL")) else {
        return Err(ApiError::bad_request("GitHub OAuth not configured"));
    };
    let claims = Claims {
        user: ctx.user_id()?,
        extras: &Map::new(),
        now_ms: now_ms() as u64,
        ttl_ms: Some(STATE_TTL_MS),
        jti: &uuid_v4(),
    };
    let base = oauth_base(&ctx);
    if !is_http_base(&base) {
        return Err(ApiError::internal("GITHUB_OAUTH_BASE_URL is not a URL"));
    }
    let state = github_key(&ctx.env).await?.mint(&claims).await.ok_or_else(crate::auth::signing_failed)?;
    let url = with_query(
        format!("{base}/login/oauth/authorize"),
        &[("client_id", client_id.as_str()), ("redirect_uri", &redirect), ("scope", SCOPES), ("state", &state)],
    );
    json(&AuthorizeUrl { url })
}

/// The profile fields the app's zod schema reads (`id` number, `bio` nullable).
#[derive(Deserialize, Serialize)]
struct GithubProfile {
    id: i64,
    login: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    avatar_url: String,
    #[serde(default)]
    bio: Option<String>,
}

/// Where the browser goes after the callback: the app, with the outcome in the query.
fn app_redirect(ctx: &Ctx, params: &[(&str, &str)]) -> ApiResult<Response> {
    let base = ctx.var("GITHUB_APP_URL").unwrap_or_else(|| "https://app.happy.engineering".into());
    let url = Url::parse_with_params(&base, params).map_err(|_| ApiError::internal("GITHUB_APP_URL is not a URL"))?;
    Ok(Response::redirect(url)?)
}

async fn github_callback(ctx: Ctx) -> ApiResult<Response> {
    let (Some(code), Some(state)) = (ctx.query("code"), ctx.query("state")) else {
        return app_redirect(&ctx, &[("error", "invalid_request")]);
    };
    let Some(user) = github_key(&ctx.env).await?.verify(&state, now_ms() as u64).await.map(|v| v.user_id) else {
        return app_redirect(&ctx, &[("error", "invalid_state")]);
    };
    let (Some(client_id), Some(secret)) = (ctx.var("GITHUB_CLIENT_ID"), ctx.var("GITHUB_CLIENT_SECRET")) else {
        return app_redirect(&ctx, &[("error", "server_config")]);
    };
    let (profile, access_token) = match exchange(&ctx, &client_id, &secret, &code).await {
        Ok(v) => v,
        Err(reason) => return app_redirect(&ctx, &[("error", reason)]),
    };
    connect_github(&ctx, &user, &profile, &access_token).await?;
    app_redirect(&ctx, &[("github", "connected"), ("user", &profile.login)])
}

/// Code → access token → profile. `Err` carries the reason for the app's query string.
async fn exchange(
    ctx: &Ctx,
    client_id: &str,
    secret: &str,
    code: &str,
) -> Result<(GithubProfile, String), &'static str> {
    #[derive(Deserialize)]
    struct TokenReply {
        access_token: Option<String>,
    }
    #[derive(Serialize)]
    struct TokenRequest<'a> {
        client_id: &'a str,
        client_secret: &'a str,
        code: &'a str,
    }
    let body = TokenRequest { client_id, client_secret: secret, code };
    // Cannot fail: strings only.
    let body = serde_json::to_string(&body).expect("a token request serializes");
    let reply = upstream::send(
        &ctx.env,
        Method::Post,
        &format!("{}/login/oauth/access_token", oauth_base(ctx)),
        &[("accept", "application/json"), ("content-type", "application/json"), ("user-agent", "happy-server")],
        Some(body),
    )
    .await
    .map_err(|e| {
        worker::console_error!("GitHub token exchange failed: {e}");
        "github_unreachable"
    })?;
    let token = reply
        .json::<TokenReply>()
        .filter(|_| reply.ok())
        .and_then(|t| t.access_token)
        .filter(|t| !t.is_empty())
        .ok_or("token_exchange_failed")?;
    let bearer = format!("Bearer {token}");
    let reply = upstream::send(
        &ctx.env,
        Method::Get,
        &format!("{}/user", api_base(ctx)),
        &[("authorization", &bearer), ("accept", "application/vnd.github+json"), ("user-agent", "happy-server")],
        None,
    )
    .await
    .map_err(|e| {
        worker::console_error!("GitHub profile fetch failed: {e}");
        "github_unreachable"
    })?;
    let mut profile = reply.json::<GithubProfile>().filter(|_| reply.ok()).ok_or("github_user_fetch_failed")?;
    // The app requires a name; GitHub's is optional.
    profile.name = Some(profile.name.take().filter(|n| !n.is_empty()).unwrap_or_else(|| profile.login.clone()));
    Ok((profile, token))
}

/// Takes the GitHub account from any other Happy account that had it, links it here with its
/// sealed token (one batch); then tells every affected account.
async fn connect_github(ctx: &Ctx, user: &str, profile: &GithubProfile, access_token: &str) -> ApiResult<()> {
    let db = ctx.db()?;
    let profile_json = serde_json::to_value(profile)?;
    let sealed = seal_string(&ctx.env, &github_token_path(user), access_token)?;
    let outcome = github::connect(&db, user, &profile.id.to_string(), &profile_json.to_string(), &sealed).await?;
    let (Connected::Applied { taken_from, .. } | Connected::Missing { taken_from }) = &outcome;
    for other in taken_from {
        publish_github(ctx, &other.id, other.seq, Value::Null);
    }
    let Connected::Applied { seq, .. } = outcome else {
        return Err(ApiError::not_found("Account not found"));
    };
    publish_github(ctx, user, seq, profile_json);
    Ok(())
}

fn publish_github(ctx: &Ctx, user: &str, seq: i64, github: Value) {
    crate::realtime::publish(&ctx.env, &ctx.wctx, user, github_changed(user, seq, github));
}

async fn github_disconnect(ctx: Ctx) -> ApiResult<Response> {
    let user = ctx.user_id()?;
    let Disconnected::Applied { seq } = github::disconnect(&ctx.db()?, user).await? else {
        return Err(ApiError::not_found("GitHub account not connected"));
    };
    publish_github(&ctx, user, seq, Value::Null);
    json(&Success::TRUE)
}

/// GitHub's webhook payloads are at most 25 MB.
const MAX_WEBHOOK_BODY: usize = 25 * 1024 * 1024;

/// `sha256=<hex HMAC-SHA256(secret, body)>`, compared in constant time.
pub fn webhook_signature_ok(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")).and_then(hex_decode) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(body);
    constant_time_eq(&mac.finalize().into_bytes(), &sig)
}

async fn github_webhook(mut ctx: Ctx) -> ApiResult<Response> {
    let Some(secret) = ctx.var("GITHUB_WEBHOOK_SECRET") else {
        return Err(ApiError::new(503, "Webhooks not configured"));
    };
    let body = ctx.body_bytes(MAX_WEBHOOK_BODY).await?;
    if !webhook_signature_ok(&secret, &body, ctx.header("x-hub-signature-256").as_deref()) {
        return Err(ApiError::unauthorized("Invalid signature"));
    }
    worker::console_log!(
        "GitHub webhook {} ({})",
        ctx.header("x-github-event").unwrap_or_default(),
        ctx.header("x-github-delivery").unwrap_or_default()
    );
    json(&WebhookReceived { received: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_signatures() {
        // HMAC-SHA256("It's a Secret to Everybody", "Hello, World!") from GitHub's docs.
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(webhook_signature_ok("It's a Secret to Everybody", b"Hello, World!", Some(good)));
        assert!(!webhook_signature_ok("It's a Secret to Everybody", b"Hello, World?", Some(good)));
        assert!(!webhook_signature_ok("other", b"Hello, World!", Some(good)));
        assert!(!webhook_signature_ok("It's a Secret to Everybody", b"Hello, World!", Some(&good[..20])));
        assert!(!webhook_signature_ok("s", b"x", Some("sha1=00")));
        assert!(!webhook_signature_ok("s", b"x", Some("sha256=zz")));
        assert!(!webhook_signature_ok("s", b"x", None));
    }
}
