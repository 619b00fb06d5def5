//! Merchant credit (docs/CREDIT.md) against a naive model in `rust_decimal::Decimal`: random
//! payments, days that settle them, loans (some over the limit, some while one is open), manual
//! repayments, queries and snapshot round trips, under a random policy. The model keeps each
//! merchant's settled flow per day, computes the limit, the repayment share of each settlement
//! (interest first), the exact interest of every day (floored once, over the loan's life), and
//! overdue and default; after every input the ledger balances, no available balance is below 0,
//! and every loan's figures equal the model's to the minor unit. At the end the same inputs,
//! replayed on a fresh engine, give the same state hash.
//!
//! What the model takes from the engine: how much of each merchant's income settled on a day
//! (its pending balance before and after the day's pulse; the settlement itself is the payouts
//! suite's) and its available balance. The merchants settle T+1 on calendar days with no
//! deposit, so each day's pulse settles one entry per merchant.

mod common;
use common::*;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sluice_engine::credit::{Loan, LoanStatus};
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_engine::{NS_PER_DAY, ROLE_SEQUENCER};
use sluice_protocol::*;
use std::collections::BTreeMap;

/// The merchants borrowing, with their acquirers.
const BORROWERS: [(u32, u32); 2] = [(SHOP, ACQUIRER_A), (OTHER_SHOP, ACQUIRER_B)];

#[derive(Debug, Clone)]
enum Step {
    Pay { who: usize, amount: i64 },
    NextDay,
    Pulse,
    Borrow { who: usize, amount: i64, term: u16 },
    Repay { who: usize, amount: i64 },
    Query { who: usize },
    Snapshot,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..2usize, 100..200_000i64).prop_map(|(who, amount)| Step::Pay { who, amount }),
        6 => Just(Step::NextDay),
        1 => Just(Step::Pulse),
        3 => (0..2usize, 1..120_000i64, 1..8u16)
            .prop_map(|(who, amount, term)| Step::Borrow { who, amount, term }),
        2 => (0..2usize, 1..40_000i64).prop_map(|(who, amount)| Step::Repay { who, amount }),
        1 => (0..2usize).prop_map(|who| Step::Query { who }),
        1 => Just(Step::Snapshot),
    ]
}

fn policy() -> impl Strategy<Value = ConfigCreditPolicy> {
    (
        (1..=10u16, 100..=1000u16, 20_000..=500_000i64),
        (0..=5_000u32, 0..=5_000u32, 500..=10_000u16, 1..=4u16),
    )
        .prop_map(
            |((window_days, advance_permille, cap_minor), (rate, penalty, share, default))| {
                ConfigCreditPolicy {
                    currency: CNY,
                    window_days,
                    advance_permille,
                    cap_minor,
                    daily_rate_e6: rate,
                    penalty_rate_e6: penalty,
                    repay_share_bps: share,
                    term_days_max: 7,
                    default_after_days: default,
                }
            },
        )
}

/// One loan in the model.
#[derive(Debug, Clone)]
struct ModelLoan {
    loan_id: u64,
    principal: i64,
    principal_out: i64,
    /// Interest accrued over the loan's life, exactly.
    interest_exact: Decimal,
    interest_repaid: i64,
    written_off: i64,
    repaid: i64,
    status: LoanStatus,
    disbursed_day: u32,
    due_day: u32,
    accrued_through: u32,
}

impl ModelLoan {
    fn interest_posted(&self) -> i64 {
        self.interest_exact.floor().to_i64().unwrap()
    }
    fn interest_out(&self) -> i64 {
        match self.status {
            LoanStatus::Defaulted | LoanStatus::Closed => 0,
            _ => self.interest_posted() - self.interest_repaid,
        }
    }
    fn owed(&self) -> i64 {
        match self.status {
            LoanStatus::Defaulted => self.written_off,
            LoanStatus::Closed => 0,
            _ => self.principal_out + self.interest_out(),
        }
    }
    /// Takes `amount` (at most what it owes): interest first, then principal, after default
    /// the write-off.
    fn repay(&mut self, amount: i64) {
        assert!(amount <= self.owed());
        self.repaid += amount;
        if self.status == LoanStatus::Defaulted {
            self.written_off -= amount;
        } else {
            let interest = amount.min(self.interest_out());
            self.interest_repaid += interest;
            self.principal_out -= amount - interest;
        }
        if self.owed() == 0 {
            self.status = LoanStatus::Closed;
        }
    }
}

#[derive(Debug, Default)]
struct Model {
    /// Per borrower: settled per day.
    flow: [BTreeMap<u32, i64>; 2],
    loans: [Vec<ModelLoan>; 2],
}

