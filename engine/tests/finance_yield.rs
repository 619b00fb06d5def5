//! The balance yield (docs/YIELD.md) against a naive model in `rust_decimal::Decimal`: random
//! payments, pulses that cross days (settlement, then the day step's sweeps and queued
//! redemptions), opt-ins and opt-outs, published yields (some for refused days), redemptions over
//! the daily limit and resends, snapshot-and-restore. After every input: the ledger balances, no
//! available balance is negative, every holder's principal, accrued yield, queue and the
//! residual equal the model's to the minor unit, and every party's wealth (its balances, its
//! position and its queue) moved only by the yield the model accrued. At the end a replay of the
//! same inputs gives the same state hash.

mod common;
use common::*;
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_engine::{Engine, ROLE_SEQUENCER, day_of};
use sluice_protocol::*;

const HOUR_NS: u64 = 3_600 * 1_000_000_000;
const OFFSET_SECS: i32 = 8 * 3_600;

/// The parties that may opt in: (kind, id).
const PARTIES: [(PartyKind, u32); 7] = [
    (PartyKind::Merchant, SHOP),
    (PartyKind::Merchant, HQ),
    (PartyKind::Merchant, BRANCH),
    (PartyKind::Merchant, DISTRIBUTOR),
    (PartyKind::Merchant, OTHER_SHOP),
    (PartyKind::Promoter, PROMOTER),
    (PartyKind::Promoter, PROMOTER_PARENT),
];
const CURRENCIES: [u16; 2] = [CNY, USD];
/// Where payments go: (merchant, acquirer).
const PAYEES: [(u32, u32); 4] = [
    (SHOP, ACQUIRER_A),
    (BRANCH, ACQUIRER_A),
    (DISTRIBUTOR, ACQUIRER_A),
    (OTHER_SHOP, ACQUIRER_B),
];

#[derive(Debug, Clone)]
enum Step {
    Pay {
        payee: usize,
        promoter: bool,
        amount: i64,
    },
    Hours(u64),
    OptIn {
        party: usize,
        currency: usize,
        keep: i64,
        limit: i64,
    },
    OptOut {
        party: usize,
        currency: usize,
    },
    Publish {
        currency: usize,
        days_back: u32,
        y: i64,
    },
    Redeem {
        party: usize,
        currency: usize,
        /// Per mille of the position (0: the whole position, by amount 0); over 1000: too much.
        per_mille: i64,
    },
    Resend,
    Snapshot,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..PAYEES.len(), any::<bool>(), 100i64..3_000_000)
            .prop_map(|(payee, promoter, amount)| Step::Pay { payee, promoter, amount }),
        3 => (1u64..40).prop_map(Step::Hours),
        2 => (0..PARTIES.len(), 0..4usize, 0i64..200_000, 0i64..500_000).prop_map(
            |(party, c, keep, limit)| Step::OptIn { party, currency: c / 3, keep, limit }
        ),
        1 => (0..PARTIES.len(), 0..2usize).prop_map(|(party, currency)| Step::OptOut { party, currency }),
        3 => (0..4usize, 0u32..3, 0i64..30_000).prop_map(
            |(c, days_back, y)| Step::Publish { currency: c / 3, days_back, y }
        ),
        5 => (0..PARTIES.len(), 0..4usize, 0i64..1_100).prop_map(
            |(party, c, per_mille)| Step::Redeem { party, currency: c / 3, per_mille }
        ),
        1 => Just(Step::Resend),
        1 => Just(Step::Snapshot),
    ]
}

/// One holder in the model.
#[derive(Debug, Clone, Default, PartialEq)]
struct Holder {
    opted_in: bool,
    keep: Decimal,
    limit: Decimal,
    principal: Decimal,
    accrued: Decimal,
    yield_total: Decimal,
    instant_day: u32,
    instant_used: Decimal,
    queued: Decimal,
    due_day: u32,
}

impl Holder {
    fn position(&self) -> Decimal {
        self.principal + self.accrued
    }
}

/// The naive model: holders in order of first opt-in, keyed by (party index, currency index).
#[derive(Default)]
struct Model {
    holders: Vec<((usize, usize), Holder)>,
    residual: [Decimal; 2],
    last_yield_day: [u32; 2],
    through_day: u32,
    /// Per (party, currency): balances + position + queue, as last seen or moved by yield.
    wealth: Vec<Decimal>,
    /// (request id, party, currency, amount, instant, queued).
    redemptions: Vec<(u64, usize, usize, i64, Decimal, Decimal)>,
}

fn dec(v: i64) -> Decimal {
    Decimal::from(v)
}

