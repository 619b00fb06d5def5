//! Settlement schedules, the working-day calendar, the rolling reserve and manual release
//! (docs/PAYOUTS.md, sections 2 and 3), over China's 2026 National Day week: 2026-10-01..07 off,
//! Sunday 2026-09-27 and Saturday 2026-10-10 worked instead.

mod common;

use common::*;
use rust_decimal::Decimal;
use sluice_engine::calendar::civil::days_from_civil;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_engine::ledger::PartyAccount;
use sluice_protocol::*;

/// `YYYY-MM-DD` as an engine day.
fn day(text: &str) -> u32 {
    let p: Vec<i64> = text.split('-').map(|x| x.parse().unwrap()).collect();
    days_from_civil(p[0], p[1] as u32, p[2] as u32) as u32
}

/// Moves the clock to `hour` o'clock of `date` in the fixture's UTC+8, and pulses (settling
/// every day up to it).
fn at(d: &mut Driver, date: &str, hour: u64) {
    let local_s = u64::from(day(date)) * 86_400 + hour * 3_600;
    d.set_time_ns((local_s - 8 * 3_600) * 1_000_000_000);
    d.pulse();
}

/// Every morning from the clock's day through `date`, pulsing each (as the live server would).
fn each_morning_through(d: &mut Driver, date: &str) {
    let today = sluice_engine::day_of(d.now_ns(), 8 * 3_600);
    for n in today + 1..=day(date) {
        let local_s = u64::from(n) * 86_400 + 3_600;
        d.set_time_ns((local_s - 8 * 3_600) * 1_000_000_000);
        d.pulse();
    }
}

fn golden_week_world() -> Driver {
    let mut d = world();
    at(&mut d, "2026-09-01", 9);
    let mut set = |date: &str, kind: DayKind| {
        let out = d.admin(&ConfigCalendarDay {
            day: day(date),
            kind,
        });
        assert_eq!(config_ack(&out).status, AckStatus::Accepted, "{date}");
    };
    for n in 1..=7 {
        set(&format!("2026-10-0{n}"), DayKind::Holiday);
    }
    set("2026-09-27", DayKind::Workday);
    set("2026-10-10", DayKind::Workday);
    d
}

/// Configures SHOP with `schedule`, `anchor`, its delay and its reserve; no deposit unless
/// `deposit`.
fn shop_terms(
    d: &mut Driver,
    schedule: PartySchedule,
    anchor: u8,
    days: u8,
    reserve: (Decimal, u16),
    deposit: bool,
) -> ConfigAck {
    let mut m = merchants()
        .into_iter()
        .find(|m| m.merchant_id == SHOP)
        .unwrap();
    m.schedule = schedule;
    m.schedule_anchor = anchor;
    m.settlement_days = days;
    (m.reserve_rate, m.reserve_days) = reserve;
    if !deposit {
        m.deposit_rate = Decimal::ZERO;
    }
    let out = d.admin(&m);
    config_ack(&out).clone()
}

fn shop(d: &mut Driver, schedule: PartySchedule, anchor: u8, days: u8) {
    let ack = shop_terms(d, schedule, anchor, days, (Decimal::ZERO, 0), false);
    assert_eq!(ack.status, AckStatus::Accepted, "{ack:?}");
}

/// SHOP's (pending, available, frozen, reserve) in CNY, from the ledger.
fn shop_balances(d: &Driver) -> [i128; 4] {
    let e = &d.engine;
    let ledger = &e.state().ledger;
    let slot = e
        .state()
        .merchants
        .iter()
        .find(|m| m.id == SHOP)
        .unwrap()
        .party_slot;
    PartyAccount::ALL.map(|w| ledger.account(ledger.party(0, slot, w)).credit_balance())
}

/// Pays SHOP `amount` (request `id`); returns SHOP's income from it (its pending growth).
fn pay_shop(d: &mut Driver, id: u64, amount: i64) -> i128 {
    let before = shop_balances(d)[0];
    pay(
        d,
        ACQUIRER_A,
        &payment(id, SHOP, amount),
        ChannelOutcome::Succeeded,
    );
    shop_balances(d)[0] - before
}

