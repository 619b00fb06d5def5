//! Risk: allow and block lists per entity, list and rule precedence, velocity counts and amounts
//! over event-time windows, decline counts, amount rules scoped by merchant and category, refund
//! frequency, shadow rules, hit counts and configuration refusals.

mod common;
use common::*;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_protocol::*;

const MINUTE_NS: u64 = 60 * 1_000_000_000;
const HOUR_NS: u64 = 60 * MINUTE_NS;

const BLOCK_LIST: u32 = 2;
const ALLOW_LIST: u32 = 1;

/// Sends a SHOP payment (CNY wallet, the fixture's distinct user, device and IP per request id),
/// changed by `f`, and returns the ack and the outputs.
fn pay_with(
    d: &mut Driver,
    id: u64,
    amount: i64,
    f: impl FnOnce(&mut PaymentRequest),
) -> (PaymentAck, Out) {
    let mut req = payment(id, SHOP, amount);
    f(&mut req);
    let out = d.acquirer(ACQUIRER_A, &req);
    (ack(&out).clone(), out)
}

/// (status, reason, risk action, rule id) of an ack, checking that an accepted payment was
/// dispatched and a refused one was not.
fn verdict(a: &PaymentAck, out: &Out) -> (AckStatus, ReasonCode, RiskAction, u32) {
    assert_eq!(
        dispatch(out).is_some(),
        a.status == AckStatus::Accepted,
        "{a:?}"
    );
    (a.status, a.reason, a.risk_action, a.risk_rule_id)
}

fn accepted(action: RiskAction, rule: u32) -> (AckStatus, ReasonCode, RiskAction, u32) {
    (AckStatus::Accepted, ReasonCode::None, action, rule)
}

fn blocked(rule: u32) -> (AckStatus, ReasonCode, RiskAction, u32) {
    (
        AckStatus::Rejected,
        ReasonCode::RiskBlocked,
        RiskAction::Block,
        rule,
    )
}

const CLEAN: (AckStatus, ReasonCode, RiskAction, u32) =
    (AckStatus::Accepted, ReasonCode::None, RiskAction::None, 0);

/// (enforced, shadow) hits of a rule.
fn hits(d: &Driver, rule_id: u32) -> (u64, u64) {
    d.engine
        .stats_report(0)
        .rules
        .iter()
        .find(|r| r.rule_id == rule_id)
        .map(|r| (r.enforced_hits, r.shadow_hits))
        .expect("rule in the statistics")
}

const FP: &str = "fp-0123456789ab";
const BIN: u32 = 622_202;
const IP4: [u8; 4] = [203, 0, 113, 7];
const IP6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
];

/// The IPv4-mapped IPv6 form of IP4 (::ffff:203.0.113.7).
fn ip4_mapped() -> Ip {
    let mut o = [0u8; 16];
    o[10] = 0xff;
    o[11] = 0xff;
    o[12..].copy_from_slice(&IP4);
    Ip::v6(o)
}

/// One entity kind: how a list entry names it, and how a payment carries it.
struct EntityCase {
    name: &'static str,
    entity: RiskEntity,
    entry: fn(&mut ConfigListEntry),
    set: fn(&mut PaymentRequest),
}

fn entity_cases() -> Vec<EntityCase> {
    vec![
        EntityCase {
            name: "user",
            entity: RiskEntity::User,
            entry: |e| e.id = 4_242,
            set: |p| p.user_id = 4_242,
        },
        EntityCase {
            name: "ipv4",
            entity: RiskEntity::Ip,
            entry: |e| e.ip = Ip::v4(IP4),
            set: |p| p.ip = Ip::v4(IP4),
        },
        EntityCase {
            name: "ipv6",
            entity: RiskEntity::Ip,
            entry: |e| e.ip = Ip::v6(IP6),
            set: |p| p.ip = Ip::v6(IP6),
        },
        EntityCase {
            name: "ipv4 entry, ipv4-mapped ipv6 payment",
            entity: RiskEntity::Ip,
            entry: |e| e.ip = Ip::v4(IP4),
            set: |p| p.ip = ip4_mapped(),
        },
        EntityCase {
            name: "device",
            entity: RiskEntity::Device,
            entry: |e| e.id = 31_337,
            set: |p| p.device_id = 31_337,
        },
        EntityCase {
            name: "card fingerprint",
            entity: RiskEntity::CardFingerprint,
            entry: |e| e.card_fingerprint = Chars::new(FP),
            set: |p| p.card_fingerprint = Chars::new(FP),
        },
        EntityCase {
            name: "card bin",
            entity: RiskEntity::CardBin,
            entry: |e| e.card_bin = BIN,
            set: |p| p.card_bin = BIN,
        },
    ]
}

