//! Failed storage calls in the snapshot store (`FaultyStorage`): the error names the file, no
//! half-written snapshot is ever loadable, a snapshot whose write failed is not loaded later,
//! and older snapshots stay intact.

mod common;

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use sluice_journal::{FaultKind, FaultyStorage, SnapshotStore, snapshots_dir};

fn state_hash(seq: u64) -> [u8; 16] {
    let mut hash = [0u8; 16];
    hash[..8].copy_from_slice(&seq.to_le_bytes());
    hash
}

/// A store with snapshots at 10 and 20, written through `storage`.
fn store_with_two(temp: &TempDir, storage: &Arc<FaultyStorage>) -> SnapshotStore {
    let store = SnapshotStore::with_storage(&snapshots_dir(temp.path()), storage.clone()).unwrap();
    for seq in [10, 20] {
        store
            .write(seq, state_hash(seq), &payload(seq, 3000))
            .unwrap();
    }
    store
}

/// Snapshots 10 and 20 load byte for byte (with the OS storage), they are the only `.snap`
/// files listed, and nothing loads at `failed_seq`.
fn assert_only_the_two_load(temp: &TempDir, failed_seq: u64) {
    let store = SnapshotStore::new(&snapshots_dir(temp.path())).unwrap();
    for seq in [10, 20] {
        let loaded = store.load(seq).unwrap();
        assert_eq!(loaded.state_hash, state_hash(seq));
        assert_eq!(loaded.payload.as_slice(), payload(seq, 3000).as_slice());
    }
    let listed: Vec<u64> = store.list().unwrap().iter().map(|info| info.seq).collect();
    assert_eq!(listed, [10, 20]);
    assert!(store.load(failed_seq).is_err());
    let (latest, skipped) = store.load_latest_valid(u64::MAX).unwrap();
    assert_eq!((latest.unwrap().seq, skipped.len()), (20, 0));
}

fn snapshot_file(temp: &TempDir, name: &str) -> PathBuf {
    snapshots_dir(temp.path()).join(name)
}

#[test]
fn a_failed_snapshot_write_leaves_no_snapshot_and_the_older_ones_intact() {
    let temp = TempDir::new("fault-snapshot-write");
    let storage = Arc::new(FaultyStorage::new());
    let store = store_with_two(&temp, &storage);
    storage.fail_next(FaultKind::WriteSynced);
    let error = store
        .write(30, state_hash(30), &payload(30, 3000))
        .unwrap_err();
    let temp_name = "00000000000000000030.snap.tmp";
    assert_eq!(io_path(&error), snapshot_file(&temp, temp_name));
    assert!(
        !snapshot_file(&temp, temp_name).exists(),
        "the torn file is removed"
    );
    assert_only_the_two_load(&temp, 30);
    // Rewriting an existing sequence that fails leaves the old snapshot there.
    storage.fail_next(FaultKind::WriteSynced);
    assert!(store.write(20, state_hash(21), b"replacement").is_err());
    assert_only_the_two_load(&temp, 30);
}

#[test]
fn a_torn_snapshot_temp_file_that_cannot_be_removed_is_never_loaded() {
    let temp = TempDir::new("fault-snapshot-torn");
    let storage = Arc::new(FaultyStorage::new());
    let store = store_with_two(&temp, &storage);
    storage.fail_next(FaultKind::WriteSynced);
    storage.fail_next(FaultKind::RemoveFile);
    assert!(store.write(30, state_hash(30), &payload(30, 3000)).is_err());
    let torn = snapshot_file(&temp, "00000000000000000030.snap.tmp");
    let torn_len = fs::metadata(&torn).unwrap().len();
    assert_eq!(torn_len, (64 + 3000) / 2, "half of the bytes were written");
    assert_only_the_two_load(&temp, 30);
    // Prune removes the leftover; a failed removal there names the file.
    storage.fail_next(FaultKind::RemoveFile);
    let error = store.prune(2).unwrap_err();
    assert_eq!(io_path(&error), torn);
    assert_eq!(store.prune(2).unwrap(), std::slice::from_ref(&torn));
    assert!(!torn.exists());
    assert_only_the_two_load(&temp, 30);
}

#[test]
fn a_failed_snapshot_rename_leaves_no_snapshot() {
    let temp = TempDir::new("fault-snapshot-rename");
    let storage = Arc::new(FaultyStorage::new());
    let store = store_with_two(&temp, &storage);
    storage.fail_next(FaultKind::Rename);
    let error = store
        .write(30, state_hash(30), &payload(30, 3000))
        .unwrap_err();
    assert_eq!(
        io_path(&error),
        snapshot_file(&temp, "00000000000000000030.snap")
    );
    assert!(!snapshot_file(&temp, "00000000000000000030.snap.tmp").exists());
    assert_only_the_two_load(&temp, 30);
}

#[test]
fn a_failed_snapshot_directory_sync_leaves_no_snapshot_to_load() {
    let temp = TempDir::new("fault-snapshot-sync-dir");
    let storage = Arc::new(FaultyStorage::new());
    let store = store_with_two(&temp, &storage);
    storage.fail_next(FaultKind::SyncDir);
    let error = store
        .write(30, state_hash(30), &payload(30, 3000))
        .unwrap_err();
    assert_eq!(io_path(&error), snapshots_dir(temp.path()));
    assert_only_the_two_load(&temp, 30);
}

#[test]
fn a_failed_snapshot_prune_keeps_every_snapshot_it_did_not_delete() {
    let temp = TempDir::new("fault-snapshot-prune");
    let storage = Arc::new(FaultyStorage::new());
    let store = store_with_two(&temp, &storage);
    store.write(5, state_hash(5), b"oldest").unwrap();
    storage.fail_next(FaultKind::RemoveFile);
    let error = store.prune(2).unwrap_err();
    assert_eq!(
        io_path(&error),
        snapshot_file(&temp, "00000000000000000005.snap")
    );
    assert_eq!(store.load(5).unwrap().payload.as_slice(), b"oldest");
    storage.fail_next(FaultKind::SyncDir);
    let error = store.prune(2).unwrap_err();
    assert_eq!(io_path(&error), snapshots_dir(temp.path()));
    assert_only_the_two_load(&temp, 5);
}
