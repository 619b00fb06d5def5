//! The compiled form of a rule, and its evaluation: a disjunction of at most `TERMS_MAX` terms,
//! each a conjunction of predicates, `PREDS_MAX` predicates in all, in one fixed-size `Copy` value.
//! Evaluation allocates nothing, looks no string up and walks at most `PREDS_MAX` predicates.

use super::super::lists::Lists;
use super::super::velocity::{Lookups, Velocity};
use super::super::{ENTITY_KINDS, RiskContext};

/// Most terms (disjuncts) of a rule.
pub const TERMS_MAX: usize = 8;
/// Most predicates of a rule, all terms together.
pub const PREDS_MAX: usize = 16;

/// Feature codes (`Feature::code`).
pub mod code {
    /// No feature: the predicate's right side is its constant.
    pub const CONST: u8 = 0;
    pub const AMOUNT: u8 = 1;
    pub const CURRENCY: u8 = 2;
    pub const METHOD: u8 = 3;
    pub const SCENE: u8 = 4;
    pub const MERCHANT: u8 = 5;
    pub const CATEGORY: u8 = 6;
    pub const COUNTRY: u8 = 7;
    pub const BIN: u8 = 8;
    pub const RISK_SCORE: u8 = 9;
    pub const USER: u8 = 10;
    pub const DEVICE: u8 = 11;
    /// List keys only (`in @list`): IP address, card fingerprint.
    pub const IP: u8 = 12;
    pub const CARD: u8 = 13;
    /// Velocities: `entity` and `window` say which.
    pub const PAYMENTS: u8 = 16;
    pub const AMOUNT_SUM: u8 = 17;
    pub const REFUNDS: u8 = 18;
    pub const DECLINES: u8 = 19;
}

/// A feature: its code, and for velocities and list keys the entity index (RiskEntity - 1) and
/// for velocities the window index (0 minute, 1 hour, 2 day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Feature {
    pub code: u8,
    pub entity: u8,
    pub window: u8,
}

impl Feature {
    pub const CONST: Feature = Feature {
        code: code::CONST,
        entity: 0,
        window: 0,
    };

    pub const fn request(code: u8) -> Feature {
        Feature {
            code,
            entity: 0,
            window: 0,
        }
    }

    pub fn is_velocity(self) -> bool {
        (code::PAYMENTS..=code::DECLINES).contains(&self.code)
    }

    /// Whether the indices are within the tables (checked when a program is built).
    fn valid(self) -> bool {
        usize::from(self.entity) < ENTITY_KINDS && self.window < 3 && self.code <= code::DECLINES
    }
}

/// A predicate's operator. `In`/`NotIn`: the left side's entity is (not) on the list whose
/// `ListKind` value is the predicate's constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Op {
    Lt,
    Le,
    Gt,
    #[default]
    Ge,
    Eq,
    Ne,
    In,
    NotIn,
}

impl Op {
    /// The operator of the negated predicate (absent values stay false: docs/RISK_RULES.md).
    pub fn negated(self) -> Op {
        match self {
            Op::Lt => Op::Ge,
            Op::Le => Op::Gt,
            Op::Gt => Op::Le,
            Op::Ge => Op::Lt,
            Op::Eq => Op::Ne,
            Op::Ne => Op::Eq,
            Op::In => Op::NotIn,
            Op::NotIn => Op::In,
        }
    }

    /// The operator with its sides swapped (`5 < x` is `x > 5`).
    pub fn swapped(self) -> Op {
        match self {
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            other => other,
        }
    }
}

/// `lhs op rhs`, or `lhs op value` when `rhs` is `Feature::CONST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Pred {
    pub lhs: Feature,
    pub rhs: Feature,
    pub op: Op,
    pub value: i64,
}

const _: () = assert!(size_of::<Pred>() == 16);
const _: () = assert!(size_of::<Program>() == 16 + PREDS_MAX * 16);

/// What a program reads: the request, the lists, the velocity tables at `now` (bucket numbers),
/// and the per-request cache of velocity lookups.
pub(in crate::risk) struct Env<'a> {
    pub(in crate::risk) ctx: &'a RiskContext,
    pub(in crate::risk) lists: &'a Lists,
    pub(in crate::risk) velocity: &'a Velocity,
    pub(in crate::risk) now: [u32; 3],
    pub(in crate::risk) cache: Lookups,
}

