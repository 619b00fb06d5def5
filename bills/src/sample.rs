//! Seeded random bills that keep every format's rules, for round-trip tests, the speed example and
//! the fuzz seeds: payments, partial refunds sharing a trade number, reversed captures, failed
//! refunds, fees, several currencies where the format allows, Stripe payout ids. Deterministic: a
//! seed gives the same bill on every platform.

use crate::currency::{CNY, CURRENCIES};
use crate::model::{Bill, BillLine, Format, LineKind, LineStatus, Totals, out_trade_no};
use crate::rules::check_line;

/// A small deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The account a sample bill of `format` is for.
pub fn account(format: Format) -> &'static str {
    match format {
        Format::WechatAll => "1900000109",
        Format::AlipayDetail => "2088102146225135",
        Format::UnionPay => "777290058110097",
        Format::Stripe => "acct_1SluiceTest",
        Format::PayPal => "SLUICEMERCHANT01",
    }
}

fn offset(format: Format, rng: &mut Rng) -> i32 {
    match format.published_utc_offset_min() {
        Some(offset) => offset,
        None if format == Format::Stripe => rng.pick(&[0, 0, 60, -300, 330]),
        None => rng.pick(&[-480, -420, 0, 60, 345]),
    }
}

fn currency(format: Format, rng: &mut Rng) -> u16 {
    match format {
        Format::Stripe => rng.pick(&CURRENCIES).numeric,
        Format::PayPal => {
            let c = rng.pick(&CURRENCIES);
            if c.exponent <= 2 { c.numeric } else { CNY }
        }
        _ => CNY,
    }
}

/// A random bill of `lines_max` lines at most (payments, then 0 to 3 refunds of some of them).
pub fn random_bill(format: Format, seed: u64, lines_max: usize) -> Bill {
    let mut rng = Rng::new(seed);
    let day = 20_000 + rng.below(1_500) as u32;
    let utc_offset_min = offset(format, &mut rng);
    let day_start_s = i64::from(day) * 86_400 - i64::from(utc_offset_min) * 60;
    let mut lines = Vec::new();
    let mut refund_id = 1 + rng.below(1_000_000);
    let mut order_id = 1 + rng.below(1_000_000_000);
    while lines.len() < lines_max {
        order_id += 1 + rng.below(5);
        let at_s = day_start_s + rng.below(86_400) as i64;
        let payment = random_payment(format, &mut rng, order_id, at_s);
        let refunds = if payment.status == LineStatus::Succeeded {
            rng.below(4)
        } else {
            0
        };
        let mut left = payment.amount_minor;
        let mut refund_lines = Vec::new();
        for _ in 0..refunds {
            if left <= 0 || lines.len() + 1 + refund_lines.len() >= lines_max {
                break;
            }
            refund_id += 1 + rng.below(3);
            let refund = random_refund(format, &mut rng, &payment, refund_id, left, at_s);
            left -= refund.amount_minor;
            refund_lines.push(refund);
        }
        lines.push(payment);
        lines.append(&mut refund_lines);
    }
    lines.truncate(lines_max);
    for line in &lines {
        assert_eq!(check_line(format, line), Ok(()), "{line:?}");
    }
    let totals = Totals::of(&lines);
    Bill {
        format,
        account: account(format).to_string(),
        day,
        utc_offset_min,
        lines,
        totals,
    }
}

fn random_payment(format: Format, rng: &mut Rng, order_id: u64, at_s: i64) -> BillLine {
    let status = if format.supports(LineKind::Payment, LineStatus::Reversed) && rng.below(10) == 0 {
        LineStatus::Reversed
    } else {
        LineStatus::Succeeded
    };
    let amount_max = if rng.below(20) == 0 {
        999_999_999_999
    } else {
        5_000_000
    };
    let amount_minor = 1 + rng.below(amount_max) as i64;
    let fee_minor = match status {
        LineStatus::Succeeded => (amount_minor * 6 / 1000).max(rng.below(2) as i64),
        _ => 0,
    };
    let batch = match format {
        Format::Stripe if rng.below(3) > 0 => format!("po_{:012x}", rng.below(1 << 40)),
        _ => String::new(),
    };
    BillLine {
        line_no: 0,
        kind: LineKind::Payment,
        status,
        channel_trade_no: format!(
            "{}{:016}",
            trade_prefix(format),
            rng.below(10_000_000_000_000_000)
        ),
        out_trade_no: out_trade_no(order_id, rng.below(3) as u8 + 1),
        refund_id: 0,
        channel_refund_no: String::new(),
        amount_minor,
        fee_minor,
        currency: currency(format, rng),
        at_ns: (at_s.max(0) as u64) * 1_000_000_000,
        batch,
    }
}

fn trade_prefix(format: Format) -> &'static str {
    match format {
        Format::WechatAll => "4200",
        Format::AlipayDetail => "2026",
        Format::UnionPay => "6",
        Format::Stripe => "pi_",
        Format::PayPal => "9PX",
    }
}

fn random_refund(
    format: Format,
    rng: &mut Rng,
    payment: &BillLine,
    refund_id: u64,
    left: i64,
    at_s: i64,
) -> BillLine {
    let failed = format.supports(LineKind::Refund, LineStatus::Failed) && rng.below(8) == 0;
    let amount_minor = if rng.below(3) == 0 {
        left
    } else {
        1 + rng.below(left as u64) as i64
    };
    let fee_minor = if failed {
        0
    } else {
        (i128::from(payment.fee_minor) * i128::from(amount_minor)
            / i128::from(payment.amount_minor)) as i64
    };
    let channel_refund_no = match format {
        Format::AlipayDetail => String::new(),
        Format::Stripe => format!("re_{:016x}", rng.next_u64()),
        _ => format!("50{:016}", rng.below(10_000_000_000_000_000)),
    };
    let later_s = at_s + rng.below(3_600) as i64;
    BillLine {
        kind: LineKind::Refund,
        status: if failed {
            LineStatus::Failed
        } else {
            LineStatus::Succeeded
        },
        refund_id,
        channel_refund_no,
        amount_minor,
        fee_minor,
        at_ns: (later_s.max(0) as u64) * 1_000_000_000,
        batch: if format == Format::Stripe && rng.below(2) == 0 {
            payment.batch.clone()
        } else {
            String::new()
        },
        ..payment.clone()
    }
}

/// The property the mutation test and the fuzz targets check on any input: parsing never panics,
/// and a bill that parses writes back to bytes that parse to the same bill (line numbers aside).
/// Returns whether `bytes` parsed.
pub fn assert_stable(format: Format, file: &str, bytes: &[u8]) -> bool {
    let Ok(bill) = crate::parse(file, bytes, Some(format)) else {
        return false;
    };
    let written = crate::write(&bill);
    let again = crate::parse(file, &written, Some(format))
        .unwrap_or_else(|e| panic!("a bill Sluice read does not read back after writing: {e}"));
    let strip = |mut b: Bill| {
        b.lines.iter_mut().for_each(|l| l.line_no = 0);
        b
    };
    let (bill, again) = (strip(bill), strip(again));
    let lost_zone = format == Format::Stripe && bill.lines.is_empty();
    assert!(
        lost_zone || again == bill,
        "a bill read, written and read again changed"
    );
    assert!(
        crate::detect(&written) == Some(format) || bill.lines.is_empty(),
        "a written bill is detected as its format"
    );
    true
}
