//! Archiving covered segments: compress, check, delete; read back through the archive; a crash
//! (an injected fault) at any storage call leaves every segment live or archived, never neither.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use sluice_journal::{
    ARCHIVE_TEMP_SUFFIX, ExpectedStart, FaultKind, FaultyStorage, JournalError, JournalReader,
    JournalWriter, archive_file_name, archive_segments, archive_segments_with_storage,
    list_archived_segments,
};

/// A journal of 40 records in ten 1 KiB segments; returns the records and each segment's
/// (first sequence, bytes).
fn journal(dir: &Path) -> (Vec<Expected>, BTreeMap<u64, Vec<u8>>) {
    let (mut writer, _) = JournalWriter::open(dir, config(1024)).unwrap();
    let records = append_committed(&mut writer, 1..=40, |_| 200);
    drop(writer);
    let segments = JournalReader::open(dir)
        .unwrap()
        .segments()
        .iter()
        .map(|info| (info.first_seq, fs::read(&info.path).unwrap()))
        .collect::<BTreeMap<_, _>>();
    assert_eq!(segments.len(), 10);
    (records, segments)
}

fn read_with_archive(dir: &Path, archive: &Path, from_seq: u64) -> Vec<Expected> {
    let reader = JournalReader::open_with_archive(dir, archive).unwrap();
    reader
        .iter_from(from_seq)
        .map(|record| Expected::of(&record.unwrap()))
        .collect()
}

fn decompressed(path: &Path) -> Vec<u8> {
    zstd::stream::decode_all(fs::File::open(path).unwrap()).unwrap()
}

#[test]
fn covered_segments_move_to_the_archive_and_read_back_in_order() {
    let temp = TempDir::new("archive");
    let (dir, archive) = (temp.join("journal"), temp.join("archive"));
    let (records, segments) = journal(&dir);
    let first_seqs: Vec<u64> = segments.keys().copied().collect();

    // A missing archive directory holds no segments.
    assert_eq!(read_with_archive(&dir, &archive, 1), records);
    // Nothing covered: nothing moves, and no archive directory appears.
    assert!(
        archive_segments(&dir, &archive, first_seqs[1] - 2)
            .unwrap()
            .is_empty()
    );
    assert!(!archive.exists());
    let archived = archive_segments(&dir, &archive, first_seqs[3] - 1).unwrap();
    assert_eq!(archived.len(), 3);
    for (done, first_seq) in archived.iter().zip(&first_seqs) {
        assert_eq!(done.first_seq, *first_seq);
        assert!(!done.segment.exists(), "the segment is deleted");
        assert_eq!(done.archive, archive.join(archive_file_name(*first_seq)));
        assert_eq!(decompressed(&done.archive), segments[first_seq]);
        assert_eq!(done.segment_bytes, 1024);
        assert!(done.archive_bytes < done.segment_bytes);
    }
    assert_eq!(segment_paths(&dir).len(), 7);

    // Without the archive the journal starts later; with it, at Genesis, in sequence order.
    assert!(matches!(
        JournalReader::open(&dir).unwrap().iter_from(1).next(),
        Some(Err(JournalError::SeqBeforeStart { .. }))
    ));
    assert_eq!(read_with_archive(&dir, &archive, 1), records);
    assert_eq!(read_with_archive(&dir, &archive, 7), records[6..]);
    let reader = JournalReader::open_with_archive(&dir, &archive).unwrap();
    assert_eq!(reader.first_seq(), Some(1));
    assert_eq!(reader.segments().len(), 10);
    assert_eq!(reader.segments()[0].path, archived[0].archive);

    // The writer reopens the live segments after the oldest snapshot kept.
    let start = ExpectedStart::after_snapshot(first_seqs[3] - 1);
    let (writer, report) = JournalWriter::open_with_start(&dir, config(1024), start).unwrap();
    assert_eq!(report.first_seq, Some(first_seqs[3]));
    drop(writer);

    // Everything covered: all but the newest segment, which is never archived.
    assert_eq!(archive_segments(&dir, &archive, u64::MAX).unwrap().len(), 6);
    assert_eq!(segment_paths(&dir).len(), 1);
    assert_eq!(list_archived_segments(&archive).unwrap().len(), 9);
    assert_eq!(read_with_archive(&dir, &archive, 1), records);
}

