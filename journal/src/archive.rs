//! Archiving covered segments: each segment whose every record a kept snapshot covers is
//! compressed with zstd into an archive directory, checked, and only then deleted from the
//! journal directory. Readers opened with [`crate::JournalReader::open_with_archive`] read the
//! archived segments as if they were still in the journal directory.
//!
//! Crash safety: at every moment each segment is in the journal directory, or complete in the
//! archive, or both — never neither. The archive file is written under a temporary name,
//! fsynced, renamed and its directory fsynced before the segment is removed; a complete file
//! under the final name is therefore whole, and an interrupted run is finished by the next.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::format::{SEGMENT_HEADER_LEN_BYTES, SegmentHeader, parse_seq_file_name, seq_file_name};
use crate::fsutil::{create_dir, fsync_dir};
use crate::scan::{MappedSegment, check_mapped_segment, list_segment_files, open_segment};
use crate::storage::{OsStorage, ReadOnlyMap, Storage};

/// An archived segment: `<first_seq, 20 digits>.seg.zst`, one zstd frame holding the segment
/// file's bytes unchanged.
pub const ARCHIVE_FILE_SUFFIX: &str = ".seg.zst";
/// An archive file being written; removed by the next archiving run.
pub const ARCHIVE_TEMP_SUFFIX: &str = ".seg.zst.tmp";
/// The zstd level: 3, zstd's default, shrinks a demo-like journal 3.8 times at over 100 MB/s on
/// one core of the 2-core CI machine (docs/OPERATIONS.md, "Bounded disk", has the figures).
const ZSTD_LEVEL: i32 = 3;

/// The archive directory inside a Sluice data directory, where nothing else is configured:
/// `DATA/archive`.
pub fn default_archive_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("archive")
}

/// The file name of the archived segment whose first record is `first_seq`.
pub fn archive_file_name(first_seq: u64) -> String {
    seq_file_name(first_seq, ARCHIVE_FILE_SUFFIX)
}

/// One segment moved into the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedSegment {
    pub first_seq: u64,
    /// The segment file, now deleted.
    pub segment: PathBuf,
    /// The archive file that holds it.
    pub archive: PathBuf,
    pub segment_bytes: u64,
    pub archive_bytes: u64,
}

/// The archived segment files in `archive_dir`, sorted by first sequence; none if the directory
/// does not exist. Other files are ignored.
pub fn list_archived_segments(archive_dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    if !archive_dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut archived = Vec::new();
    for entry in fs::read_dir(archive_dir).map_err(JournalError::io(archive_dir))? {
        let entry = entry.map_err(JournalError::io(archive_dir))?;
        let name = entry.file_name();
        if let Some(first_seq) = name
            .to_str()
            .and_then(|name| parse_seq_file_name(name, ARCHIVE_FILE_SUFFIX))
        {
            archived.push((first_seq, entry.path()));
        }
    }
    archived.sort_unstable_by_key(|(first_seq, _)| *first_seq);
    Ok(archived)
}

/// [`archive_segments_with_storage`] on the operating system's file system.
pub fn archive_segments(
    journal_dir: &Path,
    archive_dir: &Path,
    covered_through_seq: u64,
) -> Result<Vec<ArchivedSegment>, JournalError> {
    archive_segments_with_storage(&OsStorage, journal_dir, archive_dir, covered_through_seq)
}

