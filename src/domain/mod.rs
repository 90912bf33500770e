//! Values parsed once at the boundary: a handler never re-checks them.
pub mod encoding;
pub mod feed_cursor;
pub mod fields;
pub mod invalid;
pub mod kv;
pub mod limit;
pub mod paging;
pub mod semver;
pub mod social;
pub mod text;
pub mod time;
pub mod usage;

pub use invalid::Invalid;
