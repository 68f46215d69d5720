//! Moderation's WebSocket commands: the console (`mod.*`, moderators only, checked by the
//! actor) and every user's reports and appeals. Routed by the session.

use std::sync::Arc;

use actix::Addr;
use futures_util::future::BoxFuture;
use serde_json::Value;

use super::*;
use crate::bus::registry::{Join, Registry};
use crate::bus::Topic;
use crate::commands::{ask, mailbox_gone, Answer, Caller, CommandSpec, Gate};

/// What moderation's commands run on: the actor, and the registry a console joins the
/// consoles topic through.
pub struct ModerationCommands {
    pub moderation: Addr<ModerationServer>,
    pub registry: Addr<Registry>,
}

/// `mod.subscribe`: the role is checked first, then this connection starts receiving console
/// events, then the queue is read: an item added in between arrives twice (clients keep
/// items by id), never not at all.
fn subscribe(
    h: &Arc<ModerationCommands>,
    caller: Caller,
    data: Value,
) -> BoxFuture<'static, AppResult<Answer>> {
    let body = crate::error::parse_value::<Subscribe>(data);
    let h = h.clone();
    Box::pin(async move {
        let gone = |_| mailbox_gone();
        h.moderation
            .send(As::new(caller.user_id, body?))
            .await
            .map_err(gone)??;
        h.registry
            .send(Join {
                conn_id: caller.conn_id,
                topic: Topic::consoles(),
            })
            .await
            .map_err(gone)?;
        let queue = h
            .moderation
            .send(As::new(caller.user_id, QueueSnapshot {}))
            .await
            .map_err(gone)??;
        Answer::of(&queue)
    })
}

const fn row(
    name: &'static str,
    run: crate::commands::Run<ModerationCommands>,
) -> CommandSpec<ModerationCommands> {
    CommandSpec {
        name,
        gate: Gate::User,
        holds_stream: false,
        run,
    }
}

/// A command of the moderators' console.
const fn staff(
    name: &'static str,
    run: crate::commands::Run<ModerationCommands>,
) -> CommandSpec<ModerationCommands> {
    CommandSpec {
        gate: Gate::Staff,
        ..row(name, run)
    }
}

pub const COMMANDS: &[CommandSpec<ModerationCommands>] = &[
    staff("mod.subscribe", subscribe),
    staff("mod.queue", |h, c, d| {
        ask::<_, QueueSnapshot, _>(&h.moderation, c, d)
    }),
    staff("mod.claim", |h, c, d| {
        ask::<_, Claim, _>(&h.moderation, c, d)
    }),
    staff("mod.release", |h, c, d| {
        ask::<_, Release, _>(&h.moderation, c, d)
    }),
    staff("mod.decide", |h, c, d| {
        ask::<_, Decide, _>(&h.moderation, c, d)
    }),
    staff("mod.act", |h, c, d| ask::<_, Act, _>(&h.moderation, c, d)),
    staff("mod.audit", |h, c, d| {
        ask::<_, AuditLog, _>(&h.moderation, c, d)
    }),
    row("report.create", |h, c, d| {
        ask::<_, Report, _>(&h.moderation, c, d)
    }),
    row("appeal.create", |h, c, d| {
        ask::<_, Appeal, _>(&h.moderation, c, d)
    }),
    row("appeal.list", |h, c, d| {
        ask::<_, ListAppealable, _>(&h.moderation, c, d)
    }),
];
