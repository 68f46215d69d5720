//! Process-wide operational metrics, rendered in the Prometheus text format at `GET /metrics`.
//!
//! Plain atomics in one static: recording is a relaxed add on the hot path, no locks, no
//! allocation, and no dependency on an exporter stack. Names follow Prometheus conventions
//! (`_total` counters, `_seconds` histograms). Nothing here may carry a user identifier.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A histogram with fixed buckets (upper bounds in seconds).
pub struct Histogram {
    bounds: &'static [f64],
    counts: [AtomicU64; 16],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// 100 µs to 10 s: from a local commit to a slow cross-node delivery.
const LATENCY_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// 1 s to 3 days: from an item entering the moderation queue to its decision.
const DECISION_BOUNDS: &[f64] = &[
    1.0, 10.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0,
];

impl Histogram {
    const fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: [const { AtomicU64::new(0) }; 16],
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[slot].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[self.bounds.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {}", self.count.load(Relaxed));
    }
}

pub struct Metrics {
    pub ws_connections: AtomicI64,
    pub ws_connections_opened: AtomicU64,
    pub ws_frames_in: AtomicU64,
    pub ws_frames_out: AtomicU64,
    pub ws_rate_limited: AtomicU64,
    pub ws_closed_slow_consumer: AtomicU64,
    pub ws_closed_flood: AtomicU64,
    pub ws_closed_heartbeat: AtomicU64,
    pub chat_messages_committed: AtomicU64,
    pub chat_sends_duplicate: AtomicU64,
    pub chat_commit_batches: AtomicU64,
    pub chat_commit_seconds: Histogram,
    pub chat_delivery_seconds: Histogram,
    pub moderation_decision_seconds: Histogram,
    pub bus_published: AtomicU64,
    pub bus_publish_errors: AtomicU64,
    pub bus_received: AtomicU64,
    pub bus_disconnects: AtomicU64,
    pub auth_logins: AtomicU64,
    pub auth_codes_sent: AtomicU64,
    pub accounts_deleted: AtomicU64,
    pub media_uploads: AtomicU64,
    pub auth_rate_limited: AtomicU64,
    pub auth_standing_enforced: AtomicU64,
    pub bus_recoveries: AtomicU64,
    pub media_quota_refused: AtomicU64,
    pub chat_text_rejected: AtomicU64,
    pub chat_text_held: AtomicU64,
}

pub static METRICS: Metrics = Metrics {
    ws_connections: AtomicI64::new(0),
    ws_connections_opened: AtomicU64::new(0),
    ws_frames_in: AtomicU64::new(0),
    ws_frames_out: AtomicU64::new(0),
    ws_rate_limited: AtomicU64::new(0),
    ws_closed_slow_consumer: AtomicU64::new(0),
    ws_closed_flood: AtomicU64::new(0),
    ws_closed_heartbeat: AtomicU64::new(0),
    chat_messages_committed: AtomicU64::new(0),
    chat_sends_duplicate: AtomicU64::new(0),
    chat_commit_batches: AtomicU64::new(0),
    chat_commit_seconds: Histogram::new(LATENCY_BOUNDS),
    chat_delivery_seconds: Histogram::new(LATENCY_BOUNDS),
    moderation_decision_seconds: Histogram::new(DECISION_BOUNDS),
    bus_published: AtomicU64::new(0),
    bus_publish_errors: AtomicU64::new(0),
    bus_received: AtomicU64::new(0),
    bus_disconnects: AtomicU64::new(0),
    auth_logins: AtomicU64::new(0),
    auth_codes_sent: AtomicU64::new(0),
    accounts_deleted: AtomicU64::new(0),
    media_uploads: AtomicU64::new(0),
    auth_rate_limited: AtomicU64::new(0),
    auth_standing_enforced: AtomicU64::new(0),
    bus_recoveries: AtomicU64::new(0),
    media_quota_refused: AtomicU64::new(0),
    chat_text_rejected: AtomicU64::new(0),
    chat_text_held: AtomicU64::new(0),
};

pub fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

/// Point-in-time values owned elsewhere (the pool), passed in at render time.
pub struct Gauges {
    pub db_pool_size: u32,
    pub db_pool_idle: usize,
    pub db_pool_max: u32,
    /// Open moderation items by priority (read from the database at scrape time).
    pub moderation_depth: Vec<(i64, i64)>,
    /// Age of the oldest open moderation item, ms (0 when the queue is empty).
    pub moderation_oldest_ms: i64,
}

impl Metrics {
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            &mut out,
            "duoxie_ws_connections",
            "Open WebSocket connections on this node.",
            self.ws_connections.load(Relaxed),
        );
        let counters: [(&str, &str, &AtomicU64); 24] = [
            ("duoxie_ws_connections_opened_total", "WebSocket connections accepted.", &self.ws_connections_opened),
            ("duoxie_ws_frames_in_total", "Frames received from clients.", &self.ws_frames_in),
            ("duoxie_ws_frames_out_total", "Text frames queued to clients.", &self.ws_frames_out),
            ("duoxie_ws_rate_limited_total", "Frames refused by the per-socket rate limit.", &self.ws_rate_limited),
            ("duoxie_ws_closed_slow_consumer_total", "Sockets closed with 4009 because their outbound queue overflowed (queued frames dropped).", &self.ws_closed_slow_consumer),
            ("duoxie_ws_closed_flood_total", "Sockets closed with 4008 for flooding.", &self.ws_closed_flood),
            ("duoxie_ws_closed_heartbeat_total", "Sockets closed with 4002 for silence.", &self.ws_closed_heartbeat),
            ("duoxie_chat_messages_committed_total", "Chat messages committed (durable).", &self.chat_messages_committed),
            ("duoxie_chat_sends_duplicate_total", "Sends answered with an existing message (retried client_id).", &self.chat_sends_duplicate),
            ("duoxie_chat_commit_batches_total", "Group-commit transactions.", &self.chat_commit_batches),
            ("duoxie_bus_published_total", "Deliveries published to Redis (one per user channel).", &self.bus_published),
            ("duoxie_bus_publish_errors_total", "Redis publishes that failed.", &self.bus_publish_errors),
            ("duoxie_bus_received_total", "Deliveries received from other nodes through Redis.", &self.bus_received),
            ("duoxie_bus_disconnects_total", "Times the Redis connection was lost.", &self.bus_disconnects),
            ("duoxie_auth_logins_total", "Successful logins.", &self.auth_logins),
            ("duoxie_auth_codes_sent_total", "One-time codes sent.", &self.auth_codes_sent),
            ("duoxie_media_uploads_total", "Uploads stored (photos and videos).", &self.media_uploads),
            ("duoxie_auth_rate_limited_total", "Code requests and login attempts refused by a per-IP, per-number or global limit.", &self.auth_rate_limited),
            ("duoxie_auth_standing_enforced_total", "Open sockets closed or updated by the database re-check of their standing (what the bus did not deliver, or did late).", &self.auth_standing_enforced),
            ("duoxie_bus_recoveries_total", "Times the Redis connection came back; every socket on the node was told to resync.", &self.bus_recoveries),
            ("duoxie_media_quota_refused_total", "Uploads refused by the per-user rate or storage quota.", &self.media_quota_refused),
            ("duoxie_chat_text_rejected_total", "Chat texts refused by a moderation rule (content_rejected).", &self.chat_text_rejected),
            ("duoxie_chat_text_held_total", "Chat texts held for a moderator by a rule (keyword under review, contact details).", &self.chat_text_held),
            ("duoxie_privacy_accounts_deleted_total", "Accounts erased after their deletion cooling-off period.", &self.accounts_deleted),
        ];
        for (name, help, value) in counters {
            counter(&mut out, name, help, value.load(Relaxed));
        }
        self.chat_commit_seconds.render(
            &mut out,
            "duoxie_chat_commit_seconds",
            "Duration of a group-commit transaction.",
        );
        self.chat_delivery_seconds.render(
            &mut out,
            "duoxie_chat_delivery_seconds",
            "From commit to the frame being queued on a recipient socket (any node).",
        );
        gauge(
            &mut out,
            "duoxie_db_pool_connections",
            "Database connections open.",
            gauges.db_pool_size as i64,
        );
        gauge(
            &mut out,
            "duoxie_db_pool_idle",
            "Database connections idle; 0 with size = max means callers wait for a connection.",
            gauges.db_pool_idle as i64,
        );
        gauge(
            &mut out,
            "duoxie_db_pool_max",
            "Database pool size limit.",
            gauges.db_pool_max as i64,
        );
        self.moderation_decision_seconds.render(
            &mut out,
            "duoxie_moderation_decision_seconds",
            "From an item entering the moderation queue to its decision.",
        );
        let _ = writeln!(
            out,
            "# HELP duoxie_moderation_queue_depth Open moderation items (queued or claimed) by priority (0 = reports).\n\
             # TYPE duoxie_moderation_queue_depth gauge"
        );
        for priority in 0..=2 {
            let n = gauges
                .moderation_depth
                .iter()
                .find(|(p, _)| *p == priority)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(
                out,
                "duoxie_moderation_queue_depth{{priority=\"{priority}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP duoxie_moderation_oldest_item_age_seconds Age of the oldest open moderation item.\n\
             # TYPE duoxie_moderation_oldest_item_age_seconds gauge\n\
             duoxie_moderation_oldest_item_age_seconds {}",
            gauges.moderation_oldest_ms as f64 / 1000.0
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_render_in_prometheus_format() {
        let h = Histogram::new(LATENCY_BOUNDS);
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(20));
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "help");
        assert!(out.contains("x_seconds_bucket{le=\"0.0001\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_count 3\n"), "{out}");
    }
}