fn entry_for(case: &EntityCase, list: ListKind, op: ListOp) -> ConfigListEntry {
    let mut e = list_entry(list, op, case.entity);
    (case.entry)(&mut e);
    e
}

// ---------------------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------------------

#[test]
fn block_lists_per_user_ip_device_card_and_bin() {
    for case in entity_cases() {
        let mut d = world();
        configure_ok(&mut d, &entry_for(&case, ListKind::Block, ListOp::Add));
        let (a, out) = pay_with(&mut d, 1, 1_000, case.set);
        assert_eq!(verdict(&a, &out), blocked(BLOCK_LIST), "{}", case.name);
        // Refused by risk, the order exists (Rejected) and a resend gets the same answer.
        let status = d.engine.order_status(slot_of(&a), 0);
        assert_eq!(
            (status.state, status.reason, status.risk_rule_id),
            (OrderState::Rejected, ReasonCode::RiskBlocked, BLOCK_LIST),
            "{}",
            case.name
        );
        let before = d.engine.content_hash();
        let (again, out) = pay_with(&mut d, 1, 1_000, case.set);
        assert!(again.duplicate);
        assert_eq!(verdict(&again, &out), blocked(BLOCK_LIST));
        assert_eq!(again.order_id, a.order_id);
        assert!(result(&out).is_none(), "a rejected order has no result");
        assert_eq!(d.engine.content_hash(), before);
        // The same payment without the listed key goes through.
        let (a, out) = pay_with(&mut d, 2, 1_000, |_| {});
        assert_eq!(verdict(&a, &out), CLEAN, "{}", case.name);
        // Removing the entry lets the key pay again.
        configure_ok(&mut d, &entry_for(&case, ListKind::Block, ListOp::Remove));
        let (a, out) = pay_with(&mut d, 3, 1_000, case.set);
        assert_eq!(verdict(&a, &out), CLEAN, "{} after removal", case.name);
    }
}

#[test]
fn the_fixture_block_list_refuses_user_666() {
    let mut d = world();
    let (a, out) = pay_with(&mut d, 1, 1_000, |p| p.user_id = 666);
    assert_eq!(verdict(&a, &out), blocked(BLOCK_LIST));
    let stats = d.engine.stats_report(0);
    assert_eq!((stats.rejected_risk, stats.accepted), (1, 0));
}

#[test]
fn an_allow_entry_skips_every_other_rule_even_block_lists_and_block_rules() {
    for case in entity_cases() {
        let mut d = world();
        configure_ok(&mut d, &entry_for(&case, ListKind::Allow, ListOp::Add));
        // Block every other key the payment carries, and pay more than rule 3 allows (5M) as
        // the blocked user 666.
        let mut user = list_entry(ListKind::Block, ListOp::Add, RiskEntity::User);
        user.id = 666;
        configure_ok(&mut d, &user);
        let others = |p: &mut PaymentRequest| {
            p.user_id = 666;
            p.device_id = 9_001;
            p.card_bin = 411_111;
        };
        let mut device = list_entry(ListKind::Block, ListOp::Add, RiskEntity::Device);
        device.id = 9_001;
        configure_ok(&mut d, &device);
        let mut bin = list_entry(ListKind::Block, ListOp::Add, RiskEntity::CardBin);
        bin.card_bin = 411_111;
        configure_ok(&mut d, &bin);
        let (a, out) = pay_with(&mut d, 1, 6_000_000, |p| {
            others(p);
            (case.set)(p);
        });
        assert_eq!(
            verdict(&a, &out),
            accepted(RiskAction::Allow, ALLOW_LIST),
            "{}",
            case.name
        );
        assert_eq!(hits(&d, 3), (0, 0), "rule 3 was never evaluated");
        // Without the allowed key the same payment is blocked by the block list.
        let (a, out) = pay_with(&mut d, 2, 6_000_000, others);
        assert_eq!(verdict(&a, &out), blocked(BLOCK_LIST), "{}", case.name);
        // Removed, the allow entry no longer helps.
        configure_ok(&mut d, &entry_for(&case, ListKind::Allow, ListOp::Remove));
        let (a, out) = pay_with(&mut d, 3, 6_000_000, |p| {
            others(p);
            (case.set)(p);
        });
        assert_eq!(verdict(&a, &out), blocked(BLOCK_LIST), "{}", case.name);
    }
}

