//! Appending, reopening, reading and verifying a healthy journal.

mod common;

use std::fs;

use common::*;
use sluice_journal::{
    Durability, ExpectedStart, JournalConfig, JournalError, JournalReader, JournalWriter,
    SEGMENT_HEADER_LEN_BYTES, verify,
};

/// Payload lengths from 0 to 700 bytes, in no particular order.
fn varying_len(seq: u64) -> usize {
    ((seq * 7919) % 701) as usize
}

#[test]
fn round_trip_across_small_segments_then_continue_appending() {
    let temp = TempDir::new("round-trip");
    let dir = temp.join("journal");
    let (mut writer, report) = JournalWriter::open(&dir, config(4096)).unwrap();
    assert_eq!(
        (report.segments, report.records, report.truncated),
        (0, 0, None)
    );
    assert_eq!((writer.next_seq(), writer.last_committed_seq()), (1, 0));
    let mut expected = Vec::new();
    for seq in 1..=400 {
        let record = record(seq, varying_len(seq));
        append(&mut writer, &record);
        expected.push(record);
        if seq % 7 == 0 {
            assert_eq!(writer.commit().unwrap(), seq);
        }
    }
    assert_eq!(writer.commit().unwrap(), 400);
    drop(writer);

    let (writer, report) = JournalWriter::open(&dir, config(4096)).unwrap();
    assert_eq!(report.records, 400);
    assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(400)));
    assert_eq!(report.last_timestamp_ns, Some(expected[399].timestamp_ns));
    assert_eq!(report.truncated, None);
    assert!(report.segments >= 20, "{} segments", report.segments);
    assert_eq!((writer.next_seq(), writer.last_committed_seq()), (401, 400));
    drop(writer);

    check_reads(&dir, &expected);
    let verified = verify(&dir).unwrap();
    assert_eq!(verified.records, 400);
    assert_eq!(
        (verified.first_seq, verified.last_seq),
        (Some(1), Some(400))
    );
    assert_eq!(verified.first_timestamp_ns, Some(expected[0].timestamp_ns));
    assert_eq!(verified.last_timestamp_ns, Some(expected[399].timestamp_ns));
    assert_eq!(verified.segments, report.segments);
    assert_eq!(verified.torn_tail, None);

    // Continue after reopening: the newest segment is remapped writable.
    let (mut writer, _) = JournalWriter::open(&dir, config(4096)).unwrap();
    expected.extend(append_committed(&mut writer, 401..=450, varying_len));
    drop(writer);
    assert_eq!(read_from(&dir, 1), expected);
    assert_eq!(verify(&dir).unwrap().records, 450);
}

/// Reads from several starting points and checks offsets, alignment and segment names.
fn check_reads(dir: &std::path::Path, expected: &[Expected]) {
    let reader = JournalReader::open(dir).unwrap();
    let segments = reader.segments();
    assert!(
        segments
            .windows(2)
            .all(|pair| pair[0].first_seq < pair[1].first_seq)
    );
    let mut starts = vec![1, 2, 57, 399, 400];
    for info in segments {
        starts.push(info.first_seq);
        starts.push(info.first_seq.saturating_sub(1).max(1));
    }
    for start in starts {
        let records: Vec<_> = reader.iter_from(start).map(Result::unwrap).collect();
        assert_eq!(records.len() as u64, 401 - start, "from {start}");
        for (record, want) in records.iter().zip(&expected[(start - 1) as usize..]) {
            assert_eq!(Expected::of(record), *want);
            assert_eq!(record.offset % 8, 0);
            assert!(record.offset >= SEGMENT_HEADER_LEN_BYTES);
            assert!(
                segments
                    .iter()
                    .any(|info| info.first_seq == record.segment_first_seq
                        && info.first_seq <= record.seq)
            );
        }
    }
    assert_eq!(reader.iter_from(401).count(), 0);
    assert_eq!(reader.iter_from(10_000).count(), 0);
    assert_eq!(reader.first_seq(), Some(1));
}

#[test]
fn fsync_durability_round_trip() {
    let temp = TempDir::new("fsync");
    let dir = temp.join("journal");
    let config = JournalConfig {
        segment_size_bytes: 2048,
        durability: Durability::Fsync,
    };
    let (mut writer, _) = JournalWriter::open(&dir, config).unwrap();
    assert_eq!(writer.commit().unwrap(), 0, "nothing committed yet");
    let expected = append_committed(&mut writer, 1..=60, |seq| (seq * 13 % 200) as usize);
    drop(writer);
    let (mut writer, report) = JournalWriter::open(&dir, config).unwrap();
    assert_eq!(report.last_seq, Some(60));
    assert_eq!(writer.last_committed_seq(), 60);
    append(&mut writer, &record(61, 5));
    assert_eq!(writer.commit().unwrap(), 61);
    drop(writer);
    assert_eq!(read_from(&dir, 1)[..60], expected[..]);
}

