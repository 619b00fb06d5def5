//! Append throughput: a 128-byte payload, one commit per batch of 1, 16 or 256 records, under
//! durability `none` and `fsync`, with the commit latency percentiles under `fsync`.

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use sluice_journal::{Durability, JournalConfig, JournalWriter, RECORD_HEADER_LEN_BYTES};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{MIB, PAYLOAD_BYTES, err, median};

pub(super) struct AppendFigure {
    durability: Durability,
    batch: u64,
    records: u64,
    seconds_median: f64,
    /// Commit latency under fsync, µs: p50, p99, max (from all runs).
    commit_us: Option<(f64, f64, f64)>,
    rolls_synchronous: u64,
}

impl AppendFigure {
    fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.seconds_median
    }

    /// Payload MB/s and journal MB/s (record headers and padding included).
    fn mib_per_sec(&self) -> (f64, f64) {
        let per_record = (RECORD_HEADER_LEN_BYTES + PAYLOAD_BYTES as u64).next_multiple_of(8);
        let rate = self.records_per_sec();
        (
            rate * PAYLOAD_BYTES as f64 / MIB,
            rate * per_record as f64 / MIB,
        )
    }

    pub(super) fn to_json(&self) -> Value {
        let (payload, journal) = self.mib_per_sec();
        json!({
            "durability": durability_name(self.durability),
            "batch": self.batch,
            "records": self.records,
            "seconds": self.seconds_median,
            "records_per_sec": self.records_per_sec(),
            "payload_mib_per_sec": payload,
            "journal_mib_per_sec": journal,
            "commit_p50_us": self.commit_us.map(|c| c.0),
            "commit_p99_us": self.commit_us.map(|c| c.1),
            "commit_max_us": self.commit_us.map(|c| c.2),
            "synchronous_rolls": self.rolls_synchronous,
        })
    }
}

fn durability_name(d: Durability) -> &'static str {
    match d {
        Durability::None => "none",
        Durability::Fsync => "fsync",
    }
}

pub(super) fn append_figure(
    base: &Path,
    durability: Durability,
    batch: u64,
    records: u64,
    runs: u32,
) -> Result<AppendFigure, String> {
    let mut seconds = Vec::new();
    let mut commits = Histogram::<u64>::new(3).map_err(err)?;
    let mut rolls_synchronous = 0;
    for run in 0..runs {
        let dir = base.join(format!(
            "append-{}-{batch}-{run}",
            durability_name(durability)
        ));
        let (elapsed, sync_rolls) = append_run(&dir, durability, batch, records, &mut commits)?;
        seconds.push(elapsed.as_secs_f64());
        rolls_synchronous += sync_rolls;
        let _ = std::fs::remove_dir_all(&dir);
    }
    let us = |q: f64| commits.value_at_quantile(q) as f64 / 1e3;
    Ok(AppendFigure {
        durability,
        batch,
        records,
        seconds_median: median(seconds),
        commit_us: (durability == Durability::Fsync)
            .then(|| (us(0.5), us(0.99), commits.max() as f64 / 1e3)),
        rolls_synchronous,
    })
}

/// One run: `records` appends, a commit after every `batch`. Returns the time and the rolls that had
/// to prepare a segment synchronously.
fn append_run(
    dir: &Path,
    durability: Durability,
    batch: u64,
    records: u64,
    commits: &mut Histogram<u64>,
) -> Result<(Duration, u64), String> {
    let config = JournalConfig {
        segment_size_bytes: JournalConfig::DEFAULT_SEGMENT_SIZE_BYTES,
        durability,
    };
    let (mut writer, _) = JournalWriter::open(dir, config).map_err(err)?;
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let timed_commits = durability == Durability::Fsync;
    let started = Instant::now();
    let mut seq = 1;
    while seq <= records {
        let end = (seq + batch - 1).min(records);
        for s in seq..=end {
            writer.append(s, s * 1_000, 10, &payload).map_err(err)?;
        }
        if timed_commits {
            let t = Instant::now();
            writer.commit().map_err(err)?;
            let _ = commits.record(t.elapsed().as_nanos() as u64);
        } else {
            writer.commit().map_err(err)?;
        }
        seq = end + 1;
    }
    let elapsed = started.elapsed();
    Ok((elapsed, writer.roll_stats().prepared_synchronously))
}

pub(super) fn print_append(f: &AppendFigure, header: bool) {
    if header {
        println!(
            "journal append: {PAYLOAD_BYTES}-byte payload, 64 MiB segments, one commit per batch (median of runs)"
        );
        println!(
            "  {:<10} {:>5} {:>9} {:>9} {:>13} {:>12} {:>12}  commit µs p50 / p99 / max",
            "durability",
            "batch",
            "records",
            "seconds",
            "records/s",
            "payload MB/s",
            "journal MB/s"
        );
    }
    let (payload, journal) = f.mib_per_sec();
    let commit = f
        .commit_us
        .map(|(p50, p99, max)| format!("{p50:.1} / {p99:.1} / {max:.1}"))
        .unwrap_or_else(|| "-".into());
    println!(
        "  {:<10} {:>5} {:>9} {:>9.3} {:>13.0} {:>12.1} {:>12.1}  {commit}",
        durability_name(f.durability),
        f.batch,
        f.records,
        f.seconds_median,
        f.records_per_sec(),
        payload,
        journal,
    );
}