#[test]
fn the_fixture_allow_list_lets_user_777_past_the_amount_cap() {
    let mut d = world();
    let (a, out) = pay_with(&mut d, 1, 6_000_000, |p| p.user_id = 777);
    assert_eq!(verdict(&a, &out), accepted(RiskAction::Allow, ALLOW_LIST));
    let (a, out) = pay_with(&mut d, 2, 6_000_000, |_| {});
    assert_eq!(verdict(&a, &out), blocked(3));
    assert_eq!(hits(&d, 3), (1, 0));
}

// ---------------------------------------------------------------------------------------------
// Rule order
// ---------------------------------------------------------------------------------------------

fn amount_rule(id: u32, less_than: i64, action: RiskAction) -> ConfigRiskRule {
    let mut r = risk_rule(
        id,
        RuleTarget::Payment,
        RiskFeature::SingleAmount,
        RiskEntity::None,
        RiskWindow::None,
        less_than,
        action,
    );
    r.comparison = Comparison::Less;
    r
}

#[test]
fn evaluation_order_is_allow_then_block_then_review_and_the_first_match_wins() {
    let mut d = world();
    // Configured out of id order on purpose: rules are evaluated by id within each action.
    for r in [
        amount_rule(35, 150, RiskAction::Block),
        amount_rule(33, 400, RiskAction::Review),
        amount_rule(32, 300, RiskAction::Review),
        amount_rule(31, 200, RiskAction::Block),
        amount_rule(30, 100, RiskAction::Allow),
    ] {
        configure_ok(&mut d, &r);
    }
    let cases: [(i64, u64, _); 8] = [
        (50, 10_001, accepted(RiskAction::Allow, 30)),
        (120, 10_002, blocked(31)),
        (250, 10_003, accepted(RiskAction::Review, 32)),
        (350, 10_004, accepted(RiskAction::Review, 33)),
        (500, 10_005, CLEAN),
        // The block-listed user: allow rules come before the block list ...
        (50, 666, accepted(RiskAction::Allow, 30)),
        // ... the block list before block and review rules.
        (120, 666, blocked(BLOCK_LIST)),
        (250, 666, blocked(BLOCK_LIST)),
    ];
    for (i, (amount, user, expected)) in cases.into_iter().enumerate() {
        let (a, out) = pay_with(&mut d, i as u64 + 1, amount, |p| p.user_id = user);
        assert_eq!(verdict(&a, &out), expected, "amount {amount} user {user}");
        // The order keeps the verdict.
        let status = d.engine.order_status(slot_of(&a), 0);
        assert_eq!(
            (status.risk_action, status.risk_rule_id),
            (expected.2, expected.3)
        );
    }
    // The allow list comes before allow rules.
    let (a, out) = pay_with(&mut d, 100, 50, |p| p.user_id = 777);
    assert_eq!(verdict(&a, &out), accepted(RiskAction::Allow, ALLOW_LIST));
    // Only the winning rule counts an enforced hit.
    assert_eq!(hits(&d, 30), (2, 0));
    assert_eq!(hits(&d, 31), (1, 0));
    assert_eq!(hits(&d, 35), (0, 0), "31 matched first");
    assert_eq!(hits(&d, 32), (1, 0));
    assert_eq!(hits(&d, 33), (1, 0));
    let stats = d.engine.stats_report(0);
    assert_eq!(stats.reviews, 2);
    assert_eq!(stats.rejected_risk, 3);
}

// ---------------------------------------------------------------------------------------------
// Velocity
// ---------------------------------------------------------------------------------------------

#[test]
fn velocity_counts_per_entity_over_a_minute() {
    for case in entity_cases() {
        let mut d = world();
        let rule = risk_rule(
            50,
            RuleTarget::Payment,
            RiskFeature::PaymentCount,
            case.entity,
            RiskWindow::Minute,
            2,
            RiskAction::Block,
        );
        configure_ok(&mut d, &rule);
        // Two within the minute pass; the third (count 3, this one included) is blocked.
        for id in 1..=2 {
            let (a, out) = pay_with(&mut d, id, 1_000, case.set);
            assert_eq!(verdict(&a, &out), CLEAN, "{} payment {id}", case.name);
            d.advance_ns(10 * 1_000_000_000);
        }
        let (a, out) = pay_with(&mut d, 3, 1_000, case.set);
        assert_eq!(verdict(&a, &out), blocked(50), "{}", case.name);
        // Other entities' counts are their own.
        let (a, out) = pay_with(&mut d, 4, 1_000, |_| {});
        assert_eq!(verdict(&a, &out), CLEAN, "{}", case.name);
        // A minute after the last one the window has emptied (blocked attempts count too).
        d.advance_ns(MINUTE_NS + 1);
        let (a, out) = pay_with(&mut d, 5, 1_000, case.set);
        assert_eq!(verdict(&a, &out), CLEAN, "{} after a minute", case.name);
        assert_eq!(hits(&d, 50), (1, 0));
    }
}

