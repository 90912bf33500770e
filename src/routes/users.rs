//! Other users and the friend graph: search and profiles (seed paths `/v1/users/...` and the
//! stock app's `/v1/user/...`), friend requests, the friends list. Relationship changes update both
//! directions in one transaction and notify both users.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1PreparedStatement, Method, Response};

use super::account::json_column;
use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::*;
use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::db::{bump_account_seq, first_row, guard, Db, SeqRow};
use crate::domain::feed_cursor::{self, CursorStyle};
use crate::domain::limit;
use crate::domain::social::{self, Feed, Status};
use crate::error::{ApiError, ApiResult};
use crate::events::social::{new_feed_post, relationship_updated};
use crate::events::{Outbox, Recipients};
use crate::realtime::publish;
use crate::{args, h};

const MAX_QUERY_CHARS: usize = 64;
const MAX_ID_CHARS: usize = 128;

pub const ROUTES: &[Route] = &[
    // The search paths come before `/:id` so "search" is never taken for an id.
    route(Method::Get, "/v1/users/search", Access::User, h!(search))
        .doc("users", "Users whose username starts with `query` (case-insensitive)")
        .returns(users_schema),
    route(Method::Get, "/v1/user/search", Access::User, h!(search))
        .doc("users", "Alias of /v1/users/search (stock app path)")
        .returns(users_schema),
    route(Method::Get, "/v1/users/:id", Access::User, h!(get_user))
        .doc("users", "A user's profile with the caller's relationship status")
        .returns(user_schema),
    route(Method::Get, "/v1/user/:id", Access::User, h!(get_user))
        .doc("users", "Alias of /v1/users/:id (stock app path)")
        .returns(user_schema),
    route(Method::Post, "/v1/friends/add", Access::User, h!(add_friend))
        .doc("friends", "Send a friend request, or accept the other user's")
        .body(uid_schema)
        .returns(friend_result),
    route(Method::Post, "/v1/friends/remove", Access::User, h!(remove_friend))
        .doc("friends", "Cancel a request, decline one, or unfriend")
        .body(uid_schema)
        .returns(friend_result),
    route(Method::Get, "/v1/friends", Access::User, h!(list_friends))
        .doc("friends", "Friends and open requests either way")
        .returns(friends_schema),
];

fn profile_schema() -> Value {
    object(&[
        ("id", string()),
        ("firstName", string()),
        ("lastName", nullable(string())),
        ("avatar", nullable(any())),
        ("username", string()),
        ("bio", nullable(string())),
        ("status", enumeration(&["none", "requested", "pending", "friend", "rejected"])),
    ])
}
fn users_schema() -> Value {
    object(&[("users", array(profile_schema()))])
}
fn user_schema() -> Value {
    object(&[("user", profile_schema())])
}
fn uid_schema() -> Value {
    object(&[("uid", string())])
}
fn friend_result() -> Value {
    object(&[("user", nullable(profile_schema()))])
}
fn friends_schema() -> Value {
    object(&[("friends", array(profile_schema()))])
}

/// An account as others see it, with `status` = how the viewer sees it.
#[derive(Deserialize, Clone)]
struct UserRow {
    id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
    avatar: Option<String>,
    github_profile: Option<String>,
    status: String,
}

impl UserRow {
    /// UserProfile as the app validates it: `avatar` and `bio` always present.
    fn profile(&self, status: Status) -> Value {
        let github = json_column(self.github_profile.as_deref());
        let username =
            self.username.clone().or_else(|| github["login"].as_str().map(str::to_string)).unwrap_or_default();
        json!({
            "id": self.id,
            "firstName": self.first_name.clone().unwrap_or_default(),
            "lastName": self.last_name,
            "avatar": json_column(self.avatar.as_deref()),
            "username": username,
            "bio": github["bio"].as_str(),
            "status": status.as_str(),
        })
    }
    fn viewed(&self) -> Value {
        self.profile(Status::parse(&self.status))
    }
}

/// Accounts `a` joined with how the viewer `?1` sees them.
const USER_SELECT: &str = "SELECT a.id, a.first_name, a.last_name, a.username, a.avatar, a.github_profile,
       COALESCE(r.status, 'none') AS status
     FROM accounts a LEFT JOIN relationships r ON r.from_user_id = ?1 AND r.to_user_id = a.id";

async fn search(ctx: Ctx) -> ApiResult<Response> {
    let query = ctx.query("query").unwrap_or_default();
    limit::text("query", &query, MAX_QUERY_CHARS)?;
    let limit = limit::bounded("limit", ctx.query("limit"), 10, 1, 50)?;
    let rows: Vec<UserRow> = ctx
        .db()?
        .all(
            // A case-insensitive prefix match (ASCII folding, as LIKE's) without LIKE: D1 refuses
            // patterns over 50 bytes, and an escaped 64-character query is longer.
            &format!(
                "{USER_SELECT} WHERE lower(substr(a.username, 1, length(?2))) = lower(?2) ORDER BY a.username LIMIT ?3"
            ),
            args![ctx.user_id()?, query, limit],
        )
        .await?;
    json(&json!({"users": rows.iter().map(UserRow::viewed).collect::<Vec<_>>()}))
}

