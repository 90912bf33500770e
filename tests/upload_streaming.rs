//! Uploads and session attachments stream to R2 in bounded memory, as the platform's 128 MB
//! isolate needs (wrangler dev enforces no such limit, so the tests measure it): the worker's
//! isolate is sampled through wrangler's inspector before and during a 90 MB upload and a 9 MB
//! attachment. A client that stops halfway, a file refused after parts of it were stored, and
//! one over the quota (refused as it streams) leave no object, no unfinished multipart upload
//! and no row. Fields after the file part still decide it.
//!
//! One server for this binary, and one test at a time: memory is measured per upload.

mod common;
#[path = "support/streamed_form.rs"]
mod streamed_form;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use streamed_form::{pdf_byte, Form, BOUNDARY};

const MB: usize = 1024 * 1024;
/// The most workerd may grow while one upload streams: a part (8 MiB) in the runtime, the
/// network chunks, the parser's head, and the allocator's slack.
const GROWTH_BOUND: u64 = 32 * MB as u64;

static SERIAL: Mutex<()> = Mutex::new(());

fn server() -> &'static TestApp {
    app_with(&[("UPLOAD_SWEEP_GRACE_MS", "0")])
}

/// How much the worker's isolate grew at most while `f` ran (its heap and buffers, sampled
/// through the inspector every 20 ms), and how much the whole workerd process grew (which
/// also holds wrangler's R2 simulator and its copies of the bytes).
fn growth_during<T>(app: &TestApp, f: impl FnOnce() -> T) -> (u64, u64, T) {
    let mut inspector = workerd::Inspector::connect(app.inspector).expect("inspector");
    let before = inspector.isolate_bytes().expect("heap usage");
    let rss_before = app.workerd_rss();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = before;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(inspector.isolate_bytes().expect("heap usage"));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let out = f();
    let rss_after = app.workerd_rss();
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    (peak - before, rss_after.saturating_sub(rss_before), out)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / MB as f64
}

fn send_form(app: &TestApp, token: &str, form: Form) -> (u16, Value) {
    let len = form.total();
    let resp = ureq::post(&format!("{}/v1/uploads", app.base))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", &format!("multipart/form-data; boundary={BOUNDARY}"))
        .set("Content-Length", &len.to_string())
        .send(form);
    let resp = match resp {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("upload: {e}"),
    };
    (resp.status(), resp.into_json().unwrap_or(Value::Null))
}

/// Whether the download of a file is byte for byte the generated PDF of `len` bytes.
fn download_matches(app: &TestApp, token: &str, id: &str, len: usize) -> bool {
    let resp = ureq::get(&format!("{}/v1/uploads/{id}/download", app.base))
        .set("Authorization", &format!("Bearer {token}"))
        .call();
    let mut reader = resp.expect("download").into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut at = 0;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            return at == len;
        }
        if buf[..n].iter().enumerate().any(|(k, b)| *b != pdf_byte(at + k)) {
            return false;
        }
        at += n;
    }
}

/// What the local bucket holds beyond committed objects: multipart uploads neither completed
/// nor aborted, read from the simulator's own tables.
/// Parts that belong to no object count too: an aborted upload must drop its parts.
fn unfinished_multipart_uploads(app: &TestApp) -> usize {
    let sql = "SELECT (SELECT COUNT(*) FROM _mf_multipart_uploads WHERE state = 0)
                    + (SELECT COUNT(*) FROM _mf_multipart_parts WHERE object_key IS NULL)";
    let dir = app.state_dir.join("v3/r2/miniflare-R2BucketObject");
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let path = entry.path();
        // One database per bucket; `metadata.sqlite` is the simulator's own.
        if path.extension().is_some_and(|e| e == "sqlite") && !path.ends_with("metadata.sqlite") {
            // python3's sqlite3 module: the test setup needs python3 anyway (schemathesis).
            let out = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])",
                ])
                .arg(&path)
                .arg(sql)
                .output()
                .expect("python3");
            let count = String::from_utf8_lossy(&out.stdout).trim().parse::<usize>();
            total += count
                .unwrap_or_else(|_| panic!("{sql} on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr)));
        }
    }
    total
}

fn stored_objects(app: &TestApp, token: &str) -> u64 {
    let (scanned, removed) = app.sweep_uploads(token);
    assert_eq!(removed, Vec::<Value>::new(), "no orphan expected");
    scanned
}

#[test]
fn a_90_mb_upload_streams_in_bounded_memory_and_its_trailing_field_counts() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let app = server();
    let a = app.new_account();
    // Warm the isolate (code compiled, buffers allocated) so the growth is the upload's.
    assert_eq!(send_form(app, &a.token, Form::new(64 * 1024, &[("reuseKey", "big")])).0, 200);

    let len = 90 * 1000 * 1000;
    let (growth, process, (status, body)) =
        growth_during(app, || send_form(app, &a.token, Form::new(len, &[("reuseKey", "big")])));
    assert_eq!(status, 200, "{body}");
    eprintln!("90 MB upload: the isolate grew {:.1} MB at most (workerd {:.1} MB)", mb(growth), mb(process));
    assert!(growth < GROWTH_BOUND, "the isolate grew {:.1} MB during a 90 MB upload", mb(growth));
    let file = &body["file"];
    assert_eq!((file["size"].as_u64(), file["reuseKey"].as_str()), (Some(len as u64), Some("big")));
    assert!(download_matches(app, &a.token, file["id"].as_str().unwrap(), len), "stored bytes differ");
    // The trailing reuseKey replaced the warm-up file: one file, one object.
    assert_eq!(app.get("/v1/uploads", Some(&a.token)).body["files"].as_array().unwrap().len(), 1);
    assert_eq!(stored_objects(app, &a.token), 1);
    assert_eq!(unfinished_multipart_uploads(app), 0);
}

