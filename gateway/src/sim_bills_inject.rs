//! Discrepancies injected into a simulated channel's bill on request, each with the ground truth
//! reconciliation must find (docs/RECONCILIATION.md, section 4).
//!
//! A seeded generator, per channel and bill day (`day_rng`), walks the bill's rows in their order
//! and draws one number per row: each class takes `discrepancy_rate` of the draws, so no row gets
//! two classes, and a class that does not apply to the row (`applies`) injects nothing there.
//! A row whose key (trade or refund id) the bill holds twice is never touched. The same book,
//! seed and options give the same bill on every run (a restarted channel-sim writes it again).

use serde::Serialize;
use sluice_bills::sample::Rng;
use sluice_bills::{BillLine, LineKind, LineStatus, check_line, out_trade_no};
use std::collections::BTreeMap;

use crate::sim_bills::{BillChannel, payment_line};

/// The classes, named as `sluice reconcile` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    MissingOnChannel,
    MissingOnPlatform,
    AmountMismatch,
    StatusMismatch,
    FeeMismatch,
    Duplicate,
    Timing,
}

impl Class {
    pub const ALL: [Class; 7] = [
        Class::MissingOnChannel,
        Class::MissingOnPlatform,
        Class::AmountMismatch,
        Class::StatusMismatch,
        Class::FeeMismatch,
        Class::Duplicate,
        Class::Timing,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::MissingOnChannel => "missing_on_channel",
            Class::MissingOnPlatform => "missing_on_platform",
            Class::AmountMismatch => "amount_mismatch",
            Class::StatusMismatch => "status_mismatch",
            Class::FeeMismatch => "fee_mismatch",
            Class::Duplicate => "duplicate",
            Class::Timing => "timing",
        }
    }

    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What to inject.
#[derive(Debug, Clone, PartialEq)]
pub struct BillOptions {
    /// The share of rows each class takes, in `[0, 1 / classes]`.
    pub discrepancy_rate: f64,
    pub seed: u64,
    /// The classes injected (all by default).
    pub classes: Vec<Class>,
    /// Reconciliation's timing tolerance (`sluice reconcile --timing-tolerance-s`, 600 s by
    /// default): a `timing` row is a capture in the last half of it before the bill day's end.
    pub timing_tolerance_s: u64,
    /// The share of timing rows (captures in that last half) moved to the next day, when not
    /// `discrepancy_rate`: few rows are that close to midnight, so a scenario that wants the class
    /// shown raises it. Within `[0, 1]`.
    pub timing_rate: Option<f64>,
}

impl Default for BillOptions {
    fn default() -> Self {
        BillOptions {
            discrepancy_rate: 0.0,
            seed: 1,
            classes: Class::ALL.to_vec(),
            timing_tolerance_s: 600,
            timing_rate: None,
        }
    }
}

impl BillOptions {
    /// Refuses a rate that is not a number in `[0, 1 / classes]`.
    pub fn check(&self) -> Result<(), String> {
        let most = 1.0 / self.classes.len().max(1) as f64;
        if !(0.0..=most).contains(&self.discrepancy_rate) {
            return Err(format!(
                "discrepancy rate {} must be in [0, {most:.4}] (1 / the {} classes injected)",
                self.discrepancy_rate,
                self.classes.len()
            ));
        }
        if let Some(r) = self.timing_rate
            && !(0.0..=1.0).contains(&r)
        {
            return Err(format!("timing rate {r} must be in [0, 1]"));
        }
        Ok(())
    }
}

/// One injected discrepancy: what `sluice reconcile` must report for the bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Injected {
    pub class: &'static str,
    pub channel_id: u16,
    pub order_id: u64,
    /// The attempt of a payment row; 0 for a refund row (keyed by its refund id).
    pub attempt: u8,
    /// 0 for a payment row.
    pub refund_id: u64,
    pub out_trade_no: String,
    pub currency: u16,
    /// The signed effect on what the channel owes the platform: platform net − bill net
    /// (positive: the platform booked more than the bill pays); docs/RECONCILIATION.md, 4.
    pub amount_minor: i64,
}

