//! Scenario `reconnect-storm`: N clients (N/2 pairs of users, one conversation per pair, one
//! socket per user) warm up by chatting, then all N sockets drop at once and every client
//! reconnects at once and resumes with `chat.sync` from its cursors, as `docs/protocol.md`
//! tells clients to. Meanwhile some pairs' first user keeps sending from a second device
//! that is never dropped, so messages are committed before, during and after the storm.
//!
//! It measures the time from the drop until each client has reconnected and synced, and
//! checks the outcome: every message acknowledged to a sender must end up with both storm
//! clients of its conversation (the peer and the sender's own first device), none twice.
//! A live message that skips seqs after the resume is a gap; the client recovers it with a
//! `chat.sync` for just the missing range, as the protocol says, so gaps are reported but
//! only unrecovered messages count as lost. Sync replies are bounded in bytes, so both kinds
//! of sync page on `more` (`recovery`), the gap fill only until the gap is filled.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{stream, SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Phones, Ws, SETUP_CONCURRENCY};
use crate::progress::Progress;
use crate::recovery::{self, Backoff, SyncReply};
use crate::report::{Report, Series};
use crate::stats::{Arrival, Counters, Histogram, Inbox};

#[derive(clap::Args)]
pub struct Args {
    /// Storm clients (an even number): N/2 pairs, each user on one socket that is dropped.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Pairs whose first user keeps sending from a second, never dropped, device.
    #[arg(long, default_value_t = 50)]
    senders: usize,
    /// Messages per second per sender, from just before the drop until after the resume.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Messages each storm client sends in the warm-up.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// `limit` of the resume `chat.sync` (server default when absent); a small one makes
    /// clients page with `more`.
    #[arg(long)]
    sync_limit: Option<i64>,
    /// Message text size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
}

/// How long senders send before the drop, and on after the last client has resumed, so that
/// live delivery is exercised on both sides of the storm.
const LEAD: Duration = Duration::from_secs(1);
const TAIL: Duration = Duration::from_secs(1);
const WARMUP_TIMEOUT: Duration = Duration::from_secs(60);
const STORM_TIMEOUT: Duration = Duration::from_secs(120);
/// After the senders stop: how long clients may take to hold every acknowledged message.
const SETTLE: Duration = Duration::from_secs(10);
/// Reconnect attempts per client, with backoff from 50 ms doubling to 1 s.
const RECONNECT_ATTEMPTS: u32 = 10;
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// What the coordinator tells every task, in this order.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    Warmup,
    /// Senders send; clients carry on.
    Sending,
    /// Drop now (clients); senders carry on.
    Storm {
        at: Instant,
    },
    /// Senders stop and drain their acks.
    StopSending,
    /// Clients finish once they hold every acknowledged message, or at the deadline.
    Finish {
        deadline: Instant,
    },
}

impl Stage {
    fn sending(self) -> bool {
        matches!(self, Stage::Sending | Stage::Storm { .. })
    }
}

/// Totals for the progress line.
#[derive(Default)]
struct Live {
    warmed_up: AtomicU64,
    resumed: AtomicU64,
    failed: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
}

