//! `sluice replay …`: operator tools over a data directory, without the server. The logic lives in
//! the `sluice-replay` crate; this module parses arguments and prints.

use clap::{Args, Subcommand};
use sluice_replay::dump::{DumpFilter, Format};
use sluice_replay::state::At;
use sluice_replay::{DataDir, Error, fields, time};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ReplayCommand {
    /// Check every segment, record and snapshot; exit non-zero naming the first problem's file,
    /// byte offset and sequence.
    Verify(VerifyArgs),
    /// The journaled inputs, decoded, one per line; `--order` follows one payment through every
    /// input and output that concerns it.
    Dump(DumpArgs),
    /// Rebuild the state at a sequence or time: hash, counts, ledger, balances, channel health.
    State(StateArgs),
    /// Write a snapshot offline (at the journal's end by default) so a server restarts faster.
    Snapshot(SnapshotArgs),
    /// Replay from scratch and from every snapshot; exit non-zero unless every state hash and
    /// every output byte agree (determinism on real data).
    Check(CheckArgs),
    /// Replay speed of the engine alone (records read first; only decode + apply timed).
    Bench(BenchArgs),
    /// Replay with a candidate rule set beside the live one: per rule, what it would have
    /// blocked or sent to review, the overlap with what was done, and precision, recall and
    /// false-positive rate against the journal's labels (docs/BACKTEST.md).
    Backtest(BacktestArgs),
}

/// Where the data is, and how to print.
#[derive(Args)]
pub struct Common {
    /// Data directory (holds journal/ and snapshots/).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Archived journal segments (`[journal] archive_dir`), read as if they were in the journal
    /// directory [default: DATA/archive].
    #[arg(long, value_name = "DIR")]
    pub archive: Option<PathBuf>,
    /// JSON instead of text (no progress bar).
    #[arg(long)]
    pub json: bool,
}

impl Common {
    fn open(&self) -> Result<DataDir, String> {
        let progress = !self.json && std::io::stderr().is_terminal();
        DataDir::open(&self.data)
            .map(|d| match &self.archive {
                Some(archive) => d.with_archive(archive),
                None => d,
            })
            .map(|d| d.with_progress(progress))
            .map_err(|e| e.message)
    }
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct DumpArgs {
    #[command(flatten)]
    pub common: Common,
    /// First sequence to show.
    #[arg(long, value_name = "SEQ")]
    pub from: Option<u64>,
    /// Last sequence to show.
    #[arg(long, value_name = "SEQ")]
    pub to: Option<u64>,
    /// First time to show: RFC 3339 in UTC (2026-11-26T10:00:00Z) or ns since the epoch.
    #[arg(long, value_name = "TIME", value_parser = time::parse_time)]
    pub since: Option<u64>,
    /// Last time to show (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = time::parse_time)]
    pub until: Option<u64>,
    /// Follow one order through every input and output that concerns it (replays the engine).
    #[arg(long, value_name = "ID", conflicts_with = "merchant")]
    pub order: Option<u64>,
    /// Only inputs that concern this merchant (replays the engine to attribute orders).
    #[arg(long, value_name = "ID")]
    pub merchant: Option<u32>,
    /// Only inputs of this template, e.g. PaymentRequest (case-insensitive).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
}

#[derive(Args)]
pub struct StateArgs {
    #[command(flatten)]
    pub common: Common,
    /// After this sequence (default: the journal's end).
    #[arg(long, value_name = "SEQ", conflicts_with = "at_time")]
    pub at: Option<u64>,
    /// After the last input at or before this time: RFC 3339 in UTC or ns since the epoch.
    #[arg(long, value_name = "TIME", value_parser = time::parse_time)]
    pub at_time: Option<u64>,
}

#[derive(Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub common: Common,
    /// The sequence to snapshot (default: the journal's end).
    #[arg(long, value_name = "SEQ")]
    pub at: Option<u64>,
    /// Write even though a server holds the journal: the records a live server has not made
    /// durable yet must not end up in a snapshot, so pass a sequence known to be durable.
    #[arg(long)]
    pub allow_live_server: bool,
}

#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub common: Common,
    /// The candidate rules file (the rule language, docs/RISK_RULES.md).
    #[arg(long, value_name = "FILE")]
    pub rules: PathBuf,
}

pub fn run(command: ReplayCommand) -> Result<(), String> {
    let result = match command {
        ReplayCommand::Verify(args) => verify(&args),
        ReplayCommand::Dump(args) => dump(&args),
        ReplayCommand::State(args) => state(&args),
        ReplayCommand::Snapshot(args) => snapshot(&args),
        ReplayCommand::Check(args) => check(&args),
        ReplayCommand::Bench(args) => bench(&args),
        ReplayCommand::Backtest(args) => backtest(&args),
    };
    match result {
        Err(e) if e.broken_pipe => Ok(()),
        other => other.map_err(|e| e.message),
    }
}

