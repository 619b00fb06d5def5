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
