//! `sluice`: the server, the demo, the load generator, the benchmarks and the operator tools.

mod admin;
mod bench;
mod bench_engine;
mod bench_journal;
mod bench_notify;
mod bench_pipeline;
mod bench_plot;
mod bench_reconcile;
mod channel_sim;
mod channel_sim_payout;
mod console_cli;
mod demo;
mod demo_admin;
mod demo_export;
// The balance yield's month script (issue 24): wired into the month demo at merge.
mod demo_faults;
mod demo_finance;
mod demo_finance_credit;
mod demo_finance_installments;
mod demo_finance_yield;
mod demo_follower;
mod demo_metrics;
mod demo_month;
mod demo_notify;
mod demo_payouts;
mod demo_payouts_actions;
mod demo_payouts_calendar;
mod demo_payouts_check;
mod demo_payouts_drive;
mod demo_payouts_report;
mod demo_recon;
mod demo_recon_load;
mod demo_recon_score;
mod demo_recon_settle;
mod demo_risk;
mod demo_scenarios;
mod export_cli;
mod export_inproc;
mod load;
mod loadgen;
mod logs;
mod notify_cli;
mod notify_receiver;
mod reconcile_cli;
mod replay_cli;
mod report_cli;
mod risk_cli;

use clap::{Parser, Subcommand};
use sluice_gateway::config::{Config, DEFAULT_CONFIG};
use sluice_gateway::server::{ServeOptions, Server};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use tracing::info;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Low-latency in-memory payment transaction processor"
)]
struct Cli {
    /// Log one JSON object per line on stderr instead of human-readable lines. The level comes
    /// from the environment variable SLUICE_LOG: error, warn, info (the default), debug, trace.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (embedded default configuration unless --config).
    Serve {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (journal and snapshots); overrides the configuration.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Listen address, e.g. 127.0.0.1:7700; overrides the configuration.
        #[arg(long)]
        listen: Option<String>,
        /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9700; turns
        /// `[metrics]` on and overrides its address.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
    },
    /// Start a server with simulated channels in-process, drive payments and refunds through real
    /// TCP connections, fail one channel mid-run, and report.
    Demo(demo::DemoArgs),
    /// Simulated payment channels as TCP connectors (success/decline rates, latency, outages, seed).
    ChannelSim(channel_sim::ChannelSimArgs),
    /// Open-loop load generator over the real protocol.
    Loadgen(loadgen::LoadgenArgs),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        which: bench::BenchCommand,
    },
    /// Operator tools over a data directory, without the server: verify, dump, state, snapshot,
    /// check, bench.
    Replay {
        #[command(subcommand)]
        command: replay_cli::ReplayCommand,
    },
    /// Administer a running server: add, change, enable, disable objects; rotate and revoke
    /// credentials; diff and apply a TOML file. Every change is a journaled admin input.
    Admin(admin::AdminArgs),
    /// Merchant notifications: list pending and given-up ones (status), send again (resend).
    Notify(notify_cli::NotifyArgs),
    /// The read-only web console: live throughput, latency and channel health from the server's
    /// metrics; reports, risk and order stories from the exported flow; admin login.
    Console(console_cli::ConsoleArgs),
    /// Statements and flow reports from the flow store (`sluice export`'s Parquet files or
    /// PostgreSQL): text, CSV or JSON.
    Report {
        #[command(subcommand)]
        command: report_cli::ReportCommand,
    },
    /// Reconcile a channel's bills for one bill day against the flow store: classified
    /// discrepancies, carried timing, settlement batches; reports under DATA/reconcile.
    Reconcile(reconcile_cli::ReconcileArgs),
    /// Export the transaction flow to a flow store (Parquet under DATA/export/parquet, or
    /// PostgreSQL): `--once` to the journal's end, or `--follow`.
    Export(export_cli::ExportArgs),
    /// The learned risk score offline: simulate days with fraud patterns, train and evaluate
    /// a model (docs/RISK_SCORE.md).
    Risk {
        #[command(subcommand)]
        command: risk_cli::RiskCommand,
    },
    /// Print the embedded default configuration.
    DefaultConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logs::install(cli.log_json) {
        eprintln!("sluice: error: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Serve {
            config,
            data,
            listen,
            metrics,
        } => serve(config, data, Overrides { listen, metrics }),
        Command::Demo(args) => demo::run(args),
        Command::ChannelSim(args) => channel_sim::run(args),
        Command::Loadgen(args) => loadgen::run(args),
        Command::Bench { which } => bench::run(which),
        Command::Replay { command } => replay_cli::run(command),
        Command::Admin(args) => admin::run(args),
        Command::Notify(args) => notify_cli::run(args),
        Command::Console(args) => console_cli::run(args),
        Command::Report { command } => report_cli::run(command),
        Command::Export(args) => export_cli::run(args),
        Command::Reconcile(args) => reconcile_cli::run(args),
        Command::Risk { command } => risk_cli::run(command),
        Command::DefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Addresses given on the command line, over the configuration's.
#[derive(Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub metrics: Option<String>,
}

