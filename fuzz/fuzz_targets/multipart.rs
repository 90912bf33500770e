//! Upload bodies: the multipart parser, content sniffing, image headers and Range headers never
//! panic, whatever the bytes.
#![no_main]

use happy_server::storage::{multipart, range, sniff};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First line: the Content-Type header; the rest: the body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (head, body) = data.split_at(split);
    if let Ok(content_type) = std::str::from_utf8(head) {
        if let Ok(parts) = multipart::parse(content_type, body) {
            for part in parts {
                let _ = format!("{part:?}");
            }
        }
        let _ = range::parse_range(Some(content_type), body.len() as u64);
        let _ = range::none_match(Some(content_type), "\"etag\"");
    }
    if let Some(kind) = sniff::magic(body) {
        let _ = sniff::dimensions(kind, body);
    }
    let _ = sniff::verify(Some("image/png"), body);
});
