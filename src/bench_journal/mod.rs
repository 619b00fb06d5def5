//! `sluice bench journal`: what the journal costs and how fast a restart is.
//!
//! 1. Append throughput: a 128-byte payload, one commit per batch of 1, 16 or 256 records, under
//!    durability `none` (page cache) and `fsync` (msync per commit; fewer records, it waits for the
//!    disk). Each configuration runs several times on a fresh directory; the median is reported,
//!    and under `fsync` the commit latency percentiles.
//! 2. Recovery: a realistic engine journal is generated — Genesis and the business world of the
//!    embedded default configuration (`Config::default_config().world`), then payments (wallet and
//!    card, four merchants,
//!    promoters), channel results (mostly successes, some declines, rare retryable errors that fail
//!    over), refunds and their results, order queries and a pulse every 10 ms of event time — each
//!    input journaled exactly as the server does (envelope + SBE, kind = template id) while a live
//!    engine answers it. A snapshot is taken halfway. Then the state is rebuilt from the journal
//!    alone (`Replayer::from_genesis` + `run_to`) and from the snapshot plus the tail, and both are
//!    checked against the generating engine's state hash; `recover()` (the server's start-up path:
//!    open and scan the journal, load the snapshot, replay, hash) is timed too.
//! 3. Snapshot cost: `Engine::snapshot()` of a state holding 1,000,000 orders (built through the
//!    engine: payments and their successful channel results), its size, and the restore.

mod append;
mod recovery;
mod scenario;

use clap::Args;
use serde_json::json;
use sluice_journal::Durability;
use std::path::{Path, PathBuf};

use append::{AppendFigure, append_figure, print_append};
use recovery::{recovery_figures, snapshot_figure};

#[derive(Args)]
pub struct JournalArgs {
    /// Records per append run under durability `none` (0 skips it).
    #[arg(long, default_value_t = 2_000_000)]
    pub records: u64,
    /// Records per append run under durability `fsync` (every commit waits for the disk; 0 skips
    /// it).
    #[arg(long, default_value_t = 20_000)]
    pub fsync_records: u64,
    /// Runs per append configuration and per recovery figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Inputs in the generated engine journal for the recovery figures (0 skips them).
    #[arg(long, default_value_t = 2_000_000)]
    pub recovery_events: u64,
    /// Orders in the state whose snapshot serialization is timed (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    pub snapshot_orders: u64,
    /// Directory for the temporary journals (default: the system's temporary directory). It must
    /// be on the disk whose fsync you want to measure.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// One JSON line instead of the report.
    #[arg(long)]
    pub json: bool,
}

pub(super) const PAYLOAD_BYTES: usize = 128;
const BATCHES: [u64; 3] = [1, 16, 256];
pub(super) const MIB: f64 = 1024.0 * 1024.0;

pub fn run(args: JournalArgs) -> Result<(), String> {
    let runs = args.runs.max(1);
    let base = TempDir::new(args.dir.as_deref())?;
    let mut appends = Vec::new();
    for (durability, records) in [
        (Durability::None, args.records),
        (Durability::Fsync, args.fsync_records),
    ] {
        if records == 0 {
            continue;
        }
        for batch in BATCHES {
            let figure = append_figure(&base.0, durability, batch, records, runs)?;
            if !args.json {
                print_append(&figure, appends.is_empty());
            }
            appends.push(figure);
        }
    }
    let recovery = match args.recovery_events {
        0 => None,
        n => Some(recovery_figures(&base.0, n, runs, args.json)?),
    };
    let snapshot = match args.snapshot_orders {
        0 => None,
        n => Some(snapshot_figure(n, runs, args.json)?),
    };
    if args.json {
        let line = json!({
            "bench": "journal",
            "payload_bytes": PAYLOAD_BYTES,
            "append": appends.iter().map(AppendFigure::to_json).collect::<Vec<_>>(),
            "recovery": recovery,
            "snapshot": snapshot,
        });
        println!("{line}");
    }
    Ok(())
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(parent: Option<&Path>) -> Result<TempDir, String> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = parent.join(format!("sluice-bench-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn err(what: impl std::fmt::Display) -> String {
    what.to_string()
}

pub(super) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
