//! The one predicate that tells a stock Happy client (the published app) from a client of the
//! seed contract, for the routes whose response shapes conflict (docs/compatibility.md C1, C4, C6).
//!
//! Stock: the request carries `X-Happy-Client` (app builds since 2026-04-19), or is a GET with
//! `Content-Type: application/json` (every app build sends it on its GETs; seed clients and
//! browsers' plain GETs do not).

use worker::Method;

use super::ctx::Ctx;

pub fn is_stock_client(ctx: &Ctx) -> bool {
    stock_signal(
        ctx.header("x-happy-client").is_some(),
        ctx.method == Method::Get,
        ctx.header("content-type").as_deref(),
    )
}

pub fn stock_signal(has_happy_client: bool, is_get: bool, content_type: Option<&str>) -> bool {
    has_happy_client || (is_get && content_type.is_some_and(|c| c.trim_start().starts_with("application/json")))
}

#[cfg(test)]
mod tests {
    use super::stock_signal;

    #[test]
    fn stock_clients_are_recognised() {
        assert!(stock_signal(true, false, None));
        assert!(stock_signal(false, true, Some("application/json")));
        assert!(!stock_signal(false, true, None));
        assert!(!stock_signal(false, false, Some("application/json")));
    }
}
