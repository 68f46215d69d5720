//! The share codes' WebSocket commands (`share.*`), routed by the session (docs/protocol.md,
//! "Share codes").

use super::Shares;
use crate::commands::{call, CommandSpec, Gate, Run};

const fn row(name: &'static str, gate: Gate, run: Run<Shares>) -> CommandSpec<Shares> {
    CommandSpec {
        name,
        gate,
        holds_stream: false,
        run,
    }
}

pub const COMMANDS: &[CommandSpec<Shares>] = &[
    row("share.create", Gate::FullStanding, |h, c, d| {
        call(h, c, d, Shares::create)
    }),
    row("share.resolve", Gate::User, |h, c, d| {
        call(h, c, d, Shares::resolve)
    }),
    row("share.revoke", Gate::User, |h, c, d| {
        call(h, c, d, Shares::revoke)
    }),
    row("share.mine", Gate::User, |h, c, d| {
        call(h, c, d, Shares::mine)
    }),
];
