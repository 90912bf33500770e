//! A streaming `multipart/form-data` parser (RFC 7578): bytes are pushed as they arrive and
//! come back as events (a part's headers, pieces of its data, its end), so an upload of any
//! size is parsed in the memory of one network chunk plus a few held-back bytes.
//!
//! Why our own instead of workerd's `Request.formData()`: that buffers every file in the
//! isolate and fails with opaque JS exceptions; this gives controlled 400s and never holds more
//! than [`MAX_HEADER_BLOCK`] plus one chunk. A pure state machine, fuzzed natively. Never
//! panics; the delimiter search is `memchr::memmem` (Two-Way: linear in the body whatever it
//! holds, and fast on the random bytes of encrypted files).

use std::fmt;

use memchr::memmem;

/// The headers of one part.
#[derive(Clone, Debug, PartialEq)]
pub struct PartHead {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

/// What the parser found in the bytes pushed so far.
#[derive(Debug, PartialEq)]
pub enum Event<'a> {
    /// A part begins; its data follows.
    Part(PartHead),
    /// Bytes of the current part's data, in order.
    Data(&'a [u8]),
    /// The current part's data ended.
    End,
}

#[derive(Debug, PartialEq)]
pub enum MultipartError {
    NotMultipart,
    BadBoundary,
    Malformed(&'static str),
    TooManyParts,
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultipartError::NotMultipart => write!(f, "Content-Type must be multipart/form-data"),
            MultipartError::BadBoundary => write!(f, "multipart boundary is missing or invalid"),
            MultipartError::Malformed(why) => write!(f, "malformed multipart body: {why}"),
            MultipartError::TooManyParts => write!(f, "too many multipart parts (max {MAX_PARTS})"),
        }
    }
}

/// Forms here carry a file and two short fields; more parts are hostile.
pub const MAX_PARTS: usize = 16;
/// The longest header block of one part.
pub const MAX_HEADER_BLOCK: usize = 8 * 1024;
/// Transport padding (spaces, tabs) a delimiter may carry before its CRLF, at most.
const MAX_PADDING: usize = 256;

/// The boundary of a `multipart/form-data; boundary=...` Content-Type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let mut params = content_type.split(';');
    let essence = params.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NotMultipart);
    }
    let raw = params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim())
        .ok_or(MultipartError::BadBoundary)?;
    let value = raw.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(raw);
    // RFC 2046: 1..70 characters, no CR/LF.
    if value.is_empty() || value.len() > 70 || value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(MultipartError::BadBoundary);
    }
    Ok(value.to_string())
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    /// Nothing read yet: the body may open with a delimiter that has no CRLF before it.
    Start,
    Preamble,
    /// Just after `--boundary`: the closing `--`, or padding and CRLF before a part.
    Delimiter,
    Headers,
    Data,
    Done,
}

/// Push bytes with [`push`](Self::push), then [`finish`](Self::finish) at the end of the body;
/// after each, take events with [`next_event`](Self::next_event) until it answers `None`.
pub struct FormParser {
    /// `CRLF--boundary`: every delimiter after the first is preceded by CRLF.
    needle: Vec<u8>,
    finder: memmem::Finder<'static>,
    /// Bytes not yet consumed start at `pos`; what is before it is dropped on the next push.
    buf: Vec<u8>,
    pos: usize,
    state: State,
    parts: usize,
    finished: bool,
}

impl FormParser {
    /// A parser for a body of the request's `content_type`.
    pub fn new(content_type: &str) -> Result<Self, MultipartError> {
        let needle = format!("\r\n--{}", boundary(content_type)?).into_bytes();
        let finder = memmem::Finder::new(&needle).into_owned();
        Ok(FormParser { needle, finder, buf: Vec::new(), pos: 0, state: State::Start, parts: 0, finished: false })
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.drain(..self.pos);
        self.pos = 0;
        self.buf.extend_from_slice(chunk);
    }

