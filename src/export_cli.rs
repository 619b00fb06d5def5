//! `sluice export`: the transaction flow from a data directory's journal into a flow store
//! (docs/STORE.md) — Parquet files under `DATA/export/parquet` (the default), or PostgreSQL.
//! `--once` exports to the journal's end and exits; `--follow` keeps tailing a journal that a
//! running server writes, until SIGINT or SIGTERM. Either way a restart continues where the
//! store's position says, exactly once.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde_json::json;
use sluice_node::DurableCursor;
use sluice_store::pg::PgStore;
use sluice_store::{ExportOptions, Exporter, FlowReader, FlowStore, JournalEnd, ParquetStore};

use crate::export_inproc::open_store;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Parquet files in DATA/export/parquet (embedded; no server to run).
    Parquet,
    /// PostgreSQL at --postgres-url.
    Postgres,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Data directory (its journal is read; the Parquet store is DATA/export/parquet).
    #[arg(long)]
    data: PathBuf,
    /// Export to the journal's end and exit.
    #[arg(long, conflicts_with_all = ["follow", "status"], required_unless_present_any = ["follow", "status"])]
    once: bool,
    /// Keep exporting as the journal grows, until SIGINT or SIGTERM.
    #[arg(long, conflicts_with = "status")]
    follow: bool,
    /// Print the store's position and the journal's end, export nothing (a running server's
    /// exporter, or another `sluice export`, may be writing).
    #[arg(long)]
    status: bool,
    /// With --status: one JSON object.
    #[arg(long, requires = "status")]
    json: bool,
    /// Where the rows go.
    #[arg(long, value_enum, default_value = "parquet")]
    to: Target,
    /// PostgreSQL connection URL (with --to postgres).
    #[arg(long)]
    postgres_url: Option<String>,
    /// Commit once this many rows wait.
    #[arg(long, default_value_t = 65_536)]
    batch_rows: usize,
    /// Commit rows that waited this many milliseconds.
    #[arg(long, default_value_t = 1_000)]
    batch_ms: u64,
}

pub fn run(args: ExportArgs) -> Result<(), String> {
    let options = ExportOptions {
        batch_rows: args.batch_rows.max(1),
        batch_interval: Duration::from_millis(args.batch_ms),
    };
    // The journal first: a directory without one gets no export directory either.
    let mut end = JournalEnd::open(&args.data).map_err(|e| e.to_string())?;
    let to = match args.to {
        Target::Parquet => "parquet",
        Target::Postgres => "postgres",
    };
    if args.status {
        return status(
            &args.data,
            &mut end,
            (to, args.postgres_url.as_deref()),
            args.json,
        );
    }
    let url = args.postgres_url.as_deref().unwrap_or("");
    let store = open_store(&args.data, to, url)?;
    export(&args.data, end, store, options, args.follow)
}

/// `--status`: the store's position (read only; 0 before its first commit) and the journal end.
fn status(
    data: &Path,
    end: &mut JournalEnd,
    (to, postgres_url): (&str, Option<&str>),
    json: bool,
) -> Result<(), String> {
    let journal_end = end.poll().map_err(|e| e.to_string())?;
    let position = match to {
        "parquet" if !ParquetStore::dir_in(data).is_dir() => 0,
        "parquet" => ParquetStore::open_read_only(data)
            .and_then(|mut s| FlowReader::position(&mut s))
            .map_err(|e| e.to_string())?,
        _ => {
            let url = postgres_url.ok_or("--status --to postgres needs --postgres-url URL")?;
            FlowReader::position(&mut PgStore::connect(url).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?
        }
    };
    let behind = journal_end.saturating_sub(position);
    if json {
        let line = json!({ "store": to, "position": position, "journal_end": journal_end, "behind": behind });
        println!("{line}");
    } else {
        println!(
            "export: {to} at position {position}, journal end {journal_end} ({behind} records behind)"
        );
    }
    Ok(())
}

fn export<S: FlowStore>(
    data: &Path,
    mut end: JournalEnd,
    store: S,
    options: ExportOptions,
    follow: bool,
) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    if follow {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, stop.clone()).map_err(|e| e.to_string())?;
        }
    }
    let cursor = DurableCursor::new(end.poll().map_err(|e| e.to_string())?);
    let mut exporter =
        Exporter::open(data, store, cursor.clone(), options).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let from = exporter.stats().position;
    println!(
        "export: {} from position {from} to {}",
        exporter.store().name(),
        cursor.get()
    );
    let mut commits = 0;
    loop {
        let applied = exporter.step(1024).map_err(|e| e.to_string())?;
        if exporter.stats().commits != commits {
            commits = exporter.stats().commits;
            progress(&exporter, started);
        }
        if exporter.applied_seq() < cursor.get() {
            continue;
        }
        if !follow || stop.load(Ordering::Acquire) {
            break;
        }
        if applied == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        cursor.publish(end.poll().map_err(|e| e.to_string())?);
    }
    exporter.commit().map_err(|e| e.to_string())?;
    summary(&exporter, started, from);
    Ok(())
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

fn progress<S: FlowStore>(exporter: &Exporter<S>, started: Instant) {
    let s = exporter.stats();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "export: committed position {} rows {} payments {} ({:.0} rows/s, {:.0} payments/s)",
        s.position,
        s.rows,
        s.payments,
        rate(s.rows, secs),
        rate(s.payments, secs)
    );
    let _ = std::io::stdout().flush();
}

fn summary<S: FlowStore>(exporter: &Exporter<S>, started: Instant, from: u64) {
    let s = exporter.stats();
    let secs = started.elapsed().as_secs_f64();
    let line = json!({
        "from_position": from,
        "position": s.position,
        "records": s.records,
        "rows": s.rows,
        "payments": s.payments,
        "commits": s.commits,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "rows_per_s": rate(s.rows, secs).round(),
        "payments_per_s": rate(s.payments, secs).round(),
    });
    println!("{line}");
}
