//! The simulated channels' bills (docs/RECONCILIATION.md, sections 2, 3 and 5): each channel
//! writes its book as the bill a real channel would publish, one per bill day, in its own layout
//! (`sluice_bills`), with discrepancies injected on request (`sim_bills_inject`) and a ground-truth
//! manifest next to each bill (`sim_bills_write`).
//!
//! What a bill lists, from the book:
//! - a capture the channel keeps: a payment row, Succeeded, at the channel's time of the capture
//!   (the Dispatch's `at_ns` plus the processing time it drew), with the channel's fee;
//! - a capture reversed (ChannelControl Reverse): one payment row, Reversed, fee 0 (it nets to 0),
//!   at the reversal's time — except in Alipay's 业务明细, which lists only money that moved and
//!   has no word for it (left out);
//! - a paid refund: a refund row, Succeeded, at its channel time, with the fee returned;
//! - declined, failed and closed attempts and failed refunds are not listed (no money moved;
//!   WeChat and Stripe could state a failed refund, but the platform keeps no such record).
//!
//! A row the layout cannot state (a currency other than CNY in WeChat, Alipay or UnionPay, an id
//! too long for UnionPay's fixed width) is left out and counted as `unstatable`.

use sluice_bills::{BillLine, Format, LineKind, LineStatus, check_line, out_trade_no};
use sluice_protocol::{
    AnyMessage, ConfigChannel, MethodFee, PaymentMethod, RefundFeePolicy, SettlementSchedule,
};
use std::collections::BTreeMap;

use crate::config::{Config, SimChannel};
use crate::sim_book::{Book, Decided, capture_ref, refund_ref};

pub const NS_PER_MIN: u64 = 60_000_000_000;
pub const NS_PER_DAY: u64 = 1_440 * NS_PER_MIN;

/// What a channel's bills need from its configuration (ConfigChannel and `[[simulator.channels]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct BillChannel {
    pub channel_id: u16,
    pub format: Format,
    /// The merchant account the bills name.
    pub account: String,
    pub refund_fee: RefundFeePolicy,
    pub utc_offset_min: i32,
    pub cutoff_min: u16,
    pub settlement: SettlementSchedule,
    pub settlement_delay_days: u8,
    pub methods: Vec<MethodFee>,
}

/// The layout a channel named `name` publishes, when Sluice knows the channel.
pub fn format_of_name(name: &str) -> Option<Format> {
    match name {
        "wechat_pay" | "wechat" => Some(Format::WechatAll),
        "alipay" => Some(Format::AlipayDetail),
        "unionpay" => Some(Format::UnionPay),
        "stripe" => Some(Format::Stripe),
        "paypal" => Some(Format::PayPal),
        _ => None,
    }
}

impl BillChannel {
    /// The bill settings of channel `c`, simulated as `sim` says; None when no layout is set and
    /// the channel's name names none.
    pub fn of(c: &ConfigChannel, sim: &SimChannel) -> Option<BillChannel> {
        let format = match sim.bill_format.as_deref() {
            Some(name) => Format::from_name(name)?,
            None => format_of_name(&c.name.as_str())?,
        };
        let account = sim
            .bill_account
            .clone()
            .unwrap_or_else(|| sluice_bills::sample::account(format).to_string());
        Some(BillChannel {
            channel_id: c.channel_id,
            format,
            account,
            refund_fee: c.refund_fee,
            utc_offset_min: c.bill_utc_offset_min,
            cutoff_min: c.bill_cutoff_min,
            settlement: c.settlement,
            settlement_delay_days: c.settlement_delay_days,
            methods: c.methods.iter().copied().collect(),
        })
    }

    /// The channel's fee for a capture of `amount_minor` by `method`: the engine's rule
    /// (`sluice_engine::money::channel_fee`) over the channel's price for the method, 0 for a
    /// method it does not list (as the engine books it). A fee past i64 is refused by the engine
    /// before any dispatch, so it never reaches a channel.
    pub fn fee_minor(&self, method: PaymentMethod, amount_minor: i64) -> i64 {
        self.methods
            .iter()
            .find(|m| m.method == method)
            .and_then(|m| {
                sluice_engine::money::channel_fee(amount_minor, m.fee_bps, m.fee_fixed_minor)
            })
            .unwrap_or(0)
    }

    /// The fee returned by a refund of `refund_minor` after `refunded_before_minor` of a capture
    /// of `amount_minor` with fee `fee_minor` (Keep: 0).
    pub fn fee_returned_minor(
        &self,
        fee_minor: i64,
        amount_minor: i64,
        refunded_before_minor: i64,
        refund_minor: i64,
    ) -> i64 {
        match self.refund_fee {
            // The engine's rule, its one home (docs/RECONCILIATION.md, section 5).
            RefundFeePolicy::ProRata => sluice_engine::money::fee_returned(
                fee_minor,
                amount_minor,
                refunded_before_minor,
                refund_minor,
            ),
            _ => 0,
        }
    }

    /// Bill day `day`'s window, ns since the epoch (UTC), `[start, end)`.
    pub fn window(&self, day: u32) -> (u64, u64) {
        day_window(day, self.utc_offset_min, self.cutoff_min)
    }

    /// The bill day whose window holds `at_ns`.
    pub fn day_of(&self, at_ns: u64) -> u32 {
        day_of(at_ns, self.utc_offset_min, self.cutoff_min)
    }

