//! The normalized transaction flow (docs/STORE.md): the rows an exporter writes to the stores,
//! derived from applied journal records.

pub mod rows;

pub use rows::*;
