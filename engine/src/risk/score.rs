//! The learned risk score (docs/RISK_SCORE.md): features read from the request and the velocity
//! tables exactly as the rules read them, and a logistic-regression model evaluated in fixed point
//! (Q16 weights, Q8 features, a threshold table for the sigmoid), so the same journal gives the same
//! score on every machine. No floating point here.

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{Activity, ConfigRiskModel, ReasonCode};

use super::velocity::{Lookups, Sums, Velocity, epochs};
use super::{ENTITY_KINDS, RiskContext};

/// How many features the engine computes (docs/RISK_SCORE.md, section 1).
pub const FEATURES: usize = 24;

/// A request's features, each in 1/256 units.
pub type Features = [i64; FEATURES];

/// The features' names, by index (for model files, reports and docs).
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "amount",
    "payments_per_user_minute",
    "payments_per_user_hourly",
    "payments_per_user_daily",
    "payments_per_ip_minute",
    "payments_per_ip_hourly",
    "payments_per_ip_daily",
    "payments_per_device_minute",
    "payments_per_device_hourly",
    "payments_per_device_daily",
    "payments_per_card_minute",
    "payments_per_card_hourly",
    "payments_per_card_daily",
    "payments_per_bin_minute",
    "payments_per_bin_hourly",
    "payments_per_bin_daily",
    "amount_per_user_daily",
    "amount_per_card_daily",
    "declines_per_card_hourly",
    "declines_per_bin_hourly",
    "declines_per_device_hourly",
    "declines_per_user_daily",
    "refunds_per_user_daily",
    "has_card",
];

/// Largest |weight| and |intercept|: 1024.0 in Q16 (2^26: the logit's sum stays far inside i64).
pub const WEIGHT_MAX_Q16: i32 = 1024 << 16;
/// Entity indexes (RiskEntity - 1) of the payer's keys the features read.
const USER: usize = 0;
const DEVICE: usize = 2;
const CARD: usize = 3;
const BIN: usize = 4;
/// Window indexes.
const HOUR: usize = 1;
const DAY: usize = 2;

/// What a feature is.
#[derive(Clone, Copy)]
enum Spec {
    Amount,
    /// Payments of (entity, window), this one included.
    Payments(usize, usize),
    /// Amount of (entity, window), this one included.
    AmountSum(usize, usize),
    Declines(usize, usize),
    Refunds(usize, usize),
    HasCard,
}

/// The features, by index (parallel to `FEATURE_NAMES`).
const SPECS: [Spec; FEATURES] = [
    Spec::Amount,
    Spec::Payments(USER, 0),
    Spec::Payments(USER, 1),
    Spec::Payments(USER, 2),
    Spec::Payments(1, 0),
    Spec::Payments(1, 1),
    Spec::Payments(1, 2),
    Spec::Payments(DEVICE, 0),
    Spec::Payments(DEVICE, 1),
    Spec::Payments(DEVICE, 2),
    Spec::Payments(CARD, 0),
    Spec::Payments(CARD, 1),
    Spec::Payments(CARD, 2),
    Spec::Payments(BIN, 0),
    Spec::Payments(BIN, 1),
    Spec::Payments(BIN, 2),
    Spec::AmountSum(USER, DAY),
    Spec::AmountSum(CARD, DAY),
    Spec::Declines(CARD, HOUR),
    Spec::Declines(BIN, HOUR),
    Spec::Declines(DEVICE, HOUR),
    Spec::Declines(USER, DAY),
    Spec::Refunds(USER, DAY),
    Spec::HasCard,
];

impl Spec {
    /// The (entity, window) the feature reads, if any.
    const fn reads(self) -> Option<(usize, usize)> {
        match self {
            Spec::Payments(e, w)
            | Spec::AmountSum(e, w)
            | Spec::Declines(e, w)
            | Spec::Refunds(e, w) => Some((e, w)),
            Spec::Amount | Spec::HasCard => None,
        }
    }
}

/// The velocity windows the features in `used` read (per entity kind, bit w for window w).
pub(super) fn masks_of(used: impl Fn(usize) -> bool) -> [u8; ENTITY_KINDS] {
    let mut masks = [0u8; ENTITY_KINDS];
    for (i, spec) in SPECS.iter().enumerate() {
        if let (true, Some((e, w))) = (used(i), spec.reads()) {
            masks[e] |= 1 << w;
        }
    }
    masks
}

