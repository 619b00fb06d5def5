//! Offline checks and housekeeping: `verify` and `prune_segments`.

use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::fsutil::fsync_dir;
use crate::scan::{SegmentInfo, Truncation, list_segment_files, scan_journal};
use crate::storage::{OsStorage, Storage};

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: u32,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub first_timestamp_ns: Option<u64>,
    pub last_timestamp_ns: Option<u64>,
    /// A torn tail that the next writer open would cut; `verify` leaves it in place.
    pub torn_tail: Option<Truncation>,
    /// The segments, oldest first.
    pub segment_infos: Vec<SegmentInfo>,
}

/// Checks every segment and every record of the journal in `dir`: headers, checksums,
/// sequence continuity within and across segments, and what follows the last record. Returns
/// the first problem as an error naming segment, offset and sequence. Modifies nothing, and
/// may run beside a live writer (a record being written then may show up as a torn tail).
pub fn verify(dir: &Path) -> Result<VerifyReport, JournalError> {
    let scan = scan_journal(&OsStorage, dir)?;
    Ok(VerifyReport {
        segments: u32::try_from(scan.segments.len()).unwrap_or(u32::MAX),
        records: scan.records,
        first_seq: scan.first_seq,
        last_seq: scan.last_seq,
        first_timestamp_ns: scan.first_timestamp_ns,
        last_timestamp_ns: scan.last_timestamp_ns,
        torn_tail: scan.torn,
        segment_infos: scan.segments,
    })
}

/// The segment files of the journal in `dir` (`<first_seq>.seg`), sorted by first sequence,
/// from their names alone; none if `dir` does not exist.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    list_segment_files(dir)
}

/// Deletes the oldest segments whose every record is at or below `covered_through_seq`
/// (typically the sequence of a verified snapshot), oldest first, and never the newest
/// segment. A segment's records end where the next segment's first sequence begins, so only
/// file names are read. Safe beside a live writer, which only touches the newest segment, and
/// beside readers, whose maps outlive the deleted names. Returns the deleted paths.
pub fn prune_segments(dir: &Path, covered_through_seq: u64) -> Result<Vec<PathBuf>, JournalError> {
    let segments = list_segment_files(dir)?;
    let mut deleted = Vec::new();
    for pair in segments.windows(2) {
        let [(_, path), (next_first_seq, _)] = pair else {
            break;
        };
        // The segment holds sequences up to next_first_seq - 1.
        if next_first_seq.saturating_sub(1) > covered_through_seq {
            break;
        }
        OsStorage
            .remove_file(path)
            .map_err(JournalError::io(path))?;
        deleted.push(path.clone());
    }
    if !deleted.is_empty() {
        fsync_dir(&OsStorage, dir)?;
    }
    Ok(deleted)
}
