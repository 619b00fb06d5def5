//! The one error type of the crate. Every variant names where the problem is (file, byte offset,
//! sequence) so that an operator reading a log line knows what to look at.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in the journal and the snapshot store.
#[derive(Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// A file-system call failed on `path`.
    Io { path: PathBuf, source: io::Error },
    /// A segment holds bytes that are not a valid journal at `offset` (bytes from the start of the
    /// segment file), where the record with sequence `seq` was expected. Open refuses such a
    /// journal: nothing is skipped or cut silently.
    Corrupt {
        segment: PathBuf,
        offset: u64,
        seq: u64,
        what: String,
    },
    /// Records from `expected_seq` are needed, but the next segment present, `segment`, starts at
    /// `found_seq`: the segment (or segments) in between is missing.
    MissingSegment {
        segment: PathBuf,
        expected_seq: u64,
        found_seq: u64,
    },
    /// `append` was given a sequence other than `next_seq()`.
    SequenceMismatch { expected: u64, got: u64 },
    /// The payload does not fit an empty segment of the configured size.
    RecordTooLarge {
        payload_bytes: u64,
        max_payload_bytes: u64,
    },
    /// A reader was asked for a sequence older than the first record the journal still holds.
    SeqBeforeStart {
        dir: PathBuf,
        seq: u64,
        first_seq: u64,
    },
    /// A snapshot file is damaged or is not a snapshot.
    SnapshotCorrupt { path: PathBuf, what: String },
    /// Another writer holds the journal's lock file.
    Locked { path: PathBuf },
    /// An earlier I/O error (typically a failed msync) left the writer in an unknown state; it
    /// refuses all further work. The caller must stop and reopen the journal.
    WriterFailed { dir: PathBuf },
    /// The configuration cannot be used.
    InvalidConfig { what: String },
    /// An argument cannot be used.
    InvalidArgument { what: String },
}

impl JournalError {
    /// An `Io` error for `path`, for use with `map_err`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
        move |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A `Corrupt` error.
    pub(crate) fn corrupt(segment: &Path, offset: u64, seq: u64, what: impl Into<String>) -> Self {
        JournalError::Corrupt {
            segment: segment.to_path_buf(),
            offset,
            seq,
            what: what.into(),
        }
    }

    /// A `SnapshotCorrupt` error.
    pub(crate) fn snapshot_corrupt(path: &Path, what: impl Into<String>) -> Self {
        JournalError::SnapshotCorrupt {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io { path, source } => {
                write!(f, "I/O error on {}: {source}", path.display())
            }
            JournalError::Corrupt {
                segment,
                offset,
                seq,
                what,
            } => write!(
                f,
                "corrupt journal segment {} at byte offset {offset} (where seq {seq} was \
                 expected): {what}",
                segment.display()
            ),
            JournalError::MissingSegment {
                segment,
                expected_seq,
                found_seq,
            } => write!(
                f,
                "missing journal segment: records from seq {expected_seq} are needed, but the \
                 next segment, {}, starts at seq {found_seq}",
                segment.display()
            ),
            JournalError::SequenceMismatch { expected, got } => write!(
                f,
                "append out of sequence: the journal expects seq {expected}, got {got}"
            ),
            JournalError::RecordTooLarge {
                payload_bytes,
                max_payload_bytes,
            } => write!(
                f,
                "record too large: payload of {payload_bytes} bytes, but at most \
                 {max_payload_bytes} bytes fit in an empty segment"
            ),
            JournalError::SeqBeforeStart {
                dir,
                seq,
                first_seq,
            } => write!(
                f,
                "seq {seq} is before the start of journal {}, which begins at seq {first_seq}",
                dir.display()
            ),
            JournalError::SnapshotCorrupt { path, what } => {
                write!(f, "corrupt snapshot {}: {what}", path.display())
            }
            JournalError::Locked { path } => write!(
                f,
                "journal is locked by another writer (lock file {})",
                path.display()
            ),
            JournalError::WriterFailed { dir } => write!(
                f,
                "journal writer for {} failed earlier and refuses further work; reopen it",
                dir.display()
            ),
            JournalError::InvalidConfig { what } => write!(f, "invalid journal config: {what}"),
            JournalError::InvalidArgument { what } => write!(f, "invalid argument: {what}"),
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_place() {
        let corrupt = JournalError::corrupt(Path::new("/data/j/7.seg"), 4096, 42, "checksum");
        let message = corrupt.to_string();
        for part in ["/data/j/7.seg", "offset 4096", "seq 42", "checksum"] {
            assert!(message.contains(part), "{message}");
        }
        let missing = JournalError::MissingSegment {
            segment: PathBuf::from("/data/j/9.seg"),
            expected_seq: 5,
            found_seq: 9,
        };
        let message = missing.to_string();
        for part in ["/data/j/9.seg", "seq 5", "seq 9"] {
            assert!(message.contains(part), "{message}");
        }
        let io = JournalError::io(Path::new("/x"))(io::Error::other("disk on fire"));
        assert!(std::error::Error::source(&io).is_some());
        assert!(io.to_string().contains("/x") && io.to_string().contains("disk on fire"));
    }
}
