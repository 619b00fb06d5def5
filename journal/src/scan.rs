//! Finding segments and checking them: the code shared by recovery (writer open), `verify` and
//! the reader. It never modifies a file.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::format::{
    Parsed, RECORD_ALIGN_BYTES, RECORD_HEADER_LEN_BYTES, RawRecord, SEGMENT_FILE_SUFFIX,
    SEGMENT_HEADER_LEN_BYTES, SegmentHeader, parse_record, parse_seq_file_name,
};
use crate::storage::{ReadOnlyMap, Storage};

/// One segment file of a journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub path: PathBuf,
    /// The sequence of the segment's first record (also in its file name).
    pub first_seq: u64,
    /// The size the segment header declares.
    pub size_bytes: u64,
    /// The file's length on disk; less than `size_bytes` only for a truncated newest segment.
    pub file_len_bytes: u64,
}

/// A torn tail: the partial end of the newest segment that recovery cuts (or that `verify`
/// reports without cutting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// The newest segment, where the tail is.
    pub segment: PathBuf,
    /// Byte offset of the cut from the start of the segment file.
    pub offset: u64,
    /// The first sequence cut: the journal ends at `seq - 1` and the next append carries `seq`.
    pub seq: u64,
    /// Bytes of partial data discarded: from `offset` to the last non-zero byte of the segment.
    pub bytes_cut: u64,
    /// Checksummed records found after the damage that were written before it was committed
    /// (an uncommitted batch torn by power loss); they are discarded with it.
    pub later_records_cut: u64,
    /// How far a file shorter than its declared size is (or would be) extended back.
    pub file_extended_bytes: u64,
}

/// The segment files in `dir` (names `<first_seq, 20 digits>.seg`), sorted by first sequence.
/// Other files are not the journal's business and are ignored.
pub(crate) fn list_segment_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(JournalError::io(dir))? {
        let entry = entry.map_err(JournalError::io(dir))?;
        let name = entry.file_name();
        let Some(first_seq) = name
            .to_str()
            .and_then(|name| parse_seq_file_name(name, SEGMENT_FILE_SUFFIX))
        else {
            continue;
        };
        segments.push((first_seq, entry.path()));
    }
    segments.sort_unstable_by_key(|(first_seq, _)| *first_seq);
    Ok(segments)
}

/// A segment mapped read-only, with its header checked against its name and length.
pub(crate) struct MappedSegment {
    pub info: SegmentInfo,
    pub map: ReadOnlyMap,
}

impl MappedSegment {
    /// The segment file's bytes, from its start.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.map.bytes()
    }
}

/// Opens and maps a segment read-only and checks its header. Only the newest segment
/// (`is_last`) may be shorter than its header says: a torn tail.
pub(crate) fn open_segment(
    storage: &dyn Storage,
    path: &Path,
    name_seq: u64,
    is_last: bool,
) -> Result<MappedSegment, JournalError> {
    // The map's contract (see `ReadOnlyMap`): only the writer modifies a mapped segment, past
    // its published end, and nothing shortens one.
    let map = storage
        .map_read_only(path)
        .map_err(JournalError::io(path))?;
    check_mapped_segment(path, name_seq, map, is_last)
}

/// Checks the header of a mapped segment against its name and length (see `open_segment`).
pub(crate) fn check_mapped_segment(
    path: &Path,
    name_seq: u64,
    map: ReadOnlyMap,
    is_last: bool,
) -> Result<MappedSegment, JournalError> {
    let file_len_bytes = map.len_bytes();
    if file_len_bytes < SEGMENT_HEADER_LEN_BYTES {
        let what = format!("the file is {file_len_bytes} bytes, shorter than the segment header");
        return Err(JournalError::corrupt(path, 0, name_seq, what));
    }
    let header = SegmentHeader::decode(map.bytes())
        .map_err(|what| JournalError::corrupt(path, 0, name_seq, what))?;
    if header.first_seq != name_seq {
        let what = format!(
            "the header says the segment starts at seq {} but its file name says {name_seq}",
            header.first_seq
        );
        return Err(JournalError::corrupt(path, 0, name_seq, what));
    }
    check_file_len(path, &header, file_len_bytes, is_last)?;
    let info = SegmentInfo {
        path: path.to_path_buf(),
        first_seq: header.first_seq,
        size_bytes: header.segment_size_bytes,
        file_len_bytes,
    };
    Ok(MappedSegment { info, map })
}

