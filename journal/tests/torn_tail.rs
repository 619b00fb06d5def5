//! Crash recovery: a torn tail is cut and reported, and appending continues after it.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use sluice_journal::{JournalError, JournalReader, JournalWriter, Truncation, verify};

const SEGMENT_BYTES: u64 = 4096;
/// The last record's payload: 101 bytes, so the record is 133 bytes with 3 bytes of padding.
const LAST_PAYLOAD_BYTES: usize = 101;

/// A journal of three segments whose last record (seq returned) is in the newest segment.
fn pristine_journal(dir: &Path) -> (Vec<Expected>, u64) {
    let (mut writer, _) = JournalWriter::open(dir, config(SEGMENT_BYTES)).unwrap();
    let mut records = append_committed(&mut writer, 1..=110, |seq| (seq * 31 % 150) as usize);
    let last = record(111, LAST_PAYLOAD_BYTES);
    append(&mut writer, &last);
    writer.commit().unwrap();
    records.push(last);
    drop(writer);
    assert!(segment_paths(dir).len() >= 3);
    (records, 111)
}

/// The number of bytes of `prefix` up to and including its last non-zero byte.
fn nonzero_prefix_len(prefix: &[u8]) -> u64 {
    prefix
        .iter()
        .rposition(|byte| *byte != 0)
        .map_or(0, |index| index as u64 + 1)
}

/// Opens a damaged journal, checks what recovery reports, then appends the lost record anew
/// and checks the whole journal.
fn recover_and_continue(dir: &Path, records: &[Expected], want: Option<Truncation>) {
    let last_seq = records.len() as u64;
    let (mut writer, report) = JournalWriter::open(dir, config(SEGMENT_BYTES)).unwrap();
    assert_eq!(report.truncated, want);
    assert_eq!(report.last_seq, Some(last_seq - 1));
    assert_eq!(writer.next_seq(), last_seq);
    assert_eq!(writer.last_committed_seq(), last_seq - 1);
    let replacement = record(last_seq, 17);
    append(&mut writer, &replacement);
    assert_eq!(writer.commit().unwrap(), last_seq);
    drop(writer);
    let mut want_records = records[..records.len() - 1].to_vec();
    want_records.push(replacement);
    assert_eq!(read_from(dir, 1), want_records);
    let verified = verify(dir).unwrap();
    assert_eq!(
        (verified.last_seq, verified.torn_tail),
        (Some(last_seq), None)
    );
}

/// Before recovery: `verify` reports the tail without cutting it, and a reader ends cleanly
/// before it.
fn check_uncut_tail_is_reported(dir: &Path, records: &[Expected], want: &Option<Truncation>) {
    let segment = segment_paths(dir).pop().unwrap();
    let before = fs::read(&segment).unwrap();
    let verified = verify(dir).unwrap();
    assert_eq!(&verified.torn_tail, want);
    assert_eq!(verified.last_seq, Some(records.len() as u64 - 1));
    assert_eq!(
        fs::read(&segment).unwrap(),
        before,
        "verify must not modify"
    );
    assert_eq!(read_from(dir, 1), records[..records.len() - 1]);
}

#[test]
fn torn_tail_zeroed_from_every_byte_offset_of_the_last_record() {
    let temp = TempDir::new("torn-zero");
    let pristine = temp.join("pristine");
    let (records, last_seq) = pristine_journal(&pristine);
    let (segment, offset, total_len) = locate(&pristine, last_seq);
    let segment_name = segment.file_name().unwrap().to_owned();
    let original = read_bytes(&segment, offset, total_len as usize);
    for cut in 0..total_len {
        let trial = temp.join(&format!("trial-{cut}"));
        copy_dir(&pristine, &trial);
        let trial_segment = trial.join(&segment_name);
        zero_range(&trial_segment, offset + cut, offset + total_len);
        let bytes_cut = nonzero_prefix_len(&original[..cut as usize]);
        // A record zeroed from its first byte is indistinguishable from one never written.
        let want = (bytes_cut > 0).then(|| Truncation {
            segment: trial_segment.clone(),
            offset,
            seq: last_seq,
            bytes_cut,
            later_records_cut: 0,
            file_extended_bytes: 0,
        });
        check_uncut_tail_is_reported(&trial, &records, &want);
        recover_and_continue(&trial, &records, want);
        fs::remove_dir_all(&trial).unwrap();
    }
}

