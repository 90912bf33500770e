//! Uploads in R2: the pure pieces (streaming multipart parsing, the checks a file passes as it
//! streams, content sniffing, ranges) and the bucket operations the routes share.
pub mod intake;
pub mod multipart;
pub mod range;
pub mod sniff;
pub mod writer;

use std::collections::HashSet;

use worker::{Bucket, Env};

use crate::error::ApiResult;

/// The R2 binding that holds uploads and session attachments.
pub const BUCKET: &str = "UPLOADS";

pub fn bucket(env: &Env) -> ApiResult<Bucket> {
    Ok(env.bucket(BUCKET)?)
}

/// An upload's category: where it lives in the bucket, how large it may be, what it may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Avatars,
    Documents,
    Files,
}

pub const MB: usize = 1024 * 1024;

impl Category {
    pub const ALL: [Category; 3] = [Category::Avatars, Category::Documents, Category::Files];

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Avatars => "avatars",
            Category::Documents => "documents",
            Category::Files => "files",
        }
    }

    pub fn max_size(self) -> usize {
        match self {
            Category::Avatars => 5 * MB,
            Category::Documents => 50 * MB,
            Category::Files => 100 * MB,
        }
    }

    pub fn allows(self, kind: sniff::Kind) -> bool {
        self != Category::Avatars || kind.is_image()
    }

    /// The R2 key prefix of one account's files in this category.
    pub fn prefix(self, account_id: &str) -> String {
        format!("{}/{account_id}/", self.as_str())
    }
}

/// The objects a sweep may delete: listed in R2, referenced by no row, and older than the
/// grace period (an upload in flight has put its object but not yet committed its row).
pub fn unreferenced<'a>(
    listed: &'a [(String, i64)],
    referenced: &HashSet<String>,
    now_ms: i64,
    grace_ms: i64,
) -> Vec<&'a str> {
    listed
        .iter()
        .filter(|(key, uploaded)| !referenced.contains(key) && now_ms - uploaded >= grace_ms)
        .map(|(key, _)| key.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_bound_size_and_kind() {
        assert_eq!(Category::parse("documents"), Some(Category::Documents));
        assert_eq!(Category::parse("Documents"), None);
        assert_eq!(Category::Avatars.max_size(), 5 * MB);
        assert!(!Category::Avatars.allows(sniff::Kind::Pdf));
        assert!(Category::Files.allows(sniff::Kind::Pdf));
        assert_eq!(Category::Files.prefix("u1"), "files/u1/");
    }

    #[test]
    fn sweeps_only_old_unreferenced_objects() {
        let listed = vec![("a".to_string(), 0), ("b".to_string(), 0), ("c".to_string(), 9_000)];
        let referenced: HashSet<String> = ["a".to_string()].into();
        assert_eq!(unreferenced(&listed, &referenced, 10_000, 5_000), vec!["b"]);
        assert_eq!(unreferenced(&listed, &referenced, 10_000, 0), vec!["b", "c"]);
    }
}
