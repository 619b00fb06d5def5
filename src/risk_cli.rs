//! `sluice risk simulate` and `sluice risk train`: the learned risk score offline
//! (docs/RISK_SCORE.md, section 3; the work is in the `sluice-train` crate).

use clap::{Args, Subcommand};
use std::path::PathBuf;

use sluice_train::fit::FitOptions;
use sluice_train::sim::{SimOptions, simulate};
use sluice_train::train::{TrainOptions, report_text, train};

#[derive(Subcommand)]
pub enum RiskCommand {
    /// Write simulated days with injected fraud patterns (card testing, stolen cards, refund
    /// abuse, coupon farming) as a journal in a new data directory, with the ground truth in
    /// DATA/labels.csv.
    Simulate(SimulateArgs),
    /// Train the risk score's model from a journal and its labels; write the model file and the
    /// evaluation on held-out days (AUC; precision and recall at a review rate vs the rules).
    Train(TrainArgs),
}

#[derive(Args)]
pub struct SimulateArgs {
    /// The data directory to create (must not hold a journal).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 14)]
    days: u32,
    #[arg(long, default_value_t = 20_000)]
    payments_per_day: u32,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Args)]
pub struct TrainArgs {
    /// The data directory whose journal is replayed.
    #[arg(long)]
    data: PathBuf,
    /// The labels file (default DATA/labels.csv).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// The model file to write (TOML); the evaluation goes beside it as .json.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Event days used for training, from the first payment's.
    #[arg(long, default_value_t = 10)]
    train_days: u32,
    /// The held-out days after them.
    #[arg(long, default_value_t = 4)]
    test_days: u32,
    /// The review rate the precision and recall are measured at.
    #[arg(long, default_value_t = 0.01)]
    review_rate: f64,
    /// L-BFGS iterations at most (bounds the training time).
    #[arg(long, default_value_t = 200)]
    max_iterations: u64,
    #[arg(long, default_value_t = 1)]
    model_id: u32,
}

pub fn run(command: RiskCommand) -> Result<(), String> {
    match command {
        RiskCommand::Simulate(a) => {
            if sluice_journal::journal_dir(&a.out).exists() {
                return Err(format!("{} already holds a journal", a.out.display()));
            }
            std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
            let options = SimOptions {
                days: a.days,
                payments_per_day: a.payments_per_day,
                seed: a.seed,
            };
            let s = simulate(&a.out, &options)?;
            println!(
                "{} records, {} payments, {} fraud ({:.2}%): {:?}; {} refunds, {} succeeded, {} open",
                s.records,
                s.payments,
                s.fraud_payments,
                100.0 * s.fraud_payments as f64 / s.payments.max(1) as f64,
                s.per_pattern,
                s.refunds,
                s.refunds_succeeded,
                s.refunds_open
            );
            Ok(())
        }
        RiskCommand::Train(a) => run_train(a),
    }
}

fn run_train(a: TrainArgs) -> Result<(), String> {
    if !(0.0..=1.0).contains(&a.review_rate) || a.review_rate == 0.0 {
        return Err(format!("--review-rate {} must be in (0, 1]", a.review_rate));
    }
    let options = TrainOptions {
        data: a.data,
        labels: a.labels,
        train_days: a.train_days,
        test_days: a.test_days,
        review_rate: a.review_rate,
        model_id: a.model_id,
        fit: FitOptions {
            seed: a.seed,
            max_iterations: a.max_iterations,
            ..FitOptions::default()
        },
    };
    let (model, report) = train(&options)?;
    let text = sluice_train::model_file::to_toml(&model);
    std::fs::write(&a.out, text).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let json_path = a.out.with_extension("json");
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, json).map_err(|e| format!("{}: {e}", json_path.display()))?;
    print!("{}", report_text(&report));
    println!(
        "model: {}; evaluation: {}",
        a.out.display(),
        json_path.display()
    );
    Ok(())
}
