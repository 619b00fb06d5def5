//! Risk rules as data: validated and stored as configured, compiled into plain integers for
//! evaluation, and evaluated in one pass (Stripe Radar's order: allow list, allow rules, block
//! list, block rules, review rules; the first match wins; shadow rules are only counted).

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{
    Activity, Comparison, ConfigRiskRule, ReasonCode, RiskAction, RiskEntity, RiskFeature,
    RiskWindow, RuleTarget,
};

use super::velocity::{Lookups, Velocity, epochs};
use super::{BLOCK_LIST_RULE_ID, ENTITY_KINDS, RiskContext, Verdict};
use crate::state::wire::{
    ComparisonDef, RiskActionDef, RiskEntityDef, RiskFeatureDef, RiskWindowDef, RuleTargetDef,
};

/// A refusal: the reason code and why.
pub(super) type Refusal = (ReasonCode, &'static str);

/// A risk rule, as configured.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: u32,
    pub name: [u8; 24],
    #[rkyv(with = RuleTargetDef)]
    pub target: RuleTarget,
    #[rkyv(with = RiskFeatureDef)]
    pub feature: RiskFeature,
    #[rkyv(with = RiskEntityDef)]
    pub entity: RiskEntity,
    #[rkyv(with = RiskWindowDef)]
    pub window: RiskWindow,
    #[rkyv(with = ComparisonDef)]
    pub comparison: Comparison,
    pub threshold: i64,
    #[rkyv(with = RiskActionDef)]
    pub action: RiskAction,
    pub shadow: bool,
    pub active: bool,
    pub merchant_id: u32,
    pub goods_category: u16,
}

/// The rules, sorted by id, and their compiled form.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub struct Rules {
    /// Sorted by id.
    pub rules: Vec<Rule>,
    rules_max: u32,
    /// `rules` decoded once for evaluation (parallel to `rules`). Rebuilt on every rule change and
    /// on load.
    #[rkyv(with = rkyv::with::Skip)]
    compiled: Vec<Compiled>,
}

/// The class of a compiled rule: which verdict it can decide.
const ALLOW: u8 = 0;
const BLOCK: u8 = 1;
const REVIEW: u8 = 2;
const NEVER: u8 = 3;

/// A rule decoded for evaluation: plain integers, no enum decoding per request.
#[derive(Debug, Clone, Copy, Default)]
struct Compiled {
    /// ALLOW, BLOCK, REVIEW, or NEVER (inactive or not evaluable).
    class: u8,
    shadow: bool,
    target: RuleTarget,
    feature: RiskFeature,
    /// Entity index (RiskEntity - 1), or u8::MAX for none.
    entity: u8,
    /// Window index (0 minute, 1 hour, 2 day), or u8::MAX for none.
    window: u8,
    comparison: Comparison,
    threshold: i64,
    merchant_id: u32,
    goods_category: u16,
}

impl Compiled {
    fn of(r: &Rule) -> Compiled {
        let class = match r.action {
            RiskAction::Allow if r.active => ALLOW,
            RiskAction::Block if r.active => BLOCK,
            RiskAction::Review if r.active => REVIEW,
            _ => NEVER,
        };
        Compiled {
            class,
            shadow: r.shadow,
            target: r.target,
            feature: r.feature,
            entity: entity_index(r.entity).map_or(u8::MAX, |e| e as u8),
            window: window_index(r.window).map_or(u8::MAX, |w| w as u8),
            comparison: r.comparison,
            threshold: r.threshold,
            merchant_id: r.merchant_id,
            goods_category: r.goods_category,
        }
    }
}

impl Rules {
    pub(super) fn new(rules_max: u32) -> Self {
        Rules {
            rules: Vec::with_capacity(rules_max as usize),
            rules_max,
            compiled: Vec::with_capacity(rules_max as usize),
        }
    }

    /// Recompiles the rules and restores capacities after a snapshot load.
    pub(super) fn rebuild(&mut self) {
        self.compiled = Vec::with_capacity(self.rules_max as usize);
        self.compiled.extend(self.rules.iter().map(Compiled::of));
        let more = (self.rules_max as usize).saturating_sub(self.rules.len());
        self.rules.reserve_exact(more);
    }

