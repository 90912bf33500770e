//! What an upload really is: the content type from its magic bytes (the declared type must
//! agree), text checks, and image dimensions read from the headers of PNG, JPEG, GIF and WebP.

/// Every content type an upload may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpeg,
    Gif,
    Webp,
    Pdf,
    Text,
    Json,
    Markdown,
}

impl Kind {
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
            Kind::Pdf => "application/pdf",
            Kind::Text => "text/plain",
            Kind::Json => "application/json",
            Kind::Markdown => "text/markdown",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Kind::Png => "png",
            Kind::Jpeg => "jpg",
            Kind::Gif => "gif",
            Kind::Webp => "webp",
            Kind::Pdf => "pdf",
            Kind::Text => "txt",
            Kind::Json => "json",
            Kind::Markdown => "md",
        }
    }

    pub fn is_image(self) -> bool {
        matches!(self, Kind::Png | Kind::Jpeg | Kind::Gif | Kind::Webp)
    }

    /// Text kinds are checked byte by byte ([`TextCheck`]); the others by their signature.
    pub fn is_text(self) -> bool {
        matches!(self, Kind::Text | Kind::Json | Kind::Markdown)
    }

    /// The kind a declared Content-Type names (parameters and case ignored).
    pub fn from_mime(declared: &str) -> Option<Kind> {
        Some(match essence(declared).as_str() {
            "image/png" => Kind::Png,
            "image/jpeg" | "image/jpg" => Kind::Jpeg,
            "image/gif" => Kind::Gif,
            "image/webp" => Kind::Webp,
            "application/pdf" => Kind::Pdf,
            "text/plain" => Kind::Text,
            "application/json" => Kind::Json,
            "text/markdown" | "text/x-markdown" => Kind::Markdown,
            _ => return None,
        })
    }
}

/// `Image/PNG; charset=x` → `image/png`.
fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// The binary kind the bytes announce, if any.
pub fn magic(data: &[u8]) -> Option<Kind> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(Kind::Jpeg)
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Some(Kind::Gif)
    } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some(Kind::Webp)
    } else if data.starts_with(b"%PDF-") {
        Some(Kind::Pdf)
    } else {
        None
    }
}

/// The kind the declared type and the file's first bytes agree on; `head` is its first
/// [`MAGIC_LEN`] bytes (all of a shorter file). A missing or generic declaration
/// (`application/octet-stream`) takes the magic bytes' kind. Text kinds must not carry a binary
/// signature, and every byte of them must then pass a [`TextCheck`].
pub fn verify_head(declared: Option<&str>, head: &[u8]) -> Option<Kind> {
    let sniffed = magic(head);
    let kind = match declared.map(essence).as_deref() {
        None | Some("") | Some("application/octet-stream") => sniffed?,
        Some(d) => Kind::from_mime(d)?,
    };
    if kind.is_text() {
        sniffed.is_none().then_some(kind)
    } else {
        (sniffed == Some(kind)).then_some(kind)
    }
}

/// Enough bytes for every signature `magic` knows.
pub const MAGIC_LEN: usize = 16;

/// UTF-8 without NUL, judged a piece at a time as the bytes stream by: a character split
/// between two pieces is carried over (at most 3 bytes).
#[derive(Default)]
pub struct TextCheck {
    carry: Vec<u8>,
    failed: bool,
}

impl TextCheck {
    /// Takes the next bytes; false once the text is refused.
    pub fn feed(&mut self, mut bytes: &[u8]) -> bool {
        if self.failed || memchr::memchr(0, bytes).is_some() {
            self.failed = true;
            return false;
        }
        if !self.carry.is_empty() {
            // Complete the carried character with at most the 3 bytes it can still need.
            let carried = self.carry.len();
            let take = (4 - carried).min(bytes.len());
            self.carry.extend_from_slice(&bytes[..take]);
            match std::str::from_utf8(&self.carry) {
                Ok(_) => bytes = &bytes[take..],
                Err(e) if e.valid_up_to() > 0 => bytes = &bytes[e.valid_up_to() - carried..],
                Err(e) if e.error_len().is_none() => return true,
                Err(_) => {
                    self.failed = true;
                    return false;
                }
            }
            self.carry.clear();
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => {}
            Err(e) if e.error_len().is_none() => self.carry = bytes[e.valid_up_to()..].to_vec(),
            Err(_) => self.failed = true,
        }
        !self.failed
    }

