//! The split of a payment across platform, promoters, merchant hierarchy and channel fee: a pure
//! function of plain inputs (see docs/ENGINE.md, "Money").
//!
//! 1. The amount is allocated over `[platform, promoter level 1, promoter level 2, merchant]` rates
//!    by largest remainder (`money::allocate`).
//! 2. If the merchant bears the fee, a `ChannelFee` line of min(fee, merchant part) is taken from
//!    the merchant part.
//! 3. The merchant's (remaining) part is allocated over `[grandparent share, parent share, rest]`.
//!
//! Lines of zero are left out, except the selling merchant's own line. The lines always sum to the
//! amount exactly, and none is negative.
//!
//! A refund takes from the lines by largest remainder over what earlier refunds have not taken
//! (`refund_shares`; docs/ENGINE.md, "Refunds in pieces").

use arrayvec::ArrayVec;
use sluice_protocol::{MAX_SPLIT_LINES, PartyRole};

use crate::money::{PPB_ONE, allocate};
use crate::state::{Line, Slot, SplitProfile};

/// The split lines of one payment.
pub type Lines = ArrayVec<Line, MAX_SPLIT_LINES>;

/// A refund's parts, one per split line.
pub type Shares = ArrayVec<i64, MAX_SPLIT_LINES>;

// Platform, two promoters, the fee cover, two parents and the merchant.
const _: () = assert!(MAX_SPLIT_LINES >= 7);

/// A party that takes a share: its settlement slot and the day its income is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payee {
    pub party_slot: Slot,
    /// The due day, or the day it is earned when `held`.
    pub due_day: u32,
    /// Held for a manual release (the party's schedule is `Manual`).
    pub held: bool,
}

/// A split's rates in exact parts per billion, each 0..=10^9 (as configuration validates them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub platform_ppb: i64,
    /// Levels 1 and 2.
    pub promoter_ppb: [i64; 2],
    /// Parent, then grandparent.
    pub hierarchy_ppb: [i64; 2],
    pub merchant_bears_fee: bool,
}

impl Rates {
    /// The rates `profile` gives a payment of `amount_minor` in goods category `category`.
    pub fn of(profile: &SplitProfile, amount_minor: i64, category: u16) -> Rates {
        Rates {
            platform_ppb: platform_rate(profile, amount_minor, category),
            promoter_ppb: [profile.promoter_level1_ppb, profile.promoter_level2_ppb],
            hierarchy_ppb: [profile.parent_share_ppb, profile.grandparent_share_ppb],
            merchant_bears_fee: profile.merchant_bears_fee,
        }
    }
}

/// One payment as the split sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    pub amount_minor: i64,
    pub fee_minor: i64,
    /// The order's promoter (level 1) and its parent (level 2), when active.
    pub promoters: [Option<Payee>; 2],
    /// The merchant's parent and grandparent in its hierarchy.
    pub hierarchy: [Option<Payee>; 2],
    pub merchant: Payee,
}

/// The platform rate for an amount and category: category override, else the highest tier reached,
/// else the default.
pub fn platform_rate(p: &SplitProfile, amount_minor: i64, category: u16) -> i64 {
    if let Some(&(_, rate)) = p.categories.iter().find(|(c, _)| *c == category) {
        return rate;
    }
    p.tiers
        .iter()
        .rev()
        .find(|(min, _)| amount_minor >= *min)
        .map(|&(_, rate)| rate)
        .unwrap_or(p.platform_ppb)
}

/// The split lines of `payment` at `rates`: they sum to its amount exactly, none is negative.
#[inline]
pub fn split(rates: &Rates, payment: &Payment) -> Lines {
    assert!(payment.amount_minor > 0, "a split of a non-positive amount");
    assert!(payment.fee_minor >= 0, "a negative fee");
    assert!(
        payment.promoters[0].is_some() || payment.promoters[1].is_none(),
        "a level 2 promoter without a level 1"
    );
    assert!(
        payment.hierarchy[0].is_some() || payment.hierarchy[1].is_none(),
        "a grandparent without a parent"
    );
    let mut lines = Lines::new();
    let merchant_part = split_commissions(rates, payment, &mut lines);
    let merchant_part = if rates.merchant_bears_fee {
        let cover = payment.fee_minor.min(merchant_part);
        push_line(&mut lines, PartyRole::ChannelFee, None, cover);
        merchant_part - cover
    } else {
        merchant_part
    };
    split_hierarchy(rates, payment, merchant_part, &mut lines);
    // Both allocations sum to what they share and the fee cover moves money between two lines, so
    // the lines sum to the amount (`Order::succeed` asserts it before it stores them).
    lines
}