/// Loads the configuration from a file (or the embedded default) and applies overrides.
pub fn load_config(
    path: Option<&PathBuf>,
    data: Option<PathBuf>,
    overrides: Overrides,
) -> Result<Config, String> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => DEFAULT_CONFIG.to_string(),
    };
    let mut config = Config::parse(&text).map_err(|e| match path {
        Some(p) => format!("{}: {e}", p.display()),
        None => e.to_string(),
    })?;
    if let Some(d) = data {
        config.data_dir = d;
    }
    if let Some(l) = overrides.listen {
        config.listen = l
            .parse()
            .map_err(|_| format!("--listen {l:?} is not an address like 127.0.0.1:7700"))?;
    }
    if let Some(m) = overrides.metrics {
        config.metrics.listen = m
            .parse()
            .map_err(|_| format!("--metrics {m:?} is not an address like 127.0.0.1:9700"))?;
        config.metrics.enabled = true;
    }
    if config.metrics.enabled
        && config.metrics.listen.port() != 0
        && config.metrics.listen == config.listen
    {
        return Err(format!(
            "the metrics address {} is the clients' own",
            config.listen
        ));
    }
    Ok(config)
}

fn serve(
    config_path: Option<PathBuf>,
    data: Option<PathBuf>,
    overrides: Overrides,
) -> Result<(), String> {
    let config = load_config(config_path.as_ref(), data, overrides)?;
    let data_dir = config.data_dir.clone();
    let export_section = config.export.clone();
    if export_section.enabled {
        // The store named must be one this build has: fail at start, not in the thread.
        export_inproc::check_store(&export_section)?;
    }
    let server = Server::start(
        config,
        ServeOptions {
            verbose: true,
            config_file: config_path,
            ..ServeOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, server.stop.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let (addr, data) = (server.local_addr, data_dir.display());
    info!(%addr, data_dir = %data, "listening on {addr} (data in {data})");
    let exporter = export_section
        .enabled
        .then(|| export_inproc::InProcessExporter::start(&data_dir, &export_section, &server))
        .transpose()?;
    let stop = server.stop.clone();
    let report = server.run();
    if let Some(exporter) = exporter {
        export_inproc::log_finish(exporter.finish(), report.last_seq);
    }
    let by_signal = stop.load(Ordering::Acquire);
    let (seq, stats) = (report.last_seq, &report.stats);
    let state_hash = report
        .state_hash
        .map(|h| h.to_string())
        .unwrap_or_else(|| "-".into());
    let how = if by_signal { " on signal" } else { "" };
    info!(
        seq,
        %state_hash,
        by_signal,
        "stopped{how} at sequence {seq}; state hash {state_hash}; {stats:?}"
    );
    match report.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
