//! The parser: tokens to a syntax tree (a statement), and a rules file to its rules.
//!
//! Recursive descent with an explicit depth bound, so hostile input cannot exhaust the stack.

use sluice_protocol::{RiskAction, RuleTarget};

use super::lex::{Pos, Tok, Token, lex};
use super::{LangError, NAME_MAX, RuleSource, SOURCE_MAX, TOKENS_MAX};

/// Deepest nesting of parentheses and `not`.
pub const DEPTH_MAX: u32 = 16;
/// Largest rules file, bytes.
pub const FILE_MAX: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Feature(String),
    Int(i64),
    Str(String),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp {
        lhs: (Operand, Pos),
        cmp: Cmp,
        rhs: (Operand, Pos),
        at: Pos,
    },
    In {
        operand: (Operand, Pos),
        list: (String, Pos),
        negated: bool,
    },
}

/// `action if expr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub action: RiskAction,
    pub at: Pos,
    pub expr: Expr,
}

struct Parser<'a> {
    toks: &'a [Token],
    i: usize,
    /// Where the text ends (for "expected ... at end of input").
    end: Pos,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn here(&self) -> Pos {
        self.peek().map_or(self.end, |t| t.pos)
    }

    fn next(&mut self, what: &str) -> Result<&'a Token, LangError> {
        let toks: &'a [Token] = self.toks;
        match toks.get(self.i) {
            Some(t) => {
                self.i += 1;
                Ok(t)
            }
            None => Err(self
                .end
                .error(format!("expected {what}, found the end of the rule"))),
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        let yes = self.peek().is_some_and(|t| t.is(word));
        self.i += usize::from(yes);
        yes
    }

    fn expect(&mut self, word: &str) -> Result<(), LangError> {
        let pos = self.here();
        if self.eat(word) {
            return Ok(());
        }
        Err(pos.error(format!("expected '{word}'")))
    }

    fn statement(&mut self) -> Result<Statement, LangError> {
        let t = self.next("allow, block or review")?;
        let at = t.pos;
        let action = match &t.tok {
            Tok::Name(n) if n.eq_ignore_ascii_case("allow") => RiskAction::Allow,
            Tok::Name(n) if n.eq_ignore_ascii_case("block") => RiskAction::Block,
            Tok::Name(n) if n.eq_ignore_ascii_case("review") => RiskAction::Review,
            _ => return Err(at.error("expected an action: allow, block or review")),
        };
        self.expect("if")?;
        let expr = self.or(0)?;
        Ok(Statement { action, at, expr })
    }

    fn or(&mut self, depth: u32) -> Result<Expr, LangError> {
        let mut terms = vec![self.and(depth)?];
        while self.eat("or") {
            terms.push(self.and(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self, depth: u32) -> Result<Expr, LangError> {
        let mut factors = vec![self.unary(depth)?];
        while self.eat("and") {
            factors.push(self.unary(depth)?);
        }
        Ok(if factors.len() == 1 {
            factors.swap_remove(0)
        } else {
            Expr::And(factors)
        })
    }

    fn unary(&mut self, depth: u32) -> Result<Expr, LangError> {
        let pos = self.here();
        if depth >= DEPTH_MAX {
            return Err(pos.error(format!("nested deeper than {DEPTH_MAX}")));
        }
        if self.eat("not") {
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.peek().is_some_and(|t| t.tok == Tok::Open) {
            self.i += 1;
            let e = self.or(depth + 1)?;
            let close = self.here();
            match self.next("')'")? {
                t if t.tok == Tok::Close => return Ok(e),
                _ => return Err(close.error("expected ')'")),
            }
        }
        self.predicate()
    }

    fn operand(&mut self) -> Result<(Operand, Pos), LangError> {
        let t = self.next("a feature or a value")?;
        let o = match &t.tok {
            Tok::Feature(f) => Operand::Feature(f.clone()),
            Tok::Int(v) => Operand::Int(*v),
            Tok::Str(s) => Operand::Str(s.clone()),
            Tok::Name(n) if !is_keyword(n) => Operand::Name(n.clone()),
            _ => {
                return Err(t
                    .pos
                    .error("expected a feature (as in :amount:) or a value"));
            }
        };
        Ok((o, t.pos))
    }

    fn predicate(&mut self) -> Result<Expr, LangError> {
        let lhs = self.operand()?;
        let at = self.here();
        let negated = self.eat("not");
        if self.eat("in") {
            let t = self.next("a list (as in @block)")?;
            let Tok::List(name) = &t.tok else {
                return Err(t.pos.error("expected a list (as in @block)"));
            };
            let list = (name.clone(), t.pos);
            return Ok(Expr::In {
                operand: lhs,
                list,
                negated,
            });
        }
        if negated {
            return Err(at.error("expected 'in' after 'not'"));
        }
        let t = self.next("a comparison")?;
        let cmp = match t.tok {
            Tok::Lt => Cmp::Lt,
            Tok::Le => Cmp::Le,
            Tok::Gt => Cmp::Gt,
            Tok::Ge => Cmp::Ge,
            Tok::Eq => Cmp::Eq,
            Tok::Ne => Cmp::Ne,
            _ => return Err(at.error("expected a comparison (<, <=, >, >=, ==, !=) or 'in'")),
        };
        let rhs = self.operand()?;
        Ok(Expr::Cmp { lhs, cmp, rhs, at })
    }
}

fn is_keyword(n: &str) -> bool {
    ["and", "or", "not", "in", "if", "rule"]
        .iter()
        .any(|k| n.eq_ignore_ascii_case(k))
}

/// The position just past the last character of `text`.
fn end_of(text: &str) -> Pos {
    let mut pos = Pos { line: 1, col: 1 };
    for c in text.chars() {
        if c == '\n' {
            pos = Pos {
                line: pos.line + 1,
                col: 1,
            };
        } else {
            pos.col += 1;
        }
    }
    pos
}

/// Parses one rule's text: `action if expr`, nothing after it.
pub fn parse_statement(text: &str) -> Result<Statement, LangError> {
    if text.len() > SOURCE_MAX {
        let at = Pos { line: 1, col: 1 };
        return Err(at.error(format!("a rule's text is at most {SOURCE_MAX} bytes")));
    }
    let toks = lex(text, TOKENS_MAX)?;
    let mut p = Parser {
        toks: &toks,
        i: 0,
        end: end_of(text),
    };
    let s = p.statement()?;
    match p.peek() {
        None => Ok(s),
        Some(t) => Err(t.pos.error("expected 'and', 'or' or the end of the rule")),
    }
}

/// Parses a rules file (see docs/RISK_RULES.md): every rule, or every error found (at most one per
/// rule: the parser skips to the next `rule` after an error).
pub fn parse_rules_file(text: &str) -> Result<Vec<RuleSource>, Vec<LangError>> {
    if text.len() > FILE_MAX {
        let at = Pos { line: 1, col: 1 };
        return Err(vec![
            at.error(format!("a rules file is at most {FILE_MAX} bytes")),
        ]);
    }
    let toks = lex(text, usize::MAX).map_err(|e| vec![e])?;
    let mut p = Parser {
        toks: &toks,
        i: 0,
        end: end_of(text),
    };
    let (mut rules, mut errors) = (Vec::new(), Vec::new());
    while p.peek().is_some() {
        match file_rule(&mut p, text) {
            Ok(r) => rules.push(r),
            Err(e) => {
                errors.push(e);
                p.i += 1;
                while p.peek().is_some_and(|t| !t.is("rule")) {
                    p.i += 1;
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

/// One `rule ID "name" options statement` of a file.
fn file_rule(p: &mut Parser<'_>, text: &str) -> Result<RuleSource, LangError> {
    p.expect("rule")?;
    let t = p.next("a rule id")?;
    let id = match t.tok {
        Tok::Int(id) if id > 2 && id <= i64::from(u32::MAX) => id as u32,
        _ => {
            return Err(t
                .pos
                .error("expected a rule id above 2 (1 and 2 name the lists)"));
        }
    };
    let t = p.next("the rule's name in quotes")?;
    let name = match &t.tok {
        Tok::Str(s) if s.len() <= NAME_MAX => s.clone(),
        Tok::Str(_) => return Err(t.pos.error(format!("a name is at most {NAME_MAX} bytes"))),
        _ => return Err(t.pos.error("expected the rule's name in quotes")),
    };
    let mut rule = RuleSource::new(id, &name, String::new());
    options(p, &mut rule)?;
    let first = p.i;
    let statement_start = p.peek().map(|t| (t.pos, t.start));
    let mut sub = Parser {
        toks: p.toks,
        i: p.i,
        end: p.end,
    };
    sub.statement()?;
    p.i = sub.i;
    let (pos, start) = statement_start.unwrap_or((p.end, text.len()));
    let end = p.toks[first..p.i].last().map_or(start, |t| t.end);
    rule.source = text[start..end].to_string();
    rule.line = pos.line;
    rule.col = pos.col;
    if rule.source.len() > SOURCE_MAX {
        return Err(pos.error(format!("a rule's text is at most {SOURCE_MAX} bytes")));
    }
    if p.i - first > TOKENS_MAX {
        return Err(pos.error(format!("too many tokens (at most {TOKENS_MAX})")));
    }
    Ok(rule)
}

fn options(p: &mut Parser<'_>, rule: &mut RuleSource) -> Result<(), LangError> {
    loop {
        if p.eat("priority") {
            let t = p.next("a priority")?;
            rule.priority = match t.tok {
                Tok::Int(v) if (0..=i64::from(u32::MAX)).contains(&v) => v as u32,
                _ => return Err(t.pos.error("expected a priority, 0..=4294967295")),
            };
        } else if p.eat("shadow") {
            rule.shadow = true;
        } else if p.eat("disabled") {
            rule.active = false;
        } else if p.eat("on") {
            let pos = p.here();
            rule.target = if p.eat("payments") {
                RuleTarget::Payment
            } else if p.eat("refunds") {
                RuleTarget::Refund
            } else {
                return Err(pos.error("expected 'payments' or 'refunds' after 'on'"));
            };
        } else {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_binds_tighter_than_or() {
        let s = parse_statement("review if :a: > 1 or :b: > 2 and not :c: in @block").unwrap();
        let Expr::Or(terms) = s.expr else {
            panic!("or at the top")
        };
        assert!(matches!(terms[0], Expr::Cmp { .. }));
        let Expr::And(f) = &terms[1] else {
            panic!("and below or")
        };
        assert!(matches!(&f[1], Expr::Not(e) if matches!(**e, Expr::In { negated: false, .. })));
        assert_eq!(s.action, RiskAction::Review);
    }

    #[test]
    fn statement_errors_have_positions() {
        let e = parse_statement("block :amount: > 1").unwrap_err();
        assert_eq!((e.line, e.col, e.message.as_str()), (1, 7, "expected 'if'"));
        let e = parse_statement("block if :amount: >").unwrap_err();
        assert_eq!((e.line, e.col), (1, 20));
        let e = parse_statement("block if (:a: > 1\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        let e = parse_statement("block if :a: > 1 :b:").unwrap_err();
        assert_eq!((e.line, e.col), (1, 18));
        let deep = format!("block if {}:a: > 1{}", "(".repeat(40), ")".repeat(40));
        assert!(
            parse_statement(&deep)
                .unwrap_err()
                .message
                .contains("nested")
        );
    }

    #[test]
    fn a_file_gives_each_rule_its_source_and_position() {
        let text = "# c\nrule 3 \"cap\" priority 7 shadow\n  block if :amount: > 5\n\
                    rule 10 \"r\" on refunds disabled\n  block if :refunds_per_user_daily: > 5\n";
        let rules = parse_rules_file(text).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].source, "block if :amount: > 5");
        assert_eq!((rules[0].line, rules[0].col), (3, 3));
        assert_eq!((rules[0].priority, rules[0].shadow), (7, true));
        assert_eq!(rules[1].target, RuleTarget::Refund);
        assert!(!rules[1].active);
        assert_eq!(rules[1].priority, 10);
    }

    #[test]
    fn a_file_reports_one_error_per_bad_rule() {
        let text = "rule 2 \"x\" block if :a: > 1\nrule 4 \"y\" block :a: > 1\nrule 5 \"z\" allow if :a: > 1";
        let errors = parse_rules_file(text).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].line, errors[0].col), (1, 6));
        assert_eq!((errors[1].line, errors[1].col), (2, 18));
    }
}
