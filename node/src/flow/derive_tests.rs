//! Derivation over the engine's reference world: payments with failovers, refunds, settlement
//! days and withdrawals; the ledger transfers sum to every account exactly as the ledger holds it.

use std::collections::BTreeMap;

use sluice_engine::driver::Driver;
use sluice_engine::fixture::{self, ACQUIRER_A, CNY, SHOP};
use sluice_engine::{Dest, NS_PER_DAY};
use sluice_protocol::*;

use super::derive::{DeriveState, derive_of};
use super::rows::Rows;

pub(super) struct World {
    pub(super) d: Driver,
    pub(super) state: DeriveState,
    pub(super) rows: Rows,
}

pub(super) type Out = Vec<(Dest, AnyMessage)>;

impl World {
    pub(super) fn new() -> World {
        let mut d = Driver::new(&fixture::genesis(10_000), fixture::START_NS).unwrap();
        d.engine.record_transfers(true);
        d.engine.record_payouts(true);
        d.engine.record_dispute_events(true);
        let state = DeriveState::new(&d.engine);
        let mut w = World {
            d,
            state,
            rows: Rows::default(),
        };
        for m in fixture::config_messages() {
            w.d.apply_any(1, 1, Role::Admin as u8, &m);
            w.derive(Some(m));
        }
        w
    }

    pub(super) fn derive(&mut self, message: Option<AnyMessage>) -> Out {
        let seq = self.d.next_seq() - 1;
        derive_of(
            seq,
            self.d.now_ns(),
            message.as_ref(),
            &self.d.engine,
            self.d.outbox(),
            &mut self.state,
            &mut self.rows,
        );
        self.d.decoded()
    }

    pub(super) fn acquirer<M: Message + Clone + Into<AnyMessage>>(&mut self, msg: &M) -> Out {
        self.d.acquirer(ACQUIRER_A, msg);
        self.derive(Some(msg.clone().into()))
    }

    pub(super) fn channel<M: Message + Clone + Into<AnyMessage>>(
        &mut self,
        channel: u16,
        msg: &M,
    ) -> Out {
        self.d.channel(channel, msg);
        self.derive(Some(msg.clone().into()))
    }

    fn pulse(&mut self) {
        self.d.pulse();
        self.derive(Some(Pulse { flags: 0 }.into()));
    }

    /// Pays; the first `fail_first` dispatches fail over; returns the payment's final result.
    pub(super) fn pay(
        &mut self,
        request_id: u64,
        amount: i64,
        fail_first: usize,
    ) -> Option<PaymentResult> {
        self.d.advance_ns(2_000_000_000);
        let mut out = self.acquirer(&fixture::payment(request_id, SHOP, amount));
        for n in 0.. {
            let disp = dispatch(&out)?;
            let outcome = if n < fail_first {
                ChannelOutcome::RetryableError
            } else {
                ChannelOutcome::Succeeded
            };
            let answer = ChannelResult {
                order_id: disp.order_id,
                attempt: disp.attempt,
                outcome,
                channel_code: 0,
                latency_us: 1_500,
                channel_ref: Chars::new("ref"),
            };
            out = self.channel(disp.channel_id, &answer);
            if let Some(r) = find(&out, |m| match m {
                AnyMessage::PaymentResult(r) => Some(r.clone()),
                _ => None,
            }) {
                return Some(r);
            }
        }
        unreachable!()
    }

    fn refund(&mut self, refund_request_id: u64, payment_request_id: u64, amount: i64) {
        let out = self.acquirer(&RefundRequest {
            refund_request_id,
            payment_request_id,
            amount_minor: amount,
        });
        let x = find(&out, |m| match m {
            AnyMessage::RefundDispatch(x) => Some(x.clone()),
            _ => None,
        })
        .expect("a refund dispatch");
        let answer = RefundChannelResult {
            refund_id: x.refund_id,
            outcome: ChannelOutcome::Succeeded,
            channel_code: 0,
            latency_us: 900,
            channel_ref: Chars::new("rref"),
        };
        self.channel(x.channel_id, &answer);
    }
}

