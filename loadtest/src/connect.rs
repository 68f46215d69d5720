//! Scenario `connect`: opens N authenticated sockets, holds them for a while and measures
//! what they cost: time to open them, failures, drops, and (given the server's pid) the
//! server's memory per socket and its projection to 100k sockets.
//!
//! Sockets share a smaller set of users (each login is two HTTP requests, so registering
//! 20k users would dominate the run). One process may hold only as many sockets as its
//! open-files limit allows (20000 here), so `--processes K` re-executes this binary as K
//! children: each gets its share of sockets on the command line and the tokens as one JSON
//! line on stdin, reports JSON lines on stdout, and stops holding when its stdin closes (so
//! children never outlive a parent that dies). The parent aggregates.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::client::{self, Phones, SourceAddrs};
use crate::progress::{per_sec, Progress, TICK};
use crate::report::{Report, Series};
use crate::stats::Histogram;
use crate::sys;

#[derive(clap::Args)]
pub struct Args {
    /// Sockets to open.
    #[arg(long, default_value_t = 1000)]
    sockets: usize,
    /// Users the sockets belong to, round-robin [default: min(sockets, 1000)].
    #[arg(long)]
    users: Option<usize>,
    /// How long to hold the sockets once all are open, in seconds.
    #[arg(long, default_value_t = 10)]
    hold_seconds: u64,
    /// The server's process id: its resident memory before and after gives bytes per socket.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Spread the sockets over this many child processes (each has its own open-files limit).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Client source addresses, used round-robin (e.g. 127.0.0.1,127.0.0.2): one address
    /// offers about 28k ports towards one server port. A single address is not bound.
    #[arg(long, value_delimiter = ',')]
    source_addrs: Vec<IpAddr>,
    /// Handshakes in flight at once, per process.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Child role: the global index of this child's first socket; tokens come on stdin.
    #[arg(long, hide = true)]
    child_offset: Option<usize>,
}

impl Args {
    pub fn is_child(&self) -> bool {
        self.child_offset.is_some()
    }
}

/// A socket that is neither open nor refused after this long counts as failed.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Files a process needs besides its sockets (stdio, epoll, the runtime's pipes).
const SPARE_FDS: usize = 64;
const PROJECTED_SOCKETS: u64 = 100_000;