#[test]
fn the_fixture_user_per_minute_rule_blocks_the_21st_payment() {
    let mut d = world();
    for id in 1..=20 {
        let (a, out) = pay_with(&mut d, id, 100, |p| p.user_id = 55);
        assert_eq!(verdict(&a, &out), CLEAN, "payment {id}");
        d.advance_ns(2_000_000_000);
    }
    let (a, out) = pay_with(&mut d, 21, 100, |p| p.user_id = 55);
    assert_eq!(verdict(&a, &out), blocked(4));
    d.advance_ns(MINUTE_NS + 1);
    let (a, out) = pay_with(&mut d, 22, 100, |p| p.user_id = 55);
    assert_eq!(verdict(&a, &out), CLEAN);
}

#[test]
fn velocity_over_hour_and_day_windows_expires_in_event_time() {
    let mut d = world();
    configure_ok(
        &mut d,
        &risk_rule(
            51,
            RuleTarget::Payment,
            RiskFeature::PaymentCount,
            RiskEntity::Ip,
            RiskWindow::Hour,
            2,
            RiskAction::Block,
        ),
    );
    configure_ok(
        &mut d,
        &risk_rule(
            52,
            RuleTarget::Payment,
            RiskFeature::PaymentCount,
            RiskEntity::Device,
            RiskWindow::Day,
            2,
            RiskAction::Block,
        ),
    );
    let ip = |p: &mut PaymentRequest| p.ip = Ip::v4(IP4);
    let device = |p: &mut PaymentRequest| p.device_id = 77;
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    // Hour window: two pass, the third is blocked, still blocked 49 minutes later, and free again
    // an hour after the last attempt.
    for _ in 0..2 {
        let (a, out) = pay_with(&mut d, next(), 1_000, ip);
        assert_eq!(verdict(&a, &out), CLEAN);
    }
    let (a, out) = pay_with(&mut d, next(), 1_000, ip);
    assert_eq!(verdict(&a, &out), blocked(51));
    d.advance_ns(49 * MINUTE_NS);
    let (a, out) = pay_with(&mut d, next(), 1_000, ip);
    assert_eq!(verdict(&a, &out), blocked(51), "49 minutes later");
    d.advance_ns(HOUR_NS + 1);
    let (a, out) = pay_with(&mut d, next(), 1_000, ip);
    assert_eq!(verdict(&a, &out), CLEAN, "an hour later");
    // Day window: blocked 19 hours later, free 24 hours after the last attempt.
    for _ in 0..2 {
        let (a, out) = pay_with(&mut d, next(), 1_000, device);
        assert_eq!(verdict(&a, &out), CLEAN);
    }
    let (a, out) = pay_with(&mut d, next(), 1_000, device);
    assert_eq!(verdict(&a, &out), blocked(52));
    d.advance_ns(19 * HOUR_NS);
    let (a, out) = pay_with(&mut d, next(), 1_000, device);
    assert_eq!(verdict(&a, &out), blocked(52), "19 hours later");
    d.advance_ns(24 * HOUR_NS + 1);
    let (a, out) = pay_with(&mut d, next(), 1_000, device);
    assert_eq!(verdict(&a, &out), CLEAN, "a day later");
}

#[test]
fn velocity_amount_per_card_bin_over_an_hour() {
    let mut d = world();
    configure_ok(
        &mut d,
        &risk_rule(
            53,
            RuleTarget::Payment,
            RiskFeature::PaymentAmount,
            RiskEntity::CardBin,
            RiskWindow::Hour,
            10_000,
            RiskAction::Review,
        ),
    );
    let bin = |p: &mut PaymentRequest| p.card_bin = BIN;
    let (a, out) = pay_with(&mut d, 1, 6_000, bin);
    assert_eq!(verdict(&a, &out), CLEAN);
    let (a, out) = pay_with(&mut d, 2, 4_000, bin);
    assert_eq!(verdict(&a, &out), CLEAN, "10000 is not above 10000");
    let (a, out) = pay_with(&mut d, 3, 1, bin);
    assert_eq!(verdict(&a, &out), accepted(RiskAction::Review, 53));
    d.advance_ns(HOUR_NS + 1);
    let (a, out) = pay_with(&mut d, 4, 9_999, bin);
    assert_eq!(verdict(&a, &out), CLEAN);
}

