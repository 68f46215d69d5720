//! Counters and latency histograms. Latencies are kept exactly (microseconds, sorted on
//! demand): runs here are at most millions of samples, and exact percentiles beat bucketing.

use std::time::Duration;

use serde_json::{json, Value};

#[derive(Default, Clone)]
pub struct Counters {
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    pub unacked: u64,
    pub delivered_from_peer: u64,
    pub gaps: u64,
    pub duplicates: u64,
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.sent += o.sent;
        self.acked += o.acked;
        self.errors += o.errors;
        self.unacked += o.unacked;
        self.delivered_from_peer += o.delivered_from_peer;
        self.gaps += o.gaps;
        self.duplicates += o.duplicates;
    }

    /// Acknowledged messages that never reached the other participant.
    pub fn lost(&self) -> u64 {
        self.acked.saturating_sub(self.delivered_from_peer)
    }

    pub fn json(&self) -> Value {
        json!({
            "sent": self.sent, "acked": self.acked, "errors": self.errors,
            "unacked": self.unacked, "delivered_to_peer": self.delivered_from_peer,
            "lost": self.lost(), "gaps": self.gaps, "duplicates": self.duplicates,
        })
    }
}

#[derive(Default)]
pub struct Histogram {
    micros: Vec<u64>,
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        self.micros.push(d.as_micros() as u64);
    }

    pub fn merge(&mut self, other: Histogram) {
        self.micros.extend(other.micros);
    }

    pub fn count(&self) -> usize {
        self.micros.len()
    }

    fn sorted(&self) -> Vec<u64> {
        let mut v = self.micros.clone();
        v.sort_unstable();
        v
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize;
        v[rank.min(v.len() - 1)] as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.micros.iter().copied().max().unwrap_or(0) as f64 / 1000.0
    }

    pub fn json(&self) -> Value {
        json!({
            "count": self.count(),
            "p50": self.percentile_ms(50.0), "p90": self.percentile_ms(90.0),
            "p99": self.percentile_ms(99.0), "p99_9": self.percentile_ms(99.9),
            "max": self.max_ms(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_series() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.percentile_ms(50.0), 51.0);
        assert_eq!(h.percentile_ms(99.0), 99.0);
        assert_eq!(h.max_ms(), 100.0);
        assert_eq!(Histogram::default().percentile_ms(50.0), 0.0);
    }

    #[test]
    fn lost_counts_acked_but_undelivered() {
        let c = Counters {
            acked: 10,
            delivered_from_peer: 8,
            ..Default::default()
        };
        assert_eq!(c.lost(), 2);
    }
}
