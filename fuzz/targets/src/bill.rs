//! The bill parsers (`sluice-bills`) on arbitrary bytes: one target per layout. Each parses the
//! input under the layout's customary file name (WeChat, UnionPay and Stripe take the account and
//! the day from it); a parse must never panic, and a bill that parses must write back to bytes
//! that parse to the same bill (`sluice_bills::sample::assert_stable`).

use sluice_bills::Format;
use sluice_bills::sample::{account, assert_stable};

/// The bill day the targets' file names state (2025-12-06).
const DAY: u32 = 20_428;

/// Runs one bill target's checks on `data`; returns whether it parsed.
pub fn bill_parses(format: Format, data: &[u8]) -> bool {
    let name = sluice_bills::file_name(format, account(format), DAY);
    let _ = sluice_bills::detect(data);
    assert_stable(format, &name, data)
}

fn bill(format: Format, data: &[u8]) {
    bill_parses(format, data);
}

pub fn bill_wechat(data: &[u8]) {
    bill(Format::WechatAll, data);
}

pub fn bill_alipay(data: &[u8]) {
    bill(Format::AlipayDetail, data);
}

pub fn bill_unionpay(data: &[u8]) {
    bill(Format::UnionPay, data);
}

pub fn bill_stripe(data: &[u8]) {
    bill(Format::Stripe, data);
}

pub fn bill_paypal(data: &[u8]) {
    bill(Format::PayPal, data);
}
