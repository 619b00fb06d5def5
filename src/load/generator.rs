//! The requests of a load run: payments across the identity's merchants (a few over risk limits or
//! from a block-listed payer), refunds of succeeded payments, queries of known orders.

use sluice_gateway::sim::Rng;
use sluice_protocol::*;

use super::Identity;

/// The generator of requests.
pub(super) struct Generator {
    pub rng: Rng,
    pub base_id: u64,
    pub next_payment: u64,
    pub next_refund: u64,
    pub refundable: Vec<(u64, i64, usize)>,
    pub known: Vec<u64>,
}

fn merchant_has_usd(m: u32) -> bool {
    matches!(m, 1001 | 1002 | 2001)
}

impl Generator {
    pub(super) fn payment(&mut self, identity: &Identity) -> PaymentRequest {
        let r = &mut self.rng;
        self.next_payment += 1;
        let request_id = self.base_id + self.next_payment;
        let merchant =
            identity.merchants[(r.next_u64() % identity.merchants.len().max(1) as u64) as usize];
        let user = match r.next_u64() % 10_000 {
            0..=4 => 666, // on the block list
            _ => 1 + r.next_u64() % 500_000,
        };
        let roll = r.next_u64() % 100;
        let (method, currency) = match roll {
            0..=69 => (PaymentMethod::Wallet, 156),
            70..=89 => (PaymentMethod::Card, 156),
            _ if merchant_has_usd(merchant) => (PaymentMethod::Card, 840),
            _ => (PaymentMethod::Card, 156),
        };
        let amount = match r.next_u64() % 10_000 {
            0..=9 => 6_000_000, // over the single-amount cap
            _ => {
                let exp = r.next_u64() % 4;
                let base = [100u64, 1_000, 10_000, 100_000][exp as usize];
                (base + r.next_u64() % (base * 9)) as i64
            }
        };
        let category = match r.next_u64() % 100 {
            0 => 7995,
            1..=20 => 5411,
            _ => 5999,
        };
        let card = method == PaymentMethod::Card;
        let fingerprint = if card {
            Chars::new(&format!("fp{:014}", user))
        } else {
            Chars::default()
        };
        let ip = Ip::v4([10, (user >> 16) as u8, (user >> 8) as u8, user as u8]);
        PaymentRequest {
            request_id,
            merchant_id: merchant,
            promoter_id: if r.next_u64() % 10 < 3 { 501 } else { 0 },
            amount_minor: amount,
            currency,
            method,
            scene: Scene::from_wire((1 + r.next_u64() % 6) as u8).unwrap_or_default(),
            goods_category: category,
            user_id: user,
            device_id: 1_000_000 + user,
            ip,
            card_fingerprint: fingerprint,
            card_bin: if !card {
                0
            } else if currency == 840 {
                411_111
            } else {
                622_848
            },
            country: Chars::new(if currency == 840 { "US" } else { "CN" }),
        }
    }

    pub(super) fn refund(&mut self) -> Option<(RefundRequest, usize)> {
        if self.refundable.is_empty() {
            return None;
        }
        let i = (self.rng.next_u64() % self.refundable.len() as u64) as usize;
        let (payment, amount, conn) = self.refundable.swap_remove(i);
        self.next_refund += 1;
        let part = if self.rng.next_u64().is_multiple_of(2) {
            amount
        } else {
            (amount * 3 / 10).max(1)
        };
        Some((
            RefundRequest {
                refund_request_id: self.base_id + (1 << 40) + self.next_refund,
                payment_request_id: payment,
                amount_minor: part,
            },
            conn,
        ))
    }

    pub(super) fn query(&mut self) -> Option<QueryOrder> {
        if self.known.is_empty() {
            return None;
        }
        let i = (self.rng.next_u64() % self.known.len() as u64) as usize;
        Some(QueryOrder {
            order_id: 0,
            request_id: self.known[i],
        })
    }
}