pub(super) fn find<T>(out: &Out, f: impl Fn(&AnyMessage) -> Option<T>) -> Option<T> {
    out.iter().find_map(|(_, m)| f(m))
}

pub(super) fn dispatch(out: &Out) -> Option<Dispatch> {
    find(out, |m| match m {
        AnyMessage::Dispatch(d) => Some(d.clone()),
        _ => None,
    })
}

/// An account's key in the rows: (kind, owner, role, currency).
type Key = (String, i32, String, i32);

/// (debits pending, debits posted, credits pending, credits posted), signed.
type Sums = [i128; 4];

pub(super) fn sums_from_rows(rows: &Rows) -> BTreeMap<Key, Sums> {
    let mut sums: BTreeMap<Key, Sums> = BTreeMap::new();
    for t in &rows.ledger_transfers {
        let a = i128::from(t.amount_minor);
        let (pending, posted) = match t.phase.as_str() {
            "post" => (0, a),
            "reserve" => (a, 0),
            "post_reserved" => (-a, a),
            "void_reserved" => (-a, 0),
            other => panic!("phase {other}"),
        };
        let d = (
            t.debit_kind.clone(),
            t.debit_owner,
            t.debit_role.clone(),
            t.currency,
        );
        let c = (
            t.credit_kind.clone(),
            t.credit_owner,
            t.credit_role.clone(),
            t.currency,
        );
        let ds = sums.entry(d).or_default();
        ds[0] += pending;
        ds[1] += posted;
        let cs = sums.entry(c).or_default();
        cs[2] += pending;
        cs[3] += posted;
    }
    sums.retain(|_, s| s.iter().any(|x| *x != 0));
    sums
}

pub(super) fn sums_from_ledger(d: &Driver) -> BTreeMap<Key, Sums> {
    let ledger = &d.engine.state().ledger;
    let mut sums = BTreeMap::new();
    for id in 0..ledger.accounts_len() as u32 {
        let a = ledger.account(id);
        let s = [
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
        ]
        .map(|x| x as i128);
        if s.iter().all(|x| *x == 0) {
            continue;
        }
        let n = d
            .engine
            .describe_account(id)
            .expect("an account the ledger holds");
        let role = n.party.map_or_else(String::new, |k| k.name().to_string());
        sums.insert(
            (
                n.kind.to_string(),
                n.owner as i32,
                role,
                i32::from(n.currency),
            ),
            s,
        );
    }
    sums
}

#[test]
fn rows_tie_out_to_the_ledger_through_payments_refunds_settlement_and_withdrawals() {
    let mut w = World::new();
    let mut succeeded = 0;
    let mut finished = 0;
    for i in 1..=40u64 {
        let fail_first = usize::from(i % 4 == 0);
        if let Some(r) = w.pay(i, 1_000 + i as i64 * 37, fail_first) {
            finished += 1;
            succeeded += usize::from(r.status == FinalStatus::Succeeded);
        }
    }
    assert!(succeeded > 30, "{succeeded}");
    w.refund(9001, 3, 500);
    w.refund(9002, 4, 200);
    w.refund(9003, 4, 100);
    for _ in 0..10 {
        w.d.advance_ns(NS_PER_DAY);
        w.pulse();
    }
    let available = w.d.engine.balance_report(PartyKind::Merchant, SHOP, 0);
    let available = available
        .balances
        .iter()
        .find(|b| b.currency == CNY)
        .unwrap()
        .available_minor;
    assert!(available > 0);
    let out = w.acquirer(&WithdrawRequest {
        withdraw_request_id: 77,
        merchant_id: SHOP,
        currency: CNY,
        amount_minor: available / 2,
    });
    // The payout channel pays it (schema 7: the WithdrawResult is the payout's outcome).
    let payout_id = out
        .iter()
        .find_map(|(_, m)| match m {
            AnyMessage::PayoutDispatch(p) => Some(p.payout_id),
            _ => None,
        })
        .expect("the withdrawal is sent");
    w.channel(
        fixture::BANK_TRANSFER,
        &PayoutChannelResult {
            payout_id,
            status: PayoutChannelStatus::Paid,
            channel_code: 0,
            channel_ref: Chars::new("bank"),
        },
    );
    w.d.engine.verify_ledger().unwrap();
    check(&w, finished);
}