#[test]
fn readers_see_records_on_append_before_commit() {
    let temp = TempDir::new("visible");
    let dir = temp.join("journal");
    let (mut writer, _) = JournalWriter::open(&dir, config(4096)).unwrap();
    let first = record(1, 10);
    append(&mut writer, &first);
    assert_eq!(read_from(&dir, 1), vec![first.clone()]);
    let reader = JournalReader::open(&dir).unwrap();
    let second = record(2, 20);
    append(&mut writer, &second);
    // An open reader sees later appends to the segments it mapped.
    let seen: Vec<_> = reader
        .iter_from(1)
        .map(|r| Expected::of(&r.unwrap()))
        .collect();
    assert_eq!(seen, vec![first, second]);
    assert_eq!(writer.last_committed_seq(), 0);
}

#[test]
fn append_refuses_wrong_sequence_and_oversized_payload() {
    let temp = TempDir::new("refuse");
    let dir = temp.join("journal");
    let (mut writer, _) = JournalWriter::open(&dir, config(1024)).unwrap();
    let error = writer.append(2, 0, 1, b"x").unwrap_err();
    assert!(matches!(
        error,
        JournalError::SequenceMismatch {
            expected: 1,
            got: 2
        }
    ));
    assert!(
        error.to_string().contains("expects seq 1, got 2"),
        "{error}"
    );
    append(&mut writer, &record(1, 100));
    let error = writer.append(1, 0, 1, b"x").unwrap_err();
    assert!(matches!(
        error,
        JournalError::SequenceMismatch {
            expected: 2,
            got: 1
        }
    ));

    let max = writer.max_payload_bytes();
    assert_eq!(max, 1024 - 64 - 32);
    let error = writer
        .append(2, 0, 1, &vec![1u8; max as usize + 1])
        .unwrap_err();
    assert!(matches!(
        error,
        JournalError::RecordTooLarge { payload_bytes, max_payload_bytes }
            if payload_bytes == max + 1 && max_payload_bytes == max
    ));
    assert_eq!(writer.next_seq(), 2, "a refused append changes nothing");
    // The largest payload fills an empty segment exactly (after a roll).
    let largest = record(2, max as usize);
    append(&mut writer, &largest);
    append(&mut writer, &record(3, 0));
    writer.commit().unwrap();
    drop(writer);
    let records = read_from(&dir, 1);
    assert_eq!(records[1], largest);
    assert_eq!(records.len(), 3);
    assert_eq!(segment_paths(&dir).len(), 3);
}

#[test]
fn a_second_writer_is_locked_out() {
    let temp = TempDir::new("lock");
    let dir = temp.join("journal");
    let (writer, _) = JournalWriter::open(&dir, config(4096)).unwrap();
    let error = JournalWriter::open(&dir, config(4096)).err().unwrap();
    assert!(matches!(error, JournalError::Locked { .. }), "{error}");
    drop(writer);
    assert!(JournalWriter::open(&dir, config(4096)).is_ok());
}

#[test]
fn an_empty_journal_reopens_empty() {
    let temp = TempDir::new("empty");
    let dir = temp.join("journal");
    drop(JournalWriter::open(&dir, config(4096)).unwrap());
    let (writer, report) = JournalWriter::open(&dir, config(4096)).unwrap();
    assert_eq!(
        (report.segments, report.records, report.first_seq),
        (1, 0, None)
    );
    assert_eq!(writer.next_seq(), 1);
    drop(writer);
    assert_eq!(read_from(&dir, 1), vec![]);
    assert_eq!(verify(&dir).unwrap().records, 0);
}

#[test]
fn reopening_with_another_segment_size_keeps_old_segments() {
    let temp = TempDir::new("resize");
    let dir = temp.join("journal");
    let (mut writer, _) = JournalWriter::open(&dir, config(1024)).unwrap();
    let mut expected = append_committed(&mut writer, 1..=20, |_| 100);
    drop(writer);
    let (mut writer, _) = JournalWriter::open(&dir, config(8192)).unwrap();
    assert_eq!(writer.max_payload_bytes(), 8192 - 96);
    expected.extend(append_committed(&mut writer, 21..=40, |_| 2000));
    drop(writer);
    assert_eq!(read_from(&dir, 1), expected);
    let sizes: Vec<u64> = JournalReader::open(&dir)
        .unwrap()
        .segments()
        .iter()
        .map(|info| info.size_bytes)
        .collect();
    assert_eq!(sizes.first(), Some(&1024));
    assert_eq!(sizes.last(), Some(&8192));
}

