//! What the engine's outputs said so far, so that the next inputs can answer them: the dispatches
//! still waiting for a channel, the payments that succeeded (and how much of each was refunded), the
//! refunds at a channel, and the last balances reported. Every list is bounded: when full, the
//! oldest entry goes (a dispatch goes to the answered list, where late answers pick from).
//!
//! It also checks the money in every final result: a payment's split and a refund's reversal sum
//! exactly to their amounts, no line is negative, and an order's succeeded refunds never exceed
//! what it captured.

use sluice_engine::{DestKind, OutRecord};
use sluice_protocol::*;

/// A small list that drops its oldest entry when full.
#[derive(Debug, Clone)]
pub struct Recent<T, const N: usize> {
    items: Vec<T>,
}

impl<T, const N: usize> Default for Recent<T, N> {
    fn default() -> Self {
        Recent {
            items: Vec::with_capacity(N),
        }
    }
}

impl<T: Clone, const N: usize> Recent<T, N> {
    /// Adds `item`; returns the oldest entry if it had to make room.
    pub fn push(&mut self, item: T) -> Option<T> {
        let dropped = (self.items.len() == N).then(|| self.items.remove(0));
        self.items.push(item);
        dropped
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<T> {
        self.items.get(i).cloned()
    }

    /// The entry a byte picks (None when empty).
    pub fn pick(&self, byte: u8) -> Option<T> {
        let n = self.items.len();
        (n > 0).then(|| self.items[usize::from(byte) % n].clone())
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.items.iter_mut()
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Removes the entries `f` selects, handing each to `removed`.
    pub fn remove_where(&mut self, mut f: impl FnMut(&T) -> bool, mut removed: impl FnMut(T)) {
        self.items.retain(|x| {
            let drop = f(x);
            if drop {
                removed(x.clone());
            }
            !drop
        });
    }
}

/// One attempt sent to a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub order_id: u64,
    pub attempt: u8,
    pub channel_id: u16,
}

/// A payment that succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paid {
    pub acquirer_id: u32,
    pub request_id: u64,
    pub order_id: u64,
    pub amount_minor: i64,
    /// Refunds of it that succeeded.
    pub refunded_minor: i64,
}

/// A refund sent to a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundAt {
    pub refund_id: u64,
    pub channel_id: u16,
}

#[derive(Debug, Default)]
pub struct Track {
    /// Dispatches not yet answered, failed over or finished.
    pub pending: Recent<Attempt, 48>,
    /// Dispatches that are no longer pending (for late and repeated answers).
    pub past: Recent<Attempt, 16>,
    pub paid: Recent<Paid, 32>,
    pub refunds_pending: Recent<RefundAt, 24>,
    pub refunds_past: Recent<RefundAt, 8>,
    /// Orders the acquirers were told about: (acquirer, order id).
    pub orders: Recent<(u32, u64), 16>,
    /// The last BalanceReport's (currency, available) pairs.
    pub balances: Recent<(u16, i64), 8>,
    /// The status of the last ConfigAck.
    pub last_config_ack: Option<AckStatus>,
}

