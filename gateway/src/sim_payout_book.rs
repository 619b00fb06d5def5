//! The simulated payout channel's book: its own truth about each transfer, kept as a bank keeps it
//! and independent of what the engine was told (docs/PAYOUTS.md, section 4). Per payout id (the
//! request id a bank-transfer API is idempotent on): whether the transfer pays or fails, when that
//! is final at the channel (a transfer accepted is processed asynchronously), whether the receiving
//! bank returned it, and when a planned return comes. It also remembers the payouts whose dispatch
//! never reached the channel (a query answers NotFound; the dispatch sent again is processed).
//!
//! Every change is a `PayoutRecord`, applied the same way live and when read back, so the book
//! can be kept in a file. The payout check (`sim_payout_check`) compares the book's totals with
//! what the engine booked, and counts a payout paid twice (which the book never does on its own:
//! a repeated dispatch answers the state it has).

use sluice_protocol::{Chars, PartyKind};
use std::collections::{BTreeMap, BTreeSet};

/// What the channel decided for a transfer when its dispatch arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Paid,
    /// Failed with the channel's code (`FAILURE_CODES`).
    Failed(u16),
}

/// The channel's failure codes and their meaning, as a bank-transfer API names them (Stripe's
/// payout `failure_code`, WeChat Pay 商家转账's `fail_reason`).
pub const FAILURE_CODES: &[(u16, &str)] = &[
    (1, "account_closed"),
    (2, "invalid_account_number"),
    (3, "account_frozen"),
    (4, "name_mismatch"),
    (5, "no_account"),
];

/// The code a returned transfer carries (the receiving bank's reason).
pub const RETURN_CODE: u16 = 1;

/// The channel's name of a failure or return code.
pub fn code_name(code: u16) -> &'static str {
    FAILURE_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("unknown", |(_, n)| n)
}

/// One transfer in the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutEntry {
    pub channel_id: u16,
    pub party_kind: PartyKind,
    pub party_id: u32,
    pub currency: u16,
    pub amount_minor: i64,
    /// The fee the channel charges the platform for the transfer (the dispatch's).
    pub fee_minor: i64,
    pub fate: Fate,
    /// The channel's time the dispatch arrived: the PayoutDispatch's `at_ns` (event time).
    pub received_ns: u64,
    /// From then on the fate is final; before, a query answers Processing (event time).
    pub final_ns: u64,
    /// A paid transfer the receiving bank will send back at this event time; 0 when none.
    pub return_due_ns: u64,
    /// When it was returned (event time); 0 while not returned.
    pub returned_ns: u64,
}

impl PayoutEntry {
    pub fn paid(&self) -> bool {
        self.fate == Fate::Paid
    }
}

/// One change to the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutRecord {
    /// A dispatch reached the channel: the transfer and what becomes of it.
    Payout { payout_id: u64, entry: PayoutEntry },
    /// A dispatch was lost before the channel (the channel knows nothing; the simulator remembers
    /// it so that the same dispatch sent again is processed).
    Unseen { channel_id: u16, payout_id: u64 },
    /// The receiving bank returned a paid transfer at `at_ns` (event time).
    Returned {
        channel_id: u16,
        payout_id: u64,
        at_ns: u64,
    },
}

impl PayoutRecord {
    pub fn channel_id(&self) -> u16 {
        match self {
            PayoutRecord::Payout { entry, .. } => entry.channel_id,
            PayoutRecord::Unseen { channel_id, .. } | PayoutRecord::Returned { channel_id, .. } => {
                *channel_id
            }
        }
    }
}

/// What a query (or a repeated dispatch) learns of a payout at an event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    NotFound,
    Processing,
    Paid,
    Failed(u16),
    Returned,
}

/// The book's figures for one channel and currency, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PayoutFigures {
    /// Transfers paid (returned ones included) and their amounts and fees.
    pub paid_count: u64,
    pub paid_minor: i64,
    pub fees_minor: i64,
    pub returned_count: u64,
    pub returned_minor: i64,
    pub failed_count: u64,
}

/// What the book says at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutSummary {
    /// Per (channel, currency), final transfers only.
    pub channels: BTreeMap<(u16, u16), PayoutFigures>,
    /// Payout ids booked as paid more than once (the first `PAID_TWICE_LISTED`).
    pub paid_twice: Vec<u64>,
    /// Transfers not final yet (Processing), and returns planned but not made.
    pub processing: u64,
    pub returns_planned: u64,
    /// Dispatches lost before the channel and not sent again (the engine should have asked).
    pub unseen: u64,
    pub payouts: u64,
}

