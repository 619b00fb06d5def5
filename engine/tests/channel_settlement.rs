//! Channel settlement, the discrepancy list and the channel fee a ProRata refund returns
//! (docs/RECONCILIATION.md, sections 5 and 6): what each posts, what it refuses with nothing
//! changed, and that the ledger and every channel's book agree after each input.

mod common;
use common::*;
use sluice_engine::channel_settlement::ChannelPosition;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_engine::money::fee_returned;
use sluice_protocol::*;

fn settlement(batch_id: u64, paid_minor: i64, fee_difference_minor: i64) -> ChannelSettlement {
    ChannelSettlement {
        channel_id: WECHAT,
        currency: CNY,
        batch_id,
        paid_minor,
        fee_difference_minor,
        first_day: 20_418,
        last_day: 20_418,
        batch_ref: codec::text("20261126"),
    }
}

fn open(id: u64, amount_minor: i64) -> Discrepancy {
    Discrepancy {
        op: DiscrepancyOp::Open,
        discrepancy_id: id,
        channel_id: WECHAT,
        class: DiscrepancyClass::AmountMismatch,
        currency: CNY,
        order_id: 7,
        attempt: 1,
        refund_id: 0,
        amount_minor,
        write_off_minor: 0,
        bill_day: 20_418,
        note: codec::text("bill says less"),
    }
}

fn resolve(id: u64, write_off_minor: i64) -> Discrepancy {
    Discrepancy {
        op: DiscrepancyOp::Resolve,
        write_off_minor,
        note: codec::text("written off"),
        ..open(id, 0)
    }
}

/// Applies an admin input; returns its ConfigAck's (status, reason, object id) and checks the
/// ledger and the channels' books.
fn admin<M: Message>(d: &mut Driver, m: &M) -> (AckStatus, ReasonCode, u64) {
    let out = d.admin(m);
    let a = config_ack(&out);
    d.engine.verify_ledger().expect("ledger and books agree");
    (a.status, a.reason, a.object_id)
}

/// An admin input refused with `reason`, the business state unchanged.
fn refused<M: Message>(d: &mut Driver, m: &M, reason: ReasonCode) {
    let before = d.engine.content_hash();
    let (status, got, _) = admin(d, m);
    assert_eq!((status, got), (AckStatus::Rejected, reason));
    assert_eq!(d.engine.content_hash(), before, "a refusal changed nothing");
}

fn position(d: &Driver) -> ChannelPosition {
    d.engine
        .channel_position(WECHAT, CNY)
        .expect("WeChat in CNY")
}

/// A paid 100.00 CNY wallet payment through WeChat Pay (fee 0.60).
fn paid(d: &mut Driver, request_id: u64) {
    let out = pay(
        d,
        ACQUIRER_A,
        &payment(request_id, SHOP, 10_000),
        ChannelOutcome::Succeeded,
    );
    assert_eq!(result(&out).unwrap().status, FinalStatus::Succeeded);
}

#[test]
fn a_settlement_moves_the_receivable_to_the_bank_and_a_repeat_changes_nothing() {
    let mut d = world();
    paid(&mut d, 1);
    paid(&mut d, 2);
    let owed = position(&d).receivable_minor;
    assert_eq!(owed, 2 * (10_000 - 60));
    let (status, _, id) = admin(&mut d, &settlement(20_418, 19_800, 10));
    assert_eq!((status, id), (AckStatus::Accepted, 20_418));
    let p = position(&d);
    assert_eq!(
        (
            p.receivable_minor,
            p.paid_minor,
            p.fee_differences_minor,
            p.batches
        ),
        (owed - 19_810, 19_800, 10, 1)
    );
    let ledger = &d.engine.state().ledger;
    assert_eq!(
        ledger.account(ledger.platform_bank(0)).debit_balance(),
        19_800
    );
    assert_eq!(
        ledger
            .account(ledger.channel_fee_differences(0))
            .debit_balance(),
        10
    );
    refused(
        &mut d,
        &settlement(20_418, 1, 0),
        ReasonCode::DuplicateBatch,
    );

    // Negative amounts post the other way: the platform paid the channel, fewer fees.
    admin(&mut d, &settlement(20_419, -500, -20));
    let p = position(&d);
    assert_eq!(
        (p.receivable_minor, p.paid_minor, p.fee_differences_minor),
        (owed - 19_290, 19_300, -10)
    );
    let a = d
        .engine
        .state()
        .channel_settlements
        .get(WECHAT, CNY)
        .unwrap();
    assert_eq!((a.last_batch_id, a.recent_batch_ids.len()), (20_419, 2));
}

