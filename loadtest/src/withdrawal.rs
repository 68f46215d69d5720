//! Scenario `consent-withdrawal`: how long a consent withdrawal takes to reach the user's
//! device on another node (policy: withdrawal takes effect at once, everywhere). Each user
//! holds one socket on `--addr` (where they withdraw, with the one `consent.withdraw`
//! command) and one on `--peer-addr` (another node of the same deployment). It measures
//! withdraw→ack and withdraw→`consent.changed` on the other node's socket, and checks after
//! each withdrawal that the other node refuses the gated feature.
//!
//! Two nodes for it (one data folder, one Redis), from a release build:
//!
//! ```sh
//! export DUOXIE_DATA_DIR=$(mktemp -d) DUOXIE_AUTH_DEV_CODES=true DUOXIE_AUTH_CODE_RESEND_MS=0 \
//!   DUOXIE_AUTH_CODES_PER_IP_PER_HOUR=100000 DUOXIE_AUTH_LOGINS_PER_IP_PER_HOUR=100000 \
//!   DUOXIE_AUTH_CODES_GLOBAL_PER_MINUTE=100000 \
//!   DUOXIE_WS_RATE_PER_SEC=1000 DUOXIE_WS_RATE_BURST=2000 REDIS_URL=redis://127.0.0.1:6379
//! DUOXIE_LISTEN=127.0.0.1:18301 target/release/duoxie serve &
//! DUOXIE_LISTEN=127.0.0.1:18302 target/release/duoxie serve &
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{stream, SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Phones, Ws};
use crate::progress::Progress;
use crate::report::Report;
use crate::stats::Histogram;

#[derive(clap::Args)]
pub struct Args {
    /// Users, each with a socket on both nodes.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Withdrawals per user (each followed by a grant that is not measured).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// The other node (host:port); without it both sockets are on `--addr`.
    #[arg(long)]
    peer_addr: Option<SocketAddr>,
}

/// Longest wait for any one reply or event.
const WAIT: Duration = Duration::from_secs(10);

pub async fn run(addr: SocketAddr, args: Args) -> anyhow::Result<Report> {
    if args.users == 0 || args.rounds == 0 {
        bail!("--users and --rounds must be at least 1");
    }
    let peer_addr = args.peer_addr.unwrap_or(addr);
    let users = client::login_many(addr, &Phones::for_this_run(), args.users).await?;
    let progress = Progress::start("consent-withdrawal");
    let started = Instant::now();
    let rounds = args.rounds;
    let results: Vec<anyhow::Result<(Histogram, Histogram)>> = stream::iter(users)
        .map(|user| async move {
            let mut here = client::connect(addr, &user.token, None).await?;
            let mut there = client::connect(peer_addr, &user.token, None).await?;
            // `session.ready`: from then on every event for the user reaches the socket (on
            // another node: once its bus subscription is in place).
            for ws in [&mut here, &mut there] {
                until(ws, "session.ready", |f| f["type"] == "session.ready").await?;
            }
            measure_user(here, there, rounds).await
        })
        .buffer_unordered(args.users)
        .collect()
        .await;
    progress.finish("done");
    let mut ack = Histogram::default();
    let mut reached = Histogram::default();
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok((a, r)) => {
                ack.merge(a);
                reached.merge(r);
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    failures.truncate(10);
    Ok(Report {
        scenario: "consent-withdrawal",
        params: json!({ "users": args.users, "rounds": args.rounds, "peer_addr": args.peer_addr.map(|a| a.to_string()) }),
        elapsed: started.elapsed(),
        figures: vec![
            ("withdrawals_measured", json!(reached.count())),
            ("users_failed", json!(failures.len())),
        ],
        latencies: vec![
            ("withdraw -> ack", ack),
            ("withdraw -> consent.changed on the other node", reached),
        ],
        series: Vec::new(),
        failures,
    })
}

/// Reads `ws` until a frame satisfies `want`, ignoring the rest.
pub(crate) async fn until(
    ws: &mut Ws,
    what: &str,
    want: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .with_context(|| format!("no {what} within {WAIT:?}"))?
            .with_context(|| format!("socket closed waiting for {what}"))??;
        if let Message::Text(text) = msg {
            let frame: Value = serde_json::from_str(&text)?;
            if want(&frame) {
                return Ok(frame);
            }
        }
    }
}

fn changed(granted: bool) -> impl Fn(&Value) -> bool {
    move |f| {
        f["type"] == "consent.changed"
            && f["data"]["permission"] == "camera"
            && f["data"]["granted"] == granted
    }
}

async fn measure_user(
    mut here: Ws,
    mut there: Ws,
    rounds: usize,
) -> anyhow::Result<(Histogram, Histogram)> {
    let mut ack = Histogram::default();
    let mut reached = Histogram::default();
    let camera = json!({ "permission": "camera", "device": "loadtest" });
    for round in 0..rounds {
        let id = format!("g{round}");
        here.send(client::command(&id, "consent.grant", camera.clone()))
            .await?;
        until(&mut here, "grant reply", |f| f["re"] == id.as_str()).await?;
        until(&mut there, "the grant on the other node", changed(true)).await?;

        let id = format!("w{round}");
        let t0 = Instant::now();
        here.send(client::command(&id, "consent.withdraw", camera.clone()))
            .await?;
        // Each wait notes its own arrival time; they run at once.
        let (acked, seen) = tokio::join!(
            async {
                let reply = until(&mut here, "withdraw reply", |f| f["re"] == id.as_str()).await;
                (reply, t0.elapsed())
            },
            async {
                let event = until(
                    &mut there,
                    "the withdrawal on the other node",
                    changed(false),
                )
                .await;
                (event, t0.elapsed())
            },
        );
        let ((acked, ack_time), (seen, seen_time)) = (acked, seen);
        let acked = acked?;
        seen?;
        ack.record(ack_time);
        reached.record(seen_time);
        if acked["ok"] != true {
            bail!("consent.withdraw failed: {}", acked["error"]);
        }
        // The effect, where the event arrived: the gated feature is refused there.
        let id = format!("c{round}");
        there
            .send(client::command(
                &id,
                "consent.check",
                json!({ "feature": "live_connect" }),
            ))
            .await?;
        let check = until(&mut there, "check reply", |f| f["re"] == id.as_str()).await?;
        if check["data"]["allowed"] != false {
            bail!("live_connect still allowed on the other node after the withdrawal: {check}");
        }
    }
    Ok((ack, reached))
}
