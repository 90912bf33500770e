//! Multipart bodies as clients send them to the upload routes, and the smallest PNG header
//! the worker reads an image's dimensions from.

pub const BOUNDARY: &str = "----happy-test-boundary-7MA4YWxk";

/// A multipart body: `fields` as text parts, then the file part (when given).
pub fn form(file: Option<(&str, &str, &[u8])>, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    if let Some((name, ct, data)) = file {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

/// A PNG signature and IHDR chunk of `w` × `h`: enough for the upload checks.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut d = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    d.extend_from_slice(&w.to_be_bytes());
    d.extend_from_slice(&h.to_be_bytes());
    d.extend_from_slice(&[8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89]);
    d
}