    /// No more bytes will come.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether the closing delimiter was read (what follows it, the epilogue, is ignored).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The next event of the bytes pushed so far; `None` when more bytes are needed (or, after
    /// `finish`, when the body ended well).
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, MultipartError> {
        loop {
            let avail = self.buf.len() - self.pos;
            match self.state {
                State::Start => {
                    let opening = &self.needle[2..];
                    if avail < opening.len() && !self.finished {
                        return Ok(None);
                    }
                    if self.buf[self.pos..].starts_with(opening) {
                        self.pos += opening.len();
                        self.state = State::Delimiter;
                    } else {
                        self.state = State::Preamble;
                    }
                }
                State::Preamble => match self.finder.find(&self.buf[self.pos..]) {
                    Some(i) => {
                        self.pos += i + self.needle.len();
                        self.state = State::Delimiter;
                    }
                    None if self.finished => return Err(MultipartError::Malformed("no opening boundary")),
                    None => {
                        self.pos = self.buf.len() - avail.min(self.needle.len() - 1);
                        return Ok(None);
                    }
                },
                State::Delimiter => {
                    let rest = &self.buf[self.pos..self.buf.len().min(self.pos + MAX_PADDING + 2)];
                    if rest.starts_with(b"--") {
                        self.state = State::Done;
                        return Ok(None);
                    }
                    let pad = padding(rest);
                    if !rest[pad..].starts_with(b"\r\n") {
                        let undecided = b"--".starts_with(rest) || b"\r\n".starts_with(&rest[pad..]);
                        if undecided && rest.len() < MAX_PADDING + 2 && !self.finished {
                            return Ok(None);
                        }
                        return Err(MultipartError::Malformed("boundary not followed by CRLF"));
                    }
                    if self.parts == MAX_PARTS {
                        return Err(MultipartError::TooManyParts);
                    }
                    self.pos += pad + 2;
                    self.state = State::Headers;
                }
                State::Headers => {
                    let window = &self.buf[self.pos..self.buf.len().min(self.pos + MAX_HEADER_BLOCK + 4)];
                    let Some(end) = memmem::find(window, b"\r\n\r\n") else {
                        if window.len() < MAX_HEADER_BLOCK + 4 && !self.finished {
                            return Ok(None);
                        }
                        return Err(MultipartError::Malformed("part headers do not end"));
                    };
                    let headers = std::str::from_utf8(&window[..end])
                        .map_err(|_| MultipartError::Malformed("part headers are not UTF-8"))?;
                    let head = part_head(headers)?;
                    self.pos += end + 4;
                    self.parts += 1;
                    self.state = State::Data;
                    return Ok(Some(Event::Part(head)));
                }
                State::Data => {
                    let start = self.pos;
                    let Some(i) = self.finder.find(&self.buf[start..]) else {
                        if self.finished {
                            return Err(MultipartError::Malformed("no closing boundary"));
                        }
                        // The last bytes may begin a delimiter: hold them back.
                        let safe = self.buf.len() - avail.min(self.needle.len() - 1);
                        if safe == start {
                            return Ok(None);
                        }
                        self.pos = safe;
                        return Ok(Some(Event::Data(&self.buf[start..safe])));
                    };
                    if i > 0 {
                        self.pos = start + i;
                        return Ok(Some(Event::Data(&self.buf[start..start + i])));
                    }
                    // A candidate at `start`: a delimiter only when `--` or padding and CRLF
                    // follow; a lookalike inside the data is data.
                    let after_at = start + self.needle.len();
                    let after = &self.buf[after_at..self.buf.len().min(after_at + MAX_PADDING + 2)];
                    let pad = padding(after);
                    if after.starts_with(b"--") || after[pad..].starts_with(b"\r\n") {
                        self.pos = after_at;
                        self.state = State::Delimiter;
                        return Ok(Some(Event::End));
                    }
                    let undecided = b"--".starts_with(after) || b"\r\n".starts_with(&after[pad..]);
                    if undecided && after.len() < MAX_PADDING + 2 && !self.finished {
                        return Ok(None);
                    }
                    self.pos = start + 1;
                    return Ok(Some(Event::Data(&self.buf[start..start + 1])));
                }
                State::Done => return Ok(None),
            }
        }
    }
}

