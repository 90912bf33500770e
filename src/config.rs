//! Configuration from wrangler vars and secrets (see .dev.vars.example for every variable).

use worker::Env;

/// A non-empty var or secret.
pub fn var(env: &Env, name: &str) -> Option<String> {
    let value = env.var(name).map(|v| v.to_string()).or_else(|_| env.secret(name).map(|v| v.to_string())).ok()?;
    let value = value.trim().to_string();
    (!value.is_empty()).then_some(value)
}

/// `ENVIRONMENT=production`: wrangler.toml's production environment.
pub fn is_production(env: &Env) -> bool {
    var(env, "ENVIRONMENT").as_deref() == Some("production")
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    #[cfg(target_arch = "wasm32")]
    {
        worker::js_sys::Date::now() as i64
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}
