//! Channel bill files in their published layouts (docs/RECONCILIATION.md, docs/BILLS.md).
//!
//! Every format reads into and writes from one normalized model (`model`): a bill is a list of
//! `BillLine`s — payments and refunds as the channel booked them, with its fee and its own time —
//! plus the totals the file states about itself. The simulator writes bills from its book; `sluice
//! reconcile` reads them. A parser refuses a malformed file with the file, the line and the field
//! at fault (`BillError`), and returns nothing else: a bill is loaded whole or not at all.

#![forbid(unsafe_code)]

pub mod model;

pub use model::*;
