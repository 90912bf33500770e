//! The boundary parsers (base64 fields, timestamps, path params, JSON bodies): never panic.
#![no_main]

use happy_server::app::router::{match_path, percent_decode};
use happy_server::domain::encoding::{b64_decode, b64_fixed};
use happy_server::domain::time::parse_iso8601;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = b64_decode("f", s);
        let _ = b64_fixed::<32>("f", s);
        let _ = parse_iso8601(s);
        let _ = percent_decode(s);
        let _ = match_path("/v1/sessions/:id/messages", s);
        let _ = happy_server::app::ctx::parse_json::<serde_json::Value>(data);
    }
});