/// A whole body parsed in pushes of `chunk` bytes: each part's headers and data. For tests and
/// fuzzing, which hold bodies whole.
pub fn parse(content_type: &str, body: &[u8], chunk: usize) -> Result<Vec<(PartHead, Vec<u8>)>, MultipartError> {
    let mut parser = FormParser::new(content_type)?;
    let mut parts: Vec<(PartHead, Vec<u8>)> = Vec::new();
    let mut pieces = body.chunks(chunk.max(1));
    loop {
        match pieces.next() {
            Some(piece) => parser.push(piece),
            None => parser.finish(),
        }
        while let Some(event) = parser.next_event()? {
            match event {
                Event::Part(head) => parts.push((head, Vec::new())),
                Event::Data(bytes) => {
                    if let Some((_, data)) = parts.last_mut() {
                        data.extend_from_slice(bytes);
                    }
                }
                Event::End => {}
            }
        }
        if parser.finished {
            return Ok(parts);
        }
    }
}

/// Spaces and tabs at the start.
fn padding(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| **b == b' ' || **b == b'\t').count()
}

fn part_head(headers: &str) -> Result<PartHead, MultipartError> {
    let mut disposition = None;
    let mut content_type = None;
    for line in headers.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            return Err(MultipartError::Malformed("part header without a colon"));
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-disposition") {
            disposition = Some(value.trim());
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_string());
        }
    }
    let disposition = disposition.ok_or(MultipartError::Malformed("part without Content-Disposition"))?;
    let params = disposition_params(disposition)?;
    let get = |key: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.clone());
    let name = get("name").ok_or(MultipartError::Malformed("part without a name"))?;
    Ok(PartHead { name, filename: get("filename"), content_type })
}

