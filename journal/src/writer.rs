//! The journal writer: recovery at open, append, group commit, segment rolling.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::JournalError;
use crate::format::{
    MAX_SEQ, RECORD_HEADER_LEN_BYTES, RecordFields, SEGMENT_FILE_SUFFIX, SEGMENT_HEADER_LEN_BYTES,
    SegmentHeader, align_up, check_segment_size, encode_record_header, max_payload_bytes,
    seq_file_name,
};
use crate::fsutil::{create_dir, fsync_dir};
use crate::preparer::{PreparedSegment, Preparer, remove_leftover_prepared_files};
use crate::scan::{JournalScan, SegmentInfo, Truncation, scan_journal};
use crate::storage::{OsStorage, SegmentFile, Storage};

/// Name of the lock file that keeps a second writer out of a journal directory.
pub const LOCK_FILE_NAME: &str = "journal.lock";

/// What `commit` guarantees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Commit only marks the batch: records are in the page cache and survive a crash of the
    /// process, not of the machine.
    None,
    /// Commit msyncs the bytes written since the previous commit: records survive power loss.
    Fsync,
}

/// How the writer lays out and syncs segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// Size of each new segment file. A multiple of 8 in 512 B ..= 1 TiB; the largest payload
    /// is this minus 96 bytes (segment header and record header).
    pub segment_size_bytes: u64,
    pub durability: Durability,
}

impl JournalConfig {
    /// 64 MiB: a roll every few hundred thousand typical inputs, and a quick scan at open.
    pub const DEFAULT_SEGMENT_SIZE_BYTES: u64 = 64 * 1024 * 1024;

    fn validate(&self) -> Result<(), JournalError> {
        check_segment_size(self.segment_size_bytes)
            .map_err(|what| JournalError::InvalidConfig { what })
    }
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            segment_size_bytes: Self::DEFAULT_SEGMENT_SIZE_BYTES,
            durability: Durability::Fsync,
        }
    }
}

/// Where the journal must start, checked when the writer opens it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedStart {
    /// The first sequence the journal must hold (1 for a fresh system). A journal that starts
    /// earlier is accepted: it holds more history than needed.
    pub expected_first_seq: u64,
    /// A snapshot covers every sequence up to and including this one, so the journal may start
    /// anywhere up to this + 1 (its older segments may have been pruned).
    pub allow_start_after: Option<u64>,
}

impl ExpectedStart {
    /// A fresh system: the journal must start at sequence 1.
    pub const FRESH: ExpectedStart = ExpectedStart {
        expected_first_seq: 1,
        allow_start_after: None,
    };

    /// Recovery from a snapshot taken at `snapshot_seq`.
    pub fn after_snapshot(snapshot_seq: u64) -> ExpectedStart {
        ExpectedStart {
            expected_first_seq: 1,
            allow_start_after: Some(snapshot_seq),
        }
    }

    /// The latest first sequence acceptable; an empty journal starts here.
    pub fn latest_start(&self) -> u64 {
        let after_snapshot = self
            .allow_start_after
            .map_or(0, |snapshot_seq| snapshot_seq.saturating_add(1));
        self.expected_first_seq.max(after_snapshot)
    }
}

impl Default for ExpectedStart {
    fn default() -> Self {
        ExpectedStart::FRESH
    }
}

/// What the writer found and did when it opened the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files found and validated (0 for a new journal).
    pub segments: u32,
    /// Valid records found.
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub last_timestamp_ns: Option<u64>,
    /// The torn tail that was cut, if any.
    pub truncated: Option<Truncation>,
}

impl RecoveryReport {
    fn from_scan(scan: &JournalScan) -> RecoveryReport {
        RecoveryReport {
            segments: u32::try_from(scan.segments.len()).unwrap_or(u32::MAX),
            records: scan.records,
            first_seq: scan.first_seq,
            last_seq: scan.last_seq,
            last_timestamp_ns: scan.last_timestamp_ns,
            truncated: scan.torn.clone(),
        }
    }
}

/// How segment rolls went: a roll that had to prepare its segment synchronously waited on
/// the file system (creating, sizing and touching a whole segment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RollStats {
    /// Rolls to a new segment since open.
    pub rolls: u64,
    /// Of those, how many found no segment prepared in the background.
    pub prepared_synchronously: u64,
}

/// The segment being appended to, mapped writable.
struct ActiveSegment {
    path: PathBuf,
    size_bytes: u64,
    segment: SegmentFile,
    /// Where the next record goes. Every byte from here to the end of the segment is zero.
    write_offset: u64,
    /// Bytes before this are msynced (maintained under `Durability::Fsync` only).
    flushed_offset: u64,
}

