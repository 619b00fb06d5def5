//! `sluice bench engine`: a generated mixed workload through the engine alone.

use clap::Args;

#[derive(Args)]
pub struct EngineArgs {
    /// Inputs to apply (after configuration).
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// One JSON line instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Seed of the generated workload.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub fn run(_args: EngineArgs) -> Result<(), String> {
    Err("bench engine: being written".into())
}
