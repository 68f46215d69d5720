//! Scenario `feed-fanout`: the community's fan-out on write (docs/feed.md). An author with
//! `--followers` followers posts `--posts` times; each time it measures the acknowledgement,
//! `feed.post` reaching each of `--online` followers' sockets, and the time until the
//! follower fanned out last (the highest id: fan-out walks followers by id) has the post in
//! its home feed (polled with `feed.home`). Then the online followers read their home feed at
//! `--read-rate` pages per second for `--read-seconds`: page latency. Run it against a server
//! started with `DUOXIE_FEED_FANOUT_MAX_FOLLOWERS` below the follower count to measure the
//! read-time merge of a big author instead (no fan-out: the post is in every feed once
//! committed, and the online followers, who called `feed.live`, hear of it on the author's
//! topic).
//!
//! One node, from a release build, with the limits raised for a run's logins and frames:
//!
//! ```sh
//! DUOXIE_DATA_DIR=$(mktemp -d) DUOXIE_AUTH_DEV_CODES=true DUOXIE_AUTH_CODE_RESEND_MS=0 \
//!   DUOXIE_AUTH_CODES_PER_IP_PER_HOUR=1000000 DUOXIE_AUTH_LOGINS_PER_IP_PER_HOUR=1000000 \
//!   DUOXIE_AUTH_CODES_GLOBAL_PER_MINUTE=1000000 DUOXIE_WS_RATE_PER_SEC=1000 \
//!   DUOXIE_WS_RATE_BURST=2000 DUOXIE_LISTEN=127.0.0.1:18401 target/release/duoxie serve
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{stream, SinkExt, StreamExt};
use serde_json::json;

use crate::client::{self, Phones, Ws};
use crate::progress::Progress;
use crate::report::Report;
use crate::stats::Histogram;
use crate::withdrawal::until;

#[derive(clap::Args)]
pub struct Args {
    /// Followers of the author.
    #[arg(long, default_value_t = 10_000)]
    followers: usize,
    /// Followers holding a socket (they get `feed.post` and read the feed).
    #[arg(long, default_value_t = 200)]
    online: usize,
    /// Posts measured, one after the other.
    #[arg(long, default_value_t = 5)]
    posts: usize,
    /// Home-feed pages per second, over all online followers.
    #[arg(long, default_value_t = 1000)]
    read_rate: u64,
    /// How long the read phase lasts.
    #[arg(long, default_value_t = 10)]
    read_seconds: u64,
}

/// Longest wait for one post to reach everyone.
const WAIT: Duration = Duration::from_secs(120);

pub async fn run(addr: SocketAddr, args: Args) -> anyhow::Result<Report> {
    if args.followers == 0 || args.online == 0 || args.online > args.followers {
        bail!("--followers ≥ --online ≥ 1");
    }
    let phones = Phones::for_this_run();
    let mut users = client::login_many(addr, &phones, args.followers + 1).await?;
    let author = users.remove(0);
    // Follow, each on a short-lived socket (many at a time).
    let progress = Progress::start("follow");
    let author_id = author.id;
    let follows: Vec<anyhow::Result<()>> = stream::iter(users.iter())
        .map(|u| async move {
            let mut ws = client::connect(addr, &u.token, None).await?;
            client::request(&mut ws, "f", "user.follow", json!({ "user_id": author_id })).await?;
            ws.close(None).await.ok();
            Ok(())
        })
        .buffer_unordered(client::SETUP_CONCURRENCY)
        .collect()
        .await;
    for f in follows {
        f?;
    }
    progress.finish(&format!("{} follows", users.len()));
    let last = users.iter().max_by_key(|u| u.id).context("no follower")?;
    let mut online = Vec::with_capacity(args.online);
    for u in users.iter().rev().take(args.online) {
        let mut ws = client::connect(addr, &u.token, None).await?;
        // As the web client does on every connection: a big author's posts (merged at read,
        // not fanned out) then arrive live through the author's topic.
        client::request(&mut ws, "l", "feed.live", json!({})).await?;
        online.push(ws);
    }
    let mut wlast = client::connect(addr, &last.token, None).await?;
    let mut wa = client::connect(addr, &author.token, None).await?;

    let started = Instant::now();
    let (mut ack, mut event, mut everyone, mut last_has) = (
        Histogram::default(),
        Histogram::default(),
        Histogram::default(),
        Histogram::default(),
    );
    let mut failures = Vec::new();
    for i in 0..args.posts {
        let t0 = Instant::now();
        let id = format!("p{i}");
        wa.send(client::command(
            &id,
            "post.create",
            json!({ "text": format!("压测第{i}帖：和田玉籽料"), "category": "nephrite" }),
        ))
        .await?;
        let reply = until(&mut wa, "post.create reply", |f| f["re"] == id.as_str()).await?;
        ack.record(t0.elapsed());
        let post_id = reply["data"]["post"]["id"].as_i64().context("post id")?;
        let waits = online.iter_mut().map(|ws| async move {
            until(ws, "feed.post", |f| {
                f["type"] == "feed.post" && f["data"]["post"]["id"] == post_id
            })
            .await
            .map(|_| t0.elapsed())
        });
        let (arrivals, reached_last) = tokio::join!(
            futures_util::future::join_all(waits),
            poll_until_in_feed(&mut wlast, post_id, t0),
        );
        let mut slowest = Duration::ZERO;
        for a in arrivals {
            match a {
                Ok(d) => {
                    event.record(d);
                    slowest = slowest.max(d);
                }
                Err(e) => failures.push(format!("post {i}: {e:#}")),
            }
        }
        everyone.record(slowest);
        match reached_last {
            Ok(d) => last_has.record(d),
            Err(e) => failures.push(format!("post {i}: {e:#}")),
        }
    }

    let reads = read_phase(&mut online, args.read_rate, args.read_seconds).await?;
    failures.truncate(10);
    Ok(Report {
        scenario: "feed-fanout",
        params: json!({ "followers": args.followers, "online": args.online, "posts": args.posts,
                        "read_rate": args.read_rate, "read_seconds": args.read_seconds }),
        elapsed: started.elapsed(),
        figures: vec![
            ("posts_measured", json!(last_has.count())),
            ("home_pages_read", json!(reads.count())),
        ],
        latencies: vec![
            ("post -> ack", ack),
            ("post -> feed.post on an online follower", event),
            ("post -> feed.post on the last online follower", everyone),
            (
                "post -> in the feed of the last follower fanned out",
                last_has,
            ),
            ("feed.home page (20 posts)", reads),
        ],
        series: Vec::new(),
        failures,
    })
}