fn minor(v: Decimal) -> i64 {
    v.to_i64().expect("a whole number of minor units")
}

/// The first Monday-to-Friday day after `day` (the fixture's calendar has no dated entries).
fn next_working_day(day: u32) -> u32 {
    (day + 1..)
        .find(|&d| (i64::from(d) + 3).rem_euclid(7) < 5)
        .unwrap()
}

struct Harness {
    d: Driver,
    m: Model,
    next_request: u64,
    /// Every input applied, for the replay.
    inputs: Vec<(u64, AnyMessage, Sender)>,
}

#[derive(Debug, Clone, Copy)]
enum Sender {
    Admin,
    Acquirer(u32),
    Channel(u16),
    Pulse,
}

impl Harness {
    fn new() -> Harness {
        let mut d = small_world(4_096);
        d.engine.record_finance_events(true);
        let mut h = Harness {
            d,
            m: Model::default(),
            next_request: 1,
            inputs: vec![],
        };
        h.m.wealth = vec![Decimal::ZERO; PARTIES.len() * CURRENCIES.len()];
        h.resync_wealth();
        h
    }

    fn today(&self) -> u32 {
        day_of(self.d.now_ns(), OFFSET_SECS)
    }

    fn send<M: Message + Clone + Into<AnyMessage>>(&mut self, who: Sender, msg: &M) -> Out {
        self.inputs.push((self.d.now_ns(), msg.clone().into(), who));
        match who {
            Sender::Admin => self.d.admin(msg),
            Sender::Acquirer(a) => self.d.acquirer(a, msg),
            Sender::Channel(c) => self.d.channel(c, msg),
            Sender::Pulse => unreachable!(),
        }
    }

    fn pulse(&mut self) {
        self.inputs
            .push((self.d.now_ns(), Pulse { flags: 0 }.into(), Sender::Pulse));
        self.d.pulse();
    }

    /// Balances + position + queue of every (party, currency), from the engine.
    fn observed_wealth(&mut self, p: usize, c: usize) -> Decimal {
        let (kind, id) = PARTIES[p];
        let (pending, available, frozen) = balance(&mut self.d, kind, id, CURRENCIES[c]);
        let held = self
            .m
            .holder(p, c)
            .map_or(Decimal::ZERO, |h| h.position() + h.queued);
        dec(pending) + dec(available) + dec(frozen) + held
    }

    fn resync_wealth(&mut self) {
        for p in 0..PARTIES.len() {
            for c in 0..CURRENCIES.len() {
                self.m.wealth[p * CURRENCIES.len() + c] = self.observed_wealth(p, c);
            }
        }
    }

    fn run(&mut self, step: &Step) {
        match *step {
            Step::Pay {
                payee,
                promoter,
                amount,
            } => self.pay(payee, promoter, amount),
            Step::Hours(h) => {
                self.d.advance_ns(h * HOUR_NS);
                self.pulse();
                self.day_step();
            }
            Step::OptIn {
                party,
                currency,
                keep,
                limit,
            } => self.opt_in(party, currency, keep, limit),
            Step::OptOut { party, currency } => self.opt_out(party, currency),
            Step::Publish {
                currency,
                days_back,
                y,
            } => self.publish(currency, days_back, y),
            Step::Redeem {
                party,
                currency,
                per_mille,
            } => self.redeem(party, currency, per_mille),
            Step::Resend => self.resend(),
            Step::Snapshot => self.snapshot(),
        }
        self.check();
    }

    fn pay(&mut self, payee: usize, promoter: bool, amount: i64) {
        let (merchant, acquirer) = PAYEES[payee];
        let mut req = payment(self.next_request, merchant, amount);
        self.next_request += 1;
        if promoter {
            req.promoter_id = PROMOTER;
        }
        let out = self.send(Sender::Acquirer(acquirer), &req);
        if let Some(disp) = dispatch(&out).cloned() {
            self.send(
                Sender::Channel(disp.channel_id),
                &channel_result(&disp, ChannelOutcome::Succeeded),
            );
        }
        // Payments change balances by split shares the model does not compute.
        self.resync_wealth();
    }
}

impl Model {
    fn holder(&self, p: usize, c: usize) -> Option<&Holder> {
        self.holders
            .iter()
            .find(|(k, _)| *k == (p, c))
            .map(|(_, h)| h)
    }

    fn holder_mut(&mut self, p: usize, c: usize) -> Option<&mut Holder> {
        self.holders
            .iter_mut()
            .find(|(k, _)| *k == (p, c))
            .map(|(_, h)| h)
    }

