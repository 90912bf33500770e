//! The upload Cloudflare would receive stays small: under 1 MiB gzipped (the free plan allows
//! 3 MB), measured offline with `wrangler deploy --dry-run` on the release build.

use std::process::Command;

#[test]
fn gzipped_upload_is_under_one_mebibyte() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let out_dir = std::env::temp_dir().join(format!("happy-dry-run-{}", std::process::id()));
    let out = Command::new(format!("{repo}/node_modules/.bin/wrangler"))
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(&out_dir)
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
}