#[test]
fn invalid_settlements_are_refused_with_nothing_changed() {
    let mut d = world();
    paid(&mut d, 1);
    let unknown_channel = ChannelSettlement {
        channel_id: 99,
        ..settlement(1, 1, 0)
    };
    refused(&mut d, &unknown_channel, ReasonCode::UnknownChannel);
    let other_currency = ChannelSettlement {
        currency: 392,
        ..settlement(1, 1, 0)
    };
    refused(&mut d, &other_currency, ReasonCode::CurrencyNotAccepted);
    let backwards = ChannelSettlement {
        first_day: 2,
        last_day: 1,
        ..settlement(1, 1, 0)
    };
    refused(&mut d, &backwards, ReasonCode::InvalidConfig);
    refused(&mut d, &settlement(0, 1, 0), ReasonCode::InvalidConfig);
    refused(
        &mut d,
        &settlement(1, i64::MIN, 0),
        ReasonCode::BalanceOverflow,
    );
    refused(
        &mut d,
        &settlement(1, 0, i64::MIN),
        ReasonCode::BalanceOverflow,
    );
    // Within i64 but past the largest balance once added to what the bank holds.
    admin(&mut d, &settlement(1, i64::MAX, 0));
    refused(&mut d, &settlement(2, 1, 0), ReasonCode::BalanceOverflow);
}

#[test]
fn the_batch_ids_kept_are_the_last_512() {
    let mut d = world();
    for batch in 1..=520 {
        assert_eq!(
            admin(&mut d, &settlement(batch, 0, 0)).0,
            AckStatus::Accepted
        );
    }
    refused(&mut d, &settlement(520, 0, 0), ReasonCode::DuplicateBatch);
    refused(&mut d, &settlement(9, 0, 0), ReasonCode::DuplicateBatch);
    // Batch 8 has left the window: applied again (documented in channel_settlement.rs).
    assert_eq!(admin(&mut d, &settlement(8, 0, 0)).0, AckStatus::Accepted);
    assert_eq!(position(&d).batches, 521);
}

#[test]
fn discrepancies_open_once_resolve_once_and_write_off_the_receivable() {
    let mut d = world();
    paid(&mut d, 1);
    let owed = position(&d).receivable_minor;
    assert_eq!(
        admin(&mut d, &open(42, 300)),
        (AckStatus::Accepted, ReasonCode::None, 42)
    );
    admin(&mut d, &open(43, -100));
    refused(&mut d, &open(42, 1), ReasonCode::DiscrepancyExists);
    refused(&mut d, &resolve(44, 0), ReasonCode::UnknownDiscrepancy);
    refused(
        &mut d,
        &Discrepancy {
            channel_id: 99,
            ..open(45, 1)
        },
        ReasonCode::UnknownChannel,
    );
    refused(&mut d, &open(0, 1), ReasonCode::InvalidConfig);
    let p = position(&d);
    assert_eq!((p.open_discrepancies, p.open_discrepancies_minor), (2, 200));

    admin(&mut d, &resolve(42, 300));
    refused(&mut d, &resolve(42, 300), ReasonCode::UnknownDiscrepancy);
    admin(&mut d, &resolve(43, -100));
    let p = position(&d);
    assert_eq!(
        (
            p.open_discrepancies,
            p.receivable_minor,
            p.written_off_minor
        ),
        (0, owed - 200, 200)
    );
    let e = d.engine.state().discrepancies.get(42).unwrap();
    assert_eq!(
        (e.write_off_minor, e.resolution.as_str(), e.note.as_str()),
        (300, "written off", "bill says less")
    );
    assert!(e.resolved_seq > e.opened_seq);
    let ledger = &d.engine.state().ledger;
    assert_eq!(
        ledger.account(ledger.channel_write_offs(0)).debit_balance(),
        200
    );
    refused(
        &mut d,
        &Discrepancy {
            write_off_minor: i64::MIN,
            ..open(46, 1)
        },
        ReasonCode::InvalidConfig,
    );
    admin(&mut d, &open(46, 1));
    refused(&mut d, &resolve(46, i64::MIN), ReasonCode::BalanceOverflow);
}