fn check_file_len(
    path: &Path,
    header: &SegmentHeader,
    file_len_bytes: u64,
    is_last: bool,
) -> Result<(), JournalError> {
    let size_bytes = header.segment_size_bytes;
    let fits = file_len_bytes == size_bytes || (is_last && file_len_bytes < size_bytes);
    if fits {
        return Ok(());
    }
    let what = format!(
        "the file is {file_len_bytes} bytes but its header says {size_bytes}{}",
        if is_last {
            ""
        } else {
            " (only the newest segment may be short)"
        }
    );
    Err(JournalError::corrupt(path, 0, header.first_seq, what))
}

/// Checks that a checksummed record carries the sequence expected at its position.
pub(crate) fn check_sequence(
    path: &Path,
    offset: u64,
    expected_seq: u64,
    record: &RawRecord<'_>,
) -> Result<(), JournalError> {
    let seq = record.fields.seq;
    if seq != expected_seq {
        let what = if seq < expected_seq {
            format!("sequence repeat: a valid record carries seq {seq}")
        } else {
            format!("sequence gap: a valid record carries seq {seq}")
        };
        return Err(JournalError::corrupt(path, offset, expected_seq, what));
    }
    if record.fields.committed_seq_at_write().is_none() {
        let what = format!(
            "uncommitted_before is {} but only {} records precede seq {seq}",
            record.fields.uncommitted_before,
            seq - 1
        );
        return Err(JournalError::corrupt(path, offset, expected_seq, what));
    }
    Ok(())
}

/// What a segment holds.
#[derive(Clone, Debug)]
pub(crate) struct SegmentSummary {
    pub records: u64,
    pub first_timestamp_ns: Option<u64>,
    pub last_timestamp_ns: Option<u64>,
    /// The sequence the record after this segment's last one must carry.
    pub next_seq: u64,
    /// Where the next record would be written.
    pub end_offset: u64,
    /// A torn tail (only ever in the newest segment).
    pub torn: Option<TornTail>,
}

/// A torn tail inside one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TornTail {
    pub offset: u64,
    pub seq: u64,
    /// One past the last non-zero byte at or after `offset`.
    pub junk_end: u64,
    pub later_records: u64,
}

/// Checks every record of a segment: checksums, sequence continuity from the header's first
/// sequence, and what follows the last record.
pub(crate) fn scan_segment(
    segment: &MappedSegment,
    is_last: bool,
) -> Result<SegmentSummary, JournalError> {
    let info = &segment.info;
    let mut summary = SegmentSummary {
        records: 0,
        first_timestamp_ns: None,
        last_timestamp_ns: None,
        next_seq: info.first_seq,
        end_offset: SEGMENT_HEADER_LEN_BYTES,
        torn: None,
    };
    // Each record takes at least a record header, which bounds the loop.
    let records_max = info.size_bytes / RECORD_HEADER_LEN_BYTES;
    for _ in 0..=records_max {
        let offset = summary.end_offset;
        let bad = match parse_record(segment.bytes(), offset, info.size_bytes) {
            Parsed::Valid(record) => {
                check_sequence(&info.path, offset, summary.next_seq, &record)?;
                summary.records += 1;
                summary
                    .first_timestamp_ns
                    .get_or_insert(record.fields.timestamp_ns);
                summary.last_timestamp_ns = Some(record.fields.timestamp_ns);
                summary.next_seq += 1;
                summary.end_offset += record.padded_len_bytes;
                continue;
            }
            Parsed::End => None,
            Parsed::Bad(what) => Some(what),
        };
        let tail = TailCheck {
            segment,
            offset,
            expected_seq: summary.next_seq,
            bad,
            is_last,
        };
        summary.torn = tail.classify()?;
        return Ok(summary);
    }
    let what = "more records than can fit in the segment";
    Err(JournalError::corrupt(
        &info.path,
        summary.end_offset,
        summary.next_seq,
        what,
    ))
}

