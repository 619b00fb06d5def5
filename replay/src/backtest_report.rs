//! The figures of a backtest (docs/BACKTEST.md), computed from what the replay observed: one
//! [`Observed`] per payment risk evaluation and the labels the journal holds. Plain data in, plain
//! figures out: the replay itself is in `backtest`.

use std::collections::HashMap;

use serde_json::json;
use sluice_protocol::RiskAction;

/// What a label says about an order, once reduced to what the figures need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    Fraud,
    Good,
}

/// One payment risk evaluation, as the replay saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub order_id: u64,
    /// The live rules' verdict, and the rule (or list: 1 allow, 2 block) that decided it.
    pub live: RiskAction,
    pub live_rule_id: u32,
    /// Bit i: candidate rule i matched.
    pub matches: u64,
    /// The candidate set's verdict (Radar order, first match wins).
    pub candidate: RiskAction,
}

/// A candidate rule as the report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub id: u32,
    pub name: String,
    pub action: RiskAction,
    pub shadow: bool,
}

/// Counts against the labels: matched (or intercepted) payments split by truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    /// Matched and labelled fraud.
    pub caught: u64,
    /// Matched and labelled good.
    pub good_labelled: u64,
    /// Matched and unlabelled (presumed good).
    pub good_presumed: u64,
}

impl Confusion {
    fn add(&mut self, truth: Option<Truth>) {
        match truth {
            Some(Truth::Fraud) => self.caught += 1,
            Some(Truth::Good) => self.good_labelled += 1,
            None => self.good_presumed += 1,
        }
    }

    pub fn matched(&self) -> u64 {
        self.caught + self.good_labelled + self.good_presumed
    }

    /// Caught / matched (None when nothing matched).
    pub fn precision(&self) -> Option<f64> {
        ratio(self.caught, self.matched())
    }

    /// Caught / all fraud.
    pub fn recall(&self, population: &Population) -> Option<f64> {
        ratio(self.caught, population.fraud)
    }

    /// Good matched / all good (labelled and presumed).
    pub fn false_positive_rate(&self, population: &Population) -> Option<f64> {
        ratio(
            self.good_labelled + self.good_presumed,
            population.good_labelled + population.good_presumed,
        )
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The evaluated payments by truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Population {
    pub payments: u64,
    pub fraud: u64,
    pub good_labelled: u64,
    pub good_presumed: u64,
}

/// One candidate rule's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFigures {
    pub confusion: Confusion,
    /// Matched payments the live rules blocked / sent to review / let through.
    pub live_blocked: u64,
    pub live_reviewed: u64,
    pub live_allowed: u64,
    /// Payments whose candidate verdict this rule decided (first match).
    pub decided: u64,
}

/// The set's verdicts against the live ones, for interceptions (block or review).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetFigures {
    /// What the candidate set would block or review, against the labels.
    pub candidate: Confusion,
    /// What the live set blocked or reviewed, against the labels.
    pub live: Confusion,
    pub both_intercept: u64,
    pub only_candidate: u64,
    pub only_live: u64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub rules: Vec<(RuleInfo, RuleFigures)>,
    pub set: SetFigures,
    pub population: Population,
}

fn intercepts(action: RiskAction) -> bool {
    matches!(action, RiskAction::Block | RiskAction::Review)
}