impl Model {
    fn open(&mut self, who: usize) -> Option<&mut ModelLoan> {
        self.loans[who]
            .last_mut()
            .filter(|l| l.status != LoanStatus::Closed)
    }

    /// (flow, gross limit, limit) of `who` on `today`.
    fn limit(&mut self, p: &ConfigCreditPolicy, who: usize, today: u32) -> (i64, i64, i64) {
        let from = today.saturating_sub(u32::from(p.window_days) - 1);
        let flow: i64 = self.flow[who].range(from..=today).map(|(_, v)| v).sum();
        let share = Decimal::from(flow) * Decimal::from(p.advance_permille) / Decimal::from(1000);
        let gross = Decimal::from(p.cap_minor).min(share.floor());
        let gross = gross.to_i64().unwrap();
        let owed = self.open(who).map_or(0, |l| l.owed());
        (flow, gross, (gross - owed).max(0))
    }

    /// The day step for `today` over `who`'s open loan.
    fn day_step(&mut self, p: &ConfigCreditPolicy, who: usize, today: u32) {
        let Some(l) = self.open(who) else { return };
        if !matches!(l.status, LoanStatus::Active | LoanStatus::Overdue) {
            return;
        }
        for day in l.accrued_through + 1..today {
            let mut rate = Decimal::from(p.daily_rate_e6);
            if day > l.due_day {
                rate += Decimal::from(p.penalty_rate_e6);
            }
            l.interest_exact += Decimal::from(l.principal_out) * rate / Decimal::from(1_000_000);
        }
        l.accrued_through = l.accrued_through.max(today - 1);
        if l.owed() > 0 && today > l.due_day && l.status == LoanStatus::Active {
            l.status = LoanStatus::Overdue;
        }
        if l.owed() > 0 && today > l.due_day + u32::from(p.default_after_days) {
            l.written_off = l.owed();
            l.principal_out = 0;
            l.status = LoanStatus::Defaulted;
        }
    }
}

/// The driver with every input logged, for the replay.
struct Harness {
    d: Driver,
    log: Vec<Logged>,
    policy: ConfigCreditPolicy,
    model: Model,
    next_id: u64,
}

impl Harness {
    fn input(&mut self, session: u64, principal: u32, role: u8, msg: AnyMessage) -> Out {
        self.log
            .push((self.d.now_ns(), session, principal, role, msg.clone()));
        self.d.apply_any(session, principal, role, &msg);
        self.d.decoded()
    }

    fn admin(&mut self, msg: AnyMessage) -> Out {
        self.input(1, 1, Role::Admin as u8, msg)
    }

    fn today(&self) -> u32 {
        sluice_engine::day_of(self.d.engine.state().now_ns, 8 * 3600)
    }

    fn balances(&mut self, who: usize) -> (i64, i64) {
        let (pending, available, _) =
            balance(&mut self.d, PartyKind::Merchant, BORROWERS[who].0, CNY);
        (pending, available)
    }

    fn pay(&mut self, who: usize, amount: i64) {
        let (merchant, acquirer) = BORROWERS[who];
        self.next_id += 1;
        let req = payment(self.next_id, merchant, amount);
        let out = self.input(
            u64::from(acquirer) * 1000,
            acquirer,
            Role::Acquirer as u8,
            req.into(),
        );
        let Some(disp) = dispatch(&out).cloned() else {
            return;
        };
        let answer = channel_result(&disp, ChannelOutcome::Succeeded);
        let session = 900_000 + u64::from(disp.channel_id);
        self.input(
            session,
            u32::from(disp.channel_id),
            Role::Channel as u8,
            answer.into(),
        );
    }

    /// A pulse; `new_day`: the model's settlement and day step.
    fn pulse(&mut self, new_day: bool) {
        let before = [self.balances(0), self.balances(1)];
        self.input(0, 0, ROLE_SEQUENCER, Pulse { flags: 0 }.into());
        if !new_day {
            return;
        }
        let today = self.today();
        let p = self.policy.clone();
        for (who, &(p0, a0)) in before.iter().enumerate() {
            let (p1, a1) = self.balances(who);
            let settled = p0 - p1;
            assert!(settled >= 0);
            let mut take = 0;
            if settled > 0 {
                *self.model.flow[who].entry(today).or_default() += settled;
                if let Some(l) = self.model.open(who) {
                    let share = Decimal::from(settled) * Decimal::from(p.repay_share_bps)
                        / Decimal::from(10_000);
                    let share = share.floor().to_i64().unwrap();
                    take = share.min(l.owed()).min(a0 + settled);
                    l.repay(take);
                }
            }
            assert_eq!(
                a1,
                a0 + settled - take,
                "merchant {who}: available after the day"
            );
        }
        for who in 0..2 {
            self.model.day_step(&p, who, today);
        }
    }

