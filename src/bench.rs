//! `sluice bench …`: benchmarks that print figures (criterion micro-benchmarks live in benches/).
//! Each benchmark lives in its own module; this file only dispatches.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// A generated mixed workload through the engine alone.
    Engine(crate::bench_engine::EngineArgs),
    /// Journal append throughput (none and fsync), recovery speed, and snapshot cost.
    Journal(crate::bench_journal::JournalArgs),
    /// Ring + journal + engine without TCP: inputs/s and publish-to-output latency.
    Pipeline(crate::bench_pipeline::PipelineArgs),
    /// Merchant notifications end to end (enqueue to 2xx, store included) to a local receiver.
    Notify(crate::bench_notify::NotifyBenchArgs),
    /// Reconciliation of one channel's day of N bill rows: parse, load, classify, reports.
    Reconcile(crate::bench_reconcile::ReconcileBenchArgs),
    /// Percentile curves of .hgrm files as an SVG.
    Plot(crate::bench_plot::PlotArgs),
}

pub fn run(which: BenchCommand) -> Result<(), String> {
    match which {
        BenchCommand::Engine(args) => crate::bench_engine::run(args),
        BenchCommand::Journal(args) => crate::bench_journal::run(args),
        BenchCommand::Pipeline(args) => crate::bench_pipeline::run(args),
        BenchCommand::Notify(args) => crate::bench_notify::run(args),
        BenchCommand::Plot(args) => crate::bench_plot::run(args),
        BenchCommand::Reconcile(args) => crate::bench_reconcile::run(args),
    }
}
