//! # sluice-workload
//!
//! The one payment workload generator: seeded (`sluice_protocol::rng::Rng`), so that a run is
//! reproduced from its seed. The load generator (`sluice loadgen`, `sluice demo`), the benchmarks
//! and the tests draw their payments, refunds and queries from it, for the embedded default
//! configuration's world (merchants 1001–1004 of acquirer 1 and 2001 of acquirer 2, promoter 501,
//! CNY everywhere and USD at 1001, 1002 and 2001, a block-listed payer 666, risk rules on large
//! amounts and gambling).
//!
//! The mix: 70% wallet and 20% card payments in CNY, 10% cards in USD where the merchant takes
//! it; amounts log-uniform over 1.00–9,999.99 with 0.1% over the single-amount cap; 0.05% from the
//! block-listed payer; 500,000 payers with their own device, IP and (for cards) fingerprint; 30%
//! brought by a promoter; goods categories grocery 20%, gambling 1%, else general. Refunds take a
//! succeeded payment, half of them in full and half for 30%; queries ask for a known order.

#![forbid(unsafe_code)]

pub mod fraud;

pub use sluice_protocol::rng::Rng;
use sluice_protocol::{Chars, Ip, PaymentMethod, PaymentRequest, QueryOrder, RefundRequest, Scene};

/// The block-listed payer of the default configuration.
pub const BLOCKED_USER: u64 = 666;
/// An amount over the default configuration's single-amount cap (risk rule 3).
pub const OVER_CAP_MINOR: i64 = 6_000_000;
/// Payers drawn from.
pub const USERS: u64 = 500_000;
/// Most succeeded payments and known orders remembered for refunds and queries.
const REMEMBERED_MAX: usize = 1 << 20;

/// Merchants of the default configuration that take USD.
fn takes_usd(merchant: u32) -> bool {
    matches!(merchant, 1001 | 1002 | 2001)
}

/// A seeded stream of payments, refunds and queries.
pub struct Workload {
    rng: Rng,
    /// Added to every request id (differs between runs against one server).
    base_id: u64,
    next_payment: u64,
    next_refund: u64,
    /// Succeeded payments that may be refunded: (request id, amount, the caller's tag).
    refundable: Vec<(u64, i64, usize)>,
    /// Request ids of orders that exist.
    known: Vec<u64>,
    /// Every 16th payment request as sent, for resends (at most `RESENDABLE_MAX`).
    resendable: Vec<PaymentRequest>,
    /// Per mille of payments asking for an installment plan (0: none, and no draw is made, so
    /// the stream is the same as before installments existed).
    installment_permille: u32,
}

/// Most payment requests kept for resends.
const RESENDABLE_MAX: usize = 1 << 16;

impl Workload {
    /// A workload from `seed`; request ids start after `base_id`.
    pub fn new(seed: u64, base_id: u64) -> Workload {
        Workload {
            rng: Rng::new(seed),
            base_id,
            next_payment: 0,
            next_refund: 0,
            refundable: Vec::with_capacity(1 << 16),
            known: Vec::with_capacity(1 << 16),
            resendable: Vec::new(),
            installment_permille: 0,
        }
    }

    /// Makes `permille` of the payments to come ask for a consumer installment plan (3, 6 or 12
    /// installments, half of them with interest; docs/INSTALLMENTS.md).
    pub fn set_installment_permille(&mut self, permille: u32) {
        self.installment_permille = permille.min(1000);
    }

    /// The generator behind the workload, for the caller's own draws (mix, timing).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The next payment, at one of `merchants` (non-empty).
    pub fn payment(&mut self, merchants: &[u32]) -> PaymentRequest {
        self.next_payment += 1;
        let request_id = self.base_id + self.next_payment;
        let r = &mut self.rng;
        let merchant = *r.pick(merchants);
        let user = match r.below(10_000) {
            0..=4 => BLOCKED_USER,
            _ => 1 + r.below(USERS),
        };
        let (method, currency) = match r.below(100) {
            0..=69 => (PaymentMethod::Wallet, 156),
            70..=89 => (PaymentMethod::Card, 156),
            _ if takes_usd(merchant) => (PaymentMethod::Card, 840),
            _ => (PaymentMethod::Card, 156),
        };
        let amount_minor = match r.below(10_000) {
            0..=9 => OVER_CAP_MINOR,
            _ => {
                let base = [100u64, 1_000, 10_000, 100_000][r.below(4) as usize];
                (base + r.below(base * 9)) as i64
            }
        };
        let goods_category = match r.below(100) {
            0 => 7995,
            1..=20 => 5411,
            _ => 5999,
        };
        let card = method == PaymentMethod::Card;
        let (installment_count, installment_payer_interest) = self.installment_plan();
        let r = &mut self.rng;
        PaymentRequest {
            request_id,
            merchant_id: merchant,
            promoter_id: if r.below(10) < 3 { 501 } else { 0 },
            amount_minor,
            currency,
            method,
            scene: Scene::from_wire((1 + r.below(6)) as u8).unwrap_or_default(),
            goods_category,
            user_id: user,
            device_id: 1_000_000 + user,
            ip: Ip::v4([10, (user >> 16) as u8, (user >> 8) as u8, user as u8]),
            card_fingerprint: if card {
                Chars::new(&format!("fp{user:014}"))
            } else {
                Chars::default()
            },
            card_bin: match (card, currency) {
                (false, _) => 0,
                (true, 840) => 411_111,
                (true, _) => 622_848,
            },
            country: Chars::new(if currency == 840 { "US" } else { "CN" }),
            installment_count,
            installment_payer_interest,
        }
    }

