//! # sluice-journal
//!
//! The append-only, memory-mapped, segmented journal of Sluice's input events, and the store
//! of engine snapshots. It knows bytes, sequences and checksums, not payments. The full format
//! is in `docs/JOURNAL.md`; in short:
//!
//! - **Segments**: `<dir>/<first_seq, 20 digits>.seg`, each created at its full size by a
//!   background thread (pre-faulted, so rolling rarely waits) and mapped. A 64-byte header
//!   (magic `SLJRNL01`, version, first sequence, size, CRC32C) precedes the records.
//! - **Records**: 8-byte aligned; a 32-byte header (`total_len`, CRC32C, `seq`,
//!   `timestamp_ns`, `kind`, flags, `uncommitted_before`) then the payload. The writer copies
//!   everything else first and stores `total_len` last with a release store, so a reader sees
//!   a record only once it is complete. A zero `total_len` marks the written end.
//! - **Commit**: [`JournalWriter::commit`] ends a batch. Under [`Durability::Fsync`] it msyncs
//!   the batch and returns an msync error (after which the writer refuses all work); under
//!   [`Durability::None`] records survive a process crash but not a power loss.
//! - **Snapshots**: `<seq, 20 digits>.snap`, a checksummed header and payload, written to a
//!   temporary file, synced, renamed and the directory synced; loaded into a 16-byte aligned
//!   buffer for rkyv.
//!
//! ## Guarantees
//!
//! - After a crash of the process (any durability) or of the machine (under `Fsync`), every
//!   record at or below the sequence that `commit` returned is found, byte for byte, by the
//!   next open. Nothing is skipped silently: damage is cut only as a reported torn tail, or
//!   refused.
//! - Sequences are continuous: `append` takes exactly [`JournalWriter::next_seq`], and
//!   recovery, [`verify`] and [`JournalReader`] refuse a gap, a repeat or a missing segment.
//! - Recovery cuts only a torn tail: damage in the newest segment after which no record proves
//!   that the damaged record had been committed (each record carries how many records before
//!   it were still uncommitted when it was written). Damage anywhere else is
//!   [`JournalError::Corrupt`], naming the segment file, the byte offset and the sequence
//!   expected there.
//! - Corrupt files never cause a panic: every length and offset read from disk is checked.
//! - One writer per directory, enforced with a lock file; any number of read-only readers.
//!
//! ## Example
//!
//! ```
//! use sluice_journal::{Durability, JournalConfig, JournalReader, JournalWriter};
//!
//! # fn main() -> Result<(), sluice_journal::JournalError> {
//! let dir = std::env::temp_dir().join(format!("sluice-journal-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let config = JournalConfig { segment_size_bytes: 1 << 20, durability: Durability::Fsync };
//! let (mut writer, report) = JournalWriter::open(&dir, config)?;
//! assert_eq!((report.records, writer.next_seq()), (0, 1));
//! writer.append(1, 1_700_000_000_000_000_000, 7, b"first input")?;
//! writer.append(2, 1_700_000_000_000_000_100, 7, b"second input")?;
//! assert_eq!(writer.commit()?, 2); // durable: replies for seq 1 and 2 may leave now
//!
//! let reader = JournalReader::open(&dir)?;
//! let payloads: Vec<Vec<u8>> = reader
//!     .iter_from(2)
//!     .map(|record| record.map(|record| record.payload.to_vec()))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(payloads, [b"second input".to_vec()]);
//! # drop(writer);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```
//!
//! Only 64-bit targets are supported: offsets and lengths are stored as u64 and converted to
//! `usize` for maps, which is lossless there.
//!
//! ## Storage
//!
//! Every file-system call that creates, maps, syncs, renames or removes a file goes through a
//! [`Storage`]: [`OsStorage`] by default, or one given to [`JournalWriter::open_with_storage`]
//! and [`SnapshotStore::with_storage`], such as a [`FaultyStorage`] that fails chosen calls.
//! All `unsafe` code of the crate is in that one module.

// Only the storage module may hold `unsafe` (maps and the atomic record length); it says why
// each block is sound.
#![deny(unsafe_code)]

mod archive;
mod error;
mod faults;
mod format;
mod fsutil;
mod maintenance;
mod preparer;
mod reader;
mod scan;
mod snapshot;
#[allow(unsafe_code)]
mod storage;
mod writer;

pub use archive::{
    ARCHIVE_FILE_SUFFIX, ARCHIVE_TEMP_SUFFIX, ArchivedSegment, archive_file_name, archive_segments,
    archive_segments_with_storage, default_archive_dir, list_archived_segments,
};
pub use error::JournalError;
pub use faults::{FaultKind, FaultyStorage};
pub use format::{
    MAX_SEGMENT_SIZE_BYTES, MAX_SEQ, MIN_SEGMENT_SIZE_BYTES, RECORD_ALIGN_BYTES,
    RECORD_HEADER_LEN_BYTES, SEGMENT_FILE_SUFFIX, SEGMENT_FORMAT_VERSION, SEGMENT_HEADER_LEN_BYTES,
    SEGMENT_MAGIC,
};
pub use maintenance::{VerifyReport, list_segments, prune_segments, verify};
pub use reader::{JournalReader, ReadPosition, RecordRef, Records};
pub use scan::{SegmentInfo, Truncation};
pub use snapshot::{
    LoadedSnapshot, PAYLOAD_ALIGN_BYTES, SNAPSHOT_FILE_SUFFIX, SNAPSHOT_FORMAT_VERSION,
    SNAPSHOT_HEADER_LEN_BYTES, SNAPSHOT_MAGIC, SNAPSHOT_TEMP_SUFFIX, SkippedSnapshots,
    SnapshotHeader, SnapshotInfo, SnapshotStore,
};
pub use storage::{OsStorage, ReadOnlyMap, SegmentFile, Storage};
pub use writer::{
    Durability, ExpectedStart, JournalConfig, JournalWriter, LOCK_FILE_NAME, RecoveryReport,
    RollStats,
};

/// Re-exported so callers name the same type as [`LoadedSnapshot::payload`].
pub use rkyv::util::AlignedVec;

use std::path::{Path, PathBuf};

// Stored u64 offsets and lengths become usize for maps and slices; lossless only on 64 bits.
const _: () = assert!(
    usize::BITS == 64,
    "sluice-journal supports 64-bit targets only"
);

/// The journal directory inside a Sluice data directory: `DATA/journal`.
pub fn journal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("journal")
}

/// The snapshot directory inside a Sluice data directory: `DATA/snapshots`.
pub fn snapshots_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("snapshots")
}

/// The file name of the segment whose first record is `first_seq`.
pub fn segment_file_name(first_seq: u64) -> String {
    format::seq_file_name(first_seq, SEGMENT_FILE_SUFFIX)
}

/// The largest payload a journal with segments of `segment_size_bytes` accepts.
pub fn max_payload_bytes(segment_size_bytes: u64) -> u64 {
    format::max_payload_bytes(segment_size_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_can_move_to_their_threads() {
        assert_send::<JournalWriter>();
        assert_send_sync::<JournalReader>();
        assert_send_sync::<SnapshotStore>();
        assert_send_sync::<JournalError>();
        assert_send_sync::<FaultyStorage>();
    }
}