/// The end of the valid records of a segment, and what to make of the bytes after it.
pub(crate) struct TailCheck<'a> {
    pub segment: &'a MappedSegment,
    /// Where the valid records end.
    pub offset: u64,
    pub expected_seq: u64,
    /// Why the bytes at `offset` are not a record, or `None` for a zero length field.
    pub bad: Option<&'static str>,
    pub is_last: bool,
}

impl TailCheck<'_> {
    /// Decides between a clean end, a torn tail (returned) and corruption (an error).
    ///
    /// A crash can only tear the newest segment: a process crash leaves the page cache intact,
    /// so only the record being copied is partial; under `Fsync` the writer msyncs a segment
    /// before rolling away from it, and a power loss between commits can lose or tear only the
    /// pages of the batch written since the last commit. So damage is a torn tail when it is in
    /// the newest segment and every checksummed record after it was written while the damaged
    /// record was still uncommitted. Anything else means committed data is damaged: refuse.
    pub(crate) fn classify(&self) -> Result<Option<TornTail>, JournalError> {
        let junk_end = last_nonzero_end(self.segment.bytes(), self.offset);
        if self.bad.is_none() && junk_end == self.offset {
            return Ok(None);
        }
        if !self.is_last {
            let what = self.bad.unwrap_or(
                "non-zero bytes after the last record of a segment that is not the newest",
            );
            return Err(self.corrupt(what.to_string()));
        }
        let later_records = self.check_later_records(junk_end)?;
        Ok(Some(TornTail {
            offset: self.offset,
            seq: self.expected_seq,
            junk_end,
            later_records,
        }))
    }

    /// Looks for checksummed records at every aligned offset after the damage and refuses the
    /// segment if one of them proves the damaged record had been committed.
    fn check_later_records(&self, junk_end: u64) -> Result<u64, JournalError> {
        let size_bytes = self.segment.info.size_bytes;
        let mut later_records = 0;
        let mut offset = self.offset + RECORD_ALIGN_BYTES;
        // Bounded: the offset grows by at least 8 bytes per step and stops at `junk_end`.
        while offset < junk_end {
            match parse_record(self.segment.bytes(), offset, size_bytes) {
                Parsed::Valid(record) => {
                    self.judge_later_record(offset, &record)?;
                    later_records += 1;
                    offset += record.padded_len_bytes;
                }
                Parsed::End | Parsed::Bad(_) => offset += RECORD_ALIGN_BYTES,
            }
        }
        Ok(later_records)
    }

    fn judge_later_record(&self, offset: u64, record: &RawRecord<'_>) -> Result<(), JournalError> {
        let seq = record.fields.seq;
        // The records from expected_seq to seq - 1 take at least a header each.
        let seq_max = self.expected_seq + (offset - self.offset) / RECORD_HEADER_LEN_BYTES;
        if seq <= self.expected_seq || seq > seq_max {
            return Err(self.corrupt(format!(
                "{}; a valid record with out-of-place seq {seq} follows at offset {offset}",
                self.describe_damage()
            )));
        }
        let committed = record.fields.committed_seq_at_write().unwrap_or(u64::MAX);
        if committed >= self.expected_seq {
            return Err(self.corrupt(format!(
                "{}; the valid record at offset {offset} (seq {seq}) was written after seq {} \
                 had been committed, so this is damage to committed data, not a torn tail",
                self.describe_damage(),
                self.expected_seq
            )));
        }
        Ok(())
    }

    fn describe_damage(&self) -> &'static str {
        self.bad
            .unwrap_or("the record is missing (its length field is zero)")
    }

    fn corrupt(&self, what: String) -> JournalError {
        JournalError::corrupt(
            &self.segment.info.path,
            self.offset,
            self.expected_seq,
            what,
        )
    }
}

/// One past the last non-zero byte at or after `from`, or `from` if they are all zero.
fn last_nonzero_end(bytes: &[u8], from: u64) -> u64 {
    const CHUNK_BYTES: usize = 4096;
    let Some(tail) = bytes.get(from as usize..) else {
        return from;
    };
    let mut chunk_end = tail.len();
    for chunk in tail.rchunks(CHUNK_BYTES) {
        let chunk_start = chunk_end - chunk.len();
        // An OR over the chunk vectorizes well; most tails are all zero.
        if chunk.iter().fold(0u8, |acc, byte| acc | byte) != 0 {
            let last = chunk.iter().rposition(|byte| *byte != 0).unwrap_or(0);
            return from + (chunk_start + last + 1) as u64;
        }
        chunk_end = chunk_start;
    }
    from
}