/// Orders of phantom rows (missing_on_platform) start here, far above any order Sluice issues
/// in a run: `PHANTOM_ORDER_BASE + day × 100 000 + n`.
pub const PHANTOM_ORDER_BASE: u64 = 9_000_000_000;

/// A bill day's rows after injection, with the ground truth and the rows moved to the next day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayInjection {
    pub lines: Vec<BillLine>,
    pub injected: Vec<Injected>,
    /// Captures moved past the day's end (`timing`), billed the next day.
    pub moved_out: Vec<BillLine>,
    /// Rows a `timing` could be injected on: captures in the last half of the tolerance before
    /// the day's end.
    pub timing_eligible: u64,
}

/// The generator of channel `channel_id`'s bill day `day`.
fn day_rng(seed: u64, channel_id: u16, day: u32) -> Rng {
    let mut rng = Rng::new(seed ^ (u64::from(channel_id) << 48) ^ u64::from(day));
    rng.next_u64();
    rng
}

/// What row `line` adds to what the channel pays (BillLine::net_minor).
fn net(line: &BillLine) -> i64 {
    line.net_minor()
}

/// Injects discrepancies into bill day `day`'s rows `lines` (as booked) of `channel`.
pub fn inject(
    channel: &BillChannel,
    day: u32,
    lines: &[BillLine],
    options: &BillOptions,
) -> DayInjection {
    let mut out = DayInjection::default();
    if options.discrepancy_rate <= 0.0 || options.classes.is_empty() {
        out.lines = lines.to_vec();
        return out;
    }
    let mut seen: BTreeMap<(bool, &str, u64), u32> = BTreeMap::new();
    for l in lines {
        *seen.entry(key_of(l)).or_default() += 1;
    }
    let mut rng = day_rng(options.seed, channel.channel_id, day);
    let (_, end_ns) = channel.window(day);
    let timing_from_ns = end_ns.saturating_sub(options.timing_tolerance_s * 500_000_000);
    // The reconciler's zone, with a minute for the channel's processing time.
    let timing_zone_ns = end_ns.saturating_sub((options.timing_tolerance_s + 60) * 1_000_000_000);
    let mut phantoms = 0u64;
    for line in lines {
        let unambiguous =
            seen.get(&key_of(line)) == Some(&1) && line.status == LineStatus::Succeeded;
        let timing_row = line.kind == LineKind::Payment && line.at_ns >= timing_from_ns;
        out.timing_eligible += u64::from(timing_row && unambiguous);
        let row = Row {
            unambiguous,
            timing_row,
            in_zone: line.at_ns >= timing_zone_ns,
        };
        let class = draw_class(&mut rng, options, row);
        match class {
            Some(Class::Timing) if !timing_row => out.lines.push(line.clone()),
            Some(Class::Timing) => {
                let mut moved = line.clone();
                // Just after the day's end: a second, as files state times to the second.
                moved.at_ns = end_ns + 1_000_000_000;
                moved.batch = channel.batch(moved.kind, day + 1);
                out.injected
                    .push(truth(channel, Class::Timing, line, net(line)));
                out.moved_out.push(moved);
            }
            Some(Class::MissingOnPlatform) => {
                out.lines.push(line.clone());
                let phantom = phantom(channel, day, phantoms, line);
                phantoms += 1;
                if check_line(channel.format, &phantom).is_err() {
                    continue;
                }
                let effect = -net(&phantom);
                out.injected
                    .push(truth(channel, Class::MissingOnPlatform, &phantom, effect));
                out.lines.push(phantom);
            }
            Some(class) => apply(channel, class, line, &mut rng, &mut out),
            None => out.lines.push(line.clone()),
        }
    }
    out
}

/// What the class draw needs to know of a row.
#[derive(Clone, Copy)]
struct Row {
    /// Succeeded, and its key is once in the bill.
    unambiguous: bool,
    /// A capture in the last half of the tolerance before the day's end.
    timing_row: bool,
    /// In the reconciler's timing zone (the whole tolerance, and a minute).
    in_zone: bool,
}

