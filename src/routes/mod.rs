//! One module per API area; each exposes its slice of the route table.

pub mod account;
pub mod artifacts;
pub mod attachments;
pub mod auth;
pub mod connect;
pub mod connect_tokens;
pub mod devices;
pub mod feed;
pub mod import;
pub mod kv;
pub mod machines;
pub mod plans;
pub mod push;
pub mod sessions;
pub mod system;
pub mod uploads;
pub mod usage;
pub mod users;
pub mod utility;
pub mod voice;
pub mod websocket;

use crate::app::router::Route;

/// Wraps an async handler `fn(Ctx) -> impl Future<Output = ApiResult<Response>>` for the table.
#[macro_export]
macro_rules! h {
    ($f:path) => {
        |c| Box::pin($f(c))
    };
}

pub fn all() -> Vec<Route> {
    let mut routes = Vec::new();
    routes.extend(system::routes());
    routes.extend(auth::routes());
    routes.extend(import::routes());
    routes.extend(plans::routes());
    routes.extend(devices::routes());
    routes.extend(connect_tokens::routes());
    routes.extend(sessions::routes());
    routes.extend(attachments::routes());
    routes.extend(machines::routes());
    routes.extend(websocket::routes());
    routes.extend(artifacts::routes());
    routes.extend(account::routes());
    routes.extend(users::routes());
    routes.extend(feed::routes());
    routes.extend(kv::routes());
    routes.extend(push::routes());
    routes.extend(utility::routes());
    routes.extend(usage::routes());
    routes.extend(uploads::routes());
    routes.extend(connect::routes());
    routes.extend(voice::routes());
    routes
}