/// How many payout ids paid twice a summary names.
pub const PAID_TWICE_LISTED: usize = 16;

/// Most transfers a book holds unless told otherwise (about 96 bytes each). A full book refuses
/// new dispatches: they are answered Failed and not booked.
pub const PAYOUT_BOOK_MAX: usize = 1 << 20;

/// The channel's reference of a transfer: the same after a restart.
pub fn payout_ref(channel_id: u16, payout_id: u64) -> Chars<24> {
    Chars::new(&format!("SIMP{channel_id:02}-{payout_id}"))
}

/// The payout channels' book.
#[derive(Debug)]
pub struct PayoutBook {
    payouts: BTreeMap<u64, PayoutEntry>,
    unseen: BTreeSet<u64>,
    /// Planned returns not made yet: (due, payout id).
    returns: BTreeSet<(u64, u64)>,
    paid_twice: Vec<u64>,
    outbox: Option<Vec<PayoutRecord>>,
    entries_max: usize,
}

impl PayoutBook {
    /// An empty book; `persisted`: keep every record for `take_records`.
    pub fn new(persisted: bool) -> PayoutBook {
        PayoutBook {
            payouts: BTreeMap::new(),
            unseen: BTreeSet::new(),
            returns: BTreeSet::new(),
            paid_twice: Vec::new(),
            outbox: persisted.then(Vec::new),
            entries_max: PAYOUT_BOOK_MAX,
        }
    }

    pub fn with_entries_max(mut self, entries_max: usize) -> PayoutBook {
        self.entries_max = entries_max;
        self
    }

    pub fn payout(&self, payout_id: u64) -> Option<&PayoutEntry> {
        self.payouts.get(&payout_id)
    }

    /// Every transfer in payout id order.
    pub fn payouts(&self) -> impl Iterator<Item = (u64, &PayoutEntry)> {
        self.payouts.iter().map(|(&k, e)| (k, e))
    }

    pub fn was_unseen(&self, payout_id: u64) -> bool {
        self.unseen.contains(&payout_id)
    }

    pub fn is_full(&self) -> bool {
        self.payouts.len() + self.unseen.len() >= self.entries_max
    }

    /// Applies a record (live or read back).
    pub fn apply(&mut self, record: &PayoutRecord) {
        match *record {
            PayoutRecord::Payout { payout_id, entry } => {
                let before = self.payouts.insert(payout_id, entry);
                if before.is_some_and(|b| b.paid()) && entry.paid() {
                    self.paid_twice.push(payout_id);
                }
                if entry.paid() && entry.return_due_ns != 0 && entry.returned_ns == 0 {
                    self.returns.insert((entry.return_due_ns, payout_id));
                }
            }
            PayoutRecord::Unseen { payout_id, .. } => {
                self.unseen.insert(payout_id);
            }
            PayoutRecord::Returned {
                payout_id, at_ns, ..
            } => {
                let e = self
                    .payouts
                    .get_mut(&payout_id)
                    .expect("a return is booked only for a transfer in the book");
                assert!(e.paid(), "only a paid transfer is returned");
                assert_eq!(e.returned_ns, 0, "a transfer is returned once");
                self.returns.remove(&(e.return_due_ns, payout_id));
                e.returned_ns = at_ns.max(1);
            }
        }
    }

    /// Applies a record and keeps it for the book file.
    pub fn record(&mut self, record: PayoutRecord) {
        self.apply(&record);
        if let Some(outbox) = self.outbox.as_mut() {
            outbox.push(record);
        }
    }

