//! Scenario `consent-call`: how long a consent withdrawal mid-call takes to end the call for
//! the other party on another node (issue #14: "ends the call for both within one second").
//! The host (an appraiser, `--host-phone`, see `--grant-with`) holds its room on `--addr`; the
//! buyers are on `--peer-addr`. Each round: a buyer queues, the host calls, the buyer answers,
//! then the buyer withdraws the camera with one `consent.withdraw` on its own socket. Measured:
//! withdraw→ack, withdraw→`room.call.ended` on the buyer's socket, and withdraw→
//! `room.call.ended` on the host's socket on the other node; every end must say
//! `consent_withdrawn`, and the host's next `rtc.offer` for the call must be refused with
//! `call_ended`. The camera is granted again (unmeasured) before the buyer's next turn.
//!
//! Two nodes for it (one data folder, one Redis), from a release build, started as the
//! `consent-withdrawal` scenario's doc comment shows (`withdrawal.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Phones, Ws};
use crate::progress::Progress;
use crate::report::Report;
use crate::stats::Histogram;
use crate::withdrawal::until;

#[derive(clap::Args)]
pub struct Args {
    /// Buyers taking turns (each on its own socket on the peer node).
    #[arg(long, default_value_t = 5)]
    buyers: usize,
    /// Calls ended by a withdrawal, in all (the room has one call at a time).
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    /// The other node (host:port), where the buyers are; without it everyone is on `--addr`.
    #[arg(long)]
    peer_addr: Option<SocketAddr>,
    /// The host's phone; its account needs the `appraiser` role (see --grant-with).
    #[arg(long, default_value = "19900000001")]
    host_phone: String,
    /// Grant the host the role by running `PATH admin grant-role` after its first login.
    #[arg(long)]
    grant_with: Option<PathBuf>,
}

/// Longest wait for any one reply or event.
const WAIT: Duration = Duration::from_secs(10);

const CAMERA: &str = "camera";

/// A syntactically complete offer: the scenario checks the relay's refusal after the end.
const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
    m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:Hk3z\r\n\
    a=ice-pwd:4Pa2vHXyHVZ7Yx5X6a9n2bqJ\r\na=fingerprint:sha-256 1B:8D:3A:EF\r\na=mid:0\r\n";

fn grant(permission: &str) -> Value {
    json!({ "permission": permission, "device": "loadtest" })
}

fn ended_by_withdrawal(call: i64) -> impl Fn(&Value) -> bool {
    move |f| f["type"] == "room.call.ended" && f["data"]["call"]["id"] == call
}

pub async fn run(addr: SocketAddr, args: Args) -> anyhow::Result<Report> {
    if args.buyers == 0 || args.rounds == 0 {
        bail!("--buyers and --rounds must be at least 1");
    }
    let peer_addr = args.peer_addr.unwrap_or(addr);
    let host = client::login_appraiser(addr, &args.host_phone, args.grant_with.as_deref()).await?;
    let buyers = client::login_many(peer_addr, &Phones::for_this_run(), args.buyers).await?;
    let mut wh = client::connect(addr, &host.token, None).await?;
    for permission in [CAMERA, "microphone"] {
        client::request(&mut wh, "g", "consent.grant", grant(permission)).await?;
    }
    let room = open_room(&mut wh).await.context("the host's room")?;
    let mut sockets = Vec::with_capacity(buyers.len());
    for buyer in &buyers {
        let mut ws = client::connect(peer_addr, &buyer.token, None).await?;
        for permission in [CAMERA, "microphone"] {
            client::request(&mut ws, "g", "consent.grant", grant(permission)).await?;
        }
        client::request(&mut ws, "j", "room.join", json!({ "room_id": room })).await?;
        sockets.push(ws);
    }

    let progress = Progress::start("consent-call");
    let started = Instant::now();
    let mut ack = Histogram::default();
    let mut buyer_ended = Histogram::default();
    let mut host_ended = Histogram::default();
    let mut failures = Vec::new();
    for round in 0..args.rounds {
        let wb = &mut sockets[round % buyers.len()];
        match one_round(&mut wh, wb, room, round).await {
            Ok((a, b, h)) => {
                ack.record(a);
                buyer_ended.record(b);
                host_ended.record(h);
            }
            Err(e) => {
                failures.push(format!("round {round}: {e:#}"));
                break;
            }
        }
    }
    progress.finish("done");
    client::request(&mut wh, "end", "room.end", json!({ "room_id": room })).await?;
    Ok(Report {
        scenario: "consent-call",
        params: json!({ "buyers": args.buyers, "rounds": args.rounds,
                        "peer_addr": args.peer_addr.map(|a| a.to_string()) }),
        elapsed: started.elapsed(),
        figures: vec![
            ("calls_ended_by_withdrawal", json!(host_ended.count())),
            ("rounds_failed", json!(failures.len())),
        ],
        latencies: vec![
            ("withdraw -> ack", ack),
            (
                "withdraw -> room.call.ended on the buyer's device",
                buyer_ended,
            ),
            ("withdraw -> room.call.ended on the host's node", host_ended),
        ],
        series: Vec::new(),
        failures,
    })
}

