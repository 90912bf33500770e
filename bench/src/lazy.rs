//! What V8 compiles for a fresh isolate's first requests: the wasm functions it compiles lazily
//! (on first call) and their bytes, counted with a gdb breakpoint on V8's `wasm::CompileLazy`
//! inside the runtime that runs the worker (workerd ships with symbols). Unlike CPU time the
//! count is the same on every run of a build, so it is the number to drive down for cheap cold
//! requests: compiling them was most of a cold request's own CPU (bench/RESULTS.md). It also
//! recurs: workerd signals memory pressure whenever it creates an isolate, and V8 then drops
//! every module's baseline code. Needs gdb (Debian's `gdb`); skipped without it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cold::{objects_apart, Step, FIRST_WRITE_ALONE, FLOOR, OURS};
use crate::scenarios::new_account;
use crate::server::{fresh_state, repo, Ready, Server};

/// A function's index in the module (imports first) → its name and body size.
struct Functions {
    imports: usize,
    sizes: Vec<usize>,
    names: std::collections::HashMap<usize, String>,
}

fn leb(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let (mut value, mut shift) = (0usize, 0);
    loop {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= ((byte & 0x7f) as usize) << shift;
        if byte < 0x80 {
            return Some(value);
        }
        shift += 7;
    }
}

fn name(bytes: &[u8], at: &mut usize) -> Option<String> {
    let len = leb(bytes, at)?;
    let s = String::from_utf8_lossy(bytes.get(*at..*at + len)?).into_owned();
    *at += len;
    Some(s)
}

/// Reads the import, code and name sections of a wasm module.
fn functions(bytes: &[u8]) -> Option<Functions> {
    let mut f = Functions { imports: 0, sizes: Vec::new(), names: Default::default() };
    let mut at = 8;
    while at < bytes.len() {
        let id = bytes[at];
        at += 1;
        let len = leb(bytes, &mut at)?;
        let (mut p, end) = (at, at + len);
        match id {
            2 => {
                for _ in 0..leb(bytes, &mut p)? {
                    name(bytes, &mut p)?;
                    name(bytes, &mut p)?;
                    let kind = bytes[p];
                    p += 1;
                    match kind {
                        0 => {
                            leb(bytes, &mut p)?;
                            f.imports += 1;
                        }
                        // table: element type, then limits; memory: limits
                        1 | 2 => {
                            p += usize::from(kind == 1);
                            let flags = bytes[p];
                            p += 1;
                            leb(bytes, &mut p)?;
                            if flags & 1 == 1 {
                                leb(bytes, &mut p)?;
                            }
                        }
                        // global: value type, mutability
                        3 => p += 2,
                        // tag: attribute, type index
                        _ => {
                            p += 1;
                            leb(bytes, &mut p)?;
                        }
                    }
                }
            }
            10 => {
                for _ in 0..leb(bytes, &mut p)? {
                    let size = leb(bytes, &mut p)?;
                    f.sizes.push(size);
                    p += size;
                }
            }
            0 if name(bytes, &mut p)? == "name" => {
                while p < end {
                    let sub = bytes[p];
                    p += 1;
                    let sub_end = leb(bytes, &mut p)? + p;
                    if sub == 1 {
                        for _ in 0..leb(bytes, &mut p)? {
                            let index = leb(bytes, &mut p)?;
                            f.names.insert(index, name(bytes, &mut p)?);
                        }
                    }
                    p = sub_end;
                }
            }
            _ => {}
        }
        at = end;
    }
    Some(f)
}

