//! Simulated days of payments with injected fraud patterns, ground truth known at generation
//! (docs/RISK_SCORE.md, section 4), for training and measuring the learned risk score and
//! backtesting rules. Seeded: a seed reproduces every day.
//!
//! Normal traffic: payers drawn with a skew (a fifth of the payments from a few hundred regulars),
//! 10% of payers behind shared IPs (offices, carrier NAT), 70% wallets, 3% of card payments
//! declined by the issuer, 3% of payments refunded hours later. Fraud, about 1.5% of payments:
//!
//! - card testing: a fresh card tries many small amounts within minutes, mostly declined;
//! - stolen cards: a real payer's card, used from a fraudster's device at several merchants within
//!   hours, for large amounts;
//! - refund abuse: a payer pays and refunds in full, again and again, within the day;
//! - coupon farming: many fresh accounts on a few devices and IPs, one small payment each.

use sluice_protocol::rng::Rng;
use sluice_protocol::{Chars, Ip, PaymentMethod, PaymentRequest, Scene};

/// Merchants of acquirer 1 in the default configuration.
pub const MERCHANTS: [u32; 4] = [1001, 1002, 1003, 1004];
/// One simulated day, ns.
pub const DAY_NS: u64 = 86_400 * 1_000_000_000;
const SEC_NS: u64 = 1_000_000_000;
/// Card BINs of the simulated issuers.
const BINS: [u32; 8] = [
    622_848, 622_202, 621_700, 625_965, 436_742, 524_094, 403_391, 512_425,
];
/// Payers of normal traffic.
const USERS: u64 = 200_000;
/// Payers with many payments a day (a fifth of the traffic).
const REGULARS: u64 = 400;
/// Ids above this are fraudsters' fresh accounts (never normal payers).
const FRESH_BASE: u64 = 1 << 40;

/// The fraud pattern behind a payment (ground truth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    CardTesting,
    StolenCard,
    RefundAbuse,
    CouponFarming,
}

impl Pattern {
    pub const ALL: [Pattern; 4] = [
        Pattern::CardTesting,
        Pattern::StolenCard,
        Pattern::RefundAbuse,
        Pattern::CouponFarming,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pattern::CardTesting => "card_testing",
            Pattern::StolenCard => "stolen_card",
            Pattern::RefundAbuse => "refund_abuse",
            Pattern::CouponFarming => "coupon_farming",
        }
    }
}

/// One simulated payment and what the world will do with it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPayment {
    /// Event time, ns after the simulation's start.
    pub at_ns: u64,
    pub request: PaymentRequest,
    /// The fraud pattern, or `None` for a genuine payment.
    pub fraud: Option<Pattern>,
    /// Whether the issuer declines it (the channel answers Declined).
    pub declined: bool,
    /// A full refund this long after the payment, if it succeeded.
    pub refund_after_ns: Option<u64>,
}

/// How much of each pattern a day has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimMix {
    pub payments_per_day: u32,
    pub card_testing_bursts: u32,
    pub stolen_cards: u32,
    pub refund_abusers: u32,
    pub coupon_farms: u32,
}

impl SimMix {
    /// Patterns in proportion to the normal traffic (at least one of each a day): about 1.5% of
    /// payments are fraud at 20,000 a day.
    pub fn for_payments_per_day(payments_per_day: u32) -> SimMix {
        SimMix {
            payments_per_day,
            card_testing_bursts: (payments_per_day / 5_000).max(1),
            stolen_cards: (payments_per_day / 2_000).max(1),
            refund_abusers: (payments_per_day / 2_500).max(1),
            coupon_farms: (payments_per_day / 10_000).max(1),
        }
    }
}

/// The generator of simulated days.
pub struct FraudSim {
    rng: Rng,
    mix: SimMix,
    next_request: u64,
    next_fresh: u64,
}

impl FraudSim {
    pub fn new(seed: u64, mix: SimMix) -> FraudSim {
        FraudSim {
            rng: Rng::new(seed),
            mix,
            next_request: 0,
            next_fresh: FRESH_BASE,
        }
    }

