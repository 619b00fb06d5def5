//! Exact money arithmetic: fees, rates and allocation by largest remainder.
//!
//! Rates are `rust_decimal::Decimal` values in configuration and on the wire. Each has at most 9
//! decimal places (checked when it is configured), so it is exactly an integer number of parts per
//! billion; the arithmetic below works on those integers in i128, which gives the result Decimal
//! arithmetic would, exactly, without Decimal's cost on the hot path.

use rust_decimal::Decimal;

/// Parts per billion in a whole.
pub const PPB_ONE: i64 = 1_000_000_000;

/// Most decimal places a configured rate may have.
pub const RATE_MAX_SCALE: u32 = 9;

/// A rate as an exact number of parts per billion.
pub fn rate_to_ppb(rate: Decimal) -> Option<i64> {
    let rate = rate.normalize();
    if rate.scale() > RATE_MAX_SCALE || rate.is_sign_negative() {
        return None;
    }
    let scaled = rate.checked_mul(Decimal::from(PPB_ONE))?;
    i64::try_from(scaled.mantissa() / 10i128.pow(scaled.scale())).ok()
}

/// The decimal a ppb value stands for.
pub fn ppb_to_rate(ppb: i64) -> Decimal {
    Decimal::new(ppb, RATE_MAX_SCALE).normalize()
}

/// Channel fee: `amount × bps / 10000` rounded half up to the minor unit, plus the fixed part
/// (configuration keeps both parts non-negative; a negative input counts as 0). None when the fee
/// is more than `i64::MAX` minor units: such a fee cannot be booked, and a payment that could owe
/// it is refused (`BalanceOverflow`), never charged a saturated fee.
#[inline]
pub fn channel_fee(amount_minor: i64, fee_bps: u16, fee_fixed_minor: i64) -> Option<i64> {
    let amount = amount_minor.max(0);
    // i64 when the product fits (every realistic amount), i128 otherwise: the same result.
    let percent = match amount
        .checked_mul(i64::from(fee_bps))
        .and_then(|p| p.checked_add(5_000))
    {
        Some(p) => i128::from(p / 10_000),
        None => (i128::from(amount) * i128::from(fee_bps) + 5_000) / 10_000,
    };
    i64::try_from(percent + i128::from(fee_fixed_minor.max(0))).ok()
}

/// The channel fee a refund returns under the ProRata policy (docs/RECONCILIATION.md, section 5):
/// `round_half_up(fee × (before + refund) / amount) − round_half_up(fee × before / amount)`, where
/// `before` is what earlier refunds of the payment returned money for. Exact (i128), so a payment
/// refunded in full, in any number of parts, returns exactly its fee. The one home of the rule:
/// the engine books it and the simulated channel pays it. Total: out-of-contract inputs are
/// clamped (an amount or fee of 0 or less returns 0; `before` into 0..=amount, `refund` into
/// 0..=amount − before).
pub fn fee_returned(
    fee_minor: i64,
    amount_minor: i64,
    refunded_before_minor: i64,
    refund_minor: i64,
) -> i64 {
    if fee_minor <= 0 || amount_minor <= 0 {
        return 0;
    }
    let before = refunded_before_minor.clamp(0, amount_minor);
    let after = i128::from(before) + i128::from(refund_minor.clamp(0, amount_minor - before));
    let (fee, amount) = (i128::from(fee_minor), i128::from(amount_minor));
    // round_half_up(fee × x / amount) for x >= 0: floor((2 × fee × x + amount) / (2 × amount)).
    let rounded = |x: i128| (2 * fee * x + amount) / (2 * amount);
    let returned = rounded(after) - rounded(i128::from(before));
    i64::try_from(returned).expect("a returned fee is at most the fee")
}

/// The most `fee_returned` can give for a refund of `refund_minor`, whatever was refunded
/// before: `ceil(fee × refund / amount)` (two roundings half up differ from the exact difference
/// by less than 1), at most the fee. What a ProRata refund reserves until its channel answers.
pub fn fee_returned_bound(fee_minor: i64, amount_minor: i64, refund_minor: i64) -> i64 {
    if fee_minor <= 0 || amount_minor <= 0 {
        return 0;
    }
    let refund = i128::from(refund_minor.clamp(0, amount_minor));
    let (fee, amount) = (i128::from(fee_minor), i128::from(amount_minor));
    let bound = (fee * refund + amount - 1) / amount;
    i64::try_from(bound.min(fee)).expect("the bound is at most the fee")
}

/// `amount × ppb / 10^9`, rounded down (toward zero for the non-negative amounts used here). None
/// when the result does not fit an i64, which a rate of at most 1 (every configured rate) never
/// gives.
#[inline]
pub fn apply_rate_floor(amount_minor: i64, ppb: i64) -> Option<i64> {
    i64::try_from(i128::from(amount_minor) * i128::from(ppb) / i128::from(PPB_ONE)).ok()
}

