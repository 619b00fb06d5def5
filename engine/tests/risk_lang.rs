//! Risk rules as text (docs/RISK_RULES.md) through the engine: ConfigRiskRuleText applied and
//! refused (with line and column, changing nothing), the request features, lists, priorities,
//! replacing a struct rule, ConfigQuery, a snapshot round trip, and `RuleSet::each_match` against
//! the engine's own state.

mod common;
use common::*;
use sluice_engine::Engine;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_engine::risk::lang::{RuleSet, parse_rules_file};
use sluice_protocol::*;

fn text_rule(id: u32, source: &str) -> ConfigRiskRuleText {
    ConfigRiskRuleText {
        rule_id: id,
        name: Chars::new("t"),
        priority: id,
        target: RuleTarget::Payment,
        shadow: false,
        status: Activity::Active,
        source: codec::text(source),
    }
}

/// (action, rule id) of a SHOP payment of `amount` changed by `f`.
fn decide(
    d: &mut Driver,
    id: u64,
    amount: i64,
    f: impl FnOnce(&mut PaymentRequest),
) -> (RiskAction, u32) {
    let mut req = payment(id, SHOP, amount);
    f(&mut req);
    let out = d.acquirer(ACQUIRER_A, &req);
    let a = ack(&out);
    (a.risk_action, a.risk_rule_id)
}

#[test]
fn a_text_rule_decides_on_request_features() {
    let mut d = world();
    configure_ok(
        &mut d,
        &text_rule(
            40,
            "block if :currency: == 'USD' and :method: == card and :amount: >= 1000",
        ),
    );
    configure_ok(
        &mut d,
        &text_rule(
            41,
            "review if :country: != 'CN' or (:scene: == pos and :bin: == 411111)",
        ),
    );
    let usd_card = |p: &mut PaymentRequest| {
        p.currency = USD;
        p.method = PaymentMethod::Card;
    };
    assert_eq!(decide(&mut d, 1, 1_000, usd_card), (RiskAction::Block, 40));
    assert_eq!(decide(&mut d, 2, 999, usd_card), (RiskAction::None, 0));
    assert_eq!(
        decide(&mut d, 3, 500, |p| p.country = Chars::new("US")),
        (RiskAction::Review, 41)
    );
    // An unknown country is absent: `!=` is false for it too.
    assert_eq!(
        decide(&mut d, 4, 500, |p| p.country = Chars::default()),
        (RiskAction::None, 0)
    );
    let pos_bin = |p: &mut PaymentRequest| {
        p.scene = Scene::Pos;
        p.card_bin = 411_111;
    };
    assert_eq!(decide(&mut d, 5, 500, pos_bin), (RiskAction::Review, 41));
}

#[test]
fn list_membership_and_velocity_in_one_rule() {
    let mut d = world();
    let mut entry = list_entry(ListKind::Block, ListOp::Add, RiskEntity::Device);
    entry.id = 31_337;
    configure_ok(&mut d, &entry);
    // The device is on the block list, so the list decides first (rule 2) ...
    let on_device = |p: &mut PaymentRequest| p.device_id = 31_337;
    assert_eq!(decide(&mut d, 1, 500, on_device), (RiskAction::Block, 2));
    // ... and a rule may read the list the other way round: any device not on it, from the third
    // payment of a user within the minute.
    configure_ok(
        &mut d,
        &text_rule(
            40,
            "review if :device: not in @blocked_devices and :payments_per_user_minute: >= 3",
        ),
    );
    let same_user = |p: &mut PaymentRequest| p.user_id = 5;
    assert_eq!(decide(&mut d, 2, 500, same_user), (RiskAction::None, 0));
    assert_eq!(decide(&mut d, 3, 500, same_user), (RiskAction::None, 0));
    assert_eq!(decide(&mut d, 4, 500, same_user), (RiskAction::Review, 40));
    // No device: absent, so `not in` is false as well.
    let no_device = |p: &mut PaymentRequest| {
        p.user_id = 5;
        p.device_id = 0;
    };
    assert_eq!(decide(&mut d, 5, 500, no_device), (RiskAction::None, 0));
}

#[test]
fn priority_orders_rules_within_a_class() {
    let mut d = world();
    let mut late = text_rule(40, "review if :amount: > 100");
    late.priority = 100;
    let mut early = text_rule(41, "review if :amount: > 200");
    early.priority = 1;
    configure_ok(&mut d, &late);
    configure_ok(&mut d, &early);
    assert_eq!(decide(&mut d, 1, 300, |_| {}), (RiskAction::Review, 41));
    assert_eq!(decide(&mut d, 2, 150, |_| {}), (RiskAction::Review, 40));
    // Classes still come first: a block rule with a larger priority beats a review rule.
    let mut block = text_rule(42, "block if :amount: > 250");
    block.priority = 1_000;
    configure_ok(&mut d, &block);
    assert_eq!(decide(&mut d, 3, 300, |_| {}), (RiskAction::Block, 42));
}

