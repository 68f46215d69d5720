//! The progress line on stderr, so that stdout carries only the summary table. On a terminal
//! it redraws itself in place with `\r`; redirected to a file it writes a plain line every few
//! seconds instead, since a log full of carriage returns is unreadable.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often scenarios poll their counters (and sample their curves).
pub const TICK: Duration = Duration::from_millis(100);
const LOG_EVERY: Duration = Duration::from_secs(5);
const REDRAW_EVERY: Duration = Duration::from_millis(50);

pub struct Progress {
    phase: &'static str,
    started: Instant,
    tty: bool,
    last_log: Instant,
    last_draw: Option<Instant>,
    /// Width of the last line drawn, to blank out what a shorter line leaves behind.
    width: usize,
}

impl Progress {
    pub fn start(phase: &'static str) -> Self {
        let now = Instant::now();
        Self {
            phase,
            started: now,
            tty: std::io::stderr().is_terminal(),
            last_log: now,
            last_draw: None,
            width: 0,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn line(&self, status: &str) -> String {
        format!(
            "{:<10}{:>7.1}s  {status}",
            self.phase,
            self.elapsed().as_secs_f64()
        )
    }

    pub fn update(&mut self, status: &str) {
        // Callers may update per event; a terminal needs no more than ~20 redraws a second.
        if self.tty && self.last_draw.is_some_and(|t| t.elapsed() < REDRAW_EVERY) {
            return;
        }
        self.draw(status);
    }

    fn draw(&mut self, status: &str) {
        let line = self.line(status);
        let mut err = std::io::stderr().lock();
        if self.tty {
            self.last_draw = Some(Instant::now());
            let pad = self.width.saturating_sub(line.chars().count());
            let _ = write!(err, "\r{line}{:pad$}", "");
            let _ = err.flush();
            self.width = line.chars().count();
        } else if self.last_log.elapsed() >= LOG_EVERY {
            let _ = writeln!(err, "{line}");
            self.last_log = Instant::now();
        }
    }

    /// Draws the final state and ends the line.
    pub fn finish(mut self, status: &str) {
        if self.tty {
            self.draw(status);
            eprintln!();
        } else {
            eprintln!("{}", self.line(status));
        }
    }

    /// Calls `tick` every [`TICK`] with the phase's elapsed time and shows the status it
    /// returns, until it reports done (true) or `timeout` passes (false; `Duration::MAX`
    /// waits for done).
    pub async fn until(
        &mut self,
        timeout: Duration,
        mut tick: impl FnMut(Duration) -> (String, bool),
    ) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let (status, done) = tick(self.elapsed());
            self.update(&status);
            if done {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            tokio::time::sleep(TICK).await;
        }
    }
}

/// Events per second, safe at time zero.
pub fn per_sec(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(0.001)
}