/// Ends the rooms the host left open and opens a live one.
async fn open_room(wh: &mut Ws) -> anyhow::Result<i64> {
    let mine = client::request(wh, "mine", "room.mine", json!({})).await?;
    for room in mine["rooms"].as_array().into_iter().flatten() {
        if room["status"] != "ended" {
            let id = room["id"].as_i64().context("room without id")?;
            client::request(wh, "end-old", "room.end", json!({ "room_id": id })).await?;
        }
    }
    let data = json!({ "title": "连线鉴定压测", "category": "jade" });
    let created = client::request(wh, "create", "room.create", data)
        .await
        .context("room.create (the host needs the appraiser role: --grant-with)")?;
    let room = created["room"]["id"].as_i64().context("room without id")?;
    client::request(wh, "start", "room.start", json!({ "room_id": room })).await?;
    Ok(room)
}

/// One call, ended by the buyer's withdrawal: (ack, buyer's end, host's end) times.
async fn one_round(
    wh: &mut Ws,
    wb: &mut Ws,
    room: i64,
    round: usize,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    client::request(
        wb,
        "q",
        "room.queue.join",
        json!({ "room_id": room, "description": format!("第{round}件") }),
    )
    .await?;
    let side = client::request(wh, "call", "room.call", json!({ "room_id": room })).await?;
    let call = side["call"]["id"].as_i64().context("call id")?;
    until(wb, "room.call.ringing", |f| {
        f["type"] == "room.call.ringing"
    })
    .await?;
    client::request(wb, "a", "room.call.answer", json!({ "call_id": call })).await?;
    until(wh, "room.call.connected", |f| {
        f["type"] == "room.call.connected"
    })
    .await?;

    let id = format!("w{round}");
    let t0 = Instant::now();
    wb.send(client::command(&id, "consent.withdraw", grant(CAMERA)))
        .await?;
    let (buyer, host) = tokio::join!(buyer_side(wb, &id, call, t0), async {
        let event = until(wh, "room.call.ended on the host", ended_by_withdrawal(call)).await;
        (event, t0.elapsed())
    },);
    let (ack, buyer_end) = buyer?;
    let (event, host_end) = host;
    let event = event?;
    if event["data"]["call"]["end_reason"] != "consent_withdrawn" {
        bail!("the call ended for another reason: {event}");
    }
    let refused = wh
        .send(client::command(
            "o",
            "rtc.offer",
            json!({ "call_id": call, "sdp": OFFER }),
        ))
        .await;
    refused?;
    let reply = until(wh, "rtc.offer reply", |f| f["re"] == "o").await?;
    if reply["error"]["code"] != "call_ended" {
        bail!("signalling for an ended call was not refused: {reply}");
    }
    client::request(wb, "g", "consent.grant", grant(CAMERA)).await?;
    Ok((ack, buyer_end, host_end))
}

/// The buyer's socket: the withdrawal's reply and the call's end, in either order.
async fn buyer_side(
    wb: &mut Ws,
    id: &str,
    call: i64,
    t0: Instant,
) -> anyhow::Result<(Duration, Duration)> {
    let (mut ack, mut ended) = (None, None);
    let deadline = tokio::time::Instant::now() + WAIT;
    while ack.is_none() || ended.is_none() {
        let msg = tokio::time::timeout_at(deadline, wb.next())
            .await
            .context("no withdrawal reply and call end within 10 s")?
            .context("socket closed")??;
        let Message::Text(text) = msg else { continue };
        let frame: Value = serde_json::from_str(&text)?;
        if frame["re"] == id {
            if frame["ok"] != true {
                bail!("consent.withdraw failed: {}", frame["error"]);
            }
            ack = Some(t0.elapsed());
        } else if ended_by_withdrawal(call)(&frame) {
            ended = Some(t0.elapsed());
        }
    }
    match (ack, ended) {
        (Some(a), Some(e)) => Ok((a, e)),
        _ => bail!("unreachable: both were awaited"),
    }
}
