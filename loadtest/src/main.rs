//! `duoxie-loadtest`: drives a running Duoxie server with real clients over real sockets and
//! checks what it gets back while it measures.
//!
//! Scenario `chat`: P pairs of users, each user on its own socket, each sending at a target
//! rate for a duration. It measures send→ack (the server acknowledges only committed
//! messages) and send→recipient latency, and checks every delivered message for order, gaps
//! and duplicates. Users register through the dev-code login, so the server must run with
//! `DUOXIE_AUTH_DEV_CODES=true` (and a per-socket rate limit above the target rate).
//!
//! Output: a summary table on stdout and, with `--json`, the same figures as JSON.

mod http;
mod stats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use stats::{Counters, Histogram};

#[derive(Parser)]
#[command(
    name = "duoxie-loadtest",
    about = "Load generator for the Duoxie live server"
)]
struct Cli {
    /// Server address (host:port).
    #[arg(long, default_value = "127.0.0.1:8080", global = true)]
    addr: SocketAddr,
    /// Write the results as JSON to this file.
    #[arg(long, global = true)]
    json: Option<std::path::PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Pairs of users chatting: persisted 1:1 messages per second and their latencies.
    Chat {
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
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start tokio runtime")?;
    let report = runtime.block_on(async {
        match cli.scenario {
            Scenario::Chat {
                pairs,
                rate,
                seconds,
                size,
            } => chat(cli.addr, pairs, rate, Duration::from_secs(seconds), size).await,
        }
    })?;
    println!("{}", report.table());
    if let Some(path) = cli.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report.json())?)
            .with_context(|| format!("write {}", path.display()))?;
        println!("results written to {}", path.display());
    }
    if report.counters.lost() > 0 || report.counters.gaps > 0 || report.counters.duplicates > 0 {
        bail!("correctness check failed: see the table above");
    }
    Ok(())
}

/// Raises the open-files soft limit to the hard limit: every socket is a file.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            let before = lim.rlim_cur;
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                eprintln!(
                    "open files: soft {before} -> {}, hard {}",
                    lim.rlim_cur, lim.rlim_max
                );
            }
        }
    }
}

struct User {
    id: i64,
    token: String,
}

/// Registers (or logs in) a fresh user through the dev-code login.
async fn login(addr: SocketAddr, phone: &str) -> anyhow::Result<User> {
    let sent = http::post_json(addr, "/api/auth/code", &json!({ "phone": phone })).await?;
    let code = sent["dev_code"]
        .as_str()
        .context("no dev_code in the reply: run the server with DUOXIE_AUTH_DEV_CODES=true")?;
    let login = http::post_json(
        addr,
        "/api/auth/login",
        &json!({ "phone": phone, "code": code, "device": "loadtest" }),
    )
    .await?;
    Ok(User {
        id: login["user"]["id"]
            .as_i64()
            .context("login reply without user id")?,
        token: login["token"]
            .as_str()
            .context("login reply without token")?
            .to_string(),
    })
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Opens an authenticated socket with Nagle disabled (else tail latencies are wrong).
async fn connect(addr: SocketAddr, token: &str) -> anyhow::Result<Ws> {
    let stream = TcpStream::connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let mut request = format!("ws://{addr}/ws").into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("duoxie.v1, auth.{token}").parse()?,
    );
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .context("websocket handshake")?;
    Ok(ws)
}

/// Sends one command and waits for its reply, ignoring events (used only during set-up).
async fn request(ws: &mut Ws, id: &str, kind: &str, data: Value) -> anyhow::Result<Value> {
    let frame = json!({ "id": id, "type": kind, "data": data }).to_string();
    ws.send(Message::text(frame)).await?;
    while let Some(msg) = ws.next().await {
        if let Message::Text(text) = msg? {
            let v: Value = serde_json::from_str(&text)?;
            if v["re"] == id {
                if v["ok"] == true {
                    return Ok(v["data"].clone());
                }
                bail!("{kind} failed: {}", v["error"]);
            }
        }
    }
    bail!("socket closed while waiting for {kind}")
}

/// Send times by client id, shared by the two sockets of a pair.
type SendTimes = Arc<Mutex<HashMap<String, Instant>>>;

pub struct Report {
    scenario: &'static str,
    params: Value,
    elapsed: Duration,
    counters: Counters,
    ack: Histogram,
    delivery: Histogram,
}

