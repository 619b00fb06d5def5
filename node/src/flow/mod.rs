//! The normalized transaction flow (docs/STORE.md): the rows an exporter writes to the stores,
//! derived from applied journal records.

pub mod derive;
mod derive_payouts;
mod derive_recon;
mod ledger;
pub mod rows;

pub use derive::{DeriveState, derive, derive_of};
pub use rows::*;

#[cfg(test)]
mod derive_tests;
