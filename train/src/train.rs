//! `sluice risk train`: replay a journal with the observation recorder, join the labels, split by
//! event day, fit, quantise, evaluate on the held-out days, write the model file and the
//! evaluation (docs/RISK_SCORE.md, section 3).

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use sluice_engine::risk::ScoreModel;
use sluice_protocol::ConfigRiskModel;
use sluice_workload::fraud::DAY_NS;

use crate::evaluate::{self, AtRate};
use crate::fit::{self, FitOptions, FloatModel};
use crate::observe::{self, Example};

/// What to train on and how.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The data directory (its journal is replayed).
    pub data: PathBuf,
    /// The labels file (default: DATA/labels.csv).
    pub labels: Option<PathBuf>,
    pub train_days: u32,
    pub test_days: u32,
    /// The share of payments a reviewer looks at (0.01: the top 1%).
    pub review_rate: f64,
    pub model_id: u32,
    pub fit: FitOptions,
}

/// The evaluation on the held-out days.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub records: u64,
    /// Labels journaled as inputs (RiskLabel, fraud DisputeNotice); 0 when a file was used.
    pub journaled_labels: u64,
    pub observations: u64,
    pub replay_seconds: f64,
    pub train_rows: u64,
    pub train_fraud: u64,
    pub test_rows: u64,
    pub test_fraud: u64,
    pub fit_seconds: f64,
    pub terms: u64,
    /// Weights (and intercept) beyond the engine's bound, clamped by the quantisation.
    pub clamped: u64,
    /// AUC of the engine's fixed-point score, of the float model, and of the rules' verdicts.
    pub auc_score: f64,
    pub auc_float: f64,
    pub auc_rules: f64,
    pub review_rate: f64,
    pub score_at_rate: AtRate,
    pub rules_at_rate: AtRate,
    /// What the rules flagged (blocked or reviewed), at their own rate.
    pub rules_alone: AtRate,
    /// Largest |fixed-point score - float score| over the held-out payments, in score points.
    pub score_difference_max: u8,
}

/// Trains and evaluates; returns the engine's model and the report.
pub fn train(o: &TrainOptions) -> Result<(ConfigRiskModel, Report), String> {
    let replayed = observe::replay(&o.data)?;
    let labels = labels(o, &replayed)?;
    let examples = observe::join(&replayed.observations, &labels);
    let (train_set, test_set) = split_days(&examples, o.train_days, o.test_days)?;
    let started = Instant::now();
    let float = fit::fit(&train_set, &o.fit)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let config = float.quantise(o.model_id);
    let model = ScoreModel::from_config(&config)
        .map_err(|(_, why)| format!("the quantised model is refused: {why}"))?
        .ok_or("the quantised model is empty")?;
    let count = |s: &[Example]| s.iter().filter(|e| e.fraud).count() as u64;
    let report = Report {
        records: replayed.records,
        journaled_labels: replayed.labels.len() as u64,
        observations: replayed.observations.len() as u64,
        replay_seconds: replayed.seconds,
        train_rows: train_set.len() as u64,
        train_fraud: count(&train_set),
        test_rows: test_set.len() as u64,
        test_fraud: count(&test_set),
        fit_seconds,
        terms: config.terms.len() as u64,
        clamped: float.clamped() as u64,
        auc_score: auc(&test_set, |e| {
            f64::from(model.score(&e.observation.features))
        })?,
        auc_float: auc(&test_set, |e| float.logit(&e.observation.features))?,
        auc_rules: auc(&test_set, |e| evaluate::rules_key(e) as f64)?,
        review_rate: o.review_rate,
        score_at_rate: evaluate::at_rate(&test_set, o.review_rate, |e| {
            model.logit_q16(&e.observation.features)
        }),
        rules_at_rate: evaluate::at_rate(&test_set, o.review_rate, evaluate::rules_key),
        rules_alone: evaluate::rules_alone(&test_set),
        score_difference_max: score_difference_max(&test_set, &model, &float),
    };
    Ok((config, report))
}

/// The labels: the file given, else those journaled, else the simulator's DATA/labels.csv.
fn labels(
    o: &TrainOptions,
    replayed: &observe::Replayed,
) -> Result<Vec<crate::labels::Label>, String> {
    match &o.labels {
        Some(path) => crate::labels::read(path),
        None if !replayed.labels.is_empty() => Ok(replayed.labels.clone()),
        None => crate::labels::read(&o.data.join(crate::labels::LABELS_FILE)),
    }
}

fn auc(set: &[Example], score: impl Fn(&Example) -> f64) -> Result<f64, String> {
    evaluate::auc(set, score)
        .ok_or_else(|| "the held-out days need fraud and genuine payments".into())
}

/// The first `train_days` event days (from the first payment's) train, the next `test_days` test.
pub fn split_days(
    examples: &[Example],
    train_days: u32,
    test_days: u32,
) -> Result<(Vec<Example>, Vec<Example>), String> {
    let first = examples
        .iter()
        .map(|e| e.observation.time_ns)
        .min()
        .ok_or("the journal has no payments")?;
    let day = |e: &Example| (e.observation.time_ns - first) / DAY_NS;
    let train_end = u64::from(train_days);
    let test_end = train_end + u64::from(test_days);
    let train: Vec<Example> = examples
        .iter()
        .filter(|e| day(e) < train_end)
        .copied()
        .collect();
    let test: Vec<Example> = examples
        .iter()
        .filter(|e| (train_end..test_end).contains(&day(e)))
        .copied()
        .collect();
    if train.is_empty() || test.is_empty() {
        return Err(format!(
            "{} training and {} held-out payments: the journal covers fewer than {} days",
            train.len(),
            test.len(),
            test_end
        ));
    }
    Ok((train, test))
}

fn score_difference_max(set: &[Example], model: &ScoreModel, float: &FloatModel) -> u8 {
    set.iter()
        .map(|e| {
            let fixed = model.score(&e.observation.features);
            fixed.abs_diff(float.score(&e.observation.features))
        })
        .max()
        .unwrap_or(0)
}

/// The report as text lines for a terminal and the docs.
pub fn report_text(r: &Report) -> String {
    let line = |name: &str, a: &AtRate| {
        format!(
            "  {name:<28} reviewed {:>6}  caught {:>5}  precision {:.3}  recall {:.3}\n",
            a.reviewed, a.caught, a.precision, a.recall
        )
    };
    let mut s = format!(
        "replayed {} records ({} payments, {} journaled labels) in {:.1} s; fitted in {:.2} s ({} terms)\n\
         train: {} payments, {} fraud; held out: {} payments, {} fraud\n\
         AUC on held-out days: score {:.4} (float model {:.4}), rules alone {:.4}\n\
         fixed-point vs float score: at most {} point(s) apart; {} weight(s) clamped\n\
         at a review rate of {:.1}%:\n",
        r.records,
        r.observations,
        r.journaled_labels,
        r.replay_seconds,
        r.fit_seconds,
        r.terms,
        r.train_rows,
        r.train_fraud,
        r.test_rows,
        r.test_fraud,
        r.auc_score,
        r.auc_float,
        r.auc_rules,
        r.score_difference_max,
        r.clamped,
        r.review_rate * 100.0
    );
    s += &line("risk score (top by score)", &r.score_at_rate);
    s += &line("rules (flagged first)", &r.rules_at_rate);
    s += &line("rules alone (all flagged)", &r.rules_alone);
    s
}
