//! Consumer installments against a naive model (docs/INSTALLMENTS.md): random payments (some under
//! plans of 3, 6 or 12, interest-free or with interest, some declined), days passing (settlement,
//! late fees), repayments (right, wrong, resent), early repayments, defaults, partial and full
//! refunds and queries. The model computes every figure with `rust_decimal` the obvious way.
//! After every input: the ledger balances, no available balance is negative, accounts 17–21 and
//! every plan (status, schedule, interest, fee, late fees, paid) equal the model to the minor unit.
//! At the end the same inputs replayed give the same state hash, and a snapshot restores it (with
//! its plans index: every plan still answers a query).

mod common;

use common::*;
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::{self, ACQUIRER_A, CNY, SHOP};
use sluice_engine::installments::{CANCELLED, Plan, PlanStatus, REPAID, SETTLED_BY_REFUND, UNPAID};
use sluice_engine::{Engine, day_of};
use sluice_protocol::*;

const DAY_NS: u64 = 86_400 * 1_000_000_000;
const OFFSET_SECS: i32 = 8 * 3600;

#[derive(Debug, Clone)]
enum Step {
    Pay {
        amount: i64,
        count: u8,
        interest: bool,
        declined: bool,
    },
    Days(u64),
    Repay {
        pick: usize,
        wrong: u8,
        resend: bool,
    },
    Early {
        pick: usize,
        wrong: bool,
    },
    Default(usize),
    Refund {
        pick: usize,
        permille: Option<i64>,
    },
    Query(usize),
}

#[derive(Debug, Clone, Copy)]
struct TermsSpec {
    fee: [u16; 3],
    rate: [u16; 3],
    late: u16,
    default_after: u16,
    /// 0: monthly (30 days).
    period: u8,
}

fn terms() -> impl Strategy<Value = TermsSpec> {
    (
        prop::array::uniform3(0u16..=1000),
        prop::array::uniform3(0u16..=1500),
        0u16..=1000,
        1u16..=40,
        prop::sample::select(vec![0u8, 0, 7, 14, 31]),
    )
        .prop_map(|(fee, rate, late, default_after, period)| TermsSpec {
            fee,
            rate,
            late,
            default_after,
            period,
        })
}

fn step() -> impl Strategy<Value = Step> {
    let pick = any::<usize>();
    prop_oneof![
        10 => (100i64..=2_000_000, prop::sample::select(vec![0u8, 3, 6, 12, 3, 6, 12]),
               any::<bool>(), prop::bool::weighted(0.1))
            .prop_map(|(amount, count, interest, declined)| Step::Pay { amount, count, interest, declined }),
        6 => (1u64..=40).prop_map(Step::Days),
        10 => (pick, prop::sample::select(vec![0u8, 0, 0, 0, 1, 2]), prop::bool::weighted(0.2))
            .prop_map(|(pick, wrong, resend)| Step::Repay { pick, wrong, resend }),
        2 => (pick, prop::bool::weighted(0.2)).prop_map(|(pick, wrong)| Step::Early { pick, wrong }),
        2 => pick.prop_map(Step::Default),
        4 => (pick, prop::option::weighted(0.6, 1i64..=900))
            .prop_map(|(pick, permille)| Step::Refund { pick, permille }),
        2 => pick.prop_map(Step::Query),
    ]
}

// ---------------------------------------------------------------------------------------------
// The naive model
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct MInst {
    due: u32,
    p: Decimal,
    i: Decimal,
    late: Decimal,
    status: u8,
    late_flag: bool,
}

impl MInst {
    fn owed(&self) -> Decimal {
        self.p + self.i + self.late
    }
}

#[derive(Debug, Clone)]
struct MPlan {
    order_id: u64,
    request_id: u64,
    amount: Decimal,
    refunded: Decimal,
    count: u8,
    interest_kind: bool,
    status: PlanStatus,
    interest: Decimal,
    fee: Decimal,
    open_day: u32,
    late_bps: u16,
    default_after: u32,
    sched: Vec<MInst>,
    paid: Decimal,
    interest_paid: Decimal,
    late_total: Decimal,
    written: Decimal,
    recovered: Decimal,
}