async fn chat(
    addr: SocketAddr,
    pairs: usize,
    rate: f64,
    duration: Duration,
    size: usize,
) -> anyhow::Result<Report> {
    if rate <= 0.0 {
        bail!("--rate must be positive");
    }
    let run =
        std::process::id() as u64 * 1_000 + (Instant::now().elapsed().subsec_nanos() as u64 % 1000);
    eprintln!("setting up {pairs} pairs ...");
    let mut sockets = Vec::with_capacity(pairs * 2);
    for p in 0..pairs {
        // Distinct phones per run and pair: 15 + 9 digits.
        let base = (run * 10_000 + p as u64 * 2) % 1_000_000_000;
        let a = login(addr, &format!("15{base:09}")).await?;
        let b = login(addr, &format!("15{:09}", base + 1)).await?;
        let mut ws_a = connect(addr, &a.token).await?;
        let ws_b = connect(addr, &b.token).await?;
        let opened = request(&mut ws_a, "open", "chat.open", json!({ "peer_id": b.id })).await?;
        let conversation_id = opened["conversation"]["id"]
            .as_i64()
            .context("conversation id")?;
        let start_seq = opened["conversation"]["last_seq"].as_i64().unwrap_or(0);
        let times: SendTimes = Arc::default();
        sockets.push((ws_a, a.id, conversation_id, start_seq, times.clone()));
        sockets.push((ws_b, b.id, conversation_id, start_seq, times));
    }
    eprintln!(
        "running for {}s at {rate}/s per user ...",
        duration.as_secs()
    );
    let text = "玉"
        .repeat(size / 3)
        .chars()
        .chain("x".repeat(size % 3).chars())
        .collect::<String>();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (ws, user_id, conversation_id, start_seq, times) in sockets {
        let text = text.clone();
        tasks.push(tokio::spawn(drive_socket(
            ws,
            user_id,
            conversation_id,
            start_seq,
            times,
            rate,
            duration,
            text,
        )));
    }
    let mut counters = Counters::default();
    let mut ack = Histogram::default();
    let mut delivery = Histogram::default();
    for task in tasks {
        let (c, a, d) = task.await.context("socket task")??;
        counters.add(&c);
        ack.merge(a);
        delivery.merge(d);
    }
    Ok(Report {
        scenario: "chat",
        params: json!({ "pairs": pairs, "rate_per_user": rate, "seconds": duration.as_secs(), "size": size }),
        elapsed: started.elapsed(),
        counters,
        ack,
        delivery,
    })
}

/// One user's socket: sends on a ticker, reads replies and events, checks the stream.
#[allow(clippy::too_many_arguments)]
async fn drive_socket(
    mut ws: Ws,
    user_id: i64,
    conversation_id: i64,
    start_seq: i64,
    times: SendTimes,
    rate: f64,
    duration: Duration,
    text: String,
) -> anyhow::Result<(Counters, Histogram, Histogram)> {
    let mut c = Counters::default();
    let mut ack = Histogram::default();
    let mut delivery = Histogram::default();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop_sending = Instant::now() + duration;
    // After sending stops, wait this long for the last acks and deliveries.
    let grace = Duration::from_secs(10);
    let mut last_seq = start_seq;
    let mut outstanding: HashMap<String, Instant> = HashMap::new();
    let mut n = 0u64;
    let mut last_frame_at = Instant::now();
    loop {
        let now = Instant::now();
        let sending = now < stop_sending;
        // Done once our sends are all answered and the socket has been quiet for a second
        // (the peer's last messages arrive within moments of their acks).
        let quiet = now.duration_since(last_frame_at) > Duration::from_secs(1);
        if (!sending && outstanding.is_empty() && quiet) || now > stop_sending + grace {
            break;
        }
        tokio::select! {
            _ = ticker.tick(), if sending => {
                n += 1;
                let client_id = format!("u{user_id}-{n}");
                let now = Instant::now();
                times.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.insert(client_id.clone(), now);
                outstanding.insert(client_id.clone(), now);
                let frame = json!({
                    "id": client_id, "type": "chat.send",
                    "data": { "conversation_id": conversation_id, "client_id": client_id, "text": text }
                });
                ws.send(Message::text(frame.to_string())).await?;
                c.sent += 1;
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
                        ack.record(at.elapsed());
                    } else {
                        c.errors += 1;
                        if c.errors <= 3 {
                            eprintln!("error reply: {}", v["error"]);
                        }
                    }
                } else if v["type"] == "chat.message" {
                    let seq = v["seq"].as_i64().unwrap_or(-1);
                    match seq.cmp(&(last_seq + 1)) {
                        std::cmp::Ordering::Equal => last_seq = seq,
                        std::cmp::Ordering::Less => c.duplicates += 1,
                        std::cmp::Ordering::Greater => {
                            c.gaps += (seq - last_seq - 1) as u64;
                            last_seq = seq;
                        }
                    }
                    if v["data"]["sender_id"].as_i64() != Some(user_id) {
                        c.delivered_from_peer += 1;
                        if let Some(cid) = v["data"]["client_id"].as_str() {
                            let sent_at = times.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.remove(cid);
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
    let _ = ws.close(None).await;
    Ok((c, ack, delivery))
}

impl Report {
    fn table(&self) -> String {
        let c = &self.counters;
        let secs = self.elapsed.as_secs_f64().max(0.001);
        let mut out = format!(
            "scenario {}  {}\n\
             elapsed {:.1}s  sent {}  acked {}  errors {}  unacked {}\n\
             throughput {:.0} acked msg/s  delivered-to-peer {}  gaps {}  duplicates {}\n\n",
            self.scenario,
            self.params,
            secs,
            c.sent,
            c.acked,
            c.errors,
            c.unacked,
            c.acked as f64 / secs,
            c.delivered_from_peer,
            c.gaps,
            c.duplicates,
        );
        out.push_str(&format!(
            "{:<22}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}\n",
            "latency (ms)", "p50", "p90", "p99", "p99.9", "max", "count"
        ));
        for (name, h) in [
            ("send -> ack", &self.ack),
            ("send -> recipient", &self.delivery),
        ] {
            out.push_str(&format!(
                "{:<22}{:>9.2}{:>9.2}{:>9.2}{:>9.2}{:>9.2}{:>9}\n",
                name,
                h.percentile_ms(50.0),
                h.percentile_ms(90.0),
                h.percentile_ms(99.0),
                h.percentile_ms(99.9),
                h.max_ms(),
                h.count()
            ));
        }
        out
    }

    fn json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "params": self.params,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "counters": self.counters.json(),
            "throughput_acked_per_s": self.counters.acked as f64 / self.elapsed.as_secs_f64().max(0.001),
            "latency_ms": { "ack": self.ack.json(), "delivery": self.delivery.json() },
        })
    }
}
