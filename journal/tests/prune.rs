//! Pruning journal segments covered by a snapshot.

mod common;

use common::*;
use sluice_journal::{
    ExpectedStart, JournalError, JournalReader, JournalWriter, prune_segments, verify,
};

#[test]
fn prune_deletes_only_segments_wholly_covered_and_never_the_newest() {
    let temp = TempDir::new("prune");
    let dir = temp.join("journal");
    let (mut writer, _) = JournalWriter::open(&dir, config(1024)).unwrap();
    let records = append_committed(&mut writer, 1..=40, |_| 200);
    drop(writer);
    let segments = JournalReader::open(&dir).unwrap().segments().to_vec();
    assert_eq!(
        segments.len(),
        10,
        "four 232-byte records per 1 KiB segment"
    );
    let first_seqs: Vec<u64> = segments.iter().map(|info| info.first_seq).collect();

    assert!(prune_segments(&dir, 0).unwrap().is_empty());
    // Covering up to one short of a segment's end deletes nothing of it.
    assert!(prune_segments(&dir, first_seqs[1] - 2).unwrap().is_empty());
    let deleted = prune_segments(&dir, first_seqs[2] - 1).unwrap();
    assert_eq!(
        deleted,
        [segments[0].path.clone(), segments[1].path.clone()]
    );
    assert!(!segments[0].path.exists() && segments[2].path.exists());

    // Recovery from a snapshot at first_seqs[2] - 1 accepts the pruned journal.
    let covered = first_seqs[2] - 1;
    let error = JournalWriter::open(&dir, config(1024)).err().unwrap();
    assert!(
        matches!(error, JournalError::MissingSegment { .. }),
        "{error}"
    );
    let start = ExpectedStart::after_snapshot(covered);
    let (writer, report) = JournalWriter::open_with_start(&dir, config(1024), start).unwrap();
    assert_eq!(
        (report.first_seq, report.last_seq),
        (Some(first_seqs[2]), Some(40))
    );
    assert_eq!(writer.next_seq(), 41);
    drop(writer);
    assert_eq!(read_from(&dir, covered + 1), records[covered as usize..]);
    assert_eq!(verify(&dir).unwrap().first_seq, Some(first_seqs[2]));
    let reader = JournalReader::open(&dir).unwrap();
    assert!(matches!(
        reader.iter_from(1).next(),
        Some(Err(JournalError::SeqBeforeStart { .. }))
    ));

    // Everything covered: all but the newest go.
    let deleted = prune_segments(&dir, u64::MAX).unwrap();
    assert_eq!(deleted.len(), 7);
    assert_eq!(segment_paths(&dir), [segments[9].path.clone()]);
    assert_eq!(
        read_from(&dir, first_seqs[9]),
        records[(first_seqs[9] - 1) as usize..]
    );
}

#[test]
fn prune_beside_a_live_writer_and_reader() {
    let temp = TempDir::new("prune-live");
    let dir = temp.join("journal");
    let (mut writer, _) = JournalWriter::open(&dir, config(1024)).unwrap();
    let mut records = append_committed(&mut writer, 1..=20, |_| 200);
    let reader = JournalReader::open(&dir).unwrap();
    assert_eq!(prune_segments(&dir, 16).unwrap().len(), 4);
    // The reader's maps outlive the deleted names; the writer keeps appending.
    let read: Vec<_> = reader
        .iter_from(1)
        .map(|r| Expected::of(&r.unwrap()))
        .collect();
    assert_eq!(read, records);
    records.extend(append_committed(&mut writer, 21..=30, |_| 200));
    drop(writer);
    assert_eq!(read_from(&dir, 17), records[16..]);
}

#[test]
fn prune_of_an_empty_or_missing_directory() {
    let temp = TempDir::new("prune-empty");
    assert!(prune_segments(temp.path(), u64::MAX).unwrap().is_empty());
    assert!(matches!(
        prune_segments(&temp.join("missing"), 1),
        Err(JournalError::Io { .. })
    ));
}
