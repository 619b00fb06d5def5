//! Snapshot store: atomic writes, verified loads, skipping damaged snapshots, pruning.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use sluice_journal::{JournalError, SnapshotStore};

fn hash(seq: u64) -> [u8; 16] {
    let mut hash = [0u8; 16];
    hash[..8].copy_from_slice(&seq.to_le_bytes());
    hash[8..].copy_from_slice(&(!seq).to_le_bytes());
    hash
}

/// A store holding snapshots at 10, 20 and 30 (payload lengths 0, 1000, 5000).
fn store_with_three(temp: &TempDir) -> (SnapshotStore, Vec<PathBuf>) {
    let store = SnapshotStore::new(&temp.join("snapshots")).unwrap();
    let paths = [(10, 0), (20, 1000), (30, 5000)]
        .into_iter()
        .map(|(seq, len)| store.write(seq, hash(seq), &payload(seq, len)).unwrap())
        .collect();
    (store, paths)
}

#[test]
fn write_list_load_round_trip() {
    let temp = TempDir::new("snapshot-round-trip");
    let (store, paths) = store_with_three(&temp);
    assert_eq!(paths[1].file_name().unwrap(), "00000000000000000020.snap");
    let listed = store.list().unwrap();
    assert_eq!(
        listed.iter().map(|info| info.seq).collect::<Vec<_>>(),
        [10, 20, 30]
    );
    let header = listed[2].header.as_ref().unwrap();
    assert_eq!(
        (header.seq, header.state_hash, header.payload_len_bytes),
        (30, hash(30), 5000)
    );
    assert_eq!(listed[2].file_len_bytes, 64 + 5000);
    for (seq, len) in [(10, 0), (20, 1000), (30, 5000)] {
        let loaded = store.load(seq).unwrap();
        assert_eq!((loaded.seq, loaded.state_hash), (seq, hash(seq)));
        assert_eq!(loaded.payload.as_slice(), payload(seq, len).as_slice());
        assert_eq!(
            loaded.payload.as_ptr() as usize % 16,
            0,
            "rkyv needs 16-byte alignment"
        );
    }
    let missing = store.load(40).unwrap_err();
    assert!(matches!(missing, JournalError::Io { .. }), "{missing}");
    // Writing the same seq again replaces it atomically.
    store.write(20, hash(21), b"again").unwrap();
    assert_eq!(store.load(20).unwrap().payload.as_slice(), b"again");
    let names: Vec<_> = fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "no temporary files remain: {names:?}");
}

#[test]
fn an_rkyv_payload_is_accessible_in_place_after_load() {
    let temp = TempDir::new("snapshot-rkyv");
    let store = SnapshotStore::new(&temp.join("snapshots")).unwrap();
    let state: Vec<u64> = (0..1000).map(|value| value * value).collect();
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&state).unwrap();
    store.write(7, hash(7), &bytes).unwrap();
    let loaded = store.load(7).unwrap();
    let archived =
        rkyv::access::<rkyv::Archived<Vec<u64>>, rkyv::rancor::Error>(&loaded.payload).unwrap();
    assert_eq!(archived.len(), 1000);
    assert_eq!(archived[999].to_native(), 999 * 999);
    let restored: Vec<u64> = rkyv::deserialize::<_, rkyv::rancor::Error>(archived).unwrap();
    assert_eq!(restored, state);
}