/// Platform and promoter lines; returns the merchant's part.
#[inline]
fn split_commissions(rates: &Rates, payment: &Payment, lines: &mut Lines) -> i64 {
    let rate = |i: usize| match payment.promoters[i] {
        Some(_) => rates.promoter_ppb[i],
        None => 0,
    };
    let (l1, l2) = (rate(0), rate(1));
    let merchant_ppb = (PPB_ONE - rates.platform_ppb - l1 - l2).max(0);
    let weights = [rates.platform_ppb, l1, l2, merchant_ppb].map(i128::from);
    let mut parts = [0i64; 4];
    assert!(
        allocate(payment.amount_minor, &weights, &mut parts),
        "rates in 0..=10^9 and a positive amount always allocate"
    );
    push_line(lines, PartyRole::Platform, None, parts[0]);
    let roles = [PartyRole::PromoterLevel1, PartyRole::PromoterLevel2];
    for (i, role) in roles.into_iter().enumerate() {
        if let Some(p) = payment.promoters[i] {
            push_line(lines, role, Some(p), parts[1 + i]);
        }
    }
    parts[3]
}

/// The merchant's part shared with its hierarchy: grandparent, parent, then its own line (always
/// present, even at zero).
#[inline]
fn split_hierarchy(rates: &Rates, payment: &Payment, merchant_part: i64, lines: &mut Lines) {
    let share = |i: usize| match payment.hierarchy[i] {
        Some(_) => rates.hierarchy_ppb[i],
        None => 0,
    };
    let (parent, grandparent) = (share(0), share(1));
    let own = (PPB_ONE - parent - grandparent).max(0);
    let mut shares = [0i64; 3];
    assert!(
        allocate(
            merchant_part,
            &[grandparent, parent, own].map(i128::from),
            &mut shares
        ),
        "shares in 0..=10^9 and a part of at least zero always allocate"
    );
    if let Some(g) = payment.hierarchy[1] {
        push_line(lines, PartyRole::MerchantGrandparent, Some(g), shares[0]);
    }
    if let Some(p) = payment.hierarchy[0] {
        push_line(lines, PartyRole::MerchantParent, Some(p), shares[1]);
    }
    lines.push(line(PartyRole::Merchant, Some(payment.merchant), shares[2]));
}

/// The shares of a refund of `amount_minor` over split lines of which `remainders` are still
/// unrefunded (each line less what refunds have taken from it): `money::allocate` by largest
/// remainder with the remainders as weights (ties go to the larger remainder, then the earlier
/// line). Each share is within 0..=its remainder, they sum to the amount, and a refund of the
/// whole remainder takes exactly every remainder. None unless 0 < amount <= Σ remainders and no
/// remainder is negative.
pub fn refund_shares(remainders: &[i64], amount_minor: i64) -> Option<Shares> {
    if remainders.len() > MAX_SPLIT_LINES {
        return None;
    }
    let weights: ArrayVec<i128, MAX_SPLIT_LINES> =
        remainders.iter().map(|&r| i128::from(r)).collect();
    let left: i128 = weights.iter().sum();
    if amount_minor <= 0 || i128::from(amount_minor) > left {
        return None;
    }
    let mut parts = [0i64; MAX_SPLIT_LINES];
    if !allocate(amount_minor, &weights, &mut parts) {
        return None;
    }
    let shares: Shares = parts[..remainders.len()].iter().copied().collect();
    // floor(R·r/Σr) <= r when R <= Σr, and a leftover unit goes only to a line whose exact share
    // has a fraction, which is then below its remainder: no share passes its remainder.
    for (share, remainder) in shares.iter().zip(remainders) {
        assert!(
            (0..=*remainder).contains(share),
            "a refund share {share} past its remainder {remainder}"
        );
    }
    Some(shares)
}

/// Adds a line of a non-zero amount.
#[inline]
fn push_line(lines: &mut Lines, role: PartyRole, payee: Option<Payee>, amount_minor: i64) {
    if amount_minor != 0 {
        lines.push(line(role, payee, amount_minor));
    }
}