impl MPlan {
    fn first_unpaid(&self) -> Option<usize> {
        self.sched.iter().position(|x| x.status == UNPAID)
    }
    fn unpaid(&self) -> impl Iterator<Item = &MInst> {
        self.sched.iter().filter(|x| x.status == UNPAID)
    }
    fn payoff(&self, today: u32) -> Decimal {
        self.unpaid()
            .map(|x| x.p + x.late + if x.due <= today { x.i } else { Decimal::ZERO })
            .sum()
    }
}

#[derive(Debug, Default)]
struct Model {
    plans: Vec<MPlan>,
    interest_earned: Decimal,
    late_charged: Decimal,
    late_cancelled: Decimal,
    interest_returned: Decimal,
    advanced: Decimal,
    received: Decimal,
    written: Decimal,
    recovered: Decimal,
    last_day_step: u32,
}

fn dec(x: i64) -> Decimal {
    Decimal::from(x)
}

fn bps(amount: Decimal, bps: u16) -> Decimal {
    (amount * Decimal::from(bps) / Decimal::from(10_000)).floor()
}

fn model_schedule(p: Decimal, i: Decimal, n: u8, open_day: u32, period: u32) -> Vec<MInst> {
    let nd = Decimal::from(n);
    let (each_p, each_i) = ((p / nd).floor(), (i / nd).floor());
    (1..=u32::from(n))
        .map(|k| {
            let last = k == u32::from(n);
            MInst {
                due: open_day + period * k,
                p: if last {
                    p - each_p * (nd - Decimal::ONE)
                } else {
                    each_p
                },
                i: if last {
                    i - each_i * (nd - Decimal::ONE)
                } else {
                    each_i
                },
                late: Decimal::ZERO,
                status: UNPAID,
                late_flag: false,
            }
        })
        .collect()
}

impl Model {
    fn day_step(&mut self, today: u32) {
        if today <= self.last_day_step {
            return;
        }
        self.last_day_step = today;
        for plan in self
            .plans
            .iter_mut()
            .filter(|p| p.status == PlanStatus::Open)
        {
            for x in plan.sched.iter_mut() {
                if x.status == UNPAID && !x.late_flag && today > x.due {
                    x.late_flag = true;
                    let fee = bps(x.p + x.i, plan.late_bps);
                    x.late += fee;
                    plan.late_total += fee;
                    self.late_charged += fee;
                }
            }
        }
    }

    fn pay(&mut self, plan: usize, k: usize) {
        let p = &mut self.plans[plan];
        let x = &mut p.sched[k];
        x.status = REPAID;
        p.paid += x.owed();
        p.interest_paid += x.i;
        self.received += x.owed();
        self.interest_earned += x.i;
    }

    fn complete_if_done(&mut self, plan: usize) {
        let p = &mut self.plans[plan];
        if p.status == PlanStatus::Open && p.first_unpaid().is_none() {
            p.status = PlanStatus::Completed;
        }
    }

    fn refund(&mut self, plan: usize, r: Decimal) {
        let p = &mut self.plans[plan];
        p.refunded += r;
        let full = p.refunded == p.amount;
        match p.status {
            PlanStatus::Open => {
                let unpaid_p: Decimal = p.unpaid().map(|x| x.p).sum();
                let mut left = r.min(unpaid_p);
                self.received += left;
                for x in p.sched.iter_mut().rev() {
                    if x.status != UNPAID || left.is_zero() {
                        continue;
                    }
                    let take = left.min(x.p);
                    x.p -= take;
                    left -= take;
                    if x.owed().is_zero() {
                        x.status = SETTLED_BY_REFUND;
                    }
                }
                if full {
                    self.unwind(plan);
                } else {
                    self.complete_if_done(plan);
                }
            }
            PlanStatus::Completed | PlanStatus::RepaidEarly if full => self.unwind(plan),
            PlanStatus::Defaulted => {
                let x = r.min(p.written - p.recovered);
                p.recovered += x;
                self.recovered += x;
                self.received += x;
            }
            _ => {}
        }
    }

    fn unwind(&mut self, plan: usize) {
        let p = &mut self.plans[plan];
        for x in p.sched.iter_mut().filter(|x| x.status == UNPAID) {
            assert!(x.p.is_zero());
            self.late_cancelled += x.late;
            x.status = CANCELLED;
        }
        p.status = PlanStatus::Unwound;
        self.interest_returned += p.interest_paid;
    }

