//! The risk rule language (docs/RISK_RULES.md): text rules parsed, type-checked and compiled into
//! `Program`, the one form every rule (text or struct) is evaluated in.
//!
//! For tools outside the engine (the backtest): `parse_rules_file` reads a rules file,
//! `RuleSet::compile` compiles it, `RuleSet::each_match` evaluates every rule of the set against
//! the engine's real lists and velocity state, and `RuleSet::window_masks` says which velocity
//! windows the set reads (`Engine::track_extra_risk_windows` keeps them counted).

mod check;
mod features;
mod lex;
mod parse;
mod program;

use std::fmt;

use sluice_protocol::{RiskAction, RuleTarget};

pub use parse::parse_rules_file;
pub use program::{Feature, Op, PREDS_MAX, Pred, Program, TERMS_MAX, code};

use super::velocity::{Lookups, epochs};
use super::{ENTITY_KINDS, RiskContext, RiskState};
pub(super) use program::Env;

/// Longest text of one rule, bytes: ConfigRiskRuleText's `source`, sized so that the message
/// fits an inbound frame (1024 bytes).
pub const SOURCE_MAX: usize = 960;
/// Most tokens in one rule's text.
pub const TOKENS_MAX: usize = 256;
/// Longest rule name, bytes.
pub const NAME_MAX: usize = 24;

/// An error in rule text, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LangError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl fmt::Display for LangError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for LangError {}

impl LangError {
    /// The error moved from a rule's own text to the file that holds the text at (line, col).
    fn within(mut self, line: u32, col: u32) -> LangError {
        if self.line == 1 {
            self.col += col.saturating_sub(1);
        }
        self.line += line.saturating_sub(1);
        self
    }
}

/// One rule of a rules file, or of a ConfigRiskRuleText: its settings and its text
/// (`action if expr`), which starts at (`line`, `col`) of the file (1, 1 for a message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    pub id: u32,
    pub name: String,
    /// Within a class, rules are tried by (priority, id), lower first.
    pub priority: u32,
    pub shadow: bool,
    pub active: bool,
    pub target: RuleTarget,
    pub source: String,
    pub line: u32,
    pub col: u32,
}

impl RuleSource {
    /// A payment rule, enforced and active, its priority its id.
    pub fn new(id: u32, name: &str, source: String) -> RuleSource {
        RuleSource {
            id,
            name: name.to_string(),
            priority: id,
            shadow: false,
            active: true,
            target: RuleTarget::Payment,
            source,
            line: 1,
            col: 1,
        }
    }
}

/// Compiles one rule's text (`action if expr`) for `target`: its action and program, or the
/// first error (positions within the text). A rule that can never fire is an error.
pub fn compile_text(text: &str, target: RuleTarget) -> Result<(RiskAction, Program), LangError> {
    let s = parse::parse_statement(text)?;
    let terms = check::normalise(&s.expr, target, s.at)?;
    let at = s.at;
    if !terms.iter().any(|t| check::satisfiable(t)) {
        return Err(at.error("this rule can never fire: no request satisfies its condition"));
    }
    let program = Program::new(&terms).ok_or_else(|| at.error("rule too complex"))?;
    Ok((s.action, program))
}

/// Whether `e`, enforced and deciding first, pre-empts `r` on every request `r` matches (within
/// the decided subset: every satisfiable term of `r` implies a term of `e`).
pub fn shadows(e: &Program, r: &Program) -> bool {
    let mut any = false;
    for term in r.terms().filter(|t| check::satisfiable(t)) {
        any = true;
        if !e.terms().any(|et| check::implies(term, et)) {
            return false;
        }
    }
    any
}

/// The class rank of an action: allow rules decide before block rules, block before review.
fn rank(action: RiskAction) -> u8 {
    match action {
        RiskAction::Allow => 0,
        RiskAction::Block => 1,
        _ => 2,
    }
}

/// Whether an enforced rule (action, (priority, id)) that matches decides before another could.
pub fn decides_before(e: (RiskAction, (u32, u32)), r: (RiskAction, (u32, u32))) -> bool {
    let (er, rr) = (rank(e.0), rank(r.0));
    er < rr || (er == rr && e.1 < r.1)
}