/// Pending stays through the morning of `last_waiting`, and is available on `due`'s.
fn assert_due_on(d: &mut Driver, income: i128, last_waiting: &str, due: &str) {
    each_morning_through(d, last_waiting);
    assert_eq!(
        shop_balances(d)[0],
        income,
        "still pending on {last_waiting}"
    );
    each_morning_through(d, due);
    assert_eq!(shop_balances(d)[..2], [0, income], "available on {due}");
    d.engine.verify_ledger().unwrap();
}

#[test]
fn calendar_days_keep_their_meaning_across_the_holiday() {
    let mut d = golden_week_world();
    shop(&mut d, PartySchedule::CalendarDays, 0, 1);
    at(&mut d, "2026-09-30", 10);
    let income = pay_shop(&mut d, 1, 10_000);
    assert_due_on(&mut d, income, "2026-09-30", "2026-10-01");
}

#[test]
fn business_days_skip_weekends_and_holidays_and_count_make_up_days() {
    let mut d = golden_week_world();
    shop(&mut d, PartySchedule::BusinessDays, 0, 1);
    at(&mut d, "2026-09-30", 10);
    let income = pay_shop(&mut d, 1, 10_000);
    assert_due_on(&mut d, income, "2026-10-07", "2026-10-08");
    // Earned on Saturday 09-26 (a day off), one working day later is the make-up Sunday.
    let mut d = golden_week_world();
    shop(&mut d, PartySchedule::BusinessDays, 0, 1);
    at(&mut d, "2026-09-26", 10);
    let income = pay_shop(&mut d, 1, 10_000);
    assert_due_on(&mut d, income, "2026-09-26", "2026-09-27");
    // Three working days after Friday 10-09: Saturday 10-10 (made up), Monday, Tuesday.
    let mut d = golden_week_world();
    shop(&mut d, PartySchedule::BusinessDays, 0, 3);
    at(&mut d, "2026-10-09", 10);
    let income = pay_shop(&mut d, 1, 10_000);
    assert_due_on(&mut d, income, "2026-10-12", "2026-10-13");
}

#[test]
fn weekly_settles_on_the_anchor_weekday_rolled_past_the_holiday() {
    let mut d = golden_week_world();
    shop(&mut d, PartySchedule::Weekly, 1, 1);
    // Tuesday 09-22: from 09-23, the next Monday is 09-28.
    at(&mut d, "2026-09-22", 10);
    let first = pay_shop(&mut d, 1, 10_000);
    assert_due_on(&mut d, first, "2026-09-27", "2026-09-28");
    // Tuesday 09-29: the next Monday, 10-05, is a holiday: Thursday 10-08.
    let mut d = golden_week_world();
    shop(&mut d, PartySchedule::Weekly, 1, 1);
    at(&mut d, "2026-09-29", 10);
    let a = pay_shop(&mut d, 2, 10_000);
    at(&mut d, "2026-09-30", 10);
    let b = pay_shop(&mut d, 3, 20_000);
    assert_due_on(&mut d, a + b, "2026-10-07", "2026-10-08");
}

#[test]
fn monthly_settles_on_the_anchor_date_or_the_last_day_of_a_shorter_month() {
    let mut d = golden_week_world();
    shop(&mut d, PartySchedule::Monthly, 31, 1);
    at(&mut d, "2026-11-02", 10);
    let income = pay_shop(&mut d, 1, 10_000);
    assert_due_on(&mut d, income, "2026-11-29", "2026-11-30");
    // The 1st of October is a holiday: rolled to the 8th.
    let mut d = golden_week_world();
    shop(&mut d, PartySchedule::Monthly, 1, 1);
    at(&mut d, "2026-09-02", 10);
    let income = pay_shop(&mut d, 1, 10_000);
    assert_due_on(&mut d, income, "2026-10-07", "2026-10-08");
}

