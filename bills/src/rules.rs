//! The rules a bill line must keep to be written in a layout and read back as itself: one home
//! for what each format can state. A parser applies them to every line it builds (a line breaking
//! them is an error at that line); a writer asserts them (a `Bill` built in memory that breaks them
//! is a bug of its builder: `check` says so beforehand).

use std::fmt;

use crate::currency;
use crate::model::{Bill, BillLine, Format, LineKind, LineStatus};
use crate::text::is_ident;

/// The largest amount or fee any layout can state, minor units: UnionPay's 12-digit fen fields.
pub const AMOUNT_MAX_MINOR: i64 = 999_999_999_999;

/// The bill days UnionPay's file name (`INN<yymmdd>…`) can state: 2000-01-01 to 2099-12-31.
pub const UNIONPAY_DAYS: std::ops::RangeInclusive<u32> = 10_957..=47_481;

/// What a line breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFault {
    /// The format cannot state this kind with this status (`Format::supports`).
    Status,
    /// Not in `1..=AMOUNT_MAX_MINOR`.
    Amount,
    /// Negative, over the maximum, or non-zero on a line that did not succeed.
    Fee,
    /// Unknown, or not one the format states (CNY only for WeChat, Alipay, UnionPay).
    Currency,
    /// `channel_trade_no` not an identifier, or too long for the format.
    TradeNo,
    /// `out_trade_no` not an identifier, or too long for the format.
    OutTradeNo,
    /// A payment with a refund id, or a refund without one.
    RefundId,
    /// `channel_refund_no` missing on a refund (or present on a payment, or on an Alipay refund,
    /// whose layout has no column for it).
    RefundNo,
    /// A batch on a format other than Stripe, or not an identifier.
    Batch,
}

impl fmt::Display for LineFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            LineFault::Status => "this kind and status cannot be stated in the format",
            LineFault::Amount => "amount must be positive and at most 999999999999 minor units",
            LineFault::Fee => "fee must be within 0..=999999999999, and 0 unless the row succeeded",
            LineFault::Currency => "currency is unknown or not stated by this format",
            LineFault::TradeNo => {
                "channel trade number must be 1..=64 of [A-Za-z0-9_-.@] (shorter in some formats)"
            }
            LineFault::OutTradeNo => {
                "merchant order number must be 1..=64 of [A-Za-z0-9_-.@] (shorter in some formats)"
            }
            LineFault::RefundId => {
                "a refund row needs a refund id (a positive decimal), a payment row none"
            }
            LineFault::RefundNo => {
                "the channel refund number is required on a refund row and absent elsewhere"
            }
            LineFault::Batch => "a settlement batch is stated only by Stripe (automatic_payout_id)",
        };
        f.write_str(text)
    }
}

impl Format {
    /// Whether the layout can state a row of this kind with this status (docs/BILLS.md says how).
    /// No layout lists a payment that failed (the channels bill money that moved); a refund is
    /// never `Reversed`.
    pub fn supports(self, kind: LineKind, status: LineStatus) -> bool {
        use LineKind::{Payment, Refund};
        use LineStatus::{Failed, Reversed, Succeeded};
        match (self, kind, status) {
            (_, Payment, Succeeded) | (_, Refund, Succeeded) => true,
            (Format::AlipayDetail, _, _) => false,
            (_, Payment, Reversed) => true,
            (Format::WechatAll | Format::Stripe, Refund, Failed) => true,
            _ => false,
        }
    }

    /// The bill's time zone when the file does not state it: Beijing time (+480) for WeChat,
    /// Alipay and UnionPay; None for Stripe and PayPal, whose files state it.
    pub fn published_utc_offset_min(self) -> Option<i32> {
        match self {
            Format::WechatAll | Format::AlipayDetail | Format::UnionPay => Some(480),
            Format::Stripe | Format::PayPal => None,
        }
    }

    /// The longest identifiers the layout holds: (account, channel numbers, out_trade_no).
    fn ident_max_len(self) -> (usize, usize, usize) {
        match self {
            Format::UnionPay => (15, 21, 32),
            _ => (64, 64, 64),
        }
    }
}

fn ident_within(text: &str, max_len: usize) -> bool {
    is_ident(text) && text.len() <= max_len
}

/// Checks one line against the rules of `format`.
pub fn check_line(format: Format, line: &BillLine) -> Result<(), LineFault> {
    let (_, channel_max, out_max) = format.ident_max_len();
    let succeeded = line.status == LineStatus::Succeeded;
    let currency_ok = match currency::by_numeric(line.currency) {
        None => false,
        Some(c) => match format {
            Format::WechatAll | Format::AlipayDetail | Format::UnionPay => {
                c.numeric == currency::CNY
            }
            Format::PayPal => c.exponent <= 2,
            Format::Stripe => true,
        },
    };
    let refund = line.kind == LineKind::Refund;
    let refund_no_ok = match (refund, format) {
        (true, Format::AlipayDetail) | (false, _) => line.channel_refund_no.is_empty(),
        (true, _) => ident_within(&line.channel_refund_no, channel_max),
    };
    let batch_ok = match format {
        Format::Stripe => line.batch.is_empty() || is_ident(&line.batch),
        _ => line.batch.is_empty(),
    };
    let checks = [
        (format.supports(line.kind, line.status), LineFault::Status),
        (
            (1..=AMOUNT_MAX_MINOR).contains(&line.amount_minor),
            LineFault::Amount,
        ),
        (
            (0..=AMOUNT_MAX_MINOR).contains(&line.fee_minor) && (succeeded || line.fee_minor == 0),
            LineFault::Fee,
        ),
        (currency_ok, LineFault::Currency),
        (
            ident_within(&line.channel_trade_no, channel_max),
            LineFault::TradeNo,
        ),
        (
            ident_within(&line.out_trade_no, out_max),
            LineFault::OutTradeNo,
        ),
        ((line.refund_id != 0) == refund, LineFault::RefundId),
        (refund_no_ok, LineFault::RefundNo),
        (batch_ok, LineFault::Batch),
    ];
    match checks.into_iter().find(|(ok, _)| !ok) {
        Some((_, fault)) => Err(fault),
        None => Ok(()),
    }
}