fn check(w: &World, finished: usize) {
    let rows = &w.rows;
    assert_eq!(sums_from_rows(rows), sums_from_ledger(&w.d));
    assert_eq!(rows.orders.len(), 40);
    assert_eq!(rows.payment_results.len(), finished);
    assert!(!rows.routing_candidates.is_empty());
    assert!(
        rows.attempts.iter().any(|a| a.attempt > 1),
        "failovers are attempts"
    );
    assert_eq!(rows.refunds.len(), 3);
    assert_eq!(rows.refund_results.len(), 3);
    // Schema 7: the withdrawal is accepted and sent, then the channel pays it.
    let answers: Vec<(&str, &str)> = rows
        .withdrawals
        .iter()
        .map(|w| (w.message.as_str(), w.status.as_str()))
        .collect();
    assert_eq!(
        answers,
        [("WithdrawAck", "Accepted"), ("WithdrawResult", "Succeeded")]
    );
    let states: Vec<&str> = rows.payouts.iter().map(|p| p.state.as_str()).collect();
    assert_eq!(states, ["Sent", "Paid"]);
    for kind in ["settled", "frozen", "released"] {
        assert!(rows.settlements.iter().any(|s| s.kind == kind), "{kind}");
    }
    // Split lines per order sum to its amount less what was refunded.
    for r in rows
        .payment_results
        .iter()
        .filter(|r| r.status == "Succeeded")
    {
        let lines: i64 = rows
            .split_lines
            .iter()
            .filter(|l| l.order_id == r.order_id)
            .map(|l| l.amount_minor)
            .sum();
        let refunded: i64 = rows
            .refund_results
            .iter()
            .filter(|x| x.order_id == r.order_id && x.status == "Succeeded")
            .map(|x| x.amount_minor)
            .sum();
        assert_eq!(lines, r.amount_minor - refunded, "order {}", r.order_id);
    }
    let first = &rows.payment_results[0];
    // The fixture starts at 16:00 UTC: in the settlement calendar (UTC+8) the next day.
    assert_eq!(fixture::START_NS / NS_PER_DAY, 20_417);
    assert_eq!(first.day.0, 20_418);
    let mut keys: Vec<(i64, i32)> = rows
        .ledger_transfers
        .iter()
        .map(|t| (t.seq, t.ordinal))
        .collect();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "(seq, ordinal) is a key");
}

#[test]
fn the_recorder_changes_no_state_hash() {
    let mut on = Driver::new(&fixture::genesis(1_000), fixture::START_NS).unwrap();
    let mut off = Driver::new(&fixture::genesis(1_000), fixture::START_NS).unwrap();
    on.engine.record_transfers(true);
    for d in [&mut on, &mut off] {
        d.configure(&fixture::config_messages());
        let out = d.acquirer(ACQUIRER_A, &fixture::payment(1, SHOP, 5_000));
        let disp = dispatch(&out).unwrap();
        d.channel(
            disp.channel_id,
            &ChannelResult {
                order_id: disp.order_id,
                attempt: disp.attempt,
                outcome: ChannelOutcome::Succeeded,
                channel_code: 0,
                latency_us: 1,
                channel_ref: Chars::new("r"),
            },
        );
    }
    assert!(!on.engine.recorded_transfers().is_empty());
    assert!(off.engine.recorded_transfers().is_empty());
    assert_eq!(on.engine.state_hash(), off.engine.state_hash());
    assert_eq!(
        on.engine.snapshot().1.as_slice(),
        off.engine.snapshot().1.as_slice()
    );
}