    /// Pays a queued redemption whose day has come.
    fn pay_queued(h: &mut Holder, today: u32) {
        if h.queued > Decimal::ZERO && h.due_day <= today {
            h.queued = Decimal::ZERO;
            h.due_day = 0;
        }
    }

    /// Redeems `amount`: (instant, queued).
    fn redeem(h: &mut Holder, amount: Decimal, today: u32) -> (Decimal, Decimal) {
        Model::pay_queued(h, today);
        if h.instant_day != today {
            h.instant_day = today;
            h.instant_used = Decimal::ZERO;
        }
        let left = (h.limit - h.instant_used).max(Decimal::ZERO);
        let instant = amount.min(left);
        let queued = amount - instant;
        let from_yield = amount.min(h.accrued);
        h.accrued -= from_yield;
        h.principal -= amount - from_yield;
        h.instant_used += instant;
        if queued > Decimal::ZERO {
            h.queued += queued;
            h.due_day = next_working_day(today);
        }
        (instant, queued)
    }
}

impl Harness {
    fn ack_of(out: &Out, template: u16) -> ConfigAck {
        let a = config_ack(out).clone();
        assert_eq!(a.ref_template_id, template);
        a
    }

    fn opt_in(&mut self, p: usize, c: usize, keep: i64, limit: i64) {
        let (kind, id) = PARTIES[p];
        let msg = ConfigYield {
            party_kind: kind,
            party_id: id,
            currency: CURRENCIES[c],
            opt_in: true,
            keep_minimum_minor: keep,
            instant_limit_minor: limit,
        };
        let a = Self::ack_of(&self.send(Sender::Admin, &msg), ConfigYield::TEMPLATE_ID);
        assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
        if self.m.holder(p, c).is_none() {
            self.m.holders.push(((p, c), Holder::default()));
        }
        let h = self.m.holder_mut(p, c).unwrap();
        h.opted_in = true;
        h.keep = dec(keep);
        h.limit = dec(limit);
    }

    fn opt_out(&mut self, p: usize, c: usize) {
        let (kind, id) = PARTIES[p];
        let msg = ConfigYield {
            party_kind: kind,
            party_id: id,
            currency: CURRENCIES[c],
            opt_in: false,
            keep_minimum_minor: 0,
            instant_limit_minor: 0,
        };
        let before = self.d.engine.content_hash();
        let today = self.today();
        let a = Self::ack_of(&self.send(Sender::Admin, &msg), ConfigYield::TEMPLATE_ID);
        match self.m.holder_mut(p, c).filter(|h| h.opted_in) {
            None => {
                assert_eq!(a.reason, ReasonCode::InvalidField, "{a:?}");
                assert_eq!(self.d.engine.content_hash(), before);
            }
            Some(h) => {
                assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
                let all = h.position();
                Model::redeem(h, all, today);
                h.opted_in = false;
            }
        }
    }

    fn publish(&mut self, c: usize, days_back: u32, y: i64) {
        let today = self.today();
        let day = today - days_back;
        let msg = FundYield {
            currency: CURRENCIES[c],
            day,
            yield_per_10k_e4: y,
        };
        let before = self.d.engine.content_hash();
        let a = Self::ack_of(&self.send(Sender::Admin, &msg), FundYield::TEMPLATE_ID);
        if day <= self.m.last_yield_day[c] {
            assert_eq!(
                (a.status, a.reason),
                (AckStatus::Rejected, ReasonCode::InvalidField)
            );
            assert_eq!(self.d.engine.content_hash(), before);
            return;
        }
        assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
        self.m.last_yield_day[c] = day;
        let scale = dec(100_000_000);
        let yd = dec(y);
        let mut sum = Decimal::ZERO;
        let mut shares = Decimal::ZERO;
        let mut credited = vec![];
        for ((p, hc), h) in self.m.holders.iter_mut() {
            if *hc != c {
                continue;
            }
            sum += h.position();
            let share = (h.position() * yd / scale).floor();
            h.accrued += share;
            h.yield_total += share;
            shares += share;
            credited.push((*p, share));
        }
        let total = (sum * yd / scale).floor();
        assert!(total >= shares);
        self.m.residual[c] += total - shares;
        for (p, share) in credited {
            self.m.wealth[p * CURRENCIES.len() + c] += share;
        }
    }

    fn redeem(&mut self, p: usize, c: usize, per_mille: i64) {
        let position = self.m.holder(p, c).map_or(Decimal::ZERO, Holder::position);
        let amount = (position * dec(per_mille) / dec(1000)).floor();
        let amount = if per_mille == 0 {
            0
        } else {
            minor(amount).max(1)
        };
        let request_id = self.next_request;
        self.next_request += 1;
        self.redeem_as(request_id, p, c, amount);
    }

