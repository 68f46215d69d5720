//! Scenario `chat`: P pairs of users, each user on its own socket, each sending at a target
//! rate for a duration. It measures send→ack (the server acknowledges only committed
//! messages) and send→recipient latency of live deliveries, and checks that every
//! acknowledged message reaches the other participant.
//!
//! Each user is a client that follows `docs/protocol.md`, so that a run across faults (a
//! Redis restart, a node killed with SIGKILL, a drain with 1001) measures the server rather
//! than a client that gives up. A client without sync and reconnect calls every event the bus
//! dropped "lost", although the server still holds it:
//!
//! - It tracks per conversation the seqs it holds (`tracker`). A live message more than one
//!   past the highest held is a gap: it syncs that conversation from its contiguous cursor
//!   (after `--gap-grace-ms`, 0 by default as the protocol says), paging on `more`.
//!   `session.resync` (the node's bus came back) syncs every conversation.
//! - A socket that closes or breaks is replaced (`recovery`): back-off from 50 ms doubling
//!   to 2 s with jitter, alternating between `--addr` and `--peer-addr`, the same token,
//!   `session.ready`, then a sync from its cursors. Sends left without an ack are sent again
//!   with the same `client_id`: the server answers `duplicate:true` when the first one had
//!   committed, so a retry never makes a second message and counts once in the totals.
//!   While disconnected a user sends nothing new.
//! - After the sending time all clients drain their acks (up to GRACE), then each does a final
//!   sync of all its conversations: what a recipient still lacks then is not recoverable at
//!   all ("never"), and fails the run.
//!
//! Messages of the peer are reported by how they first arrived: live, by sync, or never.
//! Latencies leave retried sends out: they measure the live path, and an outage shows in the
//! reconnect figures instead.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::client::{self, Phones, User, Ws};
use crate::progress::{per_sec, Progress};
use crate::recovery::{self, Backoff, SocketLost, SyncReply};
use crate::report::{Report, Series};
use crate::stats::{Arrival, Counters, Histogram};
use crate::tracker::{self, Tracker, Via};

#[derive(clap::Args)]
pub struct Args {
    /// Number of conversations (two users, two sockets each pair).
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Messages per second sent by each user.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Message text size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Connect each pair's second user to this node instead (host:port of another node of the
    /// same deployment): every message then crosses nodes through the bus, and a client whose
    /// node goes away reconnects to the other one.
    #[arg(long)]
    peer_addr: Option<SocketAddr>,
    /// `limit` of each `chat.sync` page (the server's default when absent); a small one makes
    /// clients page.
    #[arg(long)]
    sync_limit: Option<i64>,
    /// How long a hole may stay open before the client syncs it, in milliseconds. 0 syncs at
    /// once, as the protocol says; on two nodes a socket's own message often overtakes the
    /// peer's earlier one by a millisecond, and a few ms let those arrive live.
    #[arg(long, default_value_t = 0)]
    gap_grace_ms: u64,
}

/// After sending stops, how long to wait for the last acks (retries included).
const GRACE: Duration = Duration::from_secs(10);
/// How long the final sync may take, reconnecting included.
const FINAL_SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// A client has drained once its sends are answered and its socket has been quiet this long
/// (the peer's last messages arrive within moments of their acks).
const QUIET: Duration = Duration::from_secs(1);
/// One reconnect attempt: TCP, handshake and `session.ready`.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(2);
/// The server pings every 10 s: a socket that hears nothing for this long is dead, even if no
/// FIN or RST ever came (a partition, a frozen node).
const SILENCE_TIMEOUT: Duration = Duration::from_secs(35);
/// How often a client looks at its clocks (drain, deadlines) when no frame arrives.
const POLL: Duration = Duration::from_millis(200);
/// The server's limit of cursors per `chat.sync`.
const MAX_SYNC_CURSORS: usize = 100;

/// Send times by client id, shared by the two clients of a pair (first sends only).
type SendTimes = Arc<Mutex<HashMap<String, Instant>>>;

/// What the coordinator tells every client, in this order.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    Sending,
    /// No new sends; acks (and retries) still due.
    Draining,
    /// Sync everything once more, then finish, by `deadline` at the latest.
    FinalSync {
        deadline: Instant,
    },
}

/// Running totals for the progress line and the curves.
#[derive(Default)]
struct Live {
    sent: AtomicU64,
    acked: AtomicU64,
    from_peer_live: AtomicU64,
    from_peer_by_sync: AtomicU64,
    reconnects: AtomicU64,
    /// Clients without a socket right now.
    offline: AtomicU64,
    /// Clients done draining.
    drained: AtomicU64,
}