    /// Whether everything fed was text, ending on a whole character.
    pub fn finish(&self) -> bool {
        !self.failed && self.carry.is_empty()
    }
}

/// Width and height in pixels from the image's header; `None` when truncated or malformed.
pub fn dimensions(kind: Kind, data: &[u8]) -> Option<(u32, u32)> {
    match kind {
        Kind::Png => png(data),
        Kind::Jpeg => jpeg(data),
        Kind::Gif => Some((le16(data, 6)? as u32, le16(data, 8)? as u32)),
        Kind::Webp => webp(data),
        _ => None,
    }
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(d.get(at..at + 2)?.try_into().ok()?))
}
fn le16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}
fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}
fn le24(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at + 3)?;
    Some(b[0] as u32 | (b[1] as u32) << 8 | (b[2] as u32) << 16)
}

/// Signature, then the IHDR chunk: length, "IHDR", width, height (big-endian).
fn png(d: &[u8]) -> Option<(u32, u32)> {
    (d.get(12..16)? == b"IHDR").then_some(())?;
    Some((be32(d, 16)?, be32(d, 20)?))
}

/// Walks the marker segments to the first start-of-frame (SOF0..SOF15 except DHT, JPG, DAC).
fn jpeg(d: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    loop {
        // Markers may be padded with extra 0xFF bytes.
        while *d.get(i)? == 0xff && *d.get(i + 1)? == 0xff {
            i += 1;
        }
        if *d.get(i)? != 0xff {
            return None;
        }
        let marker = *d.get(i + 1)?;
        i += 2;
        match marker {
            // Standalone markers carry no length.
            0x01 | 0xd0..=0xd7 => continue,
            0xd9 | 0xda => return None,
            _ => {}
        }
        let len = be16(d, i)? as usize;
        if len < 2 {
            return None;
        }
        if matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
            // length, precision, height, width
            return Some((be16(d, i + 5)? as u32, be16(d, i + 3)? as u32));
        }
        i += len;
    }
}

