//! `sluice channel-sim --bills-dir`: one channel's bills written as its days finish.
//!
//! The channel's clock is the latest event time the server stamped on what it sent the channel
//! (Dispatch, RefundDispatch, ChannelControl `at_ns`), so a scripted-clock server's simulated
//! days close as its clock moves. Bill day D is written once that clock has passed D's end plus
//! `margin_ns` and, from then on, `grace_ns` of the simulator's own (wall) clock has gone by — the
//! time a capture decided before the end takes to take effect. At shutdown every day from the
//! first not written through the clock's day is written (the last one possibly partial: a
//! restart writes it again, whole). A restarted channel-sim, its book read back, writes every
//! day again from the book's first, byte for byte as before.

use std::path::PathBuf;

use crate::sim_bills::BillChannel;
use crate::sim_bills_inject::BillOptions;
use crate::sim_bills_write::{ChannelBills, WrittenBill, write_day};
use crate::sim_book::Book;

/// Writes one channel's bills as its days finish.
pub struct DayCloser {
    channel: BillChannel,
    options: BillOptions,
    dir: PathBuf,
    /// How far past a day's end the channel's clock must be before its bill is written.
    pub margin_ns: u64,
    /// How long (simulator clock) to wait after that, for captures still taking effect.
    pub grace_ns: u64,
    clock_ns: u64,
    /// The first day not written yet (None until the first write: the book's first day).
    next_day: Option<u32>,
    /// When (simulator clock) the clock was first seen past `next_day`'s end plus the margin.
    closing_since_ns: Option<u64>,
}

impl DayCloser {
    pub fn new(channel: BillChannel, options: BillOptions, dir: PathBuf) -> DayCloser {
        DayCloser {
            channel,
            margin_ns: options.timing_tolerance_s * 1_000_000_000,
            grace_ns: 5_000_000_000,
            options,
            dir,
            clock_ns: 0,
            next_day: None,
            closing_since_ns: None,
        }
    }

    /// The server stamped `at_ns` on a message to the channel (0: a message without a stamp).
    pub fn observe(&mut self, at_ns: u64) {
        self.clock_ns = self.clock_ns.max(at_ns);
    }

    /// The channel's clock is at least the latest time its book holds (a restarted channel-sim
    /// knows the days it had seen before any new message).
    pub fn observe_book(&mut self, book: &Book) {
        let channel_id = self.channel.channel_id;
        let attempts = book
            .attempts()
            .filter(|(_, e)| e.channel_id == channel_id)
            .map(|(_, e)| e.channel_at_ns.max(e.reversed_at_ns));
        let refunds = book
            .refunds()
            .filter(|(_, r)| r.channel_id == channel_id)
            .map(|(_, r)| r.channel_at_ns);
        let latest = attempts.chain(refunds).max().unwrap_or(0);
        // An attempt known only from a Close has no time (u64::MAX effective, 0 channel time).
        self.observe(latest);
    }

    /// The last day whose end plus the margin the channel's clock has passed.
    fn closed_through(&self) -> Option<u32> {
        let at = self.clock_ns.checked_sub(self.margin_ns)?;
        self.channel.day_of(at).checked_sub(1)
    }

    /// Writes the days that have finished, at `now_ns` on the simulator's clock.
    pub fn poll(&mut self, book: &Book, now_ns: u64) -> Result<Vec<WrittenBill>, String> {
        let Some(last) = self.closed_through() else {
            return Ok(Vec::new());
        };
        if self.next_day.is_some_and(|next| next > last) {
            return Ok(Vec::new());
        }
        let since = *self.closing_since_ns.get_or_insert(now_ns);
        if now_ns < since.saturating_add(self.grace_ns) {
            return Ok(Vec::new());
        }
        self.closing_since_ns = None;
        self.write_through(book, last, now_ns)
    }

    /// Writes every day not written yet through the clock's day (at shutdown).
    pub fn finish(&mut self, book: &Book, now_ns: u64) -> Result<Vec<WrittenBill>, String> {
        if self.clock_ns == 0 {
            return Ok(Vec::new());
        }
        let last = self.channel.day_of(self.clock_ns);
        self.write_through(book, last, now_ns)
    }