fn count(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Live {
    /// Short enough for one terminal line: the progress line redraws itself with `\r`.
    fn status(&self, elapsed: Duration) -> String {
        let acked = count(&self.acked);
        format!(
            "sent {} acked {acked} ({:.0}/s)  peer's: live {} sync {}  reconnects {} offline {}",
            count(&self.sent),
            per_sec(acked, elapsed),
            count(&self.from_peer_live),
            count(&self.from_peer_by_sync),
            count(&self.reconnects),
            count(&self.offline),
        )
    }
}

/// What every client of a run shares.
#[derive(Clone)]
struct Shared {
    stage: watch::Receiver<Stage>,
    live: Arc<Live>,
    rate: f64,
    text: Arc<str>,
    sync_limit: Option<i64>,
    gap_grace: Duration,
    /// Part of every client id, so that a later run of the same accounts (phones repeat after
    /// a few hours) never gets `duplicate:true` for a fresh send.
    run_tag: Arc<str>,
}

/// What a client counts, besides what its tracker holds.
#[derive(Default)]
struct ClientStats {
    counters: Counters,
    /// Seqs of this client's acknowledged sends: what the peer must hold at the end.
    acked_seqs: Vec<i64>,
    /// Acks that came after the final sync began: the peer may have synced before them, so
    /// they are not expected of it.
    acked_late: u64,
    retried_sends: u64,
    /// Retries answered `duplicate:true`: the first attempt had committed.
    retried_already_committed: u64,
    reconnects: u64,
    failed_attempts: u64,
    disconnects: BTreeMap<String, u64>,
    resyncs: u64,
    sync_requests: u64,
    sync_errors: u64,
    /// Sync replies out of order, before the cursor, or missing an asked conversation.
    sync_reply_violations: u64,
    /// Pages that said `more` without moving any cursor.
    sync_stalls: u64,
    final_sync_done: bool,
    ack: Histogram,
    delivery: Histogram,
    back_online: Histogram,
    error: Option<String>,
}

impl ClientStats {
    /// Adds another client's figures (the run's totals; per-client fields are left alone).
    fn absorb(&mut self, o: ClientStats) {
        self.counters.add(&o.counters);
        self.acked_late += o.acked_late;
        self.retried_sends += o.retried_sends;
        self.retried_already_committed += o.retried_already_committed;
        self.reconnects += o.reconnects;
        self.failed_attempts += o.failed_attempts;
        for (cause, n) in o.disconnects {
            *self.disconnects.entry(cause).or_default() += n;
        }
        self.resyncs += o.resyncs;
        self.sync_requests += o.sync_requests;
        self.sync_errors += o.sync_errors;
        self.sync_reply_violations += o.sync_reply_violations;
        self.sync_stalls += o.sync_stalls;
        self.ack.merge(o.ack);
        self.delivery.merge(o.delivery);
        self.back_online.merge(o.back_online);
    }
}

/// What a client hands back.
struct ClientOutcome {
    conversation_id: i64,
    tracker: Tracker,
    stats: ClientStats,
}

impl ClientOutcome {
    /// How many of `sender`'s acknowledged messages this client does not hold.
    fn lacks_from(&self, sender: &ClientOutcome) -> u64 {
        self.tracker
            .missing(self.conversation_id, &sender.stats.acked_seqs)
    }
}

struct PendingSend {
    sent_at: Instant,
    retried: bool,
}

/// One user's client: one socket at a time, replaced when it is lost.
struct ChatClient {
    ctx: Shared,
    user_id: i64,
    conversation_id: i64,
    token: String,
    /// The nodes it knows, its own first.
    nodes: Vec<SocketAddr>,
    node: usize,
    times: SendTimes,
    tracker: Tracker,
    stats: ClientStats,
    /// Unanswered sends by client id, which is also their request id.
    pending: BTreeMap<String, PendingSend>,
    /// Syncs in flight: request id → the cursors asked.
    syncs: HashMap<String, BTreeMap<i64, i64>>,
    /// Holes waiting out the gap grace: conversation → when to sync it.
    gap_deadlines: BTreeMap<i64, Instant>,
    backoff: Backoff,
    sends: u64,
    requests: u64,
    drained: bool,
    final_sync_started: bool,
    final_sync_refused: bool,
    last_frame_at: Instant,
}

impl ChatClient {
    fn new(
        ctx: Shared,
        user: User,
        conversation_id: i64,
        start_seq: i64,
        nodes: Vec<SocketAddr>,
        times: SendTimes,
    ) -> Self {
        let mut tracker = Tracker::new(user.id);
        tracker.follow(conversation_id, start_seq);
        Self {
            ctx,
            user_id: user.id,
            conversation_id,
            token: user.token,
            nodes,
            node: 0,
            times,
            tracker,
            stats: ClientStats::default(),
            pending: BTreeMap::new(),
            syncs: HashMap::new(),
            gap_deadlines: BTreeMap::new(),
            backoff: Backoff::jittered(BACKOFF_FIRST, BACKOFF_CAP, recovery::seed(user.id)),
            sends: 0,
            requests: 0,
            drained: false,
            final_sync_started: false,
            final_sync_refused: false,
            last_frame_at: Instant::now(),
        }
    }

    fn stage(&self) -> Stage {
        *self.ctx.stage.borrow()
    }

    fn send_times(&self) -> anyhow::Result<MutexGuard<'_, HashMap<String, Instant>>> {
        self.times
            .lock()
            .map_err(|_| anyhow!("send times poisoned"))
    }

    /// Sessions on successive sockets until the run is over, or the client cannot go on.
    async fn run(mut self, ws: Ws) -> ClientOutcome {
        let mut socket = Some(ws);
        // The set-up socket is ready and holds nothing to resume.
        let mut resuming = false;
        loop {
            let mut ws = match socket.take() {
                Some(ws) => ws,
                None => {
                    bump(&self.ctx.live.offline);
                    let reconnected = self.reconnect().await;
                    self.ctx.live.offline.fetch_sub(1, Ordering::Relaxed);
                    match reconnected {
                        Ok(ws) => ws,
                        Err(e) => {
                            self.stats.error = Some(format!("{e:#}"));
                            break;
                        }
                    }
                }
            };
            let ended = self.session(&mut ws, resuming).await;
            resuming = true;
            match ended {
                Ok(()) => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    break;
                }
                Err(e) => match e.downcast::<SocketLost>() {
                    Ok(lost) => {
                        *self
                            .stats
                            .disconnects
                            .entry(lost.cause.clone())
                            .or_default() += 1;
                        if !lost.retry {
                            self.stats.error = Some(lost.to_string());
                            break;
                        }
                    }
                    Err(e) => {
                        self.stats.error = Some(format!("{e:#}"));
                        break;
                    }
                },
            }
        }
        self.stats.counters.unacked = self.pending.len() as u64;
        ClientOutcome {
            conversation_id: self.conversation_id,
            tracker: self.tracker,
            stats: self.stats,
        }
    }

    /// A new socket, to the next node in turn: a client of a killed node finds the other one
    /// on its first attempt. Gives up only when the final sync's deadline has passed or the
    /// server refuses the account.
    async fn reconnect(&mut self) -> anyhow::Result<Ws> {
        let lost_at = Instant::now();
        self.backoff.reset();
        loop {
            if let Stage::FinalSync { deadline } = self.stage() {
                if Instant::now() >= deadline {
                    bail!("could not reconnect before the end of the run");
                }
            }
            tokio::time::sleep(self.backoff.next_delay()).await;
            self.node = (self.node + 1) % self.nodes.len();
            let open = recovery::connect_ready(self.nodes[self.node], &self.token);
            match tokio::time::timeout(OPEN_TIMEOUT, open).await {
                Ok(Ok(ws)) => {
                    self.stats.reconnects += 1;
                    bump(&self.ctx.live.reconnects);
                    self.stats.back_online.record(lost_at.elapsed());
                    return Ok(ws);
                }
                Ok(Err(e)) => {
                    if e.downcast_ref::<SocketLost>().is_some_and(|l| !l.retry) {
                        return Err(e);
                    }
                    self.stats.failed_attempts += 1;
                }
                Err(_) => self.stats.failed_attempts += 1,
            }
        }
    }

    /// Drives one socket: sends on a ticker while the stage says so, reads replies and
    /// events, and returns when the run is over for this client (Ok) or the socket is lost
    /// (a `SocketLost` error); any other error is a protocol fault that ends the client.
    async fn session(&mut self, ws: &mut Ws, resuming: bool) -> anyhow::Result<()> {
        self.last_frame_at = Instant::now();
        if resuming {
            self.resume(ws).await?;
        }
        let mut stage = self.ctx.stage.clone();
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / self.ctx.rate));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let now = Instant::now();
            let current = *stage.borrow_and_update();
            match current {
                Stage::Sending => {}
                Stage::Draining => self.drain_check(),
                Stage::FinalSync { deadline } => {
                    if !self.final_sync_started {
                        self.final_sync_started = true;
                        self.sync_all(ws).await?;
                    }
                    if self.syncs.is_empty() {
                        self.stats.final_sync_done = !self.final_sync_refused;
                        return Ok(());
                    }
                    if now >= deadline {
                        return Ok(());
                    }
                }
            }
            self.sync_expired_gaps(ws).await?;
            if now.duration_since(self.last_frame_at) >= SILENCE_TIMEOUT {
                return Err(SocketLost::silent(SILENCE_TIMEOUT).into());
            }
            let wake = self
                .gap_deadlines
                .values()
                .copied()
                .fold(now + POLL, Instant::min);
            tokio::select! {
                _ = ticker.tick(), if current == Stage::Sending => self.send_next(ws).await?,
                frame = recovery::next_frame(ws) => {
                    self.last_frame_at = Instant::now();
                    if let Some(text) = frame? {
                        self.on_frame(ws, &text).await?;
                    }
                }
                changed = stage.changed() => changed.context("coordinator gone")?,
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    /// On a new socket: what the old one had in flight is void; sync from the cursors and
    /// send again what was never acknowledged, unless the final sync has begun (the peer may
    /// be done already, so a message committed now could not be expected of it).
    async fn resume(&mut self, ws: &mut Ws) -> anyhow::Result<()> {
        self.tracker.new_socket();
        self.syncs.clear();
        // The resume sync covers every hole.
        self.gap_deadlines.clear();
        let final_sync = matches!(self.stage(), Stage::FinalSync { .. });
        // After the final sync began, this sync is the final one.
        self.final_sync_started |= final_sync;
        self.sync_all(ws).await?;
        if final_sync {
            return Ok(());
        }
        let unanswered: Vec<String> = self.pending.keys().cloned().collect();
        for client_id in unanswered {
            if let Some(send) = self.pending.get_mut(&client_id) {
                if !send.retried {
                    send.retried = true;
                    self.stats.retried_sends += 1;
                }
            }
            self.send_times()?.remove(&client_id);
            self.send_message(ws, &client_id).await?;
        }
        Ok(())
    }

    fn drain_check(&mut self) {
        if !self.drained && self.pending.is_empty() && self.last_frame_at.elapsed() >= QUIET {
            self.drained = true;
            bump(&self.ctx.live.drained);
        }
    }

    async fn send_next(&mut self, ws: &mut Ws) -> anyhow::Result<()> {
        self.sends += 1;
        let client_id = format!("u{}-{}-{}", self.user_id, self.ctx.run_tag, self.sends);
        let now = Instant::now();
        self.send_times()?.insert(client_id.clone(), now);
        self.pending.insert(
            client_id.clone(),
            PendingSend {
                sent_at: now,
                retried: false,
            },
        );
        self.stats.counters.sent += 1;
        bump(&self.ctx.live.sent);
        self.send_message(ws, &client_id).await
    }

    async fn send_message(&mut self, ws: &mut Ws, client_id: &str) -> anyhow::Result<()> {
        let data = json!({ "conversation_id": self.conversation_id, "client_id": client_id, "text": &*self.ctx.text });
        write(ws, client::command(client_id, "chat.send", data)).await
    }

    async fn on_frame(&mut self, ws: &mut Ws, text: &str) -> anyhow::Result<()> {
        let frame: Value = serde_json::from_str(text).context("frame is not JSON")?;
        if let Some(re) = frame["re"].as_str() {
            if let Some(asked) = self.syncs.remove(re) {
                return self.on_synced(ws, asked, &frame).await;
            }
            if let Some(send) = self.pending.remove(re) {
                self.on_ack(send, &frame)?;
            }
            return Ok(());
        }
        match frame["type"].as_str() {
            Some("chat.message") => self.on_message(ws, &frame).await,
            Some("session.resync") => {
                self.stats.resyncs += 1;
                self.sync_all(ws).await
            }
            _ => Ok(()),
        }
    }

    fn on_ack(&mut self, send: PendingSend, reply: &Value) -> anyhow::Result<()> {
        if reply["ok"] != true {
            self.stats.counters.errors += 1;
            if self.stats.counters.errors <= 3 {
                eprintln!("error reply: {}", reply["error"]);
            }
            return Ok(());
        }
        let seq = reply["data"]["message"]["seq"]
            .as_i64()
            .context("chat.send reply without message.seq")?;
        if matches!(self.stage(), Stage::FinalSync { .. }) {
            self.stats.acked_late += 1;
            return Ok(());
        }
        self.stats.counters.acked += 1;
        bump(&self.ctx.live.acked);
        self.stats.acked_seqs.push(seq);
        if send.retried {
            if reply["data"]["duplicate"] == true {
                self.stats.retried_already_committed += 1;
            }
        } else {
            self.stats.ack.record(send.sent_at.elapsed());
        }
        Ok(())
    }

    async fn on_message(&mut self, ws: &mut Ws, event: &Value) -> anyhow::Result<()> {
        let message = &event["data"];
        let conversation_id = message["conversation_id"]
            .as_i64()
            .context("chat.message without conversation_id")?;
        let seq = event["seq"].as_i64().context("chat.message without seq")?;
        let sender_id = message["sender_id"]
            .as_i64()
            .context("chat.message without sender_id")?;
        let Some(arrival) = self
            .tracker
            .receive(conversation_id, seq, sender_id, Via::Live)
        else {
            return Ok(());
        };
        if arrival != Arrival::Duplicate && sender_id != self.user_id {
            bump(&self.ctx.live.from_peer_live);
            let sent_at = match message["client_id"].as_str() {
                Some(client_id) => self.send_times()?.remove(client_id),
                None => None,
            };
            if let Some(at) = sent_at {
                self.stats.delivery.record(at.elapsed());
            }
        }
        if let Arrival::Gap { .. } = arrival {
            if self.ctx.gap_grace.is_zero() {
                if self.tracker.begin_sync(conversation_id) {
                    self.sync_from_cursors(ws, &[conversation_id]).await?;
                }
            } else {
                let at = Instant::now() + self.ctx.gap_grace;
                self.gap_deadlines.entry(conversation_id).or_insert(at);
            }
        }
        Ok(())
    }

    /// Syncs the conversations whose holes outlived the gap grace.
    async fn sync_expired_gaps(&mut self, ws: &mut Ws) -> anyhow::Result<()> {
        let now = Instant::now();
        let expired: Vec<i64> = self
            .gap_deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(conversation_id, _)| *conversation_id)
            .collect();
        let mut due = Vec::new();
        for conversation_id in expired {
            self.gap_deadlines.remove(&conversation_id);
            if self.tracker.holes(conversation_id) > 0 && self.tracker.begin_sync(conversation_id) {
                due.push(conversation_id);
            }
        }
        self.sync_from_cursors(ws, &due).await
    }

    /// Syncs every conversation (new socket, `session.resync`, final sync).
    async fn sync_all(&mut self, ws: &mut Ws) -> anyhow::Result<()> {
        let conversations = self.tracker.conversations();
        let due: Vec<i64> = conversations
            .into_iter()
            .filter(|&c| self.tracker.begin_sync(c))
            .collect();
        self.sync_from_cursors(ws, &due).await
    }

    /// Asks for everything after each conversation's contiguous cursor.
    async fn sync_from_cursors(
        &mut self,
        ws: &mut Ws,
        conversations: &[i64],
    ) -> anyhow::Result<()> {
        for chunk in conversations.chunks(MAX_SYNC_CURSORS) {
            let cursors = chunk
                .iter()
                .filter_map(|&c| self.tracker.cursor(c).map(|seq| (c, seq)))
                .collect();
            self.request_sync(ws, cursors).await?;
        }
        Ok(())
    }

    async fn request_sync(
        &mut self,
        ws: &mut Ws,
        cursors: BTreeMap<i64, i64>,
    ) -> anyhow::Result<()> {
        if cursors.is_empty() {
            return Ok(());
        }
        self.requests += 1;
        let id = format!("s{}", self.requests);
        let data = recovery::sync_data(&cursors, self.ctx.sync_limit);
        self.syncs.insert(id.clone(), cursors);
        self.stats.sync_requests += 1;
        write(ws, client::command(&id, "chat.sync", data)).await
    }

    /// Takes in one page and asks for the next where a conversation said `more`.
    async fn on_synced(
        &mut self,
        ws: &mut Ws,
        asked: BTreeMap<i64, i64>,
        reply: &Value,
    ) -> anyhow::Result<()> {
        if reply["ok"] != true {
            self.stats.sync_errors += 1;
            self.final_sync_refused |= matches!(self.stage(), Stage::FinalSync { .. });
            if self.stats.sync_errors <= 3 {
                eprintln!("chat.sync refused: {}", reply["error"]);
            }
            // Not asked again at once (that could hammer a failing server): the next gap,
            // resync or the final sync will.
            let again: Vec<i64> = asked
                .keys()
                .copied()
                .filter(|&c| self.tracker.end_sync(c))
                .collect();
            return self.sync_from_cursors(ws, &again).await;
        }
        let page = SyncReply::parse(&reply["data"])?;
        let mut next_page = BTreeMap::new();
        let mut progressed = false;
        let mut finished = Vec::new();
        for stream in &page.results {
            let Some(&cursor) = asked.get(&stream.conversation_id) else {
                continue;
            };
            if !stream.in_order(cursor) {
                self.stats.sync_reply_violations += 1;
            }
            for m in &stream.messages {
                let arrival =
                    self.tracker
                        .receive(stream.conversation_id, m.seq, m.sender_id, Via::Sync);
                let new = arrival.is_some_and(|a| a != Arrival::Duplicate);
                if new && m.sender_id != self.user_id {
                    bump(&self.ctx.live.from_peer_by_sync);
                    // Not measured: it did not come the live way. Dropped to keep the map small.
                    if let Some(client_id) = &m.client_id {
                        self.send_times()?.remove(client_id);
                    }
                }
            }
            match stream.next_cursor(cursor) {
                Some(next) => {
                    progressed |= next > cursor;
                    next_page.insert(stream.conversation_id, next);
                }
                None => finished.push(stream.conversation_id),
            }
        }
        for &conversation_id in asked.keys() {
            if !page
                .results
                .iter()
                .any(|s| s.conversation_id == conversation_id)
            {
                self.stats.sync_reply_violations += 1;
                finished.push(conversation_id);
            }
        }
        if !next_page.is_empty() && !progressed {
            // Asking the same cursors again would loop forever (the server promises at least
            // one message per reply); the final sync tries once more.
            self.stats.sync_stalls += 1;
            finished.extend(std::mem::take(&mut next_page).into_keys());
        }
        self.request_sync(ws, next_page).await?;
        let again: Vec<i64> = finished
            .into_iter()
            .filter(|&c| self.tracker.end_sync(c))
            .collect();
        self.sync_from_cursors(ws, &again).await
    }
}

