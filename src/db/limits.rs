//! What production D1 refuses and local SQLite accepts, refused here in every build, so a test
//! that reaches a limit fails under `wrangler dev` as it would on the platform
//! (<https://developers.cloudflare.com/d1/platform/limits/>). Also the classification of D1's
//! errors into "retry", "answer 503" and "our bug".

/// Bound parameters in one statement.
pub const MAX_BOUND_PARAMS: usize = 100;
/// Bytes of SQL text in one statement.
pub const MAX_STATEMENT_BYTES: usize = 100_000;
/// Bytes of one bound string (D1's string, BLOB and row limit).
pub const MAX_STRING_BYTES: usize = 2_000_000;
/// Bytes of a LIKE or GLOB pattern.
pub const MAX_PATTERN_BYTES: usize = 50;
/// D1 calls (subrequests) per Worker invocation on the Free plan (1,000 on Paid); a batch is
/// one call, a retry another.
pub const MAX_CALLS_PER_INVOCATION: u32 = 50;
/// What one request's `Db` may spend: authentication may make two calls of its own (the
/// account's existence and the revocation sync on a token's first use in an isolate, or a
/// device key lookup) outside it.
pub const REQUEST_CALL_BUDGET: u32 = MAX_CALLS_PER_INVOCATION - 2;

/// A statement D1 would refuse, and which limit it crosses.
#[derive(Debug, PartialEq)]
pub enum Exceeded {
    BoundParams(usize),
    StatementBytes(usize),
    StringBytes { param: usize, bytes: usize },
    PatternBytes { bytes: usize },
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::BoundParams(n) => write!(f, "{n} bound parameters (D1 allows {MAX_BOUND_PARAMS})"),
            Exceeded::StatementBytes(n) => write!(f, "statement of {n} bytes (D1 allows {MAX_STATEMENT_BYTES})"),
            Exceeded::StringBytes { param, bytes } => {
                write!(f, "parameter ?{param} of {bytes} bytes (D1 allows {MAX_STRING_BYTES})")
            }
            Exceeded::PatternBytes { bytes } => {
                write!(f, "LIKE/GLOB pattern of {bytes} bytes (D1 allows {MAX_PATTERN_BYTES})")
            }
        }
    }
}

/// Checks one statement: `params[i]` is the value of `?{i+1}` when it is a string (`None` for
/// numbers and NULL).
pub fn check(sql: &str, params: &[Option<&str>]) -> Result<(), Exceeded> {
    if sql.len() > MAX_STATEMENT_BYTES {
        return Err(Exceeded::StatementBytes(sql.len()));
    }
    if params.len() > MAX_BOUND_PARAMS {
        return Err(Exceeded::BoundParams(params.len()));
    }
    for (i, p) in params.iter().enumerate() {
        if let Some(s) = p.filter(|s| s.len() > MAX_STRING_BYTES) {
            return Err(Exceeded::StringBytes { param: i + 1, bytes: s.len() });
        }
    }
    for pattern in patterns(sql, params) {
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(Exceeded::PatternBytes { bytes: pattern.len() });
        }
    }
    Ok(())
}

