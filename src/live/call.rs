//! Appraisal calls (连线鉴定, docs/live.md "Appraisal calls"): the host calls one buyer from
//! the queue, the buyer answers on one device, and the two devices' WebRTC signalling is
//! relayed through the bus to exactly the bound connection of the other party, wherever it is.
//! At most one call per room is open (a unique index decides between nodes); every end of a
//! call is one conditional update, so a hangup, a timeout on another node and a consent
//! withdrawal never end it twice.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::json;

use super::call_messages::*;
use super::messages::RoomRef;
use super::policy::Status;
use super::store::calls::{self as store_calls, CallRow, NewCall, Side};
use super::{room, signal, turn, Live};
use crate::bus::{Audience, ConnectionId, Delivery, EventFrame};
use crate::commands::Caller;
use crate::consent::policy::Permission;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::store::{begin_write, now_ms};

/// The window `DUOXIE_LIVE_RTC_FRAMES_PER_10S` counts in.
const RTC_WINDOW_MS: i64 = 10_000;
/// Most records one `room.calls` answers.
const RECORDS_MAX: i64 = 100;

/// Why a call ended (docs/protocol.md, `end_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Hangup,
    Declined,
    NoAnswer,
    Dropped,
    TimeLimit,
    ConsentWithdrawn,
    Kicked,
    Banned,
    RoomEnded,
    Hidden,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Hangup => "hangup",
            EndReason::Declined => "declined",
            EndReason::NoAnswer => "no_answer",
            EndReason::Dropped => "dropped",
            EndReason::TimeLimit => "time_limit",
            EndReason::ConsentWithdrawn => "consent_withdrawn",
            EndReason::Kicked => "kicked",
            EndReason::Banned => "banned",
            EndReason::RoomEnded => "room_ended",
            EndReason::Hidden => "hidden",
        }
    }

    /// What becomes of the buyer's queue entry.
    fn entry_status(self) -> &'static str {
        match self {
            EndReason::NoAnswer => "missed",
            EndReason::Declined => "declined",
            EndReason::Kicked | EndReason::Banned | EndReason::RoomEnded | EndReason::Hidden => {
                "removed"
            }
            _ => "done",
        }
    }
}

/// The signalling frames a party sends, and who may send each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    Offer,
    Answer,
    Ice,
    Restart,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Offer => "rtc.offer",
            Signal::Answer => "rtc.answer",
            Signal::Ice => "rtc.ice",
            Signal::Restart => "rtc.restart",
        }
    }

    /// The host's device always offers, so there is never glare.
    fn allowed_from(self, side: Side) -> bool {
        match self {
            Signal::Offer => side == Side::Host,
            Signal::Answer | Signal::Restart => side == Side::Guest,
            Signal::Ice => true,
        }
    }
}

fn role(side: Side) -> &'static str {
    match side {
        Side::Host => "offerer",
        Side::Guest => "answerer",
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Host => Side::Guest,
        Side::Guest => Side::Host,
    }
}

impl Live {
    fn max_ms(&self) -> i64 {
        self.settings().call_max_ms
    }

    async fn call_row(&self, call_id: i64) -> AppResult<CallRow> {
        store_calls::call(self.db(), call_id, self.max_ms())
            .await?
            .ok_or_else(|| AppError::not_found("call"))
    }

    fn side(&self, user_id: i64, side: Side, call: CallView) -> CallSide {
        CallSide {
            call,
            role: role(side),
            ice_servers: turn::ice_servers(self.settings(), user_id, now_ms()),
        }
    }

    fn send_to(&self, audience: Audience, kind: &str, data: &impl Serialize) {
        self.cx
            .bus
            .publish(audience, Delivery::Event(EventFrame::new(kind, data, None)));
    }

    fn to_device(&self, device: ConnectionId, kind: &str, data: &impl Serialize) {
        self.send_to(Audience::Connection(device), kind, data);
    }