/// Writes a frame; a failure means the socket is gone.
async fn write(ws: &mut Ws, frame: tokio_tungstenite::tungstenite::Message) -> anyhow::Result<()> {
    ws.send(frame)
        .await
        .map_err(|e| SocketLost::broken(&e).into())
}

/// The nodes a client knows, its own first (one when both addresses are the same).
fn nodes(own: SocketAddr, other: SocketAddr) -> Vec<SocketAddr> {
    if own == other {
        vec![own]
    } else {
        vec![own, other]
    }
}

pub async fn run(addr: SocketAddr, args: Args) -> anyhow::Result<Report> {
    if args.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    if args.sync_limit.is_some_and(|l| l < 1) {
        bail!("--sync-limit must be at least 1");
    }
    let duration = Duration::from_secs(args.seconds);
    let peer_addr = args.peer_addr.unwrap_or(addr);
    let pairs = client::open_pairs(addr, peer_addr, &Phones::for_this_run(), args.pairs).await?;
    let (stage_tx, stage_rx) = watch::channel(Stage::Sending);
    let live = Arc::new(Live::default());
    let run_tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let ctx = Shared {
        stage: stage_rx,
        live: live.clone(),
        rate: args.rate,
        text: client::message_text(args.size).into(),
        sync_limit: args.sync_limit,
        gap_grace: Duration::from_millis(args.gap_grace_ms),
        run_tag: format!("{run_tag:x}").into(),
    };
    let started = Instant::now();
    // Two clients per pair, in pair order: outcomes are matched up by position.
    let mut tasks = Vec::with_capacity(pairs.len() * 2);
    for pair in pairs {
        let times = SendTimes::default();
        for (user, ws, own, other) in [
            (pair.a, pair.ws_a, addr, peer_addr),
            (pair.b, pair.ws_b, peer_addr, addr),
        ] {
            let client = ChatClient::new(
                ctx.clone(),
                user,
                pair.conversation_id,
                pair.start_seq,
                nodes(own, other),
                times.clone(),
            );
            tasks.push(tokio::spawn(client.run(ws)));
        }
    }
    let n = tasks.len() as u64;

    let mut curves = Curves::default();
    let mut progress = Progress::start("chat");
    progress
        .until(duration, |_| {
            curves.sample(started.elapsed(), &live);
            (live.status(started.elapsed()), false)
        })
        .await;
    progress.finish(&live.status(started.elapsed()));

    let _ = stage_tx.send(Stage::Draining);
    let mut progress = Progress::start("drain");
    progress
        .until(GRACE, |_| {
            curves.sample(started.elapsed(), &live);
            let drained = count(&live.drained);
            let status = format!("{drained}/{n} drained  {}", live.status(started.elapsed()));
            (status, drained >= n)
        })
        .await;
    progress.finish(&format!("{}/{n} drained", count(&live.drained)));

    let _ = stage_tx.send(Stage::FinalSync {
        deadline: Instant::now() + FINAL_SYNC_TIMEOUT,
    });
    let mut progress = Progress::start("final sync");
    // Clients give up by the deadline; an attempt already under way may take OPEN_TIMEOUT more.
    progress
        .until(FINAL_SYNC_TIMEOUT + OPEN_TIMEOUT + BACKOFF_CAP, |_| {
            let done = tasks.iter().filter(|t| t.is_finished()).count();
            (format!("{done}/{n} clients done"), done as u64 == n)
        })
        .await;
    progress.finish("done");

    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.context("client task")?);
    }
    Ok(summarise(&args, outcomes, curves, started.elapsed()))
}

