//! Channel bill files in their published layouts (docs/RECONCILIATION.md, docs/BILLS.md).
//!
//! Every format reads into and writes from one normalized model (`model`): a bill is a list of
//! `BillLine`s — payments and refunds as the channel booked them, with its fee and its own time —
//! plus the totals the file states about itself. The simulator writes bills from its book; `sluice
//! reconcile` reads them. A parser refuses a malformed file with the file, the line and the field
//! at fault (`BillError`), and returns nothing else: a bill is loaded whole or not at all.
//!
//! What each layout can state is in `rules` (`Format::supports`, `check`): a writer asserts it, a
//! parser enforces it on every line. Files carry times to the second: `at_ns` is written truncated.

#![forbid(unsafe_code)]

pub mod alipay;
pub mod currency;
pub mod model;
pub mod paypal;
mod paypal_read;
mod row;
pub mod rules;
pub mod sample;
pub mod stripe;
mod text;
pub mod unionpay;
pub mod wechat;
pub mod window;

pub use model::*;
pub use rules::{LineFault, check, check_line};
pub use text::BILL_DAY_MAX;
pub use window::{day_of, day_window};

use text::Errors;

/// Writes `bill` in its format's layout. Panics if the bill breaks the format's rules (`check`).
pub fn write(bill: &Bill) -> Vec<u8> {
    match bill.format {
        Format::WechatAll => wechat::write(bill),
        Format::AlipayDetail => alipay::write(bill),
        Format::UnionPay => unionpay::write(bill),
        Format::Stripe => stripe::write(bill),
        Format::PayPal => paypal::write(bill),
    }
}

/// Reads a bill file. `file` is its name (or path): the errors name it, and WeChat, UnionPay and
/// Stripe take the account and the bill day from it (`file_name`), their files stating no day.
/// With `format` None the layout is detected (`detect`).
pub fn parse(file: &str, bytes: &[u8], format: Option<Format>) -> Result<Bill, BillError> {
    let format = match format.or_else(|| detect(bytes)) {
        Some(format) => format,
        None => return Err(Errors { file }.at(0, "(format)", "not a bill layout Sluice knows")),
    };
    match format {
        Format::WechatAll => wechat::parse(file, bytes),
        Format::AlipayDetail => alipay::parse(file, bytes),
        Format::UnionPay => unionpay::parse(file, bytes),
        Format::Stripe => stripe::parse(file, bytes),
        Format::PayPal => paypal::parse(file, bytes),
    }
}

/// The layout of a file, from its first line; None when it is none of the five (or is empty).
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(bytes);
    let starts = |prefix: &str| first.starts_with(prefix.as_bytes());
    let (alipay_title, _, _) = encoding_rs::GBK.encode(alipay::TITLE);
    if starts(&wechat::COLUMNS[..2].join(",")) {
        Some(Format::WechatAll)
    } else if first.starts_with(&alipay_title) {
        Some(Format::AlipayDetail)
    } else if starts("\"RH\",") {
        Some(Format::PayPal)
    } else if starts("balance_transaction_id,") {
        Some(Format::Stripe)
    } else if unionpay::looks_like(first) {
        Some(Format::UnionPay)
    } else {
        None
    }
}

/// The channel's customary name for the bill of `account` on `day` (days since 1970-01-01):
/// WeChat `<mchid>_<yyyymmdd>_ALL.csv`, Alipay `<account>_<yyyymmdd>_业务明细.csv`, UnionPay
/// `INN<yymmdd>88ZM_<merId>`, Stripe `<account>_payout_reconciliation.itemized.5_<yyyymmdd>.csv`,
/// PayPal `STL-<yyyymmdd>.01.009.CSV`. docs/BILLS.md says where each comes from.
pub fn file_name(format: Format, account: &str, day: u32) -> String {
    match format {
        Format::WechatAll => wechat::file_name(account, day),
        Format::AlipayDetail => alipay::file_name(account, day),
        Format::UnionPay => unionpay::file_name(account, day),
        Format::Stripe => stripe::file_name(account, day),
        Format::PayPal => paypal::file_name(account, day),
    }
}

/// The text of a UTF-8 file; on invalid UTF-8, the line of the first bad byte.
fn utf8<'a>(errors: Errors<'_>, bytes: &'a [u8]) -> Result<&'a str, BillError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        errors.at(
            u32::try_from(line).unwrap_or(u32::MAX),
            "(encoding)",
            "not UTF-8 text",
        )
    })
}

/// Checks a header row of comma-separated column names, naming the first column that differs.
fn expect_header(
    errors: Errors<'_>,
    line: u32,
    text: &str,
    columns: &[&str],
) -> Result<(), BillError> {
    let mut names = text.split(',');
    for column in columns {
        match names.next() {
            Some(name) if name == *column => {}
            Some(name) => {
                return Err(errors.at(
                    line,
                    column,
                    format!("header {name:?}, expected {column:?}"),
                ));
            }
            None => return Err(errors.at(line, column, "the header row ends before this column")),
        }
    }
    match names.next() {
        Some(extra) => Err(errors.at(line, "(header)", format!("unexpected column {extra:?}"))),
        None => Ok(()),
    }
}

/// Checks the totals a file states against its rows' (`Totals::of`).
fn check_totals(
    errors: Errors<'_>,
    line: u32,
    lines: &[BillLine],
    stated: &Totals,
    field: &str,
) -> Result<(), BillError> {
    let counted = Totals::of(lines);
    if counted == *stated {
        return Ok(());
    }
    Err(errors.at(
        line,
        field,
        format!("the file states {stated:?}, its rows sum to {counted:?}"),
    ))
}