    /// The records since the last call.
    pub fn take_records(&mut self) -> Vec<PayoutRecord> {
        self.outbox.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Where payout `payout_id` stands at event time `at_ns`.
    pub fn standing(&self, payout_id: u64, at_ns: u64) -> Standing {
        match self.payouts.get(&payout_id) {
            None => Standing::NotFound,
            Some(e) if e.returned_ns != 0 => Standing::Returned,
            Some(e) if at_ns < e.final_ns => Standing::Processing,
            Some(e) => match e.fate {
                Fate::Paid => Standing::Paid,
                Fate::Failed(code) => Standing::Failed(code),
            },
        }
    }

    /// The next planned return due at `at_ns` (event time), if any: (payout id, channel).
    pub fn return_due(&self, at_ns: u64) -> Option<(u64, u16)> {
        let &(due, payout_id) = self.returns.first()?;
        if due > at_ns {
            return None;
        }
        let channel = self.payouts.get(&payout_id).map_or(0, |e| e.channel_id);
        Some((payout_id, channel))
    }

    /// The book's figures at event time `at_ns`.
    pub fn summary(&self, at_ns: u64) -> PayoutSummary {
        let mut s = PayoutSummary {
            payouts: self.payouts.len() as u64,
            returns_planned: self.returns.len() as u64,
            ..PayoutSummary::default()
        };
        s.unseen = self
            .unseen
            .iter()
            .filter(|id| !self.payouts.contains_key(id))
            .count() as u64;
        for e in self.payouts.values() {
            if at_ns < e.final_ns && e.returned_ns == 0 {
                s.processing += 1;
                continue;
            }
            let f = s.channels.entry((e.channel_id, e.currency)).or_default();
            match e.fate {
                Fate::Failed(_) => f.failed_count += 1,
                Fate::Paid => {
                    f.paid_count += 1;
                    f.paid_minor += e.amount_minor;
                    f.fees_minor += e.fee_minor;
                }
            }
            if e.returned_ns != 0 {
                f.returned_count += 1;
                f.returned_minor += e.amount_minor;
            }
        }
        s.paid_twice = self
            .paid_twice
            .iter()
            .copied()
            .take(PAID_TWICE_LISTED)
            .collect();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fate: Fate, final_ns: u64, return_due_ns: u64) -> PayoutEntry {
        PayoutEntry {
            channel_id: 9,
            party_kind: PartyKind::Merchant,
            party_id: 1001,
            currency: 156,
            amount_minor: 10_000,
            fee_minor: 200,
            fate,
            received_ns: 100,
            final_ns,
            return_due_ns,
            returned_ns: 0,
        }
    }

    #[test]
    fn a_transfer_is_processing_until_final_then_answers_its_fate() {
        let mut b = PayoutBook::new(true);
        b.record(PayoutRecord::Payout {
            payout_id: 1,
            entry: entry(Fate::Paid, 1_000, 0),
        });
        b.record(PayoutRecord::Payout {
            payout_id: 2,
            entry: entry(Fate::Failed(3), 100, 0),
        });
        assert_eq!(b.standing(1, 500), Standing::Processing);
        assert_eq!(b.standing(1, 1_000), Standing::Paid);
        assert_eq!(b.standing(2, 100), Standing::Failed(3));
        assert_eq!(b.standing(3, 100), Standing::NotFound);
        let s = b.summary(500);
        assert_eq!((s.processing, s.payouts), (1, 2));
        let s = b.summary(1_000);
        let f = s.channels[&(9, 156)];
        assert_eq!((f.paid_count, f.paid_minor, f.fees_minor), (1, 10_000, 200));
        assert_eq!(f.failed_count, 1);
        assert_eq!(b.take_records().len(), 2);
        assert!(b.take_records().is_empty());
    }

    #[test]
    fn a_planned_return_comes_due_once_and_is_answered_returned() {
        let mut b = PayoutBook::new(false);
        b.record(PayoutRecord::Payout {
            payout_id: 7,
            entry: entry(Fate::Paid, 100, 5_000),
        });
        assert_eq!(b.return_due(4_999), None);
        assert_eq!(b.return_due(5_000), Some((7, 9)));
        assert_eq!(b.summary(5_000).returns_planned, 1);
        b.record(PayoutRecord::Returned {
            channel_id: 9,
            payout_id: 7,
            at_ns: 5_000,
        });
        assert_eq!(b.return_due(9_000), None);
        assert_eq!(b.standing(7, 9_000), Standing::Returned);
        let f = b.summary(9_000).channels[&(9, 156)];
        assert_eq!(
            (f.paid_minor, f.returned_count, f.returned_minor),
            (10_000, 1, 10_000)
        );
    }

    #[test]
    fn unseen_dispatches_and_payouts_booked_paid_twice_are_counted() {
        let mut b = PayoutBook::new(false).with_entries_max(3);
        b.record(PayoutRecord::Unseen {
            channel_id: 9,
            payout_id: 4,
        });
        assert!(b.was_unseen(4));
        assert_eq!(b.standing(4, 0), Standing::NotFound);
        assert_eq!(b.summary(0).unseen, 1);
        let paid = PayoutRecord::Payout {
            payout_id: 4,
            entry: entry(Fate::Paid, 0, 0),
        };
        b.record(paid);
        assert_eq!(b.summary(0).unseen, 0, "sent again and processed");
        assert!(b.summary(0).paid_twice.is_empty());
        b.apply(&paid);
        assert_eq!(b.summary(0).paid_twice, vec![4]);
        assert!(!b.is_full());
        b.record(PayoutRecord::Unseen {
            channel_id: 9,
            payout_id: 5,
        });
        assert!(b.is_full());
    }
}
