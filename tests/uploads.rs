//! Uploads as a client sees them: multipart upload, limits, content checks, listing, conditional
//! and ranged downloads, reuseKey replacement (checked through the API and by listing R2),
//! the avatar, the orphan sweep, and other accounts' ids.

mod common;

use common::*;
use serde_json::Value;

fn server() -> &'static TestApp {
    // Grace 0: the sweep tests create orphans and sweep them at once.
    app_with(&[("UPLOAD_SWEEP_GRACE_MS", "0")])
}

#[test]
fn upload_get_list_download_delete() {
    let app = server();
    let a = app.new_account();
    let user = user_id_of(&a.token);
    let r =
        app.upload(&a.token, ("hello.txt", "text/plain; charset=utf-8", b"hello, world"), &[("category", "documents")]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["success"], true);
    let f = &r.body["file"];
    let id = f["id"].as_str().unwrap();
    assert_eq!(f["path"], format!("documents/{user}/{id}.txt"));
    assert_eq!(f["originalName"], "hello.txt");
    assert_eq!(f["contentType"], "text/plain");
    assert_eq!(f["category"], "documents");
    assert_eq!(f["size"], 12);
    assert!(f["createdAt"].as_i64().unwrap() > 0);
    assert_eq!(f["createdAt"], f["updatedAt"]);
    assert!(f.get("width").is_none());

    let g = app.get(&format!("/v1/uploads/{id}"), Some(&a.token));
    assert_eq!(g.status, 200);
    assert_eq!(&g.body["file"], f);
    assert!(g.body["url"].as_str().unwrap().ends_with(&format!("/v1/uploads/{id}/download")));

    let d = app.get(&format!("/v1/uploads/{id}/download"), Some(&a.token));
    assert_eq!(d.status, 200);
    assert_eq!(d.text, "hello, world");
    assert_eq!(d.header("content-type"), Some("text/plain"));
    assert_eq!(d.header("content-length"), Some("12"));
    assert_eq!(d.header("accept-ranges"), Some("bytes"));
    let etag = d.header("etag").expect("etag").to_string();
    assert!(etag.starts_with('"'), "{etag}");

    // Images get their dimensions from the header.
    let p = app.upload(&a.token, ("p.png", "image/png", &png(640, 480)), &[]);
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!((p.body["file"]["width"].as_i64(), p.body["file"]["height"].as_i64()), (Some(640), Some(480)));
    assert_eq!(p.body["file"]["category"], "files");

    let list = app.get("/v1/uploads", Some(&a.token));
    assert_eq!(list.body["files"].as_array().unwrap().len(), 2);
    assert!(list.body.get("nextCursor").is_none());
    let docs = app.get("/v1/uploads?category=documents", Some(&a.token));
    assert_eq!(docs.body["files"].as_array().unwrap().len(), 1);
    assert_eq!(docs.body["files"][0]["id"], id);

    assert_eq!(app.delete(&format!("/v1/uploads/{id}"), Some(&a.token)).body, serde_json::json!({"success": true}));
    app.get(&format!("/v1/uploads/{id}"), Some(&a.token)).assert_error(404);
    app.get(&format!("/v1/uploads/{id}/download"), Some(&a.token)).assert_error(404);
    app.delete(&format!("/v1/uploads/{id}"), Some(&a.token)).assert_error(404);
    // Its object is gone from R2 too: only the PNG is left.
    assert_eq!(app.sweep_uploads(&a.token), (1, vec![]));
}