    /// The plan of the next payment: none, or 3, 6 or 12 installments with or without interest.
    fn installment_plan(&mut self) -> (u8, bool) {
        if self.installment_permille == 0
            || self.rng.below(1000) >= u64::from(self.installment_permille)
        {
            return (0, false);
        }
        let count = [3u8, 6, 12][self.rng.below(3) as usize];
        (count, self.rng.below(2) == 1)
    }

    /// A payment succeeded: it may be refunded and queried. `tag` comes back with its refund (the
    /// load generator sends a refund on the connection that paid).
    pub fn succeeded(&mut self, request_id: u64, amount_minor: i64, tag: usize) {
        if self.refundable.len() < REMEMBERED_MAX {
            self.refundable.push((request_id, amount_minor, tag));
        }
        if self.known.len() < REMEMBERED_MAX {
            self.known.push(request_id);
        }
    }

    /// A refund of a succeeded payment not refunded yet (in full or for 30%), with its tag.
    pub fn refund(&mut self) -> Option<(RefundRequest, usize)> {
        if self.refundable.is_empty() {
            return None;
        }
        let i = self.rng.below(self.refundable.len() as u64) as usize;
        let (payment, amount, tag) = self.refundable.swap_remove(i);
        self.next_refund += 1;
        let part = if self.rng.next_u64().is_multiple_of(2) {
            amount
        } else {
            (amount * 3 / 10).max(1)
        };
        let refund = RefundRequest {
            refund_request_id: self.base_id + (1 << 40) + self.next_refund,
            payment_request_id: payment,
            amount_minor: part,
        };
        Some((refund, tag))
    }

    /// A query of a known order, by its request id.
    pub fn query(&mut self) -> Option<QueryOrder> {
        if self.known.is_empty() {
            return None;
        }
        let request_id = *self.rng.pick(&self.known);
        Some(QueryOrder {
            order_id: 0,
            request_id,
        })
    }

    /// Keeps `req` (a payment just sent) for resends when it is every 16th and there is room.
    pub fn sent(&mut self, req: &PaymentRequest) {
        if req.request_id.is_multiple_of(16) && self.resendable.len() < RESENDABLE_MAX {
            self.resendable.push(req.clone());
        }
    }

    /// An exact resend of a payment sent before (the same bytes: the server answers with the
    /// original outcome, `duplicate` = 1), drawn uniformly from those kept.
    pub fn resend(&mut self) -> Option<PaymentRequest> {
        if self.resendable.is_empty() {
            return None;
        }
        Some(self.rng.pick(&self.resendable).clone())
    }

    /// Payments drawn so far.
    pub fn payments(&self) -> u64 {
        self.next_payment
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_reproduces_the_workload() {
        let (mut a, mut b) = (Workload::new(9, 0), Workload::new(9, 0));
        for _ in 0..1_000 {
            assert_eq!(a.payment(&[1001, 1002]), b.payment(&[1001, 1002]));
        }
        assert_ne!(Workload::new(10, 0).payment(&[1001]), a.payment(&[1001]));
    }

    #[test]
    fn the_mix_has_what_the_risk_rules_and_routing_need() {
        let mut w = Workload::new(1, 1_000);
        let payments: Vec<PaymentRequest> =
            (0..100_000).map(|_| w.payment(&[1001, 1004])).collect();
        let share = |f: &dyn Fn(&PaymentRequest) -> bool| {
            payments.iter().filter(|p| f(p)).count() as f64 / payments.len() as f64
        };
        assert!((0.65..0.75).contains(&share(&|p| p.method == PaymentMethod::Wallet)));
        assert!(share(&|p| p.currency == 840) > 0.03, "USD cards at 1001");
        assert!(
            payments
                .iter()
                .all(|p| p.currency == 156 || p.merchant_id == 1001)
        );
        assert!(share(&|p| p.amount_minor == OVER_CAP_MINOR) > 0.0005);
        assert!(share(&|p| p.user_id == BLOCKED_USER) > 0.0001);
        assert!((0.25..0.35).contains(&share(&|p| p.promoter_id == 501)));
        assert!(
            payments
                .iter()
                .all(|p| p.amount_minor >= 100 && p.request_id > 1_000)
        );
        assert!(
            payments
                .windows(2)
                .all(|w| w[1].request_id == w[0].request_id + 1)
        );
    }

    #[test]
    fn refunds_and_queries_come_from_succeeded_payments() {
        let mut w = Workload::new(3, 0);
        assert!(w.refund().is_none() && w.query().is_none());
        w.succeeded(5, 1_000, 2);
        assert_eq!(w.query().map(|q| q.request_id), Some(5));
        let (refund, tag) = w.refund().expect("a refund");
        assert_eq!((refund.payment_request_id, tag), (5, 2));
        assert!(refund.amount_minor == 1_000 || refund.amount_minor == 300);
        assert!(w.refund().is_none(), "each payment is refunded once");
    }
}