/// Counts a worker keeps current while it runs; the parent sums them for progress.
#[derive(Default)]
struct Live {
    opened: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Live {
    fn store(&self, opened: u64, failed: u64, dropped: u64) {
        self.opened.store(opened, Ordering::Relaxed);
        self.failed.store(failed, Ordering::Relaxed);
        self.dropped.store(dropped, Ordering::Relaxed);
    }

    fn load(&self) -> (u64, u64, u64) {
        (
            self.opened.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}

/// What a worker (in this process or a child) reports at the end.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct WorkerResult {
    opened: u64,
    failed: u64,
    /// Sockets the server closed (or that broke) while held.
    dropped: u64,
    /// Connect + handshake time of each opened socket.
    open_us: Vec<u64>,
    /// Failure messages and how often each occurred.
    errors: BTreeMap<String, u64>,
}

impl WorkerResult {
    fn merge(&mut self, other: WorkerResult) {
        self.opened += other.opened;
        self.failed += other.failed;
        self.dropped += other.dropped;
        self.open_us.extend(other.open_us);
        for (e, n) in other.errors {
            *self.errors.entry(e).or_default() += n;
        }
    }
}

/// One line of a child's stdout: statuses while it runs, then its result.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ChildLine {
    Status {
        opened: u64,
        failed: u64,
        dropped: u64,
    },
    Done(WorkerResult),
}

/// The sockets one worker opens: global indices `first..first + count`.
#[derive(Clone)]
struct Plan {
    addr: SocketAddr,
    tokens: Arc<Vec<String>>,
    first: usize,
    count: usize,
    sources: SourceAddrs,
    concurrency: usize,
}

/// Splits `n` sockets over `k` workers as (first, count), the remainder to the first ones.
fn split(n: usize, k: usize) -> Vec<(usize, usize)> {
    let mut first = 0;
    (0..k)
        .map(|i| {
            let count = n / k + usize::from(i < n % k);
            let share = (first, count);
            first += count;
            share
        })
        .collect()
}

/// Opens the plan's sockets and holds them until `stop`.
async fn work(plan: Plan, live: Arc<Live>, stop: watch::Receiver<bool>) -> WorkerResult {
    let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let mut sockets = JoinSet::new();
    for i in plan.first..plan.first + plan.count {
        sockets.spawn(hold_one(
            plan.clone(),
            i,
            permits.clone(),
            live.clone(),
            stop.clone(),
        ));
    }
    let mut result = WorkerResult::default();
    while let Some(outcome) = sockets.join_next().await {
        match outcome {
            Ok(Ok((open, dropped))) => {
                result.opened += 1;
                result.dropped += u64::from(dropped);
                result.open_us.push(open.as_micros() as u64);
            }
            Ok(Err(e)) => {
                result.failed += 1;
                *result.errors.entry(e).or_default() += 1;
            }
            Err(e) => {
                result.failed += 1;
                *result.errors.entry(format!("task: {e}")).or_default() += 1;
            }
        }
    }
    result
}

/// One socket: open it (its time is the result), then read until stopped, so that tungstenite
/// answers the server's pings (a socket silent for 30 s is closed by the server).
/// Returns the open time and whether the socket dropped while held, or why it failed.
async fn hold_one(
    plan: Plan,
    i: usize,
    permits: Arc<Semaphore>,
    live: Arc<Live>,
    mut stop: watch::Receiver<bool>,
) -> Result<(Duration, bool), String> {
    let opened = {
        let _permit = permits.acquire().await.map_err(|e| e.to_string())?;
        let started = Instant::now();
        let token = &plan.tokens[i % plan.tokens.len()];
        let open = client::connect(plan.addr, token, plan.sources.pick(i));
        tokio::select! {
            r = tokio::time::timeout(OPEN_TIMEOUT, open) => match r {
                Ok(Ok(ws)) => Ok((ws, started.elapsed())),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(_) => Err("open timed out".to_string()),
            },
            _ = stop.wait_for(|s| *s) => Err("stopped before open".to_string()),
        }
    };
    let (mut ws, open_time) = match opened {
        Ok(v) => v,
        Err(e) => {
            live.failed.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
    };
    live.opened.fetch_add(1, Ordering::Relaxed);
    let dropped = loop {
        tokio::select! {
            msg = ws.next() => if !matches!(msg, Some(Ok(_))) { break true },
            _ = stop.wait_for(|s| *s) => break false,
        }
    };
    if dropped {
        live.dropped.fetch_add(1, Ordering::Relaxed);
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    }
    Ok((open_time, dropped))
}

/// A running worker, whichever process it runs in.
struct Worker {
    live: Arc<Live>,
    stop: Box<dyn FnOnce() + Send>,
    result: JoinHandle<anyhow::Result<WorkerResult>>,
}

fn start_in_process(plan: Plan) -> Worker {
    let (tx, rx) = watch::channel(false);
    let live = Arc::new(Live::default());
    let worker_live = live.clone();
    Worker {
        live,
        stop: Box::new(move || {
            let _ = tx.send(true);
        }),
        result: tokio::spawn(async move { Ok(work(plan, worker_live, rx).await) }),
    }
}

/// Re-executes this binary in the child role for `plan`.
fn start_child(plan: &Plan) -> anyhow::Result<Worker> {
    let mut command = Command::new(std::env::current_exe().context("own executable")?);
    command
        .args(["--addr", &plan.addr.to_string(), "connect"])
        .args(["--sockets", &plan.count.to_string()])
        .args(["--concurrency", &plan.concurrency.to_string()])
        .args(["--child-offset", &plan.first.to_string()]);
    if plan.sources.count() > 1 {
        command.args(["--source-addrs", &plan.sources.to_arg()]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start a child process")?;
    let mut stdin = child.stdin.take().context("child stdin")?;
    writeln!(stdin, "{}", serde_json::to_string(&*plan.tokens)?)?;
    stdin.flush()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let live = Arc::new(Live::default());
    let reader_live = live.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut result = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.context("read child output")?;
            match serde_json::from_str(&line).with_context(|| format!("child said: {line}"))? {
                ChildLine::Status {
                    opened,
                    failed,
                    dropped,
                } => reader_live.store(opened, failed, dropped),
                ChildLine::Done(r) => {
                    reader_live.store(r.opened, r.failed, r.dropped);
                    result = Some(r);
                }
            }
        }
        let status = child.wait().context("wait for child")?;
        result.with_context(|| format!("child exited ({status}) without a result"))
    });
    Ok(Worker {
        live,
        // Closing its stdin is the child's signal to stop holding.
        stop: Box::new(move || drop(stdin)),
        result: tokio::spawn(async move { result.await.context("child reader")? }),
    })
}

/// The child role: tokens on stdin, JSON lines on stdout, hold until stdin closes.
pub async fn child(addr: SocketAddr, args: Args) -> anyhow::Result<()> {
    let first = args.child_offset.context("not a child")?;
    let tokens: Vec<String> = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        anyhow::Ok(serde_json::from_str(&line)?)
    })
    .await??;
    if tokens.is_empty() {
        bail!("no tokens on stdin");
    }
    let (tx, rx) = watch::channel(false);
    std::thread::spawn(move || {
        // Everything after the tokens line is ignored; end of input means stop.
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = tx.send(true);
    });
    let plan = Plan {
        addr,
        tokens: Arc::new(tokens),
        first,
        count: args.sockets,
        sources: SourceAddrs::new(args.source_addrs),
        concurrency: args.concurrency,
    };
    let live = Arc::new(Live::default());
    let reporter = {
        let live = live.clone();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let (opened, failed, dropped) = live.load();
                if last != Some((opened, failed, dropped)) {
                    print_line(&ChildLine::Status {
                        opened,
                        failed,
                        dropped,
                    });
                    last = Some((opened, failed, dropped));
                }
                tokio::time::sleep(TICK).await;
            }
        })
    };
    let result = work(plan, live, rx).await;
    reporter.abort();
    print_line(&ChildLine::Done(result));
    Ok(())
}