#[test]
fn conditional_and_ranged_downloads() {
    let app = server();
    let a = app.new_account();
    let r = app.upload(&a.token, ("digits.txt", "text/plain", b"0123456789"), &[]);
    let path = format!("/v1/uploads/{}/download", r.body["file"]["id"].as_str().unwrap());
    let etag = app.get(&path, Some(&a.token)).header("etag").unwrap().to_string();

    let nm = app.request("GET", &path, Some(&a.token), None, &[("If-None-Match", &etag)]);
    assert_eq!(nm.status, 304);
    assert_eq!(nm.text, "");
    assert_eq!(nm.header("etag"), Some(etag.as_str()));
    let weak = format!("\"other\", W/{etag}");
    assert_eq!(app.request("GET", &path, Some(&a.token), None, &[("If-None-Match", &weak)]).status, 304);
    assert_eq!(app.request("GET", &path, Some(&a.token), None, &[("If-None-Match", "\"nope\"")]).status, 200);

    for (range, body, content_range) in [
        ("bytes=0-3", "0123", "bytes 0-3/10"),
        ("bytes=7-", "789", "bytes 7-9/10"),
        ("bytes=-2", "89", "bytes 8-9/10"),
        ("bytes=5-100", "56789", "bytes 5-9/10"),
    ] {
        let p = app.request("GET", &path, Some(&a.token), None, &[("Range", range)]);
        assert_eq!(p.status, 206, "{range}");
        assert_eq!(p.text, body, "{range}");
        assert_eq!(p.header("content-range"), Some(content_range), "{range}");
        assert_eq!(p.header("content-length"), Some(body.len().to_string().as_str()), "{range}");
    }
    let bad = app.request("GET", &path, Some(&a.token), None, &[("Range", "bytes=10-")]);
    bad.assert_error(416);
    assert_eq!(bad.header("content-range"), Some("bytes */10"));
    // Several ranges or a malformed header: the whole file.
    let full = app.request("GET", &path, Some(&a.token), None, &[("Range", "bytes=0-1,4-5")]);
    assert_eq!((full.status, full.text.as_str()), (200, "0123456789"));
    let full = app.request("GET", &path, Some(&a.token), None, &[("Range", "lines=1-2")]);
    assert_eq!(full.status, 200);
}

#[test]
fn oversize_uploads_are_413_and_store_nothing() {
    let app = server();
    let a = app.new_account();
    let big_avatar = png(1, 1).into_iter().chain(std::iter::repeat_n(0u8, 5 * 1024 * 1024)).collect::<Vec<_>>();
    app.send_multipart("/v1/uploads/avatar", &a.token, &multipart(Some(("a.png", "image/png", &big_avatar)), &[]))
        .assert_error(413);
    app.upload(&a.token, ("a.png", "image/png", &big_avatar), &[("category", "avatars")]).assert_error(413);
    // 50 MB + 1 byte of valid text as a document.
    let big_doc = vec![b'a'; 50 * 1024 * 1024 + 1];
    app.upload(&a.token, ("a.txt", "text/plain", &big_doc), &[("category", "documents")]).assert_error(413);
    // The same bytes fit the general category.
    let ok = app.upload(&a.token, ("a.txt", "text/plain", &big_doc), &[]);
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["file"]["size"], 50 * 1024 * 1024 + 1);
    assert_eq!(app.get("/v1/uploads", Some(&a.token)).body["files"].as_array().unwrap().len(), 1);
    assert_eq!(app.sweep_uploads(&a.token), (1, vec![]));
}

/// The route reads bodies in 1 MiB windows without copying the file into wasm: a character
/// split by a window edge, a boundary lookalike across one and a bad byte far past the first
/// window are judged as in a whole file, and what is stored is byte for byte what was sent.
#[test]
fn large_files_are_checked_whole_and_stored_byte_exact() {
    let app = server();
    let a = app.new_account();
    let download =
        |r: &Resp| app.get(&format!("/v1/uploads/{}/download", r.body["file"]["id"].as_str().unwrap()), Some(&a.token));

    // 3.6 MB of a 3-byte character: window edges fall inside characters.
    let text = "€".repeat(1_200_000) + "end";
    let r = app.upload(&a.token, ("euro.txt", "text/plain", text.as_bytes()), &[("category", "documents")]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["file"]["size"], text.len());
    assert!(download(&r).text == text, "stored text differs");

    // One invalid byte 2.5 MB in is refused like a short file's.
    let mut bad = text.clone().into_bytes();
    bad[2_500_000] = 0xff;
    app.upload(&a.token, ("bad.txt", "text/plain", &bad), &[]).assert_error(415);

    // A PDF holding the boundary followed by other bytes (not a delimiter) across the first
    // window edge of its part, then its fields after it.
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize((1 << 20) - 4, b'x');
    pdf.extend_from_slice(format!("\r\n--{MULTIPART_BOUNDARY}X\r\n").as_bytes());
    pdf.resize(2_000_000, b'y');
    let r =
        app.upload(&a.token, ("big.pdf", "application/pdf", &pdf), &[("category", "documents"), ("reuseKey", "big")]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["file"]["size"].as_u64(), r.body["file"]["category"].as_str()),
        (Some(2_000_000), Some("documents"))
    );
    assert!(download(&r).text.as_bytes() == pdf, "stored PDF differs");
    assert_eq!(app.sweep_uploads(&a.token), (2, vec![]));
}

