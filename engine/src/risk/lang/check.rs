//! The type checker and normaliser (a statement's expression to its terms of typed predicates),
//! and the static check over the decided subset (docs/RISK_RULES.md, "The static check").

use sluice_protocol::RuleTarget;

use super::LangError;
use super::features::{Spec, Type, domain, list, resolve, text_value};
use super::lex::Pos;
use super::parse::{Cmp, Expr, Operand};
use super::program::{Feature, Op, PREDS_MAX, Pred, TERMS_MAX};

/// A disjunction of conjunctions.
pub type Terms = Vec<Vec<Pred>>;

/// The terms of `expr` for a rule on `target`, type-checked; `at` is where the rule starts (for
/// "too complex").
pub fn normalise(expr: &Expr, target: RuleTarget, at: Pos) -> Result<Terms, LangError> {
    let terms = terms_of(expr, false, target, at)?;
    let total: usize = terms.iter().map(Vec::len).sum();
    if total > PREDS_MAX {
        return Err(too_complex(at));
    }
    Ok(terms)
}

fn too_complex(at: Pos) -> LangError {
    at.error(format!(
        "rule too complex: at most {TERMS_MAX} 'or' terms and {PREDS_MAX} comparisons once 'not' and 'and' over 'or' are expanded"
    ))
}

/// Normal form without recursion beyond the parser's depth bound (`DEPTH_MAX`).
fn terms_of(e: &Expr, negated: bool, target: RuleTarget, at: Pos) -> Result<Terms, LangError> {
    match e {
        Expr::Not(inner) => terms_of(inner, !negated, target, at),
        Expr::And(xs) | Expr::Or(xs) => {
            let conjunction = matches!(e, Expr::And(_)) != negated;
            let mut out: Terms = if conjunction {
                vec![Vec::new()]
            } else {
                Vec::new()
            };
            for x in xs {
                let t = terms_of(x, negated, target, at)?;
                out = if conjunction {
                    product(&out, &t, at)?
                } else {
                    out.extend(t);
                    out
                };
                if out.len() > TERMS_MAX {
                    return Err(too_complex(at));
                }
            }
            Ok(out)
        }
        Expr::Cmp { lhs, cmp, rhs, at } => Ok(vec![vec![comparison(
            lhs, *cmp, rhs, *at, negated, target,
        )?]]),
        Expr::In {
            operand,
            list: (name, list_at),
            negated: not_in,
        } => {
            let spec = feature_of(operand, target)?;
            let entity = spec.list_entity.ok_or_else(|| {
                operand.1.error(format!(
                    "{} cannot be on a list (user, ip, device, card, bin can)",
                    spell(&operand.0)
                ))
            })?;
            let kind = list(name, entity).map_err(|m| list_at.error(m))?;
            let op = if *not_in != negated {
                Op::NotIn
            } else {
                Op::In
            };
            let pred = Pred {
                lhs: spec.feature,
                rhs: Feature::CONST,
                op,
                value: kind,
            };
            Ok(vec![vec![pred]])
        }
    }
}

fn product(a: &Terms, b: &Terms, at: Pos) -> Result<Terms, LangError> {
    if a.len() * b.len() > TERMS_MAX {
        return Err(too_complex(at));
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut t = x.clone();
            for p in y {
                if !t.contains(p) {
                    t.push(*p);
                }
            }
            if t.len() > PREDS_MAX {
                return Err(too_complex(at));
            }
            out.push(t);
        }
    }
    Ok(out)
}

fn spell(o: &Operand) -> String {
    match o {
        Operand::Feature(f) => format!(":{f}:"),
        Operand::Int(v) => v.to_string(),
        Operand::Str(s) => format!("'{s}'"),
        Operand::Name(n) => n.clone(),
    }
}

fn feature_of((o, at): &(Operand, Pos), target: RuleTarget) -> Result<Spec, LangError> {
    match o {
        Operand::Feature(name) => resolve(name, target).map_err(|m| at.error(m)),
        other => Err(at.error(format!(
            "expected a feature (as in :amount:), found {}",
            spell(other)
        ))),
    }
}

