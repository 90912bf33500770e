//! POST /v1/version (is this app build too old?) and the opt-in debug log sink.

use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::domain::semver::{needs_update, Version};
use crate::domain::text::Text;
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::wire::system::{LogBody, UpdateUrl, VersionBody};
use crate::wire::Success;

/// Debug log lines beyond this are cut; the sink is for humans and AI reading logs.
const MAX_LOG_CHARS: usize = 16 * 1024;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/version", Access::Public, h!(check_version))
        .doc("version", "Update URL when the app is below the configured minimum, else null")
        .body(request_schema::<VersionBody>)
        .returns(response_schema::<UpdateUrl>),
    route(Method::Post, "/logs-combined-from-cli-and-mobile-for-simple-ai-debugging", Access::Public, h!(debug_log))
        .doc("dev", "Log sink, enabled only by DANGEROUSLY_LOG_TO_SERVER_FOR_AI_AUTO_DEBUGGING (404 otherwise)")
        .body(request_schema::<LogBody>)
        .returns(response_schema::<Success>),
];

async fn check_version(mut ctx: Ctx) -> ApiResult<Response> {
    let body: VersionBody = ctx.json().await?;
    Text::parse("platform", &body.platform, 32)?;
    Text::parse("version", &body.version, 64)?;
    let current = Version::parse(&body.version).ok_or_else(|| ApiError::bad_request("version is not a version"))?;
    // MIN_VERSION_IOS + UPDATE_URL_IOS, MIN_VERSION_ANDROID + UPDATE_URL_ANDROID, ...
    let platform = body.platform.to_ascii_uppercase();
    let url = if platform.bytes().all(|b| b.is_ascii_alphanumeric()) {
        match (ctx.var(&format!("MIN_VERSION_{platform}")), ctx.var(&format!("UPDATE_URL_{platform}"))) {
            (Some(min), Some(url)) if needs_update(&current, &min) => Some(url),
            _ => None,
        }
    } else {
        None
    };
    json(&UpdateUrl { update_url: url })
}

async fn debug_log(mut ctx: Ctx) -> ApiResult<Response> {
    if ctx.var("DANGEROUSLY_LOG_TO_SERVER_FOR_AI_AUTO_DEBUGGING").is_none() {
        return Err(ApiError::not_found("Not found"));
    }
    let body: LogBody = ctx.json().await?;
    let cut = |s: &str| s.chars().take(MAX_LOG_CHARS).collect::<String>();
    let field = |s: &Option<String>| s.as_deref().map(cut).unwrap_or_default();
    worker::console_log!(
        "[{}] [{}/{}] {} {}{}",
        field(&body.timestamp),
        field(&body.source),
        field(&body.platform),
        field(&body.level),
        cut(&body.message),
        body.raw.map(|r| format!(" {}", cut(&r.to_string()))).unwrap_or_default()
    );
    json(&Success::TRUE)
}