#[test]
fn the_deciding_rule_and_every_matching_shadow_rule_are_risk_hits() {
    let mut w = World::new();
    let shadow = ConfigRiskRule {
        rule_id: 50,
        name: Chars::new("shadow_amount"),
        target: RuleTarget::Payment,
        feature: RiskFeature::SingleAmount,
        entity: RiskEntity::None,
        window: RiskWindow::None,
        comparison: Comparison::Greater,
        threshold: 2_000,
        action: RiskAction::Block,
        shadow: true,
        status: Activity::Active,
        merchant_id: 0,
        goods_category: 0,
    };
    w.d.apply_any(1, 1, Role::Admin as u8, &shadow.clone().into());
    w.derive(Some(shadow.into()));
    w.pay(1, 1_500, 0).expect("paid");
    w.pay(2, 2_500, 0).expect("paid");
    let out = w.acquirer(&fixture::payment(3, SHOP, 6_000_000));
    let ack = find(&out, |m| match m {
        AnyMessage::PaymentAck(a) => Some(a.clone()),
        _ => None,
    })
    .unwrap();
    assert_eq!(ack.status, AckStatus::Rejected);
    let hits: Vec<(i32, bool, &str)> = w
        .rows
        .risk_hits
        .iter()
        .map(|h| (h.rule_id, h.shadow, h.subject.as_str()))
        .collect();
    assert_eq!(
        hits,
        vec![
            (50, true, "payment"),
            (ack.risk_rule_id as i32, false, "payment"),
            (50, true, "payment"),
        ]
    );
    let decided = &w.rows.risk_hits[1];
    assert_eq!(
        (decided.amount_minor, decided.merchant_id),
        (6_000_000, SHOP as i32)
    );
    assert_eq!(decided.action, ack.risk_action.name());
}

impl World {
    pub(super) fn admin<M: Message + Clone + Into<AnyMessage>>(&mut self, msg: &M) -> Out {
        self.d.admin(msg);
        self.derive(Some(msg.clone().into()))
    }
}

#[test]
fn settlements_discrepancies_and_returned_fees_are_rows_that_tie_out_to_the_ledger() {
    let mut w = World::new();
    for mut c in fixture::channels() {
        c.refund_fee = RefundFeePolicy::ProRata;
        w.admin(&c);
    }
    let paid = w.pay(1, 10_000, 0).expect("a result");
    assert_eq!(paid.status, FinalStatus::Succeeded);
    w.refund(9001, 1, 5_000);
    let refund = w.rows.refund_results.last().expect("a refund result");
    assert_eq!(refund.fee_returned_minor, (paid.fee_minor + 1) / 2);
    let batch = ChannelSettlement {
        channel_id: paid.channel_id,
        currency: CNY,
        batch_id: 20_418,
        paid_minor: 4_000,
        fee_difference_minor: -3,
        first_day: 20_418,
        last_day: 20_418,
        batch_ref: codec::text("20261126"),
    };
    w.admin(&batch);
    w.admin(&batch); // DuplicateBatch: no row
    let open = Discrepancy {
        op: DiscrepancyOp::Open,
        discrepancy_id: 77,
        channel_id: paid.channel_id,
        class: DiscrepancyClass::FeeMismatch,
        currency: CNY,
        order_id: paid.order_id,
        attempt: 1,
        amount_minor: 3,
        note: codec::text("fee 0.03 more"),
        ..Default::default()
    };
    w.admin(&open);
    w.admin(&open); // DiscrepancyExists: no row
    w.admin(&Discrepancy {
        op: DiscrepancyOp::Resolve,
        write_off_minor: 3,
        note: codec::text("written off"),
        ..open.clone()
    });
    let s = &w.rows.channel_settlements;
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0].batch_id, s[0].paid_minor, s[0].fee_difference_minor),
        (20_418, 4_000, -3)
    );
    assert_eq!(s[0].batch_ref, "20261126");
    let d: Vec<_> = w
        .rows
        .discrepancies
        .iter()
        .map(|r| {
            (
                r.op.as_str(),
                r.discrepancy_id,
                r.class.as_str(),
                r.write_off_minor,
            )
        })
        .collect();
    assert_eq!(
        d,
        [
            ("Open", 77, "FeeMismatch", 0),
            ("Resolve", 77, "FeeMismatch", 3)
        ]
    );
    assert_eq!(sums_from_rows(&w.rows), sums_from_ledger(&w.d));
}