fn count(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum SyncKind {
    /// The sync after (re)connecting: pages on while `more`.
    Resume,
    /// Fills one live gap: asks for exactly the missing seqs, up to `until`, and pages only
    /// when a reply bounded in bytes stopped short of it.
    Fill { until: i64 },
}

/// What every task of a run shares.
#[derive(Clone)]
struct Shared {
    addr: SocketAddr,
    warmup: usize,
    sync_limit: Option<i64>,
    rate: f64,
    text: Arc<str>,
    stage: watch::Receiver<Stage>,
    /// Per pair: the highest acknowledged seq, published with `Stage::Finish`.
    targets: Arc<Vec<AtomicI64>>,
    live: Arc<Live>,
}

/// One storm client: a user's socket that is dropped and resumed.
struct StormClient {
    ctx: Shared,
    token: String,
    start_seq: i64,
    next_id: u64,
    /// Request ids of unanswered warm-up sends, and of syncs with the cursors they asked.
    sends: HashSet<String>,
    syncs: HashMap<String, (SyncKind, BTreeMap<i64, i64>)>,
    out: ClientOutcome,
}

/// What a storm client hands back.
#[derive(Default)]
struct ClientOutcome {
    pair: usize,
    conversation_id: i64,
    inbox: Inbox,
    counters: Counters,
    duplicates_in_sync: u64,
    /// Seqs of this client's acknowledged warm-up messages.
    acked: Vec<i64>,
    reconnect: Option<Duration>,
    resume: Option<Duration>,
    retries: u32,
    error: Option<String>,
}

impl StormClient {
    fn new(ctx: Shared, pair: usize, conversation_id: i64, start_seq: i64, token: String) -> Self {
        let mut inbox = Inbox::default();
        inbox.follow(conversation_id, start_seq);
        Self {
            ctx,
            token,
            start_seq,
            next_id: 0,
            sends: HashSet::new(),
            syncs: HashMap::new(),
            out: ClientOutcome {
                pair,
                conversation_id,
                inbox,
                ..Default::default()
            },
        }
    }

    fn stage(&self) -> Stage {
        *self.ctx.stage.borrow()
    }

    fn resuming(&self) -> bool {
        self.syncs.values().any(|(k, _)| *k == SyncKind::Resume)
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    async fn run(mut self, ws: Ws) -> ClientOutcome {
        if let Err(e) = self.phases(ws).await {
            self.out.error = Some(format!("{e:#}"));
            bump(&self.ctx.live.failed);
        }
        self.out
    }

    async fn phases(&mut self, mut ws: Ws) -> anyhow::Result<()> {
        self.warm_up(&mut ws).await?;
        bump(&self.ctx.live.warmed_up);
        let at = loop {
            if let Stage::Storm { at } = self.stage() {
                break at;
            }
            if let Stage::Finish { .. } = self.stage() {
                return Ok(()); // the coordinator gave up before the storm
            }
            self.step(&mut ws).await?;
        };
        // The drop: no close handshake, as when a network or a node goes away.
        drop(ws);
        let mut ws = self.reconnect(at).await?;
        self.sync(
            &mut ws,
            SyncKind::Resume,
            self.out.inbox.cursors(),
            self.ctx.sync_limit,
        )
        .await?;
        while self.resuming() {
            self.step(&mut ws).await?;
        }
        self.out.resume = Some(at.elapsed());
        bump(&self.ctx.live.resumed);
        self.settle(&mut ws).await?;
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        Ok(())
    }

    /// Sends the warm-up messages and waits until it holds the whole pair's warm-up.
    async fn warm_up(&mut self, ws: &mut Ws) -> anyhow::Result<()> {
        for _ in 0..self.ctx.warmup {
            let id = self.id("w");
            let data = json!({ "conversation_id": self.out.conversation_id, "client_id": id, "text": &*self.ctx.text });
            ws.send(client::command(&id, "chat.send", data)).await?;
            self.sends.insert(id);
        }
        let expected = self.start_seq + 2 * self.ctx.warmup as i64;
        while !self.sends.is_empty()
            || self.out.inbox.contiguous(self.out.conversation_id) < expected
        {
            self.step(ws).await?;
        }
        if self.out.counters.errors > 0 {
            bail!("warm-up sends refused");
        }
        Ok(())
    }

    /// A new socket, retried with backoff: a real client does not give up at the first
    /// refusal, and the time it takes is part of the resume time.
    async fn reconnect(&mut self, at: Instant) -> anyhow::Result<Ws> {
        // Exact, without jitter: the storm is every client coming back at once, on purpose.
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            let attempt = tokio::time::timeout(
                OPEN_TIMEOUT,
                client::connect(self.ctx.addr, &self.token, None),
            )
            .await;
            match attempt {
                Ok(Ok(ws)) => {
                    self.out.reconnect = Some(at.elapsed());
                    return Ok(ws);
                }
                Ok(Err(e)) if self.out.retries + 1 >= RECONNECT_ATTEMPTS => return Err(e),
                Err(_) if self.out.retries + 1 >= RECONNECT_ATTEMPTS => {
                    bail!("reconnect timed out")
                }
                _ => {}
            }
            self.out.retries += 1;
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    /// Reads on until the coordinator's target is held, or its deadline passes.
    async fn settle(&mut self, ws: &mut Ws) -> anyhow::Result<()> {
        loop {
            if let Stage::Finish { deadline } = self.stage() {
                let target = self.ctx.targets[self.out.pair].load(Ordering::Relaxed);
                let held = self.out.inbox.contiguous(self.out.conversation_id) >= target;
                if (held && self.syncs.is_empty()) || Instant::now() >= deadline {
                    return Ok(());
                }
                tokio::select! {
                    r = self.step(ws) => r?,
                    _ = tokio::time::sleep_until(deadline.into()) => {}
                }
            } else {
                self.step(ws).await?;
            }
        }
    }

    async fn sync(
        &mut self,
        ws: &mut Ws,
        kind: SyncKind,
        cursors: BTreeMap<i64, i64>,
        limit: Option<i64>,
    ) -> anyhow::Result<()> {
        let id = self.id("s");
        let data = recovery::sync_data(&cursors, limit);
        ws.send(client::command(&id, "chat.sync", data)).await?;
        self.syncs.insert(id, (kind, cursors));
        Ok(())
    }

    /// Handles one frame, or returns when the stage changes.
    async fn step(&mut self, ws: &mut Ws) -> anyhow::Result<()> {
        let msg = tokio::select! {
            msg = ws.next() => msg,
            changed = self.ctx.stage.changed() => {
                changed.context("coordinator gone")?;
                return Ok(());
            }
        };
        let msg = msg.context("server closed the socket")??;
        let Message::Text(raw) = msg else {
            return Ok(());
        };
        let v: Value = serde_json::from_str(&raw)?;
        if let Some(re) = v["re"].as_str() {
            if let Some((kind, asked)) = self.syncs.remove(re) {
                self.on_synced(ws, kind, &asked, &v).await?;
            } else if self.sends.remove(re) {
                match v["data"]["message"]["seq"].as_i64() {
                    Some(seq) if v["ok"] == true => self.out.acked.push(seq),
                    _ => {
                        self.out.counters.errors += 1;
                        eprintln!("warm-up send refused: {}", v["error"]);
                    }
                }
            }
        } else if v["type"] == "chat.message" {
            let conversation_id = v["data"]["conversation_id"].as_i64().unwrap_or(0);
            let seq = v["seq"].as_i64().unwrap_or(-1);
            let arrival = self.out.inbox.receive(conversation_id, seq);
            // Before the resume sync is answered, skipped seqs are what it will bring.
            let resuming = self.resuming();
            match arrival {
                Arrival::Gap { missing } if !resuming => {
                    self.out.counters.arrival(&arrival);
                    let cursors = BTreeMap::from([(conversation_id, seq - missing - 1)]);
                    let kind = SyncKind::Fill { until: seq - 1 };
                    self.sync(ws, kind, cursors, Some(missing)).await?;
                }
                Arrival::Duplicate => self.out.counters.arrival(&arrival),
                _ => {}
            }
        }
        Ok(())
    }

    async fn on_synced(
        &mut self,
        ws: &mut Ws,
        kind: SyncKind,
        asked: &BTreeMap<i64, i64>,
        v: &Value,
    ) -> anyhow::Result<()> {
        if v["ok"] != true {
            bail!("chat.sync failed: {}", v["error"]);
        }
        let reply = SyncReply::parse(&v["data"])?;
        let mut again = BTreeMap::new();
        for result in &reply.results {
            for m in &result.messages {
                // A sync reply answers exactly what was asked, so it may repeat what arrived
                // live between pages; the protocol has clients drop those by seq. Counted for
                // information, not as a server fault (live repeats are).
                if self.out.inbox.receive(result.conversation_id, m.seq) == Arrival::Duplicate {
                    self.out.duplicates_in_sync += 1;
                }
            }
            let Some(&cursor) = asked.get(&result.conversation_id) else {
                continue;
            };
            // "more: true means ask again from the last one" (or from the same cursor when
            // the reply did not reach this conversation).
            match (kind, result.next_cursor(cursor)) {
                (SyncKind::Resume, Some(next)) => {
                    again.insert(result.conversation_id, next);
                }
                (SyncKind::Fill { until }, Some(next)) if next < until => {
                    let rest = BTreeMap::from([(result.conversation_id, next)]);
                    self.sync(ws, kind, rest, Some(until - next)).await?;
                }
                _ => {}
            }
        }
        if !again.is_empty() {
            self.sync(ws, kind, again, self.ctx.sync_limit).await?;
        }
        Ok(())
    }
}

/// A second device of a pair's first user that sends through the storm and is never dropped.
struct Sender {
    ctx: Shared,
    pair: usize,
    conversation_id: i64,
    user_id: i64,
}

struct SenderOutcome {
    pair: usize,
    counters: Counters,
    acked: Vec<i64>,
    ack: Histogram,
}

impl Sender {
    async fn run(mut self, mut ws: Ws) -> anyhow::Result<SenderOutcome> {
        let mut c = Counters::default();
        let mut ack = Histogram::default();
        let mut acked = Vec::new();
        let mut outstanding: HashMap<String, Instant> = HashMap::new();
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / self.ctx.rate));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut drain_until = None;
        loop {
            let stage = *self.ctx.stage.borrow();
            if !stage.sending() && stage != Stage::Warmup {
                // Stopped: wait a little for the acks still due.
                let until = *drain_until.get_or_insert_with(|| Instant::now() + SETTLE);
                if outstanding.is_empty() || Instant::now() >= until {
                    break;
                }
            }
            tokio::select! {
                _ = ticker.tick(), if stage.sending() => {
                    c.sent += 1;
                    bump(&self.ctx.live.sent);
                    let id = format!("x{}-{}", self.user_id, c.sent);
                    let data = json!({ "conversation_id": self.conversation_id, "client_id": id, "text": &*self.ctx.text });
                    ws.send(client::command(&id, "chat.send", data)).await?;
                    outstanding.insert(id, Instant::now());
                }
                msg = ws.next() => {
                    let msg = msg.context("server closed a sender's socket")??;
                    let Message::Text(raw) = msg else { continue };
                    let v: Value = serde_json::from_str(&raw)?;
                    let Some(at) = v["re"].as_str().and_then(|re| outstanding.remove(re)) else { continue };
                    match v["data"]["message"]["seq"].as_i64() {
                        Some(seq) if v["ok"] == true => {
                            c.acked += 1;
                            bump(&self.ctx.live.acked);
                            ack.record(at.elapsed());
                            acked.push(seq);
                        }
                        _ => {
                            c.errors += 1;
                            if c.errors <= 3 {
                                eprintln!("sender error reply: {}", v["error"]);
                            }
                        }
                    }
                }
                changed = self.ctx.stage.changed() => changed.context("coordinator gone")?,
                _ = tokio::time::sleep(Duration::from_millis(100)), if drain_until.is_some() => {}
            }
        }
        c.unacked = outstanding.len() as u64;
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        Ok(SenderOutcome {
            pair: self.pair,
            counters: c,
            acked,
            ack,
        })
    }
}

/// Messages lost per pair: acknowledged seqs (warm-up and senders') that a storm client of
/// the pair does not hold, summed over the clients that resumed.
fn lost(clients: &[ClientOutcome], acked_by_pair: &HashMap<usize, Vec<i64>>) -> u64 {
    clients
        .iter()
        .filter(|c| c.error.is_none())
        .map(|c| {
            let acked = acked_by_pair.get(&c.pair).map_or(&[][..], |v| &v[..]);
            c.inbox.missing(c.conversation_id, acked)
        })
        .sum()
}

pub async fn run(addr: SocketAddr, args: Args) -> anyhow::Result<Report> {
    let n = args.clients;
    if n < 2 || !n.is_multiple_of(2) {
        bail!("--clients must be an even number, at least 2");
    }
    if args.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    let pair_count = n / 2;
    let sender_count = args.senders.min(pair_count);
    let pairs = client::open_pairs(addr, addr, &Phones::for_this_run(), pair_count).await?;
    // Senders are second devices of the first `sender_count` pairs' first users.
    let sender_sockets: Vec<Ws> = stream::iter(&pairs[..sender_count])
        .map(|p| client::connect(addr, &p.a.token, None))
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;

    let (stage_tx, stage_rx) = watch::channel(Stage::Warmup);
    let live = Arc::new(Live::default());
    let targets: Arc<Vec<AtomicI64>> =
        Arc::new((0..pair_count).map(|_| AtomicI64::new(0)).collect());
    let ctx = Shared {
        addr,
        warmup: args.warmup,
        sync_limit: args.sync_limit,
        rate: args.rate,
        text: client::message_text(args.size).into(),
        stage: stage_rx,
        targets: targets.clone(),
        live: live.clone(),
    };
    let mut senders = Vec::with_capacity(sender_count);
    for (p, ws) in sender_sockets.into_iter().enumerate() {
        let sender = Sender {
            ctx: ctx.clone(),
            pair: p,
            conversation_id: pairs[p].conversation_id,
            user_id: pairs[p].a.id,
        };
        senders.push(tokio::spawn(sender.run(ws)));
    }
    let start_seqs: Vec<i64> = pairs.iter().map(|p| p.start_seq).collect();
    let mut clients = Vec::with_capacity(n);
    for (p, pair) in pairs.into_iter().enumerate() {
        for (user, ws) in [(pair.a, pair.ws_a), (pair.b, pair.ws_b)] {
            let c = StormClient::new(
                ctx.clone(),
                p,
                pair.conversation_id,
                pair.start_seq,
                user.token,
            );
            clients.push(tokio::spawn(c.run(ws)));
        }
    }
    let started = Instant::now();
    let n64 = n as u64;

    let mut progress = Progress::start("warm-up");
    progress
        .until(WARMUP_TIMEOUT, |_| {
            let (ok, failed) = (count(&live.warmed_up), count(&live.failed));
            let status = format!("{ok}/{n} clients warmed up  {failed} failed");
            (status, ok + failed >= n64)
        })
        .await;
    progress.finish(&format!("{} clients warmed up", count(&live.warmed_up)));
    if count(&live.warmed_up) < n64 {
        // Abandon the run and say why.
        let _ = stage_tx.send(Stage::Finish {
            deadline: Instant::now(),
        });
        for c in clients {
            if let Some(e) = c.await?.error {
                bail!("warm-up failed: {e}");
            }
        }
        bail!("warm-up did not finish in {}s", WARMUP_TIMEOUT.as_secs());
    }

    let _ = stage_tx.send(Stage::Sending);
    tokio::time::sleep(LEAD).await;
    let at = Instant::now();
    let _ = stage_tx.send(Stage::Storm { at });
    let mut progress = Progress::start("storm");
    let mut resumed_curve = Vec::new();
    progress
        .until(STORM_TIMEOUT, |elapsed| {
            let (resumed, failed) = (count(&live.resumed), count(&live.failed));
            resumed_curve.push((elapsed.as_secs_f64(), resumed as f64));
            let status = format!(
                "{resumed}/{n} resumed  {failed} failed  senders: sent {} acked {}",
                count(&live.sent),
                count(&live.acked)
            );
            (status, resumed + failed >= n64)
        })
        .await;
    progress.finish(&format!("{} resumed", count(&live.resumed)));

    tokio::time::sleep(TAIL).await;
    let _ = stage_tx.send(Stage::StopSending);
    let mut sent = Counters::default();
    let mut sender_ack = Histogram::default();
    let mut acked_by_pair: HashMap<usize, Vec<i64>> = HashMap::new();
    for s in senders {
        let s = s.await.context("sender task")??;
        sent.add(&s.counters);
        sender_ack.merge(s.ack);
        acked_by_pair.entry(s.pair).or_default().extend(s.acked);
    }
    // Every client must end up holding the warm-up and every acknowledged send.
    for (p, target) in targets.iter().enumerate() {
        let warm = start_seqs[p] + 2 * args.warmup as i64;
        let sent_max = acked_by_pair.get(&p).and_then(|a| a.iter().max().copied());
        target.store(warm.max(sent_max.unwrap_or(0)), Ordering::Relaxed);
    }
    let _ = stage_tx.send(Stage::Finish {
        deadline: Instant::now() + SETTLE,
    });
    let mut progress = Progress::start("settle");
    progress
        .until(SETTLE * 2, |_| {
            let done = clients.iter().filter(|c| c.is_finished()).count();
            (format!("{done}/{n} clients done"), done == n)
        })
        .await;
    progress.finish("done");
    let mut outcomes = Vec::with_capacity(n);
    for c in clients {
        outcomes.push(c.await.context("client task")?);
    }
    let elapsed = started.elapsed();
    Ok(summarise(
        &args,
        sender_count,
        outcomes,
        acked_by_pair,
        sent,
        sender_ack,
        resumed_curve,
        elapsed,
    ))
}

/// Turns the outcomes into the report: figures, latencies and the correctness verdict.
#[allow(clippy::too_many_arguments)]
fn summarise(
    args: &Args,
    sender_count: usize,
    outcomes: Vec<ClientOutcome>,
    mut acked_by_pair: HashMap<usize, Vec<i64>>,
    sent: Counters,
    sender_ack: Histogram,
    resumed_curve: Vec<(f64, f64)>,
    elapsed: Duration,
) -> Report {
    let mut received = Counters::default();
    let mut reconnect = Histogram::default();
    let mut resume = Histogram::default();
    let (mut duplicates_in_sync, mut retries, mut warmup_acked) = (0, 0, 0);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for o in &outcomes {
        received.add(&o.counters);
        duplicates_in_sync += o.duplicates_in_sync;
        retries += u64::from(o.retries);
        warmup_acked += o.acked.len();
        reconnect.record_opt(o.reconnect);
        resume.record_opt(o.resume);
        if let Some(e) = &o.error {
            *errors.entry(e.clone()).or_default() += 1;
        }
        acked_by_pair.entry(o.pair).or_default().extend(&o.acked);
    }
    let lost = lost(&outcomes, &acked_by_pair);
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    let mut failures = Vec::new();
    for (what, count) in [
        ("lost (acknowledged, never received after the resume)", lost),
        ("duplicates", received.duplicates),
        ("clients that did not resume", failed as u64),
    ] {
        if count > 0 {
            failures.push(format!("{what}: {count}"));
        }
    }
    let mut figures = vec![
        ("clients_resumed", json!(resume.count())),
        ("clients_failed", json!(failed)),
        ("reconnect_retries", json!(retries)),
        ("all_resumed_after_s", json!(resume.max_ms() / 1000.0)),
        ("warmup_messages_acked", json!(warmup_acked)),
        ("sender_messages_sent", json!(sent.sent)),
        ("sender_messages_acked", json!(sent.acked)),
        ("sender_errors", json!(sent.errors)),
        ("sender_unacked", json!(sent.unacked)),
        ("lost", json!(lost)),
        ("duplicates", json!(received.duplicates)),
        ("duplicates_in_sync_replies", json!(duplicates_in_sync)),
        ("gaps_recovered_by_sync", json!(received.gaps)),
    ];
    if !errors.is_empty() {
        figures.push(("client_errors", json!(errors)));
    }
    Report {
        scenario: "reconnect-storm",
        params: json!({
            "clients": args.clients, "senders": sender_count, "rate_per_sender": args.rate,
            "warmup": args.warmup, "sync_limit": args.sync_limit, "size": args.size,
        }),
        elapsed,
        figures,
        latencies: vec![
            ("drop -> reconnected", reconnect),
            ("drop -> resumed", resume),
            ("sender send -> ack", sender_ack),
        ],
        series: vec![Series {
            title: "clients resumed after the drop",
            x_title: "seconds since the drop",
            y_title: "clients",
            points: resumed_curve,
        }],
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(pair: usize, held: &[i64], error: Option<&str>) -> ClientOutcome {
        let mut inbox = Inbox::default();
        inbox.follow(7, 0);
        for &seq in held {
            inbox.receive(7, seq);
        }
        ClientOutcome {
            pair,
            conversation_id: 7,
            inbox,
            error: error.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn lost_counts_acked_seqs_each_resumed_client_lacks() {
        let acked = HashMap::from([(0, vec![1, 2, 3, 4])]);
        let clients = [
            outcome(0, &[1, 2, 3, 4], None),
            outcome(0, &[1, 3], None),
            // A client that never resumed is reported as failed, not as losing messages.
            outcome(0, &[], Some("refused")),
            // Messages beyond what was acknowledged are not expected of anyone.
            outcome(1, &[], None),
        ];
        assert_eq!(lost(&clients, &acked), 2);
    }

    #[test]
    fn only_the_sending_stages_send() {
        let at = Instant::now();
        assert!(Stage::Sending.sending() && Stage::Storm { at }.sending());
        assert!(!Stage::Warmup.sending() && !Stage::StopSending.sending());
        assert!(!Stage::Finish { deadline: at }.sending());
    }
}
