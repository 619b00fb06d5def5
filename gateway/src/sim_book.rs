//! The simulated channel's book: its own truth, kept as a wallet keeps it, independent of what the
//! engine was told. Per attempt (order id, attempt number): what the channel decided at dispatch
//! (capture, decline, error) and when that takes effect, whether it was closed before it could
//! capture, whether its capture was reversed; per refund: whether it was paid. The channel answers
//! ChannelControl from it, and the demo and the tests check the engine's ledger against it.
//!
//! Every change is a `Record`, applied the same way live and when a book file is loaded
//! (`BookFile`), so a `sluice channel-sim` killed and started again keeps its truth.

use rustc_hash::FxHashMap;
use sluice_protocol::{ChannelControl, ChannelOp, ChannelStatus, Chars};
use std::collections::BTreeMap;

/// What the channel decided for an attempt when its dispatch arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    Capture,
    Decline,
    Error,
}

/// One attempt in the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptEntry {
    pub channel_id: u16,
    pub currency: u16,
    pub amount_minor: i64,
    pub decided: Decided,
    /// When the decision takes effect at the channel (a capture captures then), ns since the
    /// epoch; `u64::MAX` for an attempt the channel only knows from a Close or Reverse.
    pub effective_ns: u64,
    /// Closed before it captured: it never will.
    pub closed: bool,
    /// Its capture went back to the payer.
    pub reversed: bool,
    /// The channel's time of the capture (its bill dates the row from it): the Dispatch's
    /// `at_ns` plus the processing time the channel drew, ns since the epoch.
    pub channel_at_ns: u64,
    /// The channel's fee for the capture (its price for the method, `sim_bills::channel_fee`).
    pub fee_minor: i64,
    /// When the capture was reversed (the ChannelControl Reverse's `at_ns`); 0 unless reversed.
    pub reversed_at_ns: u64,
}

impl AttemptEntry {
    /// Whether the attempt holds the payer's money at `now_ns` (reversed captures included).
    pub fn captured(&self, now_ns: u64) -> bool {
        self.decided == Decided::Capture && !self.closed && self.effective_ns <= now_ns
    }
}

/// One refund in the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundEntry {
    pub channel_id: u16,
    pub order_id: u64,
    /// The attempt whose capture it refunds (0: not known, for a refund of a version 1 book whose
    /// order has no capture on the channel).
    pub attempt: u8,
    pub currency: u16,
    pub amount_minor: i64,
    /// Whether the refund pays (decided at dispatch).
    pub paid: bool,
    pub effective_ns: u64,
    /// The channel's time of the refund: the RefundDispatch's `at_ns` plus the processing time.
    pub channel_at_ns: u64,
    /// The fee the channel returned (ProRata: `sim_bills::fee_returned` over the payment's paid
    /// refunds before it; Keep, or a refund that failed: 0).
    pub fee_returned_minor: i64,
}

/// One change to the book: applied live, and written to (and read back from) a book file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Attempt {
        order_id: u64,
        attempt: u8,
        entry: AttemptEntry,
    },
    /// Closed before it captured (an attempt the channel never saw is booked closed, so that its
    /// dispatch, if it still came, would not capture).
    Close {
        channel_id: u16,
        order_id: u64,
        attempt: u8,
        amount_minor: i64,
        currency: u16,
    },
    Reverse {
        channel_id: u16,
        order_id: u64,
        attempt: u8,
        /// The ChannelControl's `at_ns` (the processing time when it carries none).
        at_ns: u64,
    },
    Refund {
        refund_id: u64,
        entry: RefundEntry,
    },
}

/// The book's figures for one channel and currency, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelFigures {
    /// Captures, reversed ones included.
    pub captured_count: u64,
    pub captured_minor: i64,
    pub reversed_count: u64,
    pub reversed_minor: i64,
    pub refunded_count: u64,
    pub refunded_minor: i64,
}

/// What the book says at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookSummary {
    /// Per (channel, currency).
    pub channels: BTreeMap<(u16, u16), ChannelFigures>,
    /// Payments (orders) with more than one capture not reversed: the payer paid twice.
    pub double_charges: u64,
    /// The first `DOUBLE_CHARGES_LISTED` of them (order ids, ascending), to look them up.
    pub double_charged_orders: Vec<u64>,
    /// Payments with exactly one capture not reversed.
    pub payments_captured: u64,
    /// Captures and refunds decided but not yet in effect (and not closed).
    pub pending: u64,
    pub attempts: u64,
    pub closed: u64,
}

