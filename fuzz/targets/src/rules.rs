//! The risk rule language (docs/RISK_RULES.md) on arbitrary text: the rules-file parser, the type
//! checker, the static check and the compiler must never panic; every error must point inside the
//! text; a file that compiles must compile again from each rule's own text to the same program;
//! and every compiled rule must evaluate (against an empty risk state) without panicking.

use sluice_engine::risk::lang::{
    LangError, RuleSet, check_rules_file, compile_text, parse_rules_file,
};
use sluice_engine::risk::{RiskContext, RiskState};
use sluice_protocol::RuleTarget;

fn assert_within(text: &str, e: &LangError) {
    let lines: Vec<&str> = text.split('\n').collect();
    let line = e.line as usize;
    assert!(
        line >= 1 && line <= lines.len(),
        "{e}: line outside the text"
    );
    let width = lines[line - 1].chars().count() + 1;
    assert!(
        e.col >= 1 && e.col as usize <= width,
        "{e}: column outside line {line}"
    );
}

/// A request drawn from the input's bytes, so evaluation sees varied values.
fn context(data: &[u8]) -> RiskContext {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let mut keys = [0u128; 6];
    for (i, k) in keys.iter_mut().enumerate() {
        *k = u128::from(byte(i) % 4);
    }
    RiskContext {
        merchant_id: u32::from(byte(6)),
        goods_category: u16::from(byte(7)),
        amount_minor: i64::from(byte(8)) * 1_000,
        keys,
        currency: 156,
        method: byte(9) % 4,
        scene: byte(10) % 7,
        country: u16::from_be_bytes(*b"CN"),
        risk_score: byte(11) % 101,
    }
}

pub fn risk_rules(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for e in check_rules_file(&text) {
        assert_within(&text, &e);
    }
    for target in [RuleTarget::Payment, RuleTarget::Refund] {
        if let Err(e) = compile_text(&text, target) {
            assert_within(&text, &e);
        }
    }
    let Ok(sources) = parse_rules_file(&text) else {
        return;
    };
    let Ok(set) = RuleSet::compile(&sources) else {
        return;
    };
    for (s, r) in sources.iter().zip(&set.rules) {
        let again = compile_text(&s.source, s.target).expect("a compiled rule's own text compiles");
        assert_eq!(
            again,
            (r.action, r.program),
            "rule {} compiles differently alone",
            s.id
        );
    }
    let risk = RiskState::new(16, 16, 64);
    let ctx = context(data);
    for target in [RuleTarget::Payment, RuleTarget::Refund] {
        let mut matched = 0usize;
        set.each_match(target, &ctx, &risk, 1_000_000_000_000, |i| {
            assert!(i < set.rules.len());
            matched += 1;
        });
        assert!(matched <= set.rules.len());
    }
}