async fn get_user(ctx: Ctx) -> ApiResult<Response> {
    let row: UserRow = ctx
        .db()?
        .first(&format!("{USER_SELECT} WHERE a.id = ?2"), args![ctx.user_id()?, ctx.param("id")])
        .await?
        .ok_or_else(|| ApiError::not_found("User not found"))?;
    json(&json!({"user": row.viewed()}))
}

async fn list_friends(ctx: Ctx) -> ApiResult<Response> {
    let rows: Vec<UserRow> = ctx
        .db()?
        .all(
            &format!("{USER_SELECT} WHERE r.status IN ('friend', 'pending', 'requested') ORDER BY r.updated_at DESC"),
            args![ctx.user_id()?],
        )
        .await?;
    json(&json!({"friends": rows.iter().map(UserRow::viewed).collect::<Vec<_>>()}))
}

#[derive(Deserialize)]
struct UidBody {
    uid: String,
}

async fn add_friend(ctx: Ctx) -> ApiResult<Response> {
    change_relationship(ctx, social::add).await
}

async fn remove_friend(ctx: Ctx) -> ApiResult<Response> {
    change_relationship(ctx, social::remove).await
}

/// Both directions as read, with the notification clocks.
struct Pair {
    me: UserRow,
    other: UserRow,
    a_to_b: Status,
    b_to_a: Status,
    a_notified: Option<i64>,
    b_notified: Option<i64>,
}

async fn read_pair(db: &Db, me: &str, other: &str) -> ApiResult<Option<Pair>> {
    #[derive(Deserialize)]
    struct Rel {
        from_user_id: String,
        status: String,
        last_notified_at: Option<i64>,
    }
    let results = db
        .batch(vec![
            db.stmt(&format!("{USER_SELECT} WHERE a.id = ?2"), args![other, me])?,
            db.stmt(&format!("{USER_SELECT} WHERE a.id = ?2"), args![me, other])?,
            db.stmt(
                "SELECT from_user_id, status, last_notified_at FROM relationships
                 WHERE (from_user_id = ?1 AND to_user_id = ?2) OR (from_user_id = ?2 AND to_user_id = ?1)",
                args![me, other],
            )?,
        ])
        .await?;
    let (Some(me_row), Some(other_row)) = (first_row::<UserRow>(&results[0])?, first_row::<UserRow>(&results[1])?)
    else {
        return Ok(None);
    };
    let rels: Vec<Rel> = crate::db::rows(&results[2])?;
    let side = |from: &str| rels.iter().find(|r| r.from_user_id == from);
    Ok(Some(Pair {
        a_to_b: side(me).map(|r| Status::parse(&r.status)).unwrap_or(Status::None),
        b_to_a: side(other).map(|r| Status::parse(&r.status)).unwrap_or(Status::None),
        a_notified: side(me).and_then(|r| r.last_notified_at),
        b_notified: side(other).and_then(|r| r.last_notified_at),
        me: me_row,
        other: other_row,
    }))
}

/// A feed post written in the batch: `(recipient, body, repeat key, id, index of its feed
/// counter statement, index of its seq statement)`.
struct PlannedPost {
    to: String,
    body: Value,
    repeat_key: String,
    id: String,
    counter_at: usize,
    seq_at: usize,
}

/// Appends the statements of one feed post: drop the older post with the same repeat key,
/// allocate the recipient's next feed counter, insert, and allocate an update seq.
fn plan_post(
    db: &Db,
    stmts: &mut Vec<D1PreparedStatement>,
    to: &str,
    kind: &str,
    about: &str,
    now: i64,
) -> ApiResult<PlannedPost> {
    let body = json!({"kind": kind, "uid": about});
    let repeat_key = format!("{kind}_{about}");
    let id = uuid_v4();
    stmts.push(db.stmt("DELETE FROM feed_items WHERE account_id = ?1 AND repeat_key = ?2", args![to, &repeat_key])?);
    let counter_at = stmts.len();
    stmts.push(db.stmt("UPDATE accounts SET feed_seq = feed_seq + 1 WHERE id = ?1 RETURNING feed_seq", args![to])?);
    stmts.push(db.stmt(
        "INSERT INTO feed_items (id, account_id, counter, repeat_key, body, created_at)
         VALUES (?1, ?2, (SELECT feed_seq FROM accounts WHERE id = ?2), ?3, ?4, ?5)",
        args![&id, to, &repeat_key, body.to_string(), now],
    )?);
    let seq_at = stmts.len();
    stmts.push(bump_account_seq(db, to)?);
    Ok(PlannedPost { to: to.to_string(), body, repeat_key, id, counter_at, seq_at })
}

