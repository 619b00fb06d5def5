//! `sluice bench …`: benchmarks that print figures (criterion benches live in benches/).

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// A generated mixed workload through the engine alone.
    Engine {
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

pub fn run(which: BenchCommand) -> Result<(), String> {
    match which {
        BenchCommand::Engine { events, json, seed } => engine(events, json, seed),
    }
}

fn engine(_events: u64, _json: bool, _seed: u64) -> Result<(), String> {
    Err("not yet".into())
}