impl Track {
    /// Forgets everything, keeping the lists' memory.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.past.clear();
        self.paid.clear();
        self.refunds_pending.clear();
        self.refunds_past.clear();
        self.orders.clear();
        self.balances.clear();
        self.last_config_ack = None;
    }

    /// Notes an attempt the harness has just answered (it is no longer pending).
    pub fn answered(&mut self, a: Attempt) {
        let past = &mut self.past;
        self.pending.remove_where(
            |p| *p == a,
            |p| {
                past.push(p);
            },
        );
    }

    /// Notes a refund the harness has just answered.
    pub fn refund_answered(&mut self, refund_id: u64) {
        let past = &mut self.refunds_past;
        self.refunds_pending.remove_where(
            |r| r.refund_id == refund_id,
            |r| {
                past.push(r);
            },
        );
    }

    /// Notes one output.
    pub fn observe(&mut self, rec: &OutRecord<'_>, msg: &AnyMessage) {
        match msg {
            AnyMessage::Dispatch(d) => self.on_dispatch(rec, d),
            AnyMessage::PaymentAck(a) => self.on_payment_ack(rec, a),
            AnyMessage::PaymentResult(r) => self.on_payment_result(rec, r),
            AnyMessage::RefundDispatch(d) => {
                assert_eq!(
                    rec.dest.kind,
                    DestKind::Channel,
                    "a RefundDispatch not to a channel"
                );
                assert!(
                    d.amount_minor > 0,
                    "a refund dispatched for {}",
                    d.amount_minor
                );
                let at = RefundAt {
                    refund_id: d.refund_id,
                    channel_id: d.channel_id,
                };
                if let Some(old) = self.refunds_pending.push(at) {
                    self.refunds_past.push(old);
                }
            }
            AnyMessage::RefundResult(r) => self.on_refund_result(r),
            AnyMessage::BalanceReport(b) => {
                self.balances.clear();
                for e in &b.balances {
                    self.balances.push((e.currency, e.available_minor));
                }
            }
            AnyMessage::ConfigAck(a) => self.last_config_ack = Some(a.status),
            _ => {}
        }
    }

    fn on_dispatch(&mut self, rec: &OutRecord<'_>, d: &Dispatch) {
        assert_eq!(
            rec.dest.kind,
            DestKind::Channel,
            "a Dispatch not to a channel"
        );
        assert_eq!(
            rec.dest.principal_id,
            u32::from(d.channel_id),
            "a Dispatch to another channel"
        );
        assert!(
            d.amount_minor > 0,
            "a payment dispatched for {}",
            d.amount_minor
        );
        assert!(
            (1..=MAX_ATTEMPTS as u8).contains(&d.attempt),
            "dispatch attempt {}",
            d.attempt
        );
        // A new attempt of an order ends its earlier ones.
        let past = &mut self.past;
        self.pending.remove_where(
            |p| p.order_id == d.order_id,
            |p| {
                past.push(p);
            },
        );
        let a = Attempt {
            order_id: d.order_id,
            attempt: d.attempt,
            channel_id: d.channel_id,
        };
        if let Some(old) = self.pending.push(a) {
            self.past.push(old);
        }
    }

    fn on_payment_ack(&mut self, rec: &OutRecord<'_>, a: &PaymentAck) {
        if a.order_id != 0 && !a.duplicate {
            self.orders.push((rec.dest.principal_id, a.order_id));
        }
    }

    fn on_payment_result(&mut self, rec: &OutRecord<'_>, r: &PaymentResult) {
        if r.duplicate {
            return;
        }
        let past = &mut self.past;
        self.pending.remove_where(
            |p| p.order_id == r.order_id,
            |p| {
                past.push(p);
            },
        );
        if r.status != FinalStatus::Succeeded {
            assert!(r.split.is_empty(), "a failed payment with a split");
            return;
        }
        check_lines("payment split", r.order_id, r.amount_minor, &r.split);
        assert!(
            r.fee_minor >= 0,
            "order {}: fee {}",
            r.order_id,
            r.fee_minor
        );
        assert!(
            r.split.iter().any(|l| l.role == PartyRole::Merchant),
            "order {}: a split without its Merchant line",
            r.order_id
        );
        self.paid.push(Paid {
            acquirer_id: rec.dest.principal_id,
            request_id: r.request_id,
            order_id: r.order_id,
            amount_minor: r.amount_minor,
            refunded_minor: 0,
        });
    }

    fn on_refund_result(&mut self, r: &RefundResult) {
        if r.duplicate {
            return;
        }
        self.refund_answered(r.refund_id);
        if r.status != FinalStatus::Succeeded {
            assert!(r.reversal.is_empty(), "a failed refund with a reversal");
            return;
        }
        check_lines("refund reversal", r.order_id, r.amount_minor, &r.reversal);
        assert!(
            r.reversal.iter().all(|l| l.amount_minor > 0),
            "a reversal line of 0"
        );
        for p in self.paid.iter_mut() {
            if p.order_id == r.order_id {
                p.refunded_minor += r.amount_minor;
                assert!(
                    p.refunded_minor <= p.amount_minor,
                    "order {}: refunded {} of a payment of {}",
                    p.order_id,
                    p.refunded_minor,
                    p.amount_minor
                );
            }
        }
    }
}

/// Split lines: none negative, and they sum exactly to the amount.
fn check_lines(what: &str, order_id: u64, amount_minor: i64, lines: &[SplitLine]) {
    assert!(
        amount_minor > 0,
        "order {order_id}: {what} of {amount_minor}"
    );
    let mut sum: i128 = 0;
    for l in lines {
        assert!(
            l.amount_minor >= 0,
            "order {order_id}: {what} line {l:?} is negative"
        );
        sum += i128::from(l.amount_minor);
    }
    assert_eq!(
        sum,
        i128::from(amount_minor),
        "order {order_id}: {what} lines {lines:?} do not sum to {amount_minor}"
    );
}
