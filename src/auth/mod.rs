//! Authentication: privacy-kit tokens, per-isolate key and verification caches, revocation.
pub mod token;
