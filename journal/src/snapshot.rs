//! Snapshots of engine state: checksummed files written atomically, loaded into 16-byte
//! aligned buffers (rkyv needs the alignment to access archived data in place).

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rkyv::util::AlignedVec;

use crate::error::JournalError;
use crate::format::{parse_seq_file_name, seq_file_name};
use crate::fsutil::{create_dir, fsync_dir};
use crate::storage::{OsStorage, Storage};

/// First 8 bytes of every snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"SLSNAP01";
/// Version of the snapshot layout.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
/// Length of the snapshot header; the payload starts here (a multiple of 16).
pub const SNAPSHOT_HEADER_LEN_BYTES: u64 = 64;
/// File-name suffix: `<seq, 20 digits>.snap`.
pub const SNAPSHOT_FILE_SUFFIX: &str = ".snap";
/// Suffix of a snapshot being written; renamed to `.snap` once complete and synced.
pub const SNAPSHOT_TEMP_SUFFIX: &str = ".snap.tmp";

const VERSION_AT: usize = 8;
const HEADER_LEN_AT: usize = 12;
const SEQ_AT: usize = 16;
const STATE_HASH_AT: usize = 24;
const PAYLOAD_LEN_AT: usize = 40;
const PAYLOAD_CRC_AT: usize = 48;
const HEADER_CRC_AT: usize = 52;
const RESERVED_AT: usize = 56;
/// Alignment of a loaded payload: what rkyv needs for in-place access.
pub const PAYLOAD_ALIGN_BYTES: usize = 16;
/// Chunk size for checksumming a snapshot without holding it in memory.
const VERIFY_CHUNK_BYTES: usize = 1 << 20;

/// The fixed part of a snapshot file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The last journal sequence whose effects the state includes.
    pub seq: u64,
    /// The engine's hash of the state, to compare with a replayed state.
    pub state_hash: [u8; 16],
    pub payload_len_bytes: u64,
    pub payload_crc32c: u32,
}

impl SnapshotHeader {
    fn encode(&self) -> [u8; SNAPSHOT_HEADER_LEN_BYTES as usize] {
        let mut bytes = [0u8; SNAPSHOT_HEADER_LEN_BYTES as usize];
        bytes[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
        bytes[8..12].copy_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&(SNAPSHOT_HEADER_LEN_BYTES as u32).to_le_bytes());
        bytes[16..24].copy_from_slice(&self.seq.to_le_bytes());
        bytes[24..40].copy_from_slice(&self.state_hash);
        bytes[40..48].copy_from_slice(&self.payload_len_bytes.to_le_bytes());
        bytes[48..52].copy_from_slice(&self.payload_crc32c.to_le_bytes());
        let header_crc = crc32c::crc32c(&bytes[..HEADER_CRC_AT]);
        bytes[52..56].copy_from_slice(&header_crc.to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8; SNAPSHOT_HEADER_LEN_BYTES as usize]) -> Result<SnapshotHeader, String> {
        if bytes[0..8] != SNAPSHOT_MAGIC {
            return Err("bad magic: not a Sluice snapshot".into());
        }
        if crc32c::crc32c(&bytes[..HEADER_CRC_AT]) != u32_at(bytes, HEADER_CRC_AT) {
            return Err("snapshot header checksum mismatch".into());
        }
        let version = u32_at(bytes, VERSION_AT);
        let header_len = u32_at(bytes, HEADER_LEN_AT);
        if version != SNAPSHOT_FORMAT_VERSION || u64::from(header_len) != SNAPSHOT_HEADER_LEN_BYTES
        {
            return Err(format!(
                "unsupported snapshot format version {version} / header length {header_len}"
            ));
        }
        if bytes[RESERVED_AT..].iter().any(|byte| *byte != 0) {
            return Err("non-zero reserved bytes in the snapshot header".into());
        }
        let mut state_hash = [0u8; 16];
        state_hash.copy_from_slice(&bytes[STATE_HASH_AT..STATE_HASH_AT + 16]);
        Ok(SnapshotHeader {
            seq: u64_at(bytes, SEQ_AT),
            state_hash,
            payload_len_bytes: u64_at(bytes, PAYLOAD_LEN_AT),
            payload_crc32c: u32_at(bytes, PAYLOAD_CRC_AT),
        })
    }
}