/// Allocates `total` (>= 0) over `weights` (>= 0, not all zero) by largest remainder: each part is
/// `floor(total × w / Σw)`, and the units left over go one each to the largest remainders; ties go to
/// the larger weight, then to the earlier index. Writes `weights.len()` parts into `out`; they sum to
/// `total` exactly. Returns false (and writes nothing) when the inputs are out of contract.
#[inline]
pub fn allocate(total: i64, weights: &[i128], out: &mut [i64]) -> bool {
    let n = weights.len();
    if total < 0 || out.len() < n || n == 0 || n > 16 {
        return false;
    }
    let sum: i128 = weights.iter().sum();
    if sum <= 0 || weights.iter().any(|w| *w < 0) {
        return false;
    }
    // Remainders fit a u64 on the fast path (below 2^32); the wide path keeps them in i128.
    let mut remainders = [0u128; 16];
    let mut given: i64 = 0;
    if sum <= 1 << 32 {
        // With t = q·sum + r and w <= sum: t·w / sum = q·w + r·w / sum, where r·w < sum² <= 2^64
        // fits a u64 — no 128-bit division (rates in ppb, amounts of ordinary orders).
        let sum64 = sum as u64;
        let (q, r) = ((total as u64) / sum64, (total as u64) % sum64);
        for i in 0..n {
            let w = weights[i] as u64;
            let rw = r * w;
            out[i] = (q * w + rw / sum64) as i64;
            remainders[i] = u128::from(rw % sum64);
            given += out[i];
        }
    } else {
        for i in 0..n {
            let product = i128::from(total) * weights[i];
            // Each part is at most `total`, so it fits an i64.
            out[i] = (product / sum) as i64;
            remainders[i] = (product % sum) as u128;
            given += out[i];
        }
    }
    // At most n - 1 units are left; each goes to the largest remainder not yet served (ties: the
    // larger weight, then the earlier party).
    let mut left = total - given;
    let mut taken = 0u16;
    while left > 0 {
        let mut best = usize::MAX;
        for i in 0..n {
            if taken & (1 << i) != 0 {
                continue;
            }
            let better = best == usize::MAX
                || remainders[i] > remainders[best]
                || (remainders[i] == remainders[best] && weights[i] > weights[best]);
            if better {
                best = i;
            }
        }
        if best == usize::MAX {
            break;
        }
        taken |= 1 << best;
        out[best] += 1;
        left -= 1;
    }
    // Money is exact: parts that did not sum to the total would create or lose money.
    assert_eq!(
        out[..n].iter().sum::<i64>(),
        total,
        "allocated parts sum to the total"
    );
    true
}