/// Moves into `archive_dir`, oldest first, each segment of `journal_dir` whose every record is
/// at or below `covered_through_seq` (the oldest snapshot kept), never the newest segment —
/// the segments `prune_segments` would delete. Per segment: compress, write to a temporary
/// file and fsync it, rename it, fsync the archive directory, read the archive back and compare
/// its decompressed length and CRC32C with the segment's, and only then delete the segment
/// (the journal directory is fsynced at the end). Leftover temporary files are removed first; an
/// archive left complete by an interrupted run is checked and reused. Safe beside a live writer
/// (which touches only the newest segment) and readers. Returns what was archived; the first
/// error stops the run and names the file.
pub fn archive_segments_with_storage(
    storage: &dyn Storage,
    journal_dir: &Path,
    archive_dir: &Path,
    covered_through_seq: u64,
) -> Result<Vec<ArchivedSegment>, JournalError> {
    let covered = covered_segments(journal_dir, covered_through_seq)?;
    if covered.is_empty() {
        return Ok(Vec::new());
    }
    create_dir(storage, archive_dir, true)?;
    remove_temporary_files(storage, archive_dir)?;
    let mut archived = Vec::with_capacity(covered.len());
    let mut result = Ok(());
    for (first_seq, segment) in covered {
        match archive_one(storage, archive_dir, first_seq, &segment) {
            Ok(done) => archived.push(done),
            Err(error) => {
                result = Err(error);
                break;
            }
        }
    }
    if !archived.is_empty() {
        fsync_dir(storage, journal_dir)?;
    }
    result.map(|()| archived)
}

/// The segments whose records are all at or below `covered_through_seq`, oldest first; never
/// the newest. A segment holds sequences up to the next one's first sequence minus one.
fn covered_segments(
    journal_dir: &Path,
    covered_through_seq: u64,
) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let segments = list_segment_files(journal_dir)?;
    let covered_count = segments
        .windows(2)
        .take_while(|pair| pair[1].0.saturating_sub(1) <= covered_through_seq)
        .count();
    Ok(segments.into_iter().take(covered_count).collect())
}

fn remove_temporary_files(storage: &dyn Storage, archive_dir: &Path) -> Result<(), JournalError> {
    for entry in fs::read_dir(archive_dir).map_err(JournalError::io(archive_dir))? {
        let entry = entry.map_err(JournalError::io(archive_dir))?;
        let is_temp = entry
            .file_name()
            .to_str()
            .is_some_and(|name| parse_seq_file_name(name, ARCHIVE_TEMP_SUFFIX).is_some());
        if is_temp {
            let path = entry.path();
            storage
                .remove_file(&path)
                .map_err(JournalError::io(&path))?;
        }
    }
    Ok(())
}

/// Archives one segment; see [`archive_segments_with_storage`].
fn archive_one(
    storage: &dyn Storage,
    archive_dir: &Path,
    first_seq: u64,
    segment: &Path,
) -> Result<ArchivedSegment, JournalError> {
    // The header check refuses to archive (and then delete) a file that is not a whole segment.
    let mapped = open_segment(storage, segment, first_seq, false)?;
    let bytes = mapped.bytes();
    let expected = Digest::of(bytes);
    let archive = archive_dir.join(archive_file_name(first_seq));
    // A complete archive from an interrupted run is reused; anything else is rewritten.
    if archive_digest(&archive).ok() != Some(expected) {
        let compressed = zstd::stream::encode_all(bytes, ZSTD_LEVEL).map_err(|source| {
            let what = format!("compressing {}: {source}", segment.display());
            JournalError::Io {
                path: archive.clone(),
                source: io::Error::other(what),
            }
        })?;
        let temp = archive_dir.join(seq_file_name(first_seq, ARCHIVE_TEMP_SUFFIX));
        storage
            .write_synced(&temp, &[&compressed])
            .map_err(JournalError::io(&temp))?;
        storage
            .rename(&temp, &archive)
            .map_err(JournalError::io(&archive))?;
        fsync_dir(storage, archive_dir)?;
        let found = archive_digest(&archive)?;
        if found != expected {
            let what = format!(
                "the archive decompresses to {} bytes with CRC32C {:08x}, but {} is {} bytes with \
                 CRC32C {:08x}; the segment is kept",
                found.len_bytes,
                found.crc,
                segment.display(),
                expected.len_bytes,
                expected.crc
            );
            return Err(JournalError::corrupt(&archive, 0, first_seq, what));
        }
    }
    drop(mapped);
    storage
        .remove_file(segment)
        .map_err(JournalError::io(segment))?;
    let archive_bytes = fs::metadata(&archive)
        .map_err(JournalError::io(&archive))?
        .len();
    Ok(ArchivedSegment {
        first_seq,
        segment: segment.to_path_buf(),
        archive,
        segment_bytes: expected.len_bytes,
        archive_bytes,
    })
}

