//! Risk rules as data: validated and stored as configured, compiled into plain integers for
//! evaluation, and evaluated in one pass (Stripe Radar's order: allow list, allow rules, block
//! list, block rules, review rules; the first match wins; shadow rules are only counted).

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{
    Activity, Comparison, ConfigRiskRule, ConfigRiskRuleText, ReasonCode, RiskAction, RiskEntity,
    RiskFeature, RiskWindow, RuleTarget,
};

use super::lang::{Env, Feature, Op, Pred, Program, code, compile_text};
use super::lists::Lists;
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
    /// Within its class, rules are tried by (priority, id), lower first (a struct rule's is its id).
    pub priority: u32,
    /// A text rule's source (docs/RISK_RULES.md); empty for a struct rule, whose condition is
    /// the fields above.
    pub source: String,
}

/// The rules, sorted by id, and their compiled form.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub struct Rules {
    /// Sorted by id.
    pub rules: Vec<Rule>,
    rules_max: u32,
    /// `rules` compiled for evaluation, in evaluation order: by (priority, id). Rebuilt on every
    /// rule change and on load.
    #[rkyv(with = rkyv::with::Skip)]
    compiled: Vec<Compiled>,
}

/// The class of a compiled rule: which verdict it can decide.
const ALLOW: u8 = 0;
const BLOCK: u8 = 1;
const REVIEW: u8 = 2;
const NEVER: u8 = 3;

/// A rule compiled for evaluation: its class, target and program (docs/RISK_RULES.md). Struct
/// rules and text rules alike. `repr(C)`, header first: what the evaluation loop reads of a rule
/// (class, target, shadow, the program's term ends and first predicates) is in its first cache
/// line.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Compiled {
    /// ALLOW, BLOCK, REVIEW, or NEVER (inactive or not evaluable).
    class: u8,
    shadow: bool,
    target: RuleTarget,
    /// The rule's index in `Rules::rules` (and in the hit counters).
    slot: u32,
    program: Program,
}

impl Compiled {
    fn of(slot: usize, r: &Rule) -> Compiled {
        let program = match r.source.is_empty() {
            true => struct_program(r),
            false => compile_text(&r.source, r.target).ok().map(|(_, p)| p),
        };
        let class = match (r.action, program.is_some()) {
            (RiskAction::Allow, true) if r.active => ALLOW,
            (RiskAction::Block, true) if r.active => BLOCK,
            (RiskAction::Review, true) if r.active => REVIEW,
            _ => NEVER,
        };
        Compiled {
            class,
            shadow: r.shadow,
            target: r.target,
            slot: slot as u32,
            program: program.unwrap_or(Program::NEVER),
        }
    }
}

