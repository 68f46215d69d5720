//! The relations' WebSocket commands (`user.block`, `user.unblock`, `user.blocks`), routed by
//! the session. They run on [`super::Relations`] itself: no actor.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::Relations;
use crate::commands::{Answer, Caller, CommandSpec, Gate};
use crate::error::AppResult;

/// Parses the body, runs `f` with the caller's id, serialises the answer.
fn run<B, R, F, Fut>(
    relations: &Arc<Relations>,
    caller: Caller,
    data: Value,
    f: F,
) -> BoxFuture<'static, AppResult<Answer>>
where
    B: DeserializeOwned + Send + 'static,
    R: Serialize,
    F: FnOnce(Arc<Relations>, i64, B) -> Fut + Send + 'static,
    Fut: Future<Output = AppResult<R>> + Send + 'static,
{
    crate::commands::call(relations, caller, data, move |r, c: Caller, b| {
        f(r, c.user_id, b)
    })
}

const fn row(name: &'static str, run: crate::commands::Run<Relations>) -> CommandSpec<Relations> {
    // Blocking stays open to every account, restricted or muted: it protects the user.
    CommandSpec {
        name,
        gate: Gate::User,
        holds_stream: false,
        run,
    }
}

pub const COMMANDS: &[CommandSpec<Relations>] = &[
    row("user.block", |h, c, d| {
        run(
            h,
            c,
            d,
            |r, me, body| async move { r.block(me, body).await },
        )
    }),
    row("user.unblock", |h, c, d| {
        run(
            h,
            c,
            d,
            |r, me, body| async move { r.unblock(me, body).await },
        )
    }),
    row("user.blocks", |h, c, d| {
        run(
            h,
            c,
            d,
            |r, me, body| async move { r.blocks(me, body).await },
        )
    }),
];
