//! Happy server on Cloudflare Workers.
pub mod auth;
pub mod crypto;
pub mod error;
