//! Fitting: standardise the features, fit an L2-regularised logistic regression with linfa
//! (L-BFGS, a bounded number of iterations; deterministic for a given input), fold the
//! standardisation back into weights per feature unit, and quantise to the engine's Q16 model.

use linfa::Dataset;
use linfa::traits::Fit;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use sluice_engine::risk::FEATURES;
use sluice_engine::risk::score::WEIGHT_MAX_Q16;
use sluice_protocol::rng::Rng;

use crate::observe::Example;

/// How to fit.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// Seeds the sampling of genuine examples when there are more than `rows_max`.
    pub seed: u64,
    /// L-BFGS iterations at most (bounds the training time).
    pub max_iterations: u64,
    /// L2 penalty on the standardised weights, per row (linfa's loss is a sum over rows, so its
    /// `alpha` is this times the rows fitted).
    pub l2: f64,
    /// Most rows fitted (fraud rows are all kept; genuine rows are sampled, seeded).
    pub rows_max: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            seed: 7,
            max_iterations: 200,
            l2: 0.01,
            rows_max: 400_000,
        }
    }
}

/// A fitted model in floating point, per feature unit (the engine's features / 256).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatModel {
    pub intercept: f64,
    pub weights: [f64; FEATURES],
}

impl FloatModel {
    pub fn logit(&self, features: &[i64; FEATURES]) -> f64 {
        let dot: f64 = self
            .weights
            .iter()
            .zip(features)
            .map(|(w, x)| w * (*x as f64 / 256.0))
            .sum();
        self.intercept + dot
    }

    /// round(100 * sigmoid(logit)), as the engine defines the score.
    pub fn score(&self, features: &[i64; FEATURES]) -> u8 {
        let p = 1.0 / (1.0 + (-self.logit(features)).exp());
        (100.0 * p).round() as u8
    }

    /// How many of the weights and the intercept the engine's bound (+-1024.0) would clamp.
    pub fn clamped(&self) -> usize {
        let max = f64::from(WEIGHT_MAX_Q16) / 65536.0;
        std::iter::once(&self.intercept)
            .chain(self.weights.iter())
            .filter(|v| v.abs() > max)
            .count()
    }

    /// The engine's model: Q16 weights (clamped to +-1024.0), zero weights left out.
    pub fn quantise(&self, model_id: u32) -> sluice_protocol::ConfigRiskModel {
        let q = |v: f64| {
            (v * 65536.0)
                .round()
                .clamp(-(WEIGHT_MAX_Q16 as f64), WEIGHT_MAX_Q16 as f64) as i32
        };
        let mut m = sluice_protocol::ConfigRiskModel {
            model_id,
            status: sluice_protocol::Activity::Active,
            intercept: q(self.intercept),
            ..Default::default()
        };
        for (i, w) in self.weights.iter().enumerate() {
            let weight = q(*w);
            if weight != 0 {
                m.terms.push(sluice_protocol::ScoreTerm {
                    feature: i as u16,
                    weight,
                });
            }
        }
        m
    }
}

/// Fits the model on `train` (needs both classes).
pub fn fit(train: &[Example], options: &FitOptions) -> Result<FloatModel, String> {
    let rows = sample(train, options);
    let fraud = rows.iter().filter(|e| e.fraud).count();
    if fraud == 0 || fraud == rows.len() {
        return Err(format!(
            "training needs fraud and genuine examples: {fraud} of {} are fraud",
            rows.len()
        ));
    }
    let (mean, sd) = moments(&rows);
    let mut x = Array2::<f64>::zeros((rows.len(), FEATURES));
    for (r, e) in rows.iter().enumerate() {
        for j in 0..FEATURES {
            x[[r, j]] = (e.observation.features[j] as f64 / 256.0 - mean[j]) / sd[j];
        }
    }
    let y: Array1<bool> = rows.iter().map(|e| e.fraud).collect();
    let dataset = Dataset::new(x, y);
    let fitted = LogisticRegression::default()
        .alpha(options.l2 * rows.len() as f64)
        .max_iterations(options.max_iterations)
        .fit(&dataset)
        .map_err(|e| format!("logistic regression: {e}"))?;
    // linfa's "positive" class is the more frequent one (genuine here): orient the logit so that
    // it is the log-odds of fraud.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let params = fitted.params();
    let mut weights = [0.0; FEATURES];
    let mut intercept = sign * fitted.intercept();
    for j in 0..FEATURES {
        weights[j] = sign * params[j] / sd[j];
        intercept -= sign * params[j] * mean[j] / sd[j];
    }
    Ok(FloatModel { intercept, weights })
}

/// All fraud rows and, when there are more than `rows_max`, a seeded sample of the genuine ones.
fn sample<'a>(train: &'a [Example], options: &FitOptions) -> Vec<&'a Example> {
    let fraud = train.iter().filter(|e| e.fraud).count();
    let room = options.rows_max.saturating_sub(fraud);
    let genuine = train.len() - fraud;
    let mut rng = Rng::new(options.seed);
    train
        .iter()
        .filter(|e| e.fraud || genuine <= room || rng.below(genuine as u64) < room as u64)
        .collect()
}

/// Per feature (in feature units): mean and standard deviation (1 where constant, so a constant
/// feature gets weight 0 from the penalty and divides by nothing).
fn moments(rows: &[&Example]) -> ([f64; FEATURES], [f64; FEATURES]) {
    let n = rows.len() as f64;
    let mut mean = [0.0; FEATURES];
    let mut sd = [0.0; FEATURES];
    for e in rows {
        for (m, x) in mean.iter_mut().zip(&e.observation.features) {
            *m += *x as f64 / 256.0 / n;
        }
    }
    for e in rows {
        for ((s, m), x) in sd.iter_mut().zip(&mean).zip(&e.observation.features) {
            let d = *x as f64 / 256.0 - m;
            *s += d * d / n;
        }
    }
    for s in sd.iter_mut() {
        *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
    }
    (mean, sd)
}