fn open(common: &Common) -> Result<DataDir, Error> {
    common.open().map_err(Error::new)
}

fn print_json(value: &serde_json::Value) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}").map_err(Error::output)
}

fn verify(args: &VerifyArgs) -> Result<(), Error> {
    let data = open(&args.common)?;
    let outcome = sluice_replay::verify::verify(&data)?;
    if args.common.json {
        print_json(&outcome.to_json())?;
    } else {
        outcome
            .write_text(&mut std::io::stdout().lock())
            .map_err(Error::output)?;
    }
    match outcome.first_problem() {
        Some(problem) => Err(Error::new(format!("verify failed: {problem}"))),
        None => Ok(()),
    }
}

fn dump(args: &DumpArgs) -> Result<(), Error> {
    let data = open(&args.common)?;
    let kind = match &args.kind {
        Some(name) => Some(fields::template_by_name(name).ok_or_else(|| {
            Error::new(format!(
                "--kind {name:?} is not a template; one of: {}",
                fields::template_names().join(", ")
            ))
        })?),
        None => None,
    };
    let filter = DumpFilter {
        from_seq: args.from,
        to_seq: args.to,
        since_ns: args.since,
        until_ns: args.until,
        kind,
        merchant: args.merchant,
    };
    let format = if args.common.json {
        Format::Json
    } else {
        Format::Text
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.order {
        Some(order_id) => {
            sluice_replay::trace::dump_order(&data, order_id, &filter, format, &mut out)?;
        }
        None => {
            sluice_replay::dump::dump(&data, &filter, format, &mut out)?;
        }
    }
    out.flush().map_err(Error::output)
}

fn state(args: &StateArgs) -> Result<(), Error> {
    let data = open(&args.common)?;
    let at = match (args.at, args.at_time) {
        (Some(seq), _) => At::Seq(seq),
        (None, Some(ns)) => At::Time(ns),
        (None, None) => At::End,
    };
    let report = sluice_replay::state::state(&data, at)?;
    if args.common.json {
        print_json(&report.to_json())
    } else {
        report
            .write_text(&mut std::io::stdout().lock())
            .map_err(Error::output)
    }
}

fn snapshot(args: &SnapshotArgs) -> Result<(), Error> {
    let data = open(&args.common)?;
    let written = sluice_replay::snapshot::write_snapshot(&data, args.at, args.allow_live_server)?;
    if args.common.json {
        print_json(&written.to_json())
    } else {
        println!("{}", written.to_text());
        Ok(())
    }
}

fn check(args: &CheckArgs) -> Result<(), Error> {
    let data = open(&args.common)?;
    let report = sluice_replay::check::check(&data)?;
    if args.common.json {
        print_json(&report.to_json())?;
    } else {
        report
            .write_text(&mut std::io::stdout().lock())
            .map_err(Error::output)?;
    }
    match report.mismatches.first() {
        Some(first) => Err(Error::new(format!(
            "check failed: replays disagree ({} mismatch(es)); first: {first}",
            report.mismatches.len()
        ))),
        None => Ok(()),
    }
}

fn bench(args: &BenchArgs) -> Result<(), Error> {
    let data = open(&args.common)?;
    let report = sluice_replay::bench::bench(&data)?;
    if args.common.json {
        print_json(&report.to_json())
    } else {
        println!("{}", report.to_text());
        Ok(())
    }
}

fn backtest(args: &BacktestArgs) -> Result<(), Error> {
    use sluice_replay::backtest;
    let path = args.rules.display().to_string();
    let text = std::fs::read_to_string(&args.rules)
        .map_err(|e| Error::new(format!("reading {path}: {e}")))?;
    let (set, warnings) = backtest::compile_candidate(&path, &text)?;
    let data = open(&args.common)?;
    let outcome = backtest::backtest(&data, &set, warnings)?;
    if args.common.json {
        let mut json = outcome.figures.to_json();
        json["events"] = outcome.events.into();
        json["seconds"] = outcome.seconds.into();
        json["events_per_sec"] = outcome.events_per_sec().into();
        json["notes"] = outcome.notes.clone().into();
        return print_json(&json);
    }
    for note in &outcome.notes {
        eprintln!("{note}");
    }
    println!(
        "backtest of {path}: replayed {} input(s) from {} in {:.3} s ({:.0} inputs/s)\n",
        outcome.events,
        outcome.start,
        outcome.seconds,
        outcome.events_per_sec()
    );
    print!("{}", outcome.figures.to_text());
    Ok(())
}
