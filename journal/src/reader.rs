//! Read-only, zero-copy access to a journal: iterate records from any sequence.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::archive::{archived_header, list_archived_segments, open_archived};
use crate::error::JournalError;
use crate::format::{Parsed, SEGMENT_HEADER_LEN_BYTES, parse_record};
use crate::scan::{
    MappedSegment, SegmentInfo, TailCheck, check_continuity, check_sequence, list_segment_files,
    open_segment,
};
use crate::storage::OsStorage;

/// One record, borrowed from the reader's map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub seq: u64,
    pub timestamp_ns: u64,
    /// The caller's tag (Sluice stores the SBE template id).
    pub kind: u16,
    pub payload: &'a [u8],
    /// First sequence of the segment holding the record (its file name).
    pub segment_first_seq: u64,
    /// Byte offset of the record from the start of its segment file.
    pub offset: u64,
}

/// A read-only view of a journal directory. It maps the segments present when it was opened
/// and never modifies them; it may run beside a live writer (in this or another process) and
/// sees each record once the writer has published it, up to the segments it mapped.
pub struct JournalReader {
    dir: PathBuf,
    infos: Vec<SegmentInfo>,
    segments: Vec<ReaderSegment>,
}

/// A segment as the reader holds it: mapped from the journal directory at open, or an archived
/// one, decompressed on first use (recovery opens a reader with the archive but reads only the
/// live segments; decompressing them all at open would cost it the whole archive).
enum ReaderSegment {
    Live(MappedSegment),
    Archived {
        info: SegmentInfo,
        mapped: OnceLock<Result<MappedSegment, JournalError>>,
    },
}

impl ReaderSegment {
    fn info(&self) -> &SegmentInfo {
        match self {
            ReaderSegment::Live(segment) => &segment.info,
            ReaderSegment::Archived { info, .. } => info,
        }
    }

    /// The segment's bytes, decompressing an archived one the first time.
    fn mapped(&self) -> Result<&MappedSegment, JournalError> {
        let (info, mapped) = match self {
            ReaderSegment::Live(segment) => return Ok(segment),
            ReaderSegment::Archived { info, mapped } => (info, mapped),
        };
        match mapped.get_or_init(|| open_archived(&info.path, info.first_seq)) {
            Ok(segment) => Ok(segment),
            // The first use returned the error itself; a later one gets its text.
            Err(error) => Err(JournalError::Io {
                path: info.path.clone(),
                source: io::Error::other(error.to_string()),
            }),
        }
    }
}

impl JournalReader {
    /// Maps every segment of `dir` read-only and checks their headers (not their records;
    /// that happens while iterating, or all at once in [`crate::verify`]).
    pub fn open(dir: &Path) -> Result<JournalReader, JournalError> {
        let files = list_segment_files(dir)?;
        let segment_count = files.len();
        let mut segments = Vec::with_capacity(segment_count);
        for (index, (name_seq, path)) in files.iter().enumerate() {
            let is_last = index + 1 == segment_count;
            let segment = open_segment(&OsStorage, path, *name_seq, is_last)?;
            segments.push(ReaderSegment::Live(segment));
        }
        Ok(JournalReader::with_segments(dir, segments))
    }

    /// `open`, with the segments archived in `archive_dir` (see [`crate::archive_segments`])
    /// that start before the journal directory's oldest segment read first, in sequence order,
    /// as if they were still in `dir`. A segment in both places is read from `dir`. Archived
    /// headers are checked at open; an archived segment is decompressed (into an unnamed
    /// temporary file, mapped) only when an iteration reaches it. A missing `archive_dir` holds
    /// no segments.
    pub fn open_with_archive(
        dir: &Path,
        archive_dir: &Path,
    ) -> Result<JournalReader, JournalError> {
        let live = JournalReader::open(dir)?;
        let live_first_seq = live.first_seq();
        let mut segments = Vec::new();
        for (name_seq, path) in list_archived_segments(archive_dir)? {
            if live_first_seq.is_some_and(|first_seq| name_seq >= first_seq) {
                break;
            }
            let header = archived_header(&path, name_seq)?;
            let info = SegmentInfo {
                path,
                first_seq: name_seq,
                size_bytes: header.segment_size_bytes,
                file_len_bytes: header.segment_size_bytes,
            };
            let mapped = OnceLock::new();
            segments.push(ReaderSegment::Archived { info, mapped });
        }
        segments.extend(live.segments);
        Ok(JournalReader::with_segments(dir, segments))
    }

    fn with_segments(dir: &Path, segments: Vec<ReaderSegment>) -> JournalReader {
        let infos = segments.iter().map(|s| s.info().clone()).collect();
        JournalReader {
            dir: dir.to_path_buf(),
            infos,
            segments,
        }
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.infos
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first sequence of the oldest segment (the journal's start), if any.
    pub fn first_seq(&self) -> Option<u64> {
        self.infos.first().map(|info| info.first_seq)
    }

    /// Records from `seq` on, in order, across segments. Ends cleanly at the written end (and
    /// at a torn tail, which `verify` reports). A damaged record, a sequence gap or a missing
    /// segment yields one `Err` naming the place, and then the iteration ends. A `seq` before
    /// the journal's start yields `SeqBeforeStart`; one past its end yields nothing.
    pub fn iter_from(&self, seq: u64) -> Records<'_> {
        self.iter_from_position(seq)
    }

    /// Records from `position` on (taken from [`Records::position`] of an earlier iteration over
    /// this reader). At the written end it ends as `iter_from` does; once the writer has written
    /// more, a new `records_at` at the same position reads on, into segments created since the
    /// reader was opened after a [`JournalReader::refresh`].
    pub fn records_at(&self, position: ReadPosition) -> Records<'_> {
        Records {
            reader: self,
            segment_index: position.segment_index,
            offset: position.offset,
            expected_seq: position.expected_seq,
            from_seq: position.from_seq,
            done: self.segments.is_empty(),
            pending_error: None,
        }
    }

