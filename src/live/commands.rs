//! The live domain's WebSocket commands (`room.*`), routed by the session (docs/protocol.md, "Live rooms").

use super::Live;
use crate::commands::{call, CommandSpec, Gate, Run};

const fn row(name: &'static str, gate: Gate, run: Run<Live>) -> CommandSpec<Live> {
    CommandSpec {
        name,
        gate,
        holds_stream: false,
        run,
    }
}

pub const COMMANDS: &[CommandSpec<Live>] = &[
    row("room.create", Gate::FullStanding, |h, c, d| {
        call(h, c, d, Live::create)
    }),
    row("room.start", Gate::User, |h, c, d| {
        call(h, c, d, Live::start)
    }),
    row("room.pause", Gate::User, |h, c, d| {
        call(h, c, d, Live::pause)
    }),
    row("room.end", Gate::User, |h, c, d| call(h, c, d, Live::end)),
    row("room.list", Gate::User, |h, c, d| call(h, c, d, Live::list)),
    row("room.mine", Gate::User, |h, c, d| call(h, c, d, Live::mine)),
    row("room.join", Gate::User, |h, c, d| call(h, c, d, Live::join)),
    row("room.leave", Gate::User, |h, c, d| {
        call(h, c, d, Live::leave)
    }),
    // Saying something to a room: full standing (minors' rules) and no platform mute.
    row("room.comment", Gate::Speaking, |h, c, d| {
        call(h, c, d, Live::comment)
    }),
    row("room.like", Gate::User, |h, c, d| call(h, c, d, Live::like)),
    row("room.mute", Gate::User, |h, c, d| call(h, c, d, Live::mute)),
    row("room.unmute", Gate::User, |h, c, d| {
        call(h, c, d, Live::unmute)
    }),
    row("room.kick", Gate::User, |h, c, d| call(h, c, d, Live::kick)),
    row("room.ban", Gate::User, |h, c, d| call(h, c, d, Live::ban)),
    row("room.unban", Gate::User, |h, c, d| {
        call(h, c, d, Live::unban)
    }),
    row("room.bans", Gate::User, |h, c, d| call(h, c, d, Live::bans)),
    row("room.remove_comment", Gate::User, |h, c, d| {
        call(h, c, d, Live::remove_comment)
    }),
    row("room.pin", Gate::Speaking, |h, c, d| {
        call(h, c, d, Live::pin)
    }),
    row("room.helpers", Gate::User, |h, c, d| {
        call(h, c, d, Live::helpers)
    }),
    row("room.helper.add", Gate::User, |h, c, d| {
        call(h, c, d, Live::add_helper)
    }),
    row("room.helper.remove", Gate::User, |h, c, d| {
        call(h, c, d, Live::remove_helper)
    }),
    row("room.moderate", Gate::Staff, |h, c, d| {
        call(h, c, d, Live::moderate)
    }),
    // Appraisal calls (连线鉴定): a turn is asked for with full standing (minors' rules).
    row("room.queue.join", Gate::FullStanding, |h, c, d| {
        call(h, c, d, Live::queue_join)
    }),
    row("room.queue.leave", Gate::User, |h, c, d| {
        call(h, c, d, Live::queue_leave)
    }),
    row("room.queue.list", Gate::User, |h, c, d| {
        call(h, c, d, Live::queue_list)
    }),
    row("room.queue.skip", Gate::User, |h, c, d| {
        call(h, c, d, Live::queue_skip)
    }),
    row("room.queue.move", Gate::User, |h, c, d| {
        call(h, c, d, Live::queue_move)
    }),
    row("room.call", Gate::FullStanding, |h, c, d| {
        call(h, c, d, Live::call_next)
    }),
    row("room.call.answer", Gate::FullStanding, |h, c, d| {
        call(h, c, d, Live::answer_call)
    }),
    row("room.call.decline", Gate::User, |h, c, d| {
        call(h, c, d, Live::decline_call)
    }),
    row("room.call.resume", Gate::FullStanding, |h, c, d| {
        call(h, c, d, Live::resume_call)
    }),
    row("room.call.current", Gate::User, |h, c, d| {
        call(h, c, d, Live::current_call)
    }),
    row("room.calls", Gate::User, |h, c, d| {
        call(h, c, d, Live::call_records)
    }),
    row("room.calls.of", Gate::Staff, |h, c, d| {
        call(h, c, d, Live::staff_call_records)
    }),
    row("rtc.offer", Gate::User, |h, c, d| {
        call(h, c, d, Live::rtc_offer)
    }),
    row("rtc.answer", Gate::User, |h, c, d| {
        call(h, c, d, Live::rtc_answer)
    }),
    row("rtc.ice", Gate::User, |h, c, d| {
        call(h, c, d, Live::rtc_ice)
    }),
    row("rtc.restart", Gate::User, |h, c, d| {
        call(h, c, d, Live::rtc_restart)
    }),
    row("rtc.hangup", Gate::User, |h, c, d| {
        call(h, c, d, Live::rtc_hangup)
    }),
    // Verdicts (鉴定结果).
    row("verdict.issue", Gate::FullStanding, |h, c, d| {
        call(h, c, d, Live::issue_verdict)
    }),
    row("verdict.correct", Gate::FullStanding, |h, c, d| {
        call(h, c, d, Live::correct_verdict)
    }),
    row("verdict.mine", Gate::User, |h, c, d| {
        call(h, c, d, Live::my_verdicts)
    }),
    row("verdict.get", Gate::User, |h, c, d| {
        call(h, c, d, Live::verdict_versions)
    }),
    row("verdict.verify", Gate::User, |h, c, d| {
        call(h, c, d, Live::check_verdict)
    }),
];
