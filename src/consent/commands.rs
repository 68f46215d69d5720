//! Consent's WebSocket commands (`consent.*`), routed by the session.

use actix::Addr;

use super::messages::*;
use super::ConsentServer;
use crate::commands::{ask, CommandSpec, Gate};

const fn row(
    name: &'static str,
    run: crate::commands::Run<Addr<ConsentServer>>,
) -> CommandSpec<Addr<ConsentServer>> {
    // Consents stay open to every account, restricted or muted: they are the user's rights.
    CommandSpec {
        name,
        gate: Gate::User,
        holds_stream: false,
        run,
    }
}

pub const COMMANDS: &[CommandSpec<Addr<ConsentServer>>] = &[
    row("consent.grant", |h, c, d| ask::<_, Grant, _>(h, c, d)),
    row("consent.withdraw", |h, c, d| ask::<_, Withdraw, _>(h, c, d)),
    row("consent.check", |h, c, d| ask::<_, Check, _>(h, c, d)),
    row("consent.list", |h, c, d| ask::<_, ListConsents, _>(h, c, d)),
    row("consent.verify_receipt", |h, c, d| {
        ask::<_, VerifyReceipt, _>(h, c, d)
    }),
];
