//! Client strings, checked once: texts bounded in characters (ids, tags, keys, names), display
//! texts (trimmed, printable) and opaque payloads bounded in bytes.
//!
//! Lengths count characters (code points), as JSON Schema's `maxLength` in our OpenAPI does;
//! only opaque payloads, whose cost is storage, count bytes.

use super::invalid::Invalid;

/// Characters of a display text (device names, rooms, types).
pub const MAX_DISPLAY_CHARS: usize = 100;

/// A client string of at most a given number of characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text<'a>(&'a str);

impl<'a> Text<'a> {
    /// A required string of `1..=max` characters.
    pub fn parse(field: &str, value: &'a str, max: usize) -> Result<Self, Invalid> {
        if value.is_empty() {
            return Err(Invalid::Empty { field: field.into() });
        }
        Self::up_to(field, value, max)
    }

    /// An optional string: absent passes, present values are `1..=max` characters.
    pub fn parse_opt(field: &str, value: Option<&'a str>, max: usize) -> Result<Option<Self>, Invalid> {
        value.map(|v| Self::parse(field, v, max)).transpose()
    }

    /// A string of `0..=max` characters (prefixes, names that may be cleared).
    pub fn up_to(field: &str, value: &'a str, max: usize) -> Result<Self, Invalid> {
        // A string of at most `max` bytes has at most `max` characters: count only past that.
        if value.len() > max && value.chars().count() > max {
            return Err(Invalid::TooLong { field: field.into(), max });
        }
        Ok(Text(value))
    }

    /// A key blob (wrapped keys, access keys: base64 in practice) of `1..=max` bytes: bounded in
    /// bytes, as its cost is storage, with a 400 like the other texts.
    pub fn blob(field: &str, value: &'a str, max: usize) -> Result<Self, Invalid> {
        if value.is_empty() {
            return Err(Invalid::Empty { field: field.into() });
        }
        if value.len() > max {
            return Err(Invalid::TooManyBytes { field: field.into(), max });
        }
        Ok(Text(value))
    }

    /// An optional key blob: absent passes.
    pub fn blob_opt(field: &str, value: Option<&'a str>, max: usize) -> Result<Option<Self>, Invalid> {
        value.map(|v| Self::blob(field, v, max)).transpose()
    }

    /// An opaque blob (metadata, states, ciphertexts): any length the body limit allows, but
    /// not empty, so a client cannot store a value it could never decrypt.
    pub fn non_empty(field: &str, value: &'a str) -> Result<Self, Invalid> {
        Self::parse(field, value, usize::MAX)
    }

    pub fn as_str(self) -> &'a str {
        self.0
    }
}

/// A display text: trimmed, `1..=MAX_DISPLAY_CHARS` characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayText(String);

impl DisplayText {
    /// Trims `value` and refuses it when empty, too long or holding control characters.
    pub fn parse(field: &str, value: &str) -> Result<Self, Invalid> {
        let v = value.trim();
        if v.is_empty() || v.chars().count() > MAX_DISPLAY_CHARS || v.chars().any(char::is_control) {
            return Err(Invalid::NotPrintable { field: field.into(), max: MAX_DISPLAY_CHARS });
        }
        Ok(DisplayText(v.to_string()))
    }

    /// An optional display text: absent passes, present values are parsed.
    pub fn parse_opt(field: &str, value: Option<&str>) -> Result<Option<Self>, Invalid> {
        value.map(|v| Self::parse(field, v)).transpose()
    }
}

impl From<DisplayText> for String {
    fn from(t: DisplayText) -> String {
        t.0
    }
}

