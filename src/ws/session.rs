//! `WsSession`: one actor per WebSocket connection.
//!
//! It authenticates, keeps the heartbeat, enforces the per-connection limits (frame size,
//! token-bucket rate, outbound queue), routes commands by the domains' command tables
//! ([`crate::commands::Routes`]) after checking the gate each declares, and writes replies
//! and events out. It knows no command but `auth`, and holds no business rules and no SQL;
//! events come in from the registry as [`Push`].

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use bytestring::ByteString;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::outbound::{OutboundGauge, CLOSE_SLOW_CONSUMER};
use super::protocol::{self, Command};
use super::WsServices;
use crate::bus::registry::{Connect, Disconnect, Identify, Push};
use crate::bus::ConnectionId;
use crate::bus::{EventFrame, StreamPos};
use crate::commands::{Caller, Gate, Route};
use crate::domain::Identity;
use crate::domain::Standing;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::metrics::{self, METRICS};

/// Close codes of `docs/protocol.md` that the session itself decides.
pub const CLOSE_AUTH_TIMEOUT: u16 = 4000;
pub const CLOSE_HEARTBEAT_TIMEOUT: u16 = 4002;
pub const CLOSE_FLOOD: u16 = 4008;
pub const CLOSE_TOO_MANY_SOCKETS: u16 = 4010;

/// How many recently sent seqs per conversation a socket remembers to avoid sending a message
/// twice (live and in a sync reply). Only overlaps between a sync and live delivery need it.
const SENT_WINDOW: usize = 512;
/// Live events held while a sync is in flight; past this the client is too far behind.
const HELD_MAX: usize = 10_000;

/// Longest a session timer is set for (the runtime's timer wheel has a finite horizon).
const MAX_TIMER_MS: i64 = 365 * 86_400_000;

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

pub struct WsSession {
    conn_id: u64,
    services: Arc<WsServices>,
    identity: Option<Identity>,
    last_heard: Instant,
    bucket: TokenBucket,
    refused_in_row: u32,
    gauge: Arc<OutboundGauge>,
    /// Open commands that hold the stream (`chat.sync`); live chat events wait while there
    /// are any.
    syncs_in_flight: u32,
    held: Vec<EventFrame>,
    sent: HashMap<i64, BTreeSet<i64>>,
    authenticating: bool,
}

impl WsSession {
    pub fn new(
        services: Arc<WsServices>,
        identity: Option<Identity>,
        gauge: Arc<OutboundGauge>,
    ) -> Self {
        let ws = &services.ws;
        let bucket = TokenBucket::new(ws.rate_per_sec, ws.rate_burst);
        Self {
            conn_id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
            identity,
            last_heard: Instant::now(),
            bucket,
            refused_in_row: 0,
            gauge,
            syncs_in_flight: 0,
            held: Vec::new(),
            sent: HashMap::new(),
            authenticating: false,
            services,
        }
    }

