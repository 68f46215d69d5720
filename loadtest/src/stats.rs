//! Counters, latency histograms and the per-conversation stream check. Latencies are kept
//! exactly (microseconds, sorted on demand): runs here are at most millions of samples, and
//! exact percentiles beat bucketing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{json, Value};

/// Message counts, per socket and summed over sockets.
#[derive(Default, Clone)]
pub struct Counters {
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    pub unacked: u64,
    /// Seqs that arrived past a hole (later filled or not): on several nodes, messages
    /// published by different nodes may arrive out of order, which is allowed.
    pub gaps: u64,
    pub duplicates: u64,
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.sent += o.sent;
        self.acked += o.acked;
        self.errors += o.errors;
        self.unacked += o.unacked;
        self.gaps += o.gaps;
        self.duplicates += o.duplicates;
    }

    /// Counts a received message by how it relates to what the client held.
    pub fn arrival(&mut self, arrival: &Arrival) {
        match arrival {
            Arrival::New => {}
            Arrival::Duplicate => self.duplicates += 1,
            Arrival::Gap { missing } => self.gaps += *missing as u64,
        }
    }
}

/// The percentiles every table, JSON file and page shows, in this order.
pub const SUMMARY_PERCENTILES: [(&str, f64); 4] =
    [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99_9", 99.9)];

#[derive(Default, Clone)]
pub struct Histogram {
    micros: Vec<u64>,
}

impl Histogram {
    pub fn from_micros(micros: Vec<u64>) -> Self {
        Self { micros }
    }

    pub fn record(&mut self, d: Duration) {
        self.micros.push(d.as_micros() as u64);
    }

    /// Records a time when there is one (a client that never resumed has none).
    pub fn record_opt(&mut self, d: Option<Duration>) {
        if let Some(d) = d {
            self.record(d);
        }
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
        percentile_of_sorted(&self.sorted(), p)
    }

    pub fn max_ms(&self) -> f64 {
        self.micros.iter().copied().max().unwrap_or(0) as f64 / 1000.0
    }

    /// p50..p99.9, max and count, sorting once.
    pub fn summary(&self) -> Summary {
        let sorted = self.sorted();
        Summary {
            percentiles: SUMMARY_PERCENTILES.map(|(_, p)| percentile_of_sorted(&sorted, p)),
            max: self.max_ms(),
            count: sorted.len(),
        }
    }

    /// The percentile curve as (x, ms) points for plotting, with x = -log10(1 - q): 0 is the
    /// minimum, 1 is p90, 2 is p99, 3 is p99.9. A log axis gives the tail the room it deserves;
    /// it ends at the highest quantile the sample count can support, (n-1)/n.
    pub fn percentile_curve(&self, points: usize) -> Vec<(f64, f64)> {
        let sorted = self.sorted();
        let n = sorted.len();
        if n == 0 || points < 2 {
            return Vec::new();
        }
        let x_max = if n == 1 {
            0.0
        } else {
            -(1.0 / n as f64).log10()
        };
        (0..points)
            .map(|i| {
                let x = x_max * i as f64 / (points - 1) as f64;
                let q = 1.0 - 10f64.powf(-x);
                // The curve ends on the slowest sample, whatever the rounding of the rank.
                let ms = if i == points - 1 {
                    sorted[n - 1] as f64 / 1000.0
                } else {
                    percentile_of_sorted(&sorted, q * 100.0)
                };
                (x, ms)
            })
            .collect()
    }

    /// Equal-width bins from 0 to `upper_ms` as (low ms, high ms, count); samples above go
    /// into the last bin, so every sample is counted once.
    pub fn bins(&self, count: usize, upper_ms: f64) -> Vec<(f64, f64, u64)> {
        if count == 0 || upper_ms <= 0.0 {
            return Vec::new();
        }
        let width = upper_ms / count as f64;
        let mut counts = vec![0u64; count];
        for &us in &self.micros {
            let i = ((us as f64 / 1000.0) / width) as usize;
            counts[i.min(count - 1)] += 1;
        }
        counts
            .into_iter()
            .enumerate()
            .map(|(i, c)| (i as f64 * width, (i + 1) as f64 * width, c))
            .collect()
    }

    pub fn json(&self) -> Value {
        self.summary().json()
    }
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds (0 when empty).
fn percentile_of_sorted(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

pub struct Summary {
    /// In the order of [`SUMMARY_PERCENTILES`], milliseconds.
    pub percentiles: [f64; 4],
    pub max: f64,
    pub count: usize,
}

impl Summary {
    pub fn json(&self) -> Value {
        let mut v = json!({ "count": self.count, "max": self.max });
        for ((name, _), ms) in SUMMARY_PERCENTILES.iter().zip(self.percentiles) {
            v[*name] = json!(ms);
        }
        v
    }
}

/// The seqs a client holds of one conversation: every seq up to `floor`, plus the few above it
/// that arrived out of order. In-order streams keep this tiny however long the run.
#[derive(Default, Clone, Debug)]
pub struct SeqSet {
    floor: i64,
    above: BTreeSet<i64>,
}

impl SeqSet {
    /// Holds every seq up to `floor` (those before the run are not expected).
    pub fn up_to(floor: i64) -> Self {
        Self {
            floor,
            above: BTreeSet::new(),
        }
    }

    pub fn highest(&self) -> i64 {
        self.above.last().copied().unwrap_or(self.floor)
    }

    /// The highest seq held with nothing missing below it.
    pub fn floor(&self) -> i64 {
        self.floor
    }

    pub fn contains(&self, seq: i64) -> bool {
        seq <= self.floor || self.above.contains(&seq)
    }

    /// Adds `seq`; false if it was already held.
    pub fn insert(&mut self, seq: i64) -> bool {
        if self.contains(seq) {
            return false;
        }
        self.above.insert(seq);
        while self.above.first() == Some(&(self.floor + 1)) {
            self.above.pop_first();
            self.floor += 1;
        }
        true
    }

    /// Seqs below the highest one held that are missing.
    pub fn holes(&self) -> u64 {
        (self.highest() - self.floor) as u64 - self.above.len() as u64
    }
}

/// How a received message relates to what the client already holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival {
    New,
    /// The client already held this seq: the server sent it twice.
    Duplicate,
    /// New, but `missing` seqs between the highest held and this one never arrived.
    Gap {
        missing: i64,
    },
}

/// The per-conversation streams one client follows, checked as they arrive.
#[derive(Default, Clone)]
pub struct Inbox {
    streams: HashMap<i64, SeqSet>,
}

impl Inbox {
    /// Starts following a conversation whose seqs up to `start_seq` are not expected.
    pub fn follow(&mut self, conversation_id: i64, start_seq: i64) {
        self.streams
            .entry(conversation_id)
            .or_insert(SeqSet::up_to(start_seq));
    }

    pub fn receive(&mut self, conversation_id: i64, seq: i64) -> Arrival {
        let held = self.streams.entry(conversation_id).or_default();
        let highest = held.highest();
        if !held.insert(seq) {
            Arrival::Duplicate
        } else if seq > highest + 1 {
            Arrival::Gap {
                missing: seq - highest - 1,
            }
        } else {
            Arrival::New
        }
    }

    /// The `chat.sync` cursors: per conversation the highest seq held, as the protocol says.
    pub fn cursors(&self) -> BTreeMap<i64, i64> {
        self.streams
            .iter()
            .map(|(id, held)| (*id, held.highest()))
            .collect()
    }

    /// The highest seq held of this conversation with nothing missing below it.
    pub fn contiguous(&self, conversation_id: i64) -> i64 {
        self.streams.get(&conversation_id).map_or(0, SeqSet::floor)
    }

    /// How many of `seqs` this client does not hold.
    pub fn missing(&self, conversation_id: i64, seqs: &[i64]) -> u64 {
        let held = self.streams.get(&conversation_id);
        seqs.iter()
            .filter(|&&s| !held.is_some_and(|h| h.contains(s)))
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(ms: impl IntoIterator<Item = u64>) -> Histogram {
        let mut h = Histogram::default();
        for m in ms {
            h.record(Duration::from_millis(m));
        }
        h
    }

    #[test]
    fn percentiles_of_a_known_series() {
        let h = hist(1..=100);
        assert_eq!(h.percentile_ms(50.0), 51.0);
        assert_eq!(h.percentile_ms(99.0), 99.0);
        assert_eq!(h.max_ms(), 100.0);
        assert_eq!(Histogram::default().percentile_ms(50.0), 0.0);
        let s = h.summary();
        assert_eq!(s.percentiles, [51.0, 90.0, 99.0, 100.0]);
        assert_eq!((s.max, s.count), (100.0, 100));
        assert_eq!(s.json()["p99_9"], 100.0);
    }

    #[test]
    fn the_percentile_curve_runs_from_min_to_the_supported_tail() {
        let h = hist(1..=1000);
        let curve = h.percentile_curve(31);
        assert_eq!(curve.len(), 31);
        assert_eq!(curve[0], (0.0, 1.0));
        let (x_last, y_last) = curve[30];
        assert!((x_last - 3.0).abs() < 1e-9, "1000 samples support p99.9");
        assert_eq!(y_last, 1000.0);
        assert!(curve.windows(2).all(|w| w[0].1 <= w[1].1), "monotone");
        assert!(Histogram::default().percentile_curve(10).is_empty());
        assert_eq!(hist([5]).percentile_curve(3), vec![(0.0, 5.0); 3]);
    }

    #[test]
    fn bins_count_every_sample_once() {
        let h = hist([0, 1, 9, 10, 19, 500]);
        let bins = h.bins(2, 20.0);
        assert_eq!(bins, vec![(0.0, 10.0, 3), (10.0, 20.0, 3)]);
        assert!(h.bins(0, 20.0).is_empty());
    }

    #[test]
    fn a_seq_set_keeps_a_contiguous_floor_and_counts_its_holes() {
        let mut s = SeqSet::up_to(10);
        assert!(s.contains(3) && !s.insert(10), "held from the start");
        assert!(s.insert(13));
        assert_eq!((s.floor(), s.highest(), s.holes()), (10, 13, 2));
        assert!(!s.insert(13));
        assert!(s.insert(12) && s.insert(11));
        assert_eq!((s.floor(), s.highest(), s.holes()), (13, 13, 0));
    }

    #[test]
    fn the_inbox_tells_new_duplicate_and_gap_apart() {
        let mut inbox = Inbox::default();
        inbox.follow(3, 10);
        assert_eq!(inbox.receive(3, 11), Arrival::New);
        assert_eq!(inbox.receive(3, 11), Arrival::Duplicate);
        assert_eq!(inbox.receive(3, 5), Arrival::Duplicate, "below the start");
        assert_eq!(inbox.receive(3, 14), Arrival::Gap { missing: 2 });
        assert_eq!(inbox.contiguous(3), 11);
        assert_eq!(inbox.missing(3, &[11, 12, 13, 14]), 2);
        // Filling the hole out of order is new, not a gap, and moves the floor.
        assert_eq!(inbox.receive(3, 13), Arrival::New);
        assert_eq!(inbox.receive(3, 12), Arrival::New);
        assert_eq!(inbox.contiguous(3), 14);
        assert_eq!(inbox.cursors(), BTreeMap::from([(3, 14)]));
        assert_eq!(
            inbox.missing(9, &[1]),
            1,
            "unknown conversation holds nothing"
        );
    }
}
