//! The payout channels' book against what the engine booked (`sim_check` does the same for the
//! payment channels): per channel and currency, what the channel paid (amounts and fees) and what
//! came back returned must be what the engine booked, to the minor unit; no payout id may be paid
//! twice; and at the end of a run nothing may be left processing, unseen or due to return.

use std::collections::BTreeMap;

use crate::sim_payout_book::{PayoutFigures, PayoutSummary};

/// What the engine booked for one payout channel in one currency, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PayoutLedgerFigures {
    pub paid_count: u64,
    /// Paid amounts, returned ones included.
    pub paid_minor: i128,
    pub fees_minor: i128,
    pub returned_count: u64,
    pub returned_minor: i128,
}

impl PayoutLedgerFigures {
    fn of_book(f: &PayoutFigures) -> PayoutLedgerFigures {
        PayoutLedgerFigures {
            paid_count: f.paid_count,
            paid_minor: i128::from(f.paid_minor),
            fees_minor: i128::from(f.fees_minor),
            returned_count: f.returned_count,
            returned_minor: i128::from(f.returned_minor),
        }
    }
}

/// The check's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutCheck {
    /// Per (channel, currency): the book's figures and the engine's.
    pub rows: Vec<((u16, u16), PayoutLedgerFigures, PayoutLedgerFigures)>,
    /// Every difference, as a sentence; empty when the check passes.
    pub mismatches: Vec<String>,
}

impl PayoutCheck {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Checks the payout channels' book (a summary at the end of a run) against the engine's figures.
pub fn check(
    book: &PayoutSummary,
    ledger: &BTreeMap<(u16, u16), PayoutLedgerFigures>,
) -> PayoutCheck {
    let mut keys: Vec<(u16, u16)> = book.channels.keys().copied().collect();
    keys.extend(ledger.keys().filter(|k| !book.channels.contains_key(k)));
    keys.sort_unstable();
    let mut out = PayoutCheck::default();
    for key in keys {
        let b = book
            .channels
            .get(&key)
            .map(PayoutLedgerFigures::of_book)
            .unwrap_or_default();
        let l = ledger.get(&key).copied().unwrap_or_default();
        if b != l {
            out.mismatches.push(format!(
                "payout channel {} currency {}: the channel's book says paid {} ({} minor, fees {}) returned {} ({} minor), the engine {} ({}, fees {}) returned {} ({})",
                key.0, key.1, b.paid_count, b.paid_minor, b.fees_minor, b.returned_count,
                b.returned_minor, l.paid_count, l.paid_minor, l.fees_minor, l.returned_count,
                l.returned_minor
            ));
        }
        out.rows.push((key, b, l));
    }
    if !book.paid_twice.is_empty() {
        out.mismatches.push(format!(
            "payouts paid twice by the channel: {:?}",
            book.paid_twice
        ));
    }
    if book.processing + book.unseen + book.returns_planned > 0 {
        out.mismatches.push(format!(
            "the run did not settle: {} transfers processing, {} dispatches never received, {} returns still to come",
            book.processing, book.unseen, book.returns_planned
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_names_every_difference() {
        let mut book = PayoutSummary::default();
        let f = PayoutFigures {
            paid_count: 2,
            paid_minor: 3_000,
            fees_minor: 400,
            returned_count: 1,
            returned_minor: 1_000,
            failed_count: 1,
        };
        book.channels.insert((9, 156), f);
        let same = PayoutLedgerFigures::of_book(&f);
        let ok = check(&book, &BTreeMap::from([((9, 156), same)]));
        assert!(ok.passed(), "{:?}", ok.mismatches);
        let unreturned = PayoutLedgerFigures {
            returned_count: 0,
            returned_minor: 0,
            ..same
        };
        book.paid_twice = vec![7];
        book.processing = 1;
        let bad = check(
            &book,
            &BTreeMap::from([((9, 156), unreturned), ((9, 840), same)]),
        );
        assert_eq!(bad.mismatches.len(), 4, "{:?}", bad.mismatches);
        assert_eq!(
            bad.rows.len(),
            2,
            "a channel only the engine knows is a row too"
        );
    }
}