/// One comparison, typed, with the feature on the left.
fn comparison(
    lhs: &(Operand, Pos),
    cmp: Cmp,
    rhs: &(Operand, Pos),
    at: Pos,
    negated: bool,
    target: RuleTarget,
) -> Result<Pred, LangError> {
    let mut op = match cmp {
        Cmp::Lt => Op::Lt,
        Cmp::Le => Op::Le,
        Cmp::Gt => Op::Gt,
        Cmp::Ge => Op::Ge,
        Cmp::Eq => Op::Eq,
        Cmp::Ne => Op::Ne,
    };
    let (left, right) = if matches!(lhs.0, Operand::Feature(_)) {
        (lhs, rhs)
    } else {
        op = op.swapped();
        (rhs, lhs)
    };
    let spec = feature_of(left, target)?;
    if spec.ty == Type::Key {
        let why = format!(
            "{} can only be looked up in a list (in @block)",
            spell(&left.0)
        );
        return Err(left.1.error(why));
    }
    if !spec.ty.ordered() && !matches!(op, Op::Eq | Op::Ne) {
        return Err(at.error(format!(
            "{} is {}: it has no order, use == or !=",
            spell(&left.0),
            spec.ty.name()
        )));
    }
    let (rhs_feature, value) = operand_value(right, &spec, target)?;
    if negated {
        op = op.negated();
    }
    Ok(Pred {
        lhs: spec.feature,
        rhs: rhs_feature,
        op,
        value,
    })
}

/// The right side of a comparison with a feature of `spec`'s type.
fn operand_value(
    (o, at): &(Operand, Pos),
    spec: &Spec,
    target: RuleTarget,
) -> Result<(Feature, i64), LangError> {
    let ty = spec.ty;
    match o {
        Operand::Feature(_) => {
            let other = feature_of(&(o.clone(), *at), target)?;
            if other.ty != ty {
                let why = format!("cannot compare {} with {}", ty.name(), other.ty.name());
                return Err(at.error(why));
            }
            Ok((other.feature, 0))
        }
        Operand::Int(v) if ty.ordered() => Ok((Feature::CONST, *v)),
        Operand::Int(v) => Err(at.error(format!("{v} is a number; this side needs {}", ty.name()))),
        Operand::Str(s) | Operand::Name(s) => text_value(s, ty)
            .map(|v| (Feature::CONST, v))
            .map_err(|m| at.error(m)),
    }
}

/// The values a term allows one feature (the literal predicates on it), inclusive bounds in i128
/// so that `< i64::MIN` cannot overflow; `None` when the term does not constrain the feature.
struct Range {
    lo: i128,
    hi: i128,
    excluded: Vec<i128>,
}

impl Range {
    fn of(term: &[Pred], f: Feature) -> Option<Range> {
        let (lo, hi) = domain(f);
        let mut r = Range {
            lo: lo.into(),
            hi: hi.into(),
            excluded: Vec::new(),
        };
        let mut constrained = false;
        for p in term
            .iter()
            .filter(|p| p.lhs == f && p.rhs == Feature::CONST)
        {
            let v = i128::from(p.value);
            match p.op {
                Op::Lt => r.hi = r.hi.min(v - 1),
                Op::Le => r.hi = r.hi.min(v),
                Op::Gt => r.lo = r.lo.max(v + 1),
                Op::Ge => r.lo = r.lo.max(v),
                Op::Eq => (r.lo, r.hi) = (r.lo.max(v), r.hi.min(v)),
                Op::Ne => r.excluded.push(v),
                Op::In | Op::NotIn => continue,
            }
            constrained = true;
        }
        constrained.then_some(r)
    }

    fn empty(&self) -> bool {
        if self.lo > self.hi {
            return true;
        }
        let mut inside: Vec<i128> = self
            .excluded
            .iter()
            .copied()
            .filter(|v| (self.lo..=self.hi).contains(v))
            .collect();
        inside.sort_unstable();
        inside.dedup();
        inside.len() as i128 > self.hi - self.lo
    }

    /// Whether every value of the range satisfies `op value`.
    fn within(&self, op: Op, value: i64) -> bool {
        let v = i128::from(value);
        match op {
            Op::Lt => self.hi < v,
            Op::Le => self.hi <= v,
            Op::Gt => self.lo > v,
            Op::Ge => self.lo >= v,
            Op::Eq => self.lo == v && self.hi == v,
            Op::Ne => v < self.lo || v > self.hi || self.excluded.contains(&v),
            Op::In | Op::NotIn => false,
        }
    }
}