/// Whether `account` is a merchant account the format can state (an identifier; UnionPay's
/// 商户代码 is at most 15 characters).
pub(crate) fn account_ok(format: Format, account: &str) -> bool {
    ident_within(account, format.ident_max_len().0)
}

/// Checks a whole bill against its format's rules: the account, then every line. The error
/// names the line (its index in `lines`, 0-based) when a line is at fault.
pub fn check(bill: &Bill) -> Result<(), String> {
    if !account_ok(bill.format, &bill.account) {
        return Err(format!(
            "account {:?} is not an identifier of at most {} characters",
            bill.account,
            bill.format.ident_max_len().0
        ));
    }
    if bill.day > crate::text::BILL_DAY_MAX {
        return Err(format!(
            "day {} is after the last bill day, 2500-12-30",
            bill.day
        ));
    }
    if !(-1440..=1440).contains(&bill.utc_offset_min) {
        return Err(format!(
            "utc_offset_min {} is over a day",
            bill.utc_offset_min
        ));
    }
    for (i, line) in bill.lines.iter().enumerate() {
        check_line(bill.format, line).map_err(|fault| format!("line {i}: {fault}"))?;
    }
    Ok(())
}

/// Asserts `check` before writing: a writer states nothing it could not read back.
pub(crate) fn assert_writable(bill: &Bill, format: Format) {
    assert_eq!(
        bill.format,
        format,
        "a {} bill given to the {} writer",
        bill.format.name(),
        format.name()
    );
    if let Err(e) = check(bill) {
        panic!(
            "a {} bill that breaks the format's rules: {e}",
            format.name()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::random_bill;

    /// An edit of a line, and the fault it must cause.
    type Case = (fn(&mut BillLine), LineFault);

    fn payment(format: Format) -> BillLine {
        let bill = random_bill(format, 3, 1);
        bill.lines[0].clone()
    }

    #[test]
    fn every_fault_is_reachable() {
        let base = payment(Format::UnionPay);
        assert_eq!(check_line(Format::UnionPay, &base), Ok(()));
        let cases: [Case; 10] = [
            (|l| l.status = LineStatus::Failed, LineFault::Status),
            (|l| l.amount_minor = 0, LineFault::Amount),
            (|l| l.amount_minor = AMOUNT_MAX_MINOR + 1, LineFault::Amount),
            (|l| l.fee_minor = -1, LineFault::Fee),
            (|l| l.currency = 840, LineFault::Currency),
            (|l| l.channel_trade_no = "x".repeat(22), LineFault::TradeNo),
            (
                |l| l.out_trade_no = "S1A1,".to_string(),
                LineFault::OutTradeNo,
            ),
            (|l| l.refund_id = 7, LineFault::RefundId),
            (
                |l| l.channel_refund_no = "R1".to_string(),
                LineFault::RefundNo,
            ),
            (|l| l.batch = "po_1".to_string(), LineFault::Batch),
        ];
        for (edit, fault) in cases {
            let mut line = base.clone();
            edit(&mut line);
            assert_eq!(check_line(Format::UnionPay, &line), Err(fault), "{line:?}");
        }
        let mut reversed = base.clone();
        reversed.status = LineStatus::Reversed;
        assert_eq!(
            check_line(Format::UnionPay, &reversed),
            Err(LineFault::Fee),
            "a reversal keeps no fee"
        );
        reversed.fee_minor = 0;
        assert_eq!(check_line(Format::UnionPay, &reversed), Ok(()));
        assert_eq!(
            check_line(Format::AlipayDetail, &reversed),
            Err(LineFault::Status)
        );
    }

    #[test]
    fn bills_are_checked_whole() {
        let mut bill = random_bill(Format::Stripe, 4, 5);
        assert_eq!(check(&bill), Ok(()));
        bill.account = "acct 1".to_string();
        assert!(check(&bill).is_err());
        let mut bill = random_bill(Format::UnionPay, 4, 5);
        bill.account = "7".repeat(16);
        assert!(check(&bill).is_err());
    }

    #[test]
    #[should_panic(expected = "breaks the format's rules")]
    fn a_writer_refuses_what_it_could_not_read_back() {
        let mut bill = random_bill(Format::WechatAll, 5, 3);
        bill.lines[0].currency = 840;
        crate::write(&bill);
    }
}
