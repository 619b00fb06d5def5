//! The risk observation recorder (docs/RISK_SCORE.md, section 2): for training a risk-score model
//! and backtesting rules, an engine replaying a journal records, at each payment's risk
//! evaluation, what the risk engine saw (the request, the features) and what it decided. Taken from
//! the same `RiskContext` and velocity state as the verdict, just before the payment is counted.
//!
//! Off on the live engine (one predictable branch per payment); cleared at the start of each
//! applied input, like the payout recorder (`crate::payout_events`). While on, the velocity tables
//! keep every window the features read (turn it on before the first record to get the features a
//! model loaded at Genesis would see); the verdicts do not change, the velocity state does.

use sluice_protocol::{PaymentMethod, RiskAction};

use crate::Engine;
use crate::risk::lang::RuleSet;
use crate::risk::{Features, RiskContext, Verdict};
use sluice_protocol::RuleTarget;

/// What the risk engine saw and decided for one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskObservation {
    /// The journal sequence of the PaymentRequest.
    pub seq: u64,
    /// The order it created.
    pub order_id: u64,
    pub request_id: u64,
    pub acquirer_id: u32,
    /// Event time, ns since the Unix epoch.
    pub time_ns: u64,
    pub merchant_id: u32,
    pub user_id: u64,
    pub amount_minor: i64,
    /// ISO 4217 numeric.
    pub currency: u16,
    pub method: PaymentMethod,
    /// The live verdict: the rules' action and rule (0 = none).
    pub action: RiskAction,
    pub rule_id: u32,
    /// The score the loaded model gave (0 without a model).
    pub risk_score: u8,
    /// The features, in 1/256 units (`sluice_engine::risk::FEATURE_NAMES`).
    pub features: Features,
    /// Bit i: rule i of the candidate rule set matched (`Engine::set_candidate_rules`; 0 without
    /// one). Evaluated on the same context and velocity state as the live rules.
    pub candidate_matches: u64,
}

/// The recorder the engine carries beside its state.
#[derive(Debug, Clone, Default)]
pub struct ObservationRecorder {
    on: bool,
    /// Whether observations carry the features (training); a backtest needs only the verdicts
    /// and the candidate's matches, and skips computing them.
    features: bool,
    observations: Vec<RiskObservation>,
    /// A candidate rule set evaluated beside the live one (the backtest, docs/BACKTEST.md).
    candidate: Option<RuleSet>,
}

impl ObservationRecorder {
    /// Whether recording: the one branch the live engine pays per payment.
    #[inline(always)]
    pub(crate) fn is_on(&self) -> bool {
        self.on
    }

    #[inline(always)]
    pub(crate) fn clear(&mut self) {
        if self.on {
            self.observations.clear();
        }
    }
}

impl Engine {
    /// Starts (or stops) recording risk observations (a replay's engine; never the live one).
    /// Turning it on makes the velocity tables keep every window the features read from then on.
    pub fn record_risk_observations(&mut self, on: bool) {
        self.risk_observations.on = on;
        self.risk_observations.features = on;
        self.risk_observations.observations.clear();
        self.state.risk.set_observing(on);
    }

    /// Starts (or stops) recording risk observations without their features (all 0; the score
    /// is still computed when a model is loaded): what a backtest needs, faster, and the velocity
    /// tables keep only the windows the rules, the model and a candidate set read.
    pub fn record_risk_verdicts(&mut self, on: bool) {
        self.risk_observations.on = on;
        self.risk_observations.features = false;
        self.risk_observations.observations.clear();
        self.state.risk.set_observing(false);
    }

    /// Evaluates `set` (at most 64 rules) beside the live rules at every payment while recording,
    /// into each observation's `candidate_matches`; the velocity tables keep the windows it reads
    /// too. `None` removes it.
    pub fn set_candidate_rules(&mut self, set: Option<RuleSet>) {
        assert!(
            set.as_ref().is_none_or(|s| s.rules.len() <= 64),
            "a candidate set holds at most 64 rules"
        );
        let masks = set.as_ref().map_or([0; 6], RuleSet::window_masks);
        self.state.risk.track_extra_windows(masks);
        self.risk_observations.candidate = set;
    }

    /// The candidate rules that match the payment about to be evaluated (0 without a set).
    #[inline(always)]
    pub(crate) fn candidate_matches(&self, ctx: &RiskContext) -> u64 {
        match &self.risk_observations.candidate {
            None => 0,
            Some(set) => self.candidate_matches_now(set, ctx),
        }
    }

    #[cold]
    #[inline(never)]
    fn candidate_matches_now(&self, set: &RuleSet, ctx: &RiskContext) -> u64 {
        let mut matches = 0u64;
        let (risk, now) = (&self.state.risk, self.state.now_ns);
        set.each_match(RuleTarget::Payment, ctx, risk, now, |i| matches |= 1 << i);
        matches
    }

    /// The risk observations the last applied input made (empty unless recording).
    pub fn recorded_risk_observations(&self) -> &[RiskObservation] {
        &self.risk_observations.observations
    }

    /// The features of a payment about to be evaluated, when a model is loaded or the recorder
    /// is on (`None` otherwise: the live engine without a model pays one branch); sets the
    /// context's score when a model is loaded.
    #[inline(always)]
    pub(crate) fn score_payment(&self, ctx: &mut RiskContext) -> Option<Features> {
        if self.state.risk.model.is_none() && !self.risk_observations.is_on() {
            return None;
        }
        self.score_payment_now(ctx)
    }

    #[cold]
    #[inline(never)]
    fn score_payment_now(&self, ctx: &mut RiskContext) -> Option<Features> {
        let model = self.state.risk.model.as_ref();
        if model.is_none() && !self.risk_observations.features {
            return Some([0; crate::risk::FEATURES]);
        }
        let features = self.state.risk.features(ctx, self.state.now_ns);
        if let Some(model) = model {
            ctx.risk_score = model.score(&features);
        }
        Some(features)
    }

    /// Records the observation of order `slot` (created from `ctx`, decided `verdict`) when the
    /// recorder is on.
    #[inline(always)]
    pub(crate) fn observe_payment(&mut self, slot: u32, verdict: Verdict, seen: &(Features, u64)) {
        if self.risk_observations.is_on() {
            self.observe_payment_now(slot, verdict, seen);
        }
    }

    #[cold]
    #[inline(never)]
    fn observe_payment_now(&mut self, slot: u32, verdict: Verdict, seen: &(Features, u64)) {
        let (features, candidate_matches) = *seen;
        let o = &self.state.orders[slot as usize];
        assert!(!o.vacant, "an observed order is in its slot");
        let observation = RiskObservation {
            seq: o.seq,
            order_id: o.id,
            request_id: o.request_id,
            acquirer_id: o.acquirer_id,
            time_ns: o.created_ns,
            merchant_id: o.merchant_id,
            user_id: o.user_id,
            amount_minor: o.amount_minor,
            currency: o.currency,
            method: o.method,
            action: verdict.action,
            rule_id: verdict.rule_id,
            risk_score: o.risk_score,
            features,
            candidate_matches,
        };
        self.risk_observations.observations.push(observation);
    }
}