    /// Queues a text frame, unless the client has let too much pile up: then it is cut off.
    fn send_text(&mut self, ctx: &mut ws::WebsocketContext<Self>, text: impl Into<ByteString>) {
        let text = text.into();
        metrics::inc(&METRICS.ws_frames_out);
        if !self
            .gauge
            .add(text.len(), self.services.ws.outbound_queue_bytes)
        {
            metrics::inc(&METRICS.ws_closed_slow_consumer);
            tracing::info!(
                conn_id = self.conn_id,
                queued = self.gauge.queued(),
                "closing slow consumer"
            );
            self.gauge.overflow();
            ctx.stop();
            return;
        }
        ctx.text(text);
    }

    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: u16, reason: &str) {
        ctx.close(Some(CloseReason {
            code: CloseCode::from(code),
            description: Some(reason.to_string()),
        }));
        ctx.stop();
    }

    fn reply_error(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        re: Option<&str>,
        error: &AppError,
    ) {
        error.log();
        self.send_text(ctx, protocol::error_reply(re, error));
    }

    fn reply<T: Serialize>(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        re: &str,
        result: AppResult<T>,
    ) {
        match result {
            Ok(data) => self.send_text(ctx, protocol::ok_reply(re, &data)),
            Err(e) => self.reply_error(ctx, Some(re), &e),
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        // Every frame is admitted before anything else is done with it: oversized and
        // unparsable frames count against the rate limit (and the flood close) like any other.
        let max_frame_bytes = self.services.ws.max_frame_bytes;
        // A refused command still gets its one reply, matched by its id; the id is looked for
        // only in frames small enough to parse, and at most `flood_close_after` times in a row.
        let id_of = || {
            (text.len() <= max_frame_bytes)
                .then(|| protocol::parse_command(text).ok().map(|c| c.id))
                .flatten()
        };
        if !self.admit(ctx, id_of) {
            return;
        }
        if text.len() > max_frame_bytes {
            let e = AppError::new(
                ErrorCode::FrameTooLarge,
                format!(
                    "frames are limited to {} bytes",
                    self.services.ws.max_frame_bytes
                ),
            );
            return self.reply_error(ctx, None, &e);
        }
        let command = match protocol::parse_command(text) {
            Ok(c) => c,
            Err(rejected) => return self.reply_error(ctx, rejected.re.as_deref(), &rejected.error),
        };
        if self
            .identity
            .as_ref()
            .is_some_and(|i| i.expires_at <= crate::store::now_ms())
        {
            return self.close(ctx, crate::auth::CLOSE_TOKEN_REVOKED, "token expired");
        }
        match &self.identity {
            None => self.unauthenticated(command, ctx),
            Some(_) if command.kind == "auth" => {
                let e = AppError::new(
                    ErrorCode::AlreadyAuthenticated,
                    "this socket is already authenticated",
                );
                self.reply_error(ctx, Some(&command.id), &e)
            }
            Some(_) => match self.services.routes.get(&command.kind).cloned() {
                Some(route) => self.gated(command, route, ctx),
                None => {
                    let e = AppError::new(
                        ErrorCode::UnknownType,
                        format!("unknown command type `{}`", command.kind),
                    );
                    self.reply_error(ctx, Some(&command.id), &e)
                }
            },
        }
    }

    /// Checks the gate the command's table declares, then runs it.
    fn gated(&mut self, command: Command, route: Route, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(identity) = self.identity.as_ref() else {
            return;
        };
        let (user_id, full, muted_until) = (
            identity.user_id,
            identity.standing == Standing::Full,
            identity.muted_until,
        );
        if route.gate == Gate::Staff {
            if !identity.is_staff() {
                return self.recheck_roles(command, route, ctx);
            }
        } else if route.gate != Gate::User && !full {
            return self.recheck_standing(command, route, ctx);
        }
        let now = crate::store::now_ms();
        if route.gate == Gate::Speaking && muted_until > now {
            let e = AppError::new(ErrorCode::Muted, "a moderator muted you for a while")
                .retry_after((muted_until - now).max(1) as u64);
            return self.reply_error(ctx, Some(&command.id), &e);
        }
        self.dispatch(user_id, command, route, ctx)
    }

    /// A socket without a staff role trying a staff command: the role may have been granted
    /// since the socket authenticated, so read the roles afresh (in order, like the standing).
    fn recheck_roles(
        &mut self,
        command: Command,
        route: Route,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let Some(user_id) = self.identity.as_ref().map(|i| i.user_id) else {
            return;
        };
        let auth = self.services.auth.clone();
        let check = async move { auth.roles(user_id).await };
        ctx.wait(
            check
                .into_actor(self)
                .map(move |roles, act, ctx| match roles {
                    Ok(roles) if roles.iter().any(|r| r.is_staff()) => {
                        if let Some(identity) = act.identity.as_mut() {
                            identity.roles = roles;
                        }
                        act.gated(command, route, ctx);
                    }
                    Ok(_) => {
                        let e = AppError::forbidden("only moderators and admins may do this");
                        act.reply_error(ctx, Some(&command.id), &e);
                    }
                    Err(e) => act.reply_error(ctx, Some(&command.id), &e),
                }),
        );
    }

    /// A restricted socket trying a restricted command: the restriction may have been lifted
    /// since the socket authenticated (age declared, guardian verified), so read it afresh.
    /// `wait` keeps the socket's commands in order meanwhile. (A restriction that starts while
    /// a socket is open closes it with 4004 instead, so an unrestricted socket never asks.)
    fn recheck_standing(
        &mut self,
        command: Command,
        route: Route,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let Some(user_id) = self.identity.as_ref().map(|i| i.user_id) else {
            return;
        };
        let db = self.services.auth.db().clone();
        let check = async move { crate::minors::current_standing(&db, user_id).await };
        ctx.wait(check.into_actor(self).map(move |standing, act, ctx| {
            match standing.and_then(|s| s.require_full().map(|()| s)) {
                Ok(standing) => {
                    if let Some(identity) = act.identity.as_mut() {
                        identity.standing = standing;
                    }
                    act.gated(command, route, ctx);
                }
                Err(e) => act.reply_error(ctx, Some(&command.id), &e),
            }
        }));
    }

    /// The rate limit: true when the frame may be handled. Flooding on after refusals closes
    /// the socket.
    fn admit(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        re: impl FnOnce() -> Option<String>,
    ) -> bool {
        match self.bucket.take(Instant::now()) {
            Ok(()) => {
                self.refused_in_row = 0;
                true
            }
            Err(wait) => {
                self.refused_in_row += 1;
                metrics::inc(&METRICS.ws_rate_limited);
                if self.refused_in_row > self.services.ws.flood_close_after {
                    metrics::inc(&METRICS.ws_closed_flood);
                    tracing::info!(conn_id = self.conn_id, "closing flooding socket");
                    self.close(ctx, CLOSE_FLOOD, "flooding after rate_limited");
                } else {
                    let e = AppError::new(ErrorCode::RateLimited, "too many frames; slow down")
                        .retry_after(wait.as_millis().max(1) as u64);
                    self.reply_error(ctx, re().as_deref(), &e);
                }
                false
            }
        }
    }

    fn unauthenticated(&mut self, command: Command, ctx: &mut ws::WebsocketContext<Self>) {
        if command.kind != "auth" || self.authenticating {
            let e = AppError::new(ErrorCode::AuthRequired, "send `auth` with your token first");
            return self.reply_error(ctx, Some(&command.id), &e);
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct AuthData {
            token: String,
        }
        let data: AuthData = match parse_data(command.data) {
            Ok(d) => d,
            Err(e) => return self.reply_error(ctx, Some(&command.id), &e),
        };
        self.authenticating = true;
        let auth = self.services.auth.clone();
        let re = command.id;
        // `wait`: frames that arrive meanwhile are handled after the outcome is known.
        ctx.wait(
            async move {
                let identity = auth.authenticate(&data.token).await?;
                let me = auth.me(identity.user_id).await?;
                Ok::<_, AppError>((identity, me))
            }
            .into_actor(self)
            .map(move |result, act, ctx| {
                act.authenticating = false;
                match result {
                    Ok((identity, me)) => {
                        act.identified(identity, ctx);
                        act.reply(ctx, &re, Ok(serde_json::json!({ "user": me })));
                    }
                    Err(e) => act.reply_error(ctx, Some(&re), &e),
                }
            }),
        );
    }

    fn identified(&mut self, identity: Identity, ctx: &mut ws::WebsocketContext<Self>) {
        let identify = self.services.registry.send(Identify {
            conn_id: self.conn_id,
            user_id: identity.user_id,
            token_id: identity.token_id,
            max_per_user: self.services.ws.max_sockets_per_user,
        });
        // The token's end closes the socket at that moment, not at the next heartbeat. (Timers
        // are capped at a year; the standing re-check closes anything that outlives that.)
        let left_ms = (identity.expires_at - crate::store::now_ms()).clamp(0, MAX_TIMER_MS) as u64;
        ctx.run_later(Duration::from_millis(left_ms), |act, ctx| {
            act.close(ctx, crate::auth::CLOSE_TOKEN_REVOKED, "token expired");
        });
        // Commands wait until deliveries for this user reach this socket (and, on several
        // nodes, this node): a `chat.sync` answered before that could miss a message committed
        // in between, silently. `session.ready` then tells the client that from here on every
        // event for it arrives.
        let user_id = identity.user_id;
        ctx.wait(identify.into_actor(self).map(move |admitted, act, ctx| {
            if matches!(admitted, Ok(false)) {
                return act.close(
                    ctx,
                    CLOSE_TOO_MANY_SOCKETS,
                    "too many open sockets for this account",
                );
            }
            let ready = crate::bus::EventFrame::new(
                "session.ready",
                &serde_json::json!({
                    "user_id": user_id,
                    "policy_version": act.services.policy_version.get(),
                }),
                None,
            );
            act.send_text(ctx, ready.text);
        }));
        tracing::debug!(
            conn_id = self.conn_id,
            user_id = identity.user_id,
            "socket authenticated"
        );
        self.identity = Some(identity);
    }

    /// Runs a routed command and replies with its answer. A command that holds the stream
    /// (`chat.sync`) has live chat events wait until its reply is out, and those the reply
    /// carried are then dropped: live delivery never repeats a message.
    fn dispatch(
        &mut self,
        user_id: i64,
        command: Command,
        route: Route,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let caller = Caller {
            user_id,
            conn_id: self.conn_id,
            connection: ConnectionId {
                node: self.services.node_id,
                conn: self.conn_id,
            },
        };
        let holds_stream = route.holds_stream;
        if holds_stream {
            self.syncs_in_flight += 1;
        }
        let re = command.id;
        let run = route.run(caller, command.data);
        ctx.spawn(run.into_actor(self).map(move |answer, act, ctx| {
            if holds_stream {
                act.syncs_in_flight -= 1;
            }
            match answer {
                Ok(answer) => {
                    for pos in &answer.carries {
                        act.remember(pos.conversation_id, pos.seq);
                    }
                    act.send_text(ctx, protocol::ok_reply_raw(&re, &answer.data));
                }
                Err(e) => act.reply_error(ctx, Some(&re), &e),
            }
            if holds_stream && act.syncs_in_flight == 0 {
                for frame in std::mem::take(&mut act.held) {
                    act.push_event(frame, ctx);
                }
            }
        }));
    }

    /// Records that this socket carries (conversation, seq); false if it already did.
    fn remember(&mut self, conversation_id: i64, seq: i64) -> bool {
        let seen = self.sent.entry(conversation_id).or_default();
        if !seen.insert(seq) {
            return false;
        }
        if seen.len() > SENT_WINDOW {
            seen.pop_first();
        }
        true
    }

    fn push_event(&mut self, frame: EventFrame, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(StreamPos {
            conversation_id,
            seq,
        }) = frame.pos
        {
            if self.syncs_in_flight > 0 {
                if self.held.len() >= HELD_MAX {
                    self.gauge.overflow();
                    return self.close(ctx, CLOSE_SLOW_CONSUMER, "too slow: outbound queue full");
                }
                self.held.push(frame);
                return;
            }
            if !self.remember(conversation_id, seq) {
                return;
            }
            let waited_us = (crate::bus::now_us() - frame.published_at_us).max(0) as u64;
            METRICS
                .chat_delivery_seconds
                .observe(Duration::from_micros(waited_us));
        }
        self.send_text(ctx, frame.text);
    }

    fn heartbeat(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self
            .identity
            .as_ref()
            .is_some_and(|i| i.expires_at <= crate::store::now_ms())
        {
            return self.close(ctx, crate::auth::CLOSE_TOKEN_REVOKED, "token expired");
        }
        let timeout = Duration::from_millis(self.services.ws.client_timeout_ms);
        if self.last_heard.elapsed() > timeout {
            metrics::inc(&METRICS.ws_closed_heartbeat);
            tracing::debug!(conn_id = self.conn_id, "heartbeat timeout");
            return self.close(ctx, CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout");
        }
        if self.gauge.add(0, self.services.ws.outbound_queue_bytes) {
            ctx.ping(b"");
        }
    }
}

fn parse_data<T: DeserializeOwned>(data: serde_json::Value) -> AppResult<T> {
    crate::error::parse_value(data)
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        METRICS.ws_connections.fetch_add(1, Ordering::Relaxed);
        metrics::inc(&METRICS.ws_connections_opened);
        let ws = &self.services.ws;
        ctx.run_interval(
            Duration::from_millis(ws.heartbeat_interval_ms),
            |act, ctx| act.heartbeat(ctx),
        );
        if self.identity.is_none() {
            ctx.run_later(Duration::from_millis(ws.auth_timeout_ms), |act, ctx| {
                if act.identity.is_none() {
                    act.close(ctx, CLOSE_AUTH_TIMEOUT, "authentication timeout");
                }
            });
        }
        let registry = self.services.registry.clone();
        let connect = Connect {
            conn_id: self.conn_id,
            recipient: ctx.address().recipient(),
        };
        // Registered before any frame is handled, so that no event for this user is missed.
        ctx.wait(
            registry
                .send(connect)
                .into_actor(self)
                .map(|accepted, act, ctx| {
                    if !matches!(accepted, Ok(true)) {
                        return act.close(
                            ctx,
                            crate::bus::registry::CLOSE_GOING_AWAY,
                            "server shutting down",
                        );
                    }
                    if let Some(identity) = act.identity.take() {
                        act.identified(identity, ctx);
                    }
                }),
        );
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        METRICS.ws_connections.fetch_sub(1, Ordering::Relaxed);
        self.services.registry.do_send(Disconnect {
            conn_id: self.conn_id,
        });
    }
}

impl Handler<Push> for WsSession {
    type Result = ();

    fn handle(&mut self, msg: Push, ctx: &mut Self::Context) {
        match msg {
            Push::Event(frame) => self.push_event(frame, ctx),
            Push::Close { code, reason } => self.close(ctx, code, &reason),
            Push::Caller(update) => {
                if let Some(identity) = self.identity.as_mut() {
                    match update {
                        crate::bus::CallerUpdate::MutedUntil(until) => identity.muted_until = until,
                    }
                }
            }
            Push::Standing { muted_until, full } => {
                let Some(identity) = self.identity.as_mut() else {
                    return;
                };
                identity.muted_until = muted_until;
                match (full, identity.standing == Standing::Full) {
                    (false, true) => self.close(
                        ctx,
                        crate::minors::CLOSE_ACCOUNT_RESTRICTED,
                        "account restricted",
                    ),
                    (true, false) => identity.standing = Standing::Full,
                    _ => {}
                }
            }
        }
    }
}

impl StreamHandler<Result<ws::Message, ProtocolError>> for WsSession {
    fn handle(&mut self, item: Result<ws::Message, ProtocolError>, ctx: &mut Self::Context) {
        let msg = match item {
            Ok(msg) => msg,
            Err(ProtocolError::Overflow) => {
                return self.close(ctx, 1009, "frame above the hard size limit");
            }
            Err(e) => {
                let text = e.to_string();
                // actix reports a text frame that is not UTF-8 as an I/O error naming it.
                if text.to_ascii_lowercase().contains("utf-8") {
                    return self.close(ctx, 1007, "text frame is not valid UTF-8");
                }
                tracing::debug!(conn_id = self.conn_id, error = %text, "websocket protocol error");
                return self.close(ctx, 1002, "protocol error");
            }
        };
        self.last_heard = Instant::now();
        metrics::inc(&METRICS.ws_frames_in);
        match msg {
            ws::Message::Text(text) => self.on_text(&text, ctx),
            ws::Message::Ping(payload) => {
                if self
                    .gauge
                    .add(payload.len(), self.services.ws.outbound_queue_bytes)
                {
                    ctx.pong(&payload);
                }
            }
            ws::Message::Pong(_) => {}
            ws::Message::Binary(_) => {
                if self.admit(ctx, || None) {
                    let e =
                        AppError::new(ErrorCode::BinaryNotSupported, "frames must be JSON text");
                    self.reply_error(ctx, None, &e);
                }
            }
            ws::Message::Continuation(item) => {
                // Every fragment costs a token, so that unfinished fragmented messages cannot
                // be streamed past the rate limit.
                if self.admit(ctx, || None)
                    && matches!(
                        item,
                        actix_http::ws::Item::FirstText(_) | actix_http::ws::Item::FirstBinary(_)
                    )
                {
                    let e = AppError::new(
                        ErrorCode::BadRequest,
                        "fragmented messages are not supported",
                    );
                    self.reply_error(ctx, None, &e);
                }
            }
            ws::Message::Close(reason) => {
                ctx.close(reason);
                ctx.stop();
            }
            ws::Message::Nop => {}
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Per-connection token bucket: `rate` frames per second, up to `burst` at once.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes a token, or says how long until one is available.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut b = TokenBucket::new(10.0, 3.0);
        b.at = start;
        for _ in 0..3 {
            assert!(b.take(start).is_ok());
        }
        let wait = b.take(start).expect_err("empty");
        assert!(wait <= Duration::from_millis(100));
        assert!(b.take(start + Duration::from_millis(100)).is_ok());
        assert!(b.take(start + Duration::from_millis(100)).is_err());
    }
}
