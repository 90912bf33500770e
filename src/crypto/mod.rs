//! Server-side cryptography: secret sealing and small helpers shared by the routes.
pub mod ed25519;
pub mod secretbox;
pub mod util;
pub mod vault;
