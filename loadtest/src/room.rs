//! Scenario `room`: one live room (`docs/live.md`), N spectators and one host. It measures
//! what a room costs the server: comment→spectator deliveries per second and their latency
//! with the host commenting as fast as the server acknowledges or paced, a room of many
//! spectators held, and what a like storm costs (every spectator tapping; the room must answer
//! with at most one `room.stats` a second per node, never one event per tap).
//!
//! The run, in order:
//!
//! 1. The host (the account of `--host-phone`, which needs the `appraiser` role: with
//!    `--grant-with PATH` the scenario runs `PATH admin grant-role` after the host's first
//!    login, with its own environment, so give it the server's `DUOXIE_DATA_DIR` and
//!    `DATABASE_URL`) logs in, then N spectators, each a real account (dev-code login).
//! 2. Only then the host opens its socket (one left unread through a long set-up would be
//!    closed by the server's heartbeat), ends the rooms it left open, creates a room, starts
//!    it and joins it; the spectators join it, each on its own socket (every second one on
//!    `--peer-addr` when given: the comments then reach half of them through the bus).
//! 3. Warm-up: the host sends one comment and every spectator must receive it, so that the
//!    live path (a node's bus subscription included) is in place before anything is timed.
//! 4. Hold (`--hold-seconds`): nothing is sent; sockets must stay open, and `room.stats`
//!    must say how many watch.
//! 5. Comments: the host sends `--comments` comments, every `--interval-ms` (paced), or with
//!    0 as fast as the server takes them, up to `--in-flight` unanswered. Each text carries its
//!    index (`k<index> …`); the host notes the send time by index, and each spectator looks it
//!    up on arrival (one process, one clock): that is the comment→spectator latency.
//! 6. Like storm (`--taps-per-sec` above 0, for `--storm-seconds`): every spectator sends
//!    `room.like` frames of `--taps-per-frame` taps, spread over the second; the `room.stats`
//!    frames each spectator gets are counted.
//! 7. Final check: a spectator that lacks an acknowledged comment joins again with
//!    `since_seq`, as the protocol tells clients to on a gap; what it still lacks is "never"
//!    and fails the run, as do duplicates, dropped sockets and refused joins.
//!
//! Deliveries per second = comment frames received by spectators (warm-up excluded) over the
//! time from the host's first timed send to the last delivery. Spectators parse comment
//! frames with a substring scan, not a JSON parser: at a million frames a second the load
//! generator shares the 2 cores with the server, and its own parsing would be measured.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::client::{self, Phones, SourceAddrs, User, Ws};
use crate::progress::{per_sec, Progress};
use crate::recovery::SocketLost;
use crate::report::{Report, Series};
use crate::stats::Histogram;

#[derive(clap::Args)]
pub struct Args {
    /// Spectators: each a real account on its own socket, joined to the room.
    #[arg(long, default_value_t = 1000)]
    spectators: usize,
    /// Comments the host sends in the timed phase.
    #[arg(long, default_value_t = 300)]
    comments: usize,
    /// Milliseconds between the host's comments; 0 sends as fast as the server acknowledges
    /// them, with up to --in-flight unanswered.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
    /// Unanswered comments the host allows itself at full speed (--interval-ms 0).
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Comment text size in bytes, the index stamp included (at most 200 characters).
    #[arg(long, default_value_t = 48)]
    size: usize,
    /// Put every second spectator on this node (host:port of another node of the same
    /// deployment); the host stays on --addr.
    #[arg(long)]
    peer_addr: Option<SocketAddr>,
    /// Hold the joined room this long before the comments, in seconds.
    #[arg(long, default_value_t = 0)]
    hold_seconds: u64,
    /// Like storm after the comments: taps per second of every spectator (0: no storm).
    #[arg(long, default_value_t = 0.0)]
    taps_per_sec: f64,
    /// Taps per `room.like` frame (a client batches taps), 1-20.
    #[arg(long, default_value_t = 1)]
    taps_per_frame: u32,
    /// How long the like storm lasts, in seconds.
    #[arg(long, default_value_t = 10)]
    storm_seconds: u64,
    /// The host's phone; its account needs the `appraiser` role (see --grant-with).
    #[arg(long, default_value = "19900000000")]
    host_phone: String,
    /// Grant the host the role by running `PATH admin grant-role --phone .. --role appraiser`
    /// after its first login; the command inherits this process's environment, so set the
    /// server's DUOXIE_DATA_DIR (and DATABASE_URL) for it.
    #[arg(long)]
    grant_with: Option<PathBuf>,
    /// Socket opens and joins in flight at once.
    #[arg(long, default_value_t = 100)]
    join_concurrency: usize,
    /// Client source addresses, used round-robin (e.g. 127.0.0.1,127.0.0.2): one address
    /// offers about 28k ports towards one server port.
    #[arg(long, value_delimiter = ',')]
    source_addrs: Vec<IpAddr>,
}

/// A spectator whose socket and join take longer than this counts as refused.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long every spectator may take to receive the warm-up comment.
const WARMUP_TIMEOUT: Duration = Duration::from_secs(30);
/// After the host's last answer: deliveries still due are waited for until none has come for
/// this long.
const DELIVERY_QUIET: Duration = Duration::from_secs(5);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);
/// After the storm: counts are flushed once a second, so the last `room.stats` comes within
/// about two.
const STATS_SETTLE: Duration = Duration::from_millis(2500);
/// The stats frames of the storm's first second are left out of its rate: its window starts
/// mid-second.
const STORM_EDGE: Duration = Duration::from_secs(1);
const FINAL_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest comment the server takes (`DUOXIE_LIVE_COMMENT_MAX_CHARS`).
const COMMENT_MAX_CHARS: usize = 200;

/// What the coordinator tells every task, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Joining,
    Warmup,
    Hold,
    Comments,
    Storm,
    StormOver,
    /// Acknowledged seqs are published: spectators that lack some join again.
    Final,
    Stop,
}

/// Running totals for the progress line, the curves and the coordinator's waits.
#[derive(Default)]
struct Live {
    joined: AtomicU64,
    join_failed: AtomicU64,
    dropped: AtomicU64,
    warm_received: AtomicU64,
    /// Timed comments received (new ones, not duplicates), over all spectators.
    delivered: AtomicU64,
    host_sent: AtomicU64,
    host_answered: AtomicU64,
    like_frames: AtomicU64,
    stats_frames: AtomicU64,
    viewers_max: AtomicU64,
    final_done: AtomicU64,
}