#[test]
fn per_user_daily_total_reviews_over_two_million() {
    // Fixture rule 5: a user's payments over a day above 2,000,000 are reviewed.
    let mut d = world();
    let user = |p: &mut PaymentRequest| p.user_id = 4_000;
    let (a, out) = pay_with(&mut d, 1, 1_500_000, user);
    assert_eq!(verdict(&a, &out), CLEAN);
    let (a, out) = pay_with(&mut d, 2, 500_000, user);
    assert_eq!(verdict(&a, &out), CLEAN, "exactly 2,000,000");
    let (a, out) = pay_with(&mut d, 3, 1, user);
    assert_eq!(verdict(&a, &out), accepted(RiskAction::Review, 5));
    // Reviewed payments are processed: the order is in flight with its verdict.
    let status = d.engine.order_status(slot_of(&a), 0);
    assert_eq!(
        (status.state, status.risk_action, status.risk_rule_id),
        (OrderState::InFlight, RiskAction::Review, 5)
    );
    // Another user is not affected.
    let (a, out) = pay_with(&mut d, 4, 1_999_999, |p| p.user_id = 4_001);
    assert_eq!(verdict(&a, &out), CLEAN);
    d.advance_ns(19 * HOUR_NS);
    let (a, out) = pay_with(&mut d, 5, 1, user);
    assert_eq!(
        verdict(&a, &out),
        accepted(RiskAction::Review, 5),
        "same day"
    );
    d.advance_ns(24 * HOUR_NS + 1);
    let (a, out) = pay_with(&mut d, 6, 2_000_000, user);
    assert_eq!(verdict(&a, &out), CLEAN, "the next day");
    assert_eq!(d.engine.stats_report(0).reviews, 2);
}

#[test]
fn decline_counts_come_from_channel_declines() {
    // Fixture rule 7: more than 5 declines of a card within an hour blocks its payments.
    let mut d = world();
    let card = |fp: &'static str| {
        move |p: &mut PaymentRequest| {
            p.method = PaymentMethod::Card;
            p.card_fingerprint = Chars::new(fp);
        }
    };
    let mut id = 0;
    let mut pay_and_answer = |d: &mut Driver, fp: &'static str, outcome| {
        id += 1;
        let (a, out) = pay_with(d, id, 1_000, card(fp));
        assert_eq!(verdict(&a, &out), CLEAN, "payment {id}");
        let disp = dispatch(&out).unwrap().clone();
        assert_eq!(disp.channel_id, UNIONPAY);
        d.channel(disp.channel_id, &channel_result(&disp, outcome));
    };
    for _ in 0..5 {
        pay_and_answer(&mut d, "fp-declines", ChannelOutcome::Declined);
    }
    // A retryable error is not a decline (and successes never count).
    pay_and_answer(&mut d, "fp-declines", ChannelOutcome::RetryableError);
    for _ in 0..6 {
        pay_and_answer(&mut d, "fp-fine", ChannelOutcome::Succeeded);
    }
    // Five declines: not above 5 yet.
    pay_and_answer(&mut d, "fp-declines", ChannelOutcome::Declined);
    // Six declines now.
    let (a, out) = pay_with(&mut d, 100, 1_000, card("fp-declines"));
    assert_eq!(verdict(&a, &out), blocked(7));
    let (a, out) = pay_with(&mut d, 101, 1_000, card("fp-fine"));
    assert_eq!(verdict(&a, &out), CLEAN);
    d.advance_ns(HOUR_NS + 1);
    let (a, out) = pay_with(&mut d, 102, 1_000, card("fp-declines"));
    assert_eq!(verdict(&a, &out), CLEAN, "an hour later");
}