/// The channel's book.
#[derive(Debug)]
pub struct Book {
    attempts: FxHashMap<(u64, u8), AttemptEntry>,
    refunds: FxHashMap<u64, RefundEntry>,
    /// Per attempt, the amount its paid refunds took so far.
    refunded: FxHashMap<(u64, u8), i64>,
    /// Per attempt, its failed refunds: amount and when the failure is answered (rare; kept for
    /// the ProRata fee's `refunded_before`, which counts a refund until its failure is known).
    failed_refunds: FxHashMap<(u64, u8), Vec<(i64, u64)>>,
    /// Records not yet taken by `take_records` (kept only when the book is persisted).
    outbox: Option<Vec<Record>>,
    /// Most entries (attempts and refunds); `BOOK_ENTRIES_MAX` unless set.
    entries_max: usize,
}

/// How many double-charged orders a summary names.
pub const DOUBLE_CHARGES_LISTED: usize = 16;

/// Most entries (attempts and refunds) a book holds unless told otherwise: about 64 bytes each,
/// 256 MiB at most. A full book refuses new dispatches (they are answered as errors and not
/// booked). The in-process simulator sizes its book to what the engine can ever dispatch.
pub const BOOK_ENTRIES_MAX: usize = 1 << 22;

/// The channel's reference of an attempt's capture: the same after a restart.
pub fn capture_ref(channel_id: u16, order_id: u64, attempt: u8) -> Chars<24> {
    Chars::new(&format!("SIM{channel_id:02}-{order_id}-{attempt}"))
}

/// The channel's reference of a refund.
pub fn refund_ref(channel_id: u16, refund_id: u64) -> Chars<24> {
    Chars::new(&format!("SIMR{channel_id:02}-{refund_id}"))
}

impl Book {
    /// An empty book; `persisted`: keep every record for `take_records`.
    pub fn new(persisted: bool) -> Book {
        Book {
            attempts: FxHashMap::default(),
            refunds: FxHashMap::default(),
            refunded: FxHashMap::default(),
            failed_refunds: FxHashMap::default(),
            outbox: persisted.then(Vec::new),
            entries_max: BOOK_ENTRIES_MAX,
        }
    }

    /// Holds at most `entries_max` entries (attempts and refunds).
    pub fn with_entries_max(mut self, entries_max: usize) -> Book {
        self.entries_max = entries_max;
        self
    }

    pub fn attempt(&self, order_id: u64, attempt: u8) -> Option<&AttemptEntry> {
        self.attempts.get(&(order_id, attempt))
    }

    pub fn refund(&self, refund_id: u64) -> Option<&RefundEntry> {
        self.refunds.get(&refund_id)
    }

    /// The attempt of `order_id` whose capture channel `channel_id` keeps (decided Capture, not
    /// closed, not reversed); 0 when none. At most `u8::MAX` lookups.
    pub fn captured_attempt(&self, order_id: u64, channel_id: u16) -> u8 {
        (1..=u8::MAX)
            .find(|&n| {
                self.attempt(order_id, n).is_some_and(|e| {
                    e.channel_id == channel_id
                        && e.decided == Decided::Capture
                        && !e.closed
                        && !e.reversed
                })
            })
            .unwrap_or(0)
    }

    /// What the paid refunds of attempt (`order_id`, `attempt`) took so far, minor units.
    pub fn refunded_minor(&self, order_id: u64, attempt: u8) -> i64 {
        self.refunded
            .get(&(order_id, attempt))
            .copied()
            .unwrap_or(0)
    }

    /// The ProRata fee's `refunded_before` for a refund of the attempt dispatched at `now_ns`:
    /// its earlier refunds, paid or not yet answered — what the server counts when it accepts
    /// the refund (docs/RECONCILIATION.md, section 5).
    pub fn refunded_before_minor(&self, order_id: u64, attempt: u8, now_ns: u64) -> i64 {
        let unanswered: i64 = self
            .failed_refunds
            .get(&(order_id, attempt))
            .map_or(0, |f| {
                f.iter()
                    .filter(|(_, at)| *at > now_ns)
                    .map(|(a, _)| a)
                    .sum()
            });
        self.refunded_minor(order_id, attempt) + unanswered
    }

    /// Every attempt in the book, in no particular order.
    pub fn attempts(&self) -> impl Iterator<Item = ((u64, u8), &AttemptEntry)> {
        self.attempts.iter().map(|(&k, e)| (k, e))
    }

