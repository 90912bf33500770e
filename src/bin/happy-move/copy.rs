//! The move: every kind copied page by page to the destination's import routes, then verified
//! record by record on both sides. Re-running sends sessions, machines and KV again (the
//! destination writes only what is missing or newer) and only the messages after the
//! destination's seq of each session, so a move killed at any point resumes where it stopped.

use std::collections::HashMap;
use std::io::Write;

use serde_json::{json, Value};

use crate::api::Server;
use crate::records::{self, Kind, PROFILE_FIELDS};

/// One kind's outcome.
#[derive(Debug)]
pub struct Tally {
    pub kind: Kind,
    pub source: usize,
    pub written: u64,
    pub equal: usize,
    /// Records whose destination differs from the source (or is missing), by id.
    pub differing: Vec<String>,
}

impl Tally {
    fn new(kind: Kind) -> Tally {
        Tally { kind, source: 0, written: 0, equal: 0, differing: Vec::new() }
    }
}

fn progress(kind: Kind, done: usize, total: usize) {
    eprint!("\r  {:<9} {done}/{total}", kind.name());
    if done == total {
        eprintln!();
    }
    let _ = std::io::stderr().flush();
}

fn written(answer: &Value) -> u64 {
    answer["written"].as_u64().unwrap_or(0)
}