#[test]
fn a_segment_both_live_and_archived_is_read_once_and_a_missing_archive_is_named() {
    let temp = TempDir::new("archive-both");
    let (dir, archive) = (temp.join("journal"), temp.join("archive"));
    let (records, segments) = journal(&dir);
    let first_seqs: Vec<u64> = segments.keys().copied().collect();
    archive_segments(&dir, &archive, first_seqs[4] - 1).unwrap();
    // An operator copied segment 3 back: the live copy is read, once.
    fs::write(
        dir.join(format!("{:020}.seg", first_seqs[3])),
        &segments[&first_seqs[3]],
    )
    .unwrap();
    assert_eq!(read_with_archive(&dir, &archive, 1), records);

    // A lost archive file is a gap, named.
    fs::remove_file(archive.join(archive_file_name(first_seqs[1]))).unwrap();
    let reader = JournalReader::open_with_archive(&dir, &archive).unwrap();
    let error = reader.iter_from(1).find_map(Result::err).unwrap();
    match &error {
        JournalError::MissingSegment {
            segment,
            expected_seq,
            ..
        } => {
            assert_eq!(*expected_seq, first_seqs[1]);
            assert_eq!(segment, &archive.join(archive_file_name(first_seqs[2])));
        }
        other => panic!("{other}"),
    }

    // A damaged archive file is refused, naming it, before anything is read from it.
    let damaged = archive.join(archive_file_name(first_seqs[2]));
    fs::write(&damaged, b"not zstd").unwrap();
    let error = JournalReader::open_with_archive(&dir, &archive)
        .err()
        .unwrap();
    assert!(
        error.to_string().contains(&damaged.display().to_string()),
        "{error}"
    );
}

#[test]
fn an_archive_that_does_not_match_keeps_its_segment_and_a_good_one_is_reused() {
    let temp = TempDir::new("archive-mismatch");
    let (dir, archive) = (temp.join("journal"), temp.join("archive"));
    let (records, segments) = journal(&dir);
    let first = *segments.keys().next().unwrap();
    let second = *segments.keys().nth(1).unwrap();
    fs::create_dir_all(&archive).unwrap();
    // A stale archive under the final name (another journal's segment) is rewritten, not trusted.
    let stale = zstd::stream::encode_all(&segments[&second][..], 3).unwrap();
    fs::write(archive.join(archive_file_name(first)), stale).unwrap();
    // A leftover temporary file is removed.
    let leftover = archive.join(format!("{first:020}{ARCHIVE_TEMP_SUFFIX}"));
    fs::write(&leftover, b"half").unwrap();
    let archived = archive_segments(&dir, &archive, second - 1).unwrap();
    assert_eq!(archived.len(), 1);
    assert!(!leftover.exists());
    assert_eq!(decompressed(&archived[0].archive), segments[&first]);
    assert_eq!(read_with_archive(&dir, &archive, 1), records);
}

/// The set of segments a crash must never lose: each is live, or archived whole.
fn assert_each_segment_live_or_archived(
    dir: &Path,
    archive: &Path,
    segments: &BTreeMap<u64, Vec<u8>>,
    context: &str,
) {
    for (first_seq, bytes) in segments {
        let live = dir.join(format!("{first_seq:020}.seg"));
        let archived: PathBuf = archive.join(archive_file_name(*first_seq));
        let live_ok = live.exists() && fs::read(&live).unwrap() == *bytes;
        let archived_ok = archived.exists() && decompressed(&archived) == *bytes;
        assert!(
            live_ok || archived_ok,
            "{context}: segment {first_seq} is neither live nor archived whole"
        );
        if archived.exists() && !live.exists() {
            assert!(
                archived_ok,
                "{context}: {} is not whole",
                archived.display()
            );
        }
    }
}

#[test]
fn a_fault_at_any_storage_call_leaves_every_segment_live_or_archived() {
    let kinds = [
        FaultKind::CreateDir,
        FaultKind::MapReadOnly,
        FaultKind::WriteSynced,
        FaultKind::Rename,
        FaultKind::SyncDir,
        FaultKind::RemoveFile,
    ];
    let mut faults_hit = 0;
    for kind in kinds {
        for n in 1..=10 {
            let temp = TempDir::new("archive-fault");
            let (dir, archive) = (temp.join("journal"), temp.join("archive"));
            let (records, segments) = journal(&dir);
            let storage = FaultyStorage::new();
            storage.fail_nth(kind, n);
            let result = archive_segments_with_storage(&storage, &dir, &archive, u64::MAX);
            let context = format!("{kind:?} call {n}");
            if storage.injected(kind) == 0 {
                assert_eq!(result.unwrap().len(), 9, "{context}");
                continue;
            }
            faults_hit += 1;
            let error = result
                .err()
                .unwrap_or_else(|| panic!("{context}: no error"));
            assert!(
                matches!(error, JournalError::Io { .. }),
                "{context}: {error}"
            );
            assert_each_segment_live_or_archived(&dir, &archive, &segments, &context);
            // Every record reads back, and the next run finishes the job.
            assert_eq!(read_with_archive(&dir, &archive, 1), records, "{context}");
            archive_segments(&dir, &archive, u64::MAX).unwrap();
            assert_eq!(segment_paths(&dir).len(), 1, "{context}");
            assert_eq!(read_with_archive(&dir, &archive, 1), records, "{context}");
            let leftovers = fs::read_dir(&archive)
                .unwrap()
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    name.to_string_lossy().ends_with(ARCHIVE_TEMP_SUFFIX)
                })
                .count();
            assert_eq!(leftovers, 0, "{context}");
        }
    }
    assert!(faults_hit >= 30, "only {faults_hit} faults reached a call");
}