#[test]
fn single_amount_rules_scoped_by_merchant_and_by_goods_category() {
    let mut d = world();
    let mut shop_cap = risk_rule(
        54,
        RuleTarget::Payment,
        RiskFeature::SingleAmount,
        RiskEntity::None,
        RiskWindow::None,
        100_000,
        RiskAction::Block,
    );
    shop_cap.merchant_id = SHOP;
    configure_ok(&mut d, &shop_cap);
    let (a, out) = pay_with(&mut d, 1, 100_001, |_| {});
    assert_eq!(verdict(&a, &out), blocked(54));
    let (a, out) = pay_with(&mut d, 2, 100_000, |_| {});
    assert_eq!(verdict(&a, &out), CLEAN);
    let (a, out) = pay_with(&mut d, 3, 100_001, |p| p.merchant_id = HQ);
    assert_eq!(verdict(&a, &out), CLEAN, "another merchant");
    // Fixture rule 11: gambling (category 7995) above 500,000 is reviewed.
    let gambling = |p: &mut PaymentRequest| {
        p.merchant_id = HQ;
        p.goods_category = 7995;
    };
    let (a, out) = pay_with(&mut d, 4, 500_001, gambling);
    assert_eq!(verdict(&a, &out), accepted(RiskAction::Review, 11));
    let (a, out) = pay_with(&mut d, 5, 500_000, gambling);
    assert_eq!(verdict(&a, &out), CLEAN);
    let (a, out) = pay_with(&mut d, 6, 500_001, |p| {
        p.merchant_id = HQ;
        p.goods_category = 5411;
    });
    assert_eq!(verdict(&a, &out), CLEAN, "another category");
    // Fixture rule 3 caps every payment at 5,000,000.
    let (a, out) = pay_with(&mut d, 7, 5_000_001, |p| p.merchant_id = HQ);
    assert_eq!(verdict(&a, &out), blocked(3));
}

// ---------------------------------------------------------------------------------------------
// Refunds
// ---------------------------------------------------------------------------------------------

/// A succeeded payment of `amount` by `user` at `merchant`.
fn paid(d: &mut Driver, id: u64, merchant: u32, user: u64, amount: i64) {
    let mut req = payment(id, merchant, amount);
    req.user_id = user;
    let out = pay(d, ACQUIRER_A, &req, ChannelOutcome::Succeeded);
    assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
}

/// Requests a refund and, when accepted, lets the channel succeed. Returns the ack.
fn refund_through(d: &mut Driver, refund_id: u64, payment_id: u64, amount: i64) -> RefundAck {
    let out = d.acquirer(ACQUIRER_A, &refund(refund_id, payment_id, amount));
    let a = refund_ack(&out).clone();
    assert_eq!(
        refund_dispatch(&out).is_some(),
        a.status == AckStatus::Accepted,
        "{a:?}"
    );
    if let Some(r) = refund_dispatch(&out).cloned() {
        let out = d.channel(
            r.channel_id,
            &refund_channel_result(&r, ChannelOutcome::Succeeded),
        );
        assert_eq!(refund_result(&out).unwrap().status, FinalStatus::Succeeded);
    }
    a
}

#[test]
fn refund_frequency_per_user_blocks_the_sixth_refund_in_a_day() {
    // Fixture rule 10: more than 5 refunds for a user within a day is blocked.
    let mut d = world();
    paid(&mut d, 1, SHOP, 9_000, 10_000);
    paid(&mut d, 2, SHOP, 9_001, 10_000);
    for r in 1..=5 {
        let a = refund_through(&mut d, r, 1, 100);
        assert_eq!(
            (a.status, a.risk_action, a.risk_rule_id),
            (AckStatus::Accepted, RiskAction::None, 0),
            "refund {r}"
        );
    }
    let a = refund_through(&mut d, 6, 1, 100);
    assert_eq!(
        (
            a.status,
            a.reason,
            a.risk_action,
            a.risk_rule_id,
            a.refund_id
        ),
        (
            AckStatus::Rejected,
            ReasonCode::RiskBlocked,
            RiskAction::Block,
            10,
            0
        )
    );
    assert_eq!(a.order_id, 1);
    // The refused refund is remembered: a resend gets the same answer and changes nothing.
    let before = d.engine.content_hash();
    let out = d.acquirer(ACQUIRER_A, &refund(6, 1, 100));
    let again = refund_ack(&out);
    assert!(again.duplicate);
    assert_eq!(
        (again.reason, again.risk_rule_id),
        (ReasonCode::RiskBlocked, 10)
    );
    assert_eq!(d.engine.content_hash(), before);
    // Another user's refund is fine; a day later so is this user's.
    assert_eq!(
        refund_through(&mut d, 7, 2, 100).status,
        AckStatus::Accepted
    );
    d.advance_ns(24 * HOUR_NS + 1);
    assert_eq!(
        refund_through(&mut d, 8, 1, 100).status,
        AckStatus::Accepted
    );
    let status = d.engine.order_status(0, 0);
    assert_eq!(status.refunded_minor, 600);
    assert_eq!(hits(&d, 10), (1, 0));
    d.engine.verify_ledger().unwrap();
}