fn count(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What every task of a run shares.
struct Shared {
    room_id: i64,
    epoch: Instant,
    stage: watch::Receiver<Stage>,
    live: Live,
    /// Send time of comment `k` (0 is the warm-up), µs since `epoch` plus one; 0: not sent.
    sent_us: Vec<AtomicU64>,
    /// The storm's window, µs since `epoch` (0 until set).
    storm_from_us: AtomicU64,
    storm_to_us: AtomicU64,
    /// Seqs of the host's acknowledged comments, warm-up included: what every spectator must
    /// hold at the end. Set before `Stage::Final`.
    acked: OnceLock<Vec<i64>>,
    taps_per_sec: f64,
    taps_per_frame: u32,
}

impl Shared {
    fn us_now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn stage(&self) -> Stage {
        *self.stage.borrow()
    }
}

/// The seqs one spectator holds: all up to `floor`, plus those above it that came out of
/// order. In order, a frame costs a compare and an add.
#[derive(Default, Debug)]
struct Held {
    floor: i64,
    above: BTreeSet<i64>,
}

#[derive(Debug, PartialEq, Eq)]
enum Arrival {
    New,
    Duplicate,
    /// New, but lower than one already held: it was overtaken.
    Late,
    /// New, and seqs between the highest held and it are missing (so far).
    Gap,
}

impl Held {
    fn from(floor: i64) -> Self {
        Self {
            floor,
            above: BTreeSet::new(),
        }
    }

    fn highest(&self) -> i64 {
        self.above.last().copied().unwrap_or(self.floor)
    }

    fn contains(&self, seq: i64) -> bool {
        seq <= self.floor || self.above.contains(&seq)
    }

    fn insert(&mut self, seq: i64) -> Arrival {
        if seq == self.floor + 1 && self.above.is_empty() {
            self.floor = seq;
            return Arrival::New;
        }
        if self.contains(seq) {
            return Arrival::Duplicate;
        }
        let highest = self.highest();
        self.above.insert(seq);
        while self.above.first() == Some(&(self.floor + 1)) {
            self.above.pop_first();
            self.floor += 1;
        }
        if seq < highest {
            Arrival::Late
        } else if seq > highest + 1 {
            Arrival::Gap
        } else {
            Arrival::New
        }
    }

    fn missing(&self, seqs: &[i64]) -> u64 {
        seqs.iter().filter(|&&s| !self.contains(s)).count() as u64
    }
}

/// The comment text for index `k`: its stamp first (`k12 `), then filler to `size` bytes.
/// Digits only in the stamp: the screening reads a long run of digits as a phone number.
fn comment_text(k: usize, size: usize) -> String {
    let mut text = format!("k{k} ");
    let filler = ["这", "是", "老", "坑", "种", "吗"];
    let mut i = 0;
    while text.len() + 3 <= size && text.chars().count() < COMMENT_MAX_CHARS {
        text.push_str(filler[i % filler.len()]);
        i += 1;
    }
    while text.len() < size && text.chars().count() < COMMENT_MAX_CHARS {
        text.push('?');
    }
    text
}

/// The digits right after `key` in `text`, as a number.
fn number_after(text: &str, key: &str) -> Option<i64> {
    let rest = &text[text.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A `room.comment` event's seq and text stamp, read without parsing the JSON. Inside a JSON
/// string every quote is escaped, so `"seq":` and `"text":"k` can only be the keys. Replies
/// (a join's `missed` holds events too) and other events are `None`: they are parsed.
fn comment_fields(frame: &str) -> Option<(i64, Option<u64>)> {
    if frame.contains("\"re\":") || !frame.contains("\"type\":\"room.comment\"") {
        return None;
    }
    let seq = number_after(frame, "\"seq\":")?;
    let stamp = number_after(frame, "\"text\":\"k").map(|k| k as u64);
    Some((seq, stamp))
}

/// What a spectator hands back.
#[derive(Default)]
struct SpectatorOutcome {
    node: usize,
    joined: bool,
    join_error: Option<String>,
    dropped: Option<String>,
    open_join: Option<Duration>,
    held: Held,
    /// Timed comments received, and when the first and last came (µs since epoch).
    delivered: u64,
    first_delivery_us: u64,
    last_delivery_us: u64,
    duplicates: u64,
    late: u64,
    gaps: u64,
    latency: Histogram,
    /// Times of `room.stats` frames, µs since epoch.
    stats_at: Vec<u64>,
    last_likes: Option<i64>,
    announcements: u64,
    other_events: u64,
    like_frames: u64,
    /// `room.like` frames answered `ok` (each answers how many of its taps count).
    like_answered: u64,
    taps_accepted: u64,
    like_errors: BTreeMap<String, u64>,
    /// Missing acknowledged comments before the final rejoin.
    missing_live: u64,
    rejoined: bool,
    rejoin_recovered_flag: Option<bool>,
    recovered_by_rejoin: u64,
    never: u64,
    protocol_errors: u64,
}

struct Spectator {
    ctx: Arc<Shared>,
    index: usize,
    out: SpectatorOutcome,
    requests: u64,
}

impl Spectator {
    async fn run(
        mut self,
        addr: SocketAddr,
        token: String,
        source: Option<IpAddr>,
        permits: Arc<Semaphore>,
    ) -> SpectatorOutcome {
        let opened = {
            let _permit = permits.acquire().await;
            let started = Instant::now();
            match tokio::time::timeout(JOIN_TIMEOUT, self.open_and_join(addr, &token, source)).await
            {
                Ok(Ok(ws)) => {
                    self.out.open_join = Some(started.elapsed());
                    Ok(ws)
                }
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(_) => Err("open and join timed out".to_string()),
            }
        };
        let mut ws = match opened {
            Ok(ws) => ws,
            Err(e) => {
                self.out.join_error = Some(e);
                bump(&self.ctx.live.join_failed);
                return self.out;
            }
        };
        self.out.joined = true;
        bump(&self.ctx.live.joined);
        if let Err(e) = self.watch(&mut ws).await {
            let cause = match e.downcast::<SocketLost>() {
                Ok(lost) => lost.cause,
                Err(e) => format!("{e:#}"),
            };
            self.out.dropped = Some(cause);
            bump(&self.ctx.live.dropped);
            return self.out;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        self.out
    }

    async fn open_and_join(
        &mut self,
        addr: SocketAddr,
        token: &str,
        source: Option<IpAddr>,
    ) -> anyhow::Result<Ws> {
        let mut ws = client::connect(addr, token, source).await?;
        let data = json!({ "room_id": self.ctx.room_id });
        ws.send(client::command("j", "room.join", data)).await?;
        loop {
            let frame = next_text(&mut ws).await?;
            let v: Value = serde_json::from_str(&frame).context("frame is not JSON")?;
            if v["re"] == "j" {
                if v["ok"] != true {
                    bail!("room.join refused: {}", v["error"]);
                }
                let seq = v["data"]["room"]["seq"]
                    .as_i64()
                    .context("Joined without room.seq")?;
                self.out.held = Held::from(seq);
                return Ok(ws);
            }
            self.on_event(&v);
        }
    }

    /// Reads every frame until the coordinator says stop; likes during the storm; the final
    /// check when asked.
    async fn watch(&mut self, ws: &mut Ws) -> anyhow::Result<()> {
        let ctx = self.ctx.clone();
        let mut stage_rx = ctx.stage.clone();
        let mut final_started = false;
        let mut rejoin_pending = false;
        // One like frame every `period`, each spectator at its own phase of it.
        let frames_per_sec = ctx.taps_per_sec / f64::from(ctx.taps_per_frame.max(1));
        let period = (frames_per_sec > 0.0).then(|| Duration::from_secs_f64(1.0 / frames_per_sec));
        let mut ticker = None;
        loop {
            let stage = *stage_rx.borrow_and_update();
            match stage {
                Stage::Stop => return Ok(()),
                Stage::Storm if ticker.is_none() => {
                    if let Some(period) = period {
                        let phase = period.mul_f64((self.index % 1000) as f64 / 1000.0);
                        let mut t =
                            tokio::time::interval_at((Instant::now() + phase).into(), period);
                        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        ticker = Some(t);
                    }
                }
                Stage::StormOver | Stage::Final => ticker = None,
                _ => {}
            }
            if stage == Stage::Final && !final_started {
                final_started = true;
                rejoin_pending = self.final_check(ws).await?;
                if !rejoin_pending {
                    bump(&ctx.live.final_done);
                }
            }
            tokio::select! {
                frame = next_text(ws) => {
                    let frame = frame?;
                    if self.on_frame(&frame) && rejoin_pending {
                        rejoin_pending = false;
                        self.settle_final();
                        bump(&ctx.live.final_done);
                    }
                }
                _ = async { ticker.as_mut().expect("ticker").tick().await }, if ticker.is_some() => {
                    self.requests += 1;
                    let id = format!("l{}", self.requests);
                    let data = json!({ "room_id": ctx.room_id, "count": ctx.taps_per_frame });
                    ws.send(client::command(&id, "room.like", data))
                        .await
                        .map_err(|e| SocketLost::broken(&e))?;
                    self.out.like_frames += 1;
                    bump(&ctx.live.like_frames);
                }
                changed = stage_rx.changed() => changed.context("coordinator gone")?,
            }
        }
    }

    /// Handles one frame; true when it was the answer to the final rejoin.
    fn on_frame(&mut self, frame: &str) -> bool {
        if let Some((seq, stamp)) = comment_fields(frame) {
            self.on_comment(seq, stamp);
            return false;
        }
        let Ok(v) = serde_json::from_str::<Value>(frame) else {
            self.out.protocol_errors += 1;
            return false;
        };
        match v["re"].as_str() {
            Some("rejoin") => {
                self.on_rejoined(&v);
                true
            }
            Some(re) if re.starts_with('l') => {
                if v["ok"] == true {
                    self.out.like_answered += 1;
                    self.out.taps_accepted += v["data"]["accepted"].as_u64().unwrap_or(0);
                } else {
                    let code = v["error"]["code"].as_str().unwrap_or("?").to_string();
                    *self.out.like_errors.entry(code).or_default() += 1;
                }
                false
            }
            Some(_) => false,
            None => {
                self.on_event(&v);
                false
            }
        }
    }

    fn on_comment(&mut self, seq: i64, stamp: Option<u64>) {
        match self.out.held.insert(seq) {
            Arrival::Duplicate => {
                self.out.duplicates += 1;
                return;
            }
            Arrival::Late => self.out.late += 1,
            Arrival::Gap => self.out.gaps += 1,
            Arrival::New => {}
        }
        let Some(k) = stamp else { return };
        if k == 0 {
            bump(&self.ctx.live.warm_received);
            return;
        }
        let Some(sent) = self.ctx.sent_us.get(k as usize) else {
            return;
        };
        let now = self.ctx.us_now();
        let sent = sent.load(Ordering::Relaxed);
        if sent > 0 {
            self.out
                .latency
                .record(Duration::from_micros(now.saturating_sub(sent - 1)));
        }
        self.out.delivered += 1;
        if self.out.first_delivery_us == 0 {
            self.out.first_delivery_us = now;
        }
        self.out.last_delivery_us = now;
        bump(&self.ctx.live.delivered);
    }

    /// Events other than comments: stats, announcements, and what would end membership.
    fn on_event(&mut self, v: &Value) {
        match v["type"].as_str() {
            Some("room.stats") => {
                self.out.stats_at.push(self.ctx.us_now());
                bump(&self.ctx.live.stats_frames);
                let data = &v["data"];
                if let Some(viewers) = data["viewers"].as_u64() {
                    self.ctx
                        .live
                        .viewers_max
                        .fetch_max(viewers, Ordering::Relaxed);
                }
                self.out.last_likes = data["likes"].as_i64().or(self.out.last_likes);
            }
            Some("room.joined" | "room.left") => self.out.announcements += 1,
            Some("session.ready") => {}
            Some("room.comment") => {
                // A comment frame the scan did not take (it always should): count it anyway.
                self.out.protocol_errors += 1;
                if let Some(seq) = v["seq"].as_i64() {
                    self.on_comment(seq, None);
                }
            }
            _ => self.out.other_events += 1,
        }
    }

    /// Compares what it holds with what the host had acknowledged; joins again with
    /// `since_seq` when something is missing. True when a rejoin is under way.
    async fn final_check(&mut self, ws: &mut Ws) -> anyhow::Result<bool> {
        let Some(acked) = self.ctx.acked.get() else {
            return Ok(false);
        };
        self.out.missing_live = self.out.held.missing(acked);
        if self.out.missing_live == 0 {
            return Ok(false);
        }
        self.out.rejoined = true;
        let data = json!({ "room_id": self.ctx.room_id, "since_seq": self.out.held.floor });
        ws.send(client::command("rejoin", "room.join", data))
            .await
            .map_err(|e| SocketLost::broken(&e))?;
        Ok(true)
    }

    fn on_rejoined(&mut self, v: &Value) {
        if v["ok"] != true {
            self.out.protocol_errors += 1;
            return;
        }
        let data = &v["data"];
        self.out.rejoin_recovered_flag = data["recovered"].as_bool();
        let before = self
            .out
            .held
            .missing(self.ctx.acked.get().map_or(&[], |a| a));
        let missed = data["missed"].as_array().into_iter().flatten();
        let recent = data["comments"].as_array().into_iter().flatten();
        for seq in missed
            .filter(|e| e["type"] == "room.comment")
            .filter_map(|e| e["seq"].as_i64())
            .chain(recent.filter_map(|c| c["seq"].as_i64()))
        {
            self.out.held.insert(seq);
        }
        let after = self
            .out
            .held
            .missing(self.ctx.acked.get().map_or(&[], |a| a));
        self.out.recovered_by_rejoin = before - after;
    }

    fn settle_final(&mut self) {
        self.out.never = self
            .out
            .held
            .missing(self.ctx.acked.get().map_or(&[], |a| a));
    }
}

/// The next text frame, or why no more will come (`SocketLost`).
async fn next_text(ws: &mut Ws) -> anyhow::Result<Utf8Bytes> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text),
            Some(Ok(Message::Close(frame))) => {
                return Err(SocketLost::closed(frame.as_ref()).into())
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(SocketLost::broken(&e).into()),
            None => return Err(SocketLost::ended().into()),
        }
    }
}

/// The host: one socket, the room's owner, the only one commenting.
struct Host {
    ctx: Arc<Shared>,
    comments: usize,
    interval: Duration,
    in_flight: usize,
    size: usize,
    run_tag: String,
    /// Unanswered comments: request id → (index, sent at).
    pending: BTreeMap<String, (usize, Instant)>,
    out: HostOutcome,
}

#[derive(Default)]
struct HostOutcome {
    sent: u64,
    /// (index, seq) of every acknowledged comment, warm-up (index 0) included.
    acked: Vec<(usize, i64)>,
    refused: BTreeMap<String, u64>,
    ack: Histogram,
    first_send_us: u64,
    last_answer_us: u64,
    ended: bool,
    error: Option<String>,
}

/// Shared between the host task and the coordinator as it goes.
#[derive(Default)]
struct HostProgress {
    warm_acked: bool,
    comments_done: bool,
    acked_seqs: Vec<i64>,
}

impl Host {
    async fn run(mut self, mut ws: Ws, progress: Arc<Mutex<HostProgress>>) -> HostOutcome {
        if let Err(e) = self.drive(&mut ws, &progress).await {
            self.out.error = Some(format!("{e:#}"));
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        self.out
    }

    async fn drive(
        &mut self,
        ws: &mut Ws,
        progress: &Arc<Mutex<HostProgress>>,
    ) -> anyhow::Result<()> {
        let ctx = self.ctx.clone();
        let mut stage_rx = ctx.stage.clone();
        let mut next = 1usize;
        let mut warm_sent = false;
        let paced = !self.interval.is_zero();
        // Paced: started with the comments, so that no tick is owed for the time before; a
        // tick the host is late for is sent at once (the offered rate holds).
        let mut ticker: Option<tokio::time::Interval> = None;
        loop {
            let stage = *stage_rx.borrow_and_update();
            if stage >= Stage::Final {
                break;
            }
            if stage >= Stage::Warmup && !warm_sent {
                warm_sent = true;
                self.send(ws, 0).await?;
            }
            let sending = stage >= Stage::Comments && next <= self.comments;
            if sending && paced && ticker.is_none() {
                let mut t = tokio::time::interval(self.interval);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                ticker = Some(t);
            }
            if sending && !paced {
                while next <= self.comments && self.pending.len() < self.in_flight.max(1) {
                    self.send(ws, next).await?;
                    next += 1;
                }
            }
            if stage >= Stage::Comments && next > self.comments && self.pending.is_empty() {
                progress.lock().expect("host progress").comments_done = true;
            }
            tokio::select! {
                frame = next_text(ws) => {
                    let frame = frame?;
                    self.on_frame(&frame, progress)?;
                }
                _ = async { ticker.as_mut().expect("ticker").tick().await }, if sending && ticker.is_some() => {
                    self.send(ws, next).await?;
                    next += 1;
                }
                changed = stage_rx.changed() => changed.context("coordinator gone")?,
            }
        }
        // The final stage: wait for stop, then end the room (docs/live.md: `room.end`).
        while ctx.stage() != Stage::Stop {
            tokio::select! {
                frame = next_text(ws) => { frame?; }
                changed = stage_rx.changed() => changed.context("coordinator gone")?,
            }
        }
        let reply =
            client::request(ws, "end", "room.end", json!({ "room_id": ctx.room_id })).await?;
        self.out.ended = reply["room"]["status"] == "ended";
        Ok(())
    }

    async fn send(&mut self, ws: &mut Ws, k: usize) -> anyhow::Result<()> {
        let id = format!("c{}-{k}", self.run_tag);
        let text = comment_text(k, self.size);
        let data = json!({ "room_id": self.ctx.room_id, "text": text, "client_id": id });
        let now = self.ctx.us_now();
        if k > 0 {
            self.ctx.sent_us[k].store(now + 1, Ordering::Relaxed);
            if self.out.first_send_us == 0 {
                self.out.first_send_us = now;
            }
            bump(&self.ctx.live.host_sent);
        }
        self.pending.insert(id.clone(), (k, Instant::now()));
        self.out.sent += 1;
        ws.send(client::command(&id, "room.comment", data))
            .await
            .map_err(|e| SocketLost::broken(&e))?;
        Ok(())
    }

    fn on_frame(&mut self, frame: &str, progress: &Arc<Mutex<HostProgress>>) -> anyhow::Result<()> {
        // Its own comments come back as events like everyone's: only replies matter here.
        if comment_fields(frame).is_some() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(frame).context("frame is not JSON")?;
        let Some((k, sent_at)) = v["re"].as_str().and_then(|re| self.pending.remove(re)) else {
            return Ok(());
        };
        if k > 0 {
            bump(&self.ctx.live.host_answered);
            self.out.last_answer_us = self.ctx.us_now();
        }
        if v["ok"] == true {
            let seq = v["data"]["comment"]["seq"]
                .as_i64()
                .context("room.comment reply without comment.seq")?;
            self.out.acked.push((k, seq));
            let mut p = progress.lock().expect("host progress");
            p.acked_seqs.push(seq);
            if k > 0 {
                self.out.ack.record(sent_at.elapsed());
            } else {
                p.warm_acked = true;
            }
        } else {
            let code = v["error"]["code"].as_str().unwrap_or("?").to_string();
            if self.out.refused.values().sum::<u64>() < 3 {
                eprintln!("comment {k} refused: {}", v["error"]);
            }
            *self.out.refused.entry(code).or_default() += 1;
            if k == 0 {
                bail!("the warm-up comment was refused: {}", v["error"]);
            }
        }
        Ok(())
    }
}

/// The host's socket: ends the rooms it left open, and opens a live room it has joined.
/// Opened only once the spectators are logged in: a socket left unread through a long set-up
/// is closed by the server's heartbeat. Returns the socket and the room's id.
async fn open_room(addr: SocketAddr, args: &Args, host: &User) -> anyhow::Result<(Ws, i64)> {
    let mut ws = client::connect(addr, &host.token, None).await?;
    let mine = client::request(&mut ws, "mine", "room.mine", json!({})).await?;
    for room in mine["rooms"].as_array().into_iter().flatten() {
        if room["status"] != "ended" {
            let id = room["id"].as_i64().context("room without id")?;
            client::request(&mut ws, "end-old", "room.end", json!({ "room_id": id })).await?;
        }
    }
    let data = json!({ "title": "鉴宝压测直播间", "category": "jade", "cover": null, "scheduled_at": null });
    let created = match client::request(&mut ws, "create", "room.create", data).await {
        Ok(created) => created,
        Err(e) if e.to_string().contains("forbidden") => bail!(
            "room.create refused: the host {} needs the appraiser role (duoxie admin grant-role \
             --phone {} --role appraiser, with the server's data dir and database), or pass \
             --grant-with PATH_TO_DUOXIE: {e}",
            args.host_phone,
            args.host_phone
        ),
        Err(e) => return Err(e),
    };
    let room_id = created["room"]["id"].as_i64().context("room without id")?;
    client::request(
        &mut ws,
        "start",
        "room.start",
        json!({ "room_id": room_id }),
    )
    .await?;
    client::request(&mut ws, "join", "room.join", json!({ "room_id": room_id })).await?;
    Ok((ws, room_id))
}

pub async fn run(addr: SocketAddr, args: Args) -> anyhow::Result<Report> {
    if args.spectators == 0 {
        bail!("--spectators must be at least 1");
    }
    if !(1..=20).contains(&args.taps_per_frame) {
        bail!("--taps-per-frame must be 1-20");
    }
    if args.taps_per_sec < 0.0 {
        bail!("--taps-per-sec must not be negative");
    }
    let nodes: Vec<SocketAddr> = match args.peer_addr {
        Some(peer) if peer != addr => vec![addr, peer],
        _ => vec![addr],
    };
    let host = client::login_appraiser(addr, &args.host_phone, args.grant_with.as_deref()).await?;
    // Logins before sockets: a socket opened early would sit through a long set-up.
    let phones = Phones::for_this_run();
    let users = client::login_many(addr, &phones, args.spectators).await?;
    let (host_ws, room_id) = open_room(addr, &args, &host).await?;

    let (stage_tx, stage_rx) = watch::channel(Stage::Joining);
    let ctx = Arc::new(Shared {
        room_id,
        epoch: Instant::now(),
        stage: stage_rx,
        live: Live::default(),
        sent_us: (0..=args.comments).map(|_| AtomicU64::new(0)).collect(),
        storm_from_us: AtomicU64::new(0),
        storm_to_us: AtomicU64::new(0),
        acked: OnceLock::new(),
        taps_per_sec: args.taps_per_sec,
        taps_per_frame: args.taps_per_frame,
    });
    let run_tag = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let host_progress = Arc::new(Mutex::new(HostProgress::default()));
    let host = Host {
        ctx: ctx.clone(),
        comments: args.comments,
        interval: Duration::from_millis(args.interval_ms),
        in_flight: args.in_flight,
        size: args.size,
        run_tag,
        pending: BTreeMap::new(),
        out: HostOutcome::default(),
    };
    let host_task = tokio::spawn(host.run(host_ws, host_progress.clone()));

    // Join.
    let sources = SourceAddrs::new(args.source_addrs.clone());
    let permits = Arc::new(Semaphore::new(args.join_concurrency.max(1)));
    let n = args.spectators as u64;
    let mut tasks = Vec::with_capacity(users.len());
    for (i, user) in users.into_iter().enumerate() {
        let node = i % nodes.len();
        let spectator = Spectator {
            ctx: ctx.clone(),
            index: i,
            out: SpectatorOutcome {
                node,
                ..Default::default()
            },
            requests: 0,
        };
        tasks.push(tokio::spawn(spectator.run(
            nodes[node],
            user.token,
            sources.pick(i),
            permits.clone(),
        )));
    }
    let live = &ctx.live;
    let joining_started = Instant::now();
    let mut progress = Progress::start("join");
    progress
        .until(Duration::MAX, |_| {
            let (joined, failed) = (count(&live.joined), count(&live.join_failed));
            let status = format!(
                "{joined}/{n} joined ({:.0}/s)  {failed} refused",
                per_sec(joined, joining_started.elapsed())
            );
            (status, joined + failed >= n)
        })
        .await;
    let join_time = joining_started.elapsed();
    progress.finish(&format!(
        "{}/{n} joined in {:.2}s, {} refused",
        count(&live.joined),
        join_time.as_secs_f64(),
        count(&live.join_failed)
    ));

    // Warm-up: one comment, every joined spectator must hear it.
    let _ = stage_tx.send(Stage::Warmup);
    let mut progress = Progress::start("warm-up");
    let warm_ok = progress
        .until(WARMUP_TIMEOUT, |_| {
            let (got, joined) = (count(&live.warm_received), count(&live.joined));
            let acked = host_progress.lock().expect("host progress").warm_acked;
            let status = format!("warm-up comment acked: {acked}, received by {got}/{joined}");
            (status, acked && got + count(&live.dropped) >= joined)
        })
        .await;
    progress.finish(&format!(
        "received by {}/{}",
        count(&live.warm_received),
        count(&live.joined)
    ));
    if host_task.is_finished() {
        let out = host_task.await.context("host task")?;
        bail!("the host stopped: {}", out.error.unwrap_or_default());
    }

    // Hold.
    let _ = stage_tx.send(Stage::Hold);
    let hold = Duration::from_secs(args.hold_seconds);
    let hold_from_us = ctx.us_now();
    if !hold.is_zero() {
        let mut progress = Progress::start("hold");
        progress
            .until(hold, |_| {
                let status = format!(
                    "{} held  {} dropped  viewers (room.stats) {}",
                    count(&live.joined) - count(&live.dropped),
                    count(&live.dropped),
                    count(&live.viewers_max)
                );
                (status, false)
            })
            .await;
        progress.finish(&format!(
            "{} dropped, viewers (room.stats) {}",
            count(&live.dropped),
            count(&live.viewers_max)
        ));
    }
    let hold_to_us = ctx.us_now();

    // Comments.
    let _ = stage_tx.send(Stage::Comments);
    let comments_from = Instant::now();
    let mut curve = Vec::new();
    let mut last = (0.0, 0u64);
    let mut progress = Progress::start("comments");
    let mut quiet_since = (Instant::now(), 0u64);
    progress
        .until(DELIVERY_TIMEOUT, |elapsed| {
            let delivered = count(&live.delivered);
            let t = elapsed.as_secs_f64();
            if t - last.0 >= 0.5 {
                curve.push((t, (delivered - last.1) as f64 / (t - last.0)));
                last = (t, delivered);
            }
            if delivered != quiet_since.1 {
                quiet_since = (Instant::now(), delivered);
            }
            let p = host_progress.lock().expect("host progress");
            let alive = count(&live.joined) - count(&live.dropped);
            let expected = (p.acked_seqs.len() as u64).saturating_sub(1) * alive;
            let done = p.comments_done
                && (delivered >= expected || quiet_since.0.elapsed() >= DELIVERY_QUIET);
            let status = format!(
                "host sent {} answered {}  delivered {delivered} ({:.0}/s)  dropped {}",
                count(&live.host_sent),
                count(&live.host_answered),
                per_sec(delivered, comments_from.elapsed()),
                count(&live.dropped)
            );
            (status, done || host_task.is_finished())
        })
        .await;
    progress.finish(&format!("delivered {}", count(&live.delivered)));

    // Like storm.
    let storm = args.taps_per_sec > 0.0 && args.storm_seconds > 0;
    if storm {
        ctx.storm_from_us.store(ctx.us_now(), Ordering::Relaxed);
        let _ = stage_tx.send(Stage::Storm);
        let stats_before = count(&live.stats_frames);
        let mut progress = Progress::start("storm");
        progress
            .until(Duration::from_secs(args.storm_seconds), |elapsed| {
                let status = format!(
                    "like frames {} ({:.0}/s)  room.stats frames {}  dropped {}",
                    count(&live.like_frames),
                    per_sec(count(&live.like_frames), elapsed),
                    count(&live.stats_frames) - stats_before,
                    count(&live.dropped)
                );
                (status, false)
            })
            .await;
        ctx.storm_to_us.store(ctx.us_now(), Ordering::Relaxed);
        let _ = stage_tx.send(Stage::StormOver);
        progress.finish(&format!("{} like frames", count(&live.like_frames)));
        tokio::time::sleep(STATS_SETTLE).await;
    }

    // Final check.
    let acked_seqs = host_progress
        .lock()
        .expect("host progress")
        .acked_seqs
        .clone();
    let _ = ctx.acked.set(acked_seqs);
    let _ = stage_tx.send(Stage::Final);
    let mut progress = Progress::start("final");
    progress
        .until(FINAL_TIMEOUT, |_| {
            let alive = count(&live.joined) - count(&live.dropped);
            let done = count(&live.final_done);
            (format!("{done}/{alive} checked"), done >= alive)
        })
        .await;
    progress.finish(&format!("{} checked", count(&live.final_done)));
    let _ = stage_tx.send(Stage::Stop);

    let host = host_task.await.context("host task")?;
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.context("spectator task")?);
    }
    let windows = Windows {
        join_time,
        hold: (hold_from_us, hold_to_us),
        storm: storm.then(|| {
            (
                ctx.storm_from_us.load(Ordering::Relaxed),
                ctx.storm_to_us.load(Ordering::Relaxed),
            )
        }),
        warm_ok,
    };
    Ok(summarise(
        &args,
        nodes.len(),
        host,
        outcomes,
        windows,
        curve,
        count(&live.viewers_max),
        ctx.epoch.elapsed(),
    ))
}

