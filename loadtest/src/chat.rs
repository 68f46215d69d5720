//! Scenario `chat`: P pairs of users, each user on its own socket, each sending at a target
//! rate for a duration. It measures send→ack (the server acknowledges only committed
//! messages) and send→recipient latency, and checks every delivered message for order, gaps
//! and duplicates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Phones, Ws};
use crate::progress::{per_sec, Progress};
use crate::report::{Report, Series};
use crate::stats::{Counters, Histogram, Inbox};

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
    /// same deployment): every message then crosses nodes through the bus.
    #[arg(long)]
    peer_addr: Option<SocketAddr>,
}

/// After sending stops, how long to wait for the last acks and deliveries.
const GRACE: Duration = Duration::from_secs(10);

/// Send times by client id, shared by the two sockets of a pair.
type SendTimes = Arc<Mutex<HashMap<String, Instant>>>;

/// Running totals for the progress line and the throughput curve.
#[derive(Default)]
struct Live {
    sent: AtomicU64,
    acked: AtomicU64,
    delivered: AtomicU64,
}

pub async fn run(addr: SocketAddr, args: Args) -> anyhow::Result<Report> {
    if args.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    let duration = Duration::from_secs(args.seconds);
    let peer_addr = args.peer_addr.unwrap_or(addr);
    let pairs = client::open_pairs(addr, peer_addr, &Phones::for_this_run(), args.pairs).await?;
    let text = client::message_text(args.size);
    let live = Arc::new(Live::default());
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(pairs.len() * 2);
    for pair in pairs {
        let times = SendTimes::default();
        for (ws, user_id) in [(pair.ws_a, pair.a.id), (pair.ws_b, pair.b.id)] {
            let socket = Socket {
                user_id,
                conversation_id: pair.conversation_id,
                start_seq: pair.start_seq,
                times: times.clone(),
                live: live.clone(),
            };
            let (text, rate) = (text.clone(), args.rate);
            tasks.push(tokio::spawn(socket.drive(ws, rate, duration, text)));
        }
    }

    let mut progress = Progress::start("chat");
    let mut throughput = Vec::new();
    let mut last = (0.0, 0u64);
    progress
        .until(duration + GRACE * 2, |elapsed| {
            let acked = live.acked.load(Ordering::Relaxed);
            let t = elapsed.as_secs_f64();
            // Acked messages per second over each half-second, for the throughput curve.
            if t - last.0 >= 0.5 {
                throughput.push((t, (acked - last.1) as f64 / (t - last.0)));
                last = (t, acked);
            }
            let status = format!(
                "sent {}  acked {} ({:.0}/s)  delivered {}",
                live.sent.load(Ordering::Relaxed),
                acked,
                per_sec(acked, elapsed),
                live.delivered.load(Ordering::Relaxed)
            );
            (status, tasks.iter().all(|t| t.is_finished()))
        })
        .await;
    progress.finish("done");

    let mut c = Counters::default();
    let mut ack = Histogram::default();
    let mut delivery = Histogram::default();
    for task in tasks {
        let (sc, a, d) = task.await.context("socket task")??;
        c.add(&sc);
        ack.merge(a);
        delivery.merge(d);
    }
    let elapsed = started.elapsed();
    let mut failures = Vec::new();
    for (what, n) in [
        ("lost (acked, never delivered)", c.lost()),
        ("holes never filled", c.unfilled),
        ("duplicates", c.duplicates),
    ] {
        if n > 0 {
            failures.push(format!("{what}: {n}"));
        }
    }
    Ok(Report {
        scenario: "chat",
        params: json!({ "pairs": args.pairs, "rate_per_user": args.rate, "seconds": args.seconds, "size": args.size, "peer_addr": args.peer_addr.map(|a| a.to_string()) }),
        elapsed,
        figures: vec![
            ("sent", json!(c.sent)),
            ("acked", json!(c.acked)),
            ("errors", json!(c.errors)),
            ("unacked", json!(c.unacked)),
            ("throughput_acked_per_s", json!(per_sec(c.acked, elapsed))),
            ("delivered_to_peer", json!(c.delivered_from_peer)),
            ("lost", json!(c.lost())),
            (
                "out_of_order_gaps_later_filled",
                json!(c.gaps.saturating_sub(c.unfilled)),
            ),
            ("holes_never_filled", json!(c.unfilled)),
            ("duplicates", json!(c.duplicates)),
        ],
        latencies: vec![("send -> ack", ack), ("send -> recipient", delivery)],
        series: vec![Series {
            title: "acked messages per second",
            x_title: "seconds",
            y_title: "messages/s",
            points: throughput,
        }],
        failures,
    })
}