/// log2(1 + v) in 1/256 units: the leading bit's position, plus the next 8 bits of `1 + v` as the
/// fraction (linear between powers of two, exact at them). Monotonic; integer only.
pub fn lg(v: u64) -> i64 {
    let x = v.saturating_add(1);
    let bits = 63 - x.leading_zeros();
    let fraction = if bits >= 8 {
        (x >> (bits - 8)) & 0xff
    } else {
        (x << (8 - bits)) & 0xff
    };
    i64::from(bits) * 256 + fraction as i64
}

/// The request's features: the payer's velocities as the rules see them (`rules.rs`), this
/// payment's own count and amount included, declines and refunds before it.
pub(super) fn features(ctx: &RiskContext, velocity: &Velocity, now_ns: u64) -> Features {
    let now = epochs(now_ns);
    let mut cache = Lookups::default();
    let mut sums = [[None::<Sums>; 3]; ENTITY_KINDS];
    let mut get = |e: usize, w: usize| -> Option<Sums> {
        if ctx.keys[e] == 0 {
            return None;
        }
        let s =
            sums[e][w].get_or_insert_with(|| velocity.sums(e, w, ctx.keys[e], &now, &mut cache));
        Some(*s)
    };
    let amount = ctx.amount_minor.max(0) as u64;
    let mut out = [0i64; FEATURES];
    for (slot, spec) in out.iter_mut().zip(SPECS) {
        *slot = match spec {
            Spec::Amount => lg(amount),
            Spec::HasCard => 256 * i64::from(ctx.keys[CARD] != 0),
            Spec::Payments(e, w) => get(e, w).map_or(0, |s| lg(s.0.saturating_add(1))),
            Spec::AmountSum(e, w) => {
                get(e, w).map_or(0, |s| lg((s.1.max(0) as u64).saturating_add(amount)))
            }
            Spec::Declines(e, w) => get(e, w).map_or(0, |s| lg(s.3)),
            Spec::Refunds(e, w) => get(e, w).map_or(0, |s| lg(s.2)),
        };
    }
    out
}

/// A loaded model: dense Q16 weights by feature index.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ScoreModel {
    pub model_id: u32,
    pub intercept_q16: i32,
    pub weights_q16: [i32; FEATURES],
}

