//! The matcher and classifier (section 4): a pure function of the bill's rows, the platform's
//! records in the window and the state carried from the previous run. No I/O, no clock.
//!
//! Each bill row is keyed (section 2) and looked up among the window's records and the carried
//! timing records; each key is classified in the order of the doc's table — duplicate,
//! missing_on_platform, status_mismatch, amount_mismatch, fee_mismatch — and then the platform
//! records no row matched: matched ahead by the previous day's bill (skipped), missing_on_channel
//! (`[start, end − T)`, or a carry aged out), timing (`[end − T, end)`: carried).

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sluice_bills::{BillLine, LineKind, LineStatus};

use super::platform::{Key, Record};
use super::state::{Ahead, Carry, State};
use super::{Options, Window};

/// A class of difference, in the order they are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Duplicate,
    MissingOnPlatform,
    StatusMismatch,
    AmountMismatch,
    FeeMismatch,
    MissingOnChannel,
}

impl Class {
    pub const ALL: [Class; 6] = [
        Class::Duplicate,
        Class::MissingOnPlatform,
        Class::StatusMismatch,
        Class::AmountMismatch,
        Class::FeeMismatch,
        Class::MissingOnChannel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::Duplicate => "duplicate",
            Class::MissingOnPlatform => "missing_on_platform",
            Class::StatusMismatch => "status_mismatch",
            Class::AmountMismatch => "amount_mismatch",
            Class::FeeMismatch => "fee_mismatch",
            Class::MissingOnChannel => "missing_on_channel",
        }
    }

    /// The suggested action (section 4's table).
    pub fn action(self) -> &'static str {
        match self {
            Class::Duplicate => "ask the channel to correct the bill; nothing is owed twice",
            Class::MissingOnPlatform => {
                "query the order (OrderStatus); a capture Sluice does not keep must be reversed \
                 at the channel"
            }
            Class::StatusMismatch => {
                "query the channel (ChannelControl Query) and resolve by admin note"
            }
            Class::AmountMismatch => "raise with the channel; the bill's amount is what it pays",
            Class::FeeMismatch => {
                "check the channel's fee schedule; the difference is booked to \
                 channel_fee_differences at settlement"
            }
            Class::MissingOnChannel => {
                "query the channel; if it never captured, the platform must reverse the payment \
                 to its payer"
            }
        }
    }
}

/// One classified difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    /// 16 hex digits: the first 8 bytes of SHA-256 of `"<channel>|<class>|<key>"`.
    pub id: String,
    pub class: Class,
    pub channel_id: i32,
    pub order_id: u64,
    pub attempt: u8,
    pub refund_id: u64,
    /// The key as text (`S<order>A<attempt>`, `R<refund>`, or the bill's own text when it is
    /// not Sluice's; a duplicate's gets `#<n>`, its occurrence in the bill).
    pub key: String,
    pub out_trade_no: String,
    pub channel_trade_no: String,
    /// The bill row's line number (0: none, or a row built in memory).
    pub line_no: u32,
    pub platform_seq: u64,
    pub platform_at_ns: u64,
    pub currency: u16,
    pub bill_amount_minor: Option<i64>,
    pub bill_fee_minor: Option<i64>,
    pub bill_status: Option<&'static str>,
    pub platform_amount_minor: Option<i64>,
    pub platform_fee_minor: Option<i64>,
    pub platform_status: Option<&'static str>,
    /// The signed effect on what the channel owes the platform: platform net − bill net
    /// (positive: the platform booked more than the bill pays). docs/RECONCILIATION.md, 4.
    pub amount_minor: i64,
    pub action: &'static str,
    /// Index of the bill row among the run's rows (for batches); not reported.
    #[serde(skip)]
    pub line_index: Option<u32>,
}

impl Discrepancy {
    /// The id as a number (Discrepancy `discrepancy_id`): the same 8 bytes, big-endian.
    pub fn id_number(&self) -> u64 {
        u64::from_str_radix(&self.id, 16).expect("an id is 16 hex digits")
    }
}