    /// Every refund in the book, in no particular order.
    pub fn refunds(&self) -> impl Iterator<Item = (u64, &RefundEntry)> {
        self.refunds.iter().map(|(&k, e)| (k, e))
    }

    pub fn is_full(&self) -> bool {
        self.attempts.len() + self.refunds.len() >= self.entries_max
    }

    /// Applies a record (live or from a file).
    pub fn apply(&mut self, record: &Record) {
        match *record {
            Record::Attempt {
                order_id,
                attempt,
                entry,
            } => {
                self.attempts.insert((order_id, attempt), entry);
            }
            Record::Close {
                channel_id,
                order_id,
                attempt,
                amount_minor,
                currency,
            } => {
                let e = self
                    .attempts
                    .entry((order_id, attempt))
                    .or_insert(AttemptEntry {
                        channel_id,
                        currency,
                        amount_minor,
                        decided: Decided::Error,
                        effective_ns: u64::MAX,
                        closed: false,
                        reversed: false,
                        channel_at_ns: 0,
                        fee_minor: 0,
                        reversed_at_ns: 0,
                    });
                e.closed = true;
            }
            Record::Reverse {
                order_id,
                attempt,
                at_ns,
                ..
            } => {
                let e = self
                    .attempts
                    .get_mut(&(order_id, attempt))
                    .expect("a reversal is booked only for an attempt in the book");
                assert!(
                    e.decided == Decided::Capture && !e.closed,
                    "only a capture is reversed"
                );
                e.reversed = true;
                e.reversed_at_ns = at_ns;
            }
            Record::Refund {
                refund_id,
                mut entry,
            } => {
                if entry.attempt == 0 {
                    entry.attempt = self.captured_attempt(entry.order_id, entry.channel_id);
                }
                let key = (entry.order_id, entry.attempt);
                if entry.paid && entry.attempt != 0 {
                    *self.refunded.entry(key).or_default() += entry.amount_minor;
                } else if entry.attempt != 0 {
                    let failed = self.failed_refunds.entry(key).or_default();
                    failed.push((entry.amount_minor, entry.effective_ns));
                }
                self.refunds.insert(refund_id, entry);
            }
        }
    }

    /// Applies a record and keeps it for the book file.
    pub fn record(&mut self, record: Record) {
        self.apply(&record);
        if let Some(outbox) = self.outbox.as_mut() {
            outbox.push(record);
        }
    }