/// Acked messages per second and clients without a socket, sampled on every progress tick.
#[derive(Default)]
struct Curves {
    throughput: Vec<(f64, f64)>,
    offline: Vec<(f64, f64)>,
    last: (f64, u64),
}

impl Curves {
    fn sample(&mut self, elapsed: Duration, live: &Live) {
        let t = elapsed.as_secs_f64();
        self.offline.push((t, count(&live.offline) as f64));
        // Over each half-second: finer is noise.
        let acked = count(&live.acked);
        if t - self.last.0 >= 0.5 {
            let rate = acked.saturating_sub(self.last.1) as f64 / (t - self.last.0);
            self.throughput.push((t, rate));
            self.last = (t, acked);
        }
    }
}

/// What a run found, summed over clients, with the pair-level checks: each client's peer
/// must hold its acknowledged messages ("never" otherwise), and so must the client itself.
#[derive(Default)]
struct Verdict {
    never_recovered: u64,
    own_acked_missing: u64,
    holes: u64,
}

fn verdict(outcomes: &[ClientOutcome]) -> Verdict {
    let mut v = Verdict::default();
    for pair in outcomes.chunks_exact(2) {
        let (a, b) = (&pair[0], &pair[1]);
        v.never_recovered += b.lacks_from(a) + a.lacks_from(b);
        v.own_acked_missing += a.lacks_from(a) + b.lacks_from(b);
    }
    for o in outcomes {
        v.holes += o.tracker.holes(o.conversation_id);
    }
    v
}