/// The result of checking a whole journal directory.
#[derive(Debug, Default)]
pub(crate) struct JournalScan {
    pub segments: Vec<SegmentInfo>,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub first_timestamp_ns: Option<u64>,
    pub last_timestamp_ns: Option<u64>,
    /// The sequence after the last valid record (None without segments).
    pub next_seq: Option<u64>,
    /// Where the next record goes in the newest segment.
    pub end_offset: u64,
    pub torn: Option<Truncation>,
}

/// Checks every segment and record of the journal in `dir`, without modifying anything.
pub(crate) fn scan_journal(storage: &dyn Storage, dir: &Path) -> Result<JournalScan, JournalError> {
    let files = list_segment_files(dir)?;
    let segment_count = files.len();
    let mut scan = JournalScan::default();
    for (index, (name_seq, path)) in files.iter().enumerate() {
        let is_last = index + 1 == segment_count;
        let segment = open_segment(storage, path, *name_seq, is_last)?;
        if let Some(expected_seq) = scan.next_seq {
            check_continuity(&segment.info, expected_seq)?;
        }
        let summary = scan_segment(&segment, is_last)?;
        scan.add_segment(segment.info, &summary);
    }
    Ok(scan)
}

/// Checks that a segment starts where the previous one ended.
pub(crate) fn check_continuity(info: &SegmentInfo, expected_seq: u64) -> Result<(), JournalError> {
    if info.first_seq > expected_seq {
        return Err(JournalError::MissingSegment {
            segment: info.path.clone(),
            expected_seq,
            found_seq: info.first_seq,
        });
    }
    if info.first_seq < expected_seq {
        let what = format!(
            "the segment starts at seq {} but the previous segment already holds records up to \
             seq {} (overlapping segments)",
            info.first_seq,
            expected_seq - 1
        );
        return Err(JournalError::corrupt(&info.path, 0, expected_seq, what));
    }
    Ok(())
}

impl JournalScan {
    fn add_segment(&mut self, info: SegmentInfo, summary: &SegmentSummary) {
        if summary.records > 0 {
            self.first_seq.get_or_insert(info.first_seq);
            self.last_seq = Some(summary.next_seq - 1);
            if self.first_timestamp_ns.is_none() {
                self.first_timestamp_ns = summary.first_timestamp_ns;
            }
            self.last_timestamp_ns = summary.last_timestamp_ns;
        }
        self.records += summary.records;
        self.next_seq = Some(summary.next_seq);
        self.end_offset = summary.end_offset;
        self.torn = truncation(&info, summary);
        self.segments.push(info);
    }
}

/// The truncation recovery must do in a segment: cut a torn tail, extend a short file, or both.
fn truncation(info: &SegmentInfo, summary: &SegmentSummary) -> Option<Truncation> {
    let file_extended_bytes = info.size_bytes - info.file_len_bytes;
    if summary.torn.is_none() && file_extended_bytes == 0 {
        return None;
    }
    let torn = summary.torn.unwrap_or(TornTail {
        offset: summary.end_offset,
        seq: summary.next_seq,
        junk_end: summary.end_offset,
        later_records: 0,
    });
    Some(Truncation {
        segment: info.path.clone(),
        offset: torn.offset,
        seq: torn.seq,
        bytes_cut: torn.junk_end - torn.offset,
        later_records_cut: torn.later_records,
        file_extended_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::last_nonzero_end;

    #[test]
    fn last_nonzero_end_finds_the_last_set_byte() {
        let mut bytes = vec![0u8; 10_000];
        assert_eq!(last_nonzero_end(&bytes, 100), 100);
        assert_eq!(last_nonzero_end(&bytes, 20_000), 20_000);
        bytes[5000] = 1;
        assert_eq!(last_nonzero_end(&bytes, 100), 5001);
        assert_eq!(last_nonzero_end(&bytes, 5001), 5001);
        bytes[9999] = 3;
        assert_eq!(last_nonzero_end(&bytes, 0), 10_000);
        bytes[9999] = 0;
        bytes[4096] = 2;
        assert_eq!(last_nonzero_end(&bytes, 4097), 5001);
    }
}
