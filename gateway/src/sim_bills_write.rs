//! Writing the simulated channels' bills: per channel and bill day, the bill in the channel's
//! layout at `<dir>/<channel_id>/<file_name>` and its ground truth at
//! `<dir>/<channel_id>/<yyyy-mm-dd>.expected.json` (`Manifest`): the injected discrepancies, the
//! totals as written, and the settlement batches the bill completes, as the channel pays them.
//!
//! A bill is built from the book alone (`ChannelBills`), so the same book, seed and options give
//! the same files: a restarted `sluice channel-sim` writes them again byte for byte.

use serde::Serialize;
use sluice_bills::{Bill, BillLine, Totals};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::sim_bills::{BillChannel, BookRows, book_rows, iso_day, payout_id};
use crate::sim_bills_inject::{BillOptions, DayInjection, Injected, inject};
use crate::sim_book::Book;

/// One settlement batch a bill completes, as the channel pays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestBatch {
    /// Daily: the bill day `yyyy-mm-dd` (with `-<currency>` when the bill has several
    /// currencies); Rolling (Stripe): the payout id on its rows, `po_<channel>_<yyyymmdd>`.
    pub batch: String,
    pub currency: u16,
    /// Σ BillLine::net_minor of its rows as written (injected discrepancies included).
    pub paid_minor: i64,
    pub lines: u64,
    /// The bill days its rows come from (Rolling: a payout's charges are from
    /// `settlement_delay_days` before it, its refunds from its own day).
    pub first_day: String,
    pub last_day: String,
}

/// The ground truth written next to a bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub channel_id: u16,
    pub format: &'static str,
    pub account: String,
    /// The bill day, `yyyy-mm-dd`, and as days since 1970-01-01.
    pub day: String,
    pub day_number: u32,
    /// The bill file's name, in the same folder.
    pub file: String,
    /// The bill day's window, ns since the epoch (UTC), `[start, end)`.
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    /// The totals the file states (its rows as written).
    pub lines: u64,
    pub paid_minor: i64,
    pub refunded_minor: i64,
    pub fees_minor: i64,
    /// Σ BillLine::net_minor of the rows as written.
    pub net_minor: i64,
    /// Rows the book has for the day, before injection.
    pub book_lines: u64,
    /// Rows moved in from the day before by a `timing` discrepancy of that day.
    pub moved_in: u64,
    /// Captures a `timing` could be injected on (the last half of the tolerance before the end).
    pub timing_eligible: u64,
    pub discrepancies: Vec<Injected>,
    pub batches: Vec<ManifestBatch>,
}

/// One bill day of one channel, built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayBill {
    pub bill: Bill,
    pub manifest: Manifest,
}

/// The bills of one channel, built from its book rows on demand (each day's injection once).
pub struct ChannelBills<'a> {
    channel: &'a BillChannel,
    options: &'a BillOptions,
    rows: BookRows,
    injections: BTreeMap<u32, DayInjection>,
}

