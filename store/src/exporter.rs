//! The exporter (docs/STORE.md, sections 1–2): a follower named `export-<store>` whose engine
//! records its ledger transfers, deriving rows from every durable record (`flow::derive`) and
//! committing them to a [`FlowStore`] in batches — every `batch_rows` rows or `batch_interval`,
//! whichever first — each with the store's new position, atomically. Only then is the follower's
//! own position saved: the store, not the follower, is the truth about what was exported, so the
//! exporter starts where the store's position says (rebuilding its engine there).

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_journal::{JournalReader, ReadPosition, journal_dir};
use sluice_node::flow::{DeriveState, Rows, derive};
use sluice_node::follower::Progress;
use sluice_node::replayer::snapshot_store_if_any;
use sluice_node::{DurableCursor, Follower, Replayer};

use crate::{FlowStore, StoreError};

/// How the exporter batches.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// Commit once this many rows wait.
    pub batch_rows: usize,
    /// Commit rows that waited this long.
    pub batch_interval: Duration,
}

impl Default for ExportOptions {
    fn default() -> ExportOptions {
        ExportOptions {
            batch_rows: 65_536,
            batch_interval: Duration::from_secs(1),
        }
    }
}

/// What the exporter did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Rows committed.
    pub rows: u64,
    /// Payment results committed (final payments).
    pub payments: u64,
    /// Records applied.
    pub records: u64,
    /// Commits made.
    pub commits: u64,
    /// The store's position (the last sequence whose rows it holds).
    pub position: u64,
}

fn node(e: sluice_node::Error) -> StoreError {
    StoreError::new(e.0)
}

/// A follower exporting to a store.
pub struct Exporter<S: FlowStore> {
    store: S,
    follower: Follower,
    derive: DeriveState,
    pending: Rows,
    pending_since: Instant,
    options: ExportOptions,
    stats: ExportStats,
}

impl<S: FlowStore> Exporter<S> {
    /// Opens the exporter of `data_dir`'s journal into `store`, whose durable cursor is `cursor`:
    /// its engine is rebuilt, without deriving, to the store's position (the newest snapshot at
    /// or below it and the journal; the journal's earliest start for an empty store).
    pub fn open(
        data_dir: &Path,
        mut store: S,
        cursor: DurableCursor,
        options: ExportOptions,
    ) -> Result<Exporter<S>, StoreError> {
        let position = store.position()?;
        let reader = JournalReader::open(&journal_dir(data_dir))
            .map_err(|e| StoreError::new(format!("{}: {e}", data_dir.display())))?;
        let snapshots = snapshot_store_if_any(data_dir).map_err(node)?;
        let mut notes = Vec::new();
        let mut replayer = if position == 0 {
            Replayer::earliest(snapshots.as_ref(), &reader, &mut notes)
        } else {
            Replayer::at_or_before(snapshots.as_ref(), &reader, position, &mut notes)
        }
        .map_err(node)?;
        let target = position.max(replayer.last_seq());
        replayer
            .run_to(&reader, target, |_| Ok::<(), sluice_node::Error>(()))
            .map_err(node)?;
        replayer.engine.record_transfers(true);
        replayer.engine.record_payouts(true);
        replayer.engine.record_dispute_events(true);
        replayer.engine.record_finance_events(true);
        let derive = DeriveState::new(&replayer.engine);
        let name = format!("export-{}", store.name());
        let follower = Follower::with_replayer(data_dir, &name, cursor, replayer).map_err(node)?;
        Ok(Exporter {
            store,
            follower,
            derive,
            pending: Rows::default(),
            pending_since: Instant::now(),
            options,
            stats: ExportStats {
                position,
                ..ExportStats::default()
            },
        })
    }

    /// Applies up to `max` durable records, deriving their rows, and commits when a batch is
    /// full or old enough. Returns how many records were applied.
    pub fn step(&mut self, max: usize) -> Result<usize, StoreError> {
        let (derive_state, pending) = (&mut self.derive, &mut self.pending);
        let applied = self
            .follower
            .poll(max, |applied| {
                derive(&applied, derive_state, pending);
                Ok(())
            })
            .map_err(node)?;
        self.stats.records += applied as u64;
        let full = self.pending.len() >= self.options.batch_rows;
        let old = self.pending_since.elapsed() >= self.options.batch_interval;
        if full || (old && self.follower.applied_seq() > self.stats.position) {
            self.commit()?;
        }
        Ok(applied)
    }

    /// Commits the rows waiting (with the position of the last applied record), then saves the
    /// follower's position.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        let through = self.follower.applied_seq();
        if through > self.stats.position {
            self.store.commit(&self.pending, through)?;
            self.stats.rows += self.pending.len() as u64;
            self.stats.payments += self.pending.payment_results.len() as u64;
            self.stats.commits += 1;
            self.stats.position = through;
            self.follower.save_position().map_err(node)?;
        }
        self.pending = Rows::default();
        self.pending_since = Instant::now();
        Ok(())
    }

    /// Exports every durable record up to `end` and commits.
    pub fn run_to(&mut self, end: u64) -> Result<(), StoreError> {
        while self.follower.applied_seq() < end {
            if self.step(1024)? == 0 {
                return Err(StoreError::new(format!(
                    "the exporter stopped at {} before the durable end {end}",
                    self.follower.applied_seq()
                )));
            }
        }
        self.commit()
    }

    pub fn stats(&self) -> ExportStats {
        self.stats
    }

    /// The last sequence applied (committed or waiting).
    pub fn applied_seq(&self) -> u64 {
        self.follower.applied_seq()
    }

    /// The follower's progress (applied, durable, saved; its lag), for the metrics.
    pub fn progress(&self) -> std::sync::Arc<Progress> {
        self.follower.progress()
    }

    pub fn store(&mut self) -> &mut S {
        &mut self.store
    }
}

/// The end of a journal written by another process: the last complete record, which a crash of
/// that process keeps (the page cache; with `fsync` durability a power loss may still cut what a
/// running writer has not synced yet). Advances a read position as the journal grows.
pub struct JournalEnd {
    reader: JournalReader,
    position: Option<ReadPosition>,
    last: u64,
}

impl JournalEnd {
    pub fn open(data_dir: &Path) -> Result<JournalEnd, StoreError> {
        let reader = JournalReader::open(&journal_dir(data_dir))
            .map_err(|e| StoreError::new(format!("{}: {e}", data_dir.display())))?;
        Ok(JournalEnd {
            reader,
            position: None,
            last: 0,
        })
    }

    /// The last complete record's sequence now.
    pub fn poll(&mut self) -> Result<u64, StoreError> {
        let err = |e: sluice_journal::JournalError| StoreError::new(format!("journal: {e}"));
        self.reader.refresh().map_err(err)?;
        let mut records = match self.position {
            Some(p) => self.reader.records_at(p),
            None => self.reader.iter_from(self.reader.first_seq().unwrap_or(1)),
        };
        for record in records.by_ref() {
            self.last = record.map_err(err)?.seq;
        }
        self.position = Some(records.position());
        Ok(self.last)
    }
}
