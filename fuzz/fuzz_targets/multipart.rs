//! Upload bodies: the streaming multipart parser (whole and in small chunks, which must agree),
//! the file checks, content sniffing, image headers and Range headers never panic, whatever the
//! bytes.
#![no_main]

use happy_server::storage::{intake, multipart, range, sniff};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First line: the Content-Type header; the rest: the body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (head, body) = data.split_at(split);
    if let Ok(content_type) = std::str::from_utf8(head) {
        let whole = multipart::parse(content_type, body, body.len());
        assert_eq!(whole, multipart::parse(content_type, body, 3));
        for (head, data) in whole.into_iter().flatten() {
            let mut file = intake::FileIntake::new(head.content_type, 1 << 20, 1 << 20);
            if data.chunks(7).all(|piece| file.feed(piece).is_ok()) {
                let _ = file.finish();
            }
        }
        let _ = range::parse_range(Some(content_type), body.len() as u64);
        let _ = range::none_match(Some(content_type), "\"etag\"");
    }
    if let Some(kind) = sniff::magic(body) {
        let _ = sniff::dimensions(kind, body);
    }
    let _ = sniff::verify_head(Some("image/png"), body);
});
