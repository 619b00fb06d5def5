//! The normalized bill: what every format reads into and writes from.

use std::fmt;

/// The published layouts Sluice reads and writes (docs/BILLS.md cites each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// WeChat Pay's trade bill, type ALL (交易账单): backtick-prefixed CSV cells, detail rows, then a
    /// summary header and a summary row.
    WechatAll,
    /// Alipay's merchant trade detail bill (业务明细): GBK, `#` header and footer lines.
    AlipayDetail,
    /// UnionPay's acquiring settlement file (docs/BILLS.md names the layout).
    UnionPay,
    /// Stripe's itemized balance change from activity / payout reconciliation report (CSV).
    Stripe,
    /// PayPal's settlement report (SAR/STL, CSV with record-type columns).
    PayPal,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::WechatAll,
        Format::AlipayDetail,
        Format::UnionPay,
        Format::Stripe,
        Format::PayPal,
    ];

    /// The name used on the command line and in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Format::WechatAll => "wechat",
            Format::AlipayDetail => "alipay",
            Format::UnionPay => "unionpay",
            Format::Stripe => "stripe",
            Format::PayPal => "paypal",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A payment (capture) or a refund row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineKind {
    Payment,
    Refund,
}

/// The row's status as the channel states it, normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineStatus {
    /// The money moved (paid, or refunded).
    Succeeded,
    /// The channel says it did not move (a closed or failed trade, a failed refund).
    Failed,
    /// A capture the channel gave back to the payer (a reversal: WeChat REVOKED, …).
    Reversed,
}

/// One row of a bill, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillLine {
    /// 1-based line number in the file (0 for a line built in memory, not read).
    pub line_no: u32,
    pub kind: LineKind,
    pub status: LineStatus,
    /// The channel's own transaction id (Sluice's `channel_ref`).
    pub channel_trade_no: String,
    /// The merchant's order number the channel was given: Sluice's attempt key,
    /// `out_trade_no(order_id, attempt)`.
    pub out_trade_no: String,
    /// Refund rows: Sluice's refund id as the channel was given it (商户退款单号); 0 for payments.
    pub refund_id: u64,
    /// Refund rows: the channel's refund id; empty for payments.
    pub channel_refund_no: String,
    /// The payment's amount, or the refund's amount, minor units, never negative.
    pub amount_minor: i64,
    /// Payments: the fee charged; refunds: the fee the channel returned (0 when it keeps it).
    /// Minor units, never negative.
    pub fee_minor: i64,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// The channel's time of the row, ns since the Unix epoch (UTC), converted from the file's
    /// local time with the bill's offset.
    pub at_ns: u64,
    /// The settlement batch the row is paid in: Stripe's `automatic_payout_id`; empty for a
    /// channel that pays each bill day as one batch.
    pub batch: String,
}

impl BillLine {
    /// What the row adds to what the channel pays the platform: a payment's amount less its fee,
    /// a refund's amount (negative) plus the fee returned; 0 unless Succeeded (a reversed capture
    /// nets to 0).
    pub fn net_minor(&self) -> i64 {
        match (self.status, self.kind) {
            (LineStatus::Succeeded, LineKind::Payment) => self.amount_minor - self.fee_minor,
            (LineStatus::Succeeded, LineKind::Refund) => self.fee_minor - self.amount_minor,
            _ => 0,
        }
    }
}

/// Sluice's merchant order number for attempt `attempt` of order `order_id`, as sent to every
/// channel: `S{order_id}A{attempt}`. Each attempt has its own, so a failover never reuses one.
pub fn out_trade_no(order_id: u64, attempt: u8) -> String {
    format!("S{order_id}A{attempt}")
}

/// Parses `out_trade_no`'s form back; None when the text is not one of Sluice's.
pub fn parse_out_trade_no(text: &str) -> Option<(u64, u8)> {
    let rest = text.strip_prefix('S')?;
    let (order_text, attempt_text) = rest.split_once('A')?;
    let order: u64 = order_text.parse().ok()?;
    let attempt: u8 = attempt_text.parse().ok()?;
    // One spelling per key: no sign, no leading zeros.
    (order.to_string() == order_text && attempt.to_string() == attempt_text)
        .then_some((order, attempt))
}

/// The totals a bill states about itself (its summary or footer), checked against its rows when
/// read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Rows in the file.
    pub lines: u64,
    /// Σ amount of succeeded payment rows.
    pub paid_minor: i64,
    /// Σ amount of succeeded refund rows.
    pub refunded_minor: i64,
    /// Σ fees charged less fees returned.
    pub fees_minor: i64,
}

impl Totals {
    /// The totals of `lines`, as a writer states them and a parser checks them.
    pub fn of(lines: &[BillLine]) -> Totals {
        let mut t = Totals {
            lines: lines.len() as u64,
            ..Totals::default()
        };
        // Saturating: a parser sums rows before it has checked their amounts' range, and no
        // input may make it overflow (a saturated sum never equals a stated total it could trust).
        for l in lines.iter().filter(|l| l.status == LineStatus::Succeeded) {
            match l.kind {
                LineKind::Payment => {
                    t.paid_minor = t.paid_minor.saturating_add(l.amount_minor);
                    t.fees_minor = t.fees_minor.saturating_add(l.fee_minor);
                }
                LineKind::Refund => {
                    t.refunded_minor = t.refunded_minor.saturating_add(l.amount_minor);
                    t.fees_minor = t.fees_minor.saturating_sub(l.fee_minor);
                }
            }
        }
        t
    }
}

/// One bill: one channel merchant account, one bill day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    pub format: Format,
    /// The merchant account at the channel (WeChat 商户号, Alipay account, Stripe account id…).
    pub account: String,
    /// The bill day, days since 1970-01-01 in the bill's own time zone.
    pub day: u32,
    /// The bill's time zone: minutes east of UTC (WeChat, Alipay, UnionPay: +480).
    pub utc_offset_min: i32,
    pub lines: Vec<BillLine>,
    /// The totals the file states (checked against `lines` when read).
    pub totals: Totals,
}

/// A malformed bill: which file, which line (1-based; 0 = the file as a whole), which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillError {
    pub file: String,
    pub line: u32,
    pub field: String,
    pub message: String,
}

impl fmt::Display for BillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: field {}: {}",
            self.file, self.line, self.field, self.message
        )
    }
}

impl std::error::Error for BillError {}