    /// Validates and applies a rule. Returns the slot it took (for the hit counters) and whether it
    /// is new, or why it was refused.
    pub(super) fn apply(&mut self, m: &ConfigRiskRule) -> Result<(usize, bool), Refusal> {
        validate_rule(m)?;
        let rule = Rule {
            id: m.rule_id,
            name: m.name.0,
            target: m.target,
            feature: m.feature,
            entity: m.entity,
            window: m.window,
            comparison: m.comparison,
            threshold: m.threshold,
            action: m.action,
            shadow: m.shadow,
            active: m.status == Activity::Active,
            merchant_id: m.merchant_id,
            goods_category: m.goods_category,
        };
        let result = match self.rules.binary_search_by_key(&m.rule_id, |r| r.id) {
            Ok(slot) => {
                self.rules[slot] = rule;
                (slot, false)
            }
            Err(slot) => {
                if self.rules.len() >= self.rules_max as usize {
                    let why = "risk rules are at their maximum";
                    return Err((ReasonCode::CapacityReached, why));
                }
                self.rules.insert(slot, rule);
                (slot, true)
            }
        };
        self.compiled.clear();
        self.compiled.extend(self.rules.iter().map(Compiled::of));
        Ok(result)
    }

    /// Per entity kind, the windows the active rules read (bit w for window w).
    pub(super) fn window_masks(&self) -> [u8; ENTITY_KINDS] {
        let mut masks = [0u8; ENTITY_KINDS];
        for r in self.rules.iter().filter(|r| r.active) {
            let velocity = r.feature != RiskFeature::SingleAmount;
            if let (true, Some(w), Some(e)) =
                (velocity, window_index(r.window), entity_index(r.entity))
            {
                masks[e] |= 1 << w;
            }
        }
        masks
    }

    /// Evaluates a request against the rules, given what the lists said. Reads the state only; hit
    /// counts go to `hits` (parallel to `rules`).
    ///
    /// One pass over the rules (sorted by id): shadow rules are always evaluated and counted; an
    /// enforced rule is evaluated only while it could still decide the verdict (a matched allow rule
    /// decides everything; the block list or a matched block rule decides blocks and reviews), so the
    /// outcome is exactly that of evaluating allow list, allow rules, block list, block rules and
    /// review rules in turn, first match wins.
    pub(super) fn evaluate(
        &self,
        request: &Request<'_>,
        velocity: &Velocity,
        hits: &mut [(u64, u64)],
    ) -> Verdict {
        let first = self.first_matches(request, velocity, hits);
        let fired = |i: usize, action: RiskAction, hits: &mut [(u64, u64)]| {
            if let Some(h) = hits.get_mut(i) {
                h.0 += 1;
            }
            Verdict {
                action,
                rule_id: self.rules[i].id,
            }
        };
        if request.allow_listed {
            return Verdict::ALLOW_LISTED;
        }
        if let Some(i) = first[ALLOW as usize] {
            return fired(i, RiskAction::Allow, hits);
        }
        if request.block_listed {
            return Verdict::BLOCK_LISTED;
        }
        if let Some(i) = first[BLOCK as usize] {
            return fired(i, RiskAction::Block, hits);
        }
        if let Some(i) = first[REVIEW as usize] {
            return fired(i, RiskAction::Review, hits);
        }
        Verdict::NONE
    }

    /// The first matching enforced rule per class (allow, block, review), counting shadow hits.
    fn first_matches(
        &self,
        request: &Request<'_>,
        velocity: &Velocity,
        hits: &mut [(u64, u64)],
    ) -> [Option<usize>; 3] {
        let mut cache = Lookups::default();
        let now = epochs(request.now_ns);
        let mut first: [Option<usize>; 3] = [None; 3];
        for (i, rule) in self.compiled.iter().enumerate() {
            let class = rule.class;
            if class == NEVER || rule.target != request.target {
                continue;
            }
            if !rule.shadow {
                let decided = request.allow_listed
                    || first[ALLOW as usize].is_some()
                    || (class >= BLOCK
                        && (request.block_listed || first[BLOCK as usize].is_some()))
                    || (class == REVIEW && first[REVIEW as usize].is_some());
                if decided {
                    continue;
                }
            }
            if !rule.matches(request.ctx, velocity, &now, &mut cache) {
                continue;
            }
            if rule.shadow {
                if let Some(h) = hits.get_mut(i) {
                    h.1 += 1;
                }
            } else {
                first[usize::from(class)] = Some(i);
            }
        }
        first
    }
}