/// Refunds `amount` of payment `payment_id` and has the channel answer; returns the refund id.
fn refund_ok(d: &mut Driver, id: u64, payment_id: u64, amount: i64, ok: bool) -> u64 {
    let out = d.acquirer(ACQUIRER_A, &refund(id, payment_id, amount));
    assert_eq!(refund_ack(&out).status, AckStatus::Accepted, "{out:?}");
    let x = refund_dispatch(&out).unwrap().clone();
    let outcome = if ok {
        ChannelOutcome::Succeeded
    } else {
        ChannelOutcome::Declined
    };
    d.channel(x.channel_id, &refund_channel_result(&x, outcome));
    d.engine.verify_ledger().expect("ledger and books agree");
    x.refund_id
}

fn fee_returned_of(d: &Driver, refund_id: u64) -> i64 {
    let r = d
        .engine
        .state()
        .refunds
        .iter()
        .find(|r| r.id == refund_id)
        .unwrap();
    r.fee_returned_minor
}

fn world_pro_rata() -> Driver {
    let mut d = world();
    for r in rules()
        .into_iter()
        .filter(|r| r.target == RuleTarget::Refund)
    {
        configure_ok(
            &mut d,
            &ConfigRiskRule {
                status: Activity::Disabled,
                ..r
            },
        );
    }
    let mut wechat = channels().remove(0);
    wechat.refund_fee = RefundFeePolicy::ProRata;
    configure_ok(&mut d, &wechat);
    d
}

#[test]
fn a_pro_rata_refund_in_parts_returns_exactly_the_fee() {
    let mut d = world_pro_rata();
    paid(&mut d, 1);
    let fee_expense = |d: &Driver| {
        let l = &d.engine.state().ledger;
        l.account(l.fee_expense(0)).debit_balance()
    };
    let expense = fee_expense(&d);
    // 33.33 + (a declined 10.00) + 33.33 + 33.34 of 100.00 with a fee of 0.60: 0.20 each.
    let mut returned = vec![];
    for (id, amount, ok) in [
        (11, 3_333, true),
        (12, 1_000, false),
        (13, 3_333, true),
        (14, 3_334, true),
    ] {
        let refund_id = refund_ok(&mut d, id, 1, amount, ok);
        returned.push(fee_returned_of(&d, refund_id));
    }
    assert_eq!(returned, [20, 0, 20, 20]);
    assert_eq!(fee_returned(60, 10_000, 3_333, 3_333), 20);
    assert_eq!(fee_expense(&d), expense - 60);
    // Refunded in full, fee returned: the channel owes nothing for the payment.
    assert_eq!(position(&d).receivable_minor, 0);
    let book = d.engine.channel_book(WECHAT, CNY).unwrap();
    assert_eq!(book.fees_returned_minor, 60);
}

#[test]
fn keep_returns_no_fee_and_two_refunds_in_flight_return_the_fee_in_either_order() {
    let mut d = world_pro_rata();
    paid(&mut d, 1);
    // Both in flight, answered in reverse order.
    let a = d.acquirer(ACQUIRER_A, &refund(11, 1, 2_500));
    let b = d.acquirer(ACQUIRER_A, &refund(12, 1, 7_500));
    let (xa, xb) = (
        refund_dispatch(&a).unwrap().clone(),
        refund_dispatch(&b).unwrap().clone(),
    );
    d.channel(
        WECHAT,
        &refund_channel_result(&xb, ChannelOutcome::Succeeded),
    );
    d.channel(
        WECHAT,
        &refund_channel_result(&xa, ChannelOutcome::Succeeded),
    );
    d.engine.verify_ledger().unwrap();
    assert_eq!(
        fee_returned_of(&d, xb.refund_id) + fee_returned_of(&d, xa.refund_id),
        60
    );
    assert_eq!(position(&d).receivable_minor, 0);

    let mut d = world();
    paid(&mut d, 1);
    let refund_id = refund_ok(&mut d, 11, 1, 10_000, true);
    assert_eq!(fee_returned_of(&d, refund_id), 0);
    assert_eq!(position(&d).receivable_minor, -60);
}

#[test]
fn the_new_state_survives_a_snapshot() {
    let mut d = world_pro_rata();
    paid(&mut d, 1);
    refund_ok(&mut d, 11, 1, 5_000, true);
    admin(&mut d, &settlement(20_418, 4_900, 0));
    admin(&mut d, &open(42, 70));
    admin(&mut d, &open(43, 5));
    admin(&mut d, &resolve(43, 5));
    let (hash, snapshot) = d.engine.snapshot();
    let restored = sluice_engine::Engine::from_snapshot(&snapshot, hash).expect("restore");
    assert_eq!(restored.state_hash(), d.engine.state_hash());
    assert_eq!(
        restored.state().discrepancies,
        d.engine.state().discrepancies
    );
    assert_eq!(
        restored.state().channel_settlements,
        d.engine.state().channel_settlements
    );
    assert_eq!(restored.channel_position(WECHAT, CNY), Some(position(&d)));
    let mut twin = d.twin(restored);
    refused(
        &mut twin,
        &settlement(20_418, 1, 0),
        ReasonCode::DuplicateBatch,
    );
    refused(&mut twin, &open(42, 1), ReasonCode::DiscrepancyExists);
}