    /// The settlement batch of a row (Stripe's `automatic_payout_id`): empty unless the channel
    /// pays Rolling in a layout that states it; else the payout of the day the row becomes
    /// available — a charge `settlement_delay_days` after its bill day, a refund at once.
    pub fn batch(&self, kind: LineKind, day: u32) -> String {
        if self.settlement != SettlementSchedule::Rolling || self.format != Format::Stripe {
            return String::new();
        }
        let payout_day = match kind {
            LineKind::Payment => day + u32::from(self.settlement_delay_days),
            LineKind::Refund => day,
        };
        payout_id(self.channel_id, payout_day)
    }
}

/// The payout id of channel `channel_id` paid on `day`: `po_<channel>_<yyyymmdd>`.
pub fn payout_id(channel_id: u16, day: u32) -> String {
    format!("po_{channel_id}_{}", yyyymmdd(day))
}

/// Days since 1970-01-01 as `yyyymmdd`.
pub fn yyyymmdd(day: u32) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}{m:02}{d:02}")
}

/// Days since 1970-01-01 as `yyyy-mm-dd` (the manifest's name, as reconcile names a day).
pub fn iso_day(day: u32) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The civil date of a day number (Howard Hinnant's algorithm).
fn civil(day: u32) -> (i64, u32, u32) {
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub use sluice_bills::{day_of, day_window};

/// The bill settings of every simulated channel of `config` that has a layout.
pub fn bill_channels(config: &Config) -> Vec<BillChannel> {
    config
        .world
        .inputs
        .iter()
        .filter_map(|input| match &input.message {
            AnyMessage::ConfigChannel(c) => Some(c),
            _ => None,
        })
        .filter_map(|c| {
            let sim = config
                .simulator
                .channels
                .iter()
                .find(|s| s.channel_id == c.channel_id)?;
            BillChannel::of(c, sim)
        })
        .collect()
}

/// A channel's rows from its book, per bill day, as the channel booked them (sorted: time, then
/// kind, trade, refund id), and how many rows its layout could not state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookRows {
    pub days: BTreeMap<u32, Vec<BillLine>>,
    pub unstatable: u64,
}

/// The rows of `channel` in `book` at `now_ns` (what has taken effect by then).
pub fn book_rows(book: &Book, channel: &BillChannel, now_ns: u64) -> BookRows {
    let mut rows = BookRows::default();
    let mut add = |line: BillLine| {
        if check_line(channel.format, &line).is_err() {
            rows.unstatable += 1;
            return;
        }
        let day = channel.day_of(line.at_ns);
        rows.days.entry(day).or_default().push(line);
    };
    for ((order_id, attempt), e) in book.attempts() {
        if e.channel_id != channel.channel_id || !e.captured(now_ns) {
            continue;
        }
        if e.reversed
            && !channel
                .format
                .supports(LineKind::Payment, LineStatus::Reversed)
        {
            continue;
        }
        add(capture_line(channel, order_id, attempt, e));
    }
    for (refund_id, r) in book.refunds() {
        let billed = r.paid && r.effective_ns <= now_ns && r.attempt != 0;
        if r.channel_id != channel.channel_id || !billed {
            continue;
        }
        let mut line = payment_line(channel, r.order_id, r.attempt, r.currency);
        line.kind = LineKind::Refund;
        line.refund_id = refund_id;
        line.amount_minor = r.amount_minor;
        line.fee_minor = r.fee_returned_minor;
        line.at_ns = r.channel_at_ns;
        if channel.format != Format::AlipayDetail {
            line.channel_refund_no = refund_ref(channel.channel_id, refund_id)
                .as_str()
                .into_owned();
        }
        add(line);
    }
    for (&day, lines) in rows.days.iter_mut() {
        for line in lines.iter_mut() {
            line.batch = channel.batch(line.kind, day);
        }
        lines.sort_by(line_order);
    }
    rows
}

/// The order rows are listed in: time, then kind, trade, refund id (total: a key appears once).
pub fn line_order(a: &BillLine, b: &BillLine) -> std::cmp::Ordering {
    let key = |l: &BillLine| {
        (
            l.at_ns,
            l.kind == LineKind::Refund,
            l.out_trade_no.clone(),
            l.refund_id,
        )
    };
    key(a).cmp(&key(b))
}

fn capture_line(
    channel: &BillChannel,
    order_id: u64,
    attempt: u8,
    e: &crate::sim_book::AttemptEntry,
) -> BillLine {
    debug_assert_eq!(e.decided, Decided::Capture);
    let mut line = payment_line(channel, order_id, attempt, e.currency);
    line.amount_minor = e.amount_minor;
    if e.reversed {
        line.status = LineStatus::Reversed;
        // A version 1 book has no reversal time: the capture's stands for it.
        line.at_ns = if e.reversed_at_ns != 0 {
            e.reversed_at_ns
        } else {
            e.channel_at_ns
        };
    } else {
        line.fee_minor = e.fee_minor;
        line.at_ns = e.channel_at_ns;
    }
    line
}

/// A succeeded payment row of attempt (`order_id`, `attempt`), amount, fee and time to be set.
pub fn payment_line(channel: &BillChannel, order_id: u64, attempt: u8, currency: u16) -> BillLine {
    BillLine {
        line_no: 0,
        kind: LineKind::Payment,
        status: LineStatus::Succeeded,
        channel_trade_no: capture_ref(channel.channel_id, order_id, attempt)
            .as_str()
            .into_owned(),
        out_trade_no: out_trade_no(order_id, attempt),
        refund_id: 0,
        channel_refund_no: String::new(),
        amount_minor: 0,
        fee_minor: 0,
        currency,
        at_ns: 0,
        batch: String::new(),
    }
}

#[cfg(test)]
mod tests;
