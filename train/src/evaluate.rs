//! Evaluation on held-out days: AUC of a score, and precision and recall at a fixed review rate
//! against the rules alone at the same rate.

use serde::Serialize;
use sluice_protocol::RiskAction;

use crate::observe::Example;

/// Precision and recall of the top `reviewed` payments.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AtRate {
    pub reviewed: u64,
    pub caught: u64,
    pub precision: f64,
    pub recall: f64,
}

/// The area under the ROC curve of `score` (higher = more likely fraud), ties counted half
/// (the Mann-Whitney statistic with average ranks). `None` without both classes.
pub fn auc(examples: &[Example], score: impl Fn(&Example) -> f64) -> Option<f64> {
    let mut scored: Vec<(f64, bool)> = examples.iter().map(|e| (score(e), e.fraud)).collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = scored.iter().filter(|s| s.1).count() as f64;
    let negatives = scored.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < scored.len() {
        let mut j = i;
        while j < scored.len() && scored[j].0 == scored[i].0 {
            j += 1;
        }
        // Ranks i+1..=j share their average.
        let average = (i + 1 + j) as f64 / 2.0;
        rank_sum += average * scored[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// Precision and recall of the first `rate` of `examples` ranked by `key` (highest first; ties
/// in journal order).
pub fn at_rate(examples: &[Example], rate: f64, key: impl Fn(&Example) -> i64) -> AtRate {
    let mut ranked: Vec<&Example> = examples.iter().collect();
    ranked.sort_by(|a, b| {
        key(b)
            .cmp(&key(a))
            .then(a.observation.seq.cmp(&b.observation.seq))
    });
    let reviewed = ((examples.len() as f64 * rate).ceil() as usize).min(examples.len());
    let caught = ranked[..reviewed].iter().filter(|e| e.fraud).count();
    let fraud = examples.iter().filter(|e| e.fraud).count();
    AtRate {
        reviewed: reviewed as u64,
        caught: caught as u64,
        precision: ratio(caught, reviewed),
        recall: ratio(caught, fraud),
    }
}

/// The rules' ranking: payments they blocked or sent to review first.
pub fn rules_key(e: &Example) -> i64 {
    i64::from(matches!(
        e.observation.action,
        RiskAction::Block | RiskAction::Review
    ))
}

/// Precision and recall of what the rules flagged (blocked or reviewed), at their own rate.
pub fn rules_alone(examples: &[Example]) -> AtRate {
    let flagged = examples.iter().filter(|e| rules_key(e) == 1).count();
    let caught = examples
        .iter()
        .filter(|e| rules_key(e) == 1 && e.fraud)
        .count();
    let fraud = examples.iter().filter(|e| e.fraud).count();
    AtRate {
        reviewed: flagged as u64,
        caught: caught as u64,
        precision: ratio(caught, flagged),
        recall: ratio(caught, fraud),
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::risk_observations::RiskObservation;

    fn example(seq: u64, fraud: bool, action: RiskAction) -> Example {
        Example {
            observation: RiskObservation {
                seq,
                order_id: seq,
                request_id: seq,
                acquirer_id: 1,
                time_ns: 0,
                merchant_id: 1,
                user_id: 1,
                amount_minor: 1,
                currency: 156,
                method: sluice_protocol::PaymentMethod::Wallet,
                action,
                rule_id: 0,
                risk_score: 0,
                features: [0; sluice_engine::risk::FEATURES],
                candidate_matches: 0,
            },
            fraud,
        }
    }

    #[test]
    fn auc_is_one_for_a_perfect_ranking_a_half_for_ties_and_zero_reversed() {
        let ex: Vec<Example> = (0..10)
            .map(|i| example(i, i >= 7, RiskAction::None))
            .collect();
        assert_eq!(auc(&ex, |e| e.observation.seq as f64), Some(1.0));
        assert_eq!(auc(&ex, |_| 1.0), Some(0.5));
        assert_eq!(auc(&ex, |e| -(e.observation.seq as f64)), Some(0.0));
        assert_eq!(auc(&ex[..3], |_| 1.0), None);
    }

    #[test]
    fn precision_and_recall_at_a_rate_take_the_top_ranked() {
        let mut ex: Vec<Example> = (0..100)
            .map(|i| example(i, i % 25 == 0, RiskAction::None))
            .collect();
        ex[0].observation.action = RiskAction::Block;
        let top = at_rate(&ex, 0.02, |e| if e.fraud { 1 } else { 0 });
        assert_eq!((top.reviewed, top.caught), (2, 2));
        assert_eq!(top.recall, 0.5);
        let rules = at_rate(&ex, 0.02, rules_key);
        // Seq 0 (flagged, fraud), then seq 1 (genuine): 1 of 2.
        assert_eq!((rules.caught, rules.precision), (1, 0.5));
        assert_eq!(rules_alone(&ex).reviewed, 1);
    }
}