struct Windows {
    join_time: Duration,
    hold: (u64, u64),
    storm: Option<(u64, u64)>,
    warm_ok: bool,
}

/// `room.stats` frames per spectator per second in a window, and the intervals between
/// consecutive ones inside it (ms).
fn stats_in(outcomes: &[SpectatorOutcome], from_us: u64, to_us: u64) -> (Vec<f64>, Histogram) {
    let secs = (to_us.saturating_sub(from_us)) as f64 / 1e6;
    let mut rates = Vec::new();
    let mut intervals = Vec::new();
    for o in outcomes.iter().filter(|o| o.joined && o.dropped.is_none()) {
        let inside: Vec<u64> = o
            .stats_at
            .iter()
            .copied()
            .filter(|&t| t >= from_us && t < to_us)
            .collect();
        if secs > 0.0 {
            rates.push(inside.len() as f64 / secs);
        }
        intervals.extend(inside.windows(2).map(|w| w[1] - w[0]));
    }
    (rates, Histogram::from_micros(intervals))
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    args: &Args,
    node_count: usize,
    host: HostOutcome,
    outcomes: Vec<SpectatorOutcome>,
    w: Windows,
    curve: Vec<(f64, f64)>,
    viewers_max: u64,
    elapsed: Duration,
) -> Report {
    let joined = outcomes.iter().filter(|o| o.joined).count() as u64;
    let mut join_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut drop_causes: BTreeMap<String, u64> = BTreeMap::new();
    let mut like_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut open_join = Histogram::default();
    let mut latency_all = Histogram::default();
    let mut latency_node = [Histogram::default(), Histogram::default()];
    // Spectators on the peer node that saw a gap / a late comment, and the same on addr.
    let mut out_of_order_by_node = [[0u64; 2]; 2];
    let (mut delivered, mut duplicates, mut late, mut gaps) = (0u64, 0u64, 0u64, 0u64);
    let (mut missing_live, mut rejoined, mut recovered, mut never) = (0u64, 0u64, 0u64, 0u64);
    let (mut rejoin_not_recovered, mut protocol_errors, mut announcements, mut other) =
        (0u64, 0u64, 0u64, 0u64);
    let (mut like_frames, mut like_answered, mut taps_accepted) = (0u64, 0u64, 0u64);
    let (mut first_delivery, mut last_delivery) = (u64::MAX, 0u64);
    let mut likes_seen = 0i64;
    let mut unchecked = 0u64;
    for o in &outcomes {
        if let Some(e) = &o.join_error {
            *join_errors.entry(e.clone()).or_default() += 1;
        }
        if let Some(e) = &o.dropped {
            *drop_causes.entry(e.clone()).or_default() += 1;
        }
        for (code, n) in &o.like_errors {
            *like_errors.entry(code.clone()).or_default() += n;
        }
        if let Some(d) = o.open_join {
            open_join.record(d);
        }
        delivered += o.delivered;
        duplicates += o.duplicates;
        late += o.late;
        gaps += o.gaps;
        let by_node = &mut out_of_order_by_node[o.node.min(1)];
        by_node[0] += u64::from(o.gaps > 0);
        by_node[1] += u64::from(o.late > 0);
        missing_live += o.missing_live;
        rejoined += u64::from(o.rejoined);
        rejoin_not_recovered += u64::from(o.rejoin_recovered_flag == Some(false));
        recovered += o.recovered_by_rejoin;
        never += o.never;
        protocol_errors += o.protocol_errors;
        announcements += o.announcements;
        other += o.other_events;
        like_frames += o.like_frames;
        like_answered += o.like_answered;
        taps_accepted += o.taps_accepted;
        likes_seen = likes_seen.max(o.last_likes.unwrap_or(0));
        if o.delivered > 0 {
            first_delivery = first_delivery.min(o.first_delivery_us);
            last_delivery = last_delivery.max(o.last_delivery_us);
        }
        if o.joined && o.dropped.is_none() && o.rejoined && o.rejoin_recovered_flag.is_none() {
            // Rejoin asked, never answered before stop.
            unchecked += 1;
        }
        latency_all.merge(o.latency.clone());
        latency_node[o.node.min(1)].merge(o.latency.clone());
    }
    let dropped = drop_causes.values().sum::<u64>();
    let timed_acked = host.acked.iter().filter(|(k, _)| *k > 0).count() as u64;
    let window_us = last_delivery.saturating_sub(host.first_send_us);
    let deliveries_per_s = if window_us > 0 {
        delivered as f64 / (window_us as f64 / 1e6)
    } else {
        0.0
    };
    let send_window_us = host.last_answer_us.saturating_sub(host.first_send_us);
    let (hold_rates, _) = stats_in(&outcomes, w.hold.0, w.hold.1);
    let mut failures = Vec::new();
    for (what, n) in [
        (
            "spectators refused or timed out joining",
            joined_failures(&outcomes),
        ),
        ("spectators dropped", dropped),
        (
            "never received (acknowledged, still missing after the rejoin)",
            never,
        ),
        ("duplicates delivered live", duplicates),
        ("rejoins never answered", unchecked),
        ("frames not understood", protocol_errors),
    ] {
        if n > 0 {
            failures.push(format!("{what}: {n}"));
        }
    }
    if !w.warm_ok {
        failures.push("the warm-up comment did not reach every spectator in time".into());
    }
    if let Some(e) = &host.error {
        failures.push(format!("host: {e}"));
    }
    let mut figures = vec![
        ("nodes", json!(node_count)),
        ("spectators_joined", json!(joined)),
        ("join_all_s", json!(w.join_time.as_secs_f64())),
        ("spectators_dropped", json!(dropped)),
        ("viewers_max_in_room_stats", json!(viewers_max)),
        ("comments_sent", json!(host.sent.saturating_sub(1))),
        ("comments_acked", json!(timed_acked)),
        (
            "comments_acked_per_s",
            json!(per_sec(timed_acked, Duration::from_micros(send_window_us))),
        ),
        ("deliveries", json!(delivered)),
        (
            "deliveries_expected",
            json!(timed_acked * (joined - dropped)),
        ),
        ("delivery_window_s", json!(window_us as f64 / 1e6)),
        ("deliveries_per_s", json!(deliveries_per_s)),
        (
            "first_delivery_after_first_send_ms",
            json!(if first_delivery == u64::MAX {
                0.0
            } else {
                first_delivery.saturating_sub(host.first_send_us) as f64 / 1000.0
            }),
        ),
        ("arrived_past_a_gap", json!(gaps)),
        ("arrived_late_out_of_order", json!(late)),
        (
            "spectators_with_gaps_on_addr_peer",
            json!(format!(
                "{} / {}",
                out_of_order_by_node[0][0], out_of_order_by_node[1][0]
            )),
        ),
        ("missing_before_rejoin", json!(missing_live)),
        ("spectators_rejoined", json!(rejoined)),
        ("rejoins_not_recovered", json!(rejoin_not_recovered)),
        ("recovered_by_rejoin", json!(recovered)),
        ("never_received", json!(never)),
        ("duplicates_live", json!(duplicates)),
        ("joined_left_announcements", json!(announcements)),
        ("other_events", json!(other)),
    ];
    if !hold_rates.is_empty() && w.hold.1 > w.hold.0 {
        figures.push(("hold_stats_per_spectator_per_s", json!(mean(&hold_rates))));
    }
    let mut stats_interval = Histogram::default();
    if let Some((from, to)) = w.storm {
        let edge = STORM_EDGE.as_micros() as u64;
        let (rates, intervals) = stats_in(&outcomes, from + edge, to);
        stats_interval = intervals;
        figures.extend([
            ("storm_like_frames", json!(like_frames)),
            (
                "storm_like_frames_per_s",
                json!(like_frames as f64 / ((to - from) as f64 / 1e6).max(1e-3)),
            ),
            ("storm_like_frames_answered_ok", json!(like_answered)),
            (
                "storm_like_frames_refused",
                json!(like_errors.values().sum::<u64>()),
            ),
            (
                "storm_taps_sent",
                json!(like_frames * u64::from(args.taps_per_frame)),
            ),
            ("storm_taps_accepted", json!(taps_accepted)),
            ("storm_likes_in_last_room_stats", json!(likes_seen)),
            ("storm_stats_per_spectator_per_s_mean", json!(mean(&rates))),
            ("storm_stats_per_spectator_per_s_max", json!(max(&rates))),
            (
                "storm_stats_interval_min_ms",
                json!(min_ms(&stats_interval)),
            ),
        ]);
    }
    if !like_errors.is_empty() {
        figures.push(("like_errors", json!(like_errors)));
    }
    if !host.refused.is_empty() {
        figures.push(("comments_refused", json!(host.refused)));
    }
    figures.push(("room_ended", json!(host.ended)));
    if !join_errors.is_empty() {
        figures.push(("join_errors", json!(join_errors)));
    }
    if !drop_causes.is_empty() {
        figures.push(("drop_causes", json!(drop_causes)));
    }
    let mut latencies = vec![("comment -> spectator", latency_all)];
    if node_count > 1 {
        let [a, b] = latency_node;
        latencies.push(("  spectators on addr", a));
        latencies.push(("  spectators on peer", b));
    }
    latencies.push(("host send -> ack", host.ack));
    latencies.push(("open + join", open_join));
    if w.storm.is_some() {
        latencies.push(("storm: stats interval", stats_interval));
    }
    Report {
        scenario: "room",
        params: json!({
            "spectators": args.spectators, "comments": args.comments,
            "interval_ms": args.interval_ms, "in_flight": args.in_flight, "size": args.size,
            "peer_addr": args.peer_addr.map(|a| a.to_string()), "hold_seconds": args.hold_seconds,
            "taps_per_sec": args.taps_per_sec, "taps_per_frame": args.taps_per_frame,
            "storm_seconds": args.storm_seconds,
        }),
        elapsed,
        figures,
        latencies,
        series: vec![Series {
            title: "comment deliveries per second",
            x_title: "seconds",
            y_title: "frames/s",
            points: curve,
        }],
        failures,
    }
}