impl<'a> ChannelBills<'a> {
    pub fn new(
        book: &Book,
        channel: &'a BillChannel,
        options: &'a BillOptions,
        now_ns: u64,
    ) -> ChannelBills<'a> {
        ChannelBills {
            channel,
            options,
            rows: book_rows(book, channel, now_ns),
            injections: BTreeMap::new(),
        }
    }

    /// The book's rows (per day, as booked).
    pub fn rows(&self) -> &BookRows {
        &self.rows
    }

    fn injection(&mut self, day: u32) -> &DayInjection {
        let (channel, options, rows) = (self.channel, self.options, &self.rows);
        self.injections.entry(day).or_insert_with(|| {
            let lines = rows.days.get(&day).map_or(&[][..], Vec::as_slice);
            inject(channel, day, lines, options)
        })
    }

    /// Bill day `day`'s rows as written: those moved in from the day before, then the day's.
    fn lines(&mut self, day: u32) -> (Vec<BillLine>, u64) {
        let mut lines = match day.checked_sub(1) {
            Some(before) => self.injection(before).moved_out.clone(),
            None => Vec::new(),
        };
        let moved_in = lines.len() as u64;
        lines.extend(self.injection(day).lines.iter().cloned());
        (lines, moved_in)
    }

    /// Bill day `day`, built, with its manifest.
    pub fn day(&mut self, day: u32) -> DayBill {
        let c = self.channel;
        let (lines, moved_in) = self.lines(day);
        let totals = Totals::of(&lines);
        let batches = self.batches(day, &lines);
        let injection = self.injection(day);
        let (timing_eligible, discrepancies) =
            (injection.timing_eligible, injection.injected.clone());
        let (window_start_ns, window_end_ns) = c.window(day);
        let manifest = Manifest {
            channel_id: c.channel_id,
            format: c.format.name(),
            account: c.account.clone(),
            day: iso_day(day),
            day_number: day,
            file: sluice_bills::file_name(c.format, &c.account, day),
            window_start_ns,
            window_end_ns,
            lines: totals.lines,
            paid_minor: totals.paid_minor,
            refunded_minor: totals.refunded_minor,
            fees_minor: totals.fees_minor,
            net_minor: lines.iter().map(BillLine::net_minor).sum(),
            book_lines: self.rows.days.get(&day).map_or(0, |l| l.len() as u64),
            moved_in,
            timing_eligible,
            discrepancies,
            batches,
        };
        let bill = Bill {
            format: c.format,
            account: c.account.clone(),
            day,
            utc_offset_min: c.utc_offset_min,
            lines,
            totals,
        };
        DayBill { bill, manifest }
    }

    /// The batches bill day `day` completes: Daily, the day's rows per currency; Rolling, the
    /// payout paid on `day` (its charges from the bill `settlement_delay_days` before).
    fn batches(&mut self, day: u32, lines: &[BillLine]) -> Vec<ManifestBatch> {
        let mut sums: BTreeMap<(String, u16), (i64, u64, u32)> = BTreeMap::new();
        let mut add = |id: &str, l: &BillLine, from_day: u32| {
            let e = sums
                .entry((id.to_string(), l.currency))
                .or_insert((0, 0, from_day));
            e.0 += l.net_minor();
            e.1 += 1;
            e.2 = e.2.min(from_day);
        };
        let payout = payout_id(self.channel.channel_id, day);
        let delay = u32::from(self.channel.settlement_delay_days);
        for l in lines {
            match l.batch.as_str() {
                "" => add(&iso_day(day), l, day),
                b if b == payout => add(b, l, day),
                _ => {}
            }
        }
        if let Some(earlier) = day.checked_sub(delay).filter(|_| delay > 0) {
            let (before, _) = self.lines(earlier);
            for l in before.iter().filter(|l| l.batch == payout) {
                add(&payout, l, earlier);
            }
        }
        let daily_currencies = sums.keys().filter(|(id, _)| !id.starts_with("po_")).count();
        sums.into_iter()
            .map(
                |((id, currency), (paid_minor, lines, first))| ManifestBatch {
                    batch: if daily_currencies > 1 && !id.starts_with("po_") {
                        format!("{id}-{currency}")
                    } else {
                        id
                    },
                    currency,
                    paid_minor,
                    lines,
                    first_day: iso_day(first),
                    last_day: iso_day(day),
                },
            )
            .collect()
    }
}

/// One bill written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenBill {
    pub channel_id: u16,
    pub day: u32,
    pub path: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
}

/// What `write_bills` wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillsWritten {
    pub bills: Vec<WrittenBill>,
    /// Rows of the book the layouts could not state (left out of every bill).
    pub unstatable: u64,
    /// Injected discrepancies per class name.
    pub injected: BTreeMap<&'static str, u64>,
}

/// Writes the bills of every channel in `channels` for bill days `first_day..=last_day` (days
/// since 1970-01-01, in each channel's bill time zone) from `book` at `now_ns`, into `dir`.
pub fn write_bills(
    book: &Book,
    channels: &[BillChannel],
    dir: &Path,
    days: (u32, u32),
    options: &BillOptions,
    now_ns: u64,
) -> Result<BillsWritten, String> {
    options.check()?;
    let (first_day, last_day) = days;
    if first_day > last_day || last_day - first_day > 3_660 {
        return Err(format!(
            "bill days {first_day}..={last_day}: the first must not be after the last, and at most ten years apart"
        ));
    }
    let mut written = BillsWritten::default();
    for channel in channels {
        let mut bills = ChannelBills::new(book, channel, options, now_ns);
        written.unstatable += bills.rows().unstatable;
        for day in first_day..=last_day {
            let bill = write_day(&mut bills, dir, channel.channel_id, day)?;
            for d in &bill.manifest.discrepancies {
                *written.injected.entry(d.class).or_default() += 1;
            }
            written.bills.push(bill);
        }
    }
    Ok(written)
}

/// Writes one bill and its manifest (each to a temporary name, then renamed).
pub fn write_day(
    bills: &mut ChannelBills<'_>,
    dir: &Path,
    channel_id: u16,
    day: u32,
) -> Result<WrittenBill, String> {
    let DayBill { bill, manifest } = bills.day(day);
    sluice_bills::check(&bill)
        .map_err(|e| format!("channel {channel_id} day {}: {e}", manifest.day))?;
    let folder = dir.join(channel_id.to_string());
    std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let path = folder.join(&manifest.file);
    let manifest_path = folder.join(format!("{}.expected.json", manifest.day));
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    write_atomically(&path, &sluice_bills::write(&bill))?;
    write_atomically(&manifest_path, &json)?;
    Ok(WrittenBill {
        channel_id,
        day,
        path,
        manifest_path,
        manifest,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let at = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(at)?;
    std::fs::rename(&tmp, path).map_err(at)
}