    fn room_call_state(&self, call: &CallView) {
        let guest = (call.state == "connected").then(|| call.guest.clone());
        self.send_to(
            Audience::Topic(room::topic(call.room_id)),
            "room.call.state",
            &json!({ "room_id": call.room_id, "call_id": call.id, "state": call.state,
                     "guest": guest }),
        );
    }

    // ---------------------------------------------------------------- the host calls

    pub async fn call_next(self: Arc<Self>, caller: Caller, body: CallNext) -> AppResult<CallSide> {
        let room = self.room(body.room_id).await?;
        Self::host_only(&room, caller.user_id)?;
        match Status::from_stored(&room.view.status) {
            Status::Live => {}
            Status::Ended => return Err(AppError::new(ErrorCode::RoomEnded, "the room has ended")),
            _ => return Err(AppError::new(ErrorCode::Conflict, "go live before calling")),
        }
        self.require_connect_consent(caller.user_id).await?;
        let room_id = room.view.id;
        let waiting: Vec<_> = store_calls::active_entries(self.db(), room_id)
            .await?
            .into_iter()
            .filter(|e| e.view.status == "waiting")
            .collect();
        let (entry, reason) = match body.entry_id {
            None => (
                waiting
                    .first()
                    .cloned()
                    .ok_or_else(|| AppError::not_found("waiting queue entry"))?,
                None,
            ),
            Some(id) => {
                let pos = waiting
                    .iter()
                    .position(|e| e.view.id == id)
                    .ok_or_else(|| AppError::not_found("waiting queue entry"))?;
                let reason = match pos {
                    0 => None,
                    _ => Some(
                        body.reason
                            .as_deref()
                            .map(str::trim)
                            .filter(|r| !r.is_empty())
                            .map(|r| {
                                super::policy::text("reason", r, crate::domain::REASON_MAX_CHARS)
                            })
                            .transpose()?
                            .ok_or_else(|| {
                                AppError::field("reason", "calling out of turn needs a reason")
                            })?,
                    ),
                };
                (waiting[pos].clone(), reason)
            }
        };
        let now = now_ms();
        let mut tx = begin_write(self.db(), self.cx.backend).await?;
        if !store_calls::set_entry_status(
            &mut tx,
            entry.view.id,
            &["waiting"],
            "called",
            reason.as_deref(),
            now,
        )
        .await?
        {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "that entry is no longer waiting",
            ));
        }
        let inserted = store_calls::insert_call(
            &mut tx,
            &NewCall {
                room_id,
                entry_id: entry.view.id,
                host_id: caller.user_id,
                guest_id: entry.user_id,
                description: &entry.view.description,
                photos: &entry.view.photos,
                host_conn: caller.connection,
                answer_by: now + self.settings().call_answer_ms,
            },
            now,
        )
        .await;
        let call_id = match inserted {
            Ok(Some(id)) => id,
            // The entry goes back to waiting with the rolled-back transaction.
            Ok(None) => {
                return Err(AppError::new(
                    ErrorCode::CallBusy,
                    "the room already has a call; end it first",
                ))
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(reason) = &reason {
            super::store::audit(
                &mut tx,
                room_id,
                caller.user_id,
                "call_out_of_turn",
                Some(entry.user_id),
                &format!("entry {}: {reason}", entry.view.id),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        let call = self.call_row(call_id).await?;
        self.send_to(
            Audience::User(entry.user_id),
            "room.call.ringing",
            &json!({ "call": call.view }),
        );
        if reason.is_some() {
            self.tell_entries(&[(entry.view.id, entry.user_id)]).await?;
        }
        self.room_call_state(&call.view);
        self.publish_queue(room_id).await?;
        Ok(self.side(caller.user_id, Side::Host, call.view))
    }

    // ---------------------------------------------------------------- the buyer answers

    /// The call, when `user_id` is the buyer it rings for.
    async fn call_for_guest(&self, call_id: i64, user_id: i64) -> AppResult<CallRow> {
        let call = self.call_row(call_id).await?;
        if call.guest_id != Some(user_id) {
            return Err(AppError::forbidden("this call is for someone else"));
        }
        Ok(call)
    }

    pub async fn answer_call(
        self: Arc<Self>,
        caller: Caller,
        body: CallRef,
    ) -> AppResult<CallSide> {
        let call = self.call_for_guest(body.call_id, caller.user_id).await?;
        if !call.is_open() || call.view.answer_by < now_ms() {
            return Err(AppError::new(ErrorCode::CallEnded, "the call is over"));
        }
        if call.view.state != "ringing" {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "the call was answered on another device",
            ));
        }
        let room = self.room(call.view.room_id).await?;
        self.check_may_connect(&room, caller.user_id, false).await?;
        self.require_connect_consent(caller.user_id).await?;
        if !store_calls::answer(self.db(), call.id(), caller.connection, now_ms()).await? {
            let now = self.call_row(call.id()).await?;
            return Err(if now.is_open() {
                AppError::new(
                    ErrorCode::Conflict,
                    "the call was answered on another device",
                )
            } else {
                AppError::new(ErrorCode::CallEnded, "the call is over")
            });
        }
        let call = self.call_row(call.id()).await?;
        self.send_to(
            Audience::User(caller.user_id),
            "room.call.answered",
            &json!({ "call_id": call.id() }),
        );
        if let (Some(host), Some(device)) = (call.host_id, call.host_conn) {
            self.to_device(
                device,
                "room.call.connected",
                &self.side(host, Side::Host, call.view.clone()),
            );
        }
        self.room_call_state(&call.view);
        Ok(self.side(caller.user_id, Side::Guest, call.view))
    }

    pub async fn decline_call(
        self: Arc<Self>,
        caller: Caller,
        body: CallRef,
    ) -> AppResult<OneCall> {
        let call = self.call_for_guest(body.call_id, caller.user_id).await?;
        if call.view.state != "ringing" {
            return Err(if call.is_open() {
                AppError::new(
                    ErrorCode::Conflict,
                    "the call was answered; hang up instead",
                )
            } else {
                AppError::new(ErrorCode::CallEnded, "the call is over")
            });
        }
        let ended = self
            .end_call(call.id(), EndReason::Declined, Some(caller.user_id))
            .await?
            .ok_or_else(|| AppError::new(ErrorCode::CallEnded, "the call is over"))?;
        Ok(OneCall { call: ended.view })
    }

    // ---------------------------------------------------------------- either party

    /// A party's device came back (or another device of theirs takes over) within the grace
    /// period: bound to this connection, and the offerer negotiates again.
    pub async fn resume_call(
        self: Arc<Self>,
        caller: Caller,
        body: CallRef,
    ) -> AppResult<CallSide> {
        let call = self.call_row(body.call_id).await?;
        let side = call
            .side_of(caller.user_id)
            .ok_or_else(|| AppError::forbidden("you are not a party of this call"))?;
        if !call.is_open() {
            return Err(AppError::new(ErrorCode::CallEnded, "the call is over"));
        }
        if side == Side::Guest && call.view.state == "ringing" {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "answer the call instead",
            ));
        }
        self.require_connect_consent(caller.user_id).await?;
        if !store_calls::rebind(self.db(), call.id(), side, caller.connection, now_ms()).await? {
            return Err(AppError::new(ErrorCode::CallEnded, "the call is over"));
        }
        let call = self.call_row(call.id()).await?;
        if call.view.state == "connected" {
            self.tell_peer(&call, side, "back");
            if let Some(offerer) = call.host_conn {
                self.to_device(
                    offerer,
                    "rtc.restart",
                    &json!({ "call_id": call.id(), "fresh": true }),
                );
            }
        }
        Ok(self.side(caller.user_id, side, call.view))
    }

    pub async fn current_call(
        self: Arc<Self>,
        caller: Caller,
        body: RoomRef,
    ) -> AppResult<CurrentCall> {
        self.visible_room(body.room_id, caller.user_id).await?;
        let Some(call) =
            store_calls::open_call_of_room(self.db(), body.room_id, self.max_ms()).await?
        else {
            return Ok(CurrentCall {
                call: None,
                mine: false,
            });
        };
        if call.side_of(caller.user_id).is_some() {
            return Ok(CurrentCall {
                call: Some(CurrentCallView::Party(Box::new(call.view))),
                mine: true,
            });
        }
        let guest = (call.view.state == "connected").then(|| call.view.guest.clone());
        Ok(CurrentCall {
            call: Some(CurrentCallView::Public(PublicCall {
                id: call.view.id,
                room_id: call.view.room_id,
                state: call.view.state,
                guest,
            })),
            mine: false,
        })
    }

    pub async fn call_records(
        self: Arc<Self>,
        caller: Caller,
        body: CallList,
    ) -> AppResult<CallRecords> {
        self.records_of(caller.user_id, body).await
    }

    /// A moderator reads a user's call records (a report about an appraiser, a dispute):
    /// only with a reason, and the read goes to the staff-access log the user's export shows.
    pub async fn staff_call_records(
        self: Arc<Self>,
        caller: Caller,
        body: StaffCallList,
    ) -> AppResult<CallRecords> {
        let roles = self.accounts.roles(caller.user_id).await?;
        if !roles.iter().any(|r| {
            matches!(
                r,
                crate::domain::Role::Moderator | crate::domain::Role::Admin
            )
        }) {
            return Err(AppError::forbidden("moderators only"));
        }
        let reason = super::policy::text("reason", &body.reason, crate::domain::REASON_MAX_CHARS)
            .map_err(|_| {
            AppError::field("reason", "a reason is required (at most 200 characters)")
        })?;
        if self.accounts.find(body.user_id).await?.is_none() {
            return Err(AppError::not_found("user"));
        }
        crate::privacy::record_staff_access(
            self.db(),
            caller.user_id,
            body.user_id,
            "appraisal call records",
            &reason,
            now_ms(),
        )
        .await?;
        tracing::info!(
            staff_id = caller.user_id,
            subject_id = body.user_id,
            "staff read call records"
        );
        self.records_of(
            body.user_id,
            CallList {
                limit: body.limit,
                before: body.before,
            },
        )
        .await
    }

    async fn records_of(&self, user_id: i64, body: CallList) -> AppResult<CallRecords> {
        let limit = body.limit.unwrap_or(50);
        if !(1..=RECORDS_MAX).contains(&limit) {
            return Err(AppError::field(
                "limit",
                format!("must be between 1 and {RECORDS_MAX}"),
            ));
        }
        let calls: Vec<CallView> =
            store_calls::calls_of_user(self.db(), user_id, body.before, limit, self.max_ms())
                .await?
                .into_iter()
                .map(|c| c.view)
                .collect();
        let next = (calls.len() as i64 == limit)
            .then(|| calls.last().map(|c| c.id))
            .flatten();
        Ok(CallRecords { calls, next })
    }

    // ---------------------------------------------------------------- signalling

    /// The checks every `rtc.*` frame passes before it is relayed (docs/protocol.md): the
    /// rate, the sender is the party's bound device, the call is connected, the sender's
    /// role may send this frame. Answers the call and the other party's device.
    async fn signal_route(
        &self,
        caller: &Caller,
        call_id: i64,
        signal: Signal,
    ) -> AppResult<(CallRow, ConnectionId)> {
        let now = now_ms();
        {
            let mut windows = match self.rtc_windows.lock() {
                Ok(w) => w,
                Err(poisoned) => poisoned.into_inner(),
            };
            windows.retain(|_, w| !w.is_idle(now, RTC_WINDOW_MS));
            windows
                .entry((call_id, caller.user_id))
                .or_default()
                .take(now, self.settings().rtc_frames_per_10s, RTC_WINDOW_MS)
                .map_err(|wait| {
                    AppError::new(ErrorCode::RateLimited, "too many signalling frames")
                        .retry_after(wait)
                })?;
        }
        let call = self.call_row(call_id).await?;
        let side = call
            .side_of(caller.user_id)
            .ok_or_else(|| AppError::forbidden("you are not a party of this call"))?;
        if !call.is_open() {
            return Err(AppError::new(ErrorCode::CallEnded, "the call is over"));
        }
        if call.conn(side) != Some(caller.connection) {
            return Err(AppError::forbidden(
                "another device holds this call (room.call.resume moves it here)",
            ));
        }
        if call.view.state != "connected" {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "the call is not answered yet",
            ));
        }
        if !signal.allowed_from(side) {
            return Err(AppError::forbidden(match signal {
                Signal::Offer => "only the offerer (the host) makes offers",
                _ => "only the answerer (the buyer) sends this",
            }));
        }
        let peer = call.conn(other(side)).ok_or_else(|| {
            AppError::new(ErrorCode::Conflict, "the other party is not connected")
        })?;
        Ok((call, peer))
    }

    async fn relay_sdp(&self, caller: Caller, body: Sdp, signal: Signal) -> AppResult<Relayed> {
        let (call, peer) = self.signal_route(&caller, body.call_id, signal).await?;
        signal::check_sdp(&body.sdp, self.settings().rtc_sdp_max_bytes)?;
        self.to_device(
            peer,
            signal.name(),
            &json!({ "call_id": call.id(), "sdp": body.sdp }),
        );
        Ok(Relayed { relayed: true })
    }

    pub async fn rtc_offer(self: Arc<Self>, caller: Caller, body: Sdp) -> AppResult<Relayed> {
        self.relay_sdp(caller, body, Signal::Offer).await
    }

    pub async fn rtc_answer(self: Arc<Self>, caller: Caller, body: Sdp) -> AppResult<Relayed> {
        self.relay_sdp(caller, body, Signal::Answer).await
    }

    pub async fn rtc_ice(self: Arc<Self>, caller: Caller, body: Ice) -> AppResult<Relayed> {
        let (call, peer) = self
            .signal_route(&caller, body.call_id, Signal::Ice)
            .await?;
        signal::check_candidate(
            &body.candidate,
            body.sdp_mid.as_deref(),
            body.sdp_mline_index,
            self.settings().rtc_candidate_max_bytes,
        )?;
        self.to_device(
            peer,
            "rtc.ice",
            &json!({ "call_id": call.id(), "candidate": body.candidate,
                     "sdp_mid": body.sdp_mid, "sdp_mline_index": body.sdp_mline_index }),
        );
        Ok(Relayed { relayed: true })
    }

    pub async fn rtc_restart(self: Arc<Self>, caller: Caller, body: CallRef) -> AppResult<Relayed> {
        let (call, peer) = self
            .signal_route(&caller, body.call_id, Signal::Restart)
            .await?;
        self.to_device(
            peer,
            "rtc.restart",
            &json!({ "call_id": call.id(), "fresh": false }),
        );
        Ok(Relayed { relayed: true })
    }

    pub async fn rtc_hangup(self: Arc<Self>, caller: Caller, body: CallRef) -> AppResult<OneCall> {
        let call = self.call_row(body.call_id).await?;
        let side = call
            .side_of(caller.user_id)
            .ok_or_else(|| AppError::forbidden("you are not a party of this call"))?;
        if !call.is_open() {
            return Err(AppError::new(ErrorCode::CallEnded, "the call is over"));
        }
        // The guest's other devices may not hang up a call one of them holds; a ringing call
        // is declined instead.
        if side == Side::Guest && call.guest_conn != Some(caller.connection) {
            return Err(AppError::forbidden("another device holds this call"));
        }
        let ended = self
            .end_call(call.id(), EndReason::Hangup, Some(caller.user_id))
            .await?
            .ok_or_else(|| AppError::new(ErrorCode::CallEnded, "the call is over"))?;
        Ok(OneCall { call: ended.view })
    }

    // ---------------------------------------------------------------- the end of a call

    /// Ends the call (once, whoever else tries at the same time), moves its queue entry on,
    /// and tells both devices, the buyer's other devices while it rang, and the room. `None`
    /// when it had ended already.
    pub(super) async fn end_call(
        &self,
        call_id: i64,
        reason: EndReason,
        by: Option<i64>,
    ) -> AppResult<Option<CallRow>> {
        let now = now_ms();
        let before = self.call_row(call_id).await?;
        let mut tx = begin_write(self.db(), self.cx.backend).await?;
        if !store_calls::end_call(&mut tx, call_id, reason.as_str(), by, now).await? {
            return Ok(None);
        }
        if let Some(entry) = before.view.entry_id {
            store_calls::set_entry_status(
                &mut tx,
                entry,
                &["called"],
                reason.entry_status(),
                None,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        if let Ok(mut windows) = self.rtc_windows.lock() {
            windows.retain(|(call, _), _| *call != call_id);
        }
        let call = self.call_row(call_id).await?;
        let ended = json!({ "call": call.view });
        if let Some(device) = call.host_conn {
            self.to_device(device, "room.call.ended", &ended);
        }
        match (call.guest_conn, call.guest_id) {
            (Some(device), _) if before.view.state == "connected" => {
                self.to_device(device, "room.call.ended", &ended)
            }
            (_, Some(guest)) => self.send_to(Audience::User(guest), "room.call.ended", &ended),
            _ => {}
        }
        self.room_call_state(&call.view);
        if let (Some(entry), Some(guest)) = (call.view.entry_id, call.guest_id) {
            if reason == EndReason::NoAnswer {
                self.tell_entries(&[(entry, guest)]).await?;
            }
        }
        self.publish_queue(call.view.room_id).await?;
        tracing::info!(call_id, reason = reason.as_str(), "call ended");
        Ok(Some(call))
    }

    /// A kick or ban: the user's entries in the room go and their call there ends.
    pub(super) async fn end_turns_in_room(
        &self,
        room_id: i64,
        user_id: i64,
        reason: EndReason,
    ) -> AppResult<()> {
        if let Some(call) =
            store_calls::open_call_of_room(self.db(), room_id, self.max_ms()).await?
        {
            if call.guest_id == Some(user_id) {
                self.end_call(call.id(), reason, None).await?;
            }
        }
        let mut conn = self.db().acquire().await?;
        let removed =
            store_calls::remove_entries_of(&mut conn, room_id, user_id, reason.as_str(), now_ms())
                .await?;
        drop(conn);
        let told: Vec<(i64, i64)> = removed.into_iter().map(|id| (id, user_id)).collect();
        self.tell_entries(&told).await?;
        if !told.is_empty() {
            self.publish_queue(room_id).await?;
        }
        Ok(())
    }

    /// The room ended or was hidden: its call ends and its queue closes.
    pub(super) async fn close_room_calls(&self, room_id: i64, reason: EndReason) -> AppResult<()> {
        if let Some(call) =
            store_calls::open_call_of_room(self.db(), room_id, self.max_ms()).await?
        {
            self.end_call(call.id(), reason, None).await?;
        }
        let mut conn = self.db().acquire().await?;
        let closed =
            store_calls::close_queue(&mut conn, room_id, reason.as_str(), now_ms()).await?;
        drop(conn);
        self.tell_entries(&closed).await?;
        self.publish_queue(room_id).await?;
        Ok(())
    }

    /// Camera or microphone withdrawn: every call of the user ends at once.
    async fn end_calls_for_withdrawal(&self, user_id: i64) -> AppResult<()> {
        for call_id in store_calls::open_calls_of_user(self.db(), user_id).await? {
            self.end_call(call_id, EndReason::ConsentWithdrawn, Some(user_id))
                .await?;
        }
        Ok(())
    }
}

impl crate::consent::WithdrawalListener for Live {
    fn withdrawn(&self, user_id: i64, permission: Permission) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if !matches!(permission, Permission::Camera | Permission::Microphone) {
                return;
            }
            if let Err(e) = self.end_calls_for_withdrawal(user_id).await {
                tracing::error!(user_id, error = %e, "ending calls after a consent withdrawal failed");
            }
        })
    }
}