    fn redeem_as(&mut self, request_id: u64, p: usize, c: usize, amount: i64) {
        let (kind, id) = PARTIES[p];
        let msg = YieldRedeem {
            request_id,
            party_kind: kind,
            party_id: id,
            currency: CURRENCIES[c],
            amount_minor: amount,
        };
        let today = self.today();
        let before = self.d.engine.content_hash();
        let a = Self::ack_of(&self.send(Sender::Admin, &msg), YieldRedeem::TEMPLATE_ID);
        let unchanged = |h: &Self| assert_eq!(h.d.engine.content_hash(), before);
        if let Some(r) = self
            .m
            .redemptions
            .iter()
            .find(|r| r.0 == request_id)
            .cloned()
        {
            if (r.1, r.2, r.3) == (p, c, amount) {
                assert_eq!(a.status, AckStatus::Accepted);
                assert_eq!(a.text.as_str(), format!("instant {}, queued {}", r.4, r.5));
            } else {
                assert_eq!(a.reason, ReasonCode::DuplicateRequestMismatch);
            }
            return unchanged(self);
        }
        let Some(h) = self.m.holder_mut(p, c) else {
            assert_eq!(a.reason, ReasonCode::NotFound, "{a:?}");
            return unchanged(self);
        };
        let want = if amount == 0 {
            h.position()
        } else {
            dec(amount)
        };
        if want <= Decimal::ZERO {
            assert_eq!(a.reason, ReasonCode::AmountNotPositive, "{a:?}");
            return unchanged(self);
        }
        if want > h.position() {
            assert_eq!(a.reason, ReasonCode::InsufficientBalance, "{a:?}");
            return unchanged(self);
        }
        let (instant, queued) = Model::redeem(h, want, today);
        assert_eq!(a.status, AckStatus::Accepted, "{a:?}");
        assert_eq!(
            a.text.as_str(),
            format!("instant {instant}, queued {queued}")
        );
        self.m
            .redemptions
            .push((request_id, p, c, amount, instant, queued));
    }

    /// A redemption request sent again: the same fields (answered alike, nothing moves) or, one
    /// time in two, other fields under the same id (refused).
    fn resend(&mut self) {
        let Some(&(id, p, c, amount, _, _)) = self.m.redemptions.last() else {
            return;
        };
        let amount = if id % 2 == 0 { amount + 1 } else { amount };
        self.redeem_as(id, p, c, amount);
    }

    /// After a pulse: when the day step ran, queued redemptions due were paid and every opted-in
    /// holder's available above its minimum was swept (the amount is what the engine's
    /// position grew by; the wealth check and "available == minimum" pin it).
    fn day_step(&mut self) {
        let today = self.today();
        if today <= self.m.through_day {
            return;
        }
        self.m.through_day = today;
        let engine_holders = self.d.engine.yields().holders.clone();
        for (i, e) in engine_holders.iter().enumerate() {
            let ((p, c), _) = self.m.holders[i];
            let (kind, id) = PARTIES[p];
            let available = balance(&mut self.d, kind, id, CURRENCIES[c]).1;
            let h = &mut self.m.holders[i].1;
            Model::pay_queued(h, today);
            let swept = dec(e.principal_minor) - h.principal;
            assert!(swept >= Decimal::ZERO, "a sweep never takes principal out");
            if !h.opted_in {
                assert_eq!(swept, Decimal::ZERO);
                continue;
            }
            if swept > Decimal::ZERO {
                assert_eq!(dec(available), h.keep, "a sweep leaves the kept minimum");
            } else {
                assert!(
                    dec(available) <= h.keep,
                    "available above the minimum not swept"
                );
            }
            h.principal += swept;
        }
    }

    fn snapshot(&mut self) {
        let engine = &self.d.engine;
        let (hash, bytes) = engine.snapshot();
        let mut restored = Engine::from_snapshot(&bytes, hash).expect("snapshot restores");
        assert_eq!(restored.state_hash(), engine.state_hash());
        restored.record_finance_events(true);
        self.d.engine = restored;
    }

