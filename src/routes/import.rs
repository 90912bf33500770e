//! Import: what happy-move carries over from another Happy server, written with the source's
//! ids, seqs, versions and timestamps (the ordinary routes mint their own). Every route is the
//! signed-in account's own: records land under its id, and a row of another account under the
//! same id is never touched. Each page is validated whole before anything is written, then
//! written in one statement (db/import.rs).

use serde::Serialize;
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::auth;
use crate::config::now_ms;
use crate::crypto::util::{hex_upper, uuid_v4};
use crate::db::import;
use crate::domain::fields::{message_ciphertext, MAX_ACCESS_KEY, MAX_ID, MAX_KEY};
use crate::domain::text::Text;
use crate::error::{ApiError, ApiResult};
use crate::h;
use crate::routes::account::{check_username, MAX_NAME_CHARS};
use crate::wire::import::{
    AccessKeysBody, AccountBody, ArtifactsBody, ImportedAccount, KvBody, MachinesBody, MessagesBody, ProfileBody,
    SessionsBody, SettingsBody, Written,
};

/// Records per import call: few enough that one call's CPU stays well under the Free plan's
/// 10 ms a request (a full v3 page of 500 messages measured 5.1 ms, 9.5 ms as a 1 MB body,
/// local D1 included: bench/RESULTS.md), so a client sends a v2 or v3 page in parts.
const MAX_RECORDS: usize = 100;
/// JavaScript's largest safe integer: the clients parse every number as a double.
const MAX_WHOLE: i64 = (1 << 53) - 1;

pub const ROUTES: &[Route] = &[
    route(Method::Post, "/v1/auth/import", Access::Public, h!(account))
        .doc("import", "Sign in as for /v1/auth, keeping the account id a token of this server names")
        .body(request_schema::<AccountBody>)
        .returns(response_schema::<ImportedAccount>),
    route(Method::Post, "/v1/import/sessions", Access::User, h!(sessions))
        .doc("import", "Sessions as another server holds them (ids, versions, timestamps)")
        .body(request_schema::<SessionsBody>)
        .returns(response_schema::<Written>),
    route(Method::Post, "/v1/import/sessions/:id/messages", Access::User, h!(messages))
        .doc("import", "A session's messages as another server holds them (ids, seqs, localIds)")
        .body(request_schema::<MessagesBody>)
        .returns(response_schema::<Written>),
    route(Method::Post, "/v1/import/machines", Access::User, h!(machines))
        .doc("import", "Machines as another server holds them")
        .body(request_schema::<MachinesBody>)
        .returns(response_schema::<Written>),
    route(Method::Post, "/v1/import/artifacts", Access::User, h!(artifacts))
        .doc("import", "Artifacts, header and body, as another server holds them")
        .body(request_schema::<ArtifactsBody>)
        .returns(response_schema::<Written>),
    route(Method::Post, "/v1/import/access-keys", Access::User, h!(access_keys))
        .doc("import", "Access keys of the account's sessions and machines, with their versions")
        .body(request_schema::<AccessKeysBody>)
        .returns(response_schema::<Written>),
    route(Method::Post, "/v1/import/settings", Access::User, h!(settings))
        .doc("import", "The account's settings ciphertext, when its version is newer")
        .body(request_schema::<SettingsBody>)
        .returns(response_schema::<Written>),
    route(Method::Post, "/v1/import/profile", Access::User, h!(profile))
        .doc("import", "The account's names and username where it has none (409 username-taken)")
        .body(request_schema::<ProfileBody>)
        .returns(response_schema::<Written>),
    route(Method::Post, "/v1/import/kv", Access::User, h!(kv))
        .doc("import", "KV items with their versions")
        .body(request_schema::<KvBody>)
        .returns(response_schema::<Written>),
];

