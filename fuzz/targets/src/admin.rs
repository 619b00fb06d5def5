//! Admin changes while payments are in flight: channels disabled and enabled or re-tuned, merchants
//! re-routed, re-parented or disabled, split profiles, promoters, risk rules and list entries
//! changed or added (up to and past their capacity), valid or not. Each change starts from the
//! configuration as accepted so far, so that changes accumulate over a run.

use rust_decimal::Decimal;
use sluice_protocol::*;

use crate::bytes::Bytes;
use crate::harness::{Harness, Sender};
use crate::ops::{CARDS, Run, UNKNOWN_MERCHANT, ip, pick_enum};
use crate::world::{self, *};

/// The configuration as the admin has changed it in this run.
pub struct Edits {
    channels: Vec<ConfigChannel>,
    merchants: Vec<ConfigMerchant>,
    profiles: Vec<ConfigSplitProfile>,
    promoters: Vec<ConfigPromoter>,
    rules: Vec<ConfigRiskRule>,
}

impl Edits {
    fn from_world() -> Edits {
        Edits {
            channels: world::channels(),
            merchants: world::merchants(),
            profiles: world::profiles(),
            promoters: world::promoters(),
            rules: world::rules(),
        }
    }
}

pub fn admin(h: &mut Harness, run: &mut Run, b: &mut Bytes<'_>) {
    let e = run
        .edits
        .get_or_insert_with(|| Box::new(Edits::from_world()));
    match b.u8() % 10 {
        0 | 1 => edit_channel(h, e, b),
        2 | 3 => edit_merchant(h, e, b),
        4 => edit_profile(h, e, b),
        5 => edit_promoter(h, e, b),
        6 => edit_rule(h, e, b),
        7 => channel_settlement(h, b),
        8 => discrepancy(h, b),
        _ => list_entry(h, b),
    }
}

/// Signed amounts for settlements and write-offs: ordinary ones, zero, and the extremes the
/// engine must refuse (`i64::MIN`) or that pass the largest balance once added up.
const SIGNED: [i64; 8] = [0, 1, -1, 5_000, -5_000, 1_000_000, i64::MAX, i64::MIN];

/// A channel's settlement batch: known and unknown channels and currencies, few batch ids (so
/// repeats are refused DuplicateBatch), days in and out of order.
fn channel_settlement(h: &mut Harness, b: &mut Bytes<'_>) {
    let m = ChannelSettlement {
        channel_id: b.pick(&[1, 2, 3, 4, 5, world::UNCONFIGURED_CHANNEL, 0]),
        currency: b.pick(&[CNY, USD, EUR, JPY]),
        batch_id: b.pick(&[0, 1, 2, 3, 20_418, u64::MAX]),
        paid_minor: b.pick(&SIGNED),
        fee_difference_minor: b.pick(&SIGNED),
        first_day: b.pick(&[0, 20_417, 20_418]),
        last_day: b.pick(&[0, 20_418, 20_419]),
        batch_ref: codec::text(b.pick(&["", "payout-1", "20261126"])),
    };
    h.send(Sender::admin(), &m);
}

/// Opens and resolves entries of the discrepancy list: few ids (so repeats are refused), any
/// class, write-offs of every size.
fn discrepancy(h: &mut Harness, b: &mut Bytes<'_>) {
    let m = Discrepancy {
        op: pick_enum!(b, DiscrepancyOp),
        discrepancy_id: b.pick(&[0, 1, 2, 3, 4, u64::MAX]),
        channel_id: b.pick(&[1, 2, 4, world::UNCONFIGURED_CHANNEL]),
        class: pick_enum!(b, DiscrepancyClass),
        currency: b.pick(&[CNY, USD, JPY]),
        order_id: b.pick(&[0, 1, u64::MAX]),
        attempt: b.pick(&[0, 1, 2]),
        refund_id: b.pick(&[0, 1]),
        amount_minor: b.pick(&SIGNED),
        write_off_minor: b.pick(&SIGNED),
        bill_day: b.pick(&[0, 20_418]),
        note: codec::text(b.pick(&["", "bill says less", "written off"])),
    };
    h.send(Sender::admin(), &m);
}

/// Sends a configuration message; keeps it in `list` (replacing the one with the same id) when the
/// engine accepted it.
fn commit<M: Message + Clone>(
    h: &mut Harness,
    list: &mut Vec<M>,
    msg: M,
    same: impl Fn(&M) -> bool,
) {
    h.track.last_config_ack = None;
    h.send(Sender::admin(), &msg);
    if h.track.last_config_ack != Some(AckStatus::Accepted) {
        return;
    }
    match list.iter().position(same) {
        Some(i) => list[i] = msg,
        None => list.push(msg),
    }
}

