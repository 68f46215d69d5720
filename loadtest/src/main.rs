//! `duoxie-loadtest`: drives a running Duoxie server with real clients over real sockets and
//! checks what it gets back while it measures. One module per scenario:
//!
//! - `chat`: pairs of users chatting; persisted messages per second and their latencies. Its
//!   clients follow the protocol (fill gaps by sync, reconnect to another node, resume), so a
//!   run across a Redis restart or a killed node reports what arrived live, by sync and never
//!   (`scripts/faults.sh` runs both faults).
//! - `connect`: many authenticated sockets held open; open time, failures, server memory.
//! - `reconnect-storm`: every socket dropped at once and resumed with `chat.sync`; resume
//!   times, and nothing acknowledged may be lost or arrive twice.
//! - `consent-withdrawal`: a withdrawal on one node, timed until the user's socket on another
//!   node hears it; the gated feature must be refused there afterwards.
//! - `consent-call`: a buyer withdraws the camera mid-call on one node, timed until the call
//!   ends for the host on another node.
//! - `feed-fanout`: one post to N followers (ack, events, the last follower's feed) and
//!   home-feed reads per second.
//! - `room`: one live room, N spectators, a host commenting at full speed or paced; comment
//!   deliveries per second, comment→spectator latency, a room held, and a like storm's
//!   `room.stats` per second (`docs/live.md`).
//!
//! Users register through the dev-code login, so the server must run with
//! `DUOXIE_AUTH_DEV_CODES=true` (and a per-socket rate limit above the scenario's rates).
//!
//! Shared: `client` (accounts, sockets, the envelope), `recovery` (back-off, lost sockets,
//! `chat.sync` paging) and `tracker` (what a client holds of each conversation).
//!
//! Output: a progress line on stderr, the summary table on stdout, and with `--json` /
//! `--html` the same figures as JSON and as a self-contained page with SVG charts. The exit
//! status is non-zero when a correctness check failed.

mod call_withdrawal;
mod chat;
mod client;
mod connect;
mod fanout;
mod http;
mod progress;
mod recovery;
mod report;
mod room;
mod stats;
mod storm;
mod svg;
mod sys;
mod tracker;
mod withdrawal;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
    json: Option<PathBuf>,
    /// Write the results as a self-contained HTML page (inline SVG charts) to this file.
    #[arg(long, global = true)]
    html: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Pairs of users chatting: persisted 1:1 messages per second and their latencies.
    Chat(chat::Args),
    /// Open many authenticated sockets and hold them: open time, failures, server memory.
    Connect(connect::Args),
    /// Drop every client's socket at once; all reconnect and resume with chat.sync.
    ReconnectStorm(storm::Args),
    /// Withdraw a consent on one node; time until the user's socket on another node hears it.
    ConsentWithdrawal(withdrawal::Args),
    /// One live room: N spectators, one host commenting; deliveries/s, latency, like storm.
    Room(room::Args),
    /// A buyer withdraws the camera mid-call; time until the call ends on the host's node.
    ConsentCall(call_withdrawal::Args),
    /// One author's post fanned out to N followers; home-feed reads per second.
    FeedFanout(fanout::Args),
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let child = matches!(&cli.scenario, Scenario::Connect(a) if a.is_child());
    // Children keep stderr for errors: the parent already logged the limit they share.
    sys::raise_fd_limit(!child);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start tokio runtime")?;
    let report = runtime.block_on(async {
        match cli.scenario {
            Scenario::Connect(args) if args.is_child() => {
                connect::child(cli.addr, args).await.map(|()| None)
            }
            Scenario::Connect(args) => connect::run(cli.addr, args).await.map(Some),
            Scenario::Chat(args) => chat::run(cli.addr, args).await.map(Some),
            Scenario::ReconnectStorm(args) => storm::run(cli.addr, args).await.map(Some),
            Scenario::ConsentWithdrawal(args) => withdrawal::run(cli.addr, args).await.map(Some),
            Scenario::Room(args) => room::run(cli.addr, args).await.map(Some),
            Scenario::ConsentCall(args) => call_withdrawal::run(cli.addr, args).await.map(Some),
            Scenario::FeedFanout(args) => fanout::run(cli.addr, args).await.map(Some),
        }
    })?;
    let Some(report) = report else {
        return Ok(ExitCode::SUCCESS);
    };
    println!("{}", report.table());
    if let Some(path) = &cli.json {
        write(path, &serde_json::to_string_pretty(&report.json())?)?;
    }
    if let Some(path) = &cli.html {
        write(path, &report.html())?;
    }
    // A failed check is a finding, not a crash of the tool: say so and exit 1, no backtrace.
    if !report.passed() {
        eprintln!("correctness check failed: see the table above");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("write {}", path.display()))?;
    println!("results written to {}", path.display());
    Ok(())
}