/// The right-hand sides of `LIKE`/`GLOB` in `sql`: a bound `?N` resolved from `params`, or a
/// quoted literal. One pass over the bytes: this runs on every statement, and a substring
/// searcher is code an isolate's first request would compile for it.
fn patterns<'a>(sql: &'a str, params: &[Option<&'a str>]) -> Vec<&'a str> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    for at in 0..bytes.len().saturating_sub(3) {
        let word = &bytes[at..at + 4];
        if !(word.eq_ignore_ascii_case(b"LIKE") || word.eq_ignore_ascii_case(b"GLOB")) {
            continue;
        }
        let word_start = at == 0 || !is_ident(bytes[at - 1]);
        let word_end = bytes.get(at + 4).is_none_or(|b| !is_ident(*b));
        if !(word_start && word_end) {
            continue;
        }
        let rest = sql[at + 4..].trim_start();
        if let Some(digits) = rest.strip_prefix('?') {
            let n = digits
                .bytes()
                .take_while(u8::is_ascii_digit)
                .fold(0usize, |n, d| n.saturating_mul(10).saturating_add(usize::from(d - b'0')));
            if let Some(Some(value)) = params.get(n.wrapping_sub(1)) {
                out.push(*value);
            }
        } else if let Some(literal) = rest.strip_prefix('\'') {
            out.push(literal.split('\'').next().unwrap_or(""));
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// What to do about a failed D1 call.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Failure {
    /// SQLite was busy: nothing was applied, a retry is always safe.
    Busy,
    /// D1's documented transient failures: the call may or may not have applied, so only
    /// reads and idempotent writes are retried; otherwise the client is told to retry (503).
    Transient,
    /// Anything else: a constraint, a bad statement, a guard: not retried.
    Other,
}

/// Classifies a D1 error by its message (the runtime gives no codes). The transient messages are
/// the ones Cloudflare's retry guidance lists
/// (<https://developers.cloudflare.com/d1/best-practices/retry-queries/>).
pub fn classify(message: &str) -> Failure {
    const TRANSIENT: [&str; 3] =
        ["Network connection lost", "storage caused object to be reset", "reset because its code was updated"];
    if message.contains("SQLITE_BUSY") || message.contains("database is locked") {
        Failure::Busy
    } else if TRANSIENT.iter().any(|t| message.contains(t)) {
        Failure::Transient
    } else {
        Failure::Other
    }
}

/// Backoff before retry `attempt` (0-based): exponential from 20 ms with full jitter, so many
/// isolates retrying after one reset do not arrive together. `unit` is a uniform sample in
/// [0, 1).
pub fn backoff_ms(attempt: u32, unit: f64) -> u64 {
    let cap = 20u64 << attempt.min(5);
    (cap as f64 / 2.0 + unit.clamp(0.0, 1.0) * cap as f64 / 2.0) as u64
}

/// Retries per call before giving up.
pub const MAX_RETRIES: u32 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_each_limit_and_accepts_what_is_under() {
        assert_eq!(check("SELECT 1", &[]), Ok(()));
        let long = "x".repeat(MAX_STATEMENT_BYTES + 1);
        assert_eq!(check(&long, &[]), Err(Exceeded::StatementBytes(MAX_STATEMENT_BYTES + 1)));
        assert_eq!(check(&"x".repeat(MAX_STATEMENT_BYTES), &[]), Ok(()));
        assert_eq!(check("SELECT ?", &vec![None; 101]), Err(Exceeded::BoundParams(101)));
        assert_eq!(check("SELECT ?", &vec![None; 100]), Ok(()));
        let big = "a".repeat(MAX_STRING_BYTES + 1);
        assert_eq!(
            check("INSERT INTO t VALUES (?1, ?2)", &[None, Some(&big)]),
            Err(Exceeded::StringBytes { param: 2, bytes: MAX_STRING_BYTES + 1 })
        );
        assert_eq!(check("INSERT INTO t VALUES (?1)", &[Some(&big[1..])]), Ok(()));
    }

    #[test]
    fn measures_bound_and_literal_patterns() {
        let p51 = "a".repeat(51);
        let p50 = "a".repeat(50);
        let sql = "SELECT * FROM t WHERE a = ?1 AND b LIKE ?2 ESCAPE '\\'";
        assert_eq!(check(sql, &[Some(&p51), Some(&p50)]), Ok(()));
        assert_eq!(check(sql, &[Some("x"), Some(&p51)]), Err(Exceeded::PatternBytes { bytes: 51 }));
        assert_eq!(check("SELECT 1 WHERE x glob ?1", &[Some(&p51)]), Err(Exceeded::PatternBytes { bytes: 51 }));
        let literal = format!("SELECT 1 WHERE x LIKE '{p51}'");
        assert_eq!(check(&literal, &[]), Err(Exceeded::PatternBytes { bytes: 51 }));
        // Identifiers that merely contain the keyword are not patterns.
        assert_eq!(check("SELECT likes, glob_count FROM t WHERE unlike = ?1", &[Some(&p51)]), Ok(()));
    }

    #[test]
    fn classifies_the_documented_messages() {
        assert_eq!(classify("D1_ERROR: Network connection lost."), Failure::Transient);
        assert_eq!(classify("D1_ERROR: Durable Object reset because its code was updated."), Failure::Transient);
        assert_eq!(
            classify("Error: D1_ERROR: Internal error while starting up D1 DB storage caused object to be reset."),
            Failure::Transient
        );
        assert_eq!(classify("Error: NOSENTRY database is locked: SQLITE_BUSY"), Failure::Busy);
        assert_eq!(classify("D1_ERROR: UNIQUE constraint failed: sessions.tag"), Failure::Other);
        assert_eq!(classify("batch-guard-failed"), Failure::Other);
    }

    #[test]
    fn backoff_grows_is_jittered_and_bounded() {
        assert_eq!(backoff_ms(0, 0.0), 10);
        assert_eq!(backoff_ms(0, 0.999), 19);
        assert_eq!(backoff_ms(3, 0.0), 80);
        assert_eq!(backoff_ms(50, 1.0), 640);
    }
}