/// Rates: valid ones from 0 to 1, and a few the engine must refuse.
fn rate_value(b: &mut Bytes<'_>) -> Decimal {
    const RATES: [(i64, u32); 13] = [
        (0, 0),
        (1, 3),
        (6, 3),
        (5, 2),
        (1, 1),
        (2, 1),
        (5, 1),
        (9, 1),
        (1, 0),
        (10_000_001, 7),
        (1, 10),
        (-1, 1),
        (2, 0),
    ];
    let (mantissa, scale) = b.pick(&RATES);
    Decimal::new(mantissa, scale)
}

/// A subset of the ledger currencies and JPY (possibly empty), in a byte-chosen order.
fn currency_set<const N: usize>(b: &mut Bytes<'_>) -> arrayvec::ArrayVec<CurrencyEntry, N> {
    let mask = b.u8();
    let order = [CNY, USD, EUR, JPY, CNY];
    let list: Vec<u16> = (0..order.len())
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| order[i])
        .collect();
    world::currencies(&list)
}

fn method_fees(b: &mut Bytes<'_>) -> arrayvec::ArrayVec<MethodFee, 4> {
    let n = b.below(5);
    (0..n)
        .map(|_| MethodFee {
            method: pick_enum!(b, PaymentMethod),
            fee_bps: b.pick(&[0, 50, 290, 10_000, 10_001]),
            fee_fixed_minor: b.pick(&[0, 30, -1]),
        })
        .collect()
}

fn toggle(a: Activity) -> Activity {
    match a {
        Activity::Active => Activity::Disabled,
        Activity::Disabled => Activity::Active,
    }
}

fn edit_channel(h: &mut Harness, e: &mut Edits, b: &mut Bytes<'_>) {
    let i = b.below(e.channels.len() + 1);
    let mut c = match e.channels.get(i) {
        Some(c) => c.clone(),
        None => {
            let mut c = e.channels[0].clone();
            c.channel_id = b.pick(&[5, 6, 7, 0]);
            c
        }
    };
    match b.u8() % 9 {
        0 => c.status = toggle(c.status),
        1 => c.timeout_ms = b.pick(&[0, 1, 50, 2_000, 60_000, 600_000, 600_001]),
        2 => {
            c.min_amount_minor = b.pick(&[-1, 0, 1, 100, 1_000]);
            c.max_amount_minor = b.pick(&[0, 1_000, 1_000_000, 2_000_000, i64::MAX]);
        }
        3 => {
            c.failure_threshold = b.pick(&[0, 1, 3, 100]);
            c.failure_leak_per_sec = b.pick(&[0, 1, 10]);
        }
        4 => {
            c.min_success_rate = rate_value(b);
            c.min_attempts_for_rate = b.pick(&[0, 1, 8, 1_000]);
        }
        5 => {
            c.cooldown_ms = b.pick(&[0, 100, 5_000, 86_400_000]);
            c.probe_slots = b.pick(&[0, 1, 3]);
            c.probe_successes = b.pick(&[0, 1, 2, 5]);
        }
        6 => c.currencies = currency_set(b),
        7 => c.methods = method_fees(b),
        _ => c.name = Chars::new(b.pick(&["", "renamed", "sixteen-chars-xx"])),
    }
    let id = c.channel_id;
    commit(h, &mut e.channels, c, |x| x.channel_id == id);
}

fn route(b: &mut Bytes<'_>) -> arrayvec::ArrayVec<RouteEntry, 8> {
    let n = b.below(9);
    (0..n)
        .map(|_| RouteEntry {
            channel_id: b.pick(&[1, 2, 3, 4, 5, 6, world::UNCONFIGURED_CHANNEL, 0]),
            weight: b.pick(&[0, 1, 10, 50, u16::MAX]),
        })
        .collect()
}

fn edit_merchant(h: &mut Harness, e: &mut Edits, b: &mut Bytes<'_>) {
    let i = b.below(e.merchants.len() + 1);
    let mut m = match e.merchants.get(i) {
        Some(m) => m.clone(),
        None => {
            let mut m = e.merchants[0].clone();
            m.merchant_id = b.pick(&[15, 16, 17, 0]);
            m
        }
    };
    match b.u8() % 11 {
        0 => m.status = toggle(m.status),
        1 => m.strategy = pick_enum!(b, RoutingStrategy),
        2 => m.settlement_days = b.pick(&[0, 1, 2, 7, 30, 31]),
        3 => {
            m.deposit_rate = rate_value(b);
            m.deposit_hold_days = b.pick(&[0, 1, 2, 366, 367]);
        }
        4 => {
            m.min_amount_minor = b.pick(&[0, 1, 100, 1_000]);
            m.max_amount_minor = b.pick(&[0, 99, 500_000, 10_000_000, i64::MAX]);
        }
        5 => {
            let weights = [(0, 0), (5, 1), (1, 0), (2, 0), (1_000, 0), (1_001, 0)];
            let mut w = || {
                let (mantissa, scale) = b.pick(&weights);
                Decimal::new(mantissa, scale)
            };
            (m.weight_success, m.weight_cost, m.weight_latency) = (w(), w(), w());
        }
        6 => m.currencies = currency_set(b),
        7 => m.channels = route(b),
        8 => {
            m.parent_merchant_id =
                b.pick(&[0, 11, 12, 13, 14, 21, 22, UNKNOWN_MERCHANT, m.merchant_id])
        }
        9 => m.split_profile_id = b.pick(&[1, 2, 3, 99]),
        _ => m.acquirer_id = b.pick(&[ACQUIRER_A, ACQUIRER_B, 0, 3]),
    }
    let id = m.merchant_id;
    commit(h, &mut e.merchants, m, |x| x.merchant_id == id);
}

