//! Other users and the friend graph: search and profiles (seed paths `/v1/users/...` and the
//! stock app's `/v1/user/...`), friend requests, the friends list. Relationship changes update both
//! directions in one transaction and notify both users.

use serde_json::Value;
use worker::{Method, Response};

use crate::app::ctx::Ctx;
use crate::app::respond::json;
use crate::app::router::{route, Access, Route};
use crate::app::schema::{request_schema, response_schema};
use crate::config::now_ms;
use crate::crypto::util::uuid_v4;
use crate::db::feed::NewPost;
use crate::db::relationships::{self, Change, Changed};
use crate::domain::feed_cursor::{self, CursorStyle};
use crate::domain::limit::Limit;
use crate::domain::social::{self, Feed, Status};
use crate::domain::text::Text;
use crate::error::{ApiError, ApiResult};
use crate::events::social::{new_feed_post, relationship_updated};
use crate::events::{Outbox, Recipients};
use crate::h;
use crate::realtime::publish;
use crate::wire::feed::FriendPost;

use crate::wire::users::{FriendChanged, FriendList, OneUser, UidBody, UserList, UserProfile};

const MAX_QUERY_CHARS: usize = 64;
const MAX_ID_CHARS: usize = 128;

pub const ROUTES: &[Route] = &[
    // The search paths come before `/:id` so "search" is never taken for an id.
    route(Method::Get, "/v1/users/search", Access::User, h!(search))
        .doc("users", "Users whose username starts with `query` (case-insensitive)")
        .returns(response_schema::<UserList>),
    route(Method::Get, "/v1/user/search", Access::User, h!(search))
        .doc("users", "Alias of /v1/users/search (stock app path)")
        .returns(response_schema::<UserList>),
    route(Method::Get, "/v1/users/:id", Access::User, h!(get_user))
        .doc("users", "A user's profile with the caller's relationship status")
        .returns(response_schema::<OneUser>),
    route(Method::Get, "/v1/user/:id", Access::User, h!(get_user))
        .doc("users", "Alias of /v1/users/:id (stock app path)")
        .returns(response_schema::<OneUser>),
    route(Method::Post, "/v1/friends/add", Access::User, h!(add_friend))
        .doc("friends", "Send a friend request, or accept the other user's")
        .body(request_schema::<UidBody>)
        .returns(response_schema::<FriendChanged>),
    route(Method::Post, "/v1/friends/remove", Access::User, h!(remove_friend))
        .doc("friends", "Cancel a request, decline one, or unfriend")
        .body(request_schema::<UidBody>)
        .returns(response_schema::<FriendChanged>),
    route(Method::Get, "/v1/friends", Access::User, h!(list_friends))
        .doc("friends", "Friends and open requests either way")
        .returns(response_schema::<FriendList>),
];

async fn search(ctx: Ctx) -> ApiResult<Response> {
    let query = ctx.query("query").unwrap_or_default();
    Text::parse("query", &query, MAX_QUERY_CHARS)?;
    let limit = i64::from(Limit::parse(ctx.query("limit").as_deref(), 10, 50)?.get());
    let rows = relationships::search(&ctx.db()?, ctx.user_id()?, &query, limit).await?;
    json(&UserList { users: rows.iter().map(UserProfile::viewed).collect() })
}

async fn get_user(ctx: Ctx) -> ApiResult<Response> {
    let row = relationships::user(&ctx.db()?, ctx.user_id()?, ctx.param("id"))
        .await?
        .ok_or_else(|| ApiError::not_found("User not found"))?;
    json(&OneUser { user: UserProfile::viewed(&row) })
}

async fn list_friends(ctx: Ctx) -> ApiResult<Response> {
    let rows = relationships::friends(&ctx.db()?, ctx.user_id()?).await?;
    json(&FriendList { friends: rows.iter().map(UserProfile::viewed).collect() })
}

async fn add_friend(ctx: Ctx) -> ApiResult<Response> {
    change_relationship(ctx, social::add).await
}

