//! happy-move: moves a Happy account from any Happy server to this worker, verbatim: the
//! server only ever held ciphertext, so the records are copied as they are (ids, seqs,
//! versions, timestamps) through the source's ordinary API into this worker's import routes.
//!
//! usage: happy-move --from URL --to URL --secret-file FILE [--dry-run]

mod api;
mod copy;
mod records;
mod secret;

use std::process::ExitCode;

fn arg(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
}

/// Exit 1: bad input, an unusable server, or records that differ after the move.
struct Failure(String);

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure(message)
    }
}

fn dry_run(source: &api::Server) -> Result<(), Failure> {
    let sessions = records::sessions(source)?;
    let active = sessions.iter().filter(|s| s["active"] == true).count();
    let messages: i64 = sessions.iter().map(|s| s["seq"].as_i64().unwrap_or(0)).sum();
    println!("dry run: nothing copied. On {}:", source.base);
    println!("  sessions   {} ({active} active)", sessions.len());
    println!("  messages   {messages}");
    println!("  machines   {}", records::machines(source)?.len());
    println!("  artifacts  {}", records::artifacts(source)?.len());
    let (kv, warning) = records::kv(source)?;
    println!("  kv         {}", kv.len());
    let account = records::account(source)?;
    let set: Vec<&str> = records::PROFILE_FIELDS
        .iter()
        .chain(&["avatar"])
        .copied()
        .filter(|f| account[1][*f].as_str().is_some_and(|v| !v.is_empty()))
        .collect();
    println!("  profile    {}", if set.is_empty() { "no names, username or avatar".into() } else { set.join(", ") });
    if let Some(w) = warning {
        println!("warning: {w}");
    }
    Ok(())
}

/// Whether the signed-in source account holds anything to move. A well-formed but wrong secret
/// signs in as a new, empty account (POST /v1/auth creates one), so an empty source is far more
/// often that mistake than an account worth moving.
fn holds_something(source: &api::Server) -> Result<bool, String> {
    let account = records::account(source)?;
    let profile = records::PROFILE_FIELDS.iter().chain(&["avatar"]).any(|f| account[1][*f].is_string());
    Ok(profile
        || !account[0]["settings"].is_null()
        || !records::sessions(source)?.is_empty()
        || !records::machines(source)?.is_empty()
        || !records::artifacts(source)?.is_empty()
        || !records::kv(source)?.0.is_empty())
}

fn run(args: &[String]) -> Result<(), Failure> {
    let usage = "usage: happy-move --from URL --to URL --secret-file FILE [--dry-run]";
    let (Some(from), Some(to), Some(file)) = (arg(args, "--from"), arg(args, "--to"), arg(args, "--secret-file"))
    else {
        return Err(Failure(usage.into()));
    };
    let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let secret = secret::parse(&text)?;
    api::Server::probe(&to)?;
    let source = api::Server::sign_in(&from, &secret)?;
    if !holds_something(&source)? {
        return Err(Failure(format!(
            "{from} holds no data for this secret: is it the right one? (a secret no account there had signs \
             in as a new, empty account)"
        )));
    }
    if args.iter().any(|a| a == "--dry-run") {
        return dry_run(&source);
    }
    let started = std::time::Instant::now();
    let imported = api::Server::sign_in_import(&to, &secret, &source.token)?;
    println!(
        "account {}: {}",
        imported.account_id,
        if imported.id_kept {
            "id kept (the source's tokens work here)"
        } else {
            "new id here (the servers do not share a master secret: sign in again on the new server)"
        }
    );
    let copy::Outcome { tallies, notes } = copy::run(&source, &imported.server)?;
    let seconds = started.elapsed().as_secs_f64();
    println!("\n| kind | on the source | written now | equal on both sides | differing |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let (mut records, mut differing) = (0, Vec::new());
    for t in &tallies {
        println!("| {} | {} | {} | {} | {} |", t.kind.name(), t.source, t.written, t.equal, t.differing.len());
        records += t.source;
        differing.extend(t.differing.iter().map(|id| format!("{} {id}", t.kind.name())));
    }
    println!("\n{records} records in {seconds:.1} s ({:.0} a second)", records as f64 / seconds.max(0.001));
    for note in &notes {
        println!("warning: {note}");
    }
    if differing.is_empty() {
        println!("verified: every record equal on both sides");
        return Ok(());
    }
    for d in differing.iter().take(20) {
        println!("  differs: {d}");
    }
    let kinds = tallies.iter().map(|t| t.kind.name()).collect::<Vec<_>>().join(", ");
    Err(Failure(format!(
        "{} records differ on {to} ({kinds} checked): the destination holds other data under their ids, left as it was",
        differing.len()
    )))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("happy-move: {message}");
            ExitCode::from(1)
        }
    }
}