    /// What accounts 17–21 must hold.
    fn accounts(&self) -> [Decimal; 5] {
        let open = self
            .plans
            .iter()
            .flat_map(|p| p.sched.iter())
            .filter(|x| x.status == UNPAID);
        let (mut p, mut i, mut l) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for x in open {
            p += x.p;
            i += x.i;
            l += x.late;
        }
        [
            p + i + l,
            self.advanced - self.received + self.interest_returned,
            i,
            self.interest_earned + self.late_charged - self.late_cancelled - self.interest_returned,
            self.written - self.recovered,
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

struct Harness {
    d: Driver,
    m: Model,
    next_request: u64,
    next_refund: u64,
    /// Plan steps that did what the model said (accepted, refused), for the coverage check.
    seen: [u32; 8],
}

fn acked(out: &Out) -> AckStatus {
    config_ack(out).status
}

impl Harness {
    fn new(t: TermsSpec) -> Harness {
        let mut d = small_world(4_096);
        configure_ok(
            &mut d,
            &ConfigInstallments {
                merchant_id: 0,
                fee_bps_3: t.fee[0],
                fee_bps_6: t.fee[1],
                fee_bps_12: t.fee[2],
                rate_bps_3: t.rate[0],
                rate_bps_6: t.rate[1],
                rate_bps_12: t.rate[2],
                late_fee_bps: t.late,
                default_after_days: t.default_after,
                period_days: t.period,
            },
        );
        let m = Model {
            last_day_step: today(&d),
            ..Model::default()
        };
        Harness {
            d,
            m,
            next_request: 1,
            next_refund: 1,
            seen: [0; 8],
        }
    }

    fn today(&self) -> u32 {
        today(&self.d)
    }

    fn run(&mut self, steps: &[Step], t: TermsSpec) {
        for (n, s) in steps.iter().enumerate() {
            self.step(s, t);
            self.check(n, s);
        }
    }

    fn step(&mut self, s: &Step, t: TermsSpec) {
        match *s {
            Step::Pay {
                amount,
                count,
                interest,
                declined,
            } => self.pay(amount, count, interest, declined, t),
            Step::Days(days) => {
                self.d.advance_ns(days * DAY_NS);
                self.d.pulse();
                self.m.day_step(self.today());
                self.d.pulse();
            }
            Step::Repay {
                pick,
                wrong,
                resend,
            } => self.repay(pick, wrong, resend),
            Step::Early { pick, wrong } => self.early(pick, wrong),
            Step::Default(pick) => self.default(pick),
            Step::Refund { pick, permille } => self.refund(pick, permille),
            Step::Query(pick) => {
                if let Some(plan) = self.pick(pick) {
                    let id = self.m.plans[plan].order_id;
                    let out = self.d.admin(&InstallmentQuery { order_id: id });
                    let reply = find(&out, |m| match m {
                        AnyMessage::InstallmentPlan(p) => Some(p),
                        _ => None,
                    });
                    let mp = &self.m.plans[plan];
                    assert_eq!(reply.status, mp.status as u8);
                    assert_eq!(reply.installments.len(), mp.sched.len());
                    let open = mp.status == PlanStatus::Open;
                    let payoff = if open {
                        mp.payoff(self.today())
                    } else {
                        Decimal::ZERO
                    };
                    assert_eq!(dec(reply.payoff_minor), payoff);
                    assert_eq!(dec(reply.paid_minor), mp.paid);
                }
            }
        }
    }

    fn pay(&mut self, amount: i64, count: u8, interest: bool, declined: bool, t: TermsSpec) {
        let request_id = self.next_request;
        self.next_request += 1;
        let mut req = fixture::payment(request_id, SHOP, amount);
        req.installment_count = count;
        req.installment_payer_interest = interest;
        let out = self.d.acquirer(ACQUIRER_A, &req);
        let a = ack(&out).clone();
        assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
        let outcome = if declined {
            ChannelOutcome::Declined
        } else {
            ChannelOutcome::Succeeded
        };
        let mut next = dispatch(&out).cloned();
        let mut final_result = None;
        for _ in 0..8 {
            let Some(disp) = next.take() else { break };
            let out = self
                .d
                .channel(disp.channel_id, &channel_result(&disp, outcome));
            if let Some(r) = result(&out) {
                final_result = Some(r.clone());
                break;
            }
            next = dispatch(&out).cloned();
        }
        let r = final_result.expect("the payment ends");
        let succeeded = r.status == FinalStatus::Succeeded;
        assert_eq!(succeeded, !declined);
        if count == 0 {
            assert!(self.d.engine.installments().plan(a.order_id).is_none());
            return;
        }
        let plan = self
            .d
            .engine
            .installments()
            .plan(a.order_id)
            .expect("a plan");
        if !succeeded {
            assert_eq!(plan.status, PlanStatus::Void);
            return;
        }
        let at = match count {
            3 => 0,
            6 => 1,
            _ => 2,
        };
        let p = dec(amount);
        let (int, fee) = if interest {
            (bps(p, t.rate[at]), Decimal::ZERO)
        } else {
            (Decimal::ZERO, bps(p, t.fee[at]))
        };
        let open_day = self.today();
        self.m.advanced += p;
        self.m.plans.push(MPlan {
            order_id: a.order_id,
            request_id,
            amount: p,
            refunded: Decimal::ZERO,
            count,
            interest_kind: interest,
            status: PlanStatus::Open,
            interest: int,
            fee,
            open_day,
            late_bps: t.late,
            default_after: u32::from(t.default_after),
            sched: model_schedule(p, int, count, open_day, period_of(t)),
            paid: Decimal::ZERO,
            interest_paid: Decimal::ZERO,
            late_total: Decimal::ZERO,
            written: Decimal::ZERO,
            recovered: Decimal::ZERO,
        });
        self.check_fee_lines(a.order_id, p, fee);
    }

    /// The merchant's fee moved from its line to the platform's; the lines sum to the amount.
    fn check_fee_lines(&self, order_id: u64, amount: Decimal, fee: Decimal) {
        let o = self
            .d
            .engine
            .state()
            .orders
            .iter()
            .find(|o| o.id == order_id)
            .expect("the order");
        let sum: i64 = o.split.iter().map(|l| l.amount_minor).sum();
        assert_eq!(dec(sum), amount);
        let platform = o
            .split
            .iter()
            .find(|l| l.role == PartyRole::Platform)
            .map_or(0, |l| l.amount_minor);
        // Profile 1: 10 % to the platform, largest remainder.
        let share = dec(platform) - fee;
        let tenth = amount / Decimal::TEN;
        assert!(
            share == tenth.floor() || share == tenth.ceil(),
            "{share} {amount} {fee}"
        );
    }

    fn pick(&self, pick: usize) -> Option<usize> {
        (!self.m.plans.is_empty()).then(|| pick % self.m.plans.len())
    }

    fn repay(&mut self, pick: usize, wrong: u8, resend: bool) {
        let Some(plan) = self.pick(pick) else { return };
        let mp = &self.m.plans[plan];
        let first = mp.first_unpaid();
        let open = mp.status == PlanStatus::Open;
        let k = first.unwrap_or(0);
        let owed = mp.sched.get(k).map_or(Decimal::ONE, |x| x.owed());
        let (index, amount) = match wrong {
            0 => (k as u16 + 1, owed),
            1 => (k as u16 + 1, owed + Decimal::ONE),
            _ => (k as u16 + 2, owed),
        };
        let msg = InstallmentRepayment {
            order_id: mp.order_id,
            index,
            amount_minor: amount.to_i64().unwrap(),
            reference: 7,
        };
        let out = self.d.admin(&msg);
        let expect_ok = open && wrong == 0;
        assert_eq!(
            acked(&out) == AckStatus::Accepted,
            expect_ok,
            "{msg:?} {mp:?}"
        );
        self.seen[usize::from(expect_ok)] += 1;
        if expect_ok {
            self.m.pay(plan, k);
            self.m.complete_if_done(plan);
        }
        if resend {
            let out = self.d.admin(&msg);
            assert_eq!(
                acked(&out),
                AckStatus::Rejected,
                "a resend cannot double-apply"
            );
        }
    }

    fn early(&mut self, pick: usize, wrong: bool) {
        let Some(plan) = self.pick(pick) else { return };
        let today = self.today();
        let mp = &self.m.plans[plan];
        let open = mp.status == PlanStatus::Open;
        let payoff = mp.payoff(today) + if wrong { Decimal::ONE } else { Decimal::ZERO };
        let msg = InstallmentEarlyRepayment {
            order_id: mp.order_id,
            amount_minor: payoff.to_i64().unwrap(),
            reference: 9,
        };
        let out = self.d.admin(&msg);
        let expect_ok = open && !wrong;
        assert_eq!(acked(&out) == AckStatus::Accepted, expect_ok, "{msg:?}");
        self.seen[2 + usize::from(expect_ok)] += 1;
        if expect_ok {
            let p = &mut self.m.plans[plan];
            for x in p
                .sched
                .iter_mut()
                .filter(|x| x.status == UNPAID && x.due > today)
            {
                x.i = Decimal::ZERO;
            }
            for k in 0..self.m.plans[plan].sched.len() {
                if self.m.plans[plan].sched[k].status == UNPAID {
                    self.m.pay(plan, k);
                }
            }
            self.m.plans[plan].status = PlanStatus::RepaidEarly;
        }
    }

    fn default(&mut self, pick: usize) {
        let Some(plan) = self.pick(pick) else { return };
        let today = self.today();
        let mp = &self.m.plans[plan];
        let allowed = mp.status == PlanStatus::Open
            && mp
                .first_unpaid()
                .is_some_and(|k| today >= mp.sched[k].due + mp.default_after);
        let out = self.d.admin(&InstallmentDefault {
            order_id: mp.order_id,
        });
        assert_eq!(
            acked(&out) == AckStatus::Accepted,
            allowed,
            "{mp:?} today {today}"
        );
        self.seen[4 + usize::from(allowed)] += 1;
        if allowed {
            let p = &mut self.m.plans[plan];
            let mut lost = Decimal::ZERO;
            for x in p.sched.iter_mut().filter(|x| x.status == UNPAID) {
                lost += x.p + x.late;
                x.status = CANCELLED;
            }
            p.written = lost;
            p.status = PlanStatus::Defaulted;
            self.m.written += lost;
        }
    }

    fn refund(&mut self, pick: usize, permille: Option<i64>) {
        let Some(plan) = self.pick(pick) else { return };
        let mp = &self.m.plans[plan];
        let refundable = mp.amount - mp.refunded;
        if refundable.is_zero() {
            return;
        }
        let amount = match permille {
            Some(pm) => (refundable * dec(pm) / dec(1000)).floor().max(Decimal::ONE),
            None => refundable,
        };
        let rid = self.next_refund;
        self.next_refund += 1;
        let req = refund(rid, mp.request_id, amount.to_i64().unwrap());
        let out = self.d.acquirer(ACQUIRER_A, &req);
        if refund_ack(&out).status != AckStatus::Accepted {
            return;
        }
        let rd = refund_dispatch(&out).expect("a refund dispatch").clone();
        let out = self.d.channel(
            rd.channel_id,
            &refund_channel_result(&rd, ChannelOutcome::Succeeded),
        );
        let r = refund_result(&out).expect("a refund result");
        assert_eq!(r.status, FinalStatus::Succeeded);
        self.seen[6 + usize::from(permille.is_none())] += 1;
        self.m.refund(plan, amount);
    }

    fn check(&self, n: usize, s: &Step) {
        let e = &self.d.engine;
        e.verify_ledger()
            .unwrap_or_else(|why| panic!("step {n} {s:?}: {why}"));
        for kind in [PartyKind::Merchant, PartyKind::Platform] {
            let r = e.balance_report(kind, SHOP, 0);
            for b in &r.balances {
                assert!(
                    b.pending_minor >= 0 && b.frozen_minor >= 0,
                    "{kind:?} {b:?}"
                );
                if kind == PartyKind::Merchant {
                    assert!(b.available_minor >= 0, "step {n}: available {b:?}");
                }
            }
        }
        let st = e.state();
        let l = &st.ledger;
        let c = st.limits.currencies.iter().position(|&c| c == CNY).unwrap() as u8;
        let have = [
            l.account(l.installment_receivable(c)).debit_balance(),
            l.account(l.installment_funding(c)).credit_balance(),
            l.account(l.installment_unearned_interest(c))
                .credit_balance(),
            l.account(l.installment_income(c)).credit_balance(),
            l.account(l.installment_write_offs(c)).debit_balance(),
        ]
        .map(Decimal::from);
        assert_eq!(have, self.m.accounts(), "step {n} {s:?}: accounts 17-21");
        for mp in &self.m.plans {
            let plan = e.installments().plan(mp.order_id).expect("the plan");
            same_plan(plan, mp, n);
        }
    }
}

fn same_plan(plan: &Plan, mp: &MPlan, n: usize) {
    let why = || format!("step {n}: engine {plan:?}\nmodel {mp:?}");
    assert_eq!(plan.status, mp.status, "{}", why());
    assert_eq!(plan.count, mp.count);
    assert_eq!(plan.payer_interest, mp.interest_kind);
    assert_eq!(dec(plan.interest_minor), mp.interest, "{}", why());
    assert_eq!(dec(plan.fee_minor), mp.fee, "{}", why());
    assert_eq!(plan.open_day, mp.open_day);
    assert_eq!(dec(plan.paid_minor), mp.paid, "{}", why());
    assert_eq!(dec(plan.interest_paid_minor), mp.interest_paid, "{}", why());
    assert_eq!(dec(plan.late_fees_minor), mp.late_total, "{}", why());
    assert_eq!(dec(plan.written_off_minor), mp.written, "{}", why());
    assert_eq!(dec(plan.recovered_minor), mp.recovered, "{}", why());
    assert_eq!(plan.schedule.len(), mp.sched.len());
    for (x, y) in plan.schedule.iter().zip(&mp.sched) {
        let same = x.due_day == y.due
            && dec(x.principal_minor) == y.p
            && dec(x.interest_minor) == y.i
            && dec(x.late_fee_minor) == y.late
            && x.status == y.status
            && x.late == y.late_flag;
        assert!(same, "{}", why());
    }
}

fn period_of(t: TermsSpec) -> u32 {
    if t.period == 0 {
        30
    } else {
        u32::from(t.period)
    }
}

fn today(d: &Driver) -> u32 {
    day_of(d.engine.now_ns(), OFFSET_SECS)
}

/// Runs `steps` from a fresh world; returns the harness.
fn run(steps: &[Step], t: TermsSpec) -> Harness {
    let mut h = Harness::new(t);
    h.run(steps, t);
    h
}

fn check_replay_and_snapshot(h: &Harness, steps: &[Step], t: TermsSpec) {
    let again = run(steps, t);
    assert_eq!(
        again.d.engine.state_hash(),
        h.d.engine.state_hash(),
        "replay"
    );
    let (hash, bytes) = h.d.engine.snapshot();
    let restored = Engine::from_snapshot(&bytes, hash).expect("the snapshot restores");
    assert_eq!(restored.state_hash(), hash);
    let mut twin = h.d.twin(restored);
    for mp in &h.m.plans {
        let out = twin.admin(&InstallmentQuery {
            order_id: mp.order_id,
        });
        assert!(
            out.iter().any(
                |(_, m)| matches!(m, AnyMessage::InstallmentPlan(p) if p.order_id == mp.order_id)
            ),
            "the restored engine finds plan {}",
            mp.order_id
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn installments_match_the_naive_model(t in terms(), steps in prop::collection::vec(step(), 1..80)) {
        let h = run(&steps, t);
        check_replay_and_snapshot(&h, &steps, t);
    }
}

/// A scripted life of four plans: every path is taken at least once (so the random test's
/// coverage does not rest on chance alone).
#[test]
fn every_path_of_a_plan_is_taken() {
    let t = TermsSpec {
        fee: [150, 300, 600],
        rate: [200, 400, 800],
        late: 500,
        default_after: 10,
        period: 0,
    };
    let pay = |amount, count, interest| Step::Pay {
        amount,
        count,
        interest,
        declined: false,
    };
    let steps = vec![
        pay(100_001, 3, false),
        pay(120_000, 6, true),
        pay(99_999, 12, true),
        pay(50_000, 3, true),
        Step::Pay {
            amount: 5_000,
            count: 6,
            interest: false,
            declined: true,
        },
        Step::Early {
            pick: 3,
            wrong: true,
        },
        Step::Default(3),
        Step::Days(30),
        Step::Repay {
            pick: 0,
            wrong: 0,
            resend: true,
        },
        Step::Repay {
            pick: 1,
            wrong: 1,
            resend: false,
        },
        Step::Days(31),
        Step::Repay {
            pick: 1,
            wrong: 0,
            resend: false,
        },
        Step::Early {
            pick: 1,
            wrong: false,
        },
        Step::Days(15),
        Step::Default(2),
        Step::Refund {
            pick: 0,
            permille: Some(500),
        },
        Step::Refund {
            pick: 0,
            permille: None,
        },
        Step::Refund {
            pick: 2,
            permille: Some(100),
        },
        Step::Refund {
            pick: 3,
            permille: None,
        },
        Step::Query(0),
        Step::Query(1),
        Step::Query(2),
        Step::Query(3),
    ];
    let h = run(&steps, t);
    let status: Vec<_> = h.m.plans.iter().map(|p| p.status).collect();
    assert_eq!(
        status,
        [
            PlanStatus::Unwound,
            PlanStatus::RepaidEarly,
            PlanStatus::Defaulted,
            PlanStatus::Unwound
        ]
    );
    assert!(h.m.late_charged > Decimal::ZERO, "a late fee was charged");
    assert!(
        h.m.recovered > Decimal::ZERO,
        "a refund recovered a write-off"
    );
    assert!(h.seen.iter().all(|&n| n > 0), "every path: {:?}", h.seen);
    check_replay_and_snapshot(&h, &steps, t);
}

fn terms_msg(merchant_id: u32) -> ConfigInstallments {
    ConfigInstallments {
        merchant_id,
        fee_bps_3: 150,
        fee_bps_6: 300,
        fee_bps_12: 600,
        rate_bps_3: 200,
        rate_bps_6: 400,
        rate_bps_12: 800,
        late_fee_bps: 500,
        default_after_days: 30,
        period_days: 0,
    }
}

/// Bad terms, plans and admin inputs are refused with a reason and a text, and change nothing.
#[test]
fn bad_inputs_are_refused_with_reasons_and_change_nothing() {
    let mut genesis = fixture::genesis(1_000);
    genesis.installment_plans_max = 1;
    let mut d = Driver::new(&genesis, fixture::START_NS).unwrap();
    assert!(d.configure(&fixture::config_messages()).is_empty());
    let plan_payment = |d: &mut Driver, request_id: u64, count: u8| {
        let mut req = fixture::payment(request_id, SHOP, 10_000);
        req.installment_count = count;
        let out = d.acquirer(ACQUIRER_A, &req);
        (ack(&out).status, ack(&out).reason)
    };
    // What a refusal must leave as it was (the state hash moves with every input's sequence).
    let books = |d: &Driver| {
        let t = d.engine.installments();
        let s = d.engine.state();
        (
            t.plans.len(),
            t.terms.len(),
            s.orders.len(),
            s.ledger.transfers(),
        )
    };
    // No terms yet: a plan is refused, the payment with it.
    let before = books(&d);
    assert_eq!(
        plan_payment(&mut d, 1, 3),
        (AckStatus::Rejected, ReasonCode::InvalidField)
    );
    assert_eq!(books(&d), before);
    let refused = |d: &mut Driver, m: ConfigInstallments, reason: ReasonCode, text: &str| {
        let out = d.admin(&m);
        let a = config_ack(&out);
        assert_eq!((a.status, a.reason), (AckStatus::Rejected, reason), "{a:?}");
        assert!(a.text.as_str().contains(text), "{a:?}");
    };
    let mut m = terms_msg(0);
    m.rate_bps_12 = 10_001;
    refused(&mut d, m, ReasonCode::InvalidConfig, "10000 bps");
    let mut m = terms_msg(0);
    m.default_after_days = 0;
    refused(&mut d, m, ReasonCode::InvalidConfig, "at least 1");
    let mut m = terms_msg(0);
    m.period_days = 32;
    refused(&mut d, m, ReasonCode::InvalidConfig, "at most 31");
    refused(&mut d, terms_msg(4242), ReasonCode::UnknownMerchant, "4242");
    assert_eq!(books(&d), before, "refusals change nothing");
    configure_ok(&mut d, &terms_msg(0));
    // A length other than 3, 6, 12.
    assert_eq!(
        plan_payment(&mut d, 2, 4),
        (AckStatus::Rejected, ReasonCode::InvalidField)
    );
    // The table holds one plan.
    assert_eq!(plan_payment(&mut d, 3, 6).0, AckStatus::Accepted);
    assert_eq!(
        plan_payment(&mut d, 4, 6),
        (AckStatus::Rejected, ReasonCode::CapacityReached)
    );
    // Queries and repayments of a plan that does not exist.
    let out = d.admin(&InstallmentQuery { order_id: 999 });
    assert_eq!(config_ack(&out).reason, ReasonCode::NotFound);
    let out = d.admin(&InstallmentDefault { order_id: 999 });
    assert!(
        config_ack(&out)
            .text
            .as_str()
            .contains("no installment plan")
    );
    // The plan is Pending until its payment succeeds: nothing to repay yet.
    let order_id = d.engine.installments().plans[0].order_id;
    let out = d.admin(&InstallmentRepayment {
        order_id,
        index: 1,
        amount_minor: 1,
        reference: 0,
    });
    let a = config_ack(&out);
    assert_eq!(a.status, AckStatus::Rejected);
    assert!(a.text.as_str().contains("Pending"), "{a:?}");
}

/// Every movement of a plan is recorded for the exporter when recording is on.
#[test]
fn plans_record_their_finance_events() {
    use sluice_engine::finance_events::FinanceEventKind as K;
    let t = TermsSpec {
        fee: [150, 300, 600],
        rate: [200, 400, 800],
        late: 500,
        default_after: 1,
        period: 7,
    };
    let mut h = Harness::new(t);
    h.d.engine.record_finance_events(true);
    let mut kinds = Vec::new();
    let pay = |h: &mut Harness, amount| {
        let step = Step::Pay {
            amount,
            count: 3,
            interest: true,
            declined: false,
        };
        h.step(&step, t);
        h.m.plans.last().expect("a plan").order_id
    };
    let first = pay(&mut h, 30_000);
    kinds.extend(h.d.engine.finance_events().iter().map(|e| e.kind));
    let second = pay(&mut h, 40_000);
    let third = pay(&mut h, 50_000);
    h.d.advance_ns(9 * DAY_NS);
    h.d.pulse();
    kinds.extend(h.d.engine.finance_events().iter().map(|e| e.kind));
    for index in 1..=3u16 {
        let plan = h.d.engine.installments().plan(first).unwrap();
        let owed = plan.schedule[usize::from(index) - 1].owed_minor();
        let m = InstallmentRepayment {
            order_id: first,
            index,
            amount_minor: owed,
            reference: 0,
        };
        assert_eq!(acked(&h.d.admin(&m)), AckStatus::Accepted);
        kinds.extend(h.d.engine.finance_events().iter().map(|e| e.kind));
    }
    let today = h.today();
    let payoff =
        h.d.engine
            .installments()
            .plan(second)
            .unwrap()
            .payoff_minor(today);
    let m = InstallmentEarlyRepayment {
        order_id: second,
        amount_minor: payoff,
        reference: 0,
    };
    assert_eq!(acked(&h.d.admin(&m)), AckStatus::Accepted);
    kinds.extend(h.d.engine.finance_events().iter().map(|e| e.kind));
    let m = InstallmentDefault { order_id: third };
    assert_eq!(acked(&h.d.admin(&m)), AckStatus::Accepted);
    kinds.extend(h.d.engine.finance_events().iter().map(|e| e.kind));
    h.step(
        &Step::Refund {
            pick: 2,
            permille: None,
        },
        t,
    );
    kinds.extend(h.d.engine.finance_events().iter().map(|e| e.kind));
    for kind in [
        K::PlanOpened,
        K::InstallmentScheduled,
        K::LateFee,
        K::InstallmentRepaid,
        K::PlanCompleted,
        K::PlanRepaidEarly,
        K::PlanDefaulted,
        K::PlanUnwound,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} recorded: {kinds:?}");
    }
    let scheduled = kinds
        .iter()
        .filter(|k| **k == K::InstallmentScheduled)
        .count();
    assert_eq!(scheduled, 3, "one per installment of the first plan");
}