/// gdb attached to the worker's runtime, printing the index of every wasm function V8 compiles
/// lazily, and a line for every JavaScript function it compiles lazily (`Runtime_CompileLazy`:
/// the runtime's, wrangler's middleware's and the wasm-bindgen glue's).
struct Tracer {
    gdb: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Tracer {
    fn attach(pid: u32) -> Option<Tracer> {
        let script = std::env::temp_dir().join(format!("happy-bench-lazy-{pid}.gdb"));
        std::fs::write(
            &script,
            "set pagination off\nhandle SIGSEGV nostop noprint pass\nhandle SIGUSR1 nostop noprint pass\n\
             handle SIGPIPE nostop noprint pass\nbreak v8::internal::wasm::CompileLazy\ncommands\nsilent\n\
             printf \"LAZY %d\\n\", $rdx\ncont\nend\nbreak v8::internal::Runtime_CompileLazy\ncommands\n\
             silent\nprintf \"JSLAZY\\n\"\ncont\nend\nprintf \"READY\\n\"\ncont\n",
        )
        .ok()?;
        let mut gdb = Command::new("gdb")
            .args(["-q", "-batch", "-x"])
            .arg(&script)
            .args(["-p", &pid.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let (tx, lines) = std::sync::mpsc::channel();
        let out = BufReader::new(gdb.stdout.take()?);
        std::thread::spawn(move || out.lines().map_while(Result::ok).for_each(|l| drop(tx.send(l))));
        let tracer = Tracer { gdb, lines };
        loop {
            match tracer.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(l) if l == "READY" => return Some(tracer),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// The wasm function indices compiled since the last call, and how many JavaScript functions,
    /// once compiling has stopped for a moment.
    fn compiled(&self) -> (Vec<usize>, usize) {
        let (mut wasm, mut js) = (Vec::new(), 0);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(1500)) {
            if let Some(i) = line.strip_prefix("LAZY ").and_then(|i| i.trim().parse().ok()) {
                wasm.push(i);
            }
            js += usize::from(line == "JSLAZY");
        }
        (wasm, js)
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.gdb.kill();
        let _ = self.gdb.wait();
    }
}

/// `BENCH_PERF=1`: instead of counting, records the runtime's CPU during the step with perf
/// (`perf report -i bench/target/lazy/<step>.perf.data --no-children --sort symbol`) and counts
/// its samples: all of them, and those under V8's lazy compilers (wasm, JavaScript).
fn profile(server: &Server, step: &Step, agent: &ureq::Agent, token: &str) {
    let Some(pid) = server.runtime_pid() else { return };
    let out = repo().join("bench/target/lazy").join(format!("{}.perf.data", file_name(step.0)));
    let _ = std::fs::create_dir_all(out.parent().unwrap());
    let Ok(mut perf) = Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-F", &PERF_HZ.to_string(), "-g", "-p", &pid.to_string(), "-o"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        println!("| {} | perf could not start | | |", step.0);
        return;
    };
    std::thread::sleep(Duration::from_millis(1000));
    let ok = (step.1)(agent, &server.base, token);
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill").args(["-INT", &perf.id().to_string()]).status();
    let _ = perf.wait();
    let status = if ok { "" } else { " (request failed)" };
    let ms = |n: usize| n as f64 * 1000.0 / PERF_HZ as f64;
    match samples(&out) {
        Some(s) => println!(
            "| {}{status} | {} ({:.1}) | {} ({:.1}) | {} ({:.1}) |",
            step.0,
            s.all,
            ms(s.all),
            s.wasm_compile,
            ms(s.wasm_compile),
            s.js_compile,
            ms(s.js_compile)
        ),
        None => println!("| {}{status} | perf script failed on {} | | |", step.0, out.display()),
    }
}

/// perf's sampling rate: at 20 kHz the sampled time runs about 1.7 times the CPU measured
/// without perf on this VM, so read the columns as shares, not milliseconds.
const PERF_HZ: u32 = 20_000;

/// A profile's samples: all, and those with V8's lazy wasm or JavaScript compiler on the stack.
struct Samples {
    all: usize,
    wasm_compile: usize,
    js_compile: usize,
}

fn samples(data: &std::path::Path) -> Option<Samples> {
    let out = Command::new("perf").args(["script", "-i"]).arg(data).stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut s = Samples { all: 0, wasm_compile: 0, js_compile: 0 };
    // A sample is a header line and its indented frames, then a blank line.
    for sample in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        s.all += 1;
        s.wasm_compile += usize::from(sample.contains("Runtime_WasmCompileLazy"));
        s.js_compile += usize::from(sample.contains("Runtime_CompileLazy"));
    }
    Some(s)
}

/// A step's label up to its parenthesis, as a file name: `GET /v1/sessions (…)` →
/// `GET__v1_sessions`.
fn file_name(step: &str) -> String {
    let head = step.split('(').next().unwrap_or(step).trim();
    head.chars().filter(|c| *c != ',').map(|c| if c == '/' || c == ' ' { '_' } else { c }).collect()
}

/// A symbol without rustc's `::h<16 hex>` suffix.
fn without_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => head,
        _ => name,
    }
}