#[inline]
fn line(role: PartyRole, payee: Option<Payee>, amount_minor: i64) -> Line {
    assert!(amount_minor >= 0, "a negative split line");
    Line {
        amount_minor,
        party_slot: payee.map(|p| p.party_slot),
        due_day: payee.map_or(0, |p| day_u16(p.due_day)),
        role,
        held: payee.is_some_and(|p| p.held),
    }
}

/// A day number as a split line stores it (u16 lasts until 2149; later days saturate).
pub(crate) fn day_u16(day: u32) -> u16 {
    u16::try_from(day).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PERCENT: i64 = PPB_ONE / 100;

    fn payee(slot: u32) -> Payee {
        Payee {
            party_slot: Slot::new(slot),
            due_day: 100 + slot,
            held: false,
        }
    }

    fn rates(platform: i64, promoters: [i64; 2], hierarchy: [i64; 2], bears: bool) -> Rates {
        Rates {
            platform_ppb: platform,
            promoter_ppb: promoters,
            hierarchy_ppb: hierarchy,
            merchant_bears_fee: bears,
        }
    }

    fn amounts(lines: &Lines) -> Vec<(PartyRole, i64)> {
        lines.iter().map(|l| (l.role, l.amount_minor)).collect()
    }

    #[test]
    fn golden_100_with_10_percent_platform_and_5_percent_promoter() {
        let payment = Payment {
            amount_minor: 10_000,
            fee_minor: 60,
            promoters: [Some(payee(1)), None],
            hierarchy: [None, None],
            merchant: payee(0),
        };
        let r = rates(10 * PERCENT, [5 * PERCENT, 2 * PERCENT], [0, 0], false);
        let lines = split(&r, &payment);
        assert_eq!(
            amounts(&lines),
            [
                (PartyRole::Platform, 1_000),
                (PartyRole::PromoterLevel1, 500),
                (PartyRole::Merchant, 8_500)
            ]
        );
        assert_eq!(lines[1].party_slot, Some(Slot::new(1)));
        assert_eq!((lines[0].party_slot, lines[0].due_day), (None, 0));
        assert_eq!(lines[2].due_day, 100);
    }

    #[test]
    fn the_fee_comes_out_of_the_merchant_part_and_the_hierarchy_shares_the_rest() {
        let payment = Payment {
            amount_minor: 10_000,
            fee_minor: 60,
            promoters: [Some(payee(1)), Some(payee(2))],
            hierarchy: [Some(payee(3)), Some(payee(4))],
            merchant: payee(0),
        };
        let r = rates(
            PERCENT,
            [8 * PERCENT, 3 * PERCENT],
            [10 * PERCENT, 5 * PERCENT],
            true,
        );
        // 100 / 800 / 300 / 8800; fee 60 -> 8740 shared 5% / 10% / 85%: 437 / 874 / 7429.
        assert_eq!(
            amounts(&split(&r, &payment)),
            [
                (PartyRole::Platform, 100),
                (PartyRole::PromoterLevel1, 800),
                (PartyRole::PromoterLevel2, 300),
                (PartyRole::ChannelFee, 60),
                (PartyRole::MerchantGrandparent, 437),
                (PartyRole::MerchantParent, 874),
                (PartyRole::Merchant, 7_429)
            ]
        );
    }

    #[test]
    fn a_fee_above_the_merchant_part_is_covered_up_to_it_and_the_merchant_line_stays() {
        let payment = Payment {
            amount_minor: 5,
            fee_minor: 1_000,
            promoters: [None, None],
            hierarchy: [None, None],
            merchant: payee(0),
        };
        let r = rates(30 * PERCENT, [0, 0], [0, 0], true);
        // 0.05 split 30 / 70 -> 0.01 / 0.04 (the tie goes to the larger weight); the fee takes all 4.
        assert_eq!(
            amounts(&split(&r, &payment)),
            [
                (PartyRole::Platform, 1),
                (PartyRole::ChannelFee, 4),
                (PartyRole::Merchant, 0)
            ]
        );
    }

    #[test]
    fn the_platform_rate_is_the_category_else_the_highest_tier_reached_else_the_default() {
        let mut p = SplitProfile {
            id: 1,
            platform_ppb: 6_000_000,
            promoter_level1_ppb: 0,
            promoter_level2_ppb: 0,
            parent_share_ppb: 0,
            grandparent_share_ppb: 0,
            merchant_bears_fee: false,
            tiers: ArrayVec::new(),
            categories: ArrayVec::new(),
        };
        p.tiers.push((100_000, 5_000_000));
        p.tiers.push((1_000_000, 4_000_000));
        p.categories.push((5411, 3_000_000));
        assert_eq!(platform_rate(&p, 99_999, 0), 6_000_000);
        assert_eq!(platform_rate(&p, 100_000, 0), 5_000_000);
        assert_eq!(platform_rate(&p, 2_000_000, 0), 4_000_000);
        assert_eq!(platform_rate(&p, 2_000_000, 5411), 3_000_000);
    }

    /// Refunds `pieces` in turn from `lines`, each over what is left; returns each one's shares.
    fn refund_in_pieces(lines: &[i64], pieces: &[i64]) -> Vec<Vec<i64>> {
        let mut remainders = lines.to_vec();
        let mut out = Vec::new();
        for &piece in pieces {
            let shares = refund_shares(&remainders, piece).expect("within what is left");
            for (r, s) in remainders.iter_mut().zip(&shares) {
                *r -= s;
            }
            out.push(shares.to_vec());
        }
        out
    }

    #[test]
    fn golden_one_yuan_split_10_5_85_refunded_33_33_34_reverses_every_line_exactly() {
        // 0.33 over remainders 10/5/85: exact 3.3 / 1.65 / 28.05, floors 3 / 1 / 28, the unit
        // left goes to the largest fraction (0.65, the promoter): 3 / 2 / 28. Then 0.33 over
        // 7/3/57 (Σ 67): exact 3.45 / 1.48 / 28.07 -> 3 / 2 / 28 again. The last 0.34 is all that
        // is left: exactly 4 / 1 / 29. Allocating each refund over the original lines would give
        // the last one 3 / 2 / 29: 6 from a promoter that received 5.
        let shares = refund_in_pieces(&[10, 5, 85], &[33, 33, 34]);
        assert_eq!(shares, [vec![3, 2, 28], vec![3, 2, 28], vec![4, 1, 29]]);
        let total: Vec<i64> = (0..3).map(|i| shares.iter().map(|s| s[i]).sum()).collect();
        assert_eq!(total, [10, 5, 85]);
    }

    #[test]
    fn golden_one_yuan_split_3_5_92_refunded_49_then_1_never_reverses_a_negative_share() {
        // 0.49 over 3/5/92: 1.47 / 2.45 / 45.08 -> 2 / 2 / 45. Then 0.01 over 1/3/47 goes to the
        // largest fraction (47/51, the merchant). Allocating the cumulative 0.50 over the original
        // lines (1.5 / 2.5 / 46 -> 1 / 3 / 46) and taking differences would reverse -0.01 from the
        // platform.
        let shares = refund_in_pieces(&[3, 5, 92], &[49, 1]);
        assert_eq!(shares, [vec![2, 2, 45], vec![0, 0, 1]]);
    }

    #[test]
    fn refund_shares_refuse_out_of_contract_inputs() {
        assert_eq!(refund_shares(&[10, 5], 0), None);
        assert_eq!(refund_shares(&[10, 5], 16), None);
        assert_eq!(refund_shares(&[0, 0], 1), None);
        assert_eq!(refund_shares(&[-1, 5], 1), None);
        assert_eq!(refund_shares(&[1; MAX_SPLIT_LINES + 1], 1), None);
        assert_eq!(refund_shares(&[0, 7, 0], 7).unwrap().as_slice(), [0, 7, 0]);
        // Amounts near the limit take the wide path, exactly.
        let max = i64::MAX;
        let shares = refund_shares(&[max / 2, max - max / 2], max).unwrap();
        assert_eq!(shares.as_slice(), [max / 2, max - max / 2]);
    }

    fn any_payee(slot: u32) -> impl Strategy<Value = Option<Payee>> {
        proptest::option::of((0u32..20_000).prop_map(move |due_day| Payee {
            party_slot: Slot::new(slot),
            due_day,
            held: false,
        }))
    }

    fn any_rate() -> impl Strategy<Value = i64> {
        prop_oneof![Just(0), Just(PPB_ONE), 0..=PPB_ONE]
    }

    proptest! {
        #[test]
        fn lines_sum_to_the_amount_and_none_is_negative(
            amount_minor in prop_oneof![1i64..1_000, 1i64..=i64::MAX / 4],
            fee_minor in prop_oneof![0i64..1_000, 0i64..=i64::MAX / 4],
            platform_ppb in any_rate(),
            promoter_ppb in [any_rate(), any_rate()],
            hierarchy_ppb in [any_rate(), any_rate()],
            merchant_bears_fee in any::<bool>(),
            level1 in any_payee(1),
            level2 in any_payee(2),
            parent in any_payee(3),
            grandparent in any_payee(4),
        ) {
            let rates = Rates { platform_ppb, promoter_ppb, hierarchy_ppb, merchant_bears_fee };
            let payment = Payment {
                amount_minor,
                fee_minor,
                promoters: [level1, level1.and(level2)],
                hierarchy: [parent, parent.and(grandparent)],
                merchant: payee(0),
            };
            let lines = split(&rates, &payment);
            prop_assert_eq!(lines.iter().map(|l| l.amount_minor).sum::<i64>(), amount_minor);
            prop_assert!(lines.iter().all(|l| l.amount_minor >= 0));
            let merchant = lines.iter().filter(|l| l.role == PartyRole::Merchant).count();
            prop_assert_eq!(merchant, 1);
            prop_assert!(lines.iter().all(|l| l.party_slot.is_some()
                == !matches!(l.role, PartyRole::Platform | PartyRole::ChannelFee)));
            if !merchant_bears_fee {
                prop_assert!(lines.iter().all(|l| l.role != PartyRole::ChannelFee));
            }
        }

        /// Refunds in random pieces, some of which fail and give their shares back: every share
        /// is within what is left of its line, the lines' cumulative reversal never passes the
        /// line, and refunding what is left returns every line exactly.
        #[test]
        fn refunds_in_pieces_return_every_line_exactly_and_never_more(
            amount_minor in prop_oneof![1i64..1_000, 1i64..=i64::MAX],
            fee_minor in prop_oneof![0i64..1_000, 0i64..=i64::MAX],
            platform_ppb in any_rate(),
            promoter_ppb in [any_rate(), any_rate()],
            hierarchy_ppb in [any_rate(), any_rate()],
            merchant_bears_fee in any::<bool>(),
            payees in (any_payee(1), any_payee(2), any_payee(3), any_payee(4)),
            pieces in prop::collection::vec((1u64..=1_000, prop::bool::weighted(0.2)), 0..24),
        ) {
            let rates = Rates { platform_ppb, promoter_ppb, hierarchy_ppb, merchant_bears_fee };
            let (level1, level2, parent, grandparent) = payees;
            let payment = Payment {
                amount_minor,
                fee_minor,
                promoters: [level1, level1.and(level2)],
                hierarchy: [parent, parent.and(grandparent)],
                merchant: payee(0),
            };
            let lines: Vec<i64> = split(&rates, &payment).iter().map(|l| l.amount_minor).collect();
            let mut taken = vec![0i64; lines.len()];
            let remainders = |taken: &[i64]| -> Vec<i64> {
                lines.iter().zip(taken).map(|(l, t)| l - t).collect()
            };
            for (permille, fails) in pieces {
                let left: i64 = remainders(&taken).iter().sum();
                if left == 0 {
                    break;
                }
                // A share (per mille, at least one unit) of what is left.
                let piece = ((i128::from(left) * i128::from(permille) / 1_000) as i64).max(1);
                let shares = refund_shares(&remainders(&taken), piece).unwrap();
                prop_assert_eq!(shares.iter().sum::<i64>(), piece);
                for i in 0..lines.len() {
                    prop_assert!(shares[i] >= 0 && taken[i] + shares[i] <= lines[i]);
                    if !fails {
                        taken[i] += shares[i];
                    }
                }
            }
            let left: i64 = remainders(&taken).iter().sum();
            if left > 0 {
                let shares = refund_shares(&remainders(&taken), left).unwrap();
                prop_assert_eq!(shares.to_vec(), remainders(&taken));
                for (t, s) in taken.iter_mut().zip(&shares) {
                    *t += s;
                }
            }
            prop_assert_eq!(taken, lines);
        }
    }
}