/// As POST /v1/auth, plus the id: a token signed by this server's key for account X (a server
/// sharing this one's master secret minted it) proves the holder's claim to X, so the account is
/// created as X and every token that server minted keeps working here. Without such a token the
/// id is not taken on trust (anyone could squat another user's id): the account gets a new one.
async fn account(mut ctx: Ctx) -> ApiResult<Response> {
    let body: AccountBody = ctx.json().await?;
    let public_key = super::auth::signing_key(&body.public_key, &body.challenge, &body.signature).await?;
    let claimed = match body.source_token.as_deref() {
        Some(token) => auth::keys::account_key(&ctx.env)
            .await?
            .verify(token, now_ms() as u64)
            .await
            .map(|v| v.user_id)
            .filter(|id| !id.is_empty() && id.len() <= MAX_ID),
        None => None,
    };
    let id = import::account(&ctx.db()?, &hex_upper(&public_key), claimed.as_deref(), &uuid_v4(), now_ms()).await?;
    let token = auth::mint(&ctx.env, &id, &serde_json::Map::new()).await?;
    let id_kept = claimed.as_deref() == Some(id.as_str());
    json(&ImportedAccount { success: true, token, account_id: id, id_kept })
}

/// Timestamps (ms), versions and seqs: integers JavaScript holds exactly, none negative.
fn whole(field: &str, values: &[i64]) -> ApiResult<()> {
    match values.iter().all(|v| (0..=MAX_WHOLE).contains(v)) {
        true => Ok(()),
        false => Err(ApiError::bad_request(format!("{field}: timestamps, versions and seqs must be 0..=2^53-1"))),
    }
}

fn page<T>(field: &str, records: &[T]) -> ApiResult<()> {
    match records.len() {
        0..=MAX_RECORDS => Ok(()),
        n => Err(ApiError::bad_request(format!("{field}: at most {MAX_RECORDS} a call, got {n}"))),
    }
}

fn answer(received: usize, written: u64) -> ApiResult<Response> {
    json(&Written { received, written })
}

async fn sessions(mut ctx: Ctx) -> ApiResult<Response> {
    let body: SessionsBody = ctx.json().await?;
    page("sessions", &body.sessions)?;
    for s in &body.sessions {
        Text::parse("id", &s.id, MAX_ID)?;
        let s = &s.fields;
        Text::non_empty("metadata", &s.metadata)?;
        Text::parse_opt("agentState", s.agent_state.as_deref(), usize::MAX)?;
        Text::blob_opt("dataEncryptionKey", s.data_encryption_key.as_deref(), MAX_KEY)?;
        whole("sessions", &[s.metadata_version, s.agent_state_version, s.active_at, s.created_at, s.updated_at])?;
    }
    let records = serde_json::to_string(&body.sessions).map_err(|_| ApiError::internal("sessions unserializable"))?;
    let written = import::sessions(&ctx.db()?, ctx.user_id()?, &records).await?;
    answer(body.sessions.len(), written)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageRecord<'a> {
    id: &'a str,
    seq: i64,
    local_id: Option<&'a str>,
    content: String,
    created_at: i64,
    updated_at: i64,
}

async fn messages(mut ctx: Ctx) -> ApiResult<Response> {
    let body: MessagesBody = ctx.json().await?;
    page("messages", &body.messages)?;
    let mut records = Vec::with_capacity(body.messages.len());
    for m in &body.messages {
        Text::parse("id", &m.id, MAX_ID)?;
        Text::parse_opt("localId", m.local_id.as_deref(), MAX_ID)?;
        if m.seq < 1 {
            return Err(ApiError::bad_request("messages: seq starts at 1"));
        }
        whole("messages", &[m.seq, m.created_at, m.updated_at])?;
        let content = message_ciphertext(&m.content)?;
        records.push(MessageRecord {
            id: &m.id,
            seq: m.seq,
            local_id: m.local_id.as_deref(),
            content,
            created_at: m.created_at,
            updated_at: m.updated_at,
        });
    }
    let records = serde_json::to_string(&records).map_err(|_| ApiError::internal("messages unserializable"))?;
    let written = import::messages(&ctx.db()?, ctx.user_id()?, ctx.param("id"), &records)
        .await?
        .ok_or_else(|| ApiError::not_found("Session not found"))?;
    answer(body.messages.len(), written)
}

