//! `UserHub`: one Durable Object per account, holding its hibernating WebSockets.

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct UserHub {
    #[allow(dead_code)]
    state: State,
    #[allow(dead_code)]
    env: Env,
}

impl DurableObject for UserHub {
    fn new(state: State, env: Env) -> Self {
        UserHub { state, env }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("Not found", 404)
    }
}