/// The single writer of a journal directory.
///
/// Records become visible to readers as soon as `append` returns; they are durable (under the
/// configured `Durability`) once `commit` returns a sequence at or above theirs. After an I/O
/// error in `append` or `commit` the writer refuses all further work (`WriterFailed`): a failed
/// msync leaves the file in an unknown state, so it is never retried.
pub struct JournalWriter {
    dir: PathBuf,
    config: JournalConfig,
    /// Every file-system call but the lock and directory listings goes through it; `append`
    /// does not call it (it writes into the map).
    storage: Arc<dyn Storage>,
    active: ActiveSegment,
    next_seq: u64,
    last_committed_seq: u64,
    preparer: Preparer,
    roll_stats: RollStats,
    failed: bool,
    /// Holds the directory's lock until the writer is dropped.
    _lock: File,
}

impl JournalWriter {
    /// Opens the journal in `dir` for a fresh system (it must start at sequence 1), creating
    /// the directory if needed, and recovers it: see [`JournalWriter::open_with_start`].
    pub fn open(
        dir: &Path,
        config: JournalConfig,
    ) -> Result<(JournalWriter, RecoveryReport), JournalError> {
        JournalWriter::open_with_start(dir, config, ExpectedStart::FRESH)
    }

    /// Opens and recovers the journal in `dir`: takes the directory's lock, validates every
    /// segment and record, cuts a torn tail of the newest segment (zeroing it, extending a
    /// short file back to size), refuses corruption and missing segments, and checks that the
    /// journal starts where `start` allows. Appending continues after the last valid record, in
    /// the newest segment, remapped writable. An empty directory gets its first segment at
    /// `start.latest_start()`.
    pub fn open_with_start(
        dir: &Path,
        config: JournalConfig,
        start: ExpectedStart,
    ) -> Result<(JournalWriter, RecoveryReport), JournalError> {
        JournalWriter::open_with_storage(dir, config, start, Arc::new(OsStorage))
    }

    /// [`JournalWriter::open_with_start`] with every file-system call (but the lock and
    /// directory listings) made through `storage`, for the writer's whole life: a
    /// [`crate::FaultyStorage`] in tests, [`OsStorage`] otherwise.
    pub fn open_with_storage(
        dir: &Path,
        config: JournalConfig,
        start: ExpectedStart,
        storage: Arc<dyn Storage>,
    ) -> Result<(JournalWriter, RecoveryReport), JournalError> {
        config.validate()?;
        if start.expected_first_seq == 0 || start.latest_start() > MAX_SEQ {
            let what = format!("the journal cannot start at seq {}", start.latest_start());
            return Err(JournalError::InvalidArgument { what });
        }
        let fsync = config.durability == Durability::Fsync;
        create_dir(&*storage, dir, fsync)?;
        let lock = lock_journal_dir(dir)?;
        remove_leftover_prepared_files(&*storage, dir)?;
        let scan = scan_journal(&*storage, dir)?;
        check_start(&scan, &start)?;
        let mut preparer =
            Preparer::start(Arc::clone(&storage), dir, config.segment_size_bytes, fsync)?;
        let (active, next_seq) = match (scan.segments.last(), scan.next_seq) {
            (Some(last), Some(next_seq)) => (
                reopen_newest_segment(&*storage, dir, last, &scan, fsync)?,
                next_seq,
            ),
            _ => {
                let first_seq = start.latest_start();
                let (prepared, _) = preparer.take()?;
                let active = install_segment(&*storage, dir, prepared, first_seq, fsync)?;
                (active, first_seq)
            }
        };
        preparer.request();
        let writer = JournalWriter {
            dir: dir.to_path_buf(),
            config,
            storage,
            active,
            next_seq,
            last_committed_seq: next_seq - 1,
            preparer,
            roll_stats: RollStats::default(),
            failed: false,
            _lock: lock,
        };
        Ok((writer, RecoveryReport::from_scan(&scan)))
    }