/// A little-endian u32 at a constant offset of the fixed-size header.
fn u32_at(bytes: &[u8; SNAPSHOT_HEADER_LEN_BYTES as usize], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A little-endian u64 at a constant offset of the fixed-size header.
fn u64_at(bytes: &[u8; SNAPSHOT_HEADER_LEN_BYTES as usize], at: usize) -> u64 {
    u64::from(u32_at(bytes, at)) | (u64::from(u32_at(bytes, at + 4)) << 32)
}

/// A snapshot file as `list` sees it: its name and, if readable and valid, its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The sequence in the file name.
    pub seq: u64,
    pub path: PathBuf,
    pub file_len_bytes: u64,
    /// The header, or why it is unusable (bad checksum, wrong length, unreadable...). The
    /// payload is not checked here; `load` does that.
    pub header: Result<SnapshotHeader, String>,
}

/// Snapshots that `load_latest_valid` passed over, newest first, with why.
pub type SkippedSnapshots = Vec<(PathBuf, JournalError)>;

/// A snapshot whose header and payload checksums and length have been verified.
#[derive(Debug)]
pub struct LoadedSnapshot {
    pub seq: u64,
    pub state_hash: [u8; 16],
    /// 16-byte aligned, so rkyv can access or deserialize it in place.
    pub payload: AlignedVec<PAYLOAD_ALIGN_BYTES>,
    pub path: PathBuf,
}

/// The snapshot files of one directory (Sluice uses `DATA/snapshots`). One process writes
/// snapshots at a time.
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
    /// Writes, renames, removals and directory syncs go through it; reads use `std::fs`.
    storage: Arc<dyn Storage>,
}

impl SnapshotStore {
    /// Uses `dir` as the snapshot directory, creating it if needed.
    pub fn new(dir: &Path) -> Result<SnapshotStore, JournalError> {
        SnapshotStore::with_storage(dir, Arc::new(OsStorage))
    }

