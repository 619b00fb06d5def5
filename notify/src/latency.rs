//! Attempt latency, recorded from every attempt without a lock: log-linear buckets (4 per power
//! of two, so a reported percentile is within 19% of the true value), counts in atomics.

use std::sync::atomic::{AtomicU64, Ordering};

const SUB_BUCKETS: u32 = 4;
const BUCKETS: usize = 64 * SUB_BUCKETS as usize;

/// Percentiles of attempt latency (dispatch to answer), in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

pub(crate) struct LatencyHistogram {
    buckets: Vec<AtomicU64>,
    max_us: AtomicU64,
}

fn bucket_of(value_us: u64) -> usize {
    if value_us < u64::from(SUB_BUCKETS) {
        return value_us as usize;
    }
    let power = 63 - value_us.leading_zeros();
    let sub = (value_us >> (power - 2)) & u64::from(SUB_BUCKETS - 1);
    (power * SUB_BUCKETS + sub as u32) as usize
}

/// The upper edge of a bucket (what a percentile reports).
fn bucket_top(bucket: usize) -> u64 {
    let bucket = bucket as u32;
    if bucket < SUB_BUCKETS {
        return u64::from(bucket);
    }
    let (power, sub) = (bucket / SUB_BUCKETS, bucket % SUB_BUCKETS);
    let base = 1u64 << power;
    base + (base >> 2) * u64::from(sub + 1) - 1
}

impl LatencyHistogram {
    pub(crate) fn new() -> LatencyHistogram {
        LatencyHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }

    pub(crate) fn record(&self, value_us: u64) {
        self.buckets[bucket_of(value_us)].fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(value_us, Ordering::Relaxed);
    }

    pub(crate) fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let count: u64 = counts.iter().sum();
        let max_us = self.max_us.load(Ordering::Relaxed);
        let at = |quantile_per_mille: u64| {
            let rank = (count * quantile_per_mille).div_ceil(1000).max(1);
            let mut seen = 0;
            for (bucket, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return bucket_top(bucket).min(max_us);
                }
            }
            max_us
        };
        LatencySummary {
            count,
            p50_us: at(500),
            p99_us: at(990),
            p999_us: at(999),
            max_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_percentiles_close() {
        for v in [0u64, 1, 3, 4, 5, 7, 8, 100, 1000, 123_456, u64::MAX / 2] {
            let b = bucket_of(v);
            assert!(
                bucket_top(b) >= v && (b == 0 || bucket_top(b - 1) < v),
                "{v}"
            );
        }
        let histogram = LatencyHistogram::new();
        for v in 1..=1000 {
            histogram.record(v);
        }
        let s = histogram.summary();
        assert_eq!((s.count, s.max_us), (1000, 1000));
        assert!(
            (500..=600).contains(&s.p50_us) && (990..=1000).contains(&s.p99_us),
            "{s:?}"
        );
    }
}
