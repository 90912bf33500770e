//! D1 access: typed arguments, row decoding, and atomic batches. Route code never builds
//! `JsValue`s itself.

pub mod access_keys;
pub mod accounts;
pub mod artifacts;
pub mod attachments;
pub mod connect_tokens;
pub mod devices;
pub mod feed;
pub mod github;
pub mod import;
pub mod inactivity;
pub mod kv;
pub mod limits;
pub mod machines;
pub mod messages;
pub mod pairing;
pub mod plans;
pub mod push_tokens;
pub mod relationships;
pub mod revoked_tokens;
pub mod sessions;
pub mod uploads;
pub mod usage;
pub mod vendor_tokens;
pub mod versioned;
pub mod voice;

#[cfg(test)]
pub(crate) mod in_sqlite;
#[cfg(test)]
pub(crate) mod sql_only_here;

use serde::de::DeserializeOwned;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, Env};

use crate::error::{ApiError, ApiResult};
use limits::Failure;

/// A bound SQL argument; serialized as the JSON value D1 binds (tests and bench/ replay
/// statements elsewhere).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum Arg {
    Null,
    Int(i64),
    Text(String),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_string())
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::Text(s.clone())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}
impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Arg::Int(n)
    }
}
impl From<u32> for Arg {
    fn from(n: u32) -> Self {
        Arg::Int(n as i64)
    }
}
impl From<usize> for Arg {
    fn from(n: usize) -> Self {
        Arg::Int(n as i64)
    }
}
impl From<bool> for Arg {
    fn from(b: bool) -> Self {
        Arg::Int(b as i64)
    }
}
impl<T: Into<Arg>> From<Option<T>> for Arg {
    fn from(o: Option<T>) -> Self {
        o.map(Into::into).unwrap_or(Arg::Null)
    }
}
impl From<&Option<String>> for Arg {
    fn from(o: &Option<String>) -> Self {
        o.as_deref().map(Arg::from).unwrap_or(Arg::Null)
    }
}

impl Arg {
    fn js(&self) -> JsValue {
        match self {
            Arg::Null => JsValue::NULL,
            // Every integer we store (ms timestamps, counters) is far below 2^53.
            Arg::Int(n) => JsValue::from_f64(*n as f64),
            Arg::Text(s) => JsValue::from_str(s),
        }
    }
}

/// A statement and its arguments, built apart from D1: a batch that is worth reading or
/// replaying whole is built as a list of these, then prepared with [`Db::stmt`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Statement {
    pub sql: String,
    pub args: Vec<Arg>,
}

/// `args![a, b, c]` converts each value into an [`Arg`].
#[macro_export]
macro_rules! args {
    ($($x:expr),* $(,)?) => { &[$($crate::db::Arg::from($x)),*] };
}

/// One invocation's D1 handle: clones share the count of calls made, which is refused past
/// [`limits::REQUEST_CALL_BUDGET`] in every build (on Free the platform fails the 51st).
#[derive(Clone)]
pub struct Db {
    inner: std::rc::Rc<D1Database>,
    calls: std::rc::Rc<std::cell::Cell<u32>>,
}

impl Db {
    pub fn from_env(env: &Env) -> ApiResult<Db> {
        Ok(Db { inner: std::rc::Rc::new(env.d1("DB")?), calls: Default::default() })
    }

    /// Counts one call to D1; an error once the invocation's budget is spent. Not inlined: one
    /// copy for every caller of `retry`.
    #[inline(never)]
    fn spend(&self) -> worker::Result<()> {
        let n = self.calls.get() + 1;
        self.calls.set(n);
        if n > limits::REQUEST_CALL_BUDGET {
            worker::console_error!(
                "D1 call {n} in one invocation: over the Free plan's {}",
                limits::MAX_CALLS_PER_INVOCATION
            );
            return Err(worker::Error::RustError(format!(
                "over {} D1 calls in one invocation",
                limits::REQUEST_CALL_BUDGET
            )));
        }
        Ok(())
    }

    /// Prepares a statement, refusing one that D1 would refuse (see [`limits`]).
    pub fn stmt(&self, sql: &str, args: &[Arg]) -> ApiResult<D1PreparedStatement> {
        let texts: Vec<Option<&str>> =
            args.iter().map(|a| if let Arg::Text(s) = a { Some(s.as_str()) } else { None }).collect();
        if let Err(exceeded) = limits::check(sql, &texts) {
            worker::console_error!("refused a statement over D1's limits: {exceeded}");
            return Err(ApiError::internal(format!("Statement over D1's limits: {exceeded}")));
        }
        let values: Vec<JsValue> = args.iter().map(Arg::js).collect();
        Ok(self.inner.prepare(sql).bind(&values)?)
    }

    pub async fn all<T: DeserializeOwned>(&self, sql: &str, args: &[Arg]) -> ApiResult<Vec<T>> {
        let stmt = self.stmt(sql, args)?;
        rows(&self.retry(Retry::Read, || stmt.all()).await.map_err(d1_error)?)
    }

    pub async fn first<T: DeserializeOwned>(&self, sql: &str, args: &[Arg]) -> ApiResult<Option<T>> {
        let stmt = self.stmt(sql, args)?;
        self.retry(Retry::Read, || stmt.first::<T>(None)).await.map_err(d1_error)
    }

    /// Runs one write; returns the number of rows changed.
    pub async fn run(&self, sql: &str, args: &[Arg]) -> ApiResult<u64> {
        let stmt = self.stmt(sql, args)?;
        Ok(changes(&self.retry(Retry::Write, || stmt.run()).await.map_err(d1_error)?))
    }