/// Withdraws `amount` for SHOP: the ack and, when sent, its dispatch.
fn withdraw(w: &mut World, id: u64, amount: i64) -> (WithdrawAck, Option<PayoutDispatch>) {
    let out = w.acquirer(&WithdrawRequest {
        withdraw_request_id: id,
        merchant_id: SHOP,
        currency: CNY,
        amount_minor: amount,
    });
    let ack = find(&out, |m| match m {
        AnyMessage::WithdrawAck(a) => Some(a.clone()),
        _ => None,
    })
    .expect("a WithdrawAck");
    let dispatch = find(&out, |m| match m {
        AnyMessage::PayoutDispatch(p) => Some(p.clone()),
        _ => None,
    });
    (ack, dispatch)
}

fn payout_answer(w: &mut World, payout_id: u64, status: PayoutChannelStatus, code: u16) -> Out {
    w.channel(
        fixture::BANK_TRANSFER,
        &PayoutChannelResult {
            payout_id,
            status,
            channel_code: code,
            channel_ref: Chars::new("bank-ref"),
        },
    )
}

#[test]
fn payouts_paid_failed_and_returned_are_rows_that_tie_out_to_the_ledger() {
    let mut w = World::new();
    for i in 1..=10u64 {
        w.pay(i, 2_000, 0).expect("a result");
    }
    for _ in 0..10 {
        w.d.advance_ns(NS_PER_DAY);
        w.pulse();
    }
    let (ack, dispatch) = withdraw(&mut w, 1, 4_000);
    assert_eq!(
        (ack.status, ack.state),
        (AckStatus::Accepted, PayoutState::Sent)
    );
    let paid = dispatch.expect("sent at once").payout_id;
    payout_answer(&mut w, paid, PayoutChannelStatus::Paid, 0);
    let (_, dispatch) = withdraw(&mut w, 2, 1_000);
    let failed = dispatch.expect("sent at once").payout_id;
    payout_answer(&mut w, failed, PayoutChannelStatus::Failed, 51);
    w.d.advance_ns(NS_PER_DAY);
    payout_answer(&mut w, paid, PayoutChannelStatus::Returned, 7);
    // A refused withdrawal (more than the balance) is an ack row, not a payout.
    let (refused, _) = withdraw(&mut w, 3, i64::MAX / 4);
    assert_eq!(refused.status, AckStatus::Rejected);
    w.d.engine.verify_ledger().unwrap();
    let rows = &w.rows;
    assert_eq!(sums_from_rows(rows), sums_from_ledger(&w.d));
    let states: Vec<(i64, &str, &str, i32)> = rows
        .payouts
        .iter()
        .map(|p| {
            (
                p.payout_id,
                p.state.as_str(),
                p.reason.as_str(),
                p.channel_code,
            )
        })
        .collect();
    let (paid, failed) = (paid as i64, failed as i64);
    assert_eq!(
        states,
        [
            (paid, "Sent", "None", 0),
            (paid, "Paid", "None", 0),
            (failed, "Sent", "None", 0),
            (failed, "Failed", "PayoutFailed", 51),
            (paid, "Returned", "None", 7),
        ]
    );
    for p in &rows.payouts {
        assert_eq!(
            (p.party_kind.as_str(), p.party_id),
            ("Merchant", SHOP as i32)
        );
        assert_eq!(p.channel_id, i32::from(fixture::BANK_TRANSFER));
        assert!(p.withdraw_request_id == 1 || p.withdraw_request_id == 2);
        assert!(!p.automatic);
        assert_eq!(p.fee_minor, if p.payout_id == paid { 6 } else { 3 });
    }
    let answers: Vec<(&str, &str, i64)> = rows
        .withdrawals
        .iter()
        .map(|r| (r.message.as_str(), r.status.as_str(), r.fee_minor))
        .collect();
    assert_eq!(
        answers,
        [
            ("WithdrawAck", "Accepted", 6),
            ("WithdrawResult", "Succeeded", 6),
            ("WithdrawAck", "Accepted", 3),
            ("WithdrawResult", "Failed", 3),
            ("WithdrawReturned", "Returned", 0),
            ("WithdrawAck", "Rejected", 0),
        ]
    );
    let keys: std::collections::BTreeSet<(i64, i32)> =
        rows.payouts.iter().map(|p| (p.seq, p.ordinal)).collect();
    assert_eq!(keys.len(), rows.payouts.len(), "(seq, ordinal) is a key");
}