/// Damages the snapshot at 30 in some way; `load_latest_valid` must fall back to 20 and report
/// 30 as skipped.
fn check_falls_back(name: &str, damage: impl Fn(&PathBuf), what: &str) {
    let temp = TempDir::new(name);
    let (store, paths) = store_with_three(&temp);
    damage(&paths[2]);
    let error = store.load(30).unwrap_err();
    assert!(
        matches!(&error, JournalError::SnapshotCorrupt { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(what), "{error}");
    let (loaded, skipped) = store.load_latest_valid(u64::MAX).unwrap();
    let loaded = loaded.unwrap();
    assert_eq!(loaded.seq, 20);
    assert_eq!(loaded.payload.as_slice(), payload(20, 1000).as_slice());
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, paths[2]);
    assert!(skipped[0].1.to_string().contains(what), "{}", skipped[0].1);
}

#[test]
fn a_bad_payload_checksum_is_skipped() {
    check_falls_back(
        "snap-payload",
        |path| flip_bit(path, 64 + 2500, 3),
        "payload checksum",
    );
}

#[test]
fn a_bad_header_checksum_is_skipped() {
    check_falls_back(
        "snap-header",
        |path| flip_bit(path, 30, 0),
        "header checksum",
    );
}

#[test]
fn a_short_file_is_skipped() {
    check_falls_back(
        "snap-short",
        |path| truncate(path, 64 + 4999),
        "payload is 5000 bytes",
    );
    check_falls_back(
        "snap-tiny",
        |path| truncate(path, 20),
        "shorter than the header",
    );
}

#[test]
fn a_snapshot_renamed_to_another_seq_is_skipped() {
    check_falls_back(
        "snap-renamed",
        |path| {
            fs::remove_file(path).unwrap();
            fs::copy(path.with_file_name("00000000000000000020.snap"), path).unwrap();
        },
        "file name says 30",
    );
}

#[test]
fn load_latest_valid_respects_the_upper_bound_and_reports_every_skip() {
    let temp = TempDir::new("snap-bound");
    let (store, paths) = store_with_three(&temp);
    let (loaded, skipped) = store.load_latest_valid(25).unwrap();
    assert_eq!((loaded.unwrap().seq, skipped.len()), (20, 0));
    let (loaded, skipped) = store.load_latest_valid(30).unwrap();
    assert_eq!((loaded.unwrap().seq, skipped.len()), (30, 0));
    let (loaded, skipped) = store.load_latest_valid(5).unwrap();
    assert!(loaded.is_none() && skipped.is_empty());
    for path in &paths {
        flip_bit(path, 70.min(fs::metadata(path).unwrap().len() - 1), 1);
    }
    let (loaded, skipped) = store.load_latest_valid(u64::MAX).unwrap();
    assert!(loaded.is_none());
    let skipped_paths: Vec<_> = skipped.into_iter().map(|(path, _)| path).collect();
    assert_eq!(
        skipped_paths,
        [paths[2].clone(), paths[1].clone(), paths[0].clone()]
    );
}

#[test]
fn list_shows_damaged_headers_and_ignores_other_files() {
    let temp = TempDir::new("snap-list");
    let (store, paths) = store_with_three(&temp);
    flip_bit(&paths[0], 17, 4);
    fs::write(
        store.dir().join("00000000000000000040.snap.tmp"),
        b"interrupted",
    )
    .unwrap();
    fs::write(store.dir().join("notes.txt"), b"hello").unwrap();
    let listed = store.list().unwrap();
    assert_eq!(
        listed.iter().map(|info| info.seq).collect::<Vec<_>>(),
        [10, 20, 30]
    );
    assert!(listed[0].header.as_ref().unwrap_err().contains("checksum"));
    assert!(listed[1].header.is_ok());
}

#[test]
fn prune_keeps_the_newest_valid_snapshots() {
    let temp = TempDir::new("snap-prune");
    let store = SnapshotStore::new(&temp.join("snapshots")).unwrap();
    let paths: Vec<_> = (1..=5)
        .map(|seq| {
            store
                .write(seq * 10, hash(seq), &payload(seq, 100))
                .unwrap()
        })
        .collect();
    let leftover = store.dir().join("00000000000000000060.snap.tmp");
    fs::write(&leftover, b"interrupted").unwrap();
    assert!(matches!(
        store.prune(0),
        Err(JournalError::InvalidArgument { .. })
    ));

    // The newest is damaged: keep the two newest valid ones and everything newer.
    flip_bit(&paths[4], 64 + 50, 5);
    let deleted = store.prune(2).unwrap();
    assert_eq!(deleted, [leftover, paths[0].clone(), paths[1].clone()]);
    let left: Vec<_> = store.list().unwrap().iter().map(|info| info.seq).collect();
    assert_eq!(left, [30, 40, 50]);

    // Fewer valid snapshots than asked for: nothing is deleted.
    assert!(store.prune(3).unwrap().is_empty());
    assert_eq!(store.prune(1).unwrap(), [paths[2].clone()]);
    let left: Vec<_> = store.list().unwrap().iter().map(|info| info.seq).collect();
    assert_eq!(left, [40, 50]);
    assert_eq!(
        store.load_latest_valid(u64::MAX).unwrap().0.unwrap().seq,
        40
    );
}
