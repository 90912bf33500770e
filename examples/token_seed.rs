//! Prints the derived token seeds for a master secret, so production isolates can skip the
//! 210k-round PBKDF2: `make token-seed` (reads HAPPY_MASTER_SECRET from the environment).

use happy_server::auth::keys::{GITHUB_SERVICE, SERVICE};
use happy_server::auth::token::{derive_seed, TokenKind};
use happy_server::crypto::util::hex_lower;

fn main() {
    let Ok(secret) = std::env::var("HAPPY_MASTER_SECRET") else {
        eprintln!("set HAPPY_MASTER_SECRET");
        std::process::exit(2);
    };
    println!("HAPPY_TOKEN_SEED={}", hex_lower(&derive_seed(&secret, SERVICE, TokenKind::Persistent)));
    println!("HAPPY_GITHUB_TOKEN_SEED={}", hex_lower(&derive_seed(&secret, GITHUB_SERVICE, TokenKind::Ephemeral)));
}