#[test]
fn refund_frequency_per_merchant() {
    let mut d = world();
    let mut rule = risk_rule(
        55,
        RuleTarget::Refund,
        RiskFeature::RefundCount,
        RiskEntity::Merchant,
        RiskWindow::Hour,
        2,
        RiskAction::Review,
    );
    rule.name = Chars::new("merchant_refunds");
    configure_ok(&mut d, &rule);
    // Three HQ payments and one SHOP payment, each by a different user.
    for (id, merchant) in [(1, HQ), (2, HQ), (3, HQ), (4, SHOP)] {
        paid(&mut d, id, merchant, 8_000 + id, 10_000);
    }
    assert_eq!(
        refund_through(&mut d, 1, 1, 100).risk_action,
        RiskAction::None
    );
    assert_eq!(
        refund_through(&mut d, 2, 2, 100).risk_action,
        RiskAction::None
    );
    let a = refund_through(&mut d, 3, 3, 100);
    assert_eq!(
        (a.status, a.risk_action, a.risk_rule_id),
        (AckStatus::Accepted, RiskAction::Review, 55),
        "the third refund at HQ within the hour"
    );
    assert_eq!(
        refund_through(&mut d, 4, 4, 100).risk_action,
        RiskAction::None,
        "SHOP has its own count"
    );
    d.advance_ns(HOUR_NS + 1);
    assert_eq!(
        refund_through(&mut d, 5, 1, 100).risk_action,
        RiskAction::None
    );
}

// ---------------------------------------------------------------------------------------------
// Shadow rules and hit counts
// ---------------------------------------------------------------------------------------------