/// An opaque payload (ciphertext, settings) of at most `max` bytes; larger is a 413.
pub fn payload<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, Invalid> {
    if value.len() > max {
        return Err(Invalid::TooLarge { field: field.into(), max });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    fn refused<T: std::fmt::Debug>(r: Result<T, Invalid>) -> (u16, String) {
        let e = ApiError::from(r.unwrap_err());
        (e.status, e.message)
    }

    #[test]
    fn text_counts_characters_not_bytes() {
        assert_eq!(Text::parse("key", "x", 5).unwrap().as_str(), "x");
        assert!(Text::parse("key", "xxxxx", 5).is_ok());
        assert!(Text::parse("key", "ééééé", 5).is_ok(), "10 bytes, 5 characters");
        assert!(Text::parse("key", "🦀🦀🦀🦀🦀", 5).is_ok());
        assert_eq!(refused(Text::parse("key", "xxxxxx", 5)), (400, "key must be at most 5 characters".into()));
        assert_eq!(refused(Text::parse("key", "ééééé!", 5)), (400, "key must be at most 5 characters".into()));
        assert_eq!(refused(Text::parse("tag", "", 5)), (400, "tag must not be empty".into()));
        // Control characters are the caller's business here: ids and keys are opaque.
        assert!(Text::parse("key", "a\u{0}b", 5).is_ok());
    }

    #[test]
    fn key_blobs_count_bytes() {
        assert!(Text::blob("data", "xxxx", 4).is_ok());
        assert_eq!(refused(Text::blob("data", "xxxxx", 4)), (400, "data must be at most 4 bytes".into()));
        assert_eq!(refused(Text::blob("data", "ééé", 4)), (400, "data must be at most 4 bytes".into()));
        assert_eq!(refused(Text::blob("data", "", 4)), (400, "data must not be empty".into()));
        assert!(Text::blob_opt("data", None, 4).unwrap().is_none());
    }

    #[test]
    fn optional_empty_allowed_and_opaque_texts() {
        assert_eq!(Text::parse_opt("k", None, 3).unwrap(), None);
        assert!(Text::parse_opt("k", Some("abc"), 3).unwrap().is_some());
        assert!(Text::parse_opt("k", Some("abcd"), 3).is_err());
        assert!(Text::parse_opt("k", Some(""), 3).is_err());
        assert!(Text::up_to("prefix", "", 3).is_ok());
        assert!(Text::up_to("prefix", "ééé", 3).is_ok());
        assert!(Text::up_to("prefix", "abcd", 3).is_err());
        assert!(Text::non_empty("metadata", &"x".repeat(1 << 20)).is_ok());
        assert_eq!(refused(Text::non_empty("metadata", "")), (400, "metadata must not be empty".into()));
    }

    #[test]
    fn display_texts_are_trimmed_printable_and_bounded() {
        assert_eq!(String::from(DisplayText::parse("n", "  kitchen pi ").unwrap()), "kitchen pi");
        assert!(DisplayText::parse("n", &"é".repeat(MAX_DISPLAY_CHARS)).is_ok());
        assert!(DisplayText::parse("n", &format!(" {} ", "x".repeat(MAX_DISPLAY_CHARS))).is_ok());
        let msg = (400, "n must be 1..100 printable characters".to_string());
        for bad in ["", "   ", "a\u{0}b", "a\nb", "a\u{7f}b", "a\u{85}b"] {
            assert_eq!(refused(DisplayText::parse("n", bad)), msg, "{bad:?}");
        }
        assert_eq!(refused(DisplayText::parse("n", &"x".repeat(MAX_DISPLAY_CHARS + 1))), msg);
        assert_eq!(DisplayText::parse_opt("n", None).unwrap(), None);
        assert!(DisplayText::parse_opt("n", Some("\t")).is_err());
    }

    #[test]
    fn payloads_count_bytes_and_are_413() {
        assert_eq!(payload("body", "", 3).unwrap(), "");
        assert!(payload("body", "abc", 3).is_ok());
        assert_eq!(refused(payload("body", "abcd", 3)), (413, "body exceeds 3 bytes".into()));
        assert_eq!(refused(payload("body", "éé", 3)), (413, "body exceeds 3 bytes".into()));
    }
}
