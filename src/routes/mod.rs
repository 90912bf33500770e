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

/// The route table, in dispatch order: plain data, so an isolate builds nothing before its
/// first request.
const TABLES: &[&[Route]] = &[
    system::ROUTES,
    auth::ROUTES,
    import::ROUTES,
    plans::ROUTES,
    devices::ROUTES,
    connect_tokens::ROUTES,
    sessions::ROUTES,
    attachments::ROUTES,
    machines::ROUTES,
    websocket::ROUTES,
    artifacts::ROUTES,
    account::ROUTES,
    users::ROUTES,
    feed::ROUTES,
    kv::ROUTES,
    push::ROUTES,
    utility::ROUTES,
    usage::ROUTES,
    uploads::ROUTES,
    connect::ROUTES,
    voice::ROUTES,
];

/// Every route, in dispatch order.
pub fn all() -> impl Iterator<Item = &'static Route> {
    TABLES.iter().flat_map(|table| table.iter())
}