/// A request as the rules see it.
pub(super) struct Request<'a> {
    pub target: RuleTarget,
    pub ctx: &'a RiskContext,
    pub now_ns: u64,
    pub allow_listed: bool,
    pub block_listed: bool,
}

impl Compiled {
    fn matches(
        &self,
        ctx: &RiskContext,
        velocity: &Velocity,
        now: &[u32; 3],
        cache: &mut Lookups,
    ) -> bool {
        if self.merchant_id != 0 && self.merchant_id != ctx.merchant_id {
            return false;
        }
        if self.goods_category != 0 && self.goods_category != ctx.goods_category {
            return false;
        }
        match self.feature(ctx, velocity, now, cache) {
            Some(value) => compare(self.comparison, value, self.threshold),
            None => false,
        }
    }

    /// The feature value of the rule for this request, this request included where the feature
    /// says so.
    fn feature(
        &self,
        ctx: &RiskContext,
        velocity: &Velocity,
        now: &[u32; 3],
        cache: &mut Lookups,
    ) -> Option<i64> {
        if self.feature == RiskFeature::SingleAmount {
            return Some(ctx.amount_minor);
        }
        let (entity, window) = (usize::from(self.entity), usize::from(self.window));
        if entity >= ENTITY_KINDS || window >= 3 || ctx.keys[entity] == 0 {
            return None;
        }
        let sums = velocity.sums(entity, window, ctx.keys[entity], now, cache);
        let value = match self.feature {
            RiskFeature::PaymentCount => sums.0 as i64 + 1,
            RiskFeature::PaymentAmount => sums.1.saturating_add(ctx.amount_minor),
            RiskFeature::RefundCount => sums.2 as i64 + 1,
            RiskFeature::DeclineCount => sums.3 as i64,
            RiskFeature::SingleAmount => ctx.amount_minor,
        };
        Some(value)
    }
}

fn compare(comparison: Comparison, value: i64, threshold: i64) -> bool {
    match comparison {
        Comparison::Greater => value > threshold,
        Comparison::GreaterOrEqual => value >= threshold,
        Comparison::Less => value < threshold,
        Comparison::LessOrEqual => value <= threshold,
        Comparison::Equal => value == threshold,
    }
}

/// The velocity window index of a rule's window (0 minute, 1 hour, 2 day).
fn window_index(window: RiskWindow) -> Option<usize> {
    match window {
        RiskWindow::Minute => Some(0),
        RiskWindow::Hour => Some(1),
        RiskWindow::Day => Some(2),
        RiskWindow::None => None,
    }
}

/// The velocity table index of an entity kind (RiskEntity - 1).
fn entity_index(entity: RiskEntity) -> Option<usize> {
    (entity as usize)
        .checked_sub(1)
        .filter(|e| *e < ENTITY_KINDS)
}

fn validate_rule(m: &ConfigRiskRule) -> Result<(), Refusal> {
    let invalid = |why| Err((ReasonCode::InvalidConfig, why));
    if m.rule_id <= BLOCK_LIST_RULE_ID {
        return invalid("rule_id must be above 2 (1 and 2 name the lists)");
    }
    if !matches!(
        m.action,
        RiskAction::Allow | RiskAction::Review | RiskAction::Block
    ) {
        return invalid("action must be allow, review or block");
    }
    let payment_entity = matches!(
        m.entity,
        RiskEntity::User
            | RiskEntity::Ip
            | RiskEntity::Device
            | RiskEntity::CardFingerprint
            | RiskEntity::CardBin
    );
    match m.feature {
        RiskFeature::SingleAmount => {
            if m.target != RuleTarget::Payment {
                return invalid("single_amount rules apply to payments");
            }
        }
        RiskFeature::PaymentCount | RiskFeature::PaymentAmount | RiskFeature::DeclineCount => {
            if m.target != RuleTarget::Payment || !payment_entity || m.window == RiskWindow::None {
                return invalid(
                    "payment velocity rules need target payment, a payer entity and a window",
                );
            }
        }
        RiskFeature::RefundCount => {
            let entity_ok = matches!(m.entity, RiskEntity::User | RiskEntity::Merchant);
            if m.target != RuleTarget::Refund || !entity_ok || m.window == RiskWindow::None {
                return invalid(
                    "refund_count rules need target refund, entity user or merchant and a window",
                );
            }
        }
    }
    Ok(())
}