#[test]
fn a_promoters_reviewed_payout_and_the_platforms_sweep_are_rows() {
    let mut w = World::new();
    for i in 1..=10u64 {
        w.d.advance_ns(2_000_000_000);
        let mut request = fixture::payment(i, SHOP, 50_000);
        request.promoter_id = fixture::PROMOTER;
        let out = w.acquirer(&request);
        let disp = dispatch(&out).expect("dispatched");
        w.channel(
            disp.channel_id,
            &ChannelResult {
                order_id: disp.order_id,
                attempt: disp.attempt,
                outcome: ChannelOutcome::Succeeded,
                channel_code: 0,
                latency_us: 1_500,
                channel_ref: Chars::new("ref"),
            },
        );
    }
    for _ in 0..10 {
        w.d.advance_ns(NS_PER_DAY);
        w.pulse();
    }
    w.admin(&ConfigPayoutPolicy {
        currency: CNY,
        review_above_minor: 100,
        platform_payout_channel_id: fixture::BANK_TRANSFER,
    });
    let promoter = fixture::PROMOTER;
    let out = w.admin(&PayoutRequest {
        payout_request_id: 5,
        party_kind: PartyKind::Promoter,
        party_id: promoter,
        currency: CNY,
        amount_minor: 200,
    });
    let ack = find(&out, |m| match m {
        AnyMessage::PayoutAck(a) => Some(a.clone()),
        _ => None,
    })
    .expect("a PayoutAck");
    assert_eq!(ack.state, PayoutState::Review, "{ack:?}");
    let out = w.admin(&PayoutReview {
        payout_id: ack.payout_id,
        approve: true,
    });
    assert!(
        find(&out, |m| match m {
            AnyMessage::PayoutDispatch(p) => Some(p.clone()),
            _ => None,
        })
        .is_some()
    );
    payout_answer(&mut w, ack.payout_id, PayoutChannelStatus::Paid, 0);
    let out = w.admin(&PayoutRequest {
        payout_request_id: 6,
        party_kind: PartyKind::Platform,
        party_id: 0,
        currency: CNY,
        amount_minor: 50,
    });
    let sweep = find(&out, |m| match m {
        AnyMessage::PayoutAck(a) => Some(a.clone()),
        _ => None,
    })
    .expect("a PayoutAck");
    assert_eq!(sweep.state, PayoutState::Sent, "{sweep:?}");
    let states: Vec<(&str, i32, &str)> = w
        .rows
        .payouts
        .iter()
        .map(|p| (p.party_kind.as_str(), p.party_id, p.state.as_str()))
        .collect();
    let promoter = promoter as i32;
    assert_eq!(
        states,
        [
            ("Promoter", promoter, "Review"),
            ("Promoter", promoter, "Sent"),
            ("Promoter", promoter, "Paid"),
            ("Platform", 0, "Sent"),
        ]
    );
    assert!(w.rows.withdrawals.is_empty(), "no acquirer asked");
    assert_eq!(sums_from_rows(&w.rows), sums_from_ledger(&w.d));
}
