//! Load generator for the Happy worker. Drives a running server over real HTTP and WebSocket on
//! loopback, bounded in time and count, and prints a markdown table.
//!
//! usage: happy-bench (--base URL | --spawn) [--seconds N] [--rounds N] [--connections N] [--only a,b] [--idle-seconds N]
//!   --seconds is each request scenario's total, taken in --rounds turns with the others.
//!   --spawn starts `wrangler dev`'s server (bench/serve.mjs: without the inspector) from the
//!   repository on fresh local state and also measures cold start and workerd CPU per request.
//!   `--only cold` measures a fresh isolate's first requests; `--only lazy` the wasm and
//!   JavaScript functions they compile (needs gdb; with `BENCH_PERF=1` a perf profile of each
//!   instead, and its samples under V8's lazy compilers); `--only move` an account moved
//!   between two spawned servers (happy-move).

mod cold;
mod lazy;
mod load;
mod moves;
mod scenarios;
mod server;
mod sockets;
#[path = "../../tests/support/streamed_form.rs"]
mod streamed_form;
mod uploads;
// Shared with the tests; the isolate's inspector is theirs (tests/upload_streaming.rs).
#[allow(dead_code)]
#[path = "../../tests/support/workerd.rs"]
mod workerd;

use std::time::Duration;

pub struct Options {
    pub seconds: u64,
    pub connections: usize,
    pub only: Option<Vec<String>>,
    pub idle_seconds: u64,
    /// Request scenarios run in turns, this many rounds each.
    pub rounds: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let opts = Options {
        seconds: get("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10),
        connections: get("--connections").and_then(|s| s.parse().ok()).unwrap_or(16),
        only: get("--only").map(|s| s.split(',').map(str::to_string).collect()),
        idle_seconds: get("--idle-seconds").and_then(|s| s.parse().ok()).unwrap_or(60),
        rounds: get("--rounds").and_then(|s| s.parse().ok()).unwrap_or(5),
    };
    let server = if args.iter().any(|a| a == "--spawn") {
        server::Server::spawn()
    } else if let Some(base) = get("--base") {
        server::Server::external(base)
    } else {
        eprintln!("usage: happy-bench (--base URL | --spawn) [--seconds N] [--connections N] [--only a,b]");
        std::process::exit(2);
    };
    println!("# Happy worker benchmark\n");
    println!("- date: {}", server::command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]));
    println!(
        "- machine: {} cores, {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        server::cpu_model()
    );
    println!("- server: {}", server.base);
    if let Some(ms) = server.cold_start {
        println!("- cold start (dev server process start → first 200 on /health): {:.0} ms", ms.as_secs_f64() * 1000.0);
    }
    if let Some(size) = server::wasm_size() {
        println!("- wasm: {} KiB, gzip {} KiB", size.0 / 1024, size.1 / 1024);
    }
    println!(
        "- load: {} connections, {} s per scenario in {} interleaved rounds\n",
        opts.connections, opts.seconds, opts.rounds
    );
    if args.iter().any(|a| a == "--spawn") && opts.only.as_ref().is_none_or(|o| o.iter().any(|w| w == "cold")) {
        cold::run();
    }
    if args.iter().any(|a| a == "--spawn") && opts.only.as_ref().is_some_and(|o| o.iter().any(|w| w == "lazy")) {
        lazy::run();
    }
    if args.iter().any(|a| a == "--spawn") && opts.only.as_ref().is_some_and(|o| o.iter().any(|w| w == "move")) {
        moves::run();
    }
    let duration = Duration::from_secs(opts.seconds);
    scenarios::run_all(&server, &opts, duration);
}