    /// The payments of day `day` (0-based), in time order.
    pub fn day(&mut self, day: u32) -> Vec<SimPayment> {
        let start = u64::from(day) * DAY_NS;
        let mut out = Vec::with_capacity(self.mix.payments_per_day as usize * 102 / 100);
        for _ in 0..self.mix.payments_per_day {
            let at = start + self.rng.below(DAY_NS - 3_600 * SEC_NS);
            out.push(self.genuine(at));
        }
        for _ in 0..self.mix.card_testing_bursts {
            self.card_testing(start, &mut out);
        }
        for _ in 0..self.mix.stolen_cards {
            self.stolen_card(start, &mut out);
        }
        for _ in 0..self.mix.refund_abusers {
            self.refund_abuse(start, &mut out);
        }
        for _ in 0..self.mix.coupon_farms {
            self.coupon_farm(start, &mut out);
        }
        // Stable: equal times keep generation order, so the day is a function of the seed.
        out.sort_by_key(|p| p.at_ns);
        out
    }

    fn request(&mut self, merchant: u32, user: u64, amount_minor: i64) -> PaymentRequest {
        self.next_request += 1;
        PaymentRequest {
            request_id: self.next_request,
            merchant_id: merchant,
            promoter_id: 0,
            amount_minor,
            currency: 156,
            method: PaymentMethod::Wallet,
            scene: Scene::App,
            goods_category: 5999,
            user_id: user,
            device_id: 1_000_000 + user,
            ip: user_ip(user),
            card_fingerprint: Chars::default(),
            card_bin: 0,
            country: Chars::new("CN"),
            installment_count: 0,
            installment_payer_interest: false,
        }
    }

    fn fresh(&mut self) -> u64 {
        self.next_fresh += 1;
        self.next_fresh
    }

    fn amount(&mut self, lo: u64, hi: u64) -> i64 {
        self.rng.inclusive(lo, hi) as i64
    }

    fn genuine(&mut self, at_ns: u64) -> SimPayment {
        let user = if self.rng.chance(20) {
            1 + self.rng.below(REGULARS)
        } else {
            1 + self.rng.below(USERS)
        };
        let merchant = *self.rng.pick(&MERCHANTS);
        let base = [100u64, 1_000, 10_000, 50_000][self.rng.below(4) as usize];
        let amount = self.amount(base, base * 9);
        let mut request = self.request(merchant, user, amount);
        let card = self.rng.chance(30);
        if card {
            set_card(&mut request, user);
        }
        let declined = card && self.rng.chance(3);
        let refund_after_ns = self
            .rng
            .chance(3)
            .then(|| 3_600 * SEC_NS + self.rng.below(20 * 3_600 * SEC_NS));
        SimPayment {
            at_ns,
            request,
            fraud: None,
            declined,
            refund_after_ns,
        }
    }

    /// A fresh card tries 15 to 40 small amounts at one merchant within about three minutes.
    fn card_testing(&mut self, day_start: u64, out: &mut Vec<SimPayment>) {
        let mut at = day_start + self.rng.below(DAY_NS - 3_600 * SEC_NS);
        let (device, ip, card) = (self.fresh(), self.fresh(), self.fresh());
        let bin = *self.rng.pick(&BINS);
        let merchant = *self.rng.pick(&MERCHANTS);
        for _ in 0..self.rng.inclusive(15, 40) {
            let user = self.fresh();
            let amount = self.amount(100, 300);
            let mut request = self.request(merchant, user, amount);
            request.method = PaymentMethod::Card;
            request.card_fingerprint = Chars::new(&format!("ct{card:014x}"));
            request.card_bin = bin;
            request.device_id = device;
            request.ip = user_ip(ip);
            let declined = self.rng.chance(85);
            out.push(fraud(at, request, Pattern::CardTesting, declined, None));
            at += self.rng.inclusive(2, 10) * SEC_NS;
        }
    }

    /// A genuine payer's card, from a fraudster's fresh device, at each merchant once or twice
    /// within two hours, for large amounts.
    fn stolen_card(&mut self, day_start: u64, out: &mut Vec<SimPayment>) {
        let mut at = day_start + self.rng.below(DAY_NS - 3_600 * SEC_NS);
        let victim = 1 + self.rng.below(USERS);
        let thief = self.fresh();
        for _ in 0..self.rng.inclusive(4, 8) {
            let merchant = *self.rng.pick(&MERCHANTS);
            let amount = self.amount(100_000, 900_000);
            let mut request = self.request(merchant, thief, amount);
            set_card(&mut request, victim);
            let declined = self.rng.chance(15);
            out.push(fraud(at, request, Pattern::StolenCard, declined, None));
            at += self.rng.inclusive(5 * 60, 25 * 60) * SEC_NS;
        }
    }