#[test]
fn a_bad_rule_is_refused_with_its_line_and_column_and_changes_nothing() {
    let mut d = world();
    let rules = |d: &Driver| d.engine.state().risk.rules.rules.clone();
    let masks = |d: &Driver| d.engine.state().risk.velocity.window_masks;
    let before = (rules(&d), masks(&d), d.engine.counters().rule_hits.clone());
    let cases = [
        (
            "block if :amount: >\n  :currency:",
            "2:3: cannot compare an amount with a currency",
        ),
        ("block if :amont: > 5", "1:10: unknown feature :amont:"),
        (
            "review if :risk_score: > 100",
            "1:1: this rule can never fire",
        ),
        (
            "block if :refunds_per_user_daily: > 5",
            "1:10: :refunds_per_user_daily: needs a refund rule",
        ),
        ("block :amount: > 5", "1:7: expected 'if'"),
    ];
    for (source, want) in cases {
        let out = d.admin(&text_rule(40, source));
        let a = config_ack(&out);
        assert_eq!(a.status, AckStatus::Rejected, "{source}");
        assert_eq!(a.reason, ReasonCode::InvalidConfig);
        assert!(
            a.text.starts_with(want),
            "{source}: {:?} should start with {want:?}",
            a.text
        );
    }
    let out = d.admin(&text_rule(2, "block if :amount: > 5"));
    assert_eq!(config_ack(&out).status, AckStatus::Rejected);
    let after = (rules(&d), masks(&d), d.engine.counters().rule_hits.clone());
    assert_eq!(after, before, "a refused rule changed the rules");
}

#[test]
fn text_and_struct_rules_share_ids_and_config_query_answers_with_the_text() {
    let mut d = world();
    // Rule 3 of the fixture blocks single amounts over 5,000,000; as text it blocks over 100.
    assert_eq!(decide(&mut d, 1, 200, |_| {}), (RiskAction::None, 0));
    configure_ok(&mut d, &text_rule(3, "block if :amount: > 100"));
    assert_eq!(decide(&mut d, 2, 200, |_| {}), (RiskAction::Block, 3));
    let q = d
        .engine
        .config_of(&ConfigQuery::by_id(ConfigKind::RiskRule, 3))
        .unwrap();
    let AnyMessage::ConfigRiskRuleText(m) = q else {
        panic!("a text rule is answered with ConfigRiskRuleText: {q:?}")
    };
    assert_eq!(m.source.as_str(), "block if :amount: > 100");
    // And back to a struct rule.
    let struct_rule = rules().into_iter().find(|r| r.rule_id == 3).unwrap();
    configure_ok(&mut d, &struct_rule);
    assert_eq!(decide(&mut d, 3, 200, |_| {}), (RiskAction::None, 0));
    let q = d
        .engine
        .config_of(&ConfigQuery::by_id(ConfigKind::RiskRule, 3))
        .unwrap();
    assert!(matches!(q, AnyMessage::ConfigRiskRule(_)));
}

#[test]
fn text_rules_survive_a_snapshot() {
    let mut d = world();
    configure_ok(
        &mut d,
        &text_rule(40, "block if :amount: == 777 or :user: in @allow"),
    );
    let (hash, bytes) = d.engine.snapshot();
    let engine = Engine::from_snapshot(&bytes, hash).expect("restore");
    let mut d = d.twin(engine);
    assert_eq!(decide(&mut d, 1, 777, |_| {}), (RiskAction::Block, 40));
    assert_eq!(decide(&mut d, 2, 778, |_| {}), (RiskAction::None, 0));
}

#[test]
fn a_rule_set_built_outside_the_engine_reads_its_state() {
    let mut d = world();
    let file = "rule 50 \"fast\"\n  block if :payments_per_user_hourly: > 2\nrule 51 \"big\"\n  review if :amount: > 1000\n";
    let set = RuleSet::compile(&parse_rules_file(file).unwrap()).unwrap();
    // The live rules do not read the user's hourly window: count it for the candidate set.
    d.engine.track_extra_risk_windows(set.window_masks());
    for id in 1..=3 {
        decide(&mut d, id, 100, |p| p.user_id = 9);
    }
    let mut req = payment(4, SHOP, 2_000);
    req.user_id = 9;
    let ctx = d.engine.payment_risk_context(&req);
    let mut matched = Vec::new();
    let now = d.now_ns();
    set.each_match(
        RuleTarget::Payment,
        &ctx,
        &d.engine.state().risk,
        now,
        |i| matched.push(set.rules[i].id),
    );
    assert_eq!(matched, vec![50, 51]);
}
