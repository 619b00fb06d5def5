//! `sluice replay backtest` (docs/BACKTEST.md): replays the journal through the engine with the
//! risk observation recorder on and a candidate rule set evaluated beside the live one, then
//! measures each candidate rule against what the live rules did and against the labels.

use std::collections::HashMap;
use std::time::Instant;

use sluice_engine::Engine;
use sluice_engine::risk::lang::{LangError, RuleSet, decides_before, parse_rules_file};
use sluice_engine::risk::{ALLOW_LIST_RULE_ID, BLOCK_LIST_RULE_ID};
use sluice_engine::risk_observations::RiskObservation;
use sluice_protocol::{LabelKind, RiskAction, RuleTarget};

use crate::backtest_report::{Figures, Observed, RuleInfo, Truth, figures};
use crate::progress::Progress;
use crate::replayer::{self, Start};
use crate::{DataDir, Error, journal_end};

/// The most rules a candidate set may hold (one bit each in an observation).
pub const CANDIDATE_RULES_MAX: usize = 64;

/// A backtest's outcome.
#[derive(Debug, Clone)]
pub struct Backtest {
    pub figures: Figures,
    pub start: Start,
    /// Inputs replayed, and the seconds the replay took.
    pub events: u64,
    pub seconds: f64,
    /// What the operator should know (the static check's warnings, a snapshot start).
    pub notes: Vec<String>,
}

impl Backtest {
    pub fn events_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.events as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// The candidate set of a rules file, or every error of it named by `path`, line and column.
pub fn compile_candidate(path: &str, text: &str) -> Result<(RuleSet, Vec<String>), Error> {
    let positioned = |errors: Vec<LangError>| {
        errors
            .iter()
            .map(|e| format!("{path}:{e}"))
            .collect::<Vec<_>>()
    };
    let set = parse_rules_file(text)
        .and_then(|sources| RuleSet::compile(&sources))
        .map_err(|e| Error::new(positioned(e).join("\n")))?;
    if set.rules.is_empty() {
        return Err(Error::new(format!("{path}: the file holds no rule")));
    }
    if set.rules.len() > CANDIDATE_RULES_MAX {
        return Err(Error::new(format!(
            "{path}: {} rules; a candidate set holds at most {CANDIDATE_RULES_MAX}",
            set.rules.len()
        )));
    }
    let mut warnings: Vec<String> = positioned(set.shadowed())
        .into_iter()
        .map(|w| format!("warning: {w}"))
        .collect();
    for r in set.rules.iter().filter(|r| r.target != RuleTarget::Payment) {
        warnings.push(format!(
            "warning: {path}:{}:{}: rule {} is a refund rule: the backtest measures payment \
             rules (labels are about payments); it is listed with no match",
            r.line, r.col, r.id
        ));
    }
    Ok((set, warnings))
}

/// Replays `data`'s journal with `set` beside the live rules and measures it.
pub fn backtest(data: &DataDir, set: &RuleSet, mut notes: Vec<String>) -> Result<Backtest, Error> {
    let reader = data.reader()?;
    let end = journal_end(&reader)?.ok_or_else(|| Error::new("the journal has no records"))?;
    let mut replayer = replayer::earliest(data, &reader, &mut notes)?;
    if let Start::Snapshot { seq, .. } = &replayer.start {
        notes.push(format!(
            "started from the snapshot at seq {seq}: velocity windows the live rules do not \
             read start empty there (the first day of a daily window is under-counted)"
        ));
    }
    replayer.engine.record_risk_verdicts(true);
    replayer.engine.set_candidate_rules(Some(set.clone()));
    let order = Decider::new(set);
    let mut observed = Vec::new();
    let total = end.seq.saturating_sub(replayer.engine.last_seq());
    let mut progress = Progress::new(data.progress, "backtesting", total);
    let started = Instant::now();
    // The journal is read and checksummed on a second thread while this one replays.
    let events = replayer.run_to_read_in_parallel(&reader, end.seq, |step| {
        progress.tick();
        let seen = step.engine.recorded_risk_observations();
        observed.extend(seen.iter().map(|o| order.observed(o)));
        Ok::<(), Error>(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    progress.finish();
    let labels = labels_of(&replayer.engine, &observed);
    let rules: Vec<RuleInfo> = set
        .rules
        .iter()
        .map(|r| RuleInfo {
            id: r.id,
            name: r.name.clone(),
            action: r.action,
            shadow: r.shadow,
        })
        .collect();
    let figures = figures(&rules, &observed, |o| order.decided_by(o), &labels);
    Ok(Backtest {
        figures,
        start: replayer.start.clone(),
        events,
        seconds,
        notes,
    })
}

/// The latest label of each observed order, as the engine's labels table holds it at the end.
fn labels_of(engine: &Engine, observed: &[Observed]) -> HashMap<u64, Truth> {
    observed
        .iter()
        .filter_map(|o| {
            let truth = match engine.label_of(o.order_id)?.kind {
                LabelKind::Fraud => Truth::Fraud,
                LabelKind::FalsePositive | LabelKind::Legitimate => Truth::Good,
                LabelKind::None => return None,
            };
            Some((o.order_id, truth))
        })
        .collect()
}

/// The candidate set's own verdict from its matches, in Radar order: the allow list, allow rules,
/// the block list, block rules, review rules; first match wins; shadow and disabled rules never
/// decide. The lists are the live ones, so their hits are read off the live verdict.
struct Decider {
    /// Indices of the enforced rules, in deciding order.
    order: Vec<usize>,
    actions: Vec<RiskAction>,
}

impl Decider {
    fn new(set: &RuleSet) -> Decider {
        let key = |i: usize| {
            let r = &set.rules[i];
            (r.action, (r.priority, r.id))
        };
        let mut order: Vec<usize> = (0..set.rules.len())
            .filter(|i| set.rules[*i].active && !set.rules[*i].shadow)
            .collect();
        order.sort_by(|a, b| {
            if decides_before(key(*a), key(*b)) {
                std::cmp::Ordering::Less
            } else if decides_before(key(*b), key(*a)) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        let actions = set.rules.iter().map(|r| r.action).collect();
        Decider { order, actions }
    }

    fn observed(&self, o: &RiskObservation) -> Observed {
        let mut observed = Observed {
            order_id: o.order_id,
            live: o.action,
            live_rule_id: o.rule_id,
            matches: o.candidate_matches,
            candidate: RiskAction::None,
        };
        observed.candidate = self.verdict(&observed).0;
        observed
    }

    fn decided_by(&self, o: &Observed) -> Option<usize> {
        self.verdict(o).1
    }

    fn verdict(&self, o: &Observed) -> (RiskAction, Option<usize>) {
        if o.live_rule_id == ALLOW_LIST_RULE_ID {
            return (RiskAction::Allow, None);
        }
        let first = |pred: &dyn Fn(RiskAction) -> bool| {
            self.order
                .iter()
                .copied()
                .find(|i| pred(self.actions[*i]) && o.matches >> i & 1 == 1)
        };
        if let Some(i) = first(&|a| a == RiskAction::Allow) {
            return (RiskAction::Allow, Some(i));
        }
        if o.live_rule_id == BLOCK_LIST_RULE_ID {
            return (RiskAction::Block, None);
        }
        match first(&|a| a != RiskAction::Allow) {
            Some(i) => (self.actions[i], Some(i)),
            None => (RiskAction::None, None),
        }
    }
}