/// The program of a struct rule: one term, the merchant and category filters (when set) and the
/// threshold, in the order the struct rules were always tested.
fn struct_program(r: &Rule) -> Option<Program> {
    let constant = |lhs: Feature, op: Op, value: i64| Pred {
        lhs,
        rhs: Feature::CONST,
        op,
        value,
    };
    let mut term = Vec::with_capacity(3);
    if r.merchant_id != 0 {
        let merchant = Feature::request(code::MERCHANT);
        term.push(constant(merchant, Op::Eq, i64::from(r.merchant_id)));
    }
    if r.goods_category != 0 {
        let category = Feature::request(code::CATEGORY);
        term.push(constant(category, Op::Eq, i64::from(r.goods_category)));
    }
    let op = match r.comparison {
        Comparison::Greater => Op::Gt,
        Comparison::GreaterOrEqual => Op::Ge,
        Comparison::Less => Op::Lt,
        Comparison::LessOrEqual => Op::Le,
        Comparison::Equal => Op::Eq,
    };
    let feature = match r.feature {
        RiskFeature::SingleAmount => Feature::request(code::AMOUNT),
        velocity => Feature {
            code: match velocity {
                RiskFeature::PaymentCount => code::PAYMENTS,
                RiskFeature::PaymentAmount => code::AMOUNT_SUM,
                RiskFeature::RefundCount => code::REFUNDS,
                _ => code::DECLINES,
            },
            entity: entity_index(r.entity)? as u8,
            window: window_index(r.window)? as u8,
        },
    };
    term.push(constant(feature, op, r.threshold));
    Program::new(&[term])
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
        self.recompile();
        let more = (self.rules_max as usize).saturating_sub(self.rules.len());
        self.rules.reserve_exact(more);
    }

    /// Compiles every rule and puts them in evaluation order.
    fn recompile(&mut self) {
        self.compiled.clear();
        let compiled = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| Compiled::of(i, r));
        self.compiled.extend(compiled);
        let rules = &self.rules;
        self.compiled.sort_unstable_by_key(|c| {
            let r = &rules[c.slot as usize];
            (r.priority, r.id)
        });
    }

    /// Validates and applies a struct rule. Returns the slot it took (for the hit counters) and
    /// whether it is new, or why it was refused.
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
            priority: m.rule_id,
            source: String::new(),
        };
        self.put(rule)
    }

    /// Compiles and applies a text rule (see `apply`). The refusal of a rule whose text does not
    /// compile is `line:col: message`.
    pub(super) fn apply_text(
        &mut self,
        m: &ConfigRiskRuleText,
    ) -> Result<(usize, bool), (ReasonCode, String)> {
        let invalid = |why: String| Err((ReasonCode::InvalidConfig, why));
        if m.rule_id <= BLOCK_LIST_RULE_ID {
            return invalid("rule_id must be above 2 (1 and 2 name the lists)".into());
        }
        let source = m.source.as_str();
        let action = match compile_text(source, m.target) {
            Ok((action, _)) => action,
            Err(e) => return invalid(e.to_string()),
        };
        let rule = Rule {
            id: m.rule_id,
            name: m.name.0,
            target: m.target,
            feature: RiskFeature::SingleAmount,
            entity: RiskEntity::None,
            window: RiskWindow::None,
            comparison: Comparison::Greater,
            threshold: 0,
            action,
            shadow: m.shadow,
            active: m.status == Activity::Active,
            merchant_id: 0,
            goods_category: 0,
            priority: m.priority,
            source: source.to_string(),
        };
        self.put(rule)
            .map_err(|(reason, why)| (reason, why.to_string()))
    }

    /// Inserts or replaces a rule (by id) and recompiles.
    fn put(&mut self, rule: Rule) -> Result<(usize, bool), Refusal> {
        let result = match self.rules.binary_search_by_key(&rule.id, |r| r.id) {
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
        self.recompile();
        Ok(result)
    }

    /// Per entity kind, the windows the active rules read (bit w for window w).
    pub(super) fn window_masks(&self) -> [u8; ENTITY_KINDS] {
        let mut masks = [0u8; ENTITY_KINDS];
        for c in self.compiled.iter().filter(|c| c.class != NEVER) {
            c.program.add_windows(&mut masks);
        }
        masks
    }

    /// Every rule in evaluation order: (slot in `rules`, its program, class: 0 allow, 1 block,
    /// 2 review, 3 never).
    pub fn programs(&self) -> impl Iterator<Item = (usize, &Program, u8)> {
        self.compiled
            .iter()
            .map(|c| (c.slot as usize, &c.program, c.class))
    }

    /// Evaluates a request against the rules, given what the lists said. Reads the state only; hit
    /// counts go to `hits` (parallel to `rules`).
    ///
    /// One pass over the rules in (priority, id) order: shadow rules are always evaluated and
    /// counted; an enforced rule is evaluated only while it could still decide the verdict (a
    /// matched allow rule decides everything; the block list or a matched block rule decides
    /// blocks and reviews), so the outcome is exactly that of evaluating allow list, allow rules,
    /// block list, block rules and review rules in turn, first match wins.
    pub(super) fn evaluate(
        &self,
        request: &Request<'_>,
        lists: &Lists,
        velocity: &Velocity,
        hits: &mut [(u64, u64)],
    ) -> Verdict {
        let first = self.first_matches(request, lists, velocity, hits);
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
        lists: &Lists,
        velocity: &Velocity,
        hits: &mut [(u64, u64)],
    ) -> [Option<usize>; 3] {
        let mut env = Env {
            ctx: request.ctx,
            lists,
            velocity,
            now: epochs(request.now_ns),
            cache: Lookups::default(),
        };
        let mut first: [Option<usize>; 3] = [None; 3];
        for rule in self.compiled.iter() {
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
            if !rule.program.matches(&mut env) {
                continue;
            }
            let slot = rule.slot as usize;
            if rule.shadow {
                if let Some(h) = hits.get_mut(slot) {
                    h.1 += 1;
                }
            } else {
                first[usize::from(class)] = Some(slot);
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