    /// Runs the statements as one transaction: all apply or none.
    pub async fn batch(&self, stmts: Vec<D1PreparedStatement>) -> ApiResult<Vec<D1Result>> {
        self.retry(Retry::Write, || self.inner.batch(stmts.clone())).await.map_err(d1_error)
    }
}

/// Which failures a call may retry.
#[derive(Clone, Copy, PartialEq)]
enum Retry {
    /// Reads change nothing: busy and transient failures are retried.
    Read,
    /// A write that may have applied is not repeated: only "busy" (nothing applied) is.
    Write,
}

impl Db {
    /// Runs a D1 call, again after a jittered backoff while its failure is retryable for
    /// `kind`; every attempt is counted.
    async fn retry<T, F, Fut>(&self, kind: Retry, mut call: F) -> worker::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = worker::Result<T>>,
    {
        let mut attempt = 0;
        loop {
            self.spend()?;
            match call().await {
                Err(e) if attempt < limits::MAX_RETRIES && retryable(kind, &e) => {
                    backoff(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// The wait before a retry, behind a dynamic call: `retry` is instantiated for every caller and
/// inlined into it, and this code, which a healthy request never runs, would be compiled with
/// each on an isolate's first request (bench/RESULTS.md, "cold requests").
#[inline(never)]
fn backoff(attempt: u32) -> futures_util::future::LocalBoxFuture<'static, ()> {
    let unit = u16::from_le_bytes(crate::crypto::util::random_bytes::<2>()) as f64 / 65_536.0;
    Box::pin(worker::Delay::from(std::time::Duration::from_millis(limits::backoff_ms(attempt, unit))))
}

#[inline(never)]
fn retryable(kind: Retry, e: &worker::Error) -> bool {
    match limits::classify(&e.to_string()) {
        Failure::Busy => true,
        Failure::Transient => kind == Retry::Read,
        Failure::Other => false,
    }
}

/// A D1 failure left over after retrying: busy or transient is 503 with `Retry-After`, anything
/// else is ours (500). Not inlined: every D1 call site names it, few ever run it.
#[inline(never)]
fn d1_error(e: worker::Error) -> ApiError {
    let message = e.to_string();
    match limits::classify(&message) {
        Failure::Other => e.into(),
        Failure::Busy | Failure::Transient => {
            worker::console_error!("D1 unavailable: {message}");
            ApiError::unavailable("Database temporarily unavailable, please retry", 1)
        }
    }
}

pub fn rows<T: DeserializeOwned>(result: &D1Result) -> ApiResult<Vec<T>> {
    result.results::<T>().map_err(|e| {
        worker::console_error!("row decoding failed: {e}");
        ApiError::internal("Internal error")
    })
}

pub fn first_row<T: DeserializeOwned>(result: &D1Result) -> ApiResult<Option<T>> {
    Ok(rows::<T>(result)?.into_iter().next())
}

pub fn changes(result: &D1Result) -> u64 {
    result.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) as u64
}

/// `{seq}` rows returned by the counter bumps.
#[derive(serde::Deserialize)]
pub struct SeqRow {
    pub seq: i64,
}

/// Allocates the account's next update seq. Put it in the same batch as the change it numbers,
/// so the change and its seq commit together.
pub fn bump_account_seq(db: &Db, user_id: &str) -> ApiResult<D1PreparedStatement> {
    db.stmt("UPDATE accounts SET seq = seq + 1 WHERE id = ?1 RETURNING seq", &[Arg::from(user_id)])
}

/// Like [`bump_account_seq`], but only when `guard` (an SQL boolean over `?2…`, e.g. the
/// compare-and-set predicate of the write in the same batch) holds, so a write that does not
/// happen burns no seq.
pub fn bump_account_seq_if(db: &Db, user_id: &str, guard: &str, guard_args: &[Arg]) -> ApiResult<D1PreparedStatement> {
    let mut args = vec![Arg::from(user_id)];
    args.extend_from_slice(guard_args);
    db.stmt(&format!("UPDATE accounts SET seq = seq + 1 WHERE id = ?1 AND ({guard}) RETURNING seq"), &args)
}

/// The error text the `batch_guards` trigger raises (migration 0003).
const GUARD_FAILED: &str = "batch-guard-failed";

/// A statement that aborts its whole batch unless `predicate` (an SQL boolean over `args`) holds
/// when the batch reaches it. Use it to make a multi-row compare-and-set all-or-nothing: guarded
/// writes first, then a guard that checks they all applied. Run the batch with
/// [`Db::batch_guarded`].
pub fn guard(db: &Db, predicate: &str, args: &[Arg]) -> ApiResult<D1PreparedStatement> {
    db.stmt(&format!("INSERT INTO batch_guards (ok) SELECT ({predicate})"), args)
}

impl Db {
    /// Whether D1 answers a trivial query (GET /health).
    pub async fn reachable(&self) -> bool {
        self.first::<serde_json::Value>("SELECT 1 AS ok", &[]).await.is_ok()
    }

    /// Like [`Db::batch`], but a batch rolled back by a [`guard`] is `Ok(None)`.
    pub async fn batch_guarded(&self, stmts: Vec<D1PreparedStatement>) -> ApiResult<Option<Vec<D1Result>>> {
        match self.retry(Retry::Write, || self.inner.batch(stmts.clone())).await {
            Ok(results) => Ok(Some(results)),
            Err(e) if e.to_string().contains(GUARD_FAILED) => Ok(None),
            Err(e) => Err(d1_error(e)),
        }
    }
}