fn edit_profile(h: &mut Harness, e: &mut Edits, b: &mut Bytes<'_>) {
    let i = b.below(e.profiles.len() + 1);
    let mut p = match e.profiles.get(i) {
        Some(p) => p.clone(),
        None => {
            let mut p = e.profiles[0].clone();
            p.profile_id = b.pick(&[3, 4, 0]);
            p
        }
    };
    match b.u8() % 6 {
        0 => p.platform_rate = rate_value(b),
        1 => (p.promoter_level1_rate, p.promoter_level2_rate) = (rate_value(b), rate_value(b)),
        2 => (p.parent_share, p.grandparent_share) = (rate_value(b), rate_value(b)),
        3 => {
            p.fee_bearer = match p.fee_bearer {
                FeeBearer::Platform => FeeBearer::Merchant,
                FeeBearer::Merchant => FeeBearer::Platform,
            }
        }
        4 => {
            let n = b.below(4);
            p.tiers = (0..n)
                .map(|_| RateTier {
                    min_amount_minor: b.pick(&[-1, 0, 1_000, 100_000, 1_000_000]),
                    rate: rate_value(b),
                })
                .collect();
        }
        _ => {
            let n = b.below(4);
            p.categories = (0..n)
                .map(|_| CategoryRate {
                    category: b.pick(&[0, 5411, 7995]),
                    rate: rate_value(b),
                })
                .collect();
        }
    }
    let id = p.profile_id;
    commit(h, &mut e.profiles, p, |x| x.profile_id == id);
}

fn edit_promoter(h: &mut Harness, e: &mut Edits, b: &mut Bytes<'_>) {
    let id = b.pick(&[PROMOTER, PROMOTER_PARENT, 53, 54, 55, 0]);
    let mut p = e
        .promoters
        .iter()
        .find(|p| p.promoter_id == id)
        .cloned()
        .unwrap_or_else(|| world::promoter(id, 0));
    match b.u8() % 3 {
        0 => p.parent_promoter_id = b.pick(&[0, PROMOTER, PROMOTER_PARENT, 53, id, 99]),
        1 => p.settlement_days = b.pick(&[0, 1, 2, 30, 31]),
        _ => p.status = toggle(p.status),
    }
    commit(h, &mut e.promoters, p, |x| x.promoter_id == id);
}

fn edit_rule(h: &mut Harness, e: &mut Edits, b: &mut Bytes<'_>) {
    let id = b.pick(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    let base = e.rules.iter().find(|r| r.rule_id == id).cloned();
    let mut r = base.unwrap_or_else(|| {
        world::rule(
            id,
            RiskFeature::PaymentCount,
            RiskEntity::User,
            RiskWindow::Minute,
        )
    });
    let thresholds = [0, 1, 2, 5, 100, 100_000, -1, i64::MAX];
    match b.u8() % 6 {
        0 => r.status = toggle(r.status),
        1 => r.shadow = !r.shadow,
        2 => r.threshold = b.pick(&thresholds),
        3 => r.action = pick_enum!(b, RiskAction),
        4 => {
            r.merchant_id = b.pick(&[0, 11, 21, UNKNOWN_MERCHANT]);
            r.goods_category = b.pick(&[0, 5411, 7995]);
        }
        _ => {
            r.target = pick_enum!(b, RuleTarget);
            r.feature = pick_enum!(b, RiskFeature);
            r.entity = pick_enum!(b, RiskEntity);
            r.window = pick_enum!(b, RiskWindow);
            r.comparison = pick_enum!(b, Comparison);
            r.threshold = b.pick(&thresholds);
        }
    }
    commit(h, &mut e.rules, r, |x| x.rule_id == id);
}

/// Adds or removes a list entry on any entity (the list holds few entries: it fills up).
fn list_entry(h: &mut Harness, b: &mut Bytes<'_>) {
    let (fingerprint, card_bin) = b.pick(&CARDS);
    let entry = ConfigListEntry {
        list: pick_enum!(b, ListKind),
        op: pick_enum!(b, ListOp),
        entity: pick_enum!(b, RiskEntity),
        id: b.pick(&[0, 1, 2, 1_001, 1_002, BLOCKED_USER, ALLOWED_USER]),
        ip: ip(b),
        card_fingerprint: Chars::new(fingerprint),
        card_bin,
    };
    h.send(Sender::admin(), &entry);
}
