//! Closed-loop load: N connections, each sending its next request when the last one answered,
//! until the time or count bound is reached.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
    pub cpu_seconds: Option<f64>,
}

impl Stats {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    pub fn cpu_ms_per_request(&self) -> Option<f64> {
        self.cpu_seconds.filter(|_| self.requests > 0).map(|s| s * 1000.0 / self.requests as f64)
    }
}

pub fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let idx = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[idx.min(sorted_us.len() - 1)] as f64 / 1000.0
}

/// Runs `request(agent, connection, i)` (true = success) on `connections` threads.
pub fn run<F>(
    connections: usize,
    duration: Duration,
    max_requests: u64,
    cpu: impl Fn() -> Option<f64>,
    request: F,
) -> Stats
where
    F: Fn(&ureq::Agent, usize, u64) -> bool + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu();
    let started = Instant::now();
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            let (request, stop, issued) = (request.clone(), stop.clone(), issued.clone());
            std::thread::spawn(move || {
                let agent =
                    ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).max_idle_connections_per_host(4).build();
                let mut lat = Vec::new();
                let mut errors = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let i = issued.fetch_add(1, Ordering::Relaxed);
                    if i >= max_requests || started.elapsed() >= duration {
                        break;
                    }
                    let t = Instant::now();
                    if !request(&agent, c, i) {
                        errors += 1;
                    }
                    lat.push(t.elapsed().as_micros() as u64);
                }
                (lat, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().expect("load thread");
        latencies.extend(l);
        errors += e;
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu_seconds = match (cpu_before, cpu()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    latencies.sort_unstable();
    Stats { requests: latencies.len() as u64, errors, elapsed, latencies_us: latencies, cpu_seconds }
}