    fn borrow(&mut self, who: usize, amount: i64, term: u16) {
        let today = self.today();
        let p = self.policy.clone();
        let (_, _, limit) = self.model.limit(&p, who, today);
        let open = self.model.open(who).is_some();
        self.next_id += 1;
        let loan_id = 7_000_000 + self.next_id;
        let req = LoanRequest {
            loan_id,
            merchant_id: BORROWERS[who].0,
            amount_minor: amount,
            term_days: term,
        };
        let out = self.admin(req.into());
        let ack = config_ack(&out);
        let expected = if open {
            ReasonCode::LoanOpen
        } else if amount > limit {
            ReasonCode::CreditLimitExceeded
        } else {
            ReasonCode::None
        };
        assert_eq!(
            ack.reason, expected,
            "borrow {amount} with limit {limit}: {ack:?}"
        );
        if expected == ReasonCode::None {
            self.model.loans[who].push(ModelLoan {
                loan_id,
                principal: amount,
                principal_out: amount,
                interest_exact: Decimal::ZERO,
                interest_repaid: 0,
                written_off: 0,
                repaid: 0,
                status: LoanStatus::Active,
                disbursed_day: today,
                due_day: today + u32::from(term),
                accrued_through: today - 1,
            });
        }
    }

    fn repay(&mut self, who: usize, amount: i64) {
        let Some(l) = self.model.loans[who].last().cloned() else {
            return;
        };
        let (_, available) = self.balances(who);
        self.next_id += 1;
        let req = LoanRepayment {
            loan_id: l.loan_id,
            repayment_id: self.next_id,
            amount_minor: amount,
        };
        let out = self.admin(req.into());
        let ack = config_ack(&out);
        let expected = if l.status == LoanStatus::Closed {
            ReasonCode::UnknownLoan
        } else if amount > l.owed() {
            ReasonCode::InvalidField
        } else if amount > available {
            ReasonCode::InsufficientBalance
        } else {
            ReasonCode::None
        };
        assert_eq!(ack.reason, expected, "repay {amount} of {l:?}: {ack:?}");
        if expected == ReasonCode::None {
            self.model.loans[who].last_mut().unwrap().repay(amount);
        }
    }

    fn query(&mut self, who: usize) {
        let today = self.today();
        let p = self.policy.clone();
        let (flow, gross, limit) = self.model.limit(&p, who, today);
        let q = CreditQuery {
            merchant_id: BORROWERS[who].0,
            loan_id: 0,
        };
        let out = self.admin(q.into());
        let pos = find(&out, |m| match m {
            AnyMessage::CreditPosition(c) => Some(c),
            _ => None,
        });
        assert_eq!(
            (pos.flow_minor, pos.gross_limit_minor, pos.limit_minor),
            (flow, gross, limit)
        );
        let latest = self.model.loans[who].last();
        assert_eq!(pos.loan_id, latest.map_or(0, |l| l.loan_id));
        if let Some(l) = latest {
            assert_eq!(pos.interest_accrued_minor, l.interest_posted());
            assert_eq!(pos.repaid_minor, l.repaid);
            assert_eq!(
                (pos.disbursed_day, pos.principal_minor),
                (l.disbursed_day, l.principal)
            );
        }
    }

    fn snapshot(&mut self) {
        self.d = through_snapshot(&self.d);
    }

    /// Everything that holds after every input.
    fn check(&mut self) {
        self.d.engine.verify_ledger().unwrap();
        for who in 0..2 {
            let (_, available) = self.balances(who);
            assert!(available >= 0, "merchant {who}: available {available}");
            for l in &self.model.loans[who] {
                let e: Loan = *self.d.engine.credit().get(l.loan_id).expect("the loan");
                assert_eq!(e.status, l.status, "{e:?} {l:?}");
                assert_eq!(
                    e.principal_outstanding_minor, l.principal_out,
                    "{e:?} {l:?}"
                );
                assert_eq!(e.interest_accrued_minor, l.interest_posted(), "{e:?} {l:?}");
                assert_eq!(
                    e.interest_outstanding_minor,
                    l.interest_out(),
                    "{e:?} {l:?}"
                );
                assert_eq!(e.written_off_minor, l.written_off, "{e:?} {l:?}");
                assert_eq!(e.repaid_minor, l.repaid, "{e:?} {l:?}");
                assert_eq!(e.owed_minor(), l.owed());
            }
        }
    }
}

