//! Unit tests of the language as a whole: compile, the static check over a set, and random input
//! (no panic; every error inside the text).

use super::*;
use proptest::prelude::*;

const DEFAULT_RULES: &str = include_str!("../../../../rules/default.rules");

#[test]
fn the_default_rules_file_compiles_and_passes_the_check() {
    assert_eq!(check_rules_file(DEFAULT_RULES), vec![]);
    let set = RuleSet::compile(&parse_rules_file(DEFAULT_RULES).unwrap()).unwrap();
    assert_eq!(set.rules.len(), 10);
    let ids: Vec<u32> = set.rules.iter().map(|r| r.id).collect();
    assert_eq!(ids, (3..=12).collect::<Vec<_>>());
    let nine = &set.rules[6];
    assert!(nine.shadow && nine.action == RiskAction::Block);
    assert_eq!(set.rules[7].target, RuleTarget::Refund);
    // user: minute (rule 4) and day (5, 10); ip minute; device hour; card hour; bin minute;
    // merchant hour.
    assert_eq!(
        set.window_masks(),
        [0b101, 0b001, 0b010, 0b010, 0b001, 0b010]
    );
}

#[test]
fn never_fires_is_reported_at_the_rule() {
    let file = "rule 5 \"x\"\n  block if :amount: > 10 and :amount: < 5\n";
    let errors = check_rules_file(file);
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].line, errors[0].col), (2, 3));
    assert!(errors[0].message.contains("never fire"));
    // An opaque comparison is not decided: this one is not reported.
    assert!(
        compile_text(
            "block if :amount: > :amount_per_user_daily:",
            RuleTarget::Payment
        )
        .is_ok()
    );
}

#[test]
fn shadowed_rules_are_reported_and_the_decided_subset_is_sound() {
    let file = "\
rule 3 \"cap\"\n  block if :amount: > 1000\n\
rule 4 \"bigger\"\n  review if :amount: > 5000 and :method: == card\n\
rule 5 \"either\"\n  block if :amount: > 2000 or (:amount: > 1500 and :bin: == 4)\n\
rule 6 \"smaller\"\n  review if :amount: > 500\n\
rule 7 \"shadow mode\" shadow\n  block if :amount: > 3000\n\
rule 8 \"allow\" priority 100\n  allow if :user: == 7 and :amount: > 10\n\
rule 9 \"allow later\" priority 200\n  allow if :user: == 7 and :amount: > 20\n";
    let errors = check_rules_file(file);
    let shadowed: Vec<(u32, String)> = errors
        .iter()
        .map(|e| {
            (
                e.line,
                e.message.split(':').next().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        shadowed,
        vec![
            (4, "rule 4 is shadowed by rule 3 \"cap\"".to_string()),
            (6, "rule 5 is shadowed by rule 3 \"cap\"".to_string()),
            (14, "rule 9 is shadowed by rule 8 \"allow\"".to_string()),
        ]
    );
}

#[test]
fn positions_of_file_errors_are_the_files() {
    let file = "# rules\nrule 3 \"a\"\n  block if :amount: > 5 and\n    :currency: > 'USD'\n";
    let errors = check_rules_file(file);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0].line, errors[0].col), (4, 16));
    assert!(
        errors[0]
            .to_string()
            .starts_with("4:16: :currency: is a currency")
    );
    let dup = "rule 3 \"a\" block if :amount: > 5\nrule 3 \"b\" block if :amount: > 6\n";
    assert!(check_rules_file(dup)[0].message.contains("defined twice"));
}

/// Words that make random text look like rules, so the parser and checker are reached.
const WORDS: &[&str] = &[
    "rule",
    "3",
    "\"n\"",
    "priority",
    "shadow",
    "on",
    "refunds",
    "block",
    "review",
    "allow",
    "if",
    "and",
    "or",
    "not",
    "in",
    "(",
    ")",
    ":amount:",
    ":currency:",
    ":method:",
    ":ip:",
    ":bin:",
    ":payments_per_user_minute:",
    ":refunds_per_user_daily:",
    ":risk_score:",
    "@block",
    "@blocked_ips",
    ">",
    ">=",
    "<",
    "==",
    "!=",
    "5",
    "-1",
    "'USD'",
    "card",
    "'CN'",
    "\n",
    "#x\n",
    ":",
    "@",
    "'",
    "99999999999999999999",
];

fn within(text: &str, e: &LangError) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    let line = e.line as usize;
    line >= 1
        && line <= lines.len()
        && e.col >= 1
        && e.col as usize <= lines[line - 1].chars().count() + 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_text_never_panics_and_errors_point_inside_it(
        words in proptest::collection::vec(proptest::sample::select(WORDS), 0..40),
        noise in "[ -~\n]{0,40}",
    ) {
        let text = format!("{}{noise}", words.join(" "));
        for e in check_rules_file(&text) {
            prop_assert!(within(&text, &e), "{e} outside {text:?}");
        }
        if let Err(e) = compile_text(&text, RuleTarget::Payment) {
            prop_assert!(within(&text, &e), "{e} outside {text:?}");
        }
    }
}