#[test]
fn torn_tail_by_truncating_the_file_at_every_byte_offset_of_the_last_record() {
    let temp = TempDir::new("torn-truncate");
    let pristine = temp.join("pristine");
    let (records, last_seq) = pristine_journal(&pristine);
    let (segment, offset, total_len) = locate(&pristine, last_seq);
    let segment_name = segment.file_name().unwrap().to_owned();
    let original = read_bytes(&segment, offset, total_len as usize);
    for cut in 0..total_len {
        let trial = temp.join(&format!("trial-{cut}"));
        copy_dir(&pristine, &trial);
        let trial_segment = trial.join(&segment_name);
        truncate(&trial_segment, offset + cut);
        let want = Some(Truncation {
            segment: trial_segment.clone(),
            offset,
            seq: last_seq,
            bytes_cut: nonzero_prefix_len(&original[..cut as usize]),
            later_records_cut: 0,
            file_extended_bytes: SEGMENT_BYTES - offset - cut,
        });
        check_uncut_tail_is_reported(&trial, &records, &want);
        recover_and_continue(&trial, &records, want);
        assert_eq!(fs::metadata(&trial_segment).unwrap().len(), SEGMENT_BYTES);
        fs::remove_dir_all(&trial).unwrap();
    }
}

#[test]
fn a_file_truncated_after_its_last_record_is_only_extended() {
    let temp = TempDir::new("truncate-after");
    let dir = temp.join("journal");
    let (records, last_seq) = pristine_journal(&dir);
    let (segment, offset, total_len) = locate(&dir, last_seq);
    // Cut inside the padding: the record itself is intact.
    truncate(&segment, offset + total_len + 1);
    let (writer, report) = JournalWriter::open(&dir, config(SEGMENT_BYTES)).unwrap();
    let truncated = report.truncated.unwrap();
    assert_eq!((truncated.seq, truncated.bytes_cut), (last_seq + 1, 0));
    assert_eq!(
        truncated.file_extended_bytes,
        SEGMENT_BYTES - offset - total_len - 1
    );
    assert_eq!(writer.next_seq(), last_seq + 1);
    drop(writer);
    assert_eq!(read_from(&dir, 1), records);
}

#[test]
fn the_only_record_of_the_newest_segment_or_of_the_journal_can_be_torn() {
    let temp = TempDir::new("torn-first");
    let dir = temp.join("journal");
    let (mut writer, _) = JournalWriter::open(&dir, config(1024)).unwrap();
    append_committed(&mut writer, 1..=1, |_| 40);
    drop(writer);
    let (segment, offset, total_len) = locate(&dir, 1);
    zero_range(&segment, offset + 10, offset + total_len);
    let (mut writer, report) = JournalWriter::open(&dir, config(1024)).unwrap();
    assert_eq!((report.records, report.truncated.unwrap().seq), (0, 1));
    assert_eq!(writer.next_seq(), 1);
    // Four 232-byte records fill a 1 KiB segment; tear the first record of the fourth one.
    let records = append_committed(&mut writer, 1..=13, |_| 200);
    drop(writer);
    let (segment, offset, total_len) = locate(&dir, 13);
    assert_eq!(offset, 64, "seq 13 starts the newest segment");
    assert_eq!(segment_paths(&dir).len(), 4);
    zero_range(&segment, offset + 40, offset + total_len);
    let (mut writer, report) = JournalWriter::open(&dir, config(1024)).unwrap();
    assert_eq!(report.truncated.unwrap().seq, 13);
    assert_eq!(report.last_seq, Some(12));
    assert_eq!(report.segments, 4);
    append(&mut writer, &records[12]);
    writer.commit().unwrap();
    drop(writer);
    assert_eq!(
        segment_paths(&dir).len(),
        4,
        "appending continues in the same segment"
    );
    assert_eq!(read_from(&dir, 1), records);
}