    fn write_through(
        &mut self,
        book: &Book,
        last: u32,
        now_ns: u64,
    ) -> Result<Vec<WrittenBill>, String> {
        let mut bills = ChannelBills::new(book, &self.channel, &self.options, now_ns);
        let first = match self.next_day {
            Some(next) => next,
            None => match bills.rows().days.keys().next() {
                Some(&first) => first,
                None => return Ok(Vec::new()),
            },
        };
        if first > last {
            return Ok(Vec::new());
        }
        let mut written = Vec::new();
        for day in first..=last {
            written.push(write_day(
                &mut bills,
                &self.dir,
                self.channel.channel_id,
                day,
            )?);
        }
        self.next_day = Some(last + 1);
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_bills::NS_PER_DAY;
    use crate::sim_book::{AttemptEntry, Decided, Record};
    use sluice_bills::Format;
    use sluice_protocol::{MethodFee, PaymentMethod, RefundFeePolicy, SettlementSchedule};

    const DAY: u32 = 20_793;
    const S: u64 = 1_000_000_000;

    fn wechat() -> BillChannel {
        BillChannel {
            channel_id: 1,
            format: Format::WechatAll,
            account: "1900000109".into(),
            refund_fee: RefundFeePolicy::ProRata,
            utc_offset_min: 480,
            cutoff_min: 0,
            settlement: SettlementSchedule::Daily,
            settlement_delay_days: 1,
            methods: vec![MethodFee {
                method: PaymentMethod::Wallet,
                fee_bps: 60,
                fee_fixed_minor: 0,
            }],
        }
    }

    /// A capture every 6 hours for two bill days from `start_ns`.
    fn book(start_ns: u64) -> Book {
        let mut book = Book::new(false);
        for i in 0..8u64 {
            book.record(Record::Attempt {
                order_id: 10 + i,
                attempt: 1,
                entry: AttemptEntry {
                    channel_id: 1,
                    currency: 156,
                    amount_minor: 5_000,
                    decided: Decided::Capture,
                    effective_ns: 0,
                    closed: false,
                    reversed: false,
                    channel_at_ns: start_ns + i * NS_PER_DAY / 4 + S,
                    fee_minor: 30,
                    reversed_at_ns: 0,
                },
            });
        }
        book
    }

    #[test]
    fn a_day_is_written_once_the_clock_is_past_its_end_and_a_restart_writes_the_same() {
        let dir = std::env::temp_dir().join(format!("sluice-days-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = wechat();
        let (start, end) = c.window(DAY);
        let book = book(start);
        let options = BillOptions {
            discrepancy_rate: 0.1,
            ..BillOptions::default()
        };
        let mut closer = DayCloser::new(c.clone(), options.clone(), dir.clone());
        closer.observe(end + closer.margin_ns - 1);
        assert!(
            closer.poll(&book, 0).unwrap().is_empty(),
            "within the margin"
        );
        closer.observe(end + closer.margin_ns);
        assert!(
            closer.poll(&book, 0).unwrap().is_empty(),
            "the grace starts"
        );
        assert!(
            closer.poll(&book, S).unwrap().is_empty(),
            "within the grace"
        );
        let written = closer.poll(&book, 5 * S).unwrap();
        assert_eq!(written.iter().map(|w| w.day).collect::<Vec<_>>(), vec![DAY]);
        assert_eq!(written[0].manifest.book_lines, 4);
        assert!(
            closer.poll(&book, 50 * S).unwrap().is_empty(),
            "written once"
        );
        let rest = closer.finish(&book, 60 * S).unwrap();
        assert_eq!(
            rest.iter().map(|w| w.day).collect::<Vec<_>>(),
            vec![DAY + 1]
        );
        let bytes = |w: &WrittenBill| {
            (
                std::fs::read(&w.path).unwrap(),
                std::fs::read(&w.manifest_path).unwrap(),
            )
        };
        let first: Vec<_> = written.iter().chain(&rest).map(bytes).collect();
        // Restarted with the same book: every day again, byte for byte, through the day of the
        // latest time in the book.
        let mut again = DayCloser::new(c, options, dir.clone());
        again.observe_book(&book);
        let second: Vec<_> = again.finish(&book, 0).unwrap().iter().map(bytes).collect();
        assert_eq!(first, second);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