#[test]
fn spoofed_or_disallowed_content_is_415_and_stores_nothing() {
    let app = server();
    let a = app.new_account();
    let png = png(2, 2);
    for (name, ct, data, fields) in [
        ("x.png", "image/png", &b"<html><script>alert(1)</script>"[..], &[][..]),
        ("x.png", "image/png", b"%PDF-1.4 not an image", &[]),
        ("x.jpg", "image/jpeg", &png[..], &[]),
        ("x.txt", "text/plain", &png[..], &[]),
        ("x.txt", "text/plain", b"nul\0inside", &[]),
        ("x.txt", "text/plain", b"\xff\xfe\xfd", &[]),
        ("x.svg", "image/svg+xml", b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", &[]),
        ("x.html", "text/html", b"<p>hi</p>", &[]),
        ("x.bin", "application/octet-stream", b"\x00\x01\x02", &[]),
        ("x.pdf", "application/pdf", b"%PDF-1.4", &[("category", "avatars")][..]),
    ] {
        app.upload(&a.token, (name, ct, data), fields).assert_error(415);
    }
    app.send_multipart("/v1/uploads/avatar", &a.token, &multipart(Some(("x.txt", "text/plain", b"hi")), &[]))
        .assert_error(415);
    assert_eq!(app.get("/v1/uploads", Some(&a.token)).body["files"], serde_json::json!([]));
    assert_eq!(app.sweep_uploads(&a.token), (0, vec![]));
}

#[test]
fn bad_requests_are_json_400_and_auth_is_required() {
    let app = server();
    let a = app.new_account();
    let png = png(1, 1);
    app.request_raw("POST", "/v1/uploads", Some(&a.token), "application/json", b"{}").assert_error(400);
    app.request_raw("POST", "/v1/uploads", Some(&a.token), "multipart/form-data", b"x").assert_error(400);
    app.send_multipart("/v1/uploads", &a.token, b"garbage").assert_error(400);
    app.send_multipart("/v1/uploads", &a.token, &multipart(None, &[("category", "files")])).assert_error(400);
    app.upload(&a.token, ("p.png", "image/png", &png), &[("category", "music")]).assert_error(400);
    app.upload(&a.token, ("p.png", "image/png", &png), &[("reuseKey", "profile-avatar")]).assert_error(400);
    app.upload(&a.token, ("p.png", "image/png", &png), &[("reuseKey", &"k".repeat(129))]).assert_error(400);
    // Fields are read only when short: a long one is refused unread.
    let r = app.upload(&a.token, ("p.png", "image/png", &png), &[("category", &"c".repeat(2000))]);
    r.assert_error(400);
    assert_eq!(r.body["error"], "category is too long");
    for q in ["limit=0", "limit=201", "limit=x", "cursor=nope", "category=music"] {
        app.get(&format!("/v1/uploads?{q}"), Some(&a.token)).assert_error(400);
    }
    app.get("/v1/uploads", None).assert_error(401);
    app.send_multipart("/v1/uploads", "bad-token", &multipart(Some(("p.png", "image/png", &png)), &[]))
        .assert_error(401);
    app.get("/v1/uploads/x/download", None).assert_error(401);
    app.delete("/v1/uploads/x", None).assert_error(401);
}

#[test]
fn pagination_walks_every_file_once() {
    let app = server();
    let a = app.new_account();
    let mut ids: Vec<String> = (0..5)
        .map(|i| {
            let r = app.upload(&a.token, (&format!("{i}.txt"), "text/plain", format!("file {i}").as_bytes()), &[]);
            r.body["file"]["id"].as_str().unwrap().to_string()
        })
        .collect();
    let mut seen = Vec::new();
    let mut path = "/v1/uploads?limit=2".to_string();
    loop {
        let page = app.get(&path, Some(&a.token));
        assert_eq!(page.status, 200, "{}", page.text);
        let files = page.body["files"].as_array().unwrap();
        assert!(files.len() <= 2);
        seen.extend(files.iter().map(|f| f["id"].as_str().unwrap().to_string()));
        match page.body["nextCursor"].as_str() {
            Some(c) => path = format!("/v1/uploads?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    ids.sort();
    assert_eq!(sorted_seen, ids);
}

#[test]
fn reuse_key_replaces_the_earlier_file_and_its_object() {
    let app = server();
    let a = app.new_account();
    let mut ids = Vec::new();
    for i in 0..3 {
        let r =
            app.upload(&a.token, ("n.txt", "text/plain", format!("version {i}").as_bytes()), &[("reuseKey", "notes")]);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["file"]["reuseKey"], "notes");
        ids.push(r.body["file"]["id"].as_str().unwrap().to_string());
    }
    let list = app.get("/v1/uploads", Some(&a.token));
    let files = list.body["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["id"], ids[2].as_str());
    for old in &ids[..2] {
        app.get(&format!("/v1/uploads/{old}"), Some(&a.token)).assert_error(404);
    }
    assert_eq!(app.get(&format!("/v1/uploads/{}/download", ids[2]), Some(&a.token)).text, "version 2");
    assert_eq!(app.sweep_uploads(&a.token), (1, vec![]));

    // Racing uploads with one key still end with exactly one row and one object.
    concurrently(8, |i| {
        let r = app.upload(&a.token, ("r.txt", "text/plain", format!("race {i}").as_bytes()), &[("reuseKey", "race")]);
        assert_eq!(r.status, 200, "{}", r.text);
    });
    let race = app.get("/v1/uploads", Some(&a.token));
    assert_eq!(race.body["files"].as_array().unwrap().iter().filter(|f| f["reuseKey"] == "race").count(), 1);
    assert_eq!(app.sweep_uploads(&a.token), (2, vec![]));
    // A different account's key space is separate.
    let b = app.new_account();
    app.upload(&b.token, ("n.txt", "text/plain", b"b's notes"), &[("reuseKey", "notes")]);
    assert_eq!(app.get("/v1/uploads", Some(&a.token)).body["files"].as_array().unwrap().len(), 2);
}

#[test]
fn avatar_upload_sets_the_account_avatar_and_replaces_the_previous_one() {
    let app = server();
    let a = app.new_account();
    let user = user_id_of(&a.token);
    let seq_before = app.d1(&format!("SELECT seq FROM accounts WHERE id = '{user}'"))[0]["seq"].as_i64().unwrap();
    let first = app.send_multipart(
        "/v1/uploads/avatar",
        &a.token,
        &multipart(Some(("me.png", "image/png", &png(64, 32))), &[]),
    );
    assert_eq!(first.status, 200, "{}", first.text);
    let av = &first.body["avatar"];
    assert_eq!(first.body["success"], true);
    assert!(av["path"].as_str().unwrap().starts_with(&format!("avatars/{user}/")));
    assert_eq!((av["width"].as_i64(), av["height"].as_i64()), (Some(64), Some(32)));
    assert_eq!(av["contentType"], "image/png");

    let second = app.send_multipart(
        "/v1/uploads/avatar",
        &a.token,
        &multipart(Some(("me2.png", "image/png", &png(128, 128))), &[]),
    );
    assert_eq!(second.status, 200, "{}", second.text);
    let path = second.body["avatar"]["path"].as_str().unwrap();
    let row = &app.d1(&format!("SELECT avatar, seq FROM accounts WHERE id = '{user}'"))[0];
    let stored: Value = serde_json::from_str(row["avatar"].as_str().unwrap()).unwrap();
    assert_eq!(stored["path"], path);
    assert_eq!((stored["width"].as_i64(), stored["height"].as_i64()), (Some(128), Some(128)));
    assert_eq!(stored["thumbhash"], Value::Null);
    assert!(stored["url"].as_str().unwrap().starts_with("http"));
    assert_eq!(row["seq"].as_i64().unwrap(), seq_before + 2, "one seq per avatar change");
    let avatars = app.get("/v1/uploads?category=avatars", Some(&a.token));
    assert_eq!(avatars.body["files"].as_array().unwrap().len(), 1);
    assert_eq!(app.sweep_uploads(&a.token), (1, vec![]));

    // Deleting the avatar's file clears the avatar (and bumps the seq once more).
    let id = second.body["avatar"]["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/v1/uploads/{id}"), Some(&a.token)).status, 200);
    let row = &app.d1(&format!("SELECT avatar, seq FROM accounts WHERE id = '{user}'"))[0];
    assert_eq!(row["avatar"], Value::Null);
    assert_eq!(row["seq"].as_i64().unwrap(), seq_before + 3);
}

#[test]
fn sweep_removes_objects_no_row_references() {
    let app = server();
    let a = app.new_account();
    let user = user_id_of(&a.token);
    let kept = app.upload(&a.token, ("k.txt", "text/plain", b"kept"), &[]);
    let orphan = format!("files/{user}/orphan.txt");
    app.r2_put(&orphan, b"left behind by a failed batch");
    // Another account's orphan is not this account's to sweep.
    let b = app.new_account();
    let other = format!("files/{}/orphan.txt", user_id_of(&b.token));
    app.r2_put(&other, b"b's orphan");

    let (scanned, removed) = app.sweep_uploads(&a.token);
    assert_eq!(scanned, 2);
    assert_eq!(removed, vec![Value::from(orphan)]);
    assert_eq!(app.sweep_uploads(&a.token), (1, vec![]));
    let id = kept.body["file"]["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/v1/uploads/{id}/download"), Some(&a.token)).text, "kept");
    assert_eq!(app.sweep_uploads(&b.token), (1, vec![Value::from(other)]));
}