/// `form-data; name="file"; filename="a b.png"` → [("name","file"), ("filename","a b.png")].
fn disposition_params(value: &str) -> Result<Vec<(String, String)>, MultipartError> {
    let mut chars = value.char_indices().peekable();
    // The disposition type itself.
    let kind_end = value.find(';').unwrap_or(value.len());
    if !value[..kind_end].trim().eq_ignore_ascii_case("form-data") {
        return Err(MultipartError::Malformed("Content-Disposition is not form-data"));
    }
    while chars.peek().is_some_and(|(i, _)| *i < kind_end) {
        chars.next();
    }
    let mut params = Vec::new();
    loop {
        // Skip separators.
        while chars.peek().is_some_and(|(_, c)| *c == ';' || c.is_whitespace()) {
            chars.next();
        }
        let Some(&(start, _)) = chars.peek() else { return Ok(params) };
        let mut key_end = value.len();
        for (i, c) in chars.by_ref() {
            if c == '=' {
                key_end = i;
                break;
            }
        }
        if key_end == value.len() {
            return Err(MultipartError::Malformed("Content-Disposition parameter without a value"));
        }
        let key = value[start..key_end].trim().to_string();
        let mut val = String::new();
        if chars.peek().is_some_and(|(_, c)| *c == '"') {
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            val.push(escaped);
                        }
                    }
                    c => val.push(c),
                }
            }
            if !closed {
                return Err(MultipartError::Malformed("unterminated quoted string"));
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c == ';' {
                    break;
                }
                val.push(c);
                chars.next();
            }
            val = val.trim().to_string();
        }
        params.push((key, val));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn body() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".png\"\r\nContent-Type: image/png\r\n\r\n");
        b.extend_from_slice(b"\x89PNG\r\n--XyZnot-a-boundary\r\n\r\n");
        b.extend_from_slice(b"\r\n--XyZ  \r\ncontent-disposition: form-data; name=category\r\n\r\ndocuments\r\n--XyZ\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--XyZ--\r\nepilogue");
        b
    }

    #[test]
    fn parses_files_fields_quotes_padding_and_empty_parts() {
        let b = body();
        let parts = parse(CT, &b, b.len()).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].0.name, "file");
        assert_eq!(parts[0].0.filename.as_deref(), Some("a \"b\".png"));
        assert_eq!(parts[0].0.content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[0].1, b"\x89PNG\r\n--XyZnot-a-boundary\r\n\r\n");
        assert_eq!((parts[1].0.name.as_str(), &parts[1].1[..]), ("category", &b"documents"[..]));
        assert_eq!((parts[2].0.name.as_str(), &parts[2].1[..]), ("empty", &b""[..]));
        // A body that opens with its delimiter (no preamble, no CRLF before it).
        let bare = b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ--";
        assert_eq!(parse(CT, bare, 1).unwrap()[0].1, b"x");
    }

    /// A network chunk may end anywhere: inside a delimiter, its padding, a header block or a
    /// lookalike. Every chunk size gives the parts of the whole body.
    #[test]
    fn chunks_of_any_size_give_the_same_parts() {
        let b = body();
        let whole = parse(CT, &b, b.len()).unwrap();
        for chunk in 1..=b.len() {
            assert_eq!(parse(CT, &b, chunk).unwrap(), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn boundary_parameter_forms() {
        assert_eq!(boundary("multipart/form-data; boundary=\"a b\"").unwrap(), "a b");
        assert_eq!(boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=abc").unwrap(), "abc");
        assert_eq!(boundary("application/json"), Err(MultipartError::NotMultipart));
        assert_eq!(boundary("multipart/form-data"), Err(MultipartError::BadBoundary));
        assert_eq!(boundary("multipart/form-data; boundary="), Err(MultipartError::BadBoundary));
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "x".repeat(71))),
            Err(MultipartError::BadBoundary)
        );
    }

    #[test]
    fn rejects_malformed_bodies() {
        for bad in [
            &b""[..],
            b"--XyZ",
            b"--XyZ\r\n",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end\r\n--XyZ",
            b"--XyZ\r\nNoColon\r\n\r\nx\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nx\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--",
            b"--XyZjunk\r\n",
        ] {
            for chunk in [1, 2, 3, bad.len()] {
                assert!(parse(CT, bad, chunk).is_err(), "{:?} in chunks of {chunk}", String::from_utf8_lossy(bad));
            }
        }
        let endless_headers = [&b"--XyZ\r\nX: "[..], &[b'a'; MAX_HEADER_BLOCK + 8]].concat();
        assert_eq!(parse(CT, &endless_headers, 1000), Err(MultipartError::Malformed("part headers do not end")));
        let many: Vec<u8> = (0..=MAX_PARTS)
            .flat_map(|_| b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n".to_vec())
            .chain(b"--XyZ--".to_vec())
            .collect();
        assert_eq!(parse(CT, &many, 7), Err(MultipartError::TooManyParts));
    }

    /// Held-back bytes stay bounded: a long file's data comes out as it arrives, not at its end.
    #[test]
    fn data_is_released_as_it_arrives() {
        let mut parser = FormParser::new(CT).unwrap();
        parser.push(b"--XyZ\r\nContent-Disposition: form-data; name=file; filename=f\r\n\r\n");
        assert!(matches!(parser.next_event().unwrap(), Some(Event::Part(_))));
        let mut released = 0;
        for _ in 0..1000 {
            parser.push(&[b'z'; 4096]);
            while let Some(Event::Data(d)) = parser.next_event().unwrap() {
                released += d.len();
            }
            assert!(parser.buf.len() - parser.pos < 4096 + 8);
        }
        assert_eq!(released, 1000 * 4096 - (parser.needle.len() - 1));
    }

    /// Deterministic fuzzing: every prefix, every single-byte corruption, and pseudo-random
    /// bodies built from the grammar's own tokens never panic, and chunking never changes the
    /// outcome.
    #[test]
    fn never_panics() {
        let b = body();
        for i in 0..b.len() {
            let _ = parse(CT, &b[..i], 5);
            for x in [0u8, b'\r', b'\n', b'-', b'"', b';', b'=', b' ', 0xff] {
                let mut m = b.clone();
                m[i] = x;
                assert_eq!(parse(CT, &m, m.len()), parse(CT, &m, 3), "byte {i} set to {x}");
            }
        }
        let tokens: [&[u8]; 10] = [
            b"--XyZ",
            b"\r\n",
            b"--",
            b"Content-Disposition: form-data; name=",
            b"\"",
            b";",
            b"=",
            b"x",
            b"\xff",
            b" ",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut m = Vec::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                m.extend_from_slice(tokens[(seed % tokens.len() as u64) as usize]);
            }
            assert_eq!(parse(CT, &m, m.len()), parse(CT, &m, 1 + (seed % 5) as usize));
        }
    }
}