fn joined_failures(outcomes: &[SpectatorOutcome]) -> u64 {
    outcomes.iter().filter(|o| o.join_error.is_some()).count() as u64
}

fn min_ms(h: &Histogram) -> f64 {
    if h.count() == 0 {
        0.0
    } else {
        h.percentile_ms(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_frames_are_read_without_a_parser() {
        let event = r#"{"type":"room.comment","seq":12,"data":{"room_id":7,"seq":12,"user":{"id":5,"nickname":"\"seq\":99","avatar":null},"text":"k34 这是老坑种吗","at":1}}"#;
        assert_eq!(comment_fields(event), Some((12, Some(34))));
        let reply =
            r#"{"re":"rejoin","ok":true,"data":{"missed":[{"type":"room.comment","seq":3}]}}"#;
        assert_eq!(comment_fields(reply), None, "replies are parsed");
        let stats = r#"{"type":"room.stats","data":{"room_id":7,"viewers":3,"likes":0}}"#;
        assert_eq!(comment_fields(stats), None);
    }

    #[test]
    fn comment_texts_carry_their_stamp_and_no_long_digit_run() {
        for (k, size) in [(0, 48), (123_456, 48), (7, 10), (7, 1000)] {
            let text = comment_text(k, size);
            assert!(text.starts_with(&format!("k{k} ")));
            assert!(text.chars().count() <= COMMENT_MAX_CHARS);
            assert_eq!(
                number_after(&format!("\"text\":\"{text}"), "\"text\":\"k"),
                Some(k as i64)
            );
        }
        assert_eq!(comment_text(1, 48).len(), 48);
    }

    #[test]
    fn held_seqs_tell_new_duplicate_late_and_gap_apart() {
        let mut h = Held::from(10);
        assert_eq!(h.insert(11), Arrival::New);
        assert_eq!(h.insert(11), Arrival::Duplicate);
        assert_eq!(h.insert(5), Arrival::Duplicate, "held from the join");
        assert_eq!(h.insert(14), Arrival::Gap);
        assert_eq!(h.insert(12), Arrival::Late);
        assert_eq!(h.missing(&[11, 12, 13, 14]), 1);
        assert_eq!(h.insert(13), Arrival::Late);
        assert_eq!((h.floor, h.above.len()), (14, 0));
        assert_eq!(h.insert(15), Arrival::New);
    }

    #[test]
    fn stats_rates_count_only_the_window() {
        let o = SpectatorOutcome {
            joined: true,
            stats_at: vec![500_000, 1_000_000, 2_000_000, 3_000_000, 9_000_000],
            ..Default::default()
        };
        let (rates, intervals) = stats_in(&[o], 1_000_000, 4_000_000);
        assert_eq!(rates, vec![1.0]);
        assert_eq!(intervals.count(), 2);
        assert_eq!(min_ms(&intervals), 1000.0);
    }
}