#[test]
fn a_schedule_is_validated_before_anything_changes() {
    let mut d = golden_week_world();
    let before = (
        d.engine.state().parties.clone(),
        d.engine.state().calendar.clone(),
    );
    for (schedule, anchor, reserve) in [
        (PartySchedule::Weekly, 0, (Decimal::ZERO, 0)),
        (PartySchedule::Weekly, 8, (Decimal::ZERO, 0)),
        (PartySchedule::Monthly, 0, (Decimal::ZERO, 0)),
        (PartySchedule::Monthly, 32, (Decimal::ZERO, 0)),
        (PartySchedule::CalendarDays, 0, (Decimal::new(11, 1), 30)),
        (PartySchedule::CalendarDays, 0, (Decimal::new(1, 1), 367)),
    ] {
        let ack = shop_terms(&mut d, schedule, anchor, 1, reserve, true);
        assert_eq!(
            (ack.status, ack.reason),
            (AckStatus::Rejected, ReasonCode::InvalidConfig),
            "{schedule:?} {anchor} {reserve:?}"
        );
    }
    // A calendar day past 2149 is refused too.
    let out = d.admin(&ConfigCalendarDay {
        day: 70_000,
        kind: DayKind::Holiday,
    });
    assert_eq!(config_ack(&out).status, AckStatus::Rejected);
    let after = (
        d.engine.state().parties.clone(),
        d.engine.state().calendar.clone(),
    );
    assert_eq!(after, before);
}

#[test]
fn the_deposit_then_the_reserve_then_available_each_released_on_its_day() {
    let mut d = golden_week_world();
    let ten_percent = Decimal::new(1, 1);
    let ack = shop_terms(
        &mut d,
        PartySchedule::CalendarDays,
        0,
        1,
        (ten_percent, 30),
        true,
    );
    assert_eq!(ack.status, AckStatus::Accepted, "{ack:?}");
    at(&mut d, "2026-11-02", 10);
    let income = pay_shop(&mut d, 1, 10_000);
    let deposit = income * 5 / 100;
    let reserve = (income - deposit) / 10;
    each_morning_through(&mut d, "2026-11-03");
    assert_eq!(
        shop_balances(&d),
        [0, income - deposit - reserve, deposit, reserve]
    );
    // The deposit is held 7 days, the reserve 30.
    each_morning_through(&mut d, "2026-11-10");
    assert_eq!(shop_balances(&d), [0, income - reserve, 0, reserve]);
    each_morning_through(&mut d, "2026-12-02");
    assert_eq!(shop_balances(&d), [0, income - reserve, 0, reserve]);
    each_morning_through(&mut d, "2026-12-03");
    assert_eq!(shop_balances(&d), [0, income, 0, 0]);
    d.engine.verify_ledger().unwrap();
}

fn release(d: &mut Driver, through: &str) -> ConfigAck {
    let out = d.admin(&ReleaseSettlement {
        party_kind: PartyKind::Merchant,
        party_id: SHOP,
        through_day: day(through),
    });
    config_ack(&out).clone()
}

#[test]
fn manual_income_waits_for_its_release_through_a_day() {
    let mut d = golden_week_world();
    shop(&mut d, PartySchedule::Manual, 0, 1);
    at(&mut d, "2026-11-02", 10);
    let first = pay_shop(&mut d, 1, 10_000);
    at(&mut d, "2026-11-03", 10);
    let second = pay_shop(&mut d, 2, 20_000);
    each_morning_through(&mut d, "2026-12-31");
    assert_eq!(shop_balances(&d)[..2], [first + second, 0], "held");
    // Today's income is still being earned; a release of nothing is refused.
    let ack = release(&mut d, "2026-12-31");
    assert_eq!(ack.status, AckStatus::Rejected);
    let ack = release(&mut d, "2026-11-01");
    assert_eq!(
        (ack.status, ack.reason),
        (AckStatus::Rejected, ReasonCode::NothingToRelease)
    );
    let ack = release(&mut d, "2026-11-02");
    assert_eq!(ack.status, AckStatus::Accepted, "{ack:?}");
    assert_eq!(shop_balances(&d)[..2], [second, first]);
    let ack = release(&mut d, "2026-12-30");
    assert_eq!(ack.status, AckStatus::Accepted, "{ack:?}");
    assert_eq!(shop_balances(&d)[..2], [0, first + second]);
    d.engine.verify_ledger().unwrap();
}

/// Refunds request `id` in full and answers it with `outcome`.
fn refund_in_full(d: &mut Driver, refund_id: u64, id: u64, amount: i64, outcome: ChannelOutcome) {
    let out = d.acquirer(ACQUIRER_A, &refund(refund_id, id, amount));
    assert_eq!(
        refund_ack(&out).status,
        AckStatus::Accepted,
        "{:?}",
        refund_ack(&out)
    );
    let disp = refund_dispatch(&out).expect("a refund dispatch").clone();
    d.channel(disp.channel_id, &refund_channel_result(&disp, outcome));
}

