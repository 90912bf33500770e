//! happy-move: moves a Happy account from any Happy server to this worker.
//!
//! Built so far: reading the account's secret in the forms a user holds it, signing in on the
//! source, and `--dry-run`, the inventory of what a move would copy. The copy itself is not
//! built yet: without `--dry-run` the command says so and exits 2.
//!
//! usage: happy-move --from URL --to URL --secret-file FILE [--dry-run]

mod api;
mod inventory;
mod secret;

use std::process::ExitCode;

fn arg(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
}

/// Why the command stopped: exit 1 for bad input or an unusable server, 2 for what is not built.
enum Failure {
    Input(String),
    NotBuilt(&'static str),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Input(message)
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    let usage = "usage: happy-move --from URL --to URL --secret-file FILE [--dry-run]";
    let (Some(from), Some(to), Some(file)) = (arg(args, "--from"), arg(args, "--to"), arg(args, "--secret-file"))
    else {
        return Err(Failure::Input(usage.into()));
    };
    let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let secret = secret::parse(&text)?;
    if !args.iter().any(|a| a == "--dry-run") {
        return Err(Failure::NotBuilt("only --dry-run is built so far: it reports what a move would copy"));
    }
    api::Server::probe(&to)?;
    let source = api::Server::sign_in(&from, &secret)?;
    let inv = inventory::Inventory::read(&source)?;
    println!("dry run: nothing copied. On {from}:");
    println!("  sessions   {} ({} active)", inv.sessions, inv.active_sessions);
    println!("  messages   {}", inv.messages);
    println!("  machines   {}", inv.machines);
    println!("  artifacts  {}", inv.artifacts);
    println!("  kv         {}", inv.kv);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("happy-move: {message}");
            ExitCode::from(1)
        }
        Err(Failure::NotBuilt(message)) => {
            eprintln!("happy-move: {message}");
            ExitCode::from(2)
        }
    }
}