impl Env<'_> {
    /// The feature's value for this request; `None` when absent (the predicate is then false).
    /// Inlined into `Pred::holds`: a call per predicate cost more than the lookup itself.
    #[inline(always)]
    fn value(&mut self, f: Feature) -> Option<i64> {
        let c = self.ctx;
        let present = |v: i64| (v != 0).then_some(v);
        match f.code {
            code::AMOUNT => Some(c.amount_minor),
            code::CURRENCY => Some(i64::from(c.currency)),
            code::METHOD => Some(i64::from(c.method)),
            code::SCENE => Some(i64::from(c.scene)),
            code::MERCHANT => Some(i64::from(c.merchant_id)),
            code::CATEGORY => Some(i64::from(c.goods_category)),
            code::COUNTRY => present(i64::from(c.country)),
            code::BIN => present(c.keys[4] as i64),
            code::RISK_SCORE => Some(i64::from(c.risk_score)),
            code::USER => present(c.keys[0] as i64),
            code::DEVICE => present(c.keys[2] as i64),
            code::PAYMENTS..=code::DECLINES => self.velocity(f),
            _ => None,
        }
    }

    /// A velocity feature, this request included where the feature says so (docs/RISK_RULES.md).
    #[inline(always)]
    fn velocity(&mut self, f: Feature) -> Option<i64> {
        let (entity, window) = (usize::from(f.entity), usize::from(f.window));
        let key = self.ctx.keys[entity];
        if key == 0 {
            return None;
        }
        let sums = self
            .velocity
            .sums(entity, window, key, &self.now, &mut self.cache);
        Some(match f.code {
            code::PAYMENTS => sums.0 as i64 + 1,
            code::AMOUNT_SUM => sums.1.saturating_add(self.ctx.amount_minor),
            code::REFUNDS => sums.2 as i64 + 1,
            _ => sums.3 as i64,
        })
    }
}

impl Pred {
    #[inline(always)]
    fn holds(&self, env: &mut Env<'_>) -> bool {
        if let Op::In | Op::NotIn = self.op {
            let entity = usize::from(self.lhs.entity);
            let key = env.ctx.keys[entity];
            return key != 0
                && env.lists.contains(self.value as u8, entity, key) == (self.op == Op::In);
        }
        let Some(a) = env.value(self.lhs) else {
            return false;
        };
        let b = match self.rhs.code {
            code::CONST => self.value,
            _ => match env.value(self.rhs) {
                Some(b) => b,
                None => return false,
            },
        };
        match self.op {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            _ => a != b,
        }
    }
}

/// A compiled rule condition (see the module comment). `repr(C)`: the term ends come first, so a
/// rule's header, its ends and its first predicates share a cache line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Program {
    /// Number of terms.
    terms: u8,
    /// The end (exclusive index into `preds`) of each term.
    ends: [u8; TERMS_MAX],
    preds: [Pred; PREDS_MAX],
}

impl Program {
    /// A program that never matches (no terms).
    pub const NEVER: Program = Program {
        terms: 0,
        ends: [0; TERMS_MAX],
        preds: [Pred {
            lhs: Feature::CONST,
            rhs: Feature::CONST,
            op: Op::Ge,
            value: 0,
        }; PREDS_MAX],
    };

    /// The program of `terms` (a disjunction of conjunctions); `None` over the limits or with a
    /// feature index out of range.
    pub fn new(terms: &[Vec<Pred>]) -> Option<Program> {
        let total: usize = terms.iter().map(Vec::len).sum();
        if terms.len() > TERMS_MAX || total > PREDS_MAX {
            return None;
        }
        let mut p = Program::NEVER;
        let mut at = 0;
        for (t, term) in terms.iter().enumerate() {
            for pred in term {
                if !pred.lhs.valid() || !pred.rhs.valid() {
                    return None;
                }
                p.preds[at] = *pred;
                at += 1;
            }
            p.ends[t] = at as u8;
        }
        p.terms = terms.len() as u8;
        Some(p)
    }

    /// The terms, each a slice of predicates.
    pub fn terms(&self) -> impl Iterator<Item = &[Pred]> {
        let ends = &self.ends[..usize::from(self.terms)];
        ends.iter().enumerate().map(move |(t, &end)| {
            let start = if t == 0 { 0 } else { ends[t - 1] };
            &self.preds[usize::from(start)..usize::from(end)]
        })
    }

    /// Whether the request matches: some term whose predicates all hold (both short-circuit).
    /// Inlined into the rule loop, so that what it reads of `env` is loaded once per request,
    /// not once per rule; a one-predicate program (most rules) skips the walk over the terms.
    #[inline(always)]
    pub(in crate::risk) fn matches(&self, env: &mut Env<'_>) -> bool {
        if self.terms == 1 && self.ends[0] == 1 {
            return self.preds[0].holds(env);
        }
        let mut start = 0;
        for &end in &self.ends[..usize::from(self.terms)] {
            let end = usize::from(end);
            if self.preds[start..end].iter().all(|p| p.holds(env)) {
                return true;
            }
            start = end;
        }
        false
    }

    /// Adds the velocity windows the program reads to `masks` (per entity, bit w for window w).
    pub fn add_windows(&self, masks: &mut [u8; ENTITY_KINDS]) {
        for term in self.terms() {
            for p in term {
                for f in [p.lhs, p.rhs] {
                    if f.is_velocity() {
                        masks[usize::from(f.entity)] |= 1 << f.window;
                    }
                }
            }
        }
    }
}