/// The figures of `observed` against `labels` (order id → truth; the last label won already).
/// `decided_by` gives, per observation, the index of the rule that decided the candidate verdict.
pub fn figures(
    rules: &[RuleInfo],
    observed: &[Observed],
    decided_by: impl Fn(&Observed) -> Option<usize>,
    labels: &HashMap<u64, Truth>,
) -> Figures {
    let mut per_rule = vec![RuleFigures::default(); rules.len()];
    let mut set = SetFigures::default();
    let mut population = Population::default();
    for o in observed {
        let truth = labels.get(&o.order_id).copied();
        population.payments += 1;
        match truth {
            Some(Truth::Fraud) => population.fraud += 1,
            Some(Truth::Good) => population.good_labelled += 1,
            None => population.good_presumed += 1,
        }
        for (i, f) in per_rule.iter_mut().enumerate() {
            if o.matches >> i & 1 == 0 {
                continue;
            }
            f.confusion.add(truth);
            match o.live {
                RiskAction::Block => f.live_blocked += 1,
                RiskAction::Review => f.live_reviewed += 1,
                _ => f.live_allowed += 1,
            }
        }
        if let Some(i) = decided_by(o).filter(|i| *i < per_rule.len()) {
            per_rule[i].decided += 1;
        }
        let (cand, live) = (intercepts(o.candidate), intercepts(o.live));
        if cand {
            set.candidate.add(truth);
        }
        if live {
            set.live.add(truth);
        }
        set.both_intercept += u64::from(cand && live);
        set.only_candidate += u64::from(cand && !live);
        set.only_live += u64::from(live && !cand);
    }
    Figures {
        rules: rules.iter().cloned().zip(per_rule).collect(),
        set,
        population,
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.2}%", v * 100.0))
}

fn confusion_json(c: &Confusion, p: &Population) -> serde_json::Value {
    json!({
        "matched": c.matched(),
        "fraud_caught": c.caught,
        "good_labelled": c.good_labelled,
        "good_presumed": c.good_presumed,
        "precision": c.precision(),
        "recall": c.recall(p),
        "false_positive_rate": c.false_positive_rate(p),
    })
}

impl Figures {
    pub fn to_json(&self) -> serde_json::Value {
        let p = &self.population;
        let rules: Vec<_> = self
            .rules
            .iter()
            .map(|(r, f)| {
                json!({
                    "rule_id": r.id,
                    "name": r.name,
                    "action": r.action.name(),
                    "shadow": r.shadow,
                    "decided": f.decided,
                    "live_blocked": f.live_blocked,
                    "live_reviewed": f.live_reviewed,
                    "live_allowed": f.live_allowed,
                    "labels": confusion_json(&f.confusion, p),
                })
            })
            .collect();
        json!({
            "payments": p.payments,
            "fraud": p.fraud,
            "good_labelled": p.good_labelled,
            "good_presumed": p.good_presumed,
            "rules": rules,
            "set": {
                "candidate": confusion_json(&self.set.candidate, p),
                "live": confusion_json(&self.set.live, p),
                "both_intercept": self.set.both_intercept,
                "only_candidate": self.set.only_candidate,
                "only_live": self.set.only_live,
            },
        })
    }

    pub fn to_text(&self) -> String {
        let p = &self.population;
        let mut s = format!(
            "{} payment(s) evaluated: {} labelled fraud, {} labelled good, {} unlabelled (presumed good)\n\n",
            p.payments, p.fraud, p.good_labelled, p.good_presumed
        );
        s += &format!(
            "{:>6} {:<24} {:<7} {:>9} {:>8} {:>9} {:>9} {:>9} {:>8} {:>10} {:>8} {:>8}\n",
            "rule",
            "name",
            "action",
            "matched",
            "decided",
            "live-blk",
            "live-rev",
            "new",
            "caught",
            "precision",
            "recall",
            "fpr"
        );
        for (r, f) in &self.rules {
            let c = &f.confusion;
            let action = format!("{}{}", r.action.name(), if r.shadow { "*" } else { "" });
            s += &format!(
                "{:>6} {:<24} {:<7} {:>9} {:>8} {:>9} {:>9} {:>9} {:>8} {:>10} {:>8} {:>8}\n",
                r.id,
                r.name,
                action,
                c.matched(),
                f.decided,
                f.live_blocked,
                f.live_reviewed,
                f.live_allowed,
                c.caught,
                pct(c.precision()),
                pct(c.recall(p)),
                pct(c.false_positive_rate(p))
            );
        }
        let (c, l) = (&self.set.candidate, &self.set.live);
        s += &format!(
            "\nintercepted (block or review): candidate {} (precision {}, recall {}, fpr {}), \
             live {} (precision {}, recall {}, fpr {})\n\
             both {}, only the candidate {}, only live {}\n",
            c.matched(),
            pct(c.precision()),
            pct(c.recall(p)),
            pct(c.false_positive_rate(p)),
            l.matched(),
            pct(l.precision()),
            pct(l.recall(p)),
            pct(l.false_positive_rate(p)),
            self.set.both_intercept,
            self.set.only_candidate,
            self.set.only_live
        );
        s + "(* shadow: counted, not enforced; new = matched payments the live rules let through)\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: u32, action: RiskAction) -> RuleInfo {
        RuleInfo {
            id,
            name: format!("r{id}"),
            action,
            shadow: false,
        }
    }

