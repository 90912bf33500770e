//! The request's URL split into origin, path and query without a URL parser, and query strings
//! written the same way (the worker's calls to its Durable Objects, the GitHub authorize URL).
//!
//! The runtime hands the worker an already-serialized WHATWG URL (`scheme://host[:port]/path?query`,
//! host lowercased, default port dropped, `?` and `#` percent-encoded inside the path), so
//! splitting the string gives what a parser would. Parsing it again with the `url` crate was the
//! largest code on every request's path: about 35 KB of wasm that V8 compiles on first use, and
//! again whenever the runtime flushes baseline code (see bench/RESULTS.md, "cold requests").

/// Origin, path and raw query of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestUrl {
    /// `scheme://host[:port]`, as links back to this server start.
    pub origin: String,
    /// The path, still percent-encoded, as the router matches it.
    pub path: String,
    query: String,
}

impl RequestUrl {
    pub fn parse(url: &str) -> RequestUrl {
        let url = url.split_once('#').map_or(url, |(before, _)| before);
        let (target, query) = url.split_once('?').unwrap_or((url, ""));
        // A byte scan, not `find("://")`: a substring searcher is ~3 KB more for every
        // isolate's first request to compile.
        let authority_at = target.as_bytes().windows(3).position(|w| w == b"://").map_or(0, |i| i + 3);
        let path_at = target[authority_at..].find('/').map_or(target.len(), |i| authority_at + i);
        let authority = &target[authority_at..path_at];
        // Userinfo never belongs in an origin.
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let path = &target[path_at..];
        RequestUrl {
            origin: format!("{}{host}", &target[..authority_at]),
            path: if path.is_empty() { "/".into() } else { path.into() },
            query: query.into(),
        }
    }

    /// The first value of the query parameter `name`, decoded as a form field is
    /// (`+` is a space, `%XX` a byte, invalid UTF-8 replaced).
    pub fn query(&self, name: &str) -> Option<String> {
        self.pairs().find_map(|(key, value)| (key == name).then_some(value))
    }

    /// Every query parameter, decoded, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.query.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(key), form_decode(value))
        })
    }
}

/// `url` with `pairs` as its query, encoded as a form is (WHATWG's urlencoded serializer).
pub fn with_query<K: AsRef<str>, V: AsRef<str>>(mut url: String, pairs: &[(K, V)]) -> String {
    for (i, (key, value)) in pairs.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        form_encode(&mut url, key.as_ref());
        url.push('=');
        form_encode(&mut url, value.as_ref());
    }
    url
}

/// Whether `url` starts `http://` or `https://` and names a host. Checks, not the url crate's
/// parser: about 34 KB of wasm that a route's first call on an isolate would compile.
pub fn is_absolute_http(url: &str) -> bool {
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .is_some_and(|rest| !rest.split('/').next().unwrap_or_default().is_empty())
}

/// Whether a configured base URL (an outside service's, `GITHUB_OAUTH_BASE_URL`) is absolute
/// http(s), and printable ASCII with no query or fragment, so that a path and query appended
/// to it make a URL.
pub fn is_http_base(base: &str) -> bool {
    is_absolute_http(base) && base.bytes().all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
}

fn form_encode(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'*' | b'-' | b'.' | b'_' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if escaped(bytes, i).is_some() => {
                out.push(escaped(bytes, i).unwrap_or_default());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The byte `%XX` at `i` stands for, when it is one.
fn escaped(bytes: &[u8], i: usize) -> Option<u8> {
    let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
    Some((hex(i + 1)? * 16 + hex(i + 2)?) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_what_the_runtime_serializes() {
        let u = RequestUrl::parse("https://happy.example.com/v1/sessions/abc/messages?limit=10&after=5");
        assert_eq!(u.origin, "https://happy.example.com");
        assert_eq!(u.path, "/v1/sessions/abc/messages");
        assert_eq!(u.query("limit").as_deref(), Some("10"));
        assert_eq!(u.query("after").as_deref(), Some("5"));
        assert_eq!(u.query("before"), None);

        let local = RequestUrl::parse("http://127.0.0.1:8787/");
        assert_eq!((local.origin.as_str(), local.path.as_str()), ("http://127.0.0.1:8787", "/"));
        assert_eq!(RequestUrl::parse("http://127.0.0.1:8787").path, "/");
        assert_eq!(RequestUrl::parse("https://u:p@h.example/x").origin, "https://h.example");
        assert_eq!(RequestUrl::parse("https://h.example/x#frag?no=1").query("no"), None);
    }

    #[test]
    fn decodes_query_values_as_forms_are() {
        let u = RequestUrl::parse("https://h/p?q=a+b%20c%2Bd&empty=&bare&k%65y=v&q=second&bad=%zz%4&utf=%C3%A9%FF");
        assert_eq!(u.query("q").as_deref(), Some("a b c+d"));
        assert_eq!(u.query("empty").as_deref(), Some(""));
        assert_eq!(u.query("bare").as_deref(), Some(""));
        assert_eq!(u.query("key").as_deref(), Some("v"));
        assert_eq!(u.query("bad").as_deref(), Some("%zz%4"));
        assert_eq!(u.query("utf").as_deref(), Some("é\u{FFFD}"));
        assert_eq!(RequestUrl::parse("https://h/p?").query("q"), None);
        assert_eq!(RequestUrl::parse("https://h/p?%").query("%"), Some(String::new()));
    }

    #[test]
    fn written_queries_read_back_and_match_the_url_crate() {
        let pairs: Vec<(String, String)> = [
            ("identity", r#"{"user":"a b","kind":"machine","id":"x&y=z+%"}"#),
            ("é ☃", "line\nbreak\t*-._~!'()"),
            ("empty", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = with_query("https://hub/connect".into(), &pairs);
        let parsed = RequestUrl::parse(&url);
        assert_eq!(parsed.path, "/connect");
        assert_eq!(parsed.pairs().collect::<Vec<_>>(), pairs);
        let by_crate = worker::Url::parse_with_params("https://hub/connect", &pairs).unwrap();
        assert_eq!(url, by_crate.as_str());
        assert_eq!(with_query::<String, String>("https://hub/stats".into(), &[]), "https://hub/stats");
    }

    #[test]
    fn the_github_authorize_url_is_the_url_crates() {
        let base = "https://github.com/login/oauth/authorize";
        let pairs =
            [("client_id", "Iv1.abc"), ("redirect_uri", "https://app.example/cb?x=1&y=ü"), ("state", "a.b-c_d")];
        let by_crate = worker::Url::parse_with_params(base, &pairs).unwrap();
        assert_eq!(with_query(base.into(), &pairs), by_crate.as_str());
    }

    #[test]
    fn configured_bases_are_absolute_http_urls() {
        for ok in ["https://github.com", "http://127.0.0.1:8080", "https://ghe.example.com/prefix"] {
            assert!(is_http_base(ok), "{ok}");
        }
        for bad in [
            "",
            "github.com",
            "https://",
            "https:///x",
            "ftp://x.example",
            "https://a b",
            "https://x?y",
            "https://x#y",
            "https://é.example",
        ] {
            assert!(!is_http_base(bad), "{bad}");
        }
    }
}