#[test]
fn another_accounts_files_are_404() {
    let app = server();
    let a = app.new_account();
    let b = app.new_account();
    let r = app.upload(&a.token, ("s.txt", "text/plain", b"secret"), &[]);
    let id = r.body["file"]["id"].as_str().unwrap();
    app.get(&format!("/v1/uploads/{id}"), Some(&b.token)).assert_error(404);
    app.get(&format!("/v1/uploads/{id}/download"), Some(&b.token)).assert_error(404);
    app.delete(&format!("/v1/uploads/{id}"), Some(&b.token)).assert_error(404);
    assert_eq!(app.get("/v1/uploads", Some(&b.token)).body["files"], serde_json::json!([]));
    // Still there for its owner.
    assert_eq!(app.get(&format!("/v1/uploads/{id}/download"), Some(&a.token)).text, "secret");
}

/// Puts the account on a test plan with an upload quota of `max` bytes.
fn limit_uploads(app: &TestApp, token: &str, max: u64) {
    app.put_on_test_plan(token, &format!("test-upload-{max}"), 20, max);
}

fn assert_quota_refused(r: &Resp, max: u64) {
    r.assert_error(403);
    assert_eq!(r.body["error"], "Upload quota exceeded", "{}", r.text);
    assert_eq!((r.body["limit"].as_str(), r.body["max"].as_u64()), (Some("uploadBytesPerAccount"), Some(max)));
}

