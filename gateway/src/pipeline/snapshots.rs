//! Snapshots: the snapshot follower serializes its own engine (`snapshot_follower`; the ring
//! never waits for it) and a writer thread writes each payload once the journal is durable
//! through its sequence, keeps the newest few, and may prune the journal segments they cover.

use sluice_engine::{Engine, StateHash};
use sluice_journal::SnapshotStore;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

use super::{PipelineSettings, Shared};
use crate::config::CoveredSegments;
use crate::metrics::Metrics;

/// A serialized engine, waiting to be written.
#[derive(Clone)]
pub(super) struct SnapshotJob {
    seq: u64,
    hash: StateHash,
    /// Shared: the snapshot taken at start is also the snapshot follower's engine.
    payload: Arc<sluice_journal::AlignedVec>,
}

impl SnapshotJob {
    pub(super) fn seq(&self) -> u64 {
        self.seq
    }

    /// The engine the snapshot holds (checked against its state hash).
    pub(super) fn restore(&self) -> Result<Engine, String> {
        Engine::from_snapshot(&self.payload, self.hash).map_err(|e| e.to_string())
    }
}

/// Who serialized a snapshot, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SnapshotTaker {
    /// The snapshot follower, off the live path.
    Follower,
    /// Start-up, after a recovery that replayed inputs, before the ring runs.
    Start,
}

/// Serializes `engine` for the writer. `lag_inputs`: how far the snapshot follower was behind
/// the durable cursor then, for the log.
pub(super) fn serialize_snapshot(
    engine: &Engine,
    lag_inputs: u64,
    metrics: Option<&Metrics>,
    taker: SnapshotTaker,
) -> SnapshotJob {
    let started = Instant::now();
    let (hash, payload) = engine.snapshot();
    let seq = engine.last_seq();
    if let Some(m) = metrics {
        m.snapshot_serialize
            .observe(started.elapsed().as_nanos() as u64);
        m.snapshot_bytes
            .store(payload.len() as u64, Ordering::Relaxed);
    }
    let (bytes, took) = (payload.len(), started.elapsed());
    let (serialize_us, millis) = (took.as_micros() as u64, took.as_secs_f64() * 1e3);
    let orders = engine.summary().orders;
    let by = match taker {
        SnapshotTaker::Follower => "by the snapshot follower",
        SnapshotTaker::Start => "at start, before the ring runs,",
    };
    info!(
        seq,
        bytes,
        serialize_us,
        orders,
        lag_inputs,
        state_hash = %hash,
        "snapshot at sequence {seq}: {bytes} bytes ({orders} orders) serialized {by} in \
         {millis:.1} ms, {lag_inputs} inputs behind the durable cursor (the ring did not wait), \
         state hash {hash}"
    );
    let payload = Arc::new(payload);
    SnapshotJob { seq, hash, payload }
}

pub(super) fn run_snapshot_writer(
    rx: crossbeam::channel::Receiver<SnapshotJob>,
    shared: &Shared,
    settings: &PipelineSettings,
) {
    // Copying hundreds of MB into the page cache is CPU work: on shared cores it must take only
    // idle cycles, like the follower's serialization (on 2 cores, at normal priority a write of
    // a million orders' snapshot put ack p99 in tens of ms).
    if let Err(e) = sluice_node::follower::background_priority() {
        warn!("snapshot writer: could not enter the idle scheduling class: {e}");
    }
    let dir = sluice_journal::snapshots_dir(&settings.data_dir);
    let store = match SnapshotStore::with_storage(&dir, settings.storage.clone()) {
        Ok(s) => s,
        Err(e) => return shared.fail(None, format!("snapshot directory: {e}")),
    };
    for job in rx {
        // Never let a snapshot get ahead of the journal.
        while shared.durable.get() < job.seq && !shared.failed.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if shared.failed.load(Ordering::Acquire) {
            return;
        }
        let started = Instant::now();
        let written = store.write(job.seq, job.hash.0, &job.payload);
        if let Some(m) = settings.metrics.as_deref() {
            match &written {
                Ok(_) => m
                    .snapshot_write
                    .observe(started.elapsed().as_nanos() as u64),
                Err(_) => {
                    m.snapshot_write_failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let seq = job.seq;
        match written {
            Ok(path) => {
                let path = path.display();
                info!(seq, %path, "snapshot written: {path}");
            }
            Err(e) => error!(seq, "snapshot at {seq} not written: {e}"),
        }
        if let Err(e) = store.prune(settings.snapshots_keep) {
            warn!("snapshot pruning: {e}");
        }
        apply_covered_segments_policy(&store, settings);
    }
}

/// Applies `[journal] covered_segments` to the segments that every kept snapshot covers: those
/// wholly at or below the oldest snapshot file kept (valid or not: a segment is let go only
/// when no snapshot still kept could need it).
fn apply_covered_segments_policy(store: &SnapshotStore, settings: &PipelineSettings) {
    if settings.covered_segments == CoveredSegments::Keep {
        return;
    }
    let oldest = store
        .list()
        .ok()
        .and_then(|list| list.iter().map(|s| s.seq).min());
    let Some(covered) = oldest else { return };
    let journal_dir = sluice_journal::journal_dir(&settings.data_dir);
    if settings.covered_segments == CoveredSegments::Delete {
        return prune_covered_segments(&journal_dir, covered);
    }
    let archive_dir = &settings.archive_dir;
    match sluice_journal::archive_segments(&journal_dir, archive_dir, covered) {
        Ok(archived) if !archived.is_empty() => {
            let segments = archived.len();
            let bytes: u64 = archived.iter().map(|a| a.segment_bytes).sum();
            let archive_bytes: u64 = archived.iter().map(|a| a.archive_bytes).sum();
            let dir = archive_dir.display();
            info!(
                seq = covered,
                segments,
                bytes,
                archive_bytes,
                "{segments} journal segment(s) covered by snapshot {covered} archived into {dir} \
                 ({bytes} bytes as {archive_bytes})"
            )
        }
        Ok(_) => {}
        Err(e) => warn!(seq = covered, "journal archiving: {e}"),
    }
}

/// Deletes the journal segments wholly covered by snapshot `covered`.
fn prune_covered_segments(journal_dir: &Path, covered: u64) {
    match sluice_journal::prune_segments(journal_dir, covered) {
        Ok(deleted) if !deleted.is_empty() => {
            let segments = deleted.len();
            info!(
                seq = covered,
                segments, "{segments} journal segment(s) covered by snapshot {covered} deleted"
            )
        }
        Ok(_) => {}
        Err(e) => warn!(seq = covered, "journal pruning: {e}"),
    }
}