/// A compiled rule of a `RuleSet`.
#[derive(Debug, Clone)]
pub struct SetRule {
    pub id: u32,
    pub name: String,
    pub priority: u32,
    pub action: RiskAction,
    pub shadow: bool,
    pub active: bool,
    pub target: RuleTarget,
    pub program: Program,
    /// Where its text starts in the file.
    pub line: u32,
    pub col: u32,
}

/// A set of compiled rules, built outside the engine (a candidate rules file).
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<SetRule>,
}

impl RuleSet {
    /// Compiles every rule; all errors (positioned in the file), or the set. Rule ids must be
    /// distinct.
    pub fn compile(sources: &[RuleSource]) -> Result<RuleSet, Vec<LangError>> {
        let mut rules = Vec::with_capacity(sources.len());
        let mut errors = Vec::new();
        for s in sources {
            if let Some(first) = rules.iter().find(|r: &&SetRule| r.id == s.id) {
                let why = format!(
                    "rule {} is defined twice (first at line {})",
                    s.id, first.line
                );
                errors.push(LangError {
                    line: s.line,
                    col: s.col,
                    message: why,
                });
                continue;
            }
            match compile_text(&s.source, s.target) {
                Ok((action, program)) => rules.push(SetRule {
                    id: s.id,
                    name: s.name.clone(),
                    priority: s.priority,
                    action,
                    shadow: s.shadow,
                    active: s.active,
                    target: s.target,
                    program,
                    line: s.line,
                    col: s.col,
                }),
                Err(e) => errors.push(e.within(s.line, s.col)),
            }
        }
        if errors.is_empty() {
            Ok(RuleSet { rules })
        } else {
            Err(errors)
        }
    }

    /// The static check of the set: each enforced rule shadowed by an earlier one (see
    /// docs/RISK_RULES.md), positioned at the shadowed rule's text.
    pub fn shadowed(&self) -> Vec<LangError> {
        let enforced = |r: &&SetRule| r.active && !r.shadow;
        let mut out = Vec::new();
        for r in self.rules.iter().filter(enforced) {
            let key = |x: &SetRule| (x.action, (x.priority, x.id));
            let by = self.rules.iter().filter(enforced).find(|e| {
                e.id != r.id
                    && e.target == r.target
                    && decides_before(key(e), key(r))
                    && shadows(&e.program, &r.program)
            });
            if let Some(e) = by {
                let why = format!(
                    "rule {} is shadowed by rule {} \"{}\": whenever it matches, rule {} decides first",
                    r.id, e.id, e.name, e.id
                );
                out.push(LangError {
                    line: r.line,
                    col: r.col,
                    message: why,
                });
            }
        }
        out
    }

    /// Per entity kind, the velocity windows the set's active rules read (bit w for window w).
    pub fn window_masks(&self) -> [u8; ENTITY_KINDS] {
        let mut masks = [0; ENTITY_KINDS];
        for r in self.rules.iter().filter(|r| r.active) {
            r.program.add_windows(&mut masks);
        }
        masks
    }

    /// Evaluates every active rule of `target` (as if all were shadow rules) against the request
    /// and the engine's lists and velocity state, calling `f` with the index of each that
    /// matches. Allocation-free.
    pub fn each_match(
        &self,
        target: RuleTarget,
        ctx: &RiskContext,
        risk: &RiskState,
        now_ns: u64,
        mut f: impl FnMut(usize),
    ) {
        let mut env = Env {
            ctx,
            lists: &risk.lists,
            velocity: &risk.velocity,
            now: epochs(now_ns),
            cache: Lookups::default(),
        };
        for (i, r) in self.rules.iter().enumerate() {
            if r.active && r.target == target && r.program.matches(&mut env) {
                f(i);
            }
        }
    }
}

/// Every error of a rules file: syntax, types, features, limits, rules that never fire,
/// duplicate ids, and rules shadowed by earlier ones; sorted by position.
pub fn check_rules_file(text: &str) -> Vec<LangError> {
    let mut errors = match parse_rules_file(text).map(|s| RuleSet::compile(&s)) {
        Ok(Ok(set)) => set.shadowed(),
        Ok(Err(e)) | Err(e) => e,
    };
    errors.sort_by_key(|e| (e.line, e.col));
    errors
}

#[cfg(test)]
mod tests;
