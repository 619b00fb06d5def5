//! Derivation of the financial extension's rows (issue 24) from the engine's finance recorder:
//! what a product records during an input becomes a `finance_events` row per movement, in order,
//! keyed by that input's sequence; nothing is recorded twice and nothing without the recorder.

use sluice_engine::day_of;
use sluice_engine::finance_events::{FinanceEvent, FinanceEventKind as K, FinanceProduct as P};
use sluice_engine::fixture::{CNY, SHOP};
use sluice_protocol::*;

use super::derive_tests::World;
use super::rows::{Day, FinanceEventRow};

fn event(product: P, kind: K, party_id: u32, reference: u64, amount_minor: i64) -> FinanceEvent {
    FinanceEvent {
        product,
        kind,
        promoter: false,
        party_id,
        reference,
        index: 0,
        currency: CNY,
        amount_minor,
        position_minor: 0,
        accrued_minor: 0,
        day: 20_500,
    }
}

/// A pulse during which `events` were recorded, derived.
fn pulse_with(w: &mut World, events: &[FinanceEvent]) {
    w.d.advance_ns(1_000_000_000);
    w.d.pulse();
    for e in events {
        w.d.engine.push_finance_event_for_tests(*e);
    }
    w.derive(Some(Pulse { flags: 0 }.into()));
}

fn finance_world() -> World {
    let mut w = World::new();
    w.d.engine.record_finance_events(true);
    w
}

#[test]
fn every_recorded_movement_is_a_row_with_its_fields_in_order() {
    let mut w = finance_world();
    let accrued = FinanceEvent {
        promoter: true,
        position_minor: 100_012,
        accrued_minor: 12,
        ..event(P::Yield, K::YieldAccrued, 77, 0, 12)
    };
    let residual = event(P::Yield, K::YieldResidual, 0, 0, 3);
    let scheduled = FinanceEvent {
        index: 2,
        position_minor: 30_000,
        day: 20_530,
        ..event(
            P::Installment,
            K::InstallmentScheduled,
            SHOP,
            1 << 40,
            10_000,
        )
    };
    pulse_with(&mut w, &[accrued, residual, scheduled]);
    let seq = (w.d.next_seq() - 1) as i64;
    let at_ns = w.d.now_ns() as i64;
    let day = Day(day_of(w.d.now_ns(), w.d.engine.state().limits.utc_offset_secs) as i32);
    let expected = vec![
        expected_first(seq, at_ns, day),
        FinanceEventRow {
            ordinal: 1,
            kind: "YieldResidual".into(),
            party_kind: "None".into(),
            party_id: 0,
            amount_minor: 3,
            position_minor: 0,
            accrued_minor: 0,
            ..expected_first(seq, at_ns, day)
        },
        FinanceEventRow {
            ordinal: 2,
            product: "Installment".into(),
            kind: "InstallmentScheduled".into(),
            party_kind: "Merchant".into(),
            party_id: SHOP as i32,
            reference: 1 << 40,
            installment: 2,
            amount_minor: 10_000,
            position_minor: 30_000,
            accrued_minor: 0,
            business_day: Day(20_530),
            ..expected_first(seq, at_ns, day)
        },
    ];
    assert_eq!(w.rows.finance_events, expected);
}

/// The first expected row's shared fields (the yield accrual's).
fn expected_first(seq: i64, at_ns: i64, day: Day) -> FinanceEventRow {
    FinanceEventRow {
        seq,
        ordinal: 0,
        at_ns,
        day,
        product: "Yield".into(),
        kind: "YieldAccrued".into(),
        party_kind: "Promoter".into(),
        party_id: 77,
        reference: 0,
        installment: 0,
        currency: i32::from(CNY),
        amount_minor: 12,
        position_minor: 100_012,
        accrued_minor: 12,
        business_day: Day(20_500),
    }
}

#[test]
fn each_input_numbers_its_own_rows_and_the_next_input_repeats_none() {
    let mut w = finance_world();
    let loan = event(P::Loan, K::LoanDisbursed, SHOP, 9, 50_000);
    let interest = event(P::Loan, K::InterestAccrued, SHOP, 9, 14);
    pulse_with(&mut w, &[loan, interest]);
    pulse_with(&mut w, &[]);
    pulse_with(&mut w, &[interest]);
    let keys: Vec<(i64, i32, &str)> = w
        .rows
        .finance_events
        .iter()
        .map(|r| (r.seq, r.ordinal, r.kind.as_str()))
        .collect();
    let last = (w.d.next_seq() - 1) as i64;
    assert_eq!(
        keys,
        vec![
            (last - 2, 0, "LoanDisbursed"),
            (last - 2, 1, "InterestAccrued"),
            (last, 0, "InterestAccrued"),
        ]
    );
}

#[test]
fn without_the_recorder_no_finance_rows_and_other_tables_are_unchanged() {
    let mut on = finance_world();
    let mut off = World::new();
    for w in [&mut on, &mut off] {
        w.pay(1, 2_500, 1).expect("a result");
        w.d.advance_ns(2 * sluice_engine::NS_PER_DAY);
        w.d.pulse();
        w.derive(Some(Pulse { flags: 0 }.into()));
    }
    assert!(on.rows.finance_events.is_empty(), "no product recorded");
    assert_eq!(on.rows, off.rows, "the recorder changes no other row");
    assert!(!off.d.engine.finance_events().iter().any(|_| true));
}