    fn obs(order_id: u64, live: RiskAction, matches: u64, candidate: RiskAction) -> Observed {
        Observed {
            order_id,
            live,
            live_rule_id: 0,
            matches,
            candidate,
        }
    }

    #[test]
    fn figures_count_matches_against_labels_and_the_live_verdicts() {
        use RiskAction::{Block, None as Pass, Review};
        let rules = [rule(10, Block), rule(11, Review)];
        let observed = [
            obs(1, Block, 0b01, Block), // fraud, both intercept
            obs(2, Pass, 0b11, Block),  // fraud, only the candidate
            obs(3, Pass, 0b10, Review), // labelled good: a false positive of rule 11
            obs(4, Review, 0b00, Pass), // presumed good, only live
            obs(5, Pass, 0b00, Pass),   // fraud missed by both
            obs(6, Pass, 0b00, Pass),   // presumed good
        ];
        let labels = HashMap::from([
            (1, Truth::Fraud),
            (2, Truth::Fraud),
            (3, Truth::Good),
            (5, Truth::Fraud),
        ]);
        let decided = |o: &Observed| (0..2).find(|i| o.matches >> i & 1 == 1);
        let f = figures(&rules, &observed, decided, &labels);
        let p = f.population;
        assert_eq!(
            (p.payments, p.fraud, p.good_labelled, p.good_presumed),
            (6, 3, 1, 2)
        );
        let (_, r10) = &f.rules[0];
        assert_eq!(r10.confusion.matched(), 2);
        assert_eq!(r10.confusion.caught, 2);
        assert_eq!(r10.confusion.precision(), Some(1.0));
        assert_eq!(r10.confusion.recall(&p), Some(2.0 / 3.0));
        assert_eq!(r10.confusion.false_positive_rate(&p), Some(0.0));
        assert_eq!((r10.live_blocked, r10.live_allowed, r10.decided), (1, 1, 2));
        let (_, r11) = &f.rules[1];
        assert_eq!((r11.confusion.caught, r11.confusion.good_labelled), (1, 1));
        assert_eq!(r11.confusion.precision(), Some(0.5));
        assert_eq!(r11.confusion.false_positive_rate(&p), Some(1.0 / 3.0));
        assert_eq!(r11.decided, 1);
        let s = f.set;
        assert_eq!((s.both_intercept, s.only_candidate, s.only_live), (1, 2, 1));
        assert_eq!((s.candidate.caught, s.candidate.matched()), (2, 3));
        assert_eq!((s.live.caught, s.live.matched()), (1, 2));
        let text = f.to_text();
        assert!(
            text.contains("6 payment(s) evaluated: 3 labelled fraud"),
            "{text}"
        );
        assert_eq!(f.to_json()["rules"][1]["labels"]["precision"], 0.5);
    }

    #[test]
    fn nothing_matched_gives_no_ratio_rather_than_a_division_by_zero() {
        let f = figures(
            &[rule(3, RiskAction::Block)],
            &[],
            |_| None,
            &HashMap::new(),
        );
        assert_eq!(f.rules[0].1.confusion.precision(), None);
        assert!(f.to_text().contains(" - "));
    }
}