#[test]
fn invalid_configs_are_refused() {
    let temp = TempDir::new("config");
    let dir = temp.join("journal");
    for segment_size_bytes in [0, 100, 4097, 1 << 41] {
        let error = JournalWriter::open(&dir, config(segment_size_bytes))
            .err()
            .unwrap();
        assert!(
            matches!(error, JournalError::InvalidConfig { .. }),
            "{error}"
        );
    }
    let start = ExpectedStart {
        expected_first_seq: 0,
        allow_start_after: None,
    };
    let error = JournalWriter::open_with_start(&dir, config(4096), start)
        .err()
        .unwrap();
    assert!(
        matches!(error, JournalError::InvalidArgument { .. }),
        "{error}"
    );
}

#[test]
fn prepared_segments_are_used_and_cleaned_up() {
    let temp = TempDir::new("prepared");
    let dir = temp.join("journal");
    // A prepared file left by a crash is removed at open.
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("prepared-000007.seg.prep"), b"left over").unwrap();
    let (mut writer, _) = JournalWriter::open(&dir, config(1024)).unwrap();
    append_committed(&mut writer, 1..=50, |_| 200);
    drop(writer);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(
        names
            .iter()
            .all(|name| name.ends_with(".seg") || name == "journal.lock"),
        "{names:?}"
    );
    assert_eq!(names.len(), 1 + segment_paths(&dir).len());
}

#[test]
fn expected_start_is_enforced() {
    let temp = TempDir::new("start");
    let dir = temp.join("journal");
    // An empty journal restored from a snapshot at 100 starts at 101.
    let start = ExpectedStart::after_snapshot(100);
    let (mut writer, _) = JournalWriter::open_with_start(&dir, config(4096), start).unwrap();
    assert_eq!((writer.next_seq(), writer.last_committed_seq()), (101, 100));
    append_committed(&mut writer, 101..=110, |_| 30);
    drop(writer);
    assert_eq!(
        segment_paths(&dir)[0].file_name().unwrap(),
        "00000000000000000101.seg"
    );

    let error = JournalWriter::open(&dir, config(4096)).err().unwrap();
    let JournalError::MissingSegment {
        expected_seq,
        found_seq,
        ..
    } = error
    else {
        panic!("{error}");
    };
    assert_eq!((expected_seq, found_seq), (1, 101));
    let error =
        JournalWriter::open_with_start(&dir, config(4096), ExpectedStart::after_snapshot(99));
    assert!(matches!(
        error,
        Err(JournalError::MissingSegment {
            expected_seq: 100,
            ..
        })
    ));
    for snapshot_seq in [100, 105, 200] {
        let start = ExpectedStart::after_snapshot(snapshot_seq);
        let (writer, _) = JournalWriter::open_with_start(&dir, config(4096), start).unwrap();
        assert_eq!(writer.next_seq(), 111);
    }
    // A journal holding more history than required is fine.
    let start = ExpectedStart {
        expected_first_seq: 105,
        allow_start_after: None,
    };
    assert!(JournalWriter::open_with_start(&dir, config(4096), start).is_ok());

    let reader = JournalReader::open(&dir).unwrap();
    let error = reader.iter_from(50).next().unwrap().unwrap_err();
    assert!(matches!(
        error,
        JournalError::SeqBeforeStart {
            seq: 50,
            first_seq: 101,
            ..
        }
    ));
    assert!(error.to_string().contains("begins at seq 101"), "{error}");
}

#[test]
fn a_reader_of_a_missing_or_empty_directory() {
    let temp = TempDir::new("reader-empty");
    assert!(matches!(
        JournalReader::open(&temp.join("nothing")),
        Err(JournalError::Io { .. })
    ));
    let reader = JournalReader::open(temp.path()).unwrap();
    assert_eq!(reader.iter_from(1).count(), 0);
    assert!(reader.segments().is_empty());
    assert!(matches!(
        verify(&temp.join("nothing")),
        Err(JournalError::Io { .. })
    ));
}

#[test]
fn rolls_use_segments_prepared_in_the_background() {
    let temp = TempDir::new("background");
    let dir = temp.join("journal");
    let (mut writer, _) = JournalWriter::open(&dir, config(1024)).unwrap();
    // Four 232-byte records fill a segment; pause before each roll so the helper can finish.
    for seq in 1..=24 {
        if seq % 4 == 1 {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        append(&mut writer, &record(seq, 200));
    }
    let stats = writer.roll_stats();
    assert_eq!(stats.rolls, 5);
    assert!(stats.prepared_synchronously < stats.rolls, "{stats:?}");
}
