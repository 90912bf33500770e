//! Session messages: the one per-session message seq shared by v1 POST, v3 POST and the socket
//! `message` event, and the paged reads.
//!
//! Seqs are gap-free and never duplicated under concurrent writers: a batch inserts its new
//! messages numbered from the session's counter (`sessions.seq`) and moves the counter in the
//! same D1 transaction; no value is read outside it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::args;
use crate::config::now_ms;
use crate::crypto::util::uuid_v7;
use crate::db::{first_row, rows, Db, SeqRow, Statement};
use crate::domain::paging::SeqWindow;
use crate::error::{ApiError, ApiResult};
use crate::events::{self, sessions as ev, Outbox};

/// A message to store: its ciphertext (`c` of `{t:'encrypted', c}`) and optional localId.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub local_id: Option<String>,
    pub ciphertext: String,
}

/// A stored message; `created` tells whether this call stored it (false: its localId was
/// already stored, and it is returned as it was).
#[derive(Debug, Clone, Deserialize)]
pub struct StoredMessage {
    pub id: String,
    pub seq: i64,
    pub local_id: Option<String>,
    /// The ciphertext.
    pub content: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub created: bool,
}

/// Keeps the first message of each localId (a batch that repeats one stores it once).
fn dedupe(messages: Vec<NewMessage>) -> Vec<NewMessage> {
    let mut seen = HashSet::new();
    messages.into_iter().filter(|m| m.local_id.as_ref().is_none_or(|l| seen.insert(l.clone()))).collect()
}

#[derive(Deserialize)]
struct OwnedRow {
    owned: i64,
}

/// Reads the `SELECT EXISTS (...) AS owned` statement of a batch.
fn owned(result: &worker::D1Result) -> ApiResult<bool> {
    Ok(first_row::<OwnedRow>(result)?.is_some_and(|r| r.owned != 0))
}

/// Stores `messages` in session `session_id` of `user_id`, in order, with the next message
/// seqs. Idempotent by localId: a localId already stored (or repeated in the batch) is
/// returned as stored, gets no new seq and emits nothing. Returns every message of the input
/// (created or existing) in seq order, and one `new-message` update per created message to
/// *session* recipients (sender included: the socket `message` handler sets `skip` on them).
/// `Err(404 Session not found)` when the session is not a live one of the user.
///
/// One D1 batch, [`create_batch`].
pub async fn create_messages(
    db: &Db,
    user_id: &str,
    session_id: &str,
    messages: Vec<NewMessage>,
) -> ApiResult<(Vec<StoredMessage>, Outbox)> {
    let now = now_ms();
    let messages = dedupe(messages);
    let ids: Vec<String> = messages.iter().map(|_| uuid_v7(now)).collect();
    let batch = create_batch(session_id, user_id, &input_rows(&messages, &ids), now);
    let results = db.batch(batch.iter().map(|s| db.stmt(&s.sql, &s.args)).collect::<ApiResult<_>>()?).await?;
    if !owned(&results[0])? {
        return Err(ApiError::not_found("Session not found"));
    }
    let mut stored: Vec<StoredMessage> = rows(&results[4])?;
    let ids: HashSet<&str> = ids.iter().map(String::as_str).collect();
    for m in &mut stored {
        m.created = ids.contains(m.id.as_str());
    }
    let created = stored.iter().filter(|m| m.created).count() as i64;
    let mut outbox = Outbox::default();
    if created > 0 {
        let last = first_row::<SeqRow>(&results[3])?.ok_or_else(|| ApiError::internal("account seq missing"))?.seq;
        for (seq, m) in (last - created + 1..).zip(stored.iter().filter(|m| m.created)) {
            outbox = outbox.update(seq, ev::new_message(session_id, m.into()), events::session(session_id));
        }
    }
    Ok((stored, outbox))
}