/// A power loss between commits can lose any page of the uncommitted batch, leaving holes with
/// valid records after them. Those records were never committed, so the tail is cut at the
/// first hole.
#[test]
fn a_hole_in_the_uncommitted_batch_is_a_torn_tail() {
    let temp = TempDir::new("hole-uncommitted");
    let dir = temp.join("journal");
    let (mut writer, _) = JournalWriter::open(&dir, config(SEGMENT_BYTES)).unwrap();
    let records = append_committed(&mut writer, 1..=10, |_| 50);
    for seq in 11..=20 {
        append(&mut writer, &record(seq, 50));
    }
    assert_eq!(writer.last_committed_seq(), 10);
    drop(writer);
    let (segment, offset, total_len) = locate(&dir, 12);
    zero_range(&segment, offset, offset + total_len);
    let truncated = verify(&dir).unwrap().torn_tail.unwrap();
    assert_eq!((truncated.seq, truncated.offset), (12, offset));
    assert_eq!(truncated.later_records_cut, 8);
    let (writer, report) = JournalWriter::open(&dir, config(SEGMENT_BYTES)).unwrap();
    assert_eq!(report.truncated, Some(truncated));
    assert_eq!(writer.next_seq(), 12);
    drop(writer);
    let recovered = read_from(&dir, 1);
    assert_eq!(recovered[..10], records[..]);
    assert_eq!(recovered.len(), 11);
}

/// The same hole after those records were committed is damage to committed data: refused.
#[test]
fn a_hole_in_committed_data_is_refused() {
    let temp = TempDir::new("hole-committed");
    let dir = temp.join("journal");
    let (mut writer, _) = JournalWriter::open(&dir, config(SEGMENT_BYTES)).unwrap();
    append_committed(&mut writer, 1..=20, |_| 50);
    drop(writer);
    let (segment, offset, total_len) = locate(&dir, 12);
    zero_range(&segment, offset, offset + total_len);
    for error in [
        JournalWriter::open(&dir, config(SEGMENT_BYTES))
            .err()
            .unwrap(),
        verify(&dir).unwrap_err(),
    ] {
        let JournalError::Corrupt {
            segment: at,
            offset: at_offset,
            seq,
            ..
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!((at, *at_offset, *seq), (&segment, offset, 12), "{error}");
        assert!(error.to_string().contains("committed"), "{error}");
    }
}

#[test]
fn junk_after_the_last_record_is_cut_durably() {
    let temp = TempDir::new("junk");
    let dir = temp.join("journal");
    let (mut writer, _) = JournalWriter::open(&dir, config(SEGMENT_BYTES)).unwrap();
    let mut records = append_committed(&mut writer, 1..=5, |_| 64);
    drop(writer);
    let (segment, offset, total_len) = locate(&dir, 5);
    let end = offset + total_len.div_ceil(8) * 8;
    // A record whose length was never stored: bytes after a zero length field.
    write_bytes(&segment, end + 4, &[0xAB; 300]);
    let (mut writer, report) = JournalWriter::open(&dir, config(SEGMENT_BYTES)).unwrap();
    let truncated = report.truncated.unwrap();
    assert_eq!(
        (truncated.seq, truncated.offset, truncated.bytes_cut),
        (6, end, 304)
    );
    records.extend(append_committed(&mut writer, 6..=8, |_| 10));
    drop(writer);
    assert_eq!(read_from(&dir, 1), records);
    assert_eq!(verify(&dir).unwrap().torn_tail, None);
}

#[test]
fn uncommitted_records_survive_a_process_crash() {
    let temp = TempDir::new("process-crash");
    let dir = temp.join("journal");
    let (mut writer, _) = JournalWriter::open(&dir, config(1024)).unwrap();
    let mut records = append_committed(&mut writer, 1..=3, |_| 10);
    for seq in 4..=30 {
        let record = record(seq, 60);
        append(&mut writer, &record);
        records.push(record);
    }
    // Dropping without commit is what a killed process leaves: the page cache keeps it all.
    drop(writer);
    let (writer, report) = JournalWriter::open(&dir, config(1024)).unwrap();
    assert_eq!((report.last_seq, report.truncated), (Some(30), None));
    assert_eq!(writer.last_committed_seq(), 30);
    drop(writer);
    assert_eq!(read_from(&dir, 1), records);
}

#[test]
fn a_reader_stops_cleanly_at_a_torn_tail() {
    let temp = TempDir::new("reader-torn");
    let dir = temp.join("journal");
    let (records, last_seq) = pristine_journal(&dir);
    let (segment, offset, _) = locate(&dir, last_seq);
    flip_bit(&segment, offset + 40, 2);
    let reader = JournalReader::open(&dir).unwrap();
    let read: Vec<_> = reader
        .iter_from(100)
        .map(|r| Expected::of(&r.unwrap()))
        .collect();
    assert_eq!(read, records[99..110]);
}
