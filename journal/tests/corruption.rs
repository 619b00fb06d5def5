//! Damage to committed data is refused, by open, by verify and by the reader, with an error
//! that names the segment file, the byte offset and the sequence.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use sluice_journal::{JournalError, JournalReader, JournalWriter, SegmentInfo, verify};

const SEGMENT_BYTES: u64 = 4096;

/// A committed journal of four or more segments; payload lengths keep records unpadded.
fn pristine_journal(dir: &Path) -> Vec<Expected> {
    let (mut writer, _) = JournalWriter::open(dir, config(SEGMENT_BYTES)).unwrap();
    let records = append_committed(&mut writer, 1..=150, |seq| (seq % 12 * 8) as usize + 64);
    drop(writer);
    assert!(segment_paths(dir).len() >= 4);
    records
}

/// Checks that open and verify refuse the journal with `Corrupt` at exactly this place, and
/// that a reader yields the records before it, then that error, then nothing.
fn assert_refused_at(dir: &Path, segment: &Path, offset: u64, seq: u64, records: &[Expected]) {
    let open_error = JournalWriter::open(dir, config(SEGMENT_BYTES))
        .err()
        .unwrap();
    let verify_error = verify(dir).unwrap_err();
    for error in [&open_error, &verify_error] {
        let JournalError::Corrupt {
            segment: at,
            offset: at_offset,
            seq: at_seq,
            ..
        } = error
        else {
            panic!("expected Corrupt, got {error}");
        };
        assert_eq!(
            (at.as_path(), *at_offset, *at_seq),
            (segment, offset, seq),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.contains(&segment.display().to_string()),
            "{message}"
        );
        assert!(message.contains(&format!("offset {offset}")), "{message}");
        assert!(message.contains(&format!("seq {seq}")), "{message}");
    }
    let reader = JournalReader::open(dir).unwrap();
    let mut iter = reader.iter_from(1);
    for want in &records[..(seq - 1) as usize] {
        assert_eq!(Expected::of(&iter.next().unwrap().unwrap()), *want);
    }
    assert!(matches!(
        iter.next(),
        Some(Err(JournalError::Corrupt { .. }))
    ));
    assert!(iter.next().is_none());
}

fn trial_copy(temp: &TempDir, pristine: &Path, name: &str) -> PathBuf {
    let trial = temp.join(name);
    copy_dir(pristine, &trial);
    trial
}

/// Flips one bit in every byte of a record, one trial per byte. `pick` chooses the record's
/// seq from the segments, which must put it in the newest segment or not, as `in_newest` says.
fn flip_every_byte_of(pick: impl Fn(&[SegmentInfo]) -> u64, in_newest: bool) {
    let temp = TempDir::new("flip-record");
    let pristine = temp.join("pristine");
    let records = pristine_journal(&pristine);
    let segments = JournalReader::open(&pristine).unwrap().segments().to_vec();
    let seq = pick(&segments);
    let (segment, offset, total_len) = locate(&pristine, seq);
    assert_eq!(segment == segments.last().unwrap().path, in_newest);
    assert!(seq < records.len() as u64 - 2, "valid records follow");
    assert_eq!(total_len % 8, 0, "no padding: every byte is checked");
    let segment_name = segment.file_name().unwrap();
    for byte in 0..total_len {
        let trial = trial_copy(&temp, &pristine, &format!("trial-{byte}"));
        let trial_segment = trial.join(segment_name);
        flip_bit(&trial_segment, offset + byte, (byte % 8) as u8);
        assert_refused_at(&trial, &trial_segment, offset, seq, &records);
        fs::remove_dir_all(&trial).unwrap();
    }
}

#[test]
fn a_flipped_bit_in_a_middle_record_of_a_middle_segment_is_refused() {
    flip_every_byte_of(|segments| segments[1].first_seq + 2, false);
}

#[test]
fn a_flipped_bit_in_a_middle_record_of_the_newest_segment_is_refused() {
    flip_every_byte_of(|segments| segments.last().unwrap().first_seq + 2, true);
}