    /// The sequence the next `append` must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The last sequence made durable by `commit` (after open: the last record recovered;
    /// 0 for a journal that starts at 1 and holds nothing).
    pub fn last_committed_seq(&self) -> u64 {
        self.last_committed_seq
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> JournalConfig {
        self.config
    }

    /// How rolls to new segments went since open.
    pub fn roll_stats(&self) -> RollStats {
        self.roll_stats
    }

    /// The largest payload `append` accepts.
    pub fn max_payload_bytes(&self) -> u64 {
        max_payload_bytes(self.config.segment_size_bytes)
    }

    /// Appends one record; `seq` must equal `next_seq()`. The record is visible to readers on
    /// return and durable after the next `commit`. Rolls to a new segment when the record does
    /// not fit in the current one.
    pub fn append(
        &mut self,
        seq: u64,
        timestamp_ns: u64,
        kind: u16,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        self.check_usable()?;
        if seq != self.next_seq {
            return Err(JournalError::SequenceMismatch {
                expected: self.next_seq,
                got: seq,
            });
        }
        if seq >= MAX_SEQ {
            let what = format!("seq {seq}: the sequence space (up to {MAX_SEQ}) is exhausted");
            return Err(JournalError::InvalidArgument { what });
        }
        let total_len = self.record_total_len(payload)?;
        let padded_len_bytes = align_up(u64::from(total_len));
        if self.active.write_offset + padded_len_bytes > self.active.size_bytes {
            let rolled = self.roll();
            self.fail_on_error(rolled)?;
        }
        // Tells recovery which records were still uncommitted when this one was written.
        let uncommitted_before =
            u32::try_from(seq - 1 - self.last_committed_seq).unwrap_or(u32::MAX);
        let fields = RecordFields {
            seq,
            timestamp_ns,
            kind,
            uncommitted_before,
        };
        self.active.write_record(&fields, payload, total_len);
        self.next_seq = seq + 1;
        Ok(())
    }

    /// Ends a batch (group commit). Under `Fsync` msyncs everything appended since the last
    /// commit, and an msync error is returned (and fails the writer); under `None` only marks
    /// the batch. Returns the last committed sequence (0 if none).
    pub fn commit(&mut self) -> Result<u64, JournalError> {
        self.check_usable()?;
        if self.config.durability == Durability::Fsync {
            let flushed = self.flush_active();
            self.fail_on_error(flushed)?;
        }
        self.last_committed_seq = self.next_seq - 1;
        Ok(self.last_committed_seq)
    }

    fn check_usable(&self) -> Result<(), JournalError> {
        if self.failed {
            return Err(JournalError::WriterFailed {
                dir: self.dir.clone(),
            });
        }
        Ok(())
    }

    fn fail_on_error<T>(&mut self, result: Result<T, JournalError>) -> Result<T, JournalError> {
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn record_total_len(&self, payload: &[u8]) -> Result<u32, JournalError> {
        let payload_bytes = payload.len() as u64;
        let max_payload_bytes = self.max_payload_bytes();
        if payload_bytes > max_payload_bytes {
            return Err(JournalError::RecordTooLarge {
                payload_bytes,
                max_payload_bytes,
            });
        }
        // max_payload_bytes keeps the total within u32.
        u32::try_from(RECORD_HEADER_LEN_BYTES + payload_bytes).map_err(|_| {
            JournalError::RecordTooLarge {
                payload_bytes,
                max_payload_bytes,
            }
        })
    }

    /// Moves to a fresh segment whose first record will be `next_seq`.
    fn roll(&mut self) -> Result<(), JournalError> {
        let fsync = self.config.durability == Durability::Fsync;
        if fsync {
            // Make the old segment durable before leaving it, so that after a power loss a
            // torn tail can only be in the newest segment.
            self.flush_active()?;
        }
        let (prepared, from_helper) = self.preparer.take()?;
        self.active = install_segment(&*self.storage, &self.dir, prepared, self.next_seq, fsync)?;
        self.roll_stats.rolls += 1;
        self.roll_stats.prepared_synchronously += u64::from(!from_helper);
        self.preparer.request();
        Ok(())
    }

    fn flush_active(&mut self) -> Result<(), JournalError> {
        self.active.flush_pending(&*self.storage)
    }
}

impl ActiveSegment {
    /// Copies a record into the map: header bytes [4, 32) and payload first, then the length
    /// with a release store, so a reader that sees the length sees the whole record.
    fn write_record(&mut self, fields: &RecordFields, payload: &[u8], total_len: u32) {
        let start = self.write_offset as usize;
        let end = start + total_len as usize;
        assert!(
            align_up(end as u64) <= self.size_bytes,
            "record must fit the segment"
        );
        assert!(start.is_multiple_of(8), "records are 8-byte aligned");
        // The bytes past the write offset are zero (fresh file, or zeroed by recovery), so
        // the padding needs no writing and readers see a zero length until the store below.
        let bytes = self.segment.bytes_mut();
        debug_assert!(bytes[start..end].iter().all(|byte| *byte == 0));
        let header = encode_record_header(fields, payload, total_len);
        bytes[start + 4..start + RECORD_HEADER_LEN_BYTES as usize].copy_from_slice(&header[4..]);
        bytes[start + RECORD_HEADER_LEN_BYTES as usize..end].copy_from_slice(payload);
        // Publish: readers load the length atomically (format::load_total_len).
        self.segment.store_u32_release(start, total_len);
        self.write_offset += align_up(u64::from(total_len));
    }

    /// msyncs the bytes written since the last flush.
    fn flush_pending(&mut self, storage: &dyn Storage) -> Result<(), JournalError> {
        if self.write_offset > self.flushed_offset {
            let len_bytes = self.write_offset - self.flushed_offset;
            storage
                .flush(&self.segment, self.flushed_offset, len_bytes)
                .map_err(JournalError::io(&self.path))?;
            self.flushed_offset = self.write_offset;
        }
        Ok(())
    }
}

fn lock_journal_dir(dir: &Path) -> Result<File, JournalError> {
    let path = dir.join(LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(JournalError::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(JournalError::Locked { path }),
        Err(TryLockError::Error(source)) => Err(JournalError::Io { path, source }),
    }
}

/// Refuses a journal that starts after the latest acceptable start.
fn check_start(scan: &JournalScan, start: &ExpectedStart) -> Result<(), JournalError> {
    let Some(first) = scan.segments.first() else {
        return Ok(());
    };
    let latest_start = start.latest_start();
    if first.first_seq > latest_start {
        return Err(JournalError::MissingSegment {
            segment: first.path.clone(),
            expected_seq: latest_start,
            found_seq: first.first_seq,
        });
    }
    Ok(())
}

/// Remaps the newest segment writable, cutting its torn tail and restoring its size.
fn reopen_newest_segment(
    storage: &dyn Storage,
    dir: &Path,
    info: &SegmentInfo,
    scan: &JournalScan,
    fsync: bool,
) -> Result<ActiveSegment, JournalError> {
    let path = &info.path;
    // This writer holds the directory lock, so no other writer maps the file (the contract of
    // `SegmentFile`); `open_segment` extends a short file back to its size.
    let mut segment = storage
        .open_segment(path, info.size_bytes)
        .map_err(JournalError::io(path))?;
    if let Some(cut) = &scan.torn {
        let range = cut.offset as usize..(cut.offset + cut.bytes_cut) as usize;
        let Some(torn_bytes) = segment.bytes_mut().get_mut(range) else {
            let what = "torn tail outside the segment".to_string();
            return Err(JournalError::corrupt(path, cut.offset, cut.seq, what));
        };
        torn_bytes.fill(0);
    }
    // Under Fsync everything recovered counts as committed, so it must be on disk now (a
    // process crash may have left it only in the page cache); a cut must be durable in any
    // case, or stale bytes could reappear after the next power loss.
    if fsync || scan.torn.is_some() {
        storage
            .flush(&segment, 0, segment.len_bytes())
            .map_err(JournalError::io(path))?;
        storage
            .sync_file(&segment)
            .map_err(JournalError::io(path))?;
        fsync_dir(storage, dir)?;
    }
    Ok(ActiveSegment {
        path: path.clone(),
        size_bytes: info.size_bytes,
        segment,
        write_offset: scan.end_offset,
        flushed_offset: scan.end_offset,
    })
}

/// Turns a prepared file into the segment starting at `first_seq`: header, then rename.
fn install_segment(
    storage: &dyn Storage,
    dir: &Path,
    prepared: PreparedSegment,
    first_seq: u64,
    fsync: bool,
) -> Result<ActiveSegment, JournalError> {
    let PreparedSegment {
        path: prepared_path,
        mut segment,
    } = prepared;
    let size_bytes = segment.len_bytes();
    let header = SegmentHeader {
        first_seq,
        segment_size_bytes: size_bytes,
    };
    segment.bytes_mut()[..SEGMENT_HEADER_LEN_BYTES as usize].copy_from_slice(&header.encode());
    if fsync {
        // The header must be on disk before the name is, or a power loss could leave a named
        // segment with a zero header.
        storage
            .flush(&segment, 0, SEGMENT_HEADER_LEN_BYTES)
            .map_err(JournalError::io(&prepared_path))?;
    }
    let path = dir.join(seq_file_name(first_seq, SEGMENT_FILE_SUFFIX));
    storage
        .rename(&prepared_path, &path)
        .map_err(JournalError::io(&path))?;
    if fsync {
        fsync_dir(storage, dir)?;
    }
    Ok(ActiveSegment {
        path,
        size_bytes,
        segment,
        write_offset: SEGMENT_HEADER_LEN_BYTES,
        flushed_offset: SEGMENT_HEADER_LEN_BYTES,
    })
}