fn summarise(
    args: &Args,
    outcomes: Vec<ClientOutcome>,
    curves: Curves,
    elapsed: Duration,
) -> Report {
    let v = verdict(&outcomes);
    let mut counts = tracker::Counts::default();
    let mut s = ClientStats::default();
    let mut client_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut failed = 0u64;
    let mut without_final_sync = 0u64;
    for mut o in outcomes {
        counts.add(&o.tracker.counts);
        if let Some(e) = o.stats.error.take() {
            failed += 1;
            *client_errors.entry(e).or_default() += 1;
        }
        without_final_sync += u64::from(!o.stats.final_sync_done);
        s.absorb(o.stats);
    }
    let c = &s.counters;
    let mut failures = Vec::new();
    for (what, n) in [
        (
            "never recovered (acked, not held by the recipient after the final sync)",
            v.never_recovered,
        ),
        (
            "own acked messages missing after the final sync",
            v.own_acked_missing,
        ),
        ("holes never filled", v.holes),
        (
            "duplicates delivered live on one socket",
            counts.duplicates_live,
        ),
        (
            "sync replies out of order or incomplete",
            s.sync_reply_violations,
        ),
        ("sync pages that made no progress", s.sync_stalls),
    ] {
        if n > 0 {
            failures.push(format!("{what}: {n}"));
        }
    }
    let mut figures = vec![
        ("sent", json!(c.sent)),
        ("acked", json!(c.acked)),
        ("errors", json!(c.errors)),
        ("unacked", json!(c.unacked)),
        ("acked_after_final_sync_began", json!(s.acked_late)),
        ("throughput_acked_per_s", json!(per_sec(c.acked, elapsed))),
        ("retried_sends", json!(s.retried_sends)),
        (
            "retried_already_committed",
            json!(s.retried_already_committed),
        ),
        ("reconnects", json!(s.reconnects)),
        ("reconnect_attempts_failed", json!(s.failed_attempts)),
        ("resyncs_received", json!(s.resyncs)),
        ("gaps_detected", json!(counts.gaps)),
        ("gap_seqs_skipped", json!(counts.gap_seqs)),
        ("sync_requests", json!(s.sync_requests)),
        ("sync_errors", json!(s.sync_errors)),
        ("recovered_live", json!(counts.from_peer.live)),
        ("recovered_by_sync", json!(counts.from_peer.by_sync)),
        ("never_recovered", json!(v.never_recovered)),
        ("own_acked_missing", json!(v.own_acked_missing)),
        ("holes_never_filled", json!(v.holes)),
        ("duplicates_live", json!(counts.duplicates_live)),
        (
            "duplicates_live_across_sockets",
            json!(counts.duplicates_live_across_sockets),
        ),
        (
            "duplicates_in_sync_replies",
            json!(counts.duplicates_in_sync),
        ),
        ("sync_reply_violations", json!(s.sync_reply_violations)),
        ("sync_stalls", json!(s.sync_stalls)),
        ("clients_without_final_sync", json!(without_final_sync)),
        ("clients_failed", json!(failed)),
    ];
    if !s.disconnects.is_empty() {
        figures.push(("disconnect_causes", json!(s.disconnects)));
    }
    if !client_errors.is_empty() {
        figures.push(("client_errors", json!(client_errors)));
    }
    Report {
        scenario: "chat",
        params: json!({
            "pairs": args.pairs, "rate_per_user": args.rate, "seconds": args.seconds,
            "size": args.size, "peer_addr": args.peer_addr.map(|a| a.to_string()),
            "sync_limit": args.sync_limit, "gap_grace_ms": args.gap_grace_ms,
        }),
        elapsed,
        figures,
        latencies: vec![
            ("send -> ack", s.ack),
            ("send -> recipient", s.delivery),
            ("socket lost -> ready", s.back_online),
        ],
        series: vec![
            Series {
                title: "acked messages per second",
                x_title: "seconds",
                y_title: "messages/s",
                points: curves.throughput,
            },
            Series {
                title: "clients without a socket",
                x_title: "seconds",
                y_title: "clients",
                points: curves.offline,
            },
        ],
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONV: i64 = 7;

    fn outcome(user_id: i64, acked: &[i64], held: &[(i64, i64)]) -> ClientOutcome {
        let mut tracker = Tracker::new(user_id);
        tracker.follow(CONV, 0);
        for &(seq, sender) in held {
            tracker.receive(CONV, seq, sender, Via::Sync);
        }
        ClientOutcome {
            conversation_id: CONV,
            tracker,
            stats: ClientStats {
                acked_seqs: acked.to_vec(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn never_counts_the_peers_acked_messages_the_recipient_lacks() {
        // A sent 1, 2, 3 (acked) and B sent 4 (acked); B lacks 2, A lacks its own 3.
        let a = outcome(1, &[1, 2, 3], &[(1, 1), (2, 1), (4, 2)]);
        let b = outcome(2, &[4], &[(1, 1), (3, 1), (4, 2)]);
        let v = verdict(&[a, b]);
        assert_eq!(v.never_recovered, 1);
        assert_eq!(v.own_acked_missing, 1);
        assert_eq!(v.holes, 2, "A misses 3 below 4, B misses 2");
    }

    #[test]
    fn the_report_names_what_came_live_by_sync_and_never_and_fails_on_never() {
        let args = Args {
            pairs: 1,
            rate: 1.0,
            seconds: 1,
            size: 8,
            peer_addr: None,
            sync_limit: None,
            gap_grace_ms: 0,
        };
        let mut a = outcome(1, &[1, 2], &[(1, 1), (2, 1)]);
        a.tracker.receive(CONV, 3, 2, Via::Live);
        a.stats.retried_sends = 1;
        a.stats.retried_already_committed = 1;
        a.stats.disconnects.insert("close 1001".into(), 1);
        a.stats.final_sync_done = true;
        // B got A's 1 by sync and never A's 2; its own 3 it holds.
        let b = outcome(2, &[3], &[(1, 1), (3, 2)]);
        let report = summarise(&args, vec![a, b], Curves::default(), Duration::from_secs(1));
        let j = report.json();
        let f = &j["figures"];
        assert_eq!(f["recovered_live"], 1, "A got B's 3 live");
        assert_eq!(f["recovered_by_sync"], 1, "B got A's 1 by sync");
        assert_eq!(f["never_recovered"], 1);
        assert_eq!(f["retried_already_committed"], 1);
        assert_eq!(f["clients_without_final_sync"], 1);
        assert_eq!(f["disconnect_causes"]["close 1001"], 1);
        assert!(!report.passed());
        assert!(report.failures[0].starts_with("never recovered"));
    }

    #[test]
    fn a_client_with_only_one_node_reconnects_to_it() {
        let (a, b): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1".parse().expect("addr"),
            "127.0.0.1:2".parse().expect("addr"),
        );
        assert_eq!(nodes(a, a), vec![a]);
        assert_eq!(nodes(b, a), vec![b, a]);
    }
}