#[test]
fn shadow_rules_are_counted_and_never_enforced() {
    let mut d = world();
    let mut shadow = risk_rule(
        56,
        RuleTarget::Payment,
        RiskFeature::SingleAmount,
        RiskEntity::None,
        RiskWindow::None,
        1_000,
        RiskAction::Block,
    );
    shadow.shadow = true;
    configure_ok(&mut d, &shadow);
    let mut disabled = amount_rule(58, i64::MAX, RiskAction::Block);
    disabled.status = Activity::Disabled;
    configure_ok(&mut d, &disabled);
    let mut refund_shadow = risk_rule(
        57,
        RuleTarget::Refund,
        RiskFeature::RefundCount,
        RiskEntity::User,
        RiskWindow::Day,
        0,
        RiskAction::Block,
    );
    refund_shadow.shadow = true;
    configure_ok(&mut d, &refund_shadow);

    let (a, out) = pay_with(&mut d, 1, 5_000, |_| {});
    assert_eq!(verdict(&a, &out), CLEAN, "a shadow match is not enforced");
    let (a, out) = pay_with(&mut d, 2, 500, |_| {});
    assert_eq!(verdict(&a, &out), CLEAN);
    assert_eq!(hits(&d, 56), (0, 1));
    // Shadow rules are evaluated on every request: a blocked one and an allow-listed one too.
    let (a, out) = pay_with(&mut d, 3, 6_000_000, |_| {});
    assert_eq!(verdict(&a, &out), blocked(3));
    let (a, out) = pay_with(&mut d, 4, 5_000, |p| p.user_id = 777);
    assert_eq!(verdict(&a, &out), accepted(RiskAction::Allow, ALLOW_LIST));
    assert_eq!(hits(&d, 56), (0, 3));
    assert_eq!(hits(&d, 3), (1, 0));
    assert_eq!(hits(&d, 58), (0, 0), "a disabled rule never matches");
    // A shadow refund rule.
    let out = pay(
        &mut d,
        ACQUIRER_A,
        &payment(5, SHOP, 10_000),
        ChannelOutcome::Succeeded,
    );
    assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
    let a = refund_through(&mut d, 1, 5, 1_000);
    assert_eq!(
        (a.status, a.risk_action),
        (AckStatus::Accepted, RiskAction::None)
    );
    assert_eq!(hits(&d, 57), (0, 1));
    // Hit counts survive a snapshot.
    let (hash, bytes) = d.engine.snapshot();
    let restored = sluice_engine::Engine::from_snapshot(&bytes, hash).unwrap();
    assert_eq!(
        restored.stats_report(0).rules,
        d.engine.stats_report(0).rules
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration refusals
// ---------------------------------------------------------------------------------------------

fn refused<M: Message>(d: &mut Driver, msg: &M) -> (AckStatus, ReasonCode) {
    let before = d.engine.content_hash();
    let out = d.admin(msg);
    let a = config_ack(&out);
    assert_eq!(d.engine.content_hash(), before, "a refusal changes nothing");
    (a.status, a.reason)
}

#[test]
fn invalid_rules_and_list_entries_are_refused() {
    use RiskEntity as E;
    use RiskFeature as F;
    use RiskWindow as W;
    use RuleTarget as T;
    let mut d = world();
    let invalid = (AckStatus::Rejected, ReasonCode::InvalidConfig);
    let ok = |id, t, f, e, w| risk_rule(id, t, f, e, w, 1, RiskAction::Block);
    let mut no_action = ok(40, T::Payment, F::SingleAmount, E::None, W::None);
    no_action.action = RiskAction::None;
    let bad_rules = [
        (
            "rule id 1 names the allow list",
            ok(1, T::Payment, F::SingleAmount, E::None, W::None),
        ),
        (
            "rule id 2 names the block list",
            ok(2, T::Payment, F::SingleAmount, E::None, W::None),
        ),
        ("no action", no_action),
        (
            "single amount on refunds",
            ok(41, T::Refund, F::SingleAmount, E::None, W::None),
        ),
        (
            "payment count on refunds",
            ok(42, T::Refund, F::PaymentCount, E::User, W::Minute),
        ),
        (
            "payment count per merchant",
            ok(43, T::Payment, F::PaymentCount, E::Merchant, W::Hour),
        ),
        (
            "payment count without entity",
            ok(44, T::Payment, F::PaymentCount, E::None, W::Hour),
        ),
        (
            "payment amount without window",
            ok(45, T::Payment, F::PaymentAmount, E::User, W::None),
        ),
        (
            "decline count without entity",
            ok(46, T::Payment, F::DeclineCount, E::None, W::Day),
        ),
        (
            "refund count on payments",
            ok(47, T::Payment, F::RefundCount, E::User, W::Day),
        ),
        (
            "refund count per ip",
            ok(48, T::Refund, F::RefundCount, E::Ip, W::Day),
        ),
        (
            "refund count without window",
            ok(49, T::Refund, F::RefundCount, E::User, W::None),
        ),
    ];
    for (why, rule) in &bad_rules {
        assert_eq!(refused(&mut d, rule), invalid, "{why}");
    }
    // A refused replacement leaves the old rule as it was: rule 3 still blocks above 5,000,000.
    let mut rule3 = ok(3, T::Refund, F::PaymentCount, E::User, W::Minute);
    rule3.threshold = 1;
    assert_eq!(refused(&mut d, &rule3), invalid);
    let (a, out) = pay_with(&mut d, 1, 5_000_001, |_| {});
    assert_eq!(verdict(&a, &out), blocked(3));

    let key_less = [
        (
            "merchant entity",
            list_entry(ListKind::Block, ListOp::Add, E::Merchant),
        ),
        (
            "no entity",
            list_entry(ListKind::Block, ListOp::Add, E::None),
        ),
        ("user 0", list_entry(ListKind::Block, ListOp::Add, E::User)),
        (
            "device 0",
            list_entry(ListKind::Allow, ListOp::Add, E::Device),
        ),
        ("no ip", list_entry(ListKind::Block, ListOp::Add, E::Ip)),
        (
            "empty fingerprint",
            list_entry(ListKind::Block, ListOp::Add, E::CardFingerprint),
        ),
        (
            "bin 0",
            list_entry(ListKind::Allow, ListOp::Add, E::CardBin),
        ),
    ];
    for (why, entry) in &key_less {
        assert_eq!(refused(&mut d, entry), invalid, "{why}");
    }
    // Adding or removing twice is idempotent.
    let mut e = list_entry(ListKind::Block, ListOp::Add, E::User);
    e.id = 5;
    configure_ok(&mut d, &e);
    let before = d.engine.content_hash();
    configure_ok(&mut d, &e);
    assert_eq!(d.engine.content_hash(), before);
    e.op = ListOp::Remove;
    configure_ok(&mut d, &e);
    let before = d.engine.content_hash();
    configure_ok(&mut d, &e);
    assert_eq!(d.engine.content_hash(), before);
}

#[test]
fn rules_are_capped_at_their_configured_maximum() {
    // The fixture allows 32 rules and configures 10.
    let mut d = world();
    for id in 100..122 {
        configure_ok(&mut d, &amount_rule(id, 1, RiskAction::Block));
    }
    let out = d.admin(&amount_rule(200, 1, RiskAction::Block));
    let a = config_ack(&out);
    assert_eq!(
        (a.status, a.reason),
        (AckStatus::Rejected, ReasonCode::CapacityReached)
    );
    // Replacing an existing rule is still possible at the cap.
    configure_ok(&mut d, &amount_rule(100, 2, RiskAction::Review));
    let (a, out) = pay_with(&mut d, 1, 1, |_| {});
    assert_eq!(verdict(&a, &out), accepted(RiskAction::Review, 100));
    assert_eq!(d.engine.stats_report(0).rules.len(), 32);
}