/// ISO 4217 alpha codes the configuration and the risk rules understand, with their numeric codes
/// (the one table: `sluice_node`'s configuration and `risk::lang` both read it).
pub const CURRENCY_CODES: &[(&str, u16)] = &[
    ("CNY", 156),
    ("USD", 840),
    ("EUR", 978),
    ("HKD", 344),
    ("GBP", 826),
    ("JPY", 392),
    ("SGD", 702),
    ("AUD", 36),
    ("CAD", 124),
    ("CHF", 756),
    ("KRW", 410),
    ("TWD", 901),
    ("MOP", 446),
    ("THB", 764),
    ("MYR", 458),
    ("INR", 356),
    ("BRL", 986),
];

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::prelude::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rates_convert_exactly() {
        assert_eq!(rate_to_ppb(d("0.1")), Some(100_000_000));
        assert_eq!(rate_to_ppb(d("0.006")), Some(6_000_000));
        assert_eq!(rate_to_ppb(d("1")), Some(PPB_ONE));
        assert_eq!(rate_to_ppb(d("0.000000001")), Some(1));
        assert_eq!(rate_to_ppb(d("0.0000000001")), None, "10 places is refused");
        assert_eq!(rate_to_ppb(d("-0.1")), None);
        assert_eq!(ppb_to_rate(6_000_000), d("0.006"));
    }

    #[test]
    fn golden_split_100_with_10_and_5_percent() {
        // 100.00 with 10% platform and 5% promoter -> 10.00 / 5.00 / 85.00.
        let mut out = [0i64; 3];
        assert!(allocate(
            10_000,
            &[100_000_000, 50_000_000, 850_000_000],
            &mut out
        ));
        assert_eq!(out, [1_000, 500, 8_500]);
    }

    #[test]
    fn golden_split_five_cents_30_70() {
        // 0.05 split 30/70: exact 1.5 / 3.5; the tie on the remainder goes to the larger weight.
        let mut out = [0i64; 2];
        assert!(allocate(5, &[300_000_000, 700_000_000], &mut out));
        assert_eq!(out, [1, 4]);
    }

    #[test]
    fn largest_remainder_gives_leftover_to_largest_fractions() {
        // 100 over thirds: 33.33 each -> 34 / 33 / 33 (equal remainders and weights: earliest wins).
        let mut out = [0i64; 3];
        assert!(allocate(100, &[1, 1, 1], &mut out));
        assert_eq!(out, [34, 33, 33]);
        // 10 over 0.15 / 0.35 / 0.5: exact 1.5 / 3.5 / 5 -> the remainder ties go to the larger weight.
        assert!(allocate(10, &[15, 35, 50], &mut out));
        assert_eq!(out, [1, 4, 5]);
        // 7 over 0.6 / 0.4 -> 4.2 / 2.8 -> 4 / 3.
        let mut two = [0i64; 2];
        assert!(allocate(7, &[6, 4], &mut two));
        assert_eq!(two, [4, 3]);
    }

    #[test]
    fn the_fast_path_agrees_with_exact_arithmetic() {
        let mut rng = 0x1234_5678_u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            rng >> 11
        };
        for _ in 0..10_000 {
            let n = 1 + (next() % 7) as usize;
            let weights: Vec<i128> = (0..n).map(|_| i128::from(next() % 1_000_000_000)).collect();
            if weights.iter().sum::<i128>() == 0 {
                continue;
            }
            let total = (next() % 100_000_000_000) as i64;
            let mut out = [0i64; 8];
            assert!(allocate(total, &weights, &mut out));
            let sum: i128 = weights.iter().sum();
            for i in 0..n {
                let exact = i128::from(total) * weights[i] / sum;
                assert!(i128::from(out[i]) - exact <= 1 && i128::from(out[i]) >= exact);
            }
            assert_eq!(out[..n].iter().sum::<i64>(), total);
        }
    }

    #[test]
    fn allocation_refuses_out_of_contract_inputs() {
        let mut out = [0i64; 2];
        assert!(!allocate(-1, &[1, 1], &mut out));
        assert!(!allocate(1, &[0, 0], &mut out));
        assert!(!allocate(1, &[-1, 2], &mut out));
        assert!(!allocate(1, &[], &mut out));
    }

    #[test]
    fn fee_rounds_half_up() {
        assert_eq!(channel_fee(10_000, 60, 0), Some(60)); // 0.6% of 100.00
        assert_eq!(channel_fee(250, 60, 0), Some(2)); // 1.5 -> 2
        assert_eq!(channel_fee(249, 60, 0), Some(1)); // 1.494 -> 1
        assert_eq!(channel_fee(10_000, 290, 30), Some(320)); // 2.9% + 0.30
        assert_eq!(channel_fee(0, 290, 30), Some(30));
    }

    #[test]
    fn a_fee_past_i64_is_none_never_saturated() {
        // 100% of i64::MAX is exactly i64::MAX (the wide path); one more minor unit does not fit.
        assert_eq!(channel_fee(i64::MAX, 10_000, 0), Some(i64::MAX));
        assert_eq!(channel_fee(i64::MAX, 10_000, 1), None);
        assert_eq!(channel_fee(i64::MAX - 1, 0, 1), Some(1));
        assert_eq!(channel_fee(1, 0, i64::MAX), Some(i64::MAX));
        assert_eq!(channel_fee(1, 1, i64::MAX), Some(i64::MAX)); // 0.0001 rounds to 0
        assert_eq!(channel_fee(5_000, 1, i64::MAX), None); // 0.5 rounds up to 1
        // Half up on the wide path too: 0.01% of i64::MAX = 922337203685477.5807.
        assert_eq!(channel_fee(i64::MAX, 1, 0), Some(922_337_203_685_478));
    }

    #[test]
    fn a_refund_in_parts_returns_exactly_the_fee() {
        // 1.00 with a fee of 0.03 refunded 0.33 + 0.33 + 0.34: 1 + 1 + 1.
        assert_eq!(fee_returned(3, 100, 0, 33), 1);
        assert_eq!(fee_returned(3, 100, 33, 33), 1); // 1.98 -> 2, less 0.99 -> 1
        assert_eq!(fee_returned(3, 100, 66, 34), 1);
        assert_eq!(fee_returned(3, 100, 0, 100), 3);
        assert_eq!(fee_returned(0, 100, 0, 100), 0);
        assert_eq!(fee_returned(3, 0, 0, 100), 0);
        // Out of contract: clamped.
        assert_eq!(fee_returned(3, 100, 90, 50), fee_returned(3, 100, 90, 10));
        assert_eq!(fee_returned(i64::MAX, i64::MAX, 0, i64::MAX), i64::MAX);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: i64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % m as u64) as i64
        };
        for _ in 0..2_000 {
            let amount = 1 + next(1_000_000);
            let fee = next(amount + 50);
            let (mut before, mut returned) = (0, 0);
            while before < amount {
                let part = 1 + next(amount - before);
                let r = fee_returned(fee, amount, before, part);
                assert!(
                    r >= 0 && r <= fee_returned_bound(fee, amount, part),
                    "{fee} {amount}"
                );
                returned += r;
                before += part;
            }
            assert_eq!(returned, fee);
        }
    }

    #[test]
    fn deposit_rounds_down() {
        assert_eq!(apply_rate_floor(999, 100_000_000), Some(99));
        assert_eq!(apply_rate_floor(1_000, 100_000_000), Some(100));
        assert_eq!(apply_rate_floor(i64::MAX, PPB_ONE), Some(i64::MAX));
        assert_eq!(apply_rate_floor(i64::MAX, PPB_ONE + 1), None);
    }
}