/// A refusal: the reason code and why.
pub type Refusal = (ReasonCode, &'static str);

impl ScoreModel {
    /// The model a ConfigRiskModel asks for (`None`: unload), or why it is refused. Checks every
    /// term before answering, so a refused model changes nothing.
    pub fn from_config(m: &ConfigRiskModel) -> Result<Option<ScoreModel>, Refusal> {
        let invalid = |why| Err((ReasonCode::InvalidConfig, why));
        if m.model_id == 0 {
            return invalid("model_id must be above 0");
        }
        if m.status == Activity::Disabled {
            return Ok(None);
        }
        if m.terms.is_empty() {
            return invalid("an active model needs at least one term");
        }
        if !(-WEIGHT_MAX_Q16..=WEIGHT_MAX_Q16).contains(&m.intercept) {
            return invalid("intercept is beyond +-1024.0 (Q16)");
        }
        let mut weights = [0i32; FEATURES];
        let mut seen = [false; FEATURES];
        for t in m.terms.iter() {
            let f = usize::from(t.feature);
            if f >= FEATURES {
                return invalid("a term names a feature beyond 23 (docs/RISK_SCORE.md)");
            }
            if std::mem::replace(&mut seen[f], true) {
                return invalid("a term names a feature already given");
            }
            if !(-WEIGHT_MAX_Q16..=WEIGHT_MAX_Q16).contains(&t.weight) {
                return invalid("a term's weight is beyond +-1024.0 (Q16)");
            }
            weights[f] = t.weight;
        }
        Ok(Some(ScoreModel {
            model_id: m.model_id,
            intercept_q16: m.intercept,
            weights_q16: weights,
        }))
    }

    /// The velocity windows its non-zero terms read.
    pub fn masks(&self) -> [u8; ENTITY_KINDS] {
        masks_of(|i| self.weights_q16[i] != 0)
    }

    /// The logit in Q16: intercept + sum of weight * feature / 256. Bounded: |weight| <= 2^26,
    /// features < 2^14 (lg of a u64), 24 terms: below 2^45, well inside i64.
    pub fn logit_q16(&self, features: &Features) -> i64 {
        let mut acc = i64::from(self.intercept_q16) << 8;
        for (w, x) in self.weights_q16.iter().zip(features) {
            acc += i64::from(*w) * *x;
        }
        acc >> 8
    }

    /// The score, 0..=100: round(100 * sigmoid(logit)).
    pub fn score(&self, features: &Features) -> u8 {
        score_of_logit(self.logit_q16(features))
    }
}

/// round(100 * sigmoid(logit)) for a Q16 logit: how many of the thresholds it reaches.
pub fn score_of_logit(logit_q16: i64) -> u8 {
    SIGMOID_THRESHOLDS_Q16.partition_point(|&t| i64::from(t) <= logit_q16) as u8
}

/// `T_k = ln(p / (1 - p))` for `p = (k - 0.5) / 100`, k = 1..=100, in Q16 (rounded to nearest):
/// the score is the number of them a logit reaches. Recomputed in floating point by a test.
pub const SIGMOID_THRESHOLDS_Q16: [i32; 100] = include!("sigmoid_thresholds.in");

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::ScoreTerm;

    #[test]
    fn the_threshold_table_is_the_sigmoids() {
        for (i, &t) in SIGMOID_THRESHOLDS_Q16.iter().enumerate() {
            let p = (i as f64 + 0.5) / 100.0;
            let want = ((p / (1.0 - p)).ln() * 65536.0).round() as i32;
            assert_eq!(t, want, "threshold {}", i + 1);
        }
        assert_eq!(score_of_logit(i64::MIN), 0);
        assert_eq!(score_of_logit(0), 50);
        assert_eq!(score_of_logit(i64::MAX), 100);
        // sigmoid(1.0) = 0.731: score 73.
        assert_eq!(score_of_logit(65536), 73);
    }

    #[test]
    fn lg_is_log2_of_one_plus_v_in_q8() {
        assert_eq!(lg(0), 0);
        assert_eq!(lg(1), 256);
        assert_eq!(lg(3), 512);
        assert_eq!(lg(u64::MAX), 63 * 256 + 255, "saturates below 64.0");
        let mut last = -1;
        for v in 0..5000u64 {
            let got = lg(v);
            assert!(got >= last, "monotonic at {v}");
            let exact = ((v + 1) as f64).log2() * 256.0;
            assert!(
                (got as f64 - exact).abs() <= 23.0,
                "close at {v}: {got} vs {exact}"
            );
            last = got;
        }
    }

    fn model(terms: &[(u16, i32)]) -> ConfigRiskModel {
        let mut m = ConfigRiskModel {
            model_id: 1,
            status: Activity::Active,
            intercept: -3 << 16,
            ..Default::default()
        };
        for &(feature, weight) in terms {
            m.terms.push(ScoreTerm { feature, weight });
        }
        m
    }

    #[test]
    fn bad_models_are_refused_with_a_reason() {
        let cases: [(ConfigRiskModel, &str); 4] = [
            (model(&[]), "at least one term"),
            (model(&[(24, 1)]), "beyond 23"),
            (model(&[(1, 1), (1, 2)]), "already given"),
            (model(&[(1, WEIGHT_MAX_Q16 + 1)]), "weight"),
        ];
        for (m, why) in cases {
            let (_, text) = ScoreModel::from_config(&m).unwrap_err();
            assert!(text.contains(why), "{text}");
        }
        let mut zero = model(&[(1, 1)]);
        zero.model_id = 0;
        assert!(ScoreModel::from_config(&zero).is_err());
        let mut off = model(&[]);
        off.status = Activity::Disabled;
        assert_eq!(ScoreModel::from_config(&off), Ok(None));
    }

    #[test]
    fn the_fixed_point_score_is_deterministic_and_bounded() {
        let m = ScoreModel::from_config(&model(&[(0, 1 << 16), (10, -(5 << 16))]))
            .unwrap()
            .unwrap();
        let mut x = [0i64; FEATURES];
        x[0] = 3 * 256; // amount term: +3.0; intercept -3.0: logit 0
        assert_eq!(m.logit_q16(&x), 0);
        assert_eq!(m.score(&x), 50);
        x[10] = 256; // -5.0
        assert_eq!(m.score(&x), score_of_logit(-5 << 16));
        assert_eq!(m.score(&x), 1);
        let extreme = [64 * 256i64; FEATURES];
        assert!(m.score(&extreme) <= 100);
        assert_eq!(m.masks()[CARD], 1, "the card's minute window");
        assert_eq!(m.masks()[USER], 0);
    }
}
