//! Realtime: the per-user Durable Object and the protocol modules it is a thin shell over.
pub mod hub;

use worker::{Env, Method, Request, RequestInit};

use crate::events::Outbox;

/// The Durable Object of one account.
pub fn hub_stub(env: &Env, user_id: &str) -> worker::Result<worker::Stub> {
    env.durable_object("USER_HUB")?.id_from_name(user_id)?.get_stub()
}

/// Hands committed events to the user's Durable Object without delaying the response. Delivery
/// is best effort: the write has already succeeded.
pub fn publish(env: &Env, wctx: &worker::Context, user_id: &str, outbox: Outbox) {
    if outbox.is_empty() {
        return;
    }
    let env = env.clone();
    let user_id = user_id.to_string();
    wctx.wait_until(async move {
        if let Err(e) = send(&env, &user_id, &outbox).await {
            worker::console_error!("publish to {user_id} failed: {e}");
        }
    });
}

async fn send(env: &Env, user_id: &str, outbox: &Outbox) -> worker::Result<()> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(serde_json::to_string(outbox)?.into()));
    let req = Request::new_with_init("https://hub/publish", &init)?;
    hub_stub(env, user_id)?.fetch_with_request(req).await?;
    Ok(())
}
