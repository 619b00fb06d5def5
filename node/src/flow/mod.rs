//! The normalized transaction flow (docs/STORE.md): the rows an exporter writes to the stores,
//! derived from applied journal records.

pub mod derive;
mod derive_finance;
mod derive_payouts;
mod derive_recon;
mod derive_risk;
mod ledger;
pub mod rows;

pub use derive::{DeriveState, derive, derive_of};
pub use rows::*;

#[cfg(test)]
mod derive_finance_tests;
#[cfg(test)]
mod derive_risk_tests;
#[cfg(test)]
mod derive_tests;