/// A page of a request: at most 100 records (the import routes' cap) and about 128 KB, so one
/// import's worker CPU stays under 5 ms, half the Free plan's 10 (bench/RESULTS.md); a record
/// larger than that goes alone. A v2 or v3 page goes in several.
fn pages(records: &[Value]) -> Vec<&[Value]> {
    let (mut out, mut start, mut bytes) = (Vec::new(), 0, 0);
    for (i, r) in records.iter().enumerate() {
        let size = r.to_string().len();
        if i > start && (i - start == 100 || bytes + size > 128 * 1024) {
            out.push(&records[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < records.len() {
        out.push(&records[start..]);
    }
    out
}

/// Posts `records` to `path` page by page under `field`; returns the rows written.
fn send(dest: &Server, path: &str, field: &str, kind: Kind, records: &[Value]) -> Result<u64, String> {
    let (mut total, mut sent) = (0, 0);
    progress(kind, 0, records.len());
    for page in pages(records) {
        total += written(&dest.post(path, json!({ field: page }))?);
        sent += page.len();
        progress(kind, sent, records.len());
    }
    Ok(total)
}

fn compare(kind: Kind, tally: &mut Tally, source: &[Value], dest: &[Value]) {
    let there: HashMap<String, [u8; 32]> = dest.iter().map(|r| (kind.id(r), kind.digest(r))).collect();
    for record in source {
        let id = kind.id(record);
        match there.get(&id) {
            Some(d) if *d == kind.digest(record) => tally.equal += 1,
            _ => tally.differing.push(id),
        }
    }
}

/// The tallies, and what the user should read beside them (records not written and why, a KV
/// listing that may be incomplete).
pub struct Outcome {
    pub tallies: Vec<Tally>,
    pub notes: Vec<String>,
}

/// The account's settings and profile: the settings when newer; the profile's names, username
/// and avatar image where the destination has none (a profile has no version: one held there
/// is never overwritten, the verification reports a different one). What the destination
/// refuses (a username another account holds there, a field or image beyond its limits) is a
/// note.
fn account(source: &Server, dest: &Server, records: &[Value], notes: &mut Vec<String>) -> Result<u64, String> {
    let [settings, profile] = records else { return Err("the account's records are not settings and profile".into()) };
    let body = json!({"settings": settings["settings"], "settingsVersion": settings["settingsVersion"]});
    let mut total = written(&dest.post("/v1/import/settings", body)?);
    let body: serde_json::Map<String, Value> =
        PROFILE_FIELDS.iter().map(|f| (f.to_string(), profile[*f].clone())).collect();
    let refused = |e: String, notes: &mut Vec<String>, what: &str| {
        if !e.contains(" answered 4") {
            return Err(e);
        }
        notes.push(format!("{what} not written: {e}"));
        Ok(())
    };
    match dest.post("/v1/import/profile", Value::Object(body)) {
        Ok(answer) => total += written(&answer),
        Err(e) => refused(e, notes, "profile")?,
    }
    if profile["avatar"].is_string() && records::account(dest)?[1]["avatar"].is_null() {
        if let Some((image, content_type)) = records::avatar(source)? {
            match dest.post_file("/v1/uploads/avatar", &content_type, &image) {
                Ok(_) => total += 1,
                Err(e) => refused(e, notes, "avatar")?,
            }
        }
    }
    Ok(total)
}

pub fn run(source: &Server, dest: &Server) -> Result<Outcome, String> {
    let (mut tallies, mut notes) = (Vec::new(), Vec::new());
    let (kv, kv_warning) = records::kv(source)?;
    notes.extend(kv_warning);
    let sessions = records::sessions(source)?;
    let machines = records::machines(source)?;
    let ids = |records: &[Value], kind: Kind| records.iter().map(|r| kind.id(r)).collect::<Vec<_>>();
    let (session_ids, machine_ids) = (ids(&sessions, Kind::Session), ids(&machines, Kind::Machine));
    for (kind, records, path, field) in [
        (Kind::Session, sessions.clone(), "/v1/import/sessions", "sessions"),
        (Kind::Machine, machines, "/v1/import/machines", "machines"),
        (Kind::Artifact, records::artifacts(source)?, "/v1/import/artifacts", "artifacts"),
        (Kind::AccessKey, records::access_keys(source, &session_ids, &machine_ids)?, "/v1/import/access-keys", "keys"),
        (Kind::Kv, kv, "/v1/import/kv", "items"),
    ] {
        let mut tally = Tally::new(kind);
        tally.source = records.len();
        tally.written = send(dest, path, field, kind, &records)?;
        tallies.push((tally, records));
    }
    let records = records::account(source)?;
    let mut tally = Tally::new(Kind::Account);
    tally.source = records.len();
    tally.written = account(source, dest, &records, &mut notes)?;
    tallies.push((tally, records));

    // Messages: per session, only those after the destination's seq.
    let there: HashMap<String, i64> =
        records::sessions(dest)?.iter().map(|s| (Kind::Session.id(s), s["seq"].as_i64().unwrap_or(0))).collect();
    let mut messages = Tally::new(Kind::Message);
    let to_copy: usize = sessions
        .iter()
        .map(|s| {
            (s["seq"].as_i64().unwrap_or(0) - there.get(&Kind::Session.id(s)).copied().unwrap_or(0)).max(0) as usize
        })
        .sum();
    let mut copied = 0;
    progress(Kind::Message, 0, to_copy);
    for session in &sessions {
        let id = Kind::Session.id(session);
        let after = there.get(&id).copied().unwrap_or(0);
        let path = format!("/v1/import/sessions/{id}/messages");
        let outcome = records::message_pages(source, &id, after, |page| {
            for part in pages(&page) {
                messages.written += written(&dest.post(&path, json!({ "messages": part }))?);
            }
            copied += page.len();
            progress(Kind::Message, copied.min(to_copy), to_copy.max(copied));
            Ok(())
        });
        // A session the destination refused (another account's id): reported by the
        // verification, the rest goes on.
        if let Err(e) = outcome {
            if !e.contains("answered 404") {
                return Err(e);
            }
        }
    }
    if copied < to_copy {
        progress(Kind::Message, to_copy, to_copy);
    }

    // Verification: every record read again on both sides.
    let dest_records = [
        records::sessions(dest)?,
        records::machines(dest)?,
        records::artifacts(dest)?,
        records::access_keys(dest, &session_ids, &machine_ids)?,
        records::kv(dest)?.0,
        records::account(dest)?,
    ];
    let mut out = Vec::new();
    for ((mut tally, records), there) in tallies.into_iter().zip(dest_records) {
        compare(tally.kind, &mut tally, &records, &there);
        out.push(tally);
    }
    for session in &sessions {
        let id = Kind::Session.id(session);
        let from = records::all_messages(source, &id)?;
        // A session the destination does not hold answers 404: its messages count as differing.
        let to = records::all_messages(dest, &id).unwrap_or_default();
        messages.source += from.len();
        compare(Kind::Message, &mut messages, &from, &to);
    }
    out.insert(1, messages);
    Ok(Outcome { tallies: out, notes })
}
