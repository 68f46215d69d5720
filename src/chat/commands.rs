//! Chat's WebSocket commands (`chat.*`, presence), routed by the session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Addr;
use futures_util::future::BoxFuture;
use serde_json::Value;

use super::messages::*;
use super::ChatServer;
use crate::bus::StreamPos;
use crate::commands::{ask, mailbox_gone, Answer, Caller, CommandSpec, Gate};
use crate::domain::As;
use crate::error::AppResult;

/// What chat's commands run on: the actor, and the typing throttle (per connection and
/// conversation, before anything reaches the actor).
pub struct ChatCommands {
    pub chat: Addr<ChatServer>,
    typing_interval: Duration,
    last_typing: Mutex<HashMap<(u64, i64), Instant>>,
}

/// Past this many remembered (connection, conversation) pairs, the stale ones are dropped.
const TYPING_REMEMBERED: usize = 4096;

impl ChatCommands {
    pub fn new(chat: Addr<ChatServer>, typing_interval_ms: u64) -> Self {
        Self {
            chat,
            typing_interval: Duration::from_millis(typing_interval_ms),
            last_typing: Mutex::new(HashMap::new()),
        }
    }

    /// True when this connection may relay typing in the conversation now.
    fn typing_due(&self, conn_id: u64, conversation_id: i64) -> bool {
        let now = Instant::now();
        let Ok(mut last) = self.last_typing.lock() else {
            return true;
        };
        if let Some(at) = last.get(&(conn_id, conversation_id)) {
            if now.duration_since(*at) < self.typing_interval {
                return false;
            }
        }
        if last.len() > TYPING_REMEMBERED {
            let interval = self.typing_interval;
            last.retain(|_, at| now.duration_since(*at) < interval);
        }
        last.insert((conn_id, conversation_id), now);
        true
    }
}

fn typing(
    h: &Arc<ChatCommands>,
    caller: Caller,
    data: Value,
) -> BoxFuture<'static, AppResult<Answer>> {
    let body = crate::error::parse_value::<Typing>(data);
    let h = h.clone();
    Box::pin(async move {
        let body = body?;
        if !h.typing_due(caller.conn_id, body.conversation_id) {
            return Answer::of(&TypingRelayed { delivered: false });
        }
        let relayed = h
            .chat
            .send(As::new(caller.user_id, body))
            .await
            .map_err(|_| mailbox_gone())??;
        Answer::of(&relayed)
    })
}

/// The reply carries every message it returns, so the session drops their live copies.
fn sync(
    h: &Arc<ChatCommands>,
    caller: Caller,
    data: Value,
) -> BoxFuture<'static, AppResult<Answer>> {
    let body = crate::error::parse_value::<Sync>(data);
    let chat = h.chat.clone();
    Box::pin(async move {
        let synced = chat
            .send(As::new(caller.user_id, body?))
            .await
            .map_err(|_| mailbox_gone())??;
        let mut answer = Answer::of(&synced)?;
        answer.carries = synced
            .results
            .iter()
            .flat_map(|s| &s.messages)
            .map(|m| StreamPos {
                conversation_id: m.conversation_id,
                seq: m.seq,
            })
            .collect();
        Ok(answer)
    })
}

const fn row(
    name: &'static str,
    gate: Gate,
    run: crate::commands::Run<ChatCommands>,
) -> CommandSpec<ChatCommands> {
    CommandSpec {
        name,
        gate,
        holds_stream: false,
        run,
    }
}

pub const COMMANDS: &[CommandSpec<ChatCommands>] = &[
    row("chat.open", Gate::Speaking, |h, c, d| {
        ask::<_, Open, _>(&h.chat, c, d)
    }),
    row("chat.list", Gate::FullStanding, |h, c, d| {
        ask::<_, List, _>(&h.chat, c, d)
    }),
    row("chat.send", Gate::Speaking, |h, c, d| {
        ask::<_, Send, _>(&h.chat, c, d)
    }),
    row("chat.history", Gate::FullStanding, |h, c, d| {
        ask::<_, History, _>(&h.chat, c, d)
    }),
    row("chat.held", Gate::FullStanding, |h, c, d| {
        ask::<_, ListHeld, _>(&h.chat, c, d)
    }),
    row("chat.read", Gate::FullStanding, |h, c, d| {
        ask::<_, MarkRead, _>(&h.chat, c, d)
    }),
    // Taking one's own words back is not speaking: a muted user may recall.
    row("chat.recall", Gate::FullStanding, |h, c, d| {
        ask::<_, Recall, _>(&h.chat, c, d)
    }),
    row("chat.typing", Gate::Speaking, typing),
    CommandSpec {
        name: "chat.sync",
        gate: Gate::FullStanding,
        holds_stream: true,
        run: sync,
    },
    row("presence.query", Gate::User, |h, c, d| {
        ask::<_, PresenceQuery, _>(&h.chat, c, d)
    }),
];
