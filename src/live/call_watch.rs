//! CallWatch: one actor per node, once a tick. It renews the lease (`seen_at`) of every call
//! party whose device is open on this node, and sweeps every open call, whichever node holds
//! it: a ringing call past its answer time, a call past its maximum, a party not seen for the
//! grace period (its node died, or its socket closed and it did not resume) end; a party
//! missing for two ticks is marked away once and the other party told. Each step is a
//! conditional statement, so many nodes sweeping at once end a call once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::json;

use super::call::EndReason;
use super::store::calls::{self as store_calls, CallRow, Side};
use super::Live;
use crate::bus::registry::OpenAmong;
use crate::error::AppResult;
use crate::store::now_ms;

pub struct CallWatch {
    live: Arc<Live>,
    running: bool,
}

impl CallWatch {
    pub fn new(live: Arc<Live>) -> Self {
        Self {
            live,
            running: false,
        }
    }
}

impl Actor for CallWatch {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = Duration::from_millis(self.live.settings().tick_ms);
        ctx.run_interval(every, |act, ctx| {
            if act.running {
                return;
            }
            act.running = true;
            let live = act.live.clone();
            ctx.spawn(
                async move {
                    if let Err(e) = watch_once(&live).await {
                        tracing::warn!(error = %e, "call watch failed");
                    }
                }
                .into_actor(act)
                .map(|_, act, _| act.running = false),
            );
        });
    }
}

fn sides(call: &CallRow) -> impl Iterator<Item = Side> + '_ {
    [Side::Host, Side::Guest]
        .into_iter()
        .filter(|s| call.conn(*s).is_some() && call.user(*s).is_some())
}

async fn watch_once(live: &Live) -> AppResult<()> {
    let settings = live.settings();
    let calls = store_calls::open_calls(live.db(), settings.call_max_ms).await?;
    if calls.is_empty() {
        return Ok(());
    }
    let node = live.cx.bus.node_id();
    let here: Vec<(u64, i64)> = calls
        .iter()
        .flat_map(|c| {
            sides(c).filter_map(move |s| {
                let device = c.conn(s)?;
                (device.node == node).then_some((device.conn, c.user(s)?))
            })
        })
        .collect();
    let open: HashSet<u64> = if here.is_empty() {
        HashSet::new()
    } else {
        live.cx
            .registry
            .send(OpenAmong(here))
            .await
            .unwrap_or_default()
    };
    let now = now_ms();
    let away_before = now - 2 * settings.tick_ms as i64 - 500;
    for call in &calls {
        let id = call.id();
        if call.view.state == "ringing" && call.view.answer_by < now {
            live.end_call(id, EndReason::NoAnswer, None).await?;
            continue;
        }
        if call.view.max_until.is_some_and(|until| until < now) {
            live.end_call(id, EndReason::TimeLimit, None).await?;
            continue;
        }
        for side in sides(call).collect::<Vec<_>>() {
            let Some(device) = call.conn(side) else {
                continue;
            };
            let held_here = device.node == node && open.contains(&device.conn);
            let away = match side {
                Side::Host => call.host_away,
                Side::Guest => call.guest_away,
            };
            if held_here {
                if away {
                    // Back without a new socket (this node was slow to renew): say so.
                    store_calls::rebind(live.db(), id, side, device, now).await?;
                    live.tell_peer(call, side, "back");
                } else {
                    store_calls::touch(live.db(), id, side, device, now).await?;
                }
                continue;
            }
            let seen = match side {
                Side::Host => call.host_seen_at,
                Side::Guest => call.guest_seen_at,
            }
            .unwrap_or(call.view.called_at);
            if seen < now - settings.call_grace_ms {
                live.end_call(id, EndReason::Dropped, None).await?;
                break;
            }
            if seen < away_before
                && call.view.state == "connected"
                && store_calls::mark_away(live.db(), id, side, away_before).await?
            {
                live.tell_peer(call, side, "away");
            }
        }
    }
    Ok(())
}

impl Live {
    /// The other party's device learns that `side`'s device went away or came back.
    pub(super) fn tell_peer(&self, call: &CallRow, side: Side, state: &str) {
        let peer = match side {
            Side::Host => call.guest_conn,
            Side::Guest => call.host_conn,
        };
        if let Some(device) = peer {
            self.cx.bus.publish(
                crate::bus::Audience::Connection(device),
                crate::bus::Delivery::Event(crate::bus::EventFrame::new(
                    "room.call.peer",
                    &json!({ "call_id": call.id(), "state": state }),
                    None,
                )),
            );
        }
    }
}