/// Whether some request can satisfy the term (false only when the subset proves it cannot).
pub fn satisfiable(term: &[Pred]) -> bool {
    for p in term {
        if p.rhs == Feature::CONST && !matches!(p.op, Op::In | Op::NotIn) {
            if Range::of(term, p.lhs).is_some_and(|r| r.empty()) {
                return false;
            }
        } else if matches!(p.op, Op::In | Op::NotIn) {
            let opposite = Pred {
                op: p.op.negated(),
                ..*p
            };
            if term.contains(&opposite) {
                return false;
            }
        }
    }
    true
}

/// Whether every request that satisfies `r` satisfies `e` (true only when the subset proves it).
pub fn implies(r: &[Pred], e: &[Pred]) -> bool {
    e.iter().all(|p| {
        let literal = p.rhs == Feature::CONST && !matches!(p.op, Op::In | Op::NotIn);
        if !literal {
            return r.contains(p);
        }
        Range::of(r, p.lhs).is_some_and(|range| range.within(p.op, p.value))
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_statement;
    use super::*;

    fn terms(text: &str) -> Result<Terms, LangError> {
        let s = parse_statement(text)?;
        normalise(&s.expr, RuleTarget::Payment, s.at)
    }

    fn err(text: &str) -> (u32, u32, String) {
        let e = terms(text).unwrap_err();
        (e.line, e.col, e.message)
    }

    #[test]
    fn type_errors_name_the_place() {
        let (l, c, m) = err("block if :currency: == :amount:");
        assert_eq!((l, c), (1, 24));
        assert!(
            m.contains("cannot compare a currency with an amount"),
            "{m}"
        );
        assert_eq!(err("block if :method: > card").1, 19);
        assert_eq!(err("block if :amount: == card").1, 22);
        assert_eq!(err("block if :ip: == 5").1, 10);
        assert!(
            err("block if :amont: > 5")
                .2
                .contains("unknown feature :amont:")
        );
        assert!(err("block if 5 > 4").2.contains("expected a feature"));
        assert!(
            err("block if :amount: in @block")
                .2
                .contains("cannot be on a list")
        );
        assert!(
            err("block if :ip: in @blocked_users")
                .2
                .contains("holds users")
        );
    }

    #[test]
    fn not_is_pushed_to_the_predicates() {
        let t = terms("block if not (:amount: > 5 or :ip: in @block)").unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0][0].op, Op::Le);
        assert_eq!(t[0][1].op, Op::NotIn);
        let t =
            terms("block if (:amount: > 5 or :amount: < 2) and (:risk_score: > 1 or :bin: == 4)")
                .unwrap();
        assert_eq!(t.len(), 4);
        assert!(terms("block if 7 < :amount:").unwrap()[0][0].op == Op::Gt);
    }

    #[test]
    fn size_is_bounded() {
        let wide = (0..9)
            .map(|i| format!(":amount: == {i}"))
            .collect::<Vec<_>>()
            .join(" or ");
        assert!(err(&format!("block if {wide}")).2.contains("too complex"));
        let pair = "(:amount: == 1 or :amount: == 2)";
        let big = [pair; 4].join(" and ");
        assert!(err(&format!("block if {big}")).2.contains("too complex"));
    }

    #[test]
    fn satisfiability_and_implication() {
        let t = |s: &str| terms(s).unwrap().swap_remove(0);
        assert!(!satisfiable(&t("block if :amount: > 10 and :amount: < 5")));
        assert!(!satisfiable(&t("block if :risk_score: > 100")));
        assert!(!satisfiable(&t("block if :amount: < 1")));
        assert!(!satisfiable(&t(
            "block if :method: == card and :method: == wallet"
        )));
        assert!(!satisfiable(&t("block if :amount: == 3 and :amount: != 3")));
        assert!(!satisfiable(&t(
            "block if :ip: in @block and :ip: not in @block"
        )));
        assert!(satisfiable(&t("block if :amount: > 10 and :amount: < 12")));
        assert!(satisfiable(&t(
            "block if :amount: > :amount_per_user_daily:"
        )));
        let e = t("block if :amount: > 100");
        assert!(implies(&t("block if :amount: > 200 and :user: == 3"), &e));
        assert!(!implies(&t("block if :amount: > 50"), &e));
        assert!(!implies(&t("block if :user: == 3"), &e));
        assert!(implies(
            &t("block if :method: == card"),
            &t("block if :method: != wallet")
        ));
    }
}
