//! Failed storage calls, one kind at a time (`FaultyStorage`): the writer reports the error
//! naming the file; a failed flush or roll fails the writer, and `commit` never acknowledges a
//! record whose flush failed; reopening with the OS storage recovers every acknowledged record,
//! byte for byte. The last test fails every call of every kind in turn in one scenario that
//! also writes and prunes snapshots (`snapshot_faults.rs` has the snapshot store's own cases).

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use sluice_journal::{
    Durability, ExpectedStart, FaultKind, FaultyStorage, JournalConfig, JournalError,
    JournalWriter, SnapshotStore, segment_file_name, snapshots_dir,
};

fn fsync_config(segment_size_bytes: u64) -> JournalConfig {
    JournalConfig {
        segment_size_bytes,
        durability: Durability::Fsync,
    }
}

fn open_faulty(
    dir: &Path,
    config: JournalConfig,
    storage: &Arc<FaultyStorage>,
) -> Result<JournalWriter, JournalError> {
    JournalWriter::open_with_storage(dir, config, ExpectedStart::FRESH, storage.clone())
        .map(|(writer, _)| writer)
}

fn open_error(dir: &Path, config: JournalConfig, storage: &Arc<FaultyStorage>) -> JournalError {
    match open_faulty(dir, config, storage) {
        Ok(_) => panic!("open succeeded despite the fault"),
        Err(error) => error,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_str().unwrap().to_string()
}

fn assert_writer_failed(writer: &mut JournalWriter) {
    let next = writer.next_seq();
    let refused = writer.append(next, 1, 1, b"after the failure");
    assert!(matches!(refused, Err(JournalError::WriterFailed { .. })));
    assert!(matches!(
        writer.commit(),
        Err(JournalError::WriterFailed { .. })
    ));
}

/// Reopens `dir` with the OS storage and checks that it holds a prefix of `appended` that covers
/// every acknowledged record, byte for byte.
fn assert_recovers(dir: &Path, config: JournalConfig, appended: &[Expected], acknowledged: u64) {
    let (writer, report) = JournalWriter::open(dir, config).unwrap();
    drop(writer);
    let recovered = if report.records == 0 {
        Vec::new()
    } else {
        read_from(dir, 1)
    };
    assert!(
        recovered.len() as u64 >= acknowledged,
        "{} records recovered, {acknowledged} acknowledged",
        recovered.len()
    );
    assert_eq!(recovered, appended[..recovered.len()]);
}

/// Appends `seqs`, committing after each; returns the records.
fn append_each_committed(
    writer: &mut JournalWriter,
    seqs: std::ops::RangeInclusive<u64>,
    len_bytes: usize,
) -> Vec<Expected> {
    append_committed(writer, seqs, |_| len_bytes)
}

#[test]
fn a_failed_commit_flush_fails_the_writer_and_acknowledges_nothing_more() {
    let temp = TempDir::new("fault-flush");
    let dir = temp.join("journal");
    let config = fsync_config(4096);
    let storage = Arc::new(FaultyStorage::new());
    let mut writer = open_faulty(&dir, config, &storage).unwrap();
    let mut appended = append_each_committed(&mut writer, 1..=5, 20);
    let sixth = record(6, 20);
    append(&mut writer, &sixth);
    appended.push(sixth);
    storage.fail_next(FaultKind::Flush);
    let error = writer.commit().unwrap_err();
    assert_eq!(io_path(&error), segment_paths(&dir)[0]);
    assert_eq!(writer.last_committed_seq(), 5);
    assert_writer_failed(&mut writer);
    assert_eq!(storage.injected(FaultKind::Flush), 1);
    drop(writer);
    assert_recovers(&dir, config, &appended, 5);
}

#[test]
fn a_failed_flush_before_a_roll_fails_the_append() {
    let temp = TempDir::new("fault-flush-roll");
    let dir = temp.join("journal");
    let config = fsync_config(512);
    let storage = Arc::new(FaultyStorage::new());
    let mut writer = open_faulty(&dir, config, &storage).unwrap();
    let mut appended = append_each_committed(&mut writer, 1..=1, 100);
    let pending = record(2, 100);
    append(&mut writer, &pending);
    appended.push(pending);
    // Seq 3 does not fit: the roll msyncs seq 2 first, and that fails.
    storage.fail_next(FaultKind::Flush);
    let big = record(3, 300);
    let error = writer
        .append(3, big.timestamp_ns, big.kind, &big.payload)
        .unwrap_err();
    assert_eq!(io_path(&error), segment_paths(&dir)[0]);
    assert_eq!((writer.next_seq(), writer.last_committed_seq()), (3, 1));
    assert_eq!(writer.roll_stats().rolls, 0);
    assert_writer_failed(&mut writer);
    drop(writer);
    assert_recovers(&dir, config, &appended, 1);
}

#[test]
fn a_failed_flush_of_a_new_segment_header_fails_the_roll() {
    let temp = TempDir::new("fault-flush-header");
    let dir = temp.join("journal");
    let config = fsync_config(512);
    let storage = Arc::new(FaultyStorage::new());
    let mut writer = open_faulty(&dir, config, &storage).unwrap();
    let appended = append_each_committed(&mut writer, 1..=1, 300);
    // Everything is committed, so the roll's only msync is the new header's.
    storage.fail_next(FaultKind::Flush);
    let big = record(2, 300);
    let error = writer
        .append(2, big.timestamp_ns, big.kind, &big.payload)
        .unwrap_err();
    assert!(
        file_name(&io_path(&error)).ends_with(".seg.prep"),
        "{error}"
    );
    assert_writer_failed(&mut writer);
    drop(writer);
    assert_eq!(
        segment_paths(&dir).len(),
        1,
        "the failed segment was never named"
    );
    assert_recovers(&dir, config, &appended, 1);
}

#[test]
fn a_failed_segment_preparation_at_open_names_the_file() {
    let temp = TempDir::new("fault-prepare-open");
    let dir = temp.join("journal");
    let storage = Arc::new(FaultyStorage::new());
    storage.fail_nth(FaultKind::PrepareSegment, 1);
    let error = open_error(&dir, fsync_config(4096), &storage);
    assert!(
        file_name(&io_path(&error)).ends_with(".seg.prep"),
        "{error}"
    );
    assert!(segment_paths(&dir).is_empty());
    assert_recovers(&dir, fsync_config(4096), &[], 0);
}

#[test]
fn a_failed_segment_preparation_at_a_roll_is_an_error_and_loses_nothing() {
    for durability in [Durability::None, Durability::Fsync] {
        let temp = TempDir::new("fault-prepare-roll");
        let dir = temp.join("journal");
        let config = JournalConfig {
            segment_size_bytes: 512,
            durability,
        };
        let storage = Arc::new(FaultyStorage::new());
        // Call 1 prepares the first segment at open; the helper's call and the writer's own
        // retry at the roll both fail, as on a full disk.
        storage.fail_from_nth(FaultKind::PrepareSegment, 2);
        let mut writer = open_faulty(&dir, config, &storage).unwrap();
        let appended = append_each_committed(&mut writer, 1..=2, 150);
        let third = record(3, 150);
        let error = writer
            .append(3, third.timestamp_ns, third.kind, &third.payload)
            .unwrap_err();
        assert!(
            file_name(&io_path(&error)).ends_with(".seg.prep"),
            "{error}"
        );
        assert_eq!((writer.next_seq(), writer.last_committed_seq()), (3, 2));
        assert!(storage.injected(FaultKind::PrepareSegment) >= 1);
        assert_writer_failed(&mut writer);
        drop(writer);
        assert_recovers(&dir, config, &appended, 2);
    }
}

#[test]
fn a_failed_background_preparation_is_retried_at_the_roll() {
    let temp = TempDir::new("fault-prepare-background");
    let dir = temp.join("journal");
    let config = fsync_config(512);
    let storage = Arc::new(FaultyStorage::new());
    storage.fail_nth(FaultKind::PrepareSegment, 2);
    let mut writer = open_faulty(&dir, config, &storage).unwrap();
    // Wait (bounded) until the helper has made its (failing) call 2.
    let deadline = Instant::now() + Duration::from_secs(10);
    while storage.calls(FaultKind::PrepareSegment) < 2 {
        assert!(Instant::now() < deadline, "the helper never prepared");
        thread::sleep(Duration::from_millis(1));
    }
    let appended = append_each_committed(&mut writer, 1..=6, 150);
    let stats = writer.roll_stats();
    assert!(stats.rolls >= 2, "{stats:?}");
    assert!(stats.prepared_synchronously >= 1, "{stats:?}");
    assert_eq!(storage.injected(FaultKind::PrepareSegment), 1);
    drop(writer);
    assert_recovers(&dir, config, &appended, 6);
}

#[test]
fn a_failed_rename_at_a_roll_fails_the_writer() {
    let temp = TempDir::new("fault-rename-roll");
    let dir = temp.join("journal");
    let config = fsync_config(512);
    let storage = Arc::new(FaultyStorage::new());
    let mut writer = open_faulty(&dir, config, &storage).unwrap();
    let appended = append_each_committed(&mut writer, 1..=2, 150);
    storage.fail_next(FaultKind::Rename);
    let third = record(3, 150);
    let error = writer
        .append(3, third.timestamp_ns, third.kind, &third.payload)
        .unwrap_err();
    assert_eq!(file_name(&io_path(&error)), segment_file_name(3));
    assert_writer_failed(&mut writer);
    drop(writer);
    assert_recovers(&dir, config, &appended, 2);
}

#[test]
fn a_failed_directory_sync_at_a_roll_fails_the_writer() {
    let temp = TempDir::new("fault-sync-dir-roll");
    let dir = temp.join("journal");
    let config = fsync_config(512);
    let storage = Arc::new(FaultyStorage::new());
    let mut writer = open_faulty(&dir, config, &storage).unwrap();
    let appended = append_each_committed(&mut writer, 1..=2, 150);
    storage.fail_next(FaultKind::SyncDir);
    let third = record(3, 150);
    let error = writer
        .append(3, third.timestamp_ns, third.kind, &third.payload)
        .unwrap_err();
    assert_eq!(io_path(&error), dir);
    assert_writer_failed(&mut writer);
    drop(writer);
    // The renamed, empty segment stays and continues the journal.
    assert_eq!(segment_paths(&dir).len(), 2);
    assert_recovers(&dir, config, &appended, 2);
}

/// A journal of `records` committed records, written with the OS storage.
fn journal_with(dir: &Path, config: JournalConfig, records: u64) -> Vec<Expected> {
    let (mut writer, _) = JournalWriter::open(dir, config).unwrap();
    append_each_committed(&mut writer, 1..=records, 150)
}

#[test]
fn failed_calls_at_recovery_name_the_segment() {
    let kinds = [
        FaultKind::MapReadOnly,
        FaultKind::OpenSegment,
        FaultKind::Flush,
        FaultKind::SyncFile,
    ];
    for kind in kinds {
        let temp = TempDir::new("fault-recovery");
        let dir = temp.join("journal");
        let config = fsync_config(512);
        let appended = journal_with(&dir, config, 5);
        let newest = segment_paths(&dir).pop().unwrap();
        let storage = Arc::new(FaultyStorage::new());
        storage.fail_from_nth(kind, 1);
        let error = open_error(&dir, config, &storage);
        let expected = if kind == FaultKind::MapReadOnly {
            segment_paths(&dir)[0].clone()
        } else {
            newest
        };
        assert_eq!(io_path(&error), expected, "{kind:?}");
        assert_eq!(storage.injected(kind), 1, "{kind:?}");
        assert_recovers(&dir, config, &appended, 5);
    }
}

#[test]
fn a_failed_directory_sync_at_recovery_names_the_directory() {
    let temp = TempDir::new("fault-sync-dir-recovery");
    let dir = temp.join("journal");
    let config = fsync_config(512);
    let appended = journal_with(&dir, config, 5);
    let storage = Arc::new(FaultyStorage::new());
    storage.fail_nth(FaultKind::SyncDir, 1);
    let error = open_error(&dir, config, &storage);
    assert_eq!(io_path(&error), dir);
    assert_recovers(&dir, config, &appended, 5);
}

#[test]
fn a_failed_directory_creation_names_the_directory() {
    let temp = TempDir::new("fault-create-dir");
    let storage = Arc::new(FaultyStorage::new());
    storage.fail_from_nth(FaultKind::CreateDir, 1);
    let dir = temp.join("journal");
    let error = open_error(&dir, fsync_config(4096), &storage);
    assert_eq!(io_path(&error), dir);
    let snapshots = snapshots_dir(temp.path());
    let error = SnapshotStore::with_storage(&snapshots, storage.clone()).unwrap_err();
    assert_eq!(io_path(&error), snapshots);
    assert!(!dir.exists() && !snapshots.exists());
    // Creating the directory durably syncs its parent; that can fail too.
    storage.heal(FaultKind::CreateDir);
    storage.fail_next(FaultKind::SyncDir);
    let error = open_error(&dir, fsync_config(4096), &storage);
    assert_eq!(io_path(&error), temp.path());
}

#[test]
fn a_failed_removal_of_a_leftover_at_open_names_it() {
    let temp = TempDir::new("fault-remove-leftover");
    let dir = temp.join("journal");
    let config = fsync_config(512);
    let appended = journal_with(&dir, config, 3);
    let leftover = dir.join("prepared-000007.seg.prep");
    fs::write(&leftover, [1u8; 100]).unwrap();
    let storage = Arc::new(FaultyStorage::new());
    storage.fail_nth(FaultKind::RemoveFile, 1);
    let error = open_error(&dir, config, &storage);
    assert_eq!(io_path(&error), leftover);
    assert!(leftover.exists());
    assert_recovers(&dir, config, &appended, 3);
    assert!(!leftover.exists());
}

// ---------------------------------------------------------------------------------------------
// Every call of every kind, one at a time, in one scenario.

fn state_hash(seq: u64) -> [u8; 16] {
    let mut hash = [0u8; 16];
    hash[..8].copy_from_slice(&seq.to_le_bytes());
    hash
}

/// What a scenario run had acknowledged when it stopped.
#[derive(Default)]
struct Acknowledged {
    appended: Vec<Expected>,
    committed_seq: u64,
    snapshots: Vec<u64>,
    /// Snapshots that a prune (successful or not) may have deleted.
    pruned: Vec<u64>,
}

const SCENARIO_SNAPSHOTS: [u64; 3] = [4, 8, 12];

fn snapshot_payload(seq: u64) -> Vec<u8> {
    payload(seq, 200 + seq as usize)
}

/// Opens a journal, appends 12 records across several rolls (committing every second one),
/// restarts in the middle, then writes three snapshots and prunes to two, all through
/// `storage`. Stops at the first error, after checking it names a file under `root` and, for
/// the writer, that it refuses all later work.
fn run_scenario(root: &Path, config: JournalConfig, storage: &Arc<FaultyStorage>) -> Acknowledged {
    let mut acknowledged = Acknowledged::default();
    let stopped = journal_steps(root, config, storage, &mut acknowledged)
        .and_then(|()| snapshot_steps(root, storage, &mut acknowledged));
    if let Err(error) = stopped {
        assert!(io_path(&error).starts_with(root), "{error}");
    }
    acknowledged
}

fn journal_steps(
    root: &Path,
    config: JournalConfig,
    storage: &Arc<FaultyStorage>,
    acknowledged: &mut Acknowledged,
) -> Result<(), JournalError> {
    let dir = root.join("journal");
    for seqs in [1..=6, 7..=12] {
        let mut writer = open_faulty(&dir, config, storage)?;
        for seq in seqs {
            let expected = record(seq, 40 + (seq as usize * 17) % 100);
            let appended =
                writer.append(seq, expected.timestamp_ns, expected.kind, &expected.payload);
            if appended.is_ok() {
                acknowledged.appended.push(expected);
            }
            let committed = appended.and_then(|()| match seq % 2 {
                0 => writer.commit().map(|committed_seq| {
                    assert_eq!(committed_seq, seq);
                    acknowledged.committed_seq = committed_seq;
                }),
                _ => Ok(()),
            });
            if committed.is_err() {
                assert_eq!(writer.last_committed_seq(), acknowledged.committed_seq);
                assert_writer_failed(&mut writer);
                return committed;
            }
        }
    }
    Ok(())
}

fn snapshot_steps(
    root: &Path,
    storage: &Arc<FaultyStorage>,
    acknowledged: &mut Acknowledged,
) -> Result<(), JournalError> {
    let store = SnapshotStore::with_storage(&snapshots_dir(root), storage.clone())?;
    for seq in SCENARIO_SNAPSHOTS {
        store.write(seq, state_hash(seq), &snapshot_payload(seq))?;
        acknowledged.snapshots.push(seq);
    }
    // Prune may delete the oldest even when it then fails (syncing the directory).
    acknowledged.pruned = acknowledged.snapshots[..1].to_vec();
    let deleted = store.prune(2)?;
    assert_eq!(
        deleted,
        [snapshots_dir(root).join("00000000000000000004.snap")]
    );
    Ok(())
}

/// After a run: the journal recovers every acknowledged record, every acknowledged snapshot
/// that was not pruned loads byte for byte, and no other snapshot loads.
fn check_after_fault(root: &Path, config: JournalConfig, acknowledged: &Acknowledged) {
    let dir = root.join("journal");
    if dir.exists() {
        assert_recovers(
            &dir,
            config,
            &acknowledged.appended,
            acknowledged.committed_seq,
        );
    } else {
        assert!(acknowledged.appended.is_empty());
    }
    let Ok(store) = SnapshotStore::new(&snapshots_dir(root)) else {
        panic!("the snapshot directory cannot be opened");
    };
    for seq in SCENARIO_SNAPSHOTS {
        match store.load(seq) {
            Ok(loaded) => {
                assert!(
                    acknowledged.snapshots.contains(&seq),
                    "unacknowledged {seq}"
                );
                assert_eq!(loaded.payload.as_slice(), snapshot_payload(seq).as_slice());
            }
            Err(error) => assert!(
                !acknowledged.snapshots.contains(&seq) || acknowledged.pruned.contains(&seq),
                "acknowledged snapshot {seq} lost: {error}"
            ),
        }
    }
}

#[test]
fn every_failing_call_of_every_kind_keeps_what_was_acknowledged() {
    let config = fsync_config(512);
    let clean_root = TempDir::new("fault-sweep-clean");
    let clean = Arc::new(FaultyStorage::new());
    let acknowledged = run_scenario(clean_root.path(), config, &clean);
    assert_eq!(acknowledged.committed_seq, 12);
    assert_eq!(acknowledged.pruned, [4]);
    for kind in FaultKind::ALL {
        let clean_calls = clean.calls(kind);
        assert!(clean_calls > 0, "the scenario never calls {kind:?}");
        let mut injected_runs = 0;
        // A few more calls than the clean run made: the helper thread's timing can add some.
        for n in 1..=clean_calls + 2 {
            let root = TempDir::new("fault-sweep");
            let storage = Arc::new(FaultyStorage::new());
            storage.fail_nth(kind, n);
            let acknowledged = run_scenario(root.path(), config, &storage);
            assert!(storage.injected(kind) <= 1);
            injected_runs += storage.injected(kind);
            check_after_fault(root.path(), config, &acknowledged);
        }
        // Segment preparation runs partly on the writer's helper thread, and the files it
        // leaves are removed at drop: how many such calls a run makes depends on its timing.
        let timing_dependent = matches!(kind, FaultKind::PrepareSegment | FaultKind::RemoveFile);
        if timing_dependent {
            assert!(injected_runs >= 1, "{kind:?}: no run hit the fault");
        } else {
            assert_eq!(
                injected_runs, clean_calls,
                "{kind:?}: every call failed once"
            );
        }
    }
}
