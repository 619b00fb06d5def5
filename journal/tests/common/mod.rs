//! Helpers shared by the integration tests: temporary directories, deterministic records, and
//! byte surgery on journal files.

#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sluice_journal::{
    Durability, JournalConfig, JournalError, JournalReader, JournalWriter, RecordRef,
};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let index = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "sluice-journal-test-{name}-{}-{index}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory path (not created).
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A record as the tests expect to read it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub seq: u64,
    pub timestamp_ns: u64,
    pub kind: u16,
    pub payload: Vec<u8>,
}

impl Expected {
    pub fn of(record: &RecordRef<'_>) -> Expected {
        Expected {
            seq: record.seq,
            timestamp_ns: record.timestamp_ns,
            kind: record.kind,
            payload: record.payload.to_vec(),
        }
    }
}

/// Deterministic payload bytes for a sequence, none of them zero (so that byte surgery always
/// changes something).
pub fn payload(seq: u64, len: usize) -> Vec<u8> {
    let mut state = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 255) as u8 + 1
        })
        .collect()
}

/// A deterministic record for `seq` with a payload of `len` bytes.
pub fn record(seq: u64, len: usize) -> Expected {
    Expected {
        seq,
        timestamp_ns: 1_700_000_000_000_000_000 + seq * 1_000,
        kind: (seq % 7) as u16 + 1,
        payload: payload(seq, len),
    }
}

pub fn config(segment_size_bytes: u64) -> JournalConfig {
    JournalConfig {
        segment_size_bytes,
        durability: Durability::None,
    }
}

pub fn append(writer: &mut JournalWriter, record: &Expected) {
    writer
        .append(
            record.seq,
            record.timestamp_ns,
            record.kind,
            &record.payload,
        )
        .unwrap();
}

/// Appends records `seqs` with payload lengths from `len_of`, committing after each one.
pub fn append_committed(
    writer: &mut JournalWriter,
    seqs: std::ops::RangeInclusive<u64>,
    len_of: impl Fn(u64) -> usize,
) -> Vec<Expected> {
    let mut records = Vec::new();
    for seq in seqs {
        let expected = record(seq, len_of(seq));
        append(writer, &expected);
        assert_eq!(writer.commit().unwrap(), seq);
        records.push(expected);
    }
    records
}

/// Every record from `from_seq`, panicking on an error.
pub fn read_from(dir: &Path, from_seq: u64) -> Vec<Expected> {
    let reader = JournalReader::open(dir).unwrap();
    reader
        .iter_from(from_seq)
        .map(|record| Expected::of(&record.unwrap()))
        .collect()
}

/// Where a record lives: (segment path, byte offset, total length without padding).
pub fn locate(dir: &Path, seq: u64) -> (PathBuf, u64, u64) {
    let reader = JournalReader::open(dir).unwrap();
    let record = reader.iter_from(seq).next().unwrap().unwrap();
    assert_eq!(record.seq, seq);
    let segment = reader
        .segments()
        .iter()
        .find(|info| info.first_seq == record.segment_first_seq)
        .unwrap();
    (
        segment.path.clone(),
        record.offset,
        32 + record.payload.len() as u64,
    )
}

/// The segment files of a journal, oldest first.
pub fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "seg"))
        .collect();
    paths.sort();
    paths
}

/// Copies every regular file of `from` into a fresh directory `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

pub fn read_bytes(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let file = fs::File::open(path).unwrap();
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, offset).unwrap();
    bytes
}

pub fn write_bytes(path: &Path, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
    file.sync_all().unwrap();
}

pub fn zero_range(path: &Path, from: u64, to: u64) {
    write_bytes(path, from, &vec![0u8; (to - from) as usize]);
}

pub fn flip_bit(path: &Path, offset: u64, bit: u8) {
    let mut byte = read_bytes(path, offset, 1);
    byte[0] ^= 1 << bit;
    write_bytes(path, offset, &byte);
}

pub fn truncate(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Rewrites the seq of the record at `offset` and recomputes its checksum, making a valid
/// record out of place.
pub fn rewrite_record_seq(path: &Path, offset: u64, seq: u64) {
    let total_len = u32::from_le_bytes(read_bytes(path, offset, 4).try_into().unwrap());
    let mut record = read_bytes(path, offset, total_len as usize);
    record[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&record[8..]), &total_len.to_le_bytes());
    record[4..8].copy_from_slice(&crc.to_le_bytes());
    write_bytes(path, offset, &record);
}

/// Writes a valid segment header for `first_seq` into the file at `path`.
pub fn rewrite_segment_header(path: &Path, first_seq: u64, size_bytes: u64) {
    let mut header = [0u8; 64];
    header[0..8].copy_from_slice(b"SLJRNL01");
    header[8..12].copy_from_slice(&1u32.to_le_bytes());
    header[12..16].copy_from_slice(&64u32.to_le_bytes());
    header[16..24].copy_from_slice(&first_seq.to_le_bytes());
    header[24..32].copy_from_slice(&size_bytes.to_le_bytes());
    let crc = crc32c::crc32c(&header[0..32]);
    header[32..36].copy_from_slice(&crc.to_le_bytes());
    write_bytes(path, 0, &header);
}

/// The path of an `Io` error, checking that its message names it too.
pub fn io_path(error: &JournalError) -> PathBuf {
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