/// A timing carry the bill resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    pub key: String,
    pub order_id: u64,
    pub refund_id: u64,
    /// The bill day whose run carried it.
    pub since_day: u32,
    pub platform_at_ns: u64,
    pub line_no: u32,
}

/// Counts of the rows that matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Matched {
    /// Bill rows whose key met a platform record (whatever was found different).
    pub rows: u64,
    /// Of them, rows equal in every compared field.
    pub exact: u64,
    /// Failed rows (closed trades, failed refunds) with no platform record: nothing moved on
    /// either side, so they are not discrepancies.
    pub failed_ignored: u64,
    /// Platform records skipped as matched ahead by the previous day's bill.
    pub ahead_skipped: u64,
}

/// What a classification found, and the state for the next run (payouts untouched).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub discrepancies: Vec<Discrepancy>,
    pub resolved: Vec<Resolved>,
    /// Timing records carried to the next run (new ones and older ones not yet aged out).
    pub carried: Vec<Carry>,
    pub matched: Matched,
    pub next: State,
}

/// A platform record the bill may meet: one of the window's, or a carried timing record.
struct Candidate<'a> {
    record: &'a Record,
    carried_since: Option<u32>,
    hits: u32,
}

/// Classifies `lines` (every row of the day's bills) against `records` (the window's).
pub fn classify(
    lines: &[&BillLine],
    records: &[Record],
    carried: &State,
    window: Window,
    options: &Options,
) -> Outcome {
    let mut candidates = candidates(records, carried);
    let mut index: FxHashMap<Key, u32> = FxHashMap::default();
    index.reserve(candidates.len());
    index.extend(
        candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.record.key, i as u32)),
    );
    let ahead: FxHashMap<Key, u32> = carried
        .matched_ahead
        .iter()
        .filter(|a| a.day < window.day)
        .map(|a| (a.key, a.day))
        .collect();
    let mut run = Run {
        channel_id: options.channel_id,
        window,
        tolerance_ns: options.tolerance_ns(),
        out: Outcome::default(),
        ahead_next: Vec::new(),
        ahead_hits: FxHashMap::default(),
    };
    for (i, line) in lines.iter().enumerate() {
        run.line(i as u32, line, &index, &ahead, &mut candidates);
    }
    let ahead_keys: FxHashSet<Key> = ahead.keys().copied().collect();
    run.unmatched(&candidates, &ahead_keys, options.timing_max_days);
    let mut out = run.out;
    out.next = State {
        channel_id: options.channel_id,
        last_day: Some(window.day),
        timing: out.carried.clone(),
        matched_ahead: run.ahead_next,
        payouts: carried.payouts.clone(),
    };
    out.discrepancies
        .sort_by(|a, b| (a.class, a.line_no, &a.key).cmp(&(b.class, b.line_no, &b.key)));
    out
}

fn candidates<'a>(records: &'a [Record], carried: &'a State) -> Vec<Candidate<'a>> {
    let since: FxHashMap<Key, u32> = carried
        .timing
        .iter()
        .map(|c| (c.record.key, c.since_day))
        .collect();
    let mut in_window: FxHashSet<Key> = FxHashSet::default();
    let mut out: Vec<Candidate<'a>> = Vec::with_capacity(records.len() + since.len());
    for record in records {
        let carried_since = since.get(&record.key).copied();
        if carried_since.is_some() {
            in_window.insert(record.key);
        }
        out.push(Candidate {
            record,
            carried_since,
            hits: 0,
        });
    }
    for carry in &carried.timing {
        if !in_window.contains(&carry.record.key) {
            out.push(Candidate {
                record: &carry.record,
                carried_since: Some(carry.since_day),
                hits: 0,
            });
        }
    }
    out
}