/// Every answer to ConfigQuery walks of `kind`, by position until NotFound.
fn walk(d: &mut Driver, kind: ConfigKind) -> Vec<AnyMessage> {
    let mut got = Vec::new();
    for position in 0.. {
        let out = d.admin(&ConfigQuery::by_position(kind, position));
        assert_eq!(out.len(), 1, "{out:?}");
        match out.into_iter().next().map(|(_, m)| m).unwrap() {
            AnyMessage::ConfigAck(a) => {
                assert_eq!(a.reason, ReasonCode::NotFound, "{kind:?} at {position}");
                return got;
            }
            m => got.push(m),
        }
    }
    unreachable!()
}

#[test]
fn the_admin_lists_the_discrepancies_and_the_settlement_figures() {
    let mut d = world();
    paid(&mut d, 1);
    admin(&mut d, &open(43, 5));
    admin(&mut d, &open(42, 70));
    admin(&mut d, &resolve(43, 5));
    admin(&mut d, &settlement(20_418, 4_900, 3));
    admin(&mut d, &settlement(20_419, 100, -1));
    let before = d.engine.content_hash();
    let list = walk(&mut d, ConfigKind::Discrepancy);
    let [AnyMessage::Discrepancy(a), AnyMessage::Discrepancy(b)] = &list[..] else {
        panic!("{list:?}");
    };
    assert_eq!(*a, open(42, 70));
    assert_eq!(
        (b.discrepancy_id, b.op, b.write_off_minor, b.note.as_str()),
        (43, DiscrepancyOp::Resolve, 5, "written off")
    );
    let list = walk(&mut d, ConfigKind::ChannelSettlement);
    let [AnyMessage::ChannelSettlement(s)] = &list[..] else {
        panic!("{list:?}");
    };
    assert_eq!(
        (
            s.channel_id,
            s.currency,
            s.batch_id,
            s.paid_minor,
            s.fee_difference_minor
        ),
        (WECHAT, CNY, 20_419, 5_000, 2)
    );
    assert_eq!(s.batch_ref.as_str(), "batches 2, written off 5");
    // By id, and nothing for an unknown one; queries change nothing.
    let id = u64::from(WECHAT) << 16 | u64::from(CNY);
    let out = d.admin(&ConfigQuery::by_id(ConfigKind::ChannelSettlement, id));
    assert!(matches!(&out[0].1, AnyMessage::ChannelSettlement(x) if x == s));
    let out = d.admin(&ConfigQuery::by_id(ConfigKind::Discrepancy, 7));
    assert_eq!(config_ack(&out).reason, ReasonCode::UnknownDiscrepancy);
    assert_eq!(d.engine.content_hash(), before);
}

#[test]
fn a_full_list_retires_the_entry_resolved_first_and_refuses_when_all_are_open() {
    use sluice_engine::discrepancies::DISCREPANCIES_MAX;
    let mut d = world();
    for id in 1..=DISCREPANCIES_MAX as u64 {
        assert_eq!(admin(&mut d, &open(id, 1)).0, AckStatus::Accepted, "{id}");
    }
    let next = DISCREPANCIES_MAX as u64 + 1;
    refused(&mut d, &open(next, 1), ReasonCode::DiscrepanciesFull);
    admin(&mut d, &resolve(5, 0));
    admin(&mut d, &resolve(3, 0));
    // Entry 5 was resolved first: it leaves for the new one.
    admin(&mut d, &open(next, 1));
    let list = &d.engine.state().discrepancies;
    assert!(list.get(5).is_none() && list.get(3).is_some() && list.get(next).is_some());
    assert_eq!(list.entries.len(), DISCREPANCIES_MAX);
    admin(&mut d, &open(next + 1, 1));
    refused(&mut d, &open(next + 2, 1), ReasonCode::DiscrepanciesFull);
    // A retired id may be opened again (once there is room).
    refused(&mut d, &open(5, 1), ReasonCode::DiscrepanciesFull);
}
