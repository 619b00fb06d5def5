//! Tailing a live journal: a reader resumes where it stopped (`Records::position` →
//! `JournalReader::records_at`) as the writer appends, and maps the segments the writer rolls to
//! with `refresh` — what a follower does.

mod common;

use common::*;
use sluice_journal::{JournalReader, JournalWriter};

#[test]
fn a_reader_resumes_at_its_position_across_appends_and_rolls() {
    let dir = TempDir::new("tail");
    // Small segments: a few records each, so the tail crosses many rolls.
    let (mut writer, _) = JournalWriter::open(dir.path(), config(4096)).unwrap();
    let mut expected = append_committed(&mut writer, 1..=3, |_| 100);
    let mut reader = JournalReader::open(dir.path()).unwrap();
    let segments_at_open = reader.segments().len();
    let mut position = reader.iter_from(1).position();
    assert_eq!(position.next_seq(), 1);
    let mut seen = Vec::new();
    let mut refreshes = 0;
    for round in 0..40u64 {
        let first = 4 + round * 5;
        expected.extend(append_committed(&mut writer, first..=first + 4, |s| {
            50 + (s % 9) as usize * 40
        }));
        let last = first + 4;
        // Read everything committed so far, refreshing when the mapped segments run out.
        while seen.len() < last as usize {
            let mut records = reader.records_at(position);
            match records.next() {
                Some(record) => {
                    seen.push(Expected::of(&record.unwrap()));
                    position = records.position();
                }
                None => {
                    drop(records);
                    assert!(
                        reader.refresh().unwrap() > 0,
                        "a committed record is missing"
                    );
                    refreshes += 1;
                }
            }
        }
        // At the written end: nothing more, and the position stays put.
        assert!(reader.records_at(position).next().is_none());
        assert_eq!(position.next_seq(), last + 1);
    }
    assert_eq!(seen, expected);
    assert!(refreshes > 5, "the writer rolled and the reader followed");
    assert!(reader.segments().len() > segments_at_open);
    assert_eq!(reader.refresh().unwrap(), 0, "nothing new to map");
}

#[test]
fn a_position_inside_a_segment_skips_the_records_before_it() {
    let dir = TempDir::new("tail-skip");
    let (mut writer, _) = JournalWriter::open(dir.path(), config(1 << 20)).unwrap();
    let expected = append_committed(&mut writer, 1..=50, |_| 64);
    let reader = JournalReader::open(dir.path()).unwrap();
    let position = reader.iter_from(20).position();
    assert_eq!(position.next_seq(), 20);
    let read: Vec<Expected> = reader
        .records_at(position)
        .map(|r| Expected::of(&r.unwrap()))
        .collect();
    assert_eq!(read, expected[19..]);
}
