//! Snapshots: the processor serializes its state (the ring waits for that only) and a writer thread
//! writes it once the journal is durable through its sequence, keeps the newest few, and may prune
//! the journal segments they cover.

use sluice_engine::{Engine, StateHash};
use sluice_journal::SnapshotStore;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

use super::{PipelineSettings, Shared};
use crate::config::CoveredSegments;
use crate::metrics::Metrics;

/// A snapshot taken by the processor, waiting to be written.
pub(super) struct SnapshotJob {
    seq: u64,
    hash: StateHash,
    payload: sluice_journal::AlignedVec,
}

pub(super) fn send_snapshot(
    engine: &Engine,
    tx: &crossbeam::channel::Sender<SnapshotJob>,
    metrics: Option<&Metrics>,
) {
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
    info!(
        seq,
        bytes,
        serialize_us,
        state_hash = %hash,
        "snapshot at sequence {seq}: {bytes} bytes serialized in {millis:.1} ms (the ring waited \
         this long), state hash {hash}"
    );
    let _ = tx.send(SnapshotJob { seq, hash, payload });
}

pub(super) fn run_snapshot_writer(
    rx: crossbeam::channel::Receiver<SnapshotJob>,
    shared: &Shared,
    settings: &PipelineSettings,
) {
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