fn webp(d: &[u8]) -> Option<(u32, u32)> {
    match d.get(12..16)? {
        b"VP8 " => {
            // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
            (d.get(23..26)? == [0x9d, 0x01, 0x2a]).then_some(())?;
            Some(((le16(d, 26)? & 0x3fff) as u32, (le16(d, 28)? & 0x3fff) as u32))
        }
        b"VP8L" => {
            (*d.get(20)? == 0x2f).then_some(())?;
            let bits = u32::from_le_bytes(d.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        b"VP8X" => Some((le24(d, 24)? + 1, le24(d, 27)? + 1)),
        _ => None,
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A whole file judged as the upload route judges it: the head, then every byte as text.
    fn verify(declared: Option<&str>, data: &[u8]) -> Option<Kind> {
        let kind = verify_head(declared, &data[..data.len().min(MAGIC_LEN)])?;
        let mut text = TextCheck::default();
        (!kind.is_text() || (text.feed(data) && text.finish())).then_some(kind)
    }

    pub fn png_bytes(w: u32, h: u32) -> Vec<u8> {
        let mut d = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        d.extend_from_slice(&w.to_be_bytes());
        d.extend_from_slice(&h.to_be_bytes());
        d.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        d
    }

    fn jpeg_bytes(w: u16, h: u16) -> Vec<u8> {
        let mut d = vec![0xff, 0xd8, 0xff, 0xe0, 0, 16];
        d.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        d.extend_from_slice(&[0xff, 0xff, 0xc4, 0, 3, 0]); // padding byte, then a DHT to skip
        d.extend_from_slice(&[0xff, 0xc2, 0, 11, 8]);
        d.extend_from_slice(&h.to_be_bytes());
        d.extend_from_slice(&w.to_be_bytes());
        d.extend_from_slice(&[1, 1, 0x11, 0]);
        d
    }

    fn webp_bytes(chunk: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut d = b"RIFF\0\0\0\0WEBP".to_vec();
        d.extend_from_slice(chunk);
        d.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        d.extend_from_slice(payload);
        d
    }

    #[test]
    fn reads_dimensions_of_every_image_kind() {
        assert_eq!(dimensions(Kind::Png, &png_bytes(640, 480)), Some((640, 480)));
        assert_eq!(dimensions(Kind::Jpeg, &jpeg_bytes(1024, 768)), Some((1024, 768)));
        assert_eq!(dimensions(Kind::Gif, b"GIF89a\x20\x03\x58\x02\0\0\0"), Some((800, 600)));
        // VP8: frame tag, start code, 14-bit sizes (top two bits are scale).
        let vp8 = webp_bytes(b"VP8 ", &[0, 0, 0, 0x9d, 0x01, 0x2a, 0x90, 0x41, 0x2c, 0xc1]);
        assert_eq!(dimensions(Kind::Webp, &vp8), Some((400, 300)));
        // VP8L: signature, then (w-1) and (h-1) in 14 bits each.
        let bits: u32 = 99 | (49 << 14);
        let mut l = vec![0x2f];
        l.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(dimensions(Kind::Webp, &webp_bytes(b"VP8L", &l)), Some((100, 50)));
        let x = webp_bytes(b"VP8X", &[0, 0, 0, 0, 0xff, 0x0f, 0, 0x1f, 0x00, 0x00]);
        assert_eq!(dimensions(Kind::Webp, &x), Some((4096, 32)));
        assert_eq!(dimensions(Kind::Pdf, b"%PDF-1.7"), None);
    }

    #[test]
    fn truncated_or_garbage_headers_never_panic() {
        let samples =
            [png_bytes(1, 1), jpeg_bytes(2, 2), b"GIF89a\x01\0\x01\0".to_vec(), webp_bytes(b"VP8X", &[0; 10])];
        for s in &samples {
            let kind = magic(s).unwrap();
            for n in 0..s.len() {
                let _ = dimensions(kind, &s[..n]);
            }
        }
        assert_eq!(dimensions(Kind::Jpeg, &[0xff, 0xd8, 0xff, 0xe0, 0, 0]), None);
        assert_eq!(dimensions(Kind::Jpeg, &[0xff, 0xd8, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn declared_type_must_match_the_bytes() {
        let png = png_bytes(1, 1);
        assert_eq!(verify(Some("image/png"), &png[..]), Some(Kind::Png));
        assert_eq!(verify(Some("IMAGE/PNG; x=y"), &png[..]), Some(Kind::Png));
        assert_eq!(verify(None, &png[..]), Some(Kind::Png));
        assert_eq!(verify(Some("application/octet-stream"), &png[..]), Some(Kind::Png));
        // Spoofs: an image that is not, a PDF called a PNG, a PNG called text.
        assert_eq!(verify(Some("image/png"), &b"<html>"[..]), None);
        assert_eq!(verify(Some("image/png"), &b"%PDF-1.4"[..]), None);
        assert_eq!(verify(Some("text/plain"), &png[..]), None);
        assert_eq!(verify(Some("image/jpeg"), &png[..]), None);
        // Disallowed types.
        assert_eq!(verify(Some("image/svg+xml"), &b"<svg/>"[..]), None);
        assert_eq!(verify(Some("text/html"), &b"<p>"[..]), None);
        assert_eq!(verify(None, &b"hello"[..]), None);
        // Text must be UTF-8 without NUL.
        assert_eq!(verify(Some("text/plain; charset=utf-8"), "héllo".as_bytes()), Some(Kind::Text));
        assert_eq!(verify(Some("application/json"), &b"{}"[..]), Some(Kind::Json));
        assert_eq!(verify(Some("text/markdown"), &b"# hi"[..]), Some(Kind::Markdown));
        assert_eq!(verify(Some("text/plain"), &b"a\0b"[..]), None);
        assert_eq!(verify(Some("text/plain"), &b"\xff\xfe"[..]), None);
    }

    /// Fed in pieces of any size, a text upload is judged as it is whole.
    #[test]
    fn text_check_is_the_same_in_pieces() {
        let samples: [&[u8]; 8] = [
            "héllo wörld €𝄞".as_bytes(),
            b"plain",
            b"a\0b",
            b"\xff\xfe",
            "€".as_bytes(),
            &[0xe2, 0x82],
            &[0xe2, 0x82, 0x41],
            "𝄞€é".as_bytes(),
        ];
        for data in samples {
            let whole = std::str::from_utf8(data).is_ok() && !data.contains(&0);
            for piece in 1..=data.len() {
                let mut check = TextCheck::default();
                let fed = data.chunks(piece).all(|p| check.feed(p));
                assert_eq!(fed && check.finish(), whole, "{data:?} in pieces of {piece}");
            }
        }
    }
}