fn upsert_relationship(
    db: &Db,
    from: &str,
    to: &str,
    status: Status,
    notified: bool,
    now: i64,
) -> ApiResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO relationships (from_user_id, to_user_id, status, last_notified_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, CASE WHEN ?4 THEN ?5 END, ?5, ?5)
         ON CONFLICT (from_user_id, to_user_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at,
           last_notified_at = CASE WHEN ?4 THEN ?5 ELSE last_notified_at END",
        args![from, to, status.as_str(), notified, now],
    )
}

/// A concurrent change to the same pair makes the guard fail; re-read and retry this often.
const ATTEMPTS: usize = 3;

async fn change_relationship(
    mut ctx: Ctx,
    transition: fn(Status, Status) -> social::Transition,
) -> ApiResult<Response> {
    let body: UidBody = ctx.json().await?;
    let other = limit::text("uid", &body.uid, MAX_ID_CHARS)?.to_string();
    let me = ctx.user_id()?.to_string();
    if other == me {
        return json(&json!({"user": null}));
    }
    let db = ctx.db()?;
    for _ in 0..ATTEMPTS {
        let Some(pair) = read_pair(&db, &me, &other).await? else {
            return json(&json!({"user": null}));
        };
        let before = (pair.a_to_b, pair.b_to_a);
        let t = transition(pair.a_to_b, pair.b_to_a);
        if !t.changes(before) {
            return json(&json!({"user": pair.other.profile(pair.a_to_b)}));
        }
        let now = now_ms();
        let notify_b = match t.feed {
            Feed::Nothing => false,
            _ => social::should_notify(pair.b_notified, t.b_to_a, now),
        };
        let notify_a = t.feed == Feed::AcceptedToBoth && social::should_notify(pair.a_notified, t.a_to_b, now);

        // Guard first: the pair must still be as read, or nothing below applies.
        let mut stmts = vec![guard(
            &db,
            "COALESCE((SELECT status FROM relationships WHERE from_user_id = ?1 AND to_user_id = ?2), 'none') = ?3
             AND COALESCE((SELECT status FROM relationships WHERE from_user_id = ?2 AND to_user_id = ?1), 'none') = ?4",
            args![&me, &other, pair.a_to_b.as_str(), pair.b_to_a.as_str()],
        )?];
        stmts.push(upsert_relationship(&db, &me, &other, t.a_to_b, notify_a, now)?);
        stmts.push(upsert_relationship(&db, &other, &me, t.b_to_a, notify_b, now)?);
        let seq_me_at = stmts.len();
        stmts.push(bump_account_seq(&db, &me)?);
        let seq_other_at = stmts.len();
        stmts.push(bump_account_seq(&db, &other)?);
        let mut posts = Vec::new();
        let kind = if t.feed == Feed::RequestToB { "friend_request" } else { "friend_accepted" };
        if notify_b {
            posts.push(plan_post(&db, &mut stmts, &other, kind, &me, now)?);
        }
        if notify_a {
            posts.push(plan_post(&db, &mut stmts, &me, kind, &other, now)?);
        }
        let Some(results) = db.batch_guarded(stmts).await? else { continue };

        let seq_at = |i: usize| -> ApiResult<i64> {
            first_row::<SeqRow>(&results[i])?
                .map(|r| r.seq)
                .ok_or_else(|| ApiError::internal("seq bump returned nothing"))
        };
        // The actor as the other user now sees them, and the other user as the actor sees them.
        let from_user = pair.me.profile(t.b_to_a);
        let to_user = pair.other.profile(t.a_to_b);
        let event = |status: Status, before: Status| {
            relationship_updated(
                &me,
                &other,
                status.as_str(),
                social::action(before, status),
                &from_user,
                &to_user,
                now,
            )
        };
        let mut out_me = Outbox::default().update(seq_at(seq_me_at)?, event(t.a_to_b, pair.a_to_b), Recipients::User);
        let mut out_other =
            Outbox::default().update(seq_at(seq_other_at)?, event(t.b_to_a, pair.b_to_a), Recipients::User);
        for p in posts {
            #[derive(Deserialize)]
            struct Counter {
                feed_seq: i64,
            }
            let counter = first_row::<Counter>(&results[p.counter_at])?
                .ok_or_else(|| ApiError::internal("feed counter returned nothing"))?;
            // Events go to the stock app's sockets: its cursor form (docs/compatibility.md C6).
            let cursor = feed_cursor::format(CursorStyle::Stock, counter.feed_seq);
            let body = new_feed_post(&p.id, &p.body, &cursor, Some(&p.repeat_key), now);
            let target = if p.to == me { &mut out_me } else { &mut out_other };
            *target = std::mem::take(target).update(seq_at(p.seq_at)?, body, Recipients::User);
        }
        publish(&ctx.env, &ctx.wctx, &me, out_me);
        publish(&ctx.env, &ctx.wctx, &other, out_other);
        return json(&json!({"user": to_user}));
    }
    Err(ApiError::conflict("Relationship changed concurrently, please retry"))
}