/// Every function a step compiled, largest first, in bench/target/lazy/: where to cut next.
fn write_listing(step: &str, compiled: &[usize], funcs: &Functions, sized: &dyn Fn(&usize) -> usize) {
    let mut rows: Vec<(usize, usize, &str)> =
        compiled.iter().map(|i| (sized(i), *i, funcs.names.get(i).map_or("?", |n| without_hash(n)))).collect();
    rows.sort_by(|a, b| b.cmp(a));
    let text: String = rows.iter().map(|(size, index, name)| format!("{size:>7} {index:>6} {name}\n")).collect();
    let dir = repo().join("bench/target/lazy");
    let _ =
        std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(dir.join(format!("{}.txt", file_name(step))), text));
}

/// Each served by a fresh server of ours, the last with its objects in another runtime
/// ([`Server::spawn_worker_alone`]): what the worker's part of a first write compiles.
const STEPS: [Step; 6] = [
    OURS[0],
    ("POST /v1/auth (sign-in: Ed25519 verify, D1 batch, token signing)", |a, base, _| new_account(a, base).is_some()),
    ("GET /v1/sessions (token check, D1 read)", |a, base, token| {
        a.get(&format!("{base}/v1/sessions")).set("Authorization", &format!("Bearer {token}")).call().is_ok()
    }),
    OURS[5],
    // The dearest first request of `--only cold`: a second token key, and a URL to write.
    OURS[2],
    FIRST_WRITE_ALONE,
];

pub fn run() {
    if Command::new("gdb").arg("--version").output().is_err() {
        println!("\n- lazy compilation: skipped (needs gdb: apt-get install gdb)");
        return;
    }
    let Some(funcs) = std::fs::read(repo().join("build/index_bg.wasm")).ok().as_deref().and_then(functions) else {
        println!("\n- lazy compilation: build/index_bg.wasm unreadable (make build)");
        return;
    };
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
    let state = fresh_state();
    let Some(token) = new_account(&agent, &Server::spawn_at(&state, Ready::Health).base) else {
        println!("\n- lazy compilation: no account could be made");
        return;
    };
    if std::env::var_os("BENCH_PERF").is_some() {
        println!("\nA fresh isolate's very first request, perf samples of the runtime at {PERF_HZ} Hz (sampled ms):\n");
        println!("| request | all | V8 compiling wasm lazily | V8 compiling JavaScript lazily |");
        println!("| --- | ---: | ---: | ---: |");
    } else {
        println!("\nCompiled lazily by a fresh isolate's very first request (gdb on V8's wasm::CompileLazy and");
        println!("Runtime_CompileLazy):\n");
        println!("| request | wasm functions | KB of wasm | JavaScript functions | largest |");
        println!("| --- | ---: | ---: | ---: | --- |");
    }
    for step in STEPS {
        let server = if objects_apart(&step) {
            Server::spawn_worker_alone(&state)
        } else {
            Server::spawn_at(&state, Ready::Quiet)
        };
        if std::env::var_os("BENCH_PERF").is_some() {
            profile(&server, &step, &agent, &token);
            continue;
        }
        let Some(tracer) = server.runtime_pid().and_then(Tracer::attach) else {
            println!("| {} | gdb could not attach | | | |", step.0);
            continue;
        };
        let ok = (step.1)(&agent, &server.base, &token);
        let (compiled, js) = tracer.compiled();
        let sized = |i: &usize| funcs.sizes.get(i.wrapping_sub(funcs.imports)).copied().unwrap_or(0);
        let bytes: usize = compiled.iter().map(sized).sum();
        let largest = compiled.iter().max_by_key(|i| sized(i)).map_or(String::new(), |i| {
            let name = funcs.names.get(i).map_or("?", String::as_str);
            format!("{} ({:.1} KB)", without_hash(name), sized(i) as f64 / 1000.0)
        });
        write_listing(step.0, &compiled, &funcs, &sized);
        let status = if ok { "" } else { " (request failed)" };
        println!("| {}{status} | {} | {:.1} | {js} | {largest} |", step.0, compiled.len(), bytes as f64 / 1000.0);
    }
    if std::env::var_os("BENCH_PERF").is_some() {
        // The floor of the authenticated read: the empty worker's 2 × SELECT 1 on our database.
        profile(&Server::spawn_empty_js(&state), &FLOOR[3], &agent, &token);
        return;
    }
    // The floors' JavaScript: what the runtime and wrangler compile for any worker's first request.
    for step in [&FLOOR[0], &FLOOR[3]] {
        let server = Server::spawn_empty_js(&state);
        let Some(tracer) = server.runtime_pid().and_then(Tracer::attach) else { continue };
        let status = if (step.1)(&agent, &server.base, "") { "" } else { " (request failed)" };
        println!("| {}{status} | | | {} | |", step.0, tracer.compiled().1);
    }
}