fn print_line(line: &ChildLine) {
    if let Ok(text) = serde_json::to_string(line) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

/// Bytes per socket from the server's memory before and after, and the memory that makes at
/// `PROJECTED_SOCKETS`: the baseline plus that many sockets.
fn memory_per_socket(before: u64, after: u64, sockets: u64) -> Option<(f64, f64)> {
    if sockets == 0 {
        return None;
    }
    let per_socket = after.saturating_sub(before) as f64 / sockets as f64;
    Some((
        per_socket,
        before as f64 + per_socket * PROJECTED_SOCKETS as f64,
    ))
}

fn mb(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// Sockets open (minus dropped) and server memory over time, sampled each tick.
struct Curves {
    started: Instant,
    pid: Option<u32>,
    open: Vec<(f64, f64)>,
    rss: Vec<(f64, f64)>,
}

impl Curves {
    fn sample(&mut self, holding: u64) {
        let t = self.started.elapsed().as_secs_f64();
        self.open.push((t, holding as f64));
        if let Some(bytes) = self.pid.and_then(sys::rss_bytes) {
            self.rss.push((t, mb(bytes as f64)));
        }
    }
}

pub async fn run(addr: SocketAddr, args: Args) -> anyhow::Result<Report> {
    let n = args.sockets;
    let k = args.processes;
    if n == 0 || k == 0 || k > n {
        bail!("need 1 <= --processes <= --sockets, and at least one socket");
    }
    let sources = SourceAddrs::new(args.source_addrs.clone());
    if sources.count() == 1 && !args.source_addrs.is_empty() {
        eprintln!("note: a single source address is not bound; the kernel chooses it");
    }
    let per_process = n.div_ceil(k);
    let fd_limit = sys::fd_soft_limit() as usize;
    if per_process + SPARE_FDS > fd_limit {
        bail!(
            "{per_process} sockets per process exceed the open-files limit {fd_limit}: \
             use --processes {}",
            n.div_ceil(fd_limit.saturating_sub(SPARE_FDS).max(1))
        );
    }
    if let Some(ports) = sys::local_port_count() {
        if n as u64 > ports * sources.count() as u64 {
            eprintln!(
                "warning: {n} sockets but only {ports} ports per source address: \
                 add addresses with --source-addrs"
            );
        }
    }
    let user_count = args.users.unwrap_or(n.min(1000)).clamp(1, n);
    let users = client::login_many(addr, &Phones::for_this_run(), user_count).await?;
    let tokens = Arc::new(users.into_iter().map(|u| u.token).collect::<Vec<_>>());

    let pid = args.server_pid;
    let rss_before = pid.and_then(sys::rss_bytes);
    if pid.is_some() && rss_before.is_none() {
        eprintln!("warning: cannot read /proc/{}/status", pid.unwrap_or(0));
    }
    let plans: Vec<Plan> = split(n, k)
        .into_iter()
        .map(|(first, count)| Plan {
            addr,
            tokens: tokens.clone(),
            first,
            count,
            sources: sources.clone(),
            concurrency: args.concurrency,
        })
        .collect();
    let started = Instant::now();
    let workers = if k == 1 {
        vec![start_in_process(plans[0].clone())]
    } else {
        plans
            .iter()
            .map(start_child)
            .collect::<anyhow::Result<_>>()?
    };
    let totals = || {
        workers
            .iter()
            .map(|w| w.live.load())
            .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    };
    let mut curves = Curves {
        started,
        pid,
        open: Vec::new(),
        rss: Vec::new(),
    };

    let mut progress = Progress::start("open");
    progress
        .until(Duration::MAX, |elapsed| {
            let (opened, failed, dropped) = totals();
            curves.sample(opened.saturating_sub(dropped));
            let status = format!(
                "{opened}/{n} open ({:.0}/s)  {failed} failed  {dropped} dropped",
                per_sec(opened, elapsed)
            );
            // Also done when every worker has ended (a child that died reports no more).
            let ended = workers.iter().all(|w| w.result.is_finished());
            (status, opened + failed >= n as u64 || ended)
        })
        .await;
    let open_time = started.elapsed();
    let (opened, failed, _) = totals();
    progress.finish(&format!(
        "{opened} open, {failed} failed in {:.1}s",
        open_time.as_secs_f64()
    ));
    let rss_open = pid.and_then(sys::rss_bytes);
    let fds_open = pid.and_then(sys::open_fds);

    let mut progress = Progress::start("hold");
    let hold = Duration::from_secs(args.hold_seconds);
    progress
        .until(hold, |elapsed| {
            let (opened, _, dropped) = totals();
            curves.sample(opened.saturating_sub(dropped));
            let status = format!("{} open  {dropped} dropped", opened.saturating_sub(dropped));
            (status, elapsed >= hold)
        })
        .await;
    let rss_held = pid.and_then(sys::rss_bytes);
    progress.finish("closing");

    let mut total = WorkerResult::default();
    let mut results = Vec::new();
    for w in workers {
        (w.stop)();
        results.push(w.result);
    }
    for r in results {
        total.merge(r.await??);
    }
    let elapsed = started.elapsed();

    let mut figures = vec![
        ("sockets_opened", json!(total.opened)),
        ("open_failures", json!(total.failed)),
        ("dropped_while_held", json!(total.dropped)),
        ("time_to_open_all_s", json!(open_time.as_secs_f64())),
        ("open_rate_per_s", json!(per_sec(total.opened, open_time))),
    ];
    if let Some(limit) = pid.and_then(sys::open_files_limit) {
        figures.push(("server_open_files_limit", json!(limit)));
    }
    if let Some(fds) = fds_open {
        figures.push(("server_open_fds_when_open", json!(fds)));
    }
    if let (Some(before), Some(after)) = (rss_before, rss_open) {
        figures.push(("server_rss_before_mb", json!(mb(before as f64))));
        figures.push(("server_rss_all_open_mb", json!(mb(after as f64))));
        if let Some(held) = rss_held {
            figures.push(("server_rss_end_of_hold_mb", json!(mb(held as f64))));
        }
        if let Some((per_socket, projected)) = memory_per_socket(before, after, opened) {
            figures.push(("server_bytes_per_socket", json!(per_socket.round() as u64)));
            figures.push(("server_rss_at_100k_sockets_mb", json!(mb(projected))));
        }
    }
    if !total.errors.is_empty() {
        figures.push(("errors", json!(total.errors)));
    }
    let mut failures = Vec::new();
    if total.failed > 0 {
        failures.push(format!("{} sockets failed to open", total.failed));
    }
    if total.dropped > 0 {
        failures.push(format!("{} sockets dropped while held", total.dropped));
    }
    let mut series = vec![Series {
        title: "sockets open",
        x_title: "seconds",
        y_title: "sockets",
        points: curves.open,
    }];
    if !curves.rss.is_empty() {
        series.push(Series {
            title: "server resident memory",
            x_title: "seconds",
            y_title: "MB",
            points: curves.rss,
        });
    }
    Ok(Report {
        scenario: "connect",
        params: json!({
            "sockets": n, "users": user_count, "hold_seconds": args.hold_seconds,
            "processes": k, "source_addrs": sources.count(), "concurrency": args.concurrency,
            "server_pid": pid,
        }),
        elapsed,
        figures,
        latencies: vec![(
            "open (tcp + handshake)",
            Histogram::from_micros(total.open_us),
        )],
        series,
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_every_socket_once() {
        assert_eq!(split(10, 3), vec![(0, 4), (4, 3), (7, 3)]);
        assert_eq!(split(4, 1), vec![(0, 4)]);
        let parts = split(20_001, 4);
        assert_eq!(parts.iter().map(|p| p.1).sum::<usize>(), 20_001);
        assert!(parts.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
    }

    #[test]
    fn results_aggregate() {
        let mut total = WorkerResult::default();
        total.merge(WorkerResult {
            opened: 3,
            failed: 1,
            dropped: 0,
            open_us: vec![10, 20, 30],
            errors: BTreeMap::from([("refused".to_string(), 1)]),
        });
        total.merge(WorkerResult {
            opened: 2,
            failed: 2,
            dropped: 1,
            open_us: vec![40, 50],
            errors: BTreeMap::from([("refused".to_string(), 1), ("timeout".to_string(), 1)]),
        });
        assert_eq!((total.opened, total.failed, total.dropped), (5, 3, 1));
        assert_eq!(total.open_us.len(), 5);
        assert_eq!(total.errors["refused"], 2);
        assert_eq!(total.errors["timeout"], 1);
    }

    #[test]
    fn child_lines_round_trip() {
        let status = ChildLine::Status {
            opened: 1,
            failed: 2,
            dropped: 3,
        };
        let text = serde_json::to_string(&status).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"status","opened":1,"failed":2,"dropped":3}"#
        );
        let done = ChildLine::Done(WorkerResult {
            opened: 1,
            open_us: vec![7],
            ..Default::default()
        });
        let back: ChildLine = serde_json::from_str(&serde_json::to_string(&done).unwrap()).unwrap();
        assert_eq!(back, done);
    }

    #[test]
    fn memory_projection() {
        let mib = 1024 * 1024;
        let (per, projected) = memory_per_socket(100 * mib, 110 * mib, 1024).unwrap();
        assert_eq!(per, 10240.0);
        assert_eq!(projected, 100.0 * mib as f64 + 10240.0 * 100_000.0);
        assert!(memory_per_socket(1, 2, 0).is_none());
        // Memory that shrank (the allocator returned pages) is not a negative cost.
        assert_eq!(memory_per_socket(10, 5, 5).unwrap().0, 0.0);
    }
}
