//! The command table. Every domain declares its WebSocket commands in one `COMMANDS` table:
//! the wire name, who may run it ([`Gate`]) and how it runs, on a handle the domain chooses
//! (usually its actor's address). The session routes by the union of those tables
//! ([`Routes`]) and knows no command name but `auth`, no domain state and no gate rule beyond
//! checking the gate a command declares. Adding a domain's commands touches that domain and
//! one line in `startup`.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::bus::StreamPos;
use crate::domain::As;
use crate::error::{AppError, AppResult};

/// Who may run a command, checked by the session before it reaches its domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Any authenticated user.
    User,
    /// An account in full standing (policy 未成年人: a restricted account may not chat).
    FullStanding,
    /// Full standing and not muted by a moderator: saying something to someone.
    Speaking,
    /// Staff (a moderator or an admin). The session checks the roles it holds and reads them
    /// afresh when they say no (a role granted since the socket authenticated); the domain
    /// checks the current roles again, so a role taken away mid-session stops at once.
    Staff,
}

/// The caller: the authenticated user and the connection the command came on.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub user_id: i64,
    pub conn_id: u64,
    /// The same connection as the bus addresses it from any node.
    pub connection: crate::bus::ConnectionId,
}

/// A command's answer: the reply's `data`, serialised, and the stream positions that reply
/// carries (so that live delivery does not send them again).
#[derive(Debug)]
pub struct Answer {
    pub data: String,
    pub carries: Vec<StreamPos>,
}

impl Answer {
    pub fn of<T: Serialize>(reply: &T) -> AppResult<Answer> {
        Ok(Answer {
            data: serde_json::to_string(reply)
                .map_err(|e| AppError::from(anyhow::anyhow!("serialise a reply: {e}")))?,
            carries: Vec::new(),
        })
    }
}

pub type Run<H> = fn(&Arc<H>, Caller, Value) -> BoxFuture<'static, AppResult<Answer>>;

/// One row of a domain's table.
pub struct CommandSpec<H: 'static> {
    pub name: &'static str,
    pub gate: Gate,
    /// Live stream events (chat messages) wait while the command runs and those its reply
    /// carries are not delivered again: a catch-up (`chat.sync`) never repeats a message.
    pub holds_stream: bool,
    pub run: Run<H>,
}

/// The usual way a command runs: `data` parsed as `B`, `As<B>` asked of the actor, the
/// answer serialised. Frames are parsed here, so a bad body never reaches the domain.
pub fn ask<A, B, R>(
    actor: &Addr<A>,
    caller: Caller,
    data: Value,
) -> BoxFuture<'static, AppResult<Answer>>
where
    A: Actor + Handler<As<B>>,
    A::Context: actix::dev::ToEnvelope<A, As<B>>,
    B: DeserializeOwned + Send + 'static,
    As<B>: Message<Result = AppResult<R>> + Send,
    R: Serialize + Send + 'static,
{
    let body = crate::error::parse_value::<B>(data);
    let actor = actor.clone();
    Box::pin(async move {
        let reply = actor
            .send(As::new(caller.user_id, body?))
            .await
            .map_err(|_| mailbox_gone())??;
        Answer::of(&reply)
    })
}

/// The usual way a command runs on a service (no actor): `data` parsed as `B`, `f` run with
/// the caller, the answer serialised.
pub fn call<H, B, R, F, Fut>(
    handle: &Arc<H>,
    caller: Caller,
    data: Value,
    f: F,
) -> BoxFuture<'static, AppResult<Answer>>
where
    H: Send + Sync + 'static,
    B: DeserializeOwned + Send + 'static,
    R: Serialize,
    F: FnOnce(Arc<H>, Caller, B) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = AppResult<R>> + Send + 'static,
{
    let body = crate::error::parse_value::<B>(data);
    let handle = handle.clone();
    Box::pin(async move { Answer::of(&f(handle, caller, body?).await?) })
}

/// What the caller is told when a domain actor has stopped (shutdown).
pub fn mailbox_gone() -> AppError {
    AppError::unavailable("service unavailable; retry")
}

type Erased = Arc<dyn Fn(Caller, Value) -> BoxFuture<'static, AppResult<Answer>> + Send + Sync>;

/// A routed command, its handle bound.
#[derive(Clone)]
pub struct Route {
    pub gate: Gate,
    pub holds_stream: bool,
    run: Erased,
}

impl Route {
    pub fn run(&self, caller: Caller, data: Value) -> BoxFuture<'static, AppResult<Answer>> {
        (self.run)(caller, data)
    }
}

/// The union of every domain's table, by wire name.
#[derive(Clone, Default)]
pub struct Routes {
    by_name: HashMap<&'static str, Route>,
}

impl Routes {
    /// Adds a domain's table with the handle its commands run on. Two domains claiming one
    /// name is a programming error, reported at start-up.
    pub fn add<H: Send + Sync + 'static>(
        &mut self,
        handle: Arc<H>,
        table: &'static [CommandSpec<H>],
    ) -> anyhow::Result<()> {
        for spec in table {
            let handle = handle.clone();
            let run = spec.run;
            let route = Route {
                gate: spec.gate,
                holds_stream: spec.holds_stream,
                run: Arc::new(move |caller, data| run(&handle, caller, data)),
            };
            if self.by_name.insert(spec.name, route).is_some() {
                anyhow::bail!("two command tables route `{}`", spec.name);
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Route> {
        self.by_name.get(name)
    }

    /// Every routed name, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.by_name.keys().copied().collect();
        names.sort_unstable();
        names
    }
}