    /// A payer who pays and refunds in full 6 to 12 times within the day.
    fn refund_abuse(&mut self, day_start: u64, out: &mut Vec<SimPayment>) {
        let mut at = day_start + self.rng.below(DAY_NS / 2);
        let user = self.fresh();
        for _ in 0..self.rng.inclusive(6, 12) {
            let merchant = *self.rng.pick(&MERCHANTS);
            let amount = self.amount(5_000, 60_000);
            let request = self.request(merchant, user, amount);
            let refund = self.rng.inclusive(5 * 60, 30 * 60) * SEC_NS;
            out.push(fraud(
                at,
                request,
                Pattern::RefundAbuse,
                false,
                Some(refund),
            ));
            at += self.rng.inclusive(20 * 60, 60 * 60) * SEC_NS;
        }
    }

    /// 30 to 60 fresh accounts on 3 devices and 2 IPs, one small payment each within two hours.
    fn coupon_farm(&mut self, day_start: u64, out: &mut Vec<SimPayment>) {
        let start = day_start + self.rng.below(DAY_NS - 3_600 * SEC_NS);
        let devices = [self.fresh(), self.fresh(), self.fresh()];
        let ips = [self.fresh(), self.fresh()];
        let merchant = *self.rng.pick(&MERCHANTS);
        for _ in 0..self.rng.inclusive(30, 60) {
            let at = start + self.rng.below(2 * 3_600 * SEC_NS);
            let user = self.fresh();
            let amount = self.amount(500, 2_000);
            let mut request = self.request(merchant, user, amount);
            request.device_id = *self.rng.pick(&devices);
            request.ip = user_ip(*self.rng.pick(&ips));
            out.push(fraud(at, request, Pattern::CouponFarming, false, None));
        }
    }
}

fn fraud(
    at_ns: u64,
    request: PaymentRequest,
    pattern: Pattern,
    declined: bool,
    refund_after_ns: Option<u64>,
) -> SimPayment {
    SimPayment {
        at_ns,
        request,
        fraud: Some(pattern),
        declined,
        refund_after_ns,
    }
}

/// A payer's IP: a tenth of the payers share one per 50 (offices, carrier NAT).
fn user_ip(user: u64) -> Ip {
    let host = if user.is_multiple_of(10) {
        user / 50
    } else {
        user
    };
    Ip::v4([10, (host >> 16) as u8, (host >> 8) as u8, host as u8])
}

/// Pays with `owner`'s card (fingerprint and BIN fixed per owner).
fn set_card(request: &mut PaymentRequest, owner: u64) {
    request.method = PaymentMethod::Card;
    request.card_fingerprint = Chars::new(&format!("fp{owner:014}"));
    request.card_bin = BINS[(owner % BINS.len() as u64) as usize];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_reproduces_the_days() {
        let mix = SimMix::for_payments_per_day(2_000);
        let (mut a, mut b) = (FraudSim::new(5, mix), FraudSim::new(5, mix));
        for day in 0..2 {
            assert_eq!(a.day(day), b.day(day));
        }
        assert_ne!(FraudSim::new(6, mix).day(0), FraudSim::new(5, mix).day(0));
    }

    #[test]
    fn every_pattern_appears_at_a_realistic_rate_in_time_order() {
        let mut sim = FraudSim::new(1, SimMix::for_payments_per_day(20_000));
        let day = sim.day(3);
        assert!(day.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
        assert!(
            day.iter()
                .all(|p| (3 * DAY_NS..4 * DAY_NS).contains(&p.at_ns))
        );
        let fraud = day.iter().filter(|p| p.fraud.is_some()).count() as f64;
        let rate = fraud / day.len() as f64;
        assert!((0.005..0.02).contains(&rate), "fraud rate {rate}");
        for pattern in Pattern::ALL {
            assert!(day.iter().any(|p| p.fraud == Some(pattern)), "{pattern:?}");
        }
        let testing: Vec<_> = day
            .iter()
            .filter(|p| p.fraud == Some(Pattern::CardTesting))
            .collect();
        let declined = testing.iter().filter(|p| p.declined).count();
        assert!(
            declined * 2 > testing.len(),
            "card testing is mostly declined"
        );
        let ids: std::collections::BTreeSet<u64> =
            day.iter().map(|p| p.request.request_id).collect();
        assert_eq!(ids.len(), day.len(), "request ids are unique");
    }
}