async fn remove_friend(ctx: Ctx) -> ApiResult<Response> {
    change_relationship(ctx, social::remove).await
}

/// A feed post about `about` for `to`: its id, body and repeat key.
struct PlannedPost {
    to: String,
    body: Value,
    repeat_key: String,
    id: String,
}

fn plan_post(to: &str, kind: &str, about: &str) -> PlannedPost {
    PlannedPost {
        to: to.to_string(),
        body: crate::wire::value(FriendPost { kind, uid: about }),
        repeat_key: format!("{kind}_{about}"),
        id: uuid_v4(),
    }
}

/// A concurrent change to the same pair makes the guard fail; re-read and retry this often.
const ATTEMPTS: usize = 3;

async fn change_relationship(
    mut ctx: Ctx,
    transition: fn(Status, Status) -> social::Transition,
) -> ApiResult<Response> {
    let body: UidBody = ctx.json().await?;
    let other = Text::parse("uid", &body.uid, MAX_ID_CHARS)?.as_str().to_string();
    let me = ctx.user_id()?.to_string();
    if other == me {
        return json(&FriendChanged { user: None });
    }
    let db = ctx.db()?;
    for _ in 0..ATTEMPTS {
        let Some(pair) = relationships::pair(&db, &me, &other).await? else {
            return json(&FriendChanged { user: None });
        };
        let before = (pair.a_to_b, pair.b_to_a);
        let t = transition(pair.a_to_b, pair.b_to_a);
        if !t.changes(before) {
            return json(&FriendChanged { user: Some(UserProfile::new(&pair.other, pair.a_to_b)) });
        }
        let now = now_ms();
        let notify_b = match t.feed {
            Feed::Nothing => false,
            _ => social::should_notify(pair.b_notified, t.b_to_a, now),
        };
        let notify_a = t.feed == Feed::AcceptedToBoth && social::should_notify(pair.a_notified, t.a_to_b, now);

        let mut posts = Vec::new();
        let kind = if t.feed == Feed::RequestToB { "friend_request" } else { "friend_accepted" };
        if notify_b {
            posts.push(plan_post(&other, kind, &me));
        }
        if notify_a {
            posts.push(plan_post(&me, kind, &other));
        }
        let new_posts: Vec<NewPost> =
            posts.iter().map(|p| NewPost { id: &p.id, to: &p.to, repeat_key: &p.repeat_key, body: &p.body }).collect();
        let change = Change {
            me: &me,
            other: &other,
            before,
            after: (t.a_to_b, t.b_to_a),
            notify_me: notify_a,
            notify_other: notify_b,
            posts: &new_posts,
            now,
        };
        let Changed::Applied { seq_me, seq_other, posts: posted } = relationships::change(&db, &change).await? else {
            continue;
        };

        // The actor as the other user now sees them, and the other user as the actor sees them.
        let from_user = UserProfile::new(&pair.me, t.b_to_a);
        let to_user = UserProfile::new(&pair.other, t.a_to_b);
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
        let mut out_me = Outbox::default().update(seq_me, event(t.a_to_b, pair.a_to_b), Recipients::User);
        let mut out_other = Outbox::default().update(seq_other, event(t.b_to_a, pair.b_to_a), Recipients::User);
        for (p, numbers) in posts.iter().zip(posted) {
            // Events go to the stock app's sockets: its cursor form (docs/compatibility.md C6).
            let cursor = feed_cursor::format(CursorStyle::Stock, numbers.counter);
            let body = new_feed_post(&p.id, &p.body, &cursor, Some(&p.repeat_key), now);
            let target = if p.to == me { &mut out_me } else { &mut out_other };
            *target = std::mem::take(target).update(numbers.seq, body, Recipients::User);
        }
        publish(&ctx.env, &ctx.wctx, &me, out_me);
        publish(&ctx.env, &ctx.wctx, &other, out_other);
        return json(&FriendChanged { user: Some(to_user) });
    }
    Err(ApiError::conflict("Relationship changed concurrently, please retry"))
}
