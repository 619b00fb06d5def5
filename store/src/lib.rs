//! # sluice-store
//!
//! The flow store (docs/STORE.md): where the normalized transaction flow that the exporter derives
//! from the journal (`sluice_node::flow`) is kept, and what reads it back.
//!
//! - A [`FlowStore`] holds rows and its own position (the last journal sequence whose rows it
//!   holds), written together, atomically: Parquet files in the data directory (the embedded
//!   default) or PostgreSQL.
//! - A [`FlowReader`] loads rows back for `sluice report` and the console; the aggregation lives
//!   in one place whichever store answers.
#![forbid(unsafe_code)]

pub mod console;
pub mod memory;
pub mod recon;
pub mod report;

use std::fmt;

pub mod exporter;
pub mod parquet;
pub mod pg;

pub use crate::exporter::{ExportOptions, ExportStats, Exporter, JournalEnd};
pub use crate::parquet::ParquetStore;

use sluice_node::flow::{Day, Rows};

/// Why the store failed: a sentence naming what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl StoreError {
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError(message.into())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// Somewhere rows are kept, with the position they are kept through.
pub trait FlowStore: Send {
    /// A short name for logs and metrics (`parquet`, `postgres`).
    fn name(&self) -> &'static str;
    /// The last journal sequence whose rows the store holds (0 = none).
    fn position(&mut self) -> Result<u64, StoreError>;
    /// Stores `rows` — every row of the records after the current position up to and including
    /// `through` — and moves the position to `through`, atomically: after a crash the store holds
    /// either all of it or none of it. Rows at or below the current position are not stored
    /// twice.
    fn commit(&mut self, rows: &Rows, through: u64) -> Result<(), StoreError>;
}

/// Which rows to load: an inclusive range of days (`None` = all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayRange {
    pub from: Option<Day>,
    pub to: Option<Day>,
}

impl DayRange {
    pub fn contains(&self, day: Day) -> bool {
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|t| day <= t)
    }
}

/// Reads rows back.
pub trait FlowReader {
    /// Every row of the named tables (`sluice_node::flow::TABLES`) whose `day` is in `days`;
    /// the other tables are left empty.
    fn load(&mut self, tables: &[&str], days: DayRange) -> Result<Rows, StoreError>;
    /// The store's position (the journal sequence its rows reach).
    fn position(&mut self) -> Result<u64, StoreError>;
}
