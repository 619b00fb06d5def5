//! Failed storage calls (`FaultyStorage`): a failed flush fails the writer, `commit` never
//! acknowledges a record whose flush failed, and reopening with the OS storage recovers every
//! acknowledged record, byte for byte.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use sluice_journal::{
    Durability, ExpectedStart, FaultKind, FaultyStorage, JournalConfig, JournalError, JournalWriter,
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

/// The path of an `Io` error, checking that its message names it too.
fn io_path(error: &JournalError) -> PathBuf {
    let JournalError::Io { path, source } = error else {
        panic!("expected an I/O error, got {error}");
    };
    assert!(source.raw_os_error().is_some(), "an OS error: {source:?}");
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
    path.clone()
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