/// The JSON array [`create_batch`] reads its rows from: each message's new id, localId and
/// ciphertext, in input order.
pub fn input_rows(messages: &[NewMessage], ids: &[String]) -> String {
    #[derive(Serialize)]
    struct Row<'a> {
        i: &'a str,
        l: &'a Option<String>,
        c: &'a str,
    }
    let rows: Vec<Row> =
        messages.iter().zip(ids).map(|(m, id)| Row { i: id, l: &m.local_id, c: &m.ciphertext }).collect();
    // Cannot fail: strings only.
    serde_json::to_string(&rows).expect("message rows serialize")
}

/// [`create_messages`]' batch over `input` ([`input_rows`]), built apart from D1 so that it can
/// be read, tested and replayed as is (bench/: a floor runs the same statements): ownership,
/// numbered insert, counter move, account seq range, read back.
pub fn create_batch(session_id: &str, user_id: &str, input: &str, now: i64) -> Vec<Statement> {
    let live = "EXISTS (SELECT 1 FROM sessions WHERE id = ?1 AND account_id = ?2 AND deleted_at IS NULL)";
    let new_ids = "SELECT json_extract(value, '$.i') FROM json_each(?3)";
    // The batch's own rows are found by id. Compared with `+`, the session is only a filter:
    // SQLite would otherwise walk the whole session through its (session_id, seq) index to
    // find ten ids, and a post to a long session would read all its messages (D1 bills each
    // row read, and the Free plan allows 5 million a day).
    let this_session = "+session_id = ?1";
    let keys = || args![session_id, user_id, input].to_vec();
    let stamped = || args![session_id, user_id, input, now].to_vec();
    vec![
        Statement { sql: format!("SELECT {live} AS owned"), args: args![session_id, user_id].to_vec() },
        // Numbered from the counter, in input order, skipping stored localIds (a NULL localId
        // never matches, so it always inserts).
        Statement {
            sql: "INSERT INTO session_messages (id, session_id, seq, local_id, content, created_at, updated_at)
                 SELECT json_extract(j.value, '$.i'), s.id, s.seq + row_number() OVER (ORDER BY j.key),
                        json_extract(j.value, '$.l'), json_extract(j.value, '$.c'), ?4, ?4
                 FROM sessions s JOIN json_each(?3) j
                 WHERE s.id = ?1 AND s.account_id = ?2 AND s.deleted_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM session_messages m
                                   WHERE m.session_id = s.id AND m.local_id = json_extract(j.value, '$.l'))"
                .to_string(),
            args: stamped(),
        },
        Statement {
            sql: format!(
                "UPDATE sessions SET seq = seq + (SELECT count(*) FROM session_messages WHERE {this_session} AND id IN ({new_ids})),
                 updated_at = ?4
                 WHERE id = ?1 AND account_id = ?2 AND deleted_at IS NULL
                   AND EXISTS (SELECT 1 FROM session_messages WHERE {this_session} AND id IN ({new_ids}))"
            ),
            args: stamped(),
        },
        // One account update seq per created message: the range ends at the returned seq.
        Statement {
            sql: format!(
                "UPDATE accounts SET seq = seq + (SELECT count(*) FROM session_messages WHERE {this_session} AND id IN ({new_ids}))
                 WHERE id = ?2 RETURNING seq"
            ),
            args: keys(),
        },
        Statement {
            sql: format!(
                "SELECT id, seq, local_id, content, created_at, updated_at FROM session_messages
                 WHERE {this_session} AND {live}
                   AND id IN ({new_ids} UNION SELECT id FROM session_messages
                              WHERE session_id = ?1 AND local_id IN (SELECT json_extract(value, '$.l') FROM json_each(?3)))
                 ORDER BY seq"
            ),
            args: keys(),
        },
    ]
}

/// The wire message (`wire::sessions::Message`) built by SQLite.
const MESSAGE_JSON: &str = "json_object('id', id, 'seq', seq, 'content', json_object('t', 'encrypted', 'c', content),
    'localId', local_id, 'createdAt', created_at, 'updatedAt', updated_at)";

#[derive(Deserialize)]
struct PageRow {
    owned: i64,
    body: String,
}