#[test]
fn refunds_take_pending_income_back_on_every_schedule() {
    for (schedule, anchor) in [
        (PartySchedule::CalendarDays, 0),
        (PartySchedule::BusinessDays, 0),
        (PartySchedule::Weekly, 1),
        (PartySchedule::Monthly, 31),
        (PartySchedule::Manual, 0),
    ] {
        let mut d = golden_week_world();
        shop(&mut d, schedule, anchor, 1);
        at(&mut d, "2026-09-30", 10);
        let kept = pay_shop(&mut d, 1, 10_000);
        let refunded = pay_shop(&mut d, 2, 5_000);
        // A failed refund puts the income back in its queue; a succeeded one takes it.
        refund_in_full(&mut d, 1, 2, 5_000, ChannelOutcome::Declined);
        assert_eq!(shop_balances(&d)[0], kept + refunded, "{schedule:?}");
        refund_in_full(&mut d, 2, 2, 5_000, ChannelOutcome::Succeeded);
        assert_eq!(shop_balances(&d)[0], kept, "{schedule:?}");
        each_morning_through(&mut d, "2026-12-31");
        if schedule == PartySchedule::Manual {
            assert_eq!(release(&mut d, "2026-09-30").status, AckStatus::Accepted);
        }
        assert_eq!(shop_balances(&d)[..2], [0, kept], "{schedule:?}");
        // After settlement, a refund comes from Available.
        refund_in_full(&mut d, 3, 1, 10_000, ChannelOutcome::Succeeded);
        assert_eq!(shop_balances(&d)[..2], [0, 0], "{schedule:?}");
        d.engine.verify_ledger().unwrap();
    }
}

#[test]
fn a_refund_at_the_channel_across_a_manual_release_comes_back_to_available() {
    let mut d = golden_week_world();
    shop(&mut d, PartySchedule::Manual, 0, 1);
    at(&mut d, "2026-09-30", 10);
    let income = pay_shop(&mut d, 1, 10_000);
    let out = d.acquirer(ACQUIRER_A, &refund(1, 1, 10_000));
    let disp = refund_dispatch(&out).expect("a refund dispatch").clone();
    assert_eq!(shop_balances(&d)[0], income, "reserved, not yet taken");
    at(&mut d, "2026-10-02", 10);
    // The held entry is empty while the refund is out; the release takes it.
    let ack = release(&mut d, "2026-09-30");
    assert_eq!(ack.status, AckStatus::Accepted, "{ack:?}");
    d.channel(
        disp.channel_id,
        &refund_channel_result(&disp, ChannelOutcome::Declined),
    );
    assert_eq!(shop_balances(&d)[..2], [0, income]);
    d.engine.verify_ledger().unwrap();
}

#[test]
fn an_automatic_party_is_paid_after_its_settlement_and_after_a_manual_release() {
    for schedule in [PartySchedule::BusinessDays, PartySchedule::Manual] {
        let mut d = golden_week_world();
        let mut m = merchants()
            .into_iter()
            .find(|m| m.merchant_id == SHOP)
            .unwrap();
        m.schedule = schedule;
        m.deposit_rate = Decimal::ZERO;
        m.payout_mode = PayoutMode::Automatic;
        m.min_payout_minor = 100;
        configure_ok(&mut d, &m);
        at(&mut d, "2026-09-30", 10);
        let income = pay_shop(&mut d, 1, 10_000);
        each_morning_through(&mut d, "2026-10-07");
        assert_eq!(
            balance(&mut d, PartyKind::Merchant, SHOP, CNY),
            (income as i64, 0, 0),
            "{schedule:?}: still pending over the holiday"
        );
        if schedule == PartySchedule::Manual {
            assert_eq!(release(&mut d, "2026-09-30").status, AckStatus::Accepted);
        } else {
            each_morning_through(&mut d, "2026-10-08");
        }
        // Credited to Available and paid out at once: the whole of it reserved for the payout.
        assert_eq!(shop_balances(&d)[..2], [0, income], "{schedule:?}");
        assert_eq!(
            balance(&mut d, PartyKind::Merchant, SHOP, CNY),
            (0, 0, 0),
            "{schedule:?}: nothing left to spend"
        );
        d.engine.verify_ledger().unwrap();
    }
}