fn setup(policy: ConfigCreditPolicy) -> Harness {
    let mut h = Harness {
        d: small_world(4_096),
        log: Vec::new(),
        policy: policy.clone(),
        model: Model::default(),
        next_id: 0,
    };
    for mut m in merchants() {
        if BORROWERS.iter().any(|b| b.0 == m.merchant_id) {
            m.deposit_rate = Decimal::ZERO;
            m.schedule = PartySchedule::CalendarDays;
            m.settlement_days = 1;
            let out = h.admin(m.into());
            assert_eq!(config_ack(&out).status, AckStatus::Accepted);
        }
    }
    let out = h.admin(policy.clone().into());
    assert_eq!(config_ack(&out).status, AckStatus::Accepted, "{policy:?}");
    h
}

fn run(policy: ConfigCreditPolicy, steps: Vec<Step>) {
    let mut h = setup(policy);
    for s in steps {
        match s {
            Step::Pay { who, amount } => h.pay(who, amount),
            Step::NextDay => {
                h.d.advance_ns(NS_PER_DAY);
                h.pulse(true);
            }
            Step::Pulse => {
                h.d.advance_ns(60_000_000_000);
                let day = h.today();
                h.pulse(false);
                assert_eq!(day, h.today(), "a pulse within the day");
            }
            Step::Borrow { who, amount, term } => h.borrow(who, amount, term),
            Step::Repay { who, amount } => h.repay(who, amount),
            Step::Query { who } => h.query(who),
            Step::Snapshot => h.snapshot(),
        }
        h.check();
    }
    // Replay: the same inputs at the same times on a fresh engine.
    assert_replays(&h.log, small_world(4_096), &h.d);
}

fn config() -> ProptestConfig {
    let mut c = ProptestConfig::with_cases(128);
    c.rng_seed = RngSeed::Fixed(24);
    c.failure_persistence = None;
    c
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn merchant_credit_matches_the_decimal_model(
        policy in policy(),
        steps in proptest::collection::vec(step(), 20..90),
    ) {
        run(policy, steps);
    }
}

/// A scripted month: two weeks of flow, a loan within the limit, one over it, interest, the
/// loan repaid from settlements; then a second loan left unpaid goes overdue and defaults, and a
/// later settlement still recovers it.
#[test]
fn a_loan_is_granted_from_flow_repaid_from_settlements_and_a_second_defaults() {
    let policy = ConfigCreditPolicy {
        currency: CNY,
        window_days: 14,
        advance_permille: 500,
        cap_minor: 1_000_000,
        daily_rate_e6: 500,
        penalty_rate_e6: 500,
        repay_share_bps: 5_000,
        term_days_max: 30,
        default_after_days: 3,
    };
    let mut h = setup(policy.clone());
    for _ in 0..14 {
        h.pay(0, 20_000);
        h.d.advance_ns(NS_PER_DAY);
        h.pulse(true);
        h.check();
    }
    let today = h.today();
    let (flow, _, limit) = h.model.limit(&policy, 0, today);
    assert!(flow > 200_000 && limit == flow / 2, "{flow} {limit}");
    h.borrow(0, limit + 1, 10);
    assert!(h.model.loans[0].is_empty(), "over the limit: refused");
    h.borrow(0, limit, 10);
    h.check();
    for _ in 0..16 {
        h.pay(0, 20_000);
        h.d.advance_ns(NS_PER_DAY);
        h.pulse(true);
        h.check();
    }
    let l = &h.model.loans[0][0];
    assert_eq!(l.status, LoanStatus::Closed, "{l:?}");
    assert!(l.interest_posted() > 0);
    // A second loan with no flow behind it: overdue, then defaulted, then recovered.
    h.borrow(0, 10_000, 1);
    h.repay(0, 1);
    for _ in 0..6 {
        h.d.advance_ns(NS_PER_DAY);
        h.pulse(true);
        h.check();
    }
    assert_eq!(h.model.loans[0][1].status, LoanStatus::Defaulted);
    let written =
        h.d.engine
            .credit()
            .get(h.model.loans[0][1].loan_id)
            .unwrap()
            .written_off_minor;
    assert!(written > 0);
    for _ in 0..3 {
        h.pay(0, 30_000);
        h.d.advance_ns(NS_PER_DAY);
        h.pulse(true);
        h.check();
    }
    assert_eq!(
        h.model.loans[0][1].status,
        LoanStatus::Closed,
        "recovered after default"
    );
}