/// The plan's upload quota counts every stored byte plus the new file (a reuseKey swap frees the
/// replaced one first); a refused upload stores nothing and changes nothing.
#[test]
fn uploads_stop_at_the_plans_quota() {
    let app = server();
    let a = app.new_account();
    let user = user_id_of(&a.token);
    limit_uploads(app, &a.token, 100);
    let text = |n: usize| vec![b'q'; n];
    assert_eq!(app.upload(&a.token, ("doc.txt", "text/plain", &text(60)), &[("reuseKey", "doc")]).status, 200);
    assert_quota_refused(&app.upload(&a.token, ("b.txt", "text/plain", &text(41)), &[]), 100);
    assert_eq!(app.sweep_uploads(&a.token), (1, vec![]), "the refused file's object is removed");
    assert_eq!(app.upload(&a.token, ("c.txt", "text/plain", &text(40)), &[]).status, 200, "exactly the quota fits");

    // Replacing the 60-byte doc with 70 bytes would make 110: refused, and the old doc stays.
    assert_quota_refused(&app.upload(&a.token, ("doc.txt", "text/plain", &text(70)), &[("reuseKey", "doc")]), 100);
    let files = app.get("/v1/uploads", Some(&a.token)).body["files"].as_array().unwrap().clone();
    let doc: Vec<&Value> = files.iter().filter(|f| f["reuseKey"] == "doc").collect();
    assert_eq!((files.len(), doc.len(), doc[0]["size"].as_u64()), (2, 1, Some(60)));
    // With 50 bytes it fits once the old one is freed.
    assert_eq!(app.upload(&a.token, ("doc.txt", "text/plain", &text(50)), &[("reuseKey", "doc")]).status, 200);
    assert_eq!(app.sweep_uploads(&a.token), (2, vec![]));

    // The avatar counts too; a refused one leaves the account as it was.
    let seq = |app: &TestApp| app.d1(&format!("SELECT seq, avatar FROM accounts WHERE id = '{user}'"))[0].clone();
    let before = seq(app);
    let r =
        app.send_multipart("/v1/uploads/avatar", &a.token, &multipart(Some(("me.png", "image/png", &png(8, 8))), &[]));
    assert_quota_refused(&r, 100);
    assert_eq!(seq(app), before);
    assert_eq!(app.sweep_uploads(&a.token), (2, vec![]));

    // Racing uploads never overshoot: 10 × 30 bytes into 100 leaves exactly 3.
    let b = app.new_account();
    limit_uploads(app, &b.token, 100);
    let statuses: Vec<u16> =
        concurrently(10, |_| app.upload(&b.token, ("r.txt", "text/plain", &[b'r'; 30]), &[]).status);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 7, "{statuses:?}");
    assert_eq!(app.sweep_uploads(&b.token), (3, vec![]));
}