    /// The records since the last call, to be written before any answer they caused is sent.
    pub fn take_records(&mut self) -> Vec<Record> {
        self.outbox.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Answers a ChannelControl at `now_ns`, booking what a Close or Reverse changes. Returns the
    /// status and the reference to send with it.
    pub fn control(&mut self, c: &ChannelControl, now_ns: u64) -> (ChannelStatus, Chars<24>) {
        if c.op == ChannelOp::RefundQuery {
            return self.refund_status(c.refund_id, now_ns);
        }
        let capture = capture_ref(c.channel_id, c.order_id, c.attempt);
        let none = Chars::new("");
        let entry = self.attempt(c.order_id, c.attempt).copied();
        let close = Record::Close {
            channel_id: c.channel_id,
            order_id: c.order_id,
            attempt: c.attempt,
            amount_minor: c.amount_minor,
            currency: c.currency,
        };
        let captured = entry.is_some_and(|e| e.captured(now_ns));
        let reversed = entry.is_some_and(|e| e.reversed);
        let closed = entry.is_some_and(|e| e.closed);
        match c.op {
            ChannelOp::Query => match entry {
                None => (ChannelStatus::NotFound, none),
                Some(_) if reversed => (ChannelStatus::Reversed, capture),
                Some(_) if closed => (ChannelStatus::Closed, none),
                Some(_) if captured => (ChannelStatus::Paid, capture),
                Some(_) => (ChannelStatus::NotPaid, none),
            },
            // A channel closes only an unpaid order; one that captured answers Paid.
            ChannelOp::Close if reversed => (ChannelStatus::Reversed, capture),
            ChannelOp::Close if captured => (ChannelStatus::Paid, capture),
            ChannelOp::Close => {
                if !closed {
                    self.record(close);
                }
                (ChannelStatus::Closed, none)
            }
            // A reverse of an order that has not captured closes it (nothing to give back), as
            // WeChat Pay's reverse does.
            _ => {
                if captured && !reversed {
                    // The reversal's time is the request's, as the capture's is its dispatch's.
                    let at_ns = if c.at_ns != 0 { c.at_ns } else { now_ns };
                    self.record(Record::Reverse {
                        channel_id: c.channel_id,
                        order_id: c.order_id,
                        attempt: c.attempt,
                        at_ns,
                    });
                } else if !captured && !closed {
                    self.record(close);
                }
                (ChannelStatus::Reversed, capture)
            }
        }
    }

    fn refund_status(&self, refund_id: u64, now_ns: u64) -> (ChannelStatus, Chars<24>) {
        match self.refund(refund_id) {
            None => (ChannelStatus::NotFound, Chars::new("")),
            Some(r) if r.effective_ns > now_ns => (ChannelStatus::Processing, Chars::new("")),
            Some(r) if r.paid => (ChannelStatus::Refunded, refund_ref(r.channel_id, refund_id)),
            Some(r) => (
                ChannelStatus::RefundFailed,
                refund_ref(r.channel_id, refund_id),
            ),
        }
    }

    /// The book's figures at `now_ns`.
    pub fn summary(&self, now_ns: u64) -> BookSummary {
        let mut s = BookSummary {
            attempts: self.attempts.len() as u64,
            ..BookSummary::default()
        };
        let mut kept_per_order: FxHashMap<u64, u32> = FxHashMap::default();
        for (&(order_id, _), e) in &self.attempts {
            s.closed += u64::from(e.closed);
            let pending = e.decided == Decided::Capture && !e.closed && e.effective_ns > now_ns;
            s.pending += u64::from(pending);
            if !e.captured(now_ns) {
                continue;
            }
            let f = s.channels.entry((e.channel_id, e.currency)).or_default();
            f.captured_count += 1;
            f.captured_minor += e.amount_minor;
            if e.reversed {
                f.reversed_count += 1;
                f.reversed_minor += e.amount_minor;
            } else {
                *kept_per_order.entry(order_id).or_default() += 1;
            }
        }
        for r in self.refunds.values() {
            if r.effective_ns > now_ns {
                s.pending += 1;
            } else if r.paid {
                let f = s.channels.entry((r.channel_id, r.currency)).or_default();
                f.refunded_count += 1;
                f.refunded_minor += r.amount_minor;
            }
        }
        s.double_charges = kept_per_order.values().filter(|&&n| n > 1).count() as u64;
        let mut twice: Vec<u64> = kept_per_order
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(&order, _)| order)
            .collect();
        twice.sort_unstable();
        twice.truncate(DOUBLE_CHARGES_LISTED);
        s.double_charged_orders = twice;
        s.payments_captured = kept_per_order.values().filter(|&&n| n == 1).count() as u64;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::ChannelOp;

    fn control(op: ChannelOp, order_id: u64, attempt: u8) -> ChannelControl {
        ChannelControl {
            op,
            order_id,
            attempt,
            refund_id: 0,
            channel_id: 2,
            amount_minor: 500,
            currency: 156,
            channel_ref: Chars::new(""),
            at_ns: 0,
        }
    }

    fn attempt(order_id: u64, attempt: u8, decided: Decided, effective_ns: u64) -> Record {
        Record::Attempt {
            order_id,
            attempt,
            entry: AttemptEntry {
                channel_id: 2,
                currency: 156,
                amount_minor: 500,
                decided,
                effective_ns,
                closed: false,
                reversed: false,
                channel_at_ns: effective_ns,
                fee_minor: 3,
                reversed_at_ns: 0,
            },
        }
    }

    #[test]
    fn queries_answer_from_the_book_like_a_wallet() {
        let mut b = Book::new(false);
        b.record(attempt(1, 1, Decided::Capture, 100));
        b.record(attempt(2, 1, Decided::Decline, 100));
        let status = |b: &mut Book, op, order, n, now| b.control(&control(op, order, n), now).0;
        assert_eq!(
            status(&mut b, ChannelOp::Query, 1, 1, 50),
            ChannelStatus::NotPaid
        );
        assert_eq!(
            status(&mut b, ChannelOp::Query, 1, 1, 100),
            ChannelStatus::Paid
        );
        assert_eq!(
            status(&mut b, ChannelOp::Query, 2, 1, 200),
            ChannelStatus::NotPaid
        );
        assert_eq!(
            status(&mut b, ChannelOp::Query, 3, 1, 200),
            ChannelStatus::NotFound
        );
        // Too late to close a capture; a decline closes.
        assert_eq!(
            status(&mut b, ChannelOp::Close, 1, 1, 200),
            ChannelStatus::Paid
        );
        assert_eq!(
            status(&mut b, ChannelOp::Close, 2, 1, 200),
            ChannelStatus::Closed
        );
        assert_eq!(
            status(&mut b, ChannelOp::Query, 2, 1, 300),
            ChannelStatus::Closed
        );
        // A reversal is booked and answered on every later query.
        assert_eq!(
            status(&mut b, ChannelOp::Reverse, 1, 1, 300),
            ChannelStatus::Reversed
        );
        assert_eq!(
            status(&mut b, ChannelOp::Query, 1, 1, 400),
            ChannelStatus::Reversed
        );
        assert_eq!(
            status(&mut b, ChannelOp::Close, 1, 1, 400),
            ChannelStatus::Reversed
        );
    }

    #[test]
    fn a_close_before_the_capture_takes_effect_prevents_it() {
        let mut b = Book::new(true);
        b.record(attempt(1, 1, Decided::Capture, 1_000));
        assert_eq!(
            b.control(&control(ChannelOp::Close, 1, 1), 500).0,
            ChannelStatus::Closed
        );
        assert!(!b.attempt(1, 1).unwrap().captured(2_000));
        assert_eq!(
            b.control(&control(ChannelOp::Query, 1, 1), 2_000).0,
            ChannelStatus::Closed
        );
        // Never seen: closed, so that a dispatch still on its way cannot capture.
        assert_eq!(
            b.control(&control(ChannelOp::Close, 9, 2), 0).0,
            ChannelStatus::Closed
        );
        assert!(b.attempt(9, 2).unwrap().closed);
        let records = b.take_records();
        assert_eq!(records.len(), 3, "{records:?}");
        assert!(b.take_records().is_empty());
        let s = b.summary(5_000);
        assert_eq!((s.closed, s.pending, s.double_charges), (2, 0, 0));
        assert!(s.channels.is_empty());
    }

    #[test]
    fn the_summary_counts_double_charges_net_of_reversals() {
        let mut b = Book::new(false);
        b.record(attempt(1, 1, Decided::Capture, 10));
        b.record(attempt(1, 2, Decided::Capture, 10));
        b.record(attempt(2, 1, Decided::Capture, 10));
        b.record(attempt(3, 1, Decided::Capture, 1_000));
        let s = b.summary(100);
        assert_eq!(
            (s.double_charges, s.payments_captured, s.pending),
            (1, 1, 1)
        );
        assert_eq!(s.channels[&(2, 156)].captured_minor, 1_500);
        b.control(&control(ChannelOp::Reverse, 1, 2), 100);
        let s = b.summary(2_000);
        assert_eq!(
            (s.double_charges, s.payments_captured, s.pending),
            (0, 3, 0)
        );
        let f = s.channels[&(2, 156)];
        assert_eq!(
            (f.captured_minor, f.reversed_minor, f.reversed_count),
            (2_000, 500, 1)
        );
    }

    #[test]
    fn a_full_book_says_so() {
        let mut b = Book::new(false).with_entries_max(1);
        assert!(!b.is_full());
        b.record(attempt(1, 1, Decided::Capture, 10));
        assert!(b.is_full());
    }

    #[test]
    fn refunds_answer_processing_until_they_take_effect() {
        let mut b = Book::new(false);
        let refund = |paid| RefundEntry {
            channel_id: 2,
            order_id: 1,
            attempt: 1,
            currency: 156,
            amount_minor: 100,
            paid,
            effective_ns: 50,
            channel_at_ns: 50,
            fee_returned_minor: 0,
        };
        b.record(Record::Refund {
            refund_id: 7,
            entry: refund(true),
        });
        b.record(Record::Refund {
            refund_id: 8,
            entry: refund(false),
        });
        let mut q = control(ChannelOp::RefundQuery, 0, 0);
        q.refund_id = 7;
        assert_eq!(b.control(&q, 10).0, ChannelStatus::Processing);
        assert_eq!(b.control(&q, 60).0, ChannelStatus::Refunded);
        q.refund_id = 8;
        assert_eq!(b.control(&q, 60).0, ChannelStatus::RefundFailed);
        q.refund_id = 9;
        assert_eq!(b.control(&q, 60).0, ChannelStatus::NotFound);
        let f = b.summary(60).channels[&(2, 156)];
        assert_eq!((f.refunded_count, f.refunded_minor), (1, 100));
    }
}
