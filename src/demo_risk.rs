//! The demo's risk analyst's loop (issue 23): simulated days with injected fraud patterns and
//! their journaled labels (`sluice risk simulate`; docs/RISK_SCORE.md), then
//! - the live rules, written in the rule language (rules/default.rules), backtested against the
//!   journal: they must reproduce every live verdict (docs/BACKTEST.md);
//! - a candidate rule set (rules/candidate.rules) backtested: per rule, what it would have blocked
//!   or reviewed, the overlap with what was done, precision, recall and false-positive rate;
//! - the learned risk score trained on the first days and measured on the held-out days against
//!   the rules alone (AUC, and precision and recall at a 1% review rate).
//!
//! The scenario checks, not only prints: the live set reproduces the live verdicts, the candidate
//! catches labelled fraud, and the score beats the rules alone on the held-out days.

use std::path::{Path, PathBuf};

use serde_json::json;
use sluice_replay::DataDir;
use sluice_replay::backtest::{Backtest, backtest, compile_candidate};
use sluice_train::fit::FitOptions;
use sluice_train::sim::{SimOptions, SimSummary, simulate};
use sluice_train::train::{Report, TrainOptions, report_text, train};

/// The demo's flags for the scenario.
#[derive(clap::Args)]
pub struct RiskArgs {
    /// Run only the risk scenario: simulated fraud days, backtests of the live and a candidate
    /// rule set, and the learned score trained and measured.
    #[arg(long)]
    pub risk_only: bool,
    /// Skip the risk scenario in the full demo.
    #[arg(long)]
    pub no_risk: bool,
}

const LIVE_RULES: &str = include_str!("../rules/default.rules");
const CANDIDATE_RULES: &str = include_str!("../rules/candidate.rules");
const DAYS: u32 = 6;
const PAYMENTS_PER_DAY: u32 = 5_000;
const TRAIN_DAYS: u32 = 4;
const REVIEW_RATE: f64 = 0.01;

/// What the scenario found.
pub struct RiskReport {
    dir: PathBuf,
    sim: SimSummary,
    live: Backtest,
    candidate: Backtest,
    score: Report,
    failures: Vec<String>,
}

/// Runs the scenario in `dir` (created afresh).
pub fn run(dir: &Path, seed: u64) -> Result<RiskReport, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let options = SimOptions {
        days: DAYS,
        payments_per_day: PAYMENTS_PER_DAY,
        seed,
    };
    let sim = simulate(dir, &options)?;
    let data = DataDir::open(dir).map_err(|e| e.message)?;
    let test = |path: &str, text: &str| -> Result<Backtest, String> {
        let (set, notes) = compile_candidate(path, text).map_err(|e| e.message)?;
        backtest(&data, &set, notes).map_err(|e| e.message)
    };
    let live = test("rules/default.rules", LIVE_RULES)?;
    let candidate = test("rules/candidate.rules", CANDIDATE_RULES)?;
    let (_, score) = train(&TrainOptions {
        data: dir.to_path_buf(),
        labels: None,
        train_days: TRAIN_DAYS,
        test_days: DAYS - TRAIN_DAYS,
        review_rate: REVIEW_RATE,
        model_id: 1,
        fit: FitOptions {
            seed,
            ..FitOptions::default()
        },
    })?;
    let mut report = RiskReport {
        dir: dir.to_path_buf(),
        sim,
        live,
        candidate,
        score,
        failures: Vec::new(),
    };
    report.failures = report.checks();
    Ok(report)
}

impl RiskReport {
    fn checks(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let set = &self.live.figures.set;
        if set.only_candidate + set.only_live > 0 {
            failures.push(format!(
                "the live rules in the language disagree with the live verdicts: {} only as text, {} only live",
                set.only_candidate, set.only_live
            ));
        }
        if self.sim.refunds_open > 0 {
            failures.push(format!(
                "{} simulated refunds were never answered",
                self.sim.refunds_open
            ));
        }
        if self.candidate.figures.set.candidate.caught == 0 {
            failures.push("the candidate rules caught no labelled fraud".into());
        }
        let s = &self.score;
        if s.auc_score <= s.auc_rules || s.score_at_rate.caught <= s.rules_at_rate.caught {
            failures.push(format!(
                "the score does not beat the rules alone on the held-out days (AUC {:.3} vs {:.3}; caught {} vs {} at {:.0}% reviewed)",
                s.auc_score,
                s.auc_rules,
                s.score_at_rate.caught,
                s.rules_at_rate.caught,
                REVIEW_RATE * 100.0
            ));
        }
        failures
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "data": self.dir.display().to_string(),
            "payments": self.sim.payments,
            "fraud_payments": self.sim.fraud_payments,
            "patterns": self.sim.per_pattern,
            "refunds": self.sim.refunds,
            "refunds_succeeded": self.sim.refunds_succeeded,
            "refunds_open": self.sim.refunds_open,
            "live_backtest": self.live.figures.to_json(),
            "candidate_backtest": self.candidate.figures.to_json(),
            "backtest_events_per_sec": self.candidate.events_per_sec(),
            "score": self.score,
            "failures": self.failures,
        })
    }

    pub fn print(&self) {
        println!("\n== Risk: the analyst's loop (simulated fraud, backtests, the learned score)");
        let patterns: Vec<String> = self
            .sim
            .per_pattern
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        println!(
            "{} days, {} payments, {} fraudulent ({}), labels journaled; data in {}",
            DAYS,
            self.sim.payments,
            self.sim.fraud_payments,
            patterns.join(", "),
            self.dir.display()
        );
        println!(
            "{} refunds asked, {} succeeded, {} refused by the engine, {} left open",
            self.sim.refunds,
            self.sim.refunds_succeeded,
            self.sim
                .refunds
                .saturating_sub(self.sim.refunds_succeeded + self.sim.refunds_open),
            self.sim.refunds_open
        );
        for (title, b) in [
            ("the live rules as text (rules/default.rules)", &self.live),
            (
                "a candidate rule set (rules/candidate.rules)",
                &self.candidate,
            ),
        ] {
            println!(
                "\n-- backtest of {title}: {} inputs replayed at {:.0} inputs/s",
                b.events,
                b.events_per_sec()
            );
            print!("{}", b.figures.to_text());
        }
        println!(
            "\n-- the learned risk score, trained on days 1-{TRAIN_DAYS}, measured on days {}-{DAYS}",
            TRAIN_DAYS + 1
        );
        print!("{}", report_text(&self.score));
        for f in &self.failures {
            println!("CHECK FAILED: {f}");
        }
    }

    pub fn show_alone(&self, json: bool) -> Result<(), String> {
        if json {
            println!("{}", json!({ "risk": self.json() }));
        } else {
            self.print();
        }
        self.check()
    }

    /// Fails the demo when a check failed.
    pub fn check(&self) -> Result<(), String> {
        match self.failures.is_empty() {
            true => Ok(()),
            false => Err(format!(
                "risk scenario: {} check(s) failed: {}",
                self.failures.len(),
                self.failures.join("; ")
            )),
        }
    }
}