/// The class injected into a row, if any: one draw picks among the classes at `rate` each
/// (timing aside); a timing row then draws once more at the timing rate. A row in the
/// reconciler's timing zone is never made missing_on_channel: dropped there, it is carried as
/// timing and only aged out later.
fn draw_class(rng: &mut Rng, options: &BillOptions, row: Row) -> Option<Class> {
    let unit = |rng: &mut Rng| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let index = (unit(rng) / options.discrepancy_rate) as usize;
    let class = options
        .classes
        .get(index)
        .copied()
        .filter(|c| row.unambiguous && *c != Class::Timing)
        .filter(|c| !(row.in_zone && *c == Class::MissingOnChannel));
    let timing_rate = options.timing_rate.unwrap_or(options.discrepancy_rate);
    let timing = row.timing_row
        && row.unambiguous
        && options.classes.contains(&Class::Timing)
        && unit(rng) < timing_rate;
    if timing { Some(Class::Timing) } else { class }
}

/// A row's key (docs/RECONCILIATION.md, section 2): a payment's trade, a refund's refund id
/// (partial refunds share the trade).
fn key_of(line: &BillLine) -> (bool, &str, u64) {
    match line.kind {
        LineKind::Payment => (false, line.out_trade_no.as_str(), 0),
        LineKind::Refund => (true, "", line.refund_id),
    }
}

/// Applies `class` (a change of the row itself) to `line`, or keeps it as it is when the class
/// cannot be stated in the layout.
fn apply(
    channel: &BillChannel,
    class: Class,
    line: &BillLine,
    rng: &mut Rng,
    out: &mut DayInjection,
) {
    let mut changed = line.clone();
    let delta = 1 + rng.below(99) as i64;
    match class {
        Class::MissingOnChannel => {
            out.injected.push(truth(channel, class, line, net(line)));
            return;
        }
        Class::Duplicate => {
            out.lines.push(line.clone());
            out.injected.push(truth(channel, class, line, -net(line)));
        }
        Class::AmountMismatch if line.amount_minor > delta => changed.amount_minor -= delta,
        Class::AmountMismatch => changed.amount_minor += delta,
        Class::FeeMismatch if line.fee_minor >= delta => changed.fee_minor -= delta,
        Class::FeeMismatch => changed.fee_minor += delta,
        Class::StatusMismatch => {
            changed.status = match line.kind {
                LineKind::Payment => LineStatus::Reversed,
                LineKind::Refund => LineStatus::Failed,
            };
            changed.fee_minor = 0;
        }
        Class::MissingOnPlatform | Class::Timing => {}
    }
    if class != Class::Duplicate {
        if check_line(channel.format, &changed).is_err() {
            out.lines.push(line.clone());
            return;
        }
        out.injected
            .push(truth(channel, class, line, net(line) - net(&changed)));
    }
    out.lines.push(changed);
}

/// A succeeded payment of an order that does not exist, like `like`'s, with a fresh trade number.
fn phantom(channel: &BillChannel, day: u32, n: u64, like: &BillLine) -> BillLine {
    let order_id = PHANTOM_ORDER_BASE + u64::from(day) * 100_000 + n;
    let mut line = payment_line(channel, order_id, 1, like.currency);
    line.channel_trade_no = format!("SIMP{:02}-{day}-{n}", channel.channel_id);
    line.out_trade_no = out_trade_no(order_id, 1);
    line.amount_minor = like.amount_minor;
    line.fee_minor = like.fee_minor.min(like.amount_minor);
    line.at_ns = like.at_ns;
    line.batch = channel.batch(LineKind::Payment, day);
    line
}

fn truth(channel: &BillChannel, class: Class, line: &BillLine, amount_minor: i64) -> Injected {
    let (order_id, attempt) =
        sluice_bills::parse_out_trade_no(&line.out_trade_no).unwrap_or((0, 0));
    // A refund is keyed by its refund id: reconcile reports it with attempt 0, as here.
    let attempt = match line.kind {
        LineKind::Payment => attempt,
        LineKind::Refund => 0,
    };
    Injected {
        class: class.name(),
        channel_id: channel.channel_id,
        order_id,
        attempt,
        refund_id: line.refund_id,
        out_trade_no: line.out_trade_no.clone(),
        currency: line.currency,
        amount_minor,
    }
}