/// Reads `feed.home` on the socket until the post is on its first page.
async fn poll_until_in_feed(ws: &mut Ws, post_id: i64, t0: Instant) -> anyhow::Result<Duration> {
    let mut n = 0u64;
    loop {
        n += 1;
        let id = format!("h{n}");
        let page = client::request(ws, &id, "feed.home", json!({ "limit": 1 })).await?;
        if page["posts"][0]["id"] == post_id {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > WAIT {
            bail!("post {post_id} not in the last follower's feed after {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The online followers read their home feed at `rate` pages a second in all.
async fn read_phase(online: &mut [Ws], rate: u64, seconds: u64) -> anyhow::Result<Histogram> {
    let progress = Progress::start("reads");
    let per_socket = (rate as f64 / online.len() as f64).max(0.01);
    let every = Duration::from_secs_f64(1.0 / per_socket);
    let end = Instant::now() + Duration::from_secs(seconds);
    let sockets = online.len();
    let results: Vec<anyhow::Result<Histogram>> =
        futures_util::future::join_all(online.iter_mut().enumerate().map(|(i, ws)| async move {
            let mut h = Histogram::default();
            tokio::time::sleep(start_phase(i, sockets, every)).await;
            let mut tick = tokio::time::interval(every);
            let mut n = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                n += 1;
                let t = Instant::now();
                client::request(ws, &format!("r{n}"), "feed.home", json!({ "limit": 20 })).await?;
                h.record(t.elapsed());
            }
            Ok(h)
        }))
        .await;
    let mut all = Histogram::default();
    for r in results {
        all.merge(r?);
    }
    progress.finish(&format!("{} pages", all.count()));
    Ok(all)
}

/// When socket `i` of `sockets` first reads, within one interval `every`: each at its own
/// phase, so the pages arrive evenly rather than in a burst at the start of each interval.
fn start_phase(i: usize, sockets: usize, every: Duration) -> Duration {
    every.mul_f64(i as f64 / sockets.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_start_spread_over_the_whole_interval() {
        let every = Duration::from_millis(200);
        for sockets in [1, 7, 200, 1000, 5000] {
            let mut phases: Vec<Duration> = (0..sockets)
                .map(|i| start_phase(i, sockets, every))
                .collect();
            assert!(phases.iter().all(|p| *p < every), "{sockets} sockets");
            phases.sort();
            // The widest gap between consecutive starts (and around the end of the interval)
            // is one socket's share of it: no burst.
            let share = every.as_secs_f64() / sockets as f64;
            let wrap = every - phases[phases.len() - 1] + phases[0];
            let widest = phases
                .windows(2)
                .map(|w| w[1] - w[0])
                .chain([wrap])
                .max()
                .unwrap_or_default();
            assert!(
                widest.as_secs_f64() <= share * 1.001,
                "{sockets} sockets: a gap of {widest:?}, a share of {share}s"
            );
        }
    }
}