    /// Maps the segments created since this reader was opened or last refreshed (a live writer
    /// rolls to new ones); returns how many were added. Segments deleted meanwhile stay mapped.
    pub fn refresh(&mut self) -> Result<usize, JournalError> {
        let known = self.infos.last().map(|info| info.first_seq);
        let files = list_segment_files(&self.dir)?;
        let new: Vec<_> = files
            .iter()
            .filter(|(first_seq, _)| known.is_none_or(|k| *first_seq > k))
            .collect();
        for (index, (name_seq, path)) in new.iter().enumerate() {
            let segment = open_segment(&OsStorage, path, *name_seq, index + 1 == new.len())?;
            self.infos.push(segment.info.clone());
            self.segments.push(ReaderSegment::Live(segment));
        }
        Ok(new.len())
    }

    fn iter_from_position(&self, seq: u64) -> Records<'_> {
        let mut records = Records {
            reader: self,
            segment_index: 0,
            offset: SEGMENT_HEADER_LEN_BYTES,
            expected_seq: 0,
            from_seq: seq,
            done: false,
            pending_error: None,
        };
        // The segment holding `seq` is the last one whose first sequence is at or below it.
        let following = self.infos.partition_point(|info| info.first_seq <= seq);
        match following.checked_sub(1) {
            Some(index) => {
                records.segment_index = index;
                records.expected_seq = self.infos[index].first_seq;
            }
            None => match self.infos.first() {
                Some(first) => {
                    records.pending_error = Some(JournalError::SeqBeforeStart {
                        dir: self.dir.clone(),
                        seq,
                        first_seq: first.first_seq,
                    });
                }
                None => records.done = true,
            },
        }
        records
    }
}

/// Where an iteration stands: the next record's place and sequence. A later [`Records`] can
/// resume there ([`JournalReader::records_at`]) without scanning from a segment's start, which is
/// how a follower tails a live journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadPosition {
    segment_index: usize,
    offset: u64,
    /// The sequence of the record at `offset`.
    expected_seq: u64,
    /// Records below this sequence are skipped (an iteration from a sequence inside a segment).
    from_seq: u64,
}

impl ReadPosition {
    /// The sequence of the next record handed out.
    pub fn next_seq(&self) -> u64 {
        self.expected_seq.max(self.from_seq)
    }
}

/// The iterator of [`JournalReader::iter_from`].
pub struct Records<'a> {
    reader: &'a JournalReader,
    segment_index: usize,
    offset: u64,
    expected_seq: u64,
    from_seq: u64,
    done: bool,
    pending_error: Option<JournalError>,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordRef<'a>, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.pending_error.take() {
            self.done = true;
            return Some(Err(error));
        }
        // Bounded: each pass consumes a record (at least 32 bytes) or a segment.
        while !self.done {
            match self.step() {
                Ok(Some(record)) if record.seq < self.from_seq => {}
                Ok(Some(record)) => return Some(Ok(record)),
                Ok(None) => {}
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
        None
    }
}

impl<'a> Records<'a> {
    /// Where the next record is: after the last one handed out (or where an iteration from a
    /// sequence will find its first).
    pub fn position(&self) -> ReadPosition {
        ReadPosition {
            segment_index: self.segment_index,
            offset: self.offset,
            expected_seq: self.expected_seq,
            from_seq: self.from_seq,
        }
    }

    /// Reads the record at the cursor, or moves to the next segment, or ends.
    fn step(&mut self) -> Result<Option<RecordRef<'a>>, JournalError> {
        let reader = self.reader;
        let segment = reader.segments[self.segment_index].mapped()?;
        let info = &segment.info;
        match parse_record(segment.bytes(), self.offset, info.size_bytes) {
            Parsed::Valid(record) => {
                check_sequence(&info.path, self.offset, self.expected_seq, &record)?;
                let record_ref = RecordRef {
                    seq: record.fields.seq,
                    timestamp_ns: record.fields.timestamp_ns,
                    kind: record.fields.kind,
                    payload: record.payload,
                    segment_first_seq: info.first_seq,
                    offset: self.offset,
                };
                self.offset += record.padded_len_bytes;
                self.expected_seq += 1;
                Ok(Some(record_ref))
            }
            Parsed::End => self.next_segment().map(|()| None),
            Parsed::Bad(what) => {
                self.done = true;
                let tail = TailCheck {
                    segment,
                    offset: self.offset,
                    expected_seq: self.expected_seq,
                    bad: Some(what),
                    is_last: self.segment_index + 1 == reader.segments.len(),
                };
                // A torn tail ends the iteration cleanly; damage is an error.
                tail.classify().map(|_| None)
            }
        }
    }

    fn next_segment(&mut self) -> Result<(), JournalError> {
        let next_index = self.segment_index + 1;
        let Some(next) = self.reader.infos.get(next_index) else {
            self.done = true;
            return Ok(());
        };
        check_continuity(next, self.expected_seq)?;
        self.segment_index = next_index;
        self.offset = SEGMENT_HEADER_LEN_BYTES;
        Ok(())
    }
}