/// The key of a bill row: None when it is not one of Sluice's.
pub fn line_key(line: &BillLine) -> Option<Key> {
    match line.kind {
        LineKind::Payment => sluice_bills::parse_out_trade_no(&line.out_trade_no)
            .map(|(order_id, attempt)| Key::Payment { order_id, attempt }),
        LineKind::Refund => (line.refund_id != 0).then_some(Key::Refund {
            refund_id: line.refund_id,
        }),
    }
}

pub fn status_name(status: LineStatus) -> &'static str {
    match status {
        LineStatus::Succeeded => "Succeeded",
        LineStatus::Failed => "Failed",
        LineStatus::Reversed => "Reversed",
    }
}

/// The stable id of a discrepancy: the first 8 bytes of SHA-256 of `"<channel>|<class>|<key>"`,
/// as 16 lowercase hex digits.
pub fn discrepancy_id(channel_id: i32, class: Class, key: &str) -> String {
    let digest = Sha256::digest(format!("{channel_id}|{}|{key}", class.name()).as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

struct Run {
    channel_id: i32,
    window: Window,
    tolerance_ns: u64,
    out: Outcome,
    ahead_next: Vec<Ahead>,
    /// Rows of keys the previous day's bill matched (each one a duplicate).
    ahead_hits: FxHashMap<Key, u32>,
}

impl Run {
    fn line(
        &mut self,
        i: u32,
        line: &BillLine,
        index: &FxHashMap<Key, u32>,
        ahead: &FxHashMap<Key, u32>,
        candidates: &mut [Candidate<'_>],
    ) {
        let Some(key) = line_key(line) else {
            if line.status == LineStatus::Failed {
                self.out.matched.failed_ignored += 1;
            } else {
                let text = if line.out_trade_no.is_empty() {
                    line.channel_trade_no.clone()
                } else {
                    line.out_trade_no.clone()
                };
                self.push(Class::MissingOnPlatform, None, text, Some((i, line)), None);
            }
            return;
        };
        if ahead.contains_key(&key) {
            // Matched by the previous day's bill already: the channel lists it twice.
            let hits = self.ahead_hits.entry(key).or_insert(1);
            *hits += 1;
            let text = dup_text(key, *hits);
            self.push(Class::Duplicate, Some(key), text, Some((i, line)), None);
            return;
        }
        let Some(&at) = index.get(&key) else {
            if line.status == LineStatus::Failed {
                self.out.matched.failed_ignored += 1;
            } else {
                self.push(
                    Class::MissingOnPlatform,
                    Some(key),
                    key.text(),
                    Some((i, line)),
                    None,
                );
            }
            return;
        };
        let candidate = &mut candidates[at as usize];
        candidate.hits += 1;
        let record = candidate.record;
        if candidate.hits > 1 {
            let text = dup_text(key, candidate.hits);
            self.push(
                Class::Duplicate,
                Some(key),
                text,
                Some((i, line)),
                Some(record),
            );
            return;
        }
        self.matched(i, line, record, candidate.carried_since);
    }

    fn matched(&mut self, i: u32, line: &BillLine, record: &Record, carried_since: Option<u32>) {
        self.out.matched.rows += 1;
        let key = record.key;
        if let Some(since_day) = carried_since {
            self.out.resolved.push(Resolved {
                key: key.text(),
                order_id: record.order_id,
                refund_id: refund_id(key),
                since_day,
                platform_at_ns: record.at_ns,
                line_no: line.line_no,
            });
        } else if record.at_ns >= self.window.end_ns.saturating_sub(self.tolerance_ns) {
            self.ahead_next.push(Ahead {
                key,
                day: self.window.day,
                at_ns: record.at_ns,
            });
        }
        let class = if line.status != record.status() {
            Some(Class::StatusMismatch)
        } else if line.amount_minor != record.amount_minor || line.currency != record.currency {
            Some(Class::AmountMismatch)
        } else if record.fee_known
            && line.status != LineStatus::Reversed
            && line.fee_minor != record.fee_minor
        {
            Some(Class::FeeMismatch)
        } else {
            None
        };
        match class {
            Some(class) => self.push(class, Some(key), key.text(), Some((i, line)), Some(record)),
            None => self.out.matched.exact += 1,
        }
    }

    /// The platform records no bill row met.
    fn unmatched(&mut self, candidates: &[Candidate<'_>], ahead: &FxHashSet<Key>, max_days: u32) {
        let w = self.window;
        let timing_from_ns = w.end_ns.saturating_sub(self.tolerance_ns);
        for c in candidates.iter().filter(|c| c.hits == 0) {
            let record = c.record;
            if let Some(since_day) = c.carried_since {
                if w.day.saturating_sub(since_day) >= max_days {
                    let key = record.key;
                    self.push(
                        Class::MissingOnChannel,
                        Some(key),
                        key.text(),
                        None,
                        Some(record),
                    );
                } else {
                    self.out.carried.push(Carry {
                        record: record.clone(),
                        since_day,
                    });
                }
            } else if ahead.contains(&record.key) {
                self.out.matched.ahead_skipped += 1;
            } else if (w.start_ns..timing_from_ns).contains(&record.at_ns) {
                let key = record.key;
                self.push(
                    Class::MissingOnChannel,
                    Some(key),
                    key.text(),
                    None,
                    Some(record),
                );
            } else if (timing_from_ns..w.end_ns).contains(&record.at_ns) {
                self.out.carried.push(Carry {
                    record: record.clone(),
                    since_day: w.day,
                });
            }
            // Otherwise the record is the previous day's or the next day's.
        }
    }

    fn push(
        &mut self,
        class: Class,
        key: Option<Key>,
        key_text: String,
        line: Option<(u32, &BillLine)>,
        record: Option<&Record>,
    ) {
        let bill_net = line.map_or(0, |(_, l)| l.net_minor());
        // A duplicate's platform record is booked once, by the row that matched it.
        let platform_net = match class {
            Class::Duplicate => 0,
            _ => record.map_or(0, Record::net_minor),
        };
        let (order_id, attempt) = match key {
            Some(Key::Payment { order_id, attempt }) => (order_id, attempt),
            Some(Key::Refund { .. }) => (record.map_or(0, |r| r.order_id), 0),
            None => (0, 0),
        };
        let out_trade_no = match (line, key) {
            (Some((_, l)), _) => l.out_trade_no.clone(),
            (None, Some(Key::Payment { .. })) => key_text.clone(),
            (None, _) => String::new(),
        };
        self.out.discrepancies.push(Discrepancy {
            id: discrepancy_id(self.channel_id, class, &key_text),
            class,
            channel_id: self.channel_id,
            order_id,
            attempt,
            refund_id: key.map_or(0, refund_id),
            key: key_text,
            out_trade_no,
            channel_trade_no: line.map_or_else(String::new, |(_, l)| l.channel_trade_no.clone()),
            line_no: line.map_or(0, |(_, l)| l.line_no),
            platform_seq: record.map_or(0, |r| r.seq),
            platform_at_ns: record.map_or(0, |r| r.at_ns),
            currency: line.map_or_else(|| record.map_or(0, |r| r.currency), |(_, l)| l.currency),
            bill_amount_minor: line.map(|(_, l)| l.amount_minor),
            bill_fee_minor: line.map(|(_, l)| l.fee_minor),
            bill_status: line.map(|(_, l)| status_name(l.status)),
            platform_amount_minor: record.map(|r| r.amount_minor),
            platform_fee_minor: record.filter(|r| r.fee_known).map(|r| r.fee_minor),
            platform_status: record.map(|r| status_name(r.status())),
            amount_minor: platform_net - bill_net,
            action: class.action(),
            line_index: line.map(|(i, _)| i),
        });
    }
}

fn refund_id(key: Key) -> u64 {
    match key {
        Key::Refund { refund_id } => refund_id,
        Key::Payment { .. } => 0,
    }
}

/// A duplicate's key text: the key and its occurrence (`#2` is the second row of the key).
fn dup_text(key: Key, occurrence: u32) -> String {
    format!("{}#{occurrence}", key.text())
}
