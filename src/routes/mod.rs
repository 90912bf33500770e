//! One module per API area; each exposes its slice of the route table.

pub mod auth;
pub mod machines;
pub mod sessions;
pub mod system;
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
    routes.extend(sessions::routes());
    routes.extend(machines::routes());
    routes.extend(websocket::routes());
    routes
}
