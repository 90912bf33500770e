//! What an upload costs: the worker process's CPU per MB and workerd's memory while 1, 10 and
//! 90 MB files stream to R2 (the isolate's own memory is sampled by tests/upload_streaming.rs).

use std::time::{Duration, Instant};

use crate::scenarios::new_account;
use crate::server::Server;
use crate::streamed_form::{Form, BOUNDARY};

pub fn run(server: &Server, base: &str) {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(300)).build();
    let Some(token) = new_account(&agent, base) else { return };
    println!("\nUploads (POST /v1/uploads, one at a time, a PDF streamed with its Content-Length):\n");
    println!("| file | wall ms | MB/s | worker process CPU ms | CPU ms per MB | workerd RSS growth MB |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for mb in [1usize, 10, 90] {
        let len = mb * 1_000_000;
        let (cpu0, rss0) = (server.worker_cpu_seconds(), server.workerd_rss());
        let started = Instant::now();
        let form = Form::new(len, &[]);
        let size = form.total();
        let ok = agent
            .post(&format!("{base}/v1/uploads"))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", &format!("multipart/form-data; boundary={BOUNDARY}"))
            .set("Content-Length", &size.to_string())
            .send(form)
            .is_ok();
        let wall = started.elapsed().as_secs_f64();
        let cpu = server.worker_cpu_seconds().zip(cpu0).map(|(a, b)| (a - b) * 1000.0);
        let rss = server.workerd_rss().zip(rss0).map(|(a, b)| a.saturating_sub(b) as f64 / 1048576.0);
        let fmt = |v: Option<f64>, p: usize| v.map_or("-".into(), |v| format!("{v:.p$}"));
        println!(
            "| {mb} MB{} | {:.0} | {:.0} | {} | {} | {} |",
            if ok { "" } else { " (failed)" },
            wall * 1000.0,
            mb as f64 / wall,
            fmt(cpu, 1),
            fmt(cpu.map(|c| c / mb as f64), 2),
            fmt(rss, 1)
        );
    }
}