    fn check(&mut self) {
        self.d.engine.verify_ledger().unwrap();
        let y = self.d.engine.yields();
        y.verify().unwrap();
        assert_eq!(y.holders.len(), self.m.holders.len());
        for (e, ((p, c), h)) in y.holders.iter().zip(&self.m.holders) {
            assert_eq!((e.party_id, e.currency_slot as usize), (PARTIES[*p].1, *c));
            let got = (
                e.opted_in,
                e.principal_minor,
                e.accrued_minor,
                e.yield_total_minor,
                e.queued_minor,
                e.queued_due_day,
            );
            let want = (
                h.opted_in,
                minor(h.principal),
                minor(h.accrued),
                minor(h.yield_total),
                minor(h.queued),
                h.due_day,
            );
            assert_eq!(got, want, "holder {:?}", PARTIES[*p]);
        }
        for c in 0..CURRENCIES.len() {
            assert_eq!(dec(y.totals[c].residual_minor), self.m.residual[c]);
        }
        for (p, &(kind, id)) in PARTIES.iter().enumerate() {
            for (c, &currency) in CURRENCIES.iter().enumerate() {
                let available = balance(&mut self.d, kind, id, currency).1;
                assert!(available >= 0, "{:?} available {available}", PARTIES[p]);
                let seen = self.observed_wealth(p, c);
                assert_eq!(
                    seen,
                    self.m.wealth[p * CURRENCIES.len() + c],
                    "{:?}",
                    PARTIES[p]
                );
            }
        }
    }

    /// The same inputs from scratch (no snapshot) give the same state.
    fn replay(&self) -> Engine {
        let mut d = small_world(4_096);
        for (at, msg, who) in &self.inputs {
            d.set_time_ns(*at);
            let (session, principal, role) = match *who {
                Sender::Admin => (1, 1, Role::Admin as u8),
                Sender::Acquirer(a) => (u64::from(a) * 1000, a, Role::Acquirer as u8),
                Sender::Channel(c) => (900_000 + u64::from(c), u32::from(c), Role::Channel as u8),
                Sender::Pulse => (0, 0, ROLE_SEQUENCER),
            };
            d.apply_any(session, principal, role, msg);
        }
        d.engine
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn yield_matches_the_naive_model(steps in proptest::collection::vec(step(), 20..200)) {
        let mut h = Harness::new();
        for s in &steps {
            h.run(s);
        }
        // A last day crossing pays everything queued and sweeps again.
        for _ in 0..4 {
            h.run(&Step::Hours(24));
        }
            let replayed = h.replay();
        prop_assert_eq!(replayed.state_hash(), h.d.engine.state_hash());
    }
}

/// A scripted case: opt in, a day's sweep, a yield with a residual, a redemption over the limit
/// paid on the next working day; refusals change nothing.
#[test]
fn a_month_in_small() {
    let mut h = Harness::new();
    h.run(&Step::OptIn {
        party: 0,
        currency: 0,
        keep: 1_000,
        limit: 50_000,
    });
    h.run(&Step::OptIn {
        party: 4,
        currency: 0,
        keep: 0,
        limit: 0,
    });
    for i in 0..6 {
        h.run(&Step::Pay {
            payee: i % 4,
            promoter: i % 2 == 0,
            amount: 1_234_567,
        });
    }
    for _ in 0..3 {
        h.run(&Step::Hours(24));
    }
    let shop = h.m.holder(0, 0).unwrap().clone();
    assert!(shop.principal > Decimal::ZERO, "{shop:?}");
    h.run(&Step::Publish {
        currency: 0,
        days_back: 1,
        y: 6_543,
    });
    assert!(h.m.holder(0, 0).unwrap().accrued > Decimal::ZERO);
    // Refused: the same day again, a future day.
    h.run(&Step::Publish {
        currency: 0,
        days_back: 1,
        y: 6_543,
    });
    let before = h.d.engine.content_hash();
    let future = FundYield {
        currency: CNY,
        day: h.today() + 1,
        yield_per_10k_e4: 1,
    };
    let a = Harness::ack_of(&h.send(Sender::Admin, &future), FundYield::TEMPLATE_ID);
    assert_eq!(a.reason, ReasonCode::InvalidField);
    assert_eq!(h.d.engine.content_hash(), before);
    h.run(&Step::Redeem {
        party: 0,
        currency: 0,
        per_mille: 0,
    });
    assert!(h.m.holder(0, 0).unwrap().queued > Decimal::ZERO);
    h.run(&Step::Resend);
    for _ in 0..4 {
        h.run(&Step::Hours(24));
    }
    assert_eq!(h.m.holder(0, 0).unwrap().queued, Decimal::ZERO);
    h.run(&Step::OptOut {
        party: 4,
        currency: 0,
    });
    h.run(&Step::OptOut {
        party: 4,
        currency: 0,
    });
    assert_eq!(h.replay().state_hash(), h.d.engine.state_hash());
}
