//! `sluice bench …`: benchmarks that print figures (criterion micro-benchmarks live in benches/).
//! Each benchmark lives in its own module; this file only dispatches.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// A generated mixed workload through the engine alone.
    Engine(crate::bench_engine::EngineArgs),
}

pub fn run(which: BenchCommand) -> Result<(), String> {
    match which {
        BenchCommand::Engine(args) => crate::bench_engine::run(args),
    }
}