/// The length and CRC32C of a byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Digest {
    len_bytes: u64,
    crc: u32,
}

impl Digest {
    fn of(bytes: &[u8]) -> Digest {
        Digest {
            len_bytes: bytes.len() as u64,
            crc: crc32c::crc32c(bytes),
        }
    }
}

/// A writer that only measures what passes through it.
struct DigestWriter(Digest);

impl Write for DigestWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.crc = crc32c::crc32c_append(self.0.crc, buf);
        self.0.len_bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Decompresses the archive file `path` as a stream and measures what it holds.
fn archive_digest(path: &Path) -> Result<Digest, JournalError> {
    let file = fs::File::open(path).map_err(JournalError::io(path))?;
    let mut digest = DigestWriter(Digest {
        len_bytes: 0,
        crc: 0,
    });
    zstd::stream::copy_decode(io::BufReader::new(file), &mut digest).map_err(|source| {
        let what = format!("not a whole zstd archive of a segment: {source}");
        JournalError::corrupt(path, 0, 0, what)
    })?;
    Ok(digest.0)
}

/// Reads and checks the header of the archived segment `path` (the first 64 bytes of what it
/// decompresses to), without decompressing the rest.
pub(crate) fn archived_header(path: &Path, name_seq: u64) -> Result<SegmentHeader, JournalError> {
    let file = fs::File::open(path).map_err(JournalError::io(path))?;
    let mut header = [0u8; SEGMENT_HEADER_LEN_BYTES as usize];
    zstd::stream::read::Decoder::new(file)
        .and_then(|mut decoder| decoder.read_exact(&mut header))
        .map_err(|source| {
            let what = format!("the archived segment's header does not decompress: {source}");
            JournalError::corrupt(path, 0, name_seq, what)
        })?;
    let decoded = SegmentHeader::decode(&header)
        .map_err(|what| JournalError::corrupt(path, 0, name_seq, what))?;
    if decoded.first_seq != name_seq {
        let what = format!(
            "the archived header says the segment starts at seq {} but its file name says \
             {name_seq}",
            decoded.first_seq
        );
        return Err(JournalError::corrupt(path, 0, name_seq, what));
    }
    Ok(decoded)
}

/// Decompresses the archived segment `path` into an unnamed temporary file (in the system's
/// temporary directory, `TMPDIR`) and maps it read-only: the page cache, not the heap, holds a
/// segment read from the archive, and the file's space is freed when the map is dropped.
pub(crate) fn map_archived(path: &Path, name_seq: u64) -> Result<ReadOnlyMap, JournalError> {
    let temp_dir = std::env::temp_dir();
    let temp = temp_dir.join(format!(
        "sluice-{}-{}-{}",
        std::process::id(),
        temp_counter(),
        seq_file_name(name_seq, crate::format::SEGMENT_FILE_SUFFIX)
    ));
    let mut out = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(JournalError::io(&temp))?;
    // Unlinked at once: nothing is left behind whatever happens next.
    fs::remove_file(&temp).map_err(JournalError::io(&temp))?;
    let file = fs::File::open(path).map_err(JournalError::io(path))?;
    zstd::stream::copy_decode(io::BufReader::new(file), &mut out).map_err(|source| {
        let what = format!("the archived segment does not decompress: {source}");
        JournalError::corrupt(path, 0, name_seq, what)
    })?;
    ReadOnlyMap::map(out).map_err(JournalError::io(path))
}

fn temp_counter() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Decompresses and maps the archived segment `path`, and checks it as a whole segment (it was
/// never the newest, so it must have its full size).
pub(crate) fn open_archived(path: &Path, name_seq: u64) -> Result<MappedSegment, JournalError> {
    let map = map_archived(path, name_seq)?;
    check_mapped_segment(path, name_seq, map, false)
}
