//! Values parsed once at the boundary: a handler never re-checks them.
pub mod encoding;
pub mod feed_cursor;
pub mod fields;
pub mod kv;
pub mod limit;
pub mod paging;
pub mod semver;
pub mod social;
pub mod time;
pub mod usage;