#[test]
fn a_category_after_a_large_file_decides_its_limit_and_a_refusal_leaves_nothing() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let app = server();
    let a = app.new_account();
    // 12 MB, over one part: stored as parts, then filed under the category that came after.
    let (status, body) = send_form(app, &a.token, Form::new(12 * MB, &[("category", "documents")]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["file"]["category"], "documents");
    assert!(download_matches(app, &a.token, body["file"]["id"].as_str().unwrap(), 12 * MB));
    // 60 MB: within the largest limit while it streams, over the documents' 50 MB when the field
    // arrives: 413, and the parts already stored are gone.
    let (status, body) = send_form(app, &a.token, Form::new(60 * MB, &[("category", "documents")]));
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("documents"), "{body}");
    assert_eq!(app.get("/v1/uploads", Some(&a.token)).body["files"].as_array().unwrap().len(), 1);
    assert_eq!(stored_objects(app, &a.token), 1);
    assert_eq!(unfinished_multipart_uploads(app), 0);
}

/// The client sends half of a 40 MB body and hangs up.
#[test]
fn an_upload_the_client_abandons_leaves_no_object_part_or_row() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let app = server();
    let a = app.new_account();
    let mut form = Form::new(40 * MB, &[]);
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    write!(
        tcp,
        "POST /v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        a.token,
        form.total()
    )
    .unwrap();
    let mut chunk = vec![0u8; MB];
    for _ in 0..20 {
        let n = form.read(&mut chunk).unwrap();
        tcp.write_all(&chunk[..n]).unwrap();
    }
    tcp.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(tcp);
    // The worker learns of the hang-up from its body stream; give it time to clean up.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while unfinished_multipart_uploads(app) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(unfinished_multipart_uploads(app), 0, "the abandoned upload's parts are still held");
    assert_eq!(stored_objects(app, &a.token), 0);
    let uid = user_id_of(&a.token);
    assert_eq!(app.d1(&format!("SELECT id FROM uploaded_files WHERE account_id = '{uid}'")), Vec::<Value>::new());
}

#[test]
fn a_9_mb_attachment_streams_in_bounded_memory() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let app = server();
    let a = app.new_account();
    let sid = app.new_session(&a.token, "att");
    let announce = |size: usize| {
        let r = app.post(
            &format!("/v1/sessions/{sid}/attachments/request-upload"),
            Some(&a.token),
            json!({"filename": "photo.enc", "size": size}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["uploadUrl"].as_str().unwrap().to_string()
    };
    let put = |url: &str, bytes: &[u8]| match ureq::put(url)
        .set("Authorization", &format!("Bearer {}", a.token))
        .set("Content-Type", "application/octet-stream")
        .send_bytes(bytes)
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
        Err(e) => panic!("PUT: {e}"),
    };
    let warm = announce(1000);
    assert_eq!(put(&warm, &[7; 1000]), 200);

    let len = 9 * 1000 * 1000;
    let bytes: Vec<u8> = (0..len).map(pdf_byte).collect();
    let url = announce(len);
    let (growth, process, status) = growth_during(app, || put(&url, &bytes));
    assert_eq!(status, 200);
    eprintln!("9 MB attachment: the isolate grew {:.1} MB at most (workerd {:.1} MB)", mb(growth), mb(process));
    assert!(growth < GROWTH_BOUND, "the isolate grew {:.1} MB during a 9 MB attachment", mb(growth));
    let mut got = Vec::new();
    ureq::get(&url)
        .set("Authorization", &format!("Bearer {}", a.token))
        .call()
        .unwrap()
        .into_reader()
        .read_to_end(&mut got)
        .unwrap();
    assert!(got == bytes, "stored attachment differs");
    assert_eq!(unfinished_multipart_uploads(app), 0);
}

/// The quota is checked as the bytes arrive: a 20 MB file into a 1 MB plan is refused with the
/// plan's bytes in the body, and nothing it sent is kept.
#[test]
fn an_upload_over_the_quota_is_refused_as_it_streams() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let app = server();
    let a = app.new_account();
    let max = MB;
    app.put_on_test_plan(&a.token, "stream-1mb", 20, max as u64);
    let (status, body) = send_form(app, &a.token, Form::new(20 * MB, &[]));
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        (body["error"].as_str(), body["limit"].as_str(), body["max"].as_u64()),
        (Some("Upload quota exceeded"), Some("uploadBytesPerAccount"), Some(max as u64))
    );
    assert_eq!(stored_objects(app, &a.token), 0);
    assert_eq!(unfinished_multipart_uploads(app), 0);
}