    /// [`SnapshotStore::new`] with every change to the directory made through `storage`: a
    /// [`crate::FaultyStorage`] in tests, [`OsStorage`] otherwise.
    pub fn with_storage(
        dir: &Path,
        storage: Arc<dyn Storage>,
    ) -> Result<SnapshotStore, JournalError> {
        create_dir(&*storage, dir, true)?;
        Ok(SnapshotStore {
            dir: dir.to_path_buf(),
            storage,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the snapshot at `seq` atomically: to `<seq>.snap.tmp`, fsync, rename to
    /// `<seq>.snap`, fsync the directory. A snapshot already at `seq` is replaced.
    ///
    /// On an error nothing at `seq` is left to be loaded later: the temporary file, or the
    /// renamed snapshot when the directory sync failed, is removed (best effort). Only a
    /// complete, synced file is ever renamed, so whatever a failed removal leaves is a whole
    /// snapshot, never a partial one. Other snapshots are not touched.
    pub fn write(
        &self,
        seq: u64,
        state_hash: [u8; 16],
        payload: &[u8],
    ) -> Result<PathBuf, JournalError> {
        let path = self.dir.join(seq_file_name(seq, SNAPSHOT_FILE_SUFFIX));
        let temp_path = self.dir.join(seq_file_name(seq, SNAPSHOT_TEMP_SUFFIX));
        let header = SnapshotHeader {
            seq,
            state_hash,
            payload_len_bytes: payload.len() as u64,
            payload_crc32c: crc32c::crc32c(payload),
        };
        let storage = &*self.storage;
        let written = storage
            .write_synced(&temp_path, &[&header.encode(), payload])
            .map_err(JournalError::io(&temp_path))
            .and_then(|()| {
                storage
                    .rename(&temp_path, &path)
                    .map_err(JournalError::io(&path))
            });
        if let Err(error) = written {
            // Best effort: `prune` removes leftovers too.
            let _ = storage.remove_file(&temp_path);
            return Err(error);
        }
        if let Err(error) = fsync_dir(storage, &self.dir) {
            // The caller learns that the snapshot failed, so it must not be loaded later.
            let _ = storage.remove_file(&path);
            return Err(error);
        }
        Ok(path)
    }

    /// Every snapshot file, sorted by sequence, with header-level information only.
    pub fn list(&self) -> Result<Vec<SnapshotInfo>, JournalError> {
        let mut snapshots = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(JournalError::io(&self.dir))? {
            let entry = entry.map_err(JournalError::io(&self.dir))?;
            let name = entry.file_name();
            let Some(seq) = name
                .to_str()
                .and_then(|name| parse_seq_file_name(name, SNAPSHOT_FILE_SUFFIX))
            else {
                continue;
            };
            snapshots.push(snapshot_info(seq, entry.path()));
        }
        snapshots.sort_unstable_by_key(|info| info.seq);
        Ok(snapshots)
    }

    /// Loads the snapshot at `seq`, verifying its header, length and both checksums.
    pub fn load(&self, seq: u64) -> Result<LoadedSnapshot, JournalError> {
        let path = self.dir.join(seq_file_name(seq, SNAPSHOT_FILE_SUFFIX));
        load_file(&path, seq)
    }

    /// The newest snapshot at or below `at_or_below` that loads and verifies, plus each newer
    /// (or equal) candidate that failed, with its error, newest first. `Ok((None, _))` when no
    /// valid one exists.
    pub fn load_latest_valid(
        &self,
        at_or_below: u64,
    ) -> Result<(Option<LoadedSnapshot>, SkippedSnapshots), JournalError> {
        let mut skipped = Vec::new();
        for info in self.list()?.into_iter().rev() {
            if info.seq > at_or_below {
                continue;
            }
            match load_file(&info.path, info.seq) {
                Ok(loaded) => return Ok((Some(loaded), skipped)),
                Err(error) => skipped.push((info.path, error)),
            }
        }
        Ok((None, skipped))
    }

    /// Keeps the newest `keep` snapshots that verify fully, and every file newer than the
    /// oldest of them; deletes the older ones and leftover `.snap.tmp` files. With fewer than
    /// `keep` valid snapshots, no snapshot is deleted. Returns the deleted paths.
    pub fn prune(&self, keep: usize) -> Result<Vec<PathBuf>, JournalError> {
        if keep == 0 {
            let what = "prune must keep at least one snapshot".to_string();
            return Err(JournalError::InvalidArgument { what });
        }
        let mut deleted = self.remove_temp_files()?;
        let snapshots = self.list()?;
        let mut valid_seen = 0usize;
        let mut oldest_kept_index = None;
        for (index, info) in snapshots.iter().enumerate().rev() {
            if check_file(&info.path, info.seq).is_ok() {
                valid_seen += 1;
                if valid_seen == keep {
                    oldest_kept_index = Some(index);
                    break;
                }
            }
        }
        for info in &snapshots[..oldest_kept_index.unwrap_or(0)] {
            self.storage
                .remove_file(&info.path)
                .map_err(JournalError::io(&info.path))?;
            deleted.push(info.path.clone());
        }
        if !deleted.is_empty() {
            fsync_dir(&*self.storage, &self.dir)?;
        }
        Ok(deleted)
    }

    fn remove_temp_files(&self) -> Result<Vec<PathBuf>, JournalError> {
        let mut deleted = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(JournalError::io(&self.dir))? {
            let entry = entry.map_err(JournalError::io(&self.dir))?;
            let is_temp = entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.ends_with(SNAPSHOT_TEMP_SUFFIX));
            if is_temp {
                let path = entry.path();
                self.storage
                    .remove_file(&path)
                    .map_err(JournalError::io(&path))?;
                deleted.push(path);
            }
        }
        Ok(deleted)
    }
}

fn snapshot_info(seq: u64, path: PathBuf) -> SnapshotInfo {
    let opened = File::open(&path).and_then(|file| Ok((file.metadata()?.len(), file)));
    let (file_len_bytes, header) = match opened {
        Ok((file_len_bytes, mut file)) => {
            let header = read_header(&mut file, &path, seq, file_len_bytes)
                .map_err(|error| error.to_string());
            (file_len_bytes, header)
        }
        Err(error) => (0, Err(format!("cannot read: {error}"))),
    };
    SnapshotInfo {
        seq,
        path,
        file_len_bytes,
        header,
    }
}

/// Reads and checks the header: its checksum, its sequence against the file name, and the
/// payload length against the file length (so a short file is caught before any allocation).
fn read_header(
    file: &mut File,
    path: &Path,
    seq: u64,
    file_len_bytes: u64,
) -> Result<SnapshotHeader, JournalError> {
    if file_len_bytes < SNAPSHOT_HEADER_LEN_BYTES {
        let what = format!("the file is {file_len_bytes} bytes, shorter than the header");
        return Err(JournalError::snapshot_corrupt(path, what));
    }
    let mut bytes = [0u8; SNAPSHOT_HEADER_LEN_BYTES as usize];
    file.read_exact(&mut bytes)
        .map_err(JournalError::io(path))?;
    let header = SnapshotHeader::decode(&bytes)
        .map_err(|what| JournalError::snapshot_corrupt(path, what))?;
    if header.seq != seq {
        let what = format!(
            "the header says seq {} but the file name says {seq}",
            header.seq
        );
        return Err(JournalError::snapshot_corrupt(path, what));
    }
    let payload_in_file_bytes = file_len_bytes - SNAPSHOT_HEADER_LEN_BYTES;
    if header.payload_len_bytes != payload_in_file_bytes {
        let what = format!(
            "the header says the payload is {} bytes but the file holds {payload_in_file_bytes}",
            header.payload_len_bytes
        );
        return Err(JournalError::snapshot_corrupt(path, what));
    }
    Ok(header)
}

fn open_with_len(path: &Path) -> Result<(File, u64), JournalError> {
    let file = File::open(path).map_err(JournalError::io(path))?;
    let file_len_bytes = file.metadata().map_err(JournalError::io(path))?.len();
    Ok((file, file_len_bytes))
}

fn load_file(path: &Path, seq: u64) -> Result<LoadedSnapshot, JournalError> {
    let (mut file, file_len_bytes) = open_with_len(path)?;
    let header = read_header(&mut file, path, seq, file_len_bytes)?;
    // At least one aligned block, so that even an empty payload has an aligned pointer (an
    // empty AlignedVec's pointer is dangling and unaligned).
    let capacity_bytes = (header.payload_len_bytes as usize).max(PAYLOAD_ALIGN_BYTES);
    let mut payload = AlignedVec::<PAYLOAD_ALIGN_BYTES>::with_capacity(capacity_bytes);
    payload.resize(header.payload_len_bytes as usize, 0);
    file.read_exact(&mut payload)
        .map_err(JournalError::io(path))?;
    if crc32c::crc32c(&payload) != header.payload_crc32c {
        return Err(JournalError::snapshot_corrupt(
            path,
            "payload checksum mismatch",
        ));
    }
    Ok(LoadedSnapshot {
        seq,
        state_hash: header.state_hash,
        payload,
        path: path.to_path_buf(),
    })
}

/// Verifies a snapshot file like `load`, streaming the payload instead of holding it.
fn check_file(path: &Path, seq: u64) -> Result<SnapshotHeader, JournalError> {
    let (mut file, file_len_bytes) = open_with_len(path)?;
    let header = read_header(&mut file, path, seq, file_len_bytes)?;
    let mut chunk = vec![0u8; VERIFY_CHUNK_BYTES];
    let mut crc = 0u32;
    let mut remaining_bytes = header.payload_len_bytes;
    // Bounded by the payload length, which matches the file length.
    while remaining_bytes > 0 {
        let chunk_bytes = remaining_bytes.min(VERIFY_CHUNK_BYTES as u64) as usize;
        file.read_exact(&mut chunk[..chunk_bytes])
            .map_err(JournalError::io(path))?;
        crc = crc32c::crc32c_append(crc, &chunk[..chunk_bytes]);
        remaining_bytes -= chunk_bytes as u64;
    }
    if crc != header.payload_crc32c {
        return Err(JournalError::snapshot_corrupt(
            path,
            "payload checksum mismatch",
        ));
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_every_single_bit_flip() {
        let header = SnapshotHeader {
            seq: 99,
            state_hash: [7u8; 16],
            payload_len_bytes: 1234,
            payload_crc32c: 0xDEAD_BEEF,
        };
        let bytes = header.encode();
        assert_eq!(SnapshotHeader::decode(&bytes), Ok(header));
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(SnapshotHeader::decode(&flipped).is_err(), "bit {bit}");
        }
    }
}
