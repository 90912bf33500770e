//! The upload Cloudflare would receive stays small: under 1 MiB gzipped (the free plan allows
//! 3 MB), measured offline with `wrangler deploy --dry-run` on the release build, for the
//! default and the production environment (whose bindings wrangler.toml repeats).

use std::process::Command;

#[test]
fn gzipped_upload_is_under_one_mebibyte() {
    dry_run(&[]);
}

#[test]
fn the_production_environment_deploys_with_every_binding() {
    let text = dry_run(&["--env", "production"]);
    for binding in ["USER_HUB", "LOBBY", "DB", "UPLOADS", "AUTH_RATE_LIMITER", "ATTACHMENT_RATE_LIMITER"] {
        assert!(text.contains(&format!("env.{binding} ")), "production lacks {binding}:\n{text}");
    }
    assert!(text.contains(r#"env.ENVIRONMENT ("production")"#), "{text}");
    // The Free plan's first requests: the start optimizes the pipeline (src/app/warm.rs).
    assert!(text.contains(r#"env.HAPPY_WARM_UP_ROUNDS ("3000")"#), "{text}");
}

/// Runs a dry-run deploy, checks its gzipped size and returns what wrangler printed.
fn dry_run(extra: &[&str]) -> String {
    let repo = env!("CARGO_MANIFEST_DIR");
    let out_dir = std::env::temp_dir().join(format!("happy-dry-run-{}-{}", std::process::id(), extra.len()));
    let out = Command::new(format!("{repo}/node_modules/.bin/wrangler"))
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(&out_dir)
        .args(extra)
        .env("CI", "1")
        .env("WRANGLER_SEND_METRICS", "false")
        .current_dir(repo)
        .output()
        .expect("wrangler installed (make setup)");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let gzip_kib: f64 = text
        .lines()
        .find_map(|l| l.split("gzip:").nth(1))
        .and_then(|rest| rest.trim().trim_end_matches("KiB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no size in wrangler's output:\n{text}"));
    println!("gzipped upload: {gzip_kib} KiB");
    assert!(gzip_kib < 1024.0, "gzipped upload is {gzip_kib} KiB");
    let _ = std::fs::remove_dir_all(out_dir);
    text
}