/// A page of a session's messages as the JSON body `{"messages":[...],"hasMore":bool}`
/// (`wire::sessions::MessagePage`, byte for byte: the tests below run this SQL in SQLite);
/// `None` when the session is not a live one of the user. One statement: the ownership check,
/// one row more than `limit` to learn whether more lie beyond, and the body built by SQLite, so
/// the rows never cross into Rust values (the subquery's order is the array's order, as for
/// the session list).
pub async fn list_messages_json(
    db: &Db,
    user_id: &str,
    session_id: &str,
    window: SeqWindow,
    limit: u32,
) -> ApiResult<Option<String>> {
    let (sql, bound) = page_sql(window);
    let row: Option<PageRow> = db.first(&sql, args![session_id, user_id, bound, limit]).await?;
    Ok(row.filter(|r| r.owned != 0).map(|r| r.body))
}

/// [`list_messages_json`]'s statement (`?1` session, `?2` account, `?3` the bound, `?4` limit)
/// and its bound.
fn page_sql(window: SeqWindow) -> (String, i64) {
    let (cmp, order, bound) = match window {
        SeqWindow::After(n) => (">", "ASC", n),
        SeqWindow::Before(n) => ("<", "DESC", n),
    };
    let live = "EXISTS (SELECT 1 FROM sessions WHERE id = ?1 AND account_id = ?2 AND deleted_at IS NULL)";
    let sql = format!(
        "SELECT {live} AS owned,
                '{{\"messages\":' || coalesce(json_group_array(json(m)) FILTER (WHERE rn <= ?4), '[]')
                || ',\"hasMore\":' || CASE WHEN count(*) > ?4 THEN 'true' ELSE 'false' END || '}}' AS body
         FROM (SELECT {MESSAGE_JSON} AS m, row_number() OVER (ORDER BY seq {order}) AS rn
               FROM session_messages WHERE session_id = ?1 AND seq {cmp} ?3 AND {live}
               ORDER BY seq {order} LIMIT ?4 + 1)"
    );
    (sql, bound)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::app::schema::{conforms, response_schema};
    use crate::db::in_sqlite;
    use crate::db::sessions::tests::{insert, row};
    use crate::wire::sessions::MessagePage;

    fn msg(local_id: Option<&str>, c: &str) -> NewMessage {
        NewMessage { local_id: local_id.map(str::to_string), ciphertext: c.to_string() }
    }

    #[test]
    fn the_batch_finds_its_rows_by_key_not_by_walking_the_session() {
        let messages = [msg(Some("a"), "c1"), msg(None, "c2")];
        let input = input_rows(&messages, &["m1".into(), "m2".into()]);
        for (i, plan) in in_sqlite::run("", &create_batch("s1", "u1", &input, 9), true).iter().enumerate() {
            for step in in_sqlite::steps(plan) {
                // A search keyed by the session alone, or a scan, reads every message of the
                // session: a cost that grows with it, on every post.
                let walks =
                    step.contains("session_messages") && (step.starts_with("SCAN") || step.ends_with("(session_id=?)"));
                assert!(!walks, "statement {i}: {step}");
            }
        }
    }

    #[test]
    fn the_batch_numbers_new_messages_after_the_counter_and_keeps_a_stored_local_id() {
        let mut session = row("s1", 2);
        session.seq = 1;
        let inserts = format!(
            "INSERT INTO accounts (id, public_key, seq, created_at, updated_at) VALUES ('u1', 'k1', 5, 1, 1), ('u2', 'k2', 0, 1, 1);\n{}\n\
             INSERT INTO session_messages (id, session_id, seq, local_id, content, created_at, updated_at)
             VALUES ('old', 's1', 1, 'x', 'c0', 1, 1);",
            insert(&session, "u1", false)
        );
        let messages = [msg(Some("x"), "again"), msg(Some("a"), "c1"), msg(None, "c2")];
        let ids = ["m1", "m2", "m3"].map(String::from);
        let input = input_rows(&messages, &ids);
        let run = in_sqlite::run(&inserts, &create_batch("s1", "u1", &input, 9), false);
        assert_eq!(run[0], vec![vec![json!(1)]], "owned");
        // Two created: the account's seq range ends at 5 + 2.
        assert_eq!(run[3], vec![vec![json!(7)]]);
        let stored: Vec<(Value, Value, Value)> =
            run[4].iter().map(|r| (r[0].clone(), r[1].clone(), r[3].clone())).collect();
        assert_eq!(
            stored,
            vec![
                (json!("old"), json!(1), json!("c0")),
                (json!("m2"), json!(2), json!("c1")),
                (json!("m3"), json!(3), json!("c2"))
            ]
        );
        // Another account's batch on the same session: not owned, nothing stored or counted.
        let theirs = in_sqlite::run(&inserts, &create_batch("s1", "u2", &input, 9), false);
        assert_eq!(theirs[0], vec![vec![json!(0)]]);
        assert_eq!(theirs[3], vec![vec![json!(0)]]);
        assert!(theirs[4].is_empty());
    }

    #[test]
    fn dedupe_keeps_the_first_of_each_local_id_and_every_anonymous_message() {
        let out =
            dedupe(vec![msg(Some("a"), "1"), msg(None, "2"), msg(Some("a"), "3"), msg(None, "4"), msg(Some("b"), "5")]);
        let cs: Vec<&str> = out.iter().map(|m| m.ciphertext.as_str()).collect();
        assert_eq!(cs, ["1", "2", "4", "5"]);
    }

    fn stored(seq: i64, local_id: Option<&str>) -> StoredMessage {
        StoredMessage {
            id: format!("m{seq}"),
            seq,
            local_id: local_id.map(Into::into),
            content: format!("Y2lw\"\\é{seq}"),
            created_at: 1_700_000_000_000 + seq,
            updated_at: 1_700_000_000_100 + seq,
            created: false,
        }
    }

    fn insert_message(m: &StoredMessage) -> String {
        let local_id = m.local_id.as_ref().map_or("NULL".into(), |l| format!("'{l}'"));
        format!(
            "INSERT INTO session_messages (id, session_id, seq, local_id, content, created_at, updated_at)
             VALUES ('{}', 's1', {}, {local_id}, '{}', {}, {});",
            m.id, m.seq, m.content, m.created_at, m.updated_at
        )
    }

    /// The message pages' SQL-built bodies are byte for byte `wire::sessions::MessagePage`.
    #[test]
    fn page_sql_builds_the_wire_message_page() {
        let messages = [stored(1, Some("l1")), stored(2, None), stored(3, Some("l3"))];
        let inserts = insert(&row("s1", 1), "a", false) + &messages.iter().map(insert_message).collect::<String>();
        let page = |window, account: &str, limit: u32| {
            let (sql, bound) = page_sql(window);
            in_sqlite::first_row(&inserts, &sql, args!["s1", account, bound, limit])
        };
        let body = |picked: &[&StoredMessage], has_more: bool| {
            let typed = MessagePage { messages: picked.iter().map(|m| (*m).into()).collect(), has_more };
            json!(serde_json::to_string(&typed).unwrap())
        };
        let [m1, m2, m3] = &messages;
        assert_eq!(page(SeqWindow::After(0), "a", 2), [json!(1), body(&[m1, m2], true)]);
        assert_eq!(page(SeqWindow::After(1), "a", 2), [json!(1), body(&[m2, m3], false)]);
        assert_eq!(page(SeqWindow::Before(3), "a", 5), [json!(1), body(&[m2, m1], false)]);
        assert_eq!(page(SeqWindow::After(3), "a", 5), [json!(1), body(&[], false)]);
        assert_eq!(page(SeqWindow::After(0), "b", 5)[0], json!(0), "another account's session");

        let full = page(SeqWindow::After(0), "a", 5);
        let parsed: serde_json::Value = serde_json::from_str(full[1].as_str().unwrap()).unwrap();
        conforms(&response_schema::<MessagePage>(), &parsed).unwrap();
    }
}