async fn machines(mut ctx: Ctx) -> ApiResult<Response> {
    let body: MachinesBody = ctx.json().await?;
    page("machines", &body.machines)?;
    for m in &body.machines {
        Text::parse("id", &m.id, MAX_ID)?;
        let seq = m.seq;
        let m = &m.fields;
        Text::non_empty("metadata", &m.metadata)?;
        Text::parse_opt("daemonState", m.daemon_state.as_deref(), usize::MAX)?;
        Text::blob_opt("dataEncryptionKey", m.data_encryption_key.as_deref(), MAX_KEY)?;
        whole("machines", &[m.metadata_version, m.daemon_state_version, seq, m.active_at, m.created_at, m.updated_at])?;
    }
    let records = serde_json::to_string(&body.machines).map_err(|_| ApiError::internal("machines unserializable"))?;
    let written = import::machines(&ctx.db()?, ctx.user_id()?, &records).await?;
    answer(body.machines.len(), written)
}

async fn kv(mut ctx: Ctx) -> ApiResult<Response> {
    let body: KvBody = ctx.json().await?;
    page("items", &body.items)?;
    for item in &body.items {
        crate::domain::kv::key(&item.key)?;
        Text::non_empty("value", &item.value)?;
        whole("items", &[item.version])?;
    }
    let records = serde_json::to_string(&body.items).map_err(|_| ApiError::internal("items unserializable"))?;
    let written = import::kv(&ctx.db()?, ctx.user_id()?, &records, now_ms()).await?;
    answer(body.items.len(), written)
}

async fn artifacts(mut ctx: Ctx) -> ApiResult<Response> {
    let body: ArtifactsBody = ctx.json().await?;
    page("artifacts", &body.artifacts)?;
    for a in &body.artifacts {
        Text::parse("id", &a.id, MAX_ID)?;
        Text::non_empty("header", &a.header)?;
        Text::non_empty("body", &a.body)?;
        Text::blob("dataEncryptionKey", &a.data_encryption_key, MAX_KEY)?;
        whole("artifacts", &[a.header_version, a.body_version, a.seq, a.created_at, a.updated_at])?;
    }
    let records = serde_json::to_string(&body.artifacts).map_err(|_| ApiError::internal("artifacts unserializable"))?;
    let written = import::artifacts(&ctx.db()?, ctx.user_id()?, &records).await?;
    answer(body.artifacts.len(), written)
}

async fn access_keys(mut ctx: Ctx) -> ApiResult<Response> {
    let body: AccessKeysBody = ctx.json().await?;
    page("keys", &body.keys)?;
    for k in &body.keys {
        Text::parse("sessionId", &k.session_id, MAX_ID)?;
        Text::parse("machineId", &k.machine_id, MAX_ID)?;
        let k = &k.key;
        Text::blob("data", &k.data, MAX_ACCESS_KEY)?;
        whole("keys", &[k.data_version, k.created_at, k.updated_at])?;
    }
    let records = serde_json::to_string(&body.keys).map_err(|_| ApiError::internal("keys unserializable"))?;
    let written = import::access_keys(&ctx.db()?, ctx.user_id()?, &records).await?;
    answer(body.keys.len(), written)
}

async fn settings(mut ctx: Ctx) -> ApiResult<Response> {
    let body: SettingsBody = ctx.json().await?;
    Text::parse_opt("settings", body.settings.as_deref(), usize::MAX)?;
    whole("settingsVersion", &[body.settings_version])?;
    let written =
        import::settings(&ctx.db()?, ctx.user_id()?, body.settings.as_deref(), body.settings_version, now_ms()).await?;
    answer(1, written)
}

/// The names and username where the account has none, under this server's own limits (a name
/// may be empty, as the Node server allows); a username another account holds here is a 409
/// and nothing is written.
async fn profile(mut ctx: Ctx) -> ApiResult<Response> {
    let body: ProfileBody = ctx.json().await?;
    for (field, name) in [("firstName", &body.first_name), ("lastName", &body.last_name)] {
        if let Some(n) = name {
            Text::up_to(field, n, MAX_NAME_CHARS)?;
        }
    }
    if let Some(u) = &body.username {
        check_username(u)?;
    }
    let names = import::Profile { first_name: body.first_name, last_name: body.last_name, username: body.username };
    let written = import::profile(&ctx.db()?, ctx.user_id()?, &names, now_ms())
        .await?
        .ok_or_else(|| ApiError::conflict("username-taken").with("success", false))?;
    answer(1, written)
}