#[test]
fn a_flipped_bit_in_a_middle_segment_header_is_refused() {
    let temp = TempDir::new("flip-header");
    let pristine = temp.join("pristine");
    pristine_journal(&pristine);
    let reader = JournalReader::open(&pristine).unwrap();
    let middle = reader.segments()[2].clone();
    drop(reader);
    let segment_name = middle.path.file_name().unwrap();
    for byte in 0..64u64 {
        let trial = trial_copy(&temp, &pristine, &format!("trial-{byte}"));
        let trial_segment = trial.join(segment_name);
        flip_bit(&trial_segment, byte, (byte % 8) as u8);
        let errors = [
            JournalWriter::open(&trial, config(SEGMENT_BYTES))
                .err()
                .unwrap(),
            verify(&trial).unwrap_err(),
            JournalReader::open(&trial).err().unwrap(),
        ];
        for error in errors {
            let JournalError::Corrupt {
                segment,
                offset,
                seq,
                ..
            } = &error
            else {
                panic!("byte {byte}: {error}");
            };
            assert_eq!(
                (segment, *offset, *seq),
                (&trial_segment, 0, middle.first_seq)
            );
        }
        fs::remove_dir_all(&trial).unwrap();
    }
}

#[test]
fn a_missing_middle_segment_is_refused() {
    let temp = TempDir::new("missing-middle");
    let dir = temp.join("journal");
    let records = pristine_journal(&dir);
    let segments = JournalReader::open(&dir).unwrap().segments().to_vec();
    fs::remove_file(&segments[1].path).unwrap();
    let want = (
        segments[2].path.clone(),
        segments[1].first_seq,
        segments[2].first_seq,
    );
    for error in [
        JournalWriter::open(&dir, config(SEGMENT_BYTES))
            .err()
            .unwrap(),
        verify(&dir).unwrap_err(),
    ] {
        let JournalError::MissingSegment {
            segment,
            expected_seq,
            found_seq,
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!((segment.clone(), *expected_seq, *found_seq), want);
        assert!(
            error.to_string().contains("missing journal segment"),
            "{error}"
        );
    }
    // The reader delivers what precedes the gap, then the error.
    let reader = JournalReader::open(&dir).unwrap();
    let read: Vec<_> = reader.iter_from(1).collect();
    let gap_at = (segments[1].first_seq - 1) as usize;
    assert_eq!(read.len(), gap_at + 1);
    for (record, want) in read[..gap_at].iter().zip(&records) {
        assert_eq!(Expected::of(record.as_ref().unwrap()), *want);
    }
    assert!(matches!(
        read[gap_at],
        Err(JournalError::MissingSegment { .. })
    ));
}

#[test]
fn a_missing_first_segment_is_refused_unless_a_snapshot_covers_it() {
    let temp = TempDir::new("missing-first");
    let dir = temp.join("journal");
    pristine_journal(&dir);
    let segments = JournalReader::open(&dir).unwrap().segments().to_vec();
    fs::remove_file(&segments[0].path).unwrap();
    let error = JournalWriter::open(&dir, config(SEGMENT_BYTES))
        .err()
        .unwrap();
    assert!(
        matches!(
            error,
            JournalError::MissingSegment {
                expected_seq: 1,
                ..
            }
        ),
        "{error}"
    );
    let start = sluice_journal::ExpectedStart::after_snapshot(segments[1].first_seq - 1);
    let (writer, report) =
        JournalWriter::open_with_start(&dir, config(SEGMENT_BYTES), start).unwrap();
    assert_eq!(report.first_seq, Some(segments[1].first_seq));
    assert_eq!(writer.next_seq(), 151);
}

#[test]
fn a_sequence_gap_or_repeat_inside_a_segment_is_refused() {
    let temp = TempDir::new("gap");
    let pristine = temp.join("pristine");
    let records = pristine_journal(&pristine);
    for (name, seq, new_seq, word) in [("gap", 60, 61, "gap"), ("repeat", 60, 59, "repeat")] {
        let trial = trial_copy(&temp, &pristine, name);
        let (segment, offset, _) = locate(&trial, seq);
        rewrite_record_seq(&segment, offset, new_seq);
        assert_refused_at(&trial, &segment, offset, seq, &records);
        let message = verify(&trial).unwrap_err().to_string();
        assert!(message.contains(word), "{message}");
    }
}

#[test]
fn a_segment_whose_first_record_does_not_match_its_name_is_refused() {
    let temp = TempDir::new("first-record");
    let dir = temp.join("journal");
    let records = pristine_journal(&dir);
    let segments = JournalReader::open(&dir).unwrap().segments().to_vec();
    let first_seq = segments[2].first_seq;
    rewrite_record_seq(&segments[2].path, 64, first_seq + 1);
    assert_refused_at(&dir, &segments[2].path, 64, first_seq, &records);
}

#[test]
fn overlapping_segments_are_refused() {
    let temp = TempDir::new("overlap");
    let dir = temp.join("journal");
    pristine_journal(&dir);
    let segments = JournalReader::open(&dir).unwrap().segments().to_vec();
    // Segment 3 claims to start one record early, consistently in its name and header.
    let first_seq = segments[2].first_seq - 1;
    let renamed = dir.join(sluice_journal::segment_file_name(first_seq));
    fs::rename(&segments[2].path, &renamed).unwrap();
    rewrite_segment_header(&renamed, first_seq, SEGMENT_BYTES);
    let error = verify(&dir).unwrap_err();
    let JournalError::Corrupt {
        segment,
        offset,
        seq,
        what,
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!((segment, *offset, *seq), (&renamed, 0, first_seq + 1));
    assert!(what.contains("overlapping"), "{error}");
}

#[test]
fn a_segment_renamed_away_from_its_header_is_refused() {
    let temp = TempDir::new("renamed");
    let dir = temp.join("journal");
    pristine_journal(&dir);
    let segments = JournalReader::open(&dir).unwrap().segments().to_vec();
    let renamed = dir.join(sluice_journal::segment_file_name(segments[1].first_seq + 1));
    fs::rename(&segments[1].path, &renamed).unwrap();
    let error = JournalWriter::open(&dir, config(SEGMENT_BYTES))
        .err()
        .unwrap();
    assert!(
        matches!(&error, JournalError::Corrupt { offset: 0, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("file name"), "{error}");
}

#[test]
fn junk_after_the_end_of_an_older_segment_is_refused() {
    let temp = TempDir::new("old-junk");
    let dir = temp.join("journal");
    pristine_journal(&dir);
    let segments = JournalReader::open(&dir).unwrap().segments().to_vec();
    write_bytes(&segments[1].path, SEGMENT_BYTES - 8, &[1]);
    let error = verify(&dir).unwrap_err();
    assert!(matches!(&error, JournalError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("not the newest"), "{error}");
}

#[test]
fn a_short_older_segment_is_refused() {
    let temp = TempDir::new("short-old");
    let dir = temp.join("journal");
    pristine_journal(&dir);
    let segments = JournalReader::open(&dir).unwrap().segments().to_vec();
    truncate(&segments[1].path, SEGMENT_BYTES - 100);
    for error in [
        JournalWriter::open(&dir, config(SEGMENT_BYTES))
            .err()
            .unwrap(),
        verify(&dir).unwrap_err(),
        JournalReader::open(&dir).err().unwrap(),
    ] {
        assert!(
            matches!(&error, JournalError::Corrupt { offset: 0, .. }),
            "{error}"
        );
    }
    truncate(&segments[1].path, 10);
    let error = verify(&dir).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("shorter than the segment header"),
        "{error}"
    );
}

#[test]
fn a_damaged_newest_segment_header_is_refused_not_cut() {
    let temp = TempDir::new("newest-header");
    let dir = temp.join("journal");
    pristine_journal(&dir);
    let newest = segment_paths(&dir).pop().unwrap();
    zero_range(&newest, 0, 64);
    let error = JournalWriter::open(&dir, config(SEGMENT_BYTES))
        .err()
        .unwrap();
    assert!(
        matches!(&error, JournalError::Corrupt { offset: 0, .. }),
        "{error}"
    );
}
