//! Histograms for the metrics: fixed bucket bounds in nanoseconds, a plain one that a single
//! thread fills on the live path (`LocalHistogram`), and a shared one of atomics that the metrics
//! thread reads (`AtomicHistogram`), either published from a local one or observed into directly
//! where observations are rare (snapshots).

use std::sync::atomic::{AtomicU64, Ordering};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// Ack latency bucket bounds: 1-2-5 steps from 10 µs to 10 s (a log scale an operator reads).
pub const ACK_LATENCY_BOUNDS_NS: [u64; 19] = [
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    MS,
    2 * MS,
    5 * MS,
    10 * MS,
    20 * MS,
    50 * MS,
    100 * MS,
    200 * MS,
    500 * MS,
    S,
    2 * S,
    5 * S,
    10 * S,
];

/// Snapshot serialize and write bucket bounds: 1-2-5 steps from 1 ms to 100 s.
pub const SNAPSHOT_BOUNDS_NS: [u64; 16] = [
    MS,
    2 * MS,
    5 * MS,
    10 * MS,
    20 * MS,
    50 * MS,
    100 * MS,
    200 * MS,
    500 * MS,
    S,
    2 * S,
    5 * S,
    10 * S,
    20 * S,
    50 * S,
    100 * S,
];

const _: () = assert!(ACK_LATENCY_BOUNDS_NS[0] == 10_000 && ACK_LATENCY_BOUNDS_NS[18] == 10 * S);

/// The bucket of a value: the first whose upper bound is at or above it (`le`), or the one past
/// the bounds (+Inf).
#[inline]
fn bucket(bounds: &[u64], value_ns: u64) -> usize {
    bounds.partition_point(|&upper| upper < value_ns)
}

/// A histogram one thread fills without atomics; it publishes it into an `AtomicHistogram`.
pub struct LocalHistogram {
    bounds: &'static [u64],
    /// Per bucket (not cumulative), the last one +Inf.
    counts: Box<[u64]>,
    sum_ns: u64,
}

impl LocalHistogram {
    pub fn new(bounds: &'static [u64]) -> LocalHistogram {
        assert!(bounds.is_sorted() && !bounds.is_empty());
        LocalHistogram {
            bounds,
            counts: vec![0; bounds.len() + 1].into_boxed_slice(),
            sum_ns: 0,
        }
    }

    #[inline]
    pub fn observe(&mut self, value_ns: u64) {
        self.counts[bucket(self.bounds, value_ns)] += 1;
        self.sum_ns = self.sum_ns.wrapping_add(value_ns);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A histogram the metrics thread reads while others write it.
pub struct AtomicHistogram {
    bounds: &'static [u64],
    /// Per bucket (not cumulative), the last one +Inf.
    counts: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

/// A histogram as read for a scrape: per bucket (upper bound in seconds, count in it; the last
/// bound is +Inf), the sum in seconds and the count (the buckets' total, so they always agree).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramReading {
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl AtomicHistogram {
    pub fn new(bounds: &'static [u64]) -> AtomicHistogram {
        assert!(bounds.is_sorted() && !bounds.is_empty());
        AtomicHistogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Adds one value (for rare observations from any thread).
    pub fn observe(&self, value_ns: u64) {
        self.counts[bucket(self.bounds, value_ns)].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(value_ns, Ordering::Relaxed);
    }

    /// Publishes a local histogram's totals (its one writer calls this). Relaxed stores: a
    /// scrape may see one bucket newer than another, never a count that goes back.
    pub fn store(&self, local: &LocalHistogram) {
        assert_eq!(self.bounds, local.bounds, "the same buckets");
        for (shared, &n) in self.counts.iter().zip(local.counts.iter()) {
            shared.store(n, Ordering::Relaxed);
        }
        self.sum_ns.store(local.sum_ns, Ordering::Relaxed);
    }

    pub fn read(&self) -> HistogramReading {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let upper = self
            .bounds
            .iter()
            .map(|&ns| ns as f64 / 1e9)
            .chain([f64::INFINITY]);
        HistogramReading {
            buckets: upper.zip(counts.iter().copied()).collect(),
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            count: counts.iter().sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_goes_to_the_first_bucket_at_or_above_it() {
        let b = &ACK_LATENCY_BOUNDS_NS;
        assert_eq!(bucket(b, 0), 0);
        assert_eq!(
            bucket(b, 10_000),
            0,
            "le: the bound itself is in its bucket"
        );
        assert_eq!(bucket(b, 10_001), 1);
        assert_eq!(bucket(b, 10 * S), 18);
        assert_eq!(bucket(b, 10 * S + 1), 19, "+Inf");
        let mut local = LocalHistogram::new(b);
        for v in [5_000, 15_000, 15_000, 3 * MS, 20 * S] {
            local.observe(v);
        }
        let shared = AtomicHistogram::new(b);
        shared.store(&local);
        shared.observe(15_000);
        let r = shared.read();
        assert_eq!(r.count, 6);
        assert_eq!(local.count(), 5);
        assert_eq!(r.buckets.len(), 20);
        assert_eq!(r.buckets[0], (1e-5, 1));
        assert_eq!(r.buckets[1], (2e-5, 3));
        assert_eq!(r.buckets[8], (5e-3, 1));
        assert_eq!(r.buckets[19], (f64::INFINITY, 1));
        assert!(
            (r.sum_seconds - 20.003_05).abs() < 1e-9,
            "{}",
            r.sum_seconds
        );
    }
}
