//! Values parsed once at the boundary: a handler never re-checks them.
pub mod encoding;
pub mod fields;
pub mod paging;
pub mod time;
