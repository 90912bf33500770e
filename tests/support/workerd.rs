//! The workerd processes under one wrangler, read from /proc: what they cost the machine (CPU
//! seconds, resident memory), and the worker's isolate through its inspector. Shared by the
//! tests and the benchmark (`#[path]`).

/// The workerd processes descended from `root` (wrangler, or the shell that started it).
pub fn workerd_pids(root: u32) -> Vec<u32> {
    descendants(root).into_iter().filter(|pid| cmdline(*pid).contains("workerd")).collect()
}

/// CPU seconds used so far by the workerd processes under `root`: all of them, or only the
/// one running the worker (wrangler starts two: a proxy in front, and the runtime that runs the
/// worker, beside the local D1 and R2 simulators).
pub fn cpu_seconds(root: u32, only_worker: bool) -> f64 {
    workerd_pids(root).into_iter().filter(|pid| !only_worker || is_runtime(*pid)).map(on_cpu_seconds).sum()
}

/// The workerd process under `root` that runs the worker.
pub fn runtime_pid(root: u32) -> Option<u32> {
    workerd_pids(root).into_iter().find(|pid| is_runtime(*pid))
}

/// The proxy listens on the served port; the runtime behind it on a port of the system's
/// choosing (`--socket-addr=entry=127.0.0.1:0`), with or without an inspector.
fn is_runtime(pid: u32) -> bool {
    cmdline(pid).split(' ').any(|arg| arg.starts_with("--socket-addr=entry=") && arg.ends_with(":0"))
}

fn cmdline(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default().replace('\0', " ")
}

/// Time on CPU of every thread of `pid`, from schedstat (nanoseconds; /proc's stat counts
/// 10 ms ticks, too coarse for one request).
fn on_cpu_seconds(pid: u32) -> f64 {
    threads_on_cpu(pid).map(|(_, ns)| ns).sum::<u64>() as f64 / 1e9
}

/// The same for the runtime's request threads only: without V8's background workers
/// ("V8 DefaultWorke[r]", which tier wasm up to TurboFan and collect garbage concurrently),
/// the part of a request's CPU that ran on the thread executing it.
pub fn request_thread_cpu_seconds(root: u32) -> Option<f64> {
    let pid = runtime_pid(root)?;
    let ns: u64 = threads_on_cpu(pid).filter(|(name, _)| !name.starts_with("V8 DefaultWorke")).map(|(_, ns)| ns).sum();
    Some(ns as f64 / 1e9)
}

/// Each thread of `pid`: its name and nanoseconds on CPU.
fn threads_on_cpu(pid: u32) -> impl Iterator<Item = (String, u64)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten();
    tasks.filter_map(|t| {
        let ns = std::fs::read_to_string(t.path().join("schedstat")).ok()?.split_whitespace().next()?.parse().ok()?;
        Some((std::fs::read_to_string(t.path().join("comm")).ok()?.trim().to_string(), ns))
    })
}

/// Resident memory of the workerd processes under `root`, in bytes.
pub fn rss_bytes(root: u32) -> u64 {
    workerd_pids(root)
        .into_iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
        })
        .sum()
}

fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() {
            if let Some(ppid) = proc_stat(pid).and_then(|f| f.get(1)?.parse::<u32>().ok()) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// The worker's own isolate seen through wrangler's inspector (Chrome DevTools Protocol): the
/// memory Cloudflare's 128 MB limit counts, apart from the rest of the workerd process (which
/// also runs wrangler's simulators of R2, D1 and the rest).
pub struct Inspector {
    socket: tungstenite::WebSocket<std::net::TcpStream>,
    next_id: u64,
}

impl Inspector {
    pub fn connect(port: u16) -> Option<Inspector> {
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).ok()?;
        let (socket, _) = tungstenite::client(format!("ws://127.0.0.1:{port}/ws"), tcp).ok()?;
        Some(Inspector { socket, next_id: 1 })
    }

    /// The isolate's memory: its JS heap in use plus its ArrayBuffer backing stores (wasm
    /// memory, request and part buffers), in bytes, garbage not yet collected included
    /// (workerd's inspector offers no collection to ask for).
    pub fn isolate_bytes(&mut self) -> Option<u64> {
        let r = self.call("Runtime.getHeapUsage")?;
        Some(r["usedSize"].as_u64()? + r["backingStorageSize"].as_u64()?)
    }

    fn call(&mut self, method: &str) -> Option<serde_json::Value> {
        let id = self.next_id;
        self.next_id += 1;
        let ask = format!(r#"{{"id":{id},"method":"{method}"}}"#);
        self.socket.send(tungstenite::Message::text(ask)).ok()?;
        loop {
            let tungstenite::Message::Text(text) = self.socket.read().ok()? else { continue };
            let mut reply: serde_json::Value = serde_json::from_str(text.as_str()).ok()?;
            if reply["id"].as_u64() == Some(id) {
                return Some(reply["result"].take());
            }
        }
    }
}