/// One user's socket in a pair.
struct Socket {
    user_id: i64,
    conversation_id: i64,
    start_seq: i64,
    times: SendTimes,
    live: Arc<Live>,
}

impl Socket {
    /// Sends on a ticker, reads replies and events, checks the stream.
    async fn drive(
        self,
        mut ws: Ws,
        rate: f64,
        duration: Duration,
        text: String,
    ) -> anyhow::Result<(Counters, Histogram, Histogram)> {
        let mut c = Counters::default();
        let mut ack = Histogram::default();
        let mut delivery = Histogram::default();
        let mut inbox = Inbox::default();
        inbox.follow(self.conversation_id, self.start_seq);
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop_sending = Instant::now() + duration;
        let mut outstanding: HashMap<String, Instant> = HashMap::new();
        let mut n = 0u64;
        let mut last_frame_at = Instant::now();
        loop {
            let now = Instant::now();
            let sending = now < stop_sending;
            // Done once our sends are all answered and the socket has been quiet for a second
            // (the peer's last messages arrive within moments of their acks).
            let quiet = now.duration_since(last_frame_at) > Duration::from_secs(1);
            if (!sending && outstanding.is_empty() && quiet) || now > stop_sending + GRACE {
                break;
            }
            tokio::select! {
                _ = ticker.tick(), if sending => {
                    n += 1;
                    let client_id = format!("u{}-{n}", self.user_id);
                    let now = Instant::now();
                    self.times.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.insert(client_id.clone(), now);
                    outstanding.insert(client_id.clone(), now);
                    let data = json!({ "conversation_id": self.conversation_id, "client_id": client_id, "text": text });
                    ws.send(client::command(&client_id, "chat.send", data)).await?;
                    c.sent += 1;
                    self.live.sent.fetch_add(1, Ordering::Relaxed);
                }
                msg = tokio::time::timeout(Duration::from_millis(200), ws.next()) => {
                    let Ok(msg) = msg else { continue };
                    let Some(msg) = msg else { bail!("server closed the socket") };
                    last_frame_at = Instant::now();
                    let Message::Text(raw) = msg? else { continue };
                    let v: Value = serde_json::from_str(&raw)?;
                    if let Some(re) = v["re"].as_str() {
                        let Some(at) = outstanding.remove(re) else { continue };
                        if v["ok"] == true {
                            c.acked += 1;
                            self.live.acked.fetch_add(1, Ordering::Relaxed);
                            ack.record(at.elapsed());
                        } else {
                            c.errors += 1;
                            if c.errors <= 3 {
                                eprintln!("error reply: {}", v["error"]);
                            }
                        }
                    } else if v["type"] == "chat.message" {
                        let seq = v["seq"].as_i64().unwrap_or(-1);
                        c.arrival(&inbox.receive(self.conversation_id, seq));
                        if v["data"]["sender_id"].as_i64() != Some(self.user_id) {
                            c.delivered_from_peer += 1;
                            self.live.delivered.fetch_add(1, Ordering::Relaxed);
                            if let Some(cid) = v["data"]["client_id"].as_str() {
                                let sent_at = self.times.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.remove(cid);
                                if let Some(at) = sent_at {
                                    delivery.record(at.elapsed());
                                }
                            }
                        }
                    }
                }
            }
        }
        c.unacked += outstanding.len() as u64;
        c.unfilled += inbox.holes(self.conversation_id);
        let _ = ws.close(None).await;
        Ok((c, ack, delivery))
    }
}
