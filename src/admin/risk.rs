//! `sluice admin risk rules check|apply|list`: risk rules written in the rule language
//! (docs/RISK_RULES.md). `check` reads a rules file offline; `apply` checks it, then sends each rule
//! as a ConfigRiskRuleText (journaled like all configuration); `list` shows what the server holds.

use clap::Subcommand;
use sluice_engine::risk::lang::{self, RuleSource};
use sluice_protocol::{Activity, AnyMessage, Chars, ConfigKind, ConfigRiskRuleText, codec::text};
use std::path::{Path, PathBuf};

use super::conn::{AdminConn, Answer};
use super::output::Output;

#[derive(Subcommand)]
pub enum RiskCommand {
    /// Risk rules as text (docs/RISK_RULES.md).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The learned risk score's model: load or unload (docs/RISK_SCORE.md).
    #[command(subcommand)]
    Model(super::risk_model::ModelCommand),
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Check a rules file (syntax, features, types, limits, rules that never fire, rules shadowed
    /// by earlier ones); prints FILE:LINE:COL: message for each error; no server needed.
    Check { file: PathBuf },
    /// Check a rules file, then send each rule as ConfigRiskRuleText (nothing is sent when the
    /// check finds an error).
    Apply { file: PathBuf },
    /// The rules the server holds (text and struct rules), in id order.
    List,
}

/// The rules of `file`, or every error of the check, each `FILE:LINE:COL: message`.
pub fn checked(file: &Path) -> Result<Vec<RuleSource>, Vec<String>> {
    let f = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| vec![format!("{f}: {e}")])?;
    let errors = lang::check_rules_file(&text);
    if !errors.is_empty() {
        return Err(errors.iter().map(|e| format!("{f}:{e}")).collect());
    }
    lang::parse_rules_file(&text).map_err(|e| e.iter().map(|e| format!("{f}:{e}")).collect())
}

/// `check FILE`: Err (a non-zero exit) when the file has any error.
pub fn check(file: &Path) -> Result<(), String> {
    match checked(file) {
        Ok(rules) => {
            println!("{}: {} rules, no errors", file.display(), rules.len());
            Ok(())
        }
        Err(errors) => {
            for e in &errors {
                println!("{e}");
            }
            Err(format!("{}: {} errors", file.display(), errors.len()))
        }
    }
}

/// The message that configures `r`.
pub fn message(r: &RuleSource) -> ConfigRiskRuleText {
    ConfigRiskRuleText {
        rule_id: r.id,
        name: Chars::new(&r.name),
        priority: r.priority,
        target: r.target,
        shadow: r.shadow,
        status: if r.active {
            Activity::Active
        } else {
            Activity::Disabled
        },
        source: text(&r.source),
    }
}

/// A refusal's `line:col: message` (positions in the rule's text) moved to the file.
fn in_file(file: &Path, r: &RuleSource, why: &str) -> String {
    let mut parts = why.splitn(3, ':');
    let (line, col) = match (parts.next(), parts.next()) {
        (Some(l), Some(c)) => (l.parse::<u32>().ok(), c.parse::<u32>().ok()),
        _ => (None, None),
    };
    match (line, col, parts.next()) {
        (Some(l), Some(c), Some(rest)) => {
            let col = if l == 1 { c + r.col - 1 } else { c };
            let line = l + r.line - 1;
            format!("{}:{line}:{col}:{rest}", file.display())
        }
        _ => format!("{}: rule {}: {why}", file.display(), r.id),
    }
}

pub fn apply(conn: &mut AdminConn, file: &Path, out: &mut Output) -> Result<(), String> {
    let rules = match checked(file) {
        Ok(rules) => rules,
        Err(errors) => {
            for e in &errors {
                out.note(e);
            }
            return Err(format!(
                "{}: {} errors; nothing sent",
                file.display(),
                errors.len()
            ));
        }
    };
    for r in &rules {
        let answer = match conn.request(&AnyMessage::from(message(r)))? {
            Answer::Refused { reason, text } => Answer::Refused {
                reason,
                text: in_file(file, r, &text),
            },
            other => other,
        };
        out.change(&format!("risk rule {} \"{}\"", r.id, r.name), &answer);
    }
    Ok(())
}

pub fn list(conn: &mut AdminConn, out: &mut Output) -> Result<(), String> {
    for m in conn.walk(ConfigKind::RiskRule)? {
        out.object(&m)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_placed_in_the_file() {
        let mut r = RuleSource::new(5, "x", "block if :a: > 1".into());
        (r.line, r.col) = (4, 3);
        let p = Path::new("f.rules");
        assert_eq!(
            in_file(p, &r, "1:10: unknown feature"),
            "f.rules:4:12: unknown feature"
        );
        assert_eq!(in_file(p, &r, "2:5: x"), "f.rules:5:5: x");
        assert_eq!(in_file(p, &r, "too many"), "f.rules: rule 5: too many");
    }
}
