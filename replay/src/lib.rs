//! # sluice-replay
//!
//! Operator tools over a Sluice data directory (`DATA/journal` and `DATA/snapshots`), run without
//! the server and with the very engine code the server runs: the node's one replayer
//! (`sluice_node::Replayer`), which feeds the journal's bytes to `Engine::apply_record`. `sluice replay …` is a thin CLI
//! over this crate:
//!
//! - [`verify`]: every segment, record and snapshot is checked; the first problem is named by
//!   file, byte offset and sequence.
//! - [`dump`]: the journaled inputs, decoded, one per line (text or JSON lines), filtered by
//!   sequence, time, template or merchant; [`trace`] follows one order through every input and
//!   output that concerns it.
//! - [`state`]: the state at a sequence or time (hash, counts, ledger, balances, channel health).
//! - [`snapshot`]: writes a snapshot offline so that a server restarts faster.
//! - [`check`]: determinism on real data: replays from genesis and from every snapshot agree
//!   with each other and with the hashes the snapshots recorded (state and output bytes).
//! - [`bench`]: replay speed of the engine alone.
//!
//! Readers take no lock: every command may run beside a live server (which may still be
//! appending), except `snapshot`, which refuses while a server holds the journal unless told
//! otherwise (see [`snapshot::write_snapshot`]).

#![forbid(unsafe_code)]

pub mod backtest;
pub mod backtest_report;
pub mod bench;
pub mod check;
pub mod dump;
pub mod fields;
pub mod progress;
pub mod replayer;
pub mod snapshot;
pub mod state;
pub mod state_channels;
pub use sluice_node::time;
pub mod trace;
pub mod verify;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use sluice_journal::JournalReader;

pub use replayer::Start;

/// An error of a replay command: a sentence for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: String,
    /// The output was closed by its reader (e.g. `sluice replay dump | head`): not a failure.
    pub broken_pipe: bool,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            broken_pipe: false,
        }
    }

    /// An error writing the command's output.
    pub fn output(error: io::Error) -> Error {
        Error {
            broken_pipe: error.kind() == io::ErrorKind::BrokenPipe,
            message: format!("writing the output: {error}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<sluice_journal::JournalError> for Error {
    fn from(e: sluice_journal::JournalError) -> Error {
        Error::new(e.to_string())
    }
}

impl From<sluice_node::Error> for Error {
    fn from(e: sluice_node::Error) -> Error {
        Error::new(e.0)
    }
}

/// A Sluice data directory, opened read-only.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
    pub journal_dir: PathBuf,
    pub snapshots_dir: PathBuf,
    /// Archived journal segments (`[journal] covered_segments = "archive"`), read before the
    /// journal directory's own as if they were there; `DATA/archive` unless set otherwise.
    pub archive_dir: PathBuf,
    /// Show progress bars on stderr (the CLI turns this off under `--json` or without a terminal).
    pub progress: bool,
}

impl DataDir {
    /// Checks that `root` holds a journal directory. Nothing is created or locked.
    pub fn open(root: &Path) -> Result<DataDir, Error> {
        let journal_dir = sluice_journal::journal_dir(root);
        if !journal_dir.is_dir() {
            return Err(Error::new(format!(
                "{} is not a Sluice data directory: {} does not exist",
                root.display(),
                journal_dir.display()
            )));
        }
        Ok(DataDir {
            root: root.to_path_buf(),
            journal_dir,
            snapshots_dir: sluice_journal::snapshots_dir(root),
            archive_dir: sluice_journal::default_archive_dir(root),
            progress: false,
        })
    }

    /// The same directory with its archived segments in `archive_dir` (`[journal]
    /// archive_dir` configured elsewhere than `DATA/archive`).
    pub fn with_archive(mut self, archive_dir: &Path) -> DataDir {
        self.archive_dir = archive_dir.to_path_buf();
        self
    }

    /// The same directory with progress bars on or off.
    pub fn with_progress(mut self, progress: bool) -> DataDir {
        self.progress = progress;
        self
    }

    /// Maps the journal's segments read-only, the archived ones first (each decompressed when
    /// a read reaches it).
    pub fn reader(&self) -> Result<JournalReader, Error> {
        Ok(JournalReader::open_with_archive(
            &self.journal_dir,
            &self.archive_dir,
        )?)
    }

    /// The snapshot store, if `DATA/snapshots` exists (it is not created here).
    pub fn snapshot_store(&self) -> Result<Option<sluice_journal::SnapshotStore>, Error> {
        if !self.snapshots_dir.is_dir() {
            return Ok(None);
        }
        Ok(Some(sluice_journal::SnapshotStore::new(
            &self.snapshots_dir,
        )?))
    }
}

/// The last record of a journal: its sequence and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalEnd {
    pub seq: u64,
    pub timestamp_ns: u64,
}

/// The journal's last readable record, found by reading only the newest non-empty segment.
/// `None` for a journal without records.
pub fn journal_end(reader: &JournalReader) -> Result<Option<JournalEnd>, Error> {
    // Newest segment first; an empty newest segment (just rolled) sends us one further back.
    for info in reader.segments().iter().rev() {
        let mut last = None;
        for record in reader.iter_from(info.first_seq) {
            let record = record?;
            last = Some(JournalEnd {
                seq: record.seq,
                timestamp_ns: record.timestamp_ns,
            });
        }
        if last.is_some() {
            return Ok(last);
        }
    }
    Ok(None)
}

/// The file name of a path, for messages and reports (the whole path if it has none).
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The first record of each non-empty segment: `(seq, timestamp_ns)`, oldest first.
fn segment_starts(reader: &JournalReader) -> Result<Vec<(u64, u64)>, Error> {
    let mut starts = Vec::with_capacity(reader.segments().len());
    for info in reader.segments() {
        if let Some(record) = reader.iter_from(info.first_seq).next() {
            let record = record?;
            if record.segment_first_seq == info.first_seq {
                starts.push((record.seq, record.timestamp_ns));
            }
        }
    }
    Ok(starts)
}

/// The last record stamped at or before `timestamp_ns` (event time never goes back, so a binary
/// search over the segments' first records and one segment's scan find it). `None` when every
/// record is later.
pub fn last_seq_at_or_before(
    reader: &JournalReader,
    timestamp_ns: u64,
) -> Result<Option<u64>, Error> {
    let starts = segment_starts(reader)?;
    let following = starts.partition_point(|(_, ts)| *ts <= timestamp_ns);
    let Some(&(from_seq, _)) = following.checked_sub(1).and_then(|i| starts.get(i)) else {
        return Ok(None);
    };
    let mut last = None;
    for record in reader.iter_from(from_seq) {
        let record = record?;
        if record.timestamp_ns > timestamp_ns {
            break;
        }
        last = Some(record.seq);
    }
    Ok(last)
}

/// The first record stamped at or after `timestamp_ns`; `None` when every record is earlier.
pub fn first_seq_at_or_after(
    reader: &JournalReader,
    timestamp_ns: u64,
) -> Result<Option<u64>, Error> {
    let starts = segment_starts(reader)?;
    let following = starts.partition_point(|(_, ts)| *ts < timestamp_ns);
    let Some(&(from_seq, _)) = starts.get(following.saturating_sub(1)) else {
        return Ok(None);
    };
    for record in reader.iter_from(from_seq) {
        let record = record?;
        if record.timestamp_ns >= timestamp_ns {
            return Ok(Some(record.seq));
        }
    }
    Ok(None)
}
