//! The storage seam: every file-system call that creates, maps, syncs, renames or removes a
//! journal or snapshot file goes through [`Storage`], and every `unsafe` block of the crate is
//! in this module (the crate root denies `unsafe_code` everywhere else).
//!
//! Three kinds of `unsafe` live here, each behind one small accessor with a written contract:
//!
//! - **Maps.** [`SegmentFile`] (read-write) and [`ReadOnlyMap`] wrap `memmap2` maps. Mapping a
//!   file is `unsafe` because the memory changes if the file does; only [`OsStorage`] makes
//!   maps, and the rest of the crate upholds the contract: no segment file is shortened while
//!   it may be mapped, and only the one writer (it holds the directory lock) writes to one.
//!   Outside this crate the map types are opaque: they can be passed back to a [`Storage`] but
//!   their bytes cannot be read, so no caller can observe memory the contract does not cover.
//! - **Record lengths.** The writer publishes a record's length with a release store
//!   ([`SegmentFile::store_u32_release`]) and readers load it with a relaxed atomic load
//!   ([`load_u32_relaxed`]) followed by an acquire fence (in `format`).
//! - **Allocation.** `posix_fallocate` (Linux), so that a full disk is an error when a segment
//!   is prepared, not a SIGBUS on a later write into its map.
//!
//! The hot path stays static: `append` writes through [`SegmentFile::bytes_mut`] and
//! [`SegmentFile::store_u32_release`], plain inlined methods. Only commits (msync), segment
//! rolls, opens and snapshot writes make a dynamic call through `dyn Storage`.
//!
//! Directory listings, snapshot reads, metadata and the writer's lock file use `std::fs`
//! directly: they change nothing on disk, and a failure there already reaches the caller as an
//! ordinary `JournalError::Io`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use memmap2::{Mmap, MmapMut, MmapOptions};

// Record lengths are stored little-endian and published with native-endian atomics.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "sluice-journal supports little-endian targets only"
);

/// Pages of a new segment are touched at this stride. 4 KiB is the smallest page size of the
/// supported targets; with larger pages some touches are redundant, which is harmless.
const TOUCH_STRIDE_BYTES: usize = 4096;

/// Every file-system call of the journal writer and the snapshot store that changes or maps a
/// file. [`OsStorage`] is the real one and the default; [`crate::FaultyStorage`] wraps it and
/// fails chosen calls. Errors are plain `io::Error`s; the caller adds the path.
///
/// The map types ([`SegmentFile`], [`ReadOnlyMap`]) can only be made by [`OsStorage`], so an
/// implementation outside this crate wraps another storage and delegates the map-making calls,
/// as `FaultyStorage` does.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Creates `dir` and its missing parents (`fs::create_dir_all`).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Segment preparation: creates the new file `path` (which must not exist) with
    /// `size_bytes` zero bytes, every block allocated, maps it read-write and faults in every
    /// page. When `sync_to_disk`, its data and size are durable on return. On error a partial
    /// file may remain; the caller removes it.
    fn prepare_segment(
        &self,
        path: &Path,
        size_bytes: u64,
        sync_to_disk: bool,
    ) -> io::Result<SegmentFile>;

    /// Opens the existing segment `path` read-write, extends it to `size_bytes` if it is
    /// shorter (never shortens it), and maps its first `size_bytes` bytes, pre-faulted.
    fn open_segment(&self, path: &Path, size_bytes: u64) -> io::Result<SegmentFile>;

    /// Maps the whole of the existing file `path` read-only.
    fn map_read_only(&self, path: &Path) -> io::Result<ReadOnlyMap>;

    /// msyncs bytes `[offset_bytes, offset_bytes + len_bytes)` of the segment's map
    /// (`msync(MS_SYNC)`): on success they are on disk.
    fn flush(&self, segment: &SegmentFile, offset_bytes: u64, len_bytes: u64) -> io::Result<()>;

    /// fsyncs the segment's file: its data and metadata (its size) are on disk.
    fn sync_file(&self, segment: &SegmentFile) -> io::Result<()>;

    /// Creates or truncates `path`, writes `parts` one after another and fsyncs the file (a
    /// snapshot's temporary file). On error the file may hold part of the bytes.
    fn write_synced(&self, path: &Path, parts: &[&[u8]]) -> io::Result<()>;

    /// Renames `from` to `to`, replacing `to` if it exists (`fs::rename`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// fsyncs the directory `dir`, making its entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Removes the file `path` (`fs::remove_file`).
    fn remove_file(&self, path: &Path) -> io::Result<()>;
}

/// The operating system's file system: what every constructor without `_with_storage` uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsStorage;

impl Storage for OsStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn prepare_segment(
        &self,
        path: &Path,
        size_bytes: u64,
        sync_to_disk: bool,
    ) -> io::Result<SegmentFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        allocate(&file, 0, size_bytes)?;
        let mut segment = SegmentFile::map(file, size_bytes, false)?;
        // Writing one byte per page makes the kernel fault in every page now rather than on
        // the hot path.
        let bytes = segment.bytes_mut();
        for offset in (0..bytes.len()).step_by(TOUCH_STRIDE_BYTES) {
            bytes[offset] = 0;
        }
        if sync_to_disk {
            segment.file.sync_all()?;
        }
        Ok(segment)
    }

    fn open_segment(&self, path: &Path, size_bytes: u64) -> io::Result<SegmentFile> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let file_len_bytes = file.metadata()?.len();
        if file_len_bytes < size_bytes {
            allocate(&file, file_len_bytes, size_bytes - file_len_bytes)?;
        }
        SegmentFile::map(file, size_bytes, true)
    }

    fn map_read_only(&self, path: &Path) -> io::Result<ReadOnlyMap> {
        ReadOnlyMap::map(File::open(path)?)
    }

    fn flush(&self, segment: &SegmentFile, offset_bytes: u64, len_bytes: u64) -> io::Result<()> {
        segment
            .map
            .flush_range(offset_bytes as usize, len_bytes as usize)
    }

    fn sync_file(&self, segment: &SegmentFile) -> io::Result<()> {
        segment.file.sync_all()
    }

    fn write_synced(&self, path: &Path, parts: &[&[u8]]) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
}

/// Makes `file` at least `offset_bytes + len_bytes` long with every block of that range
/// allocated, so that writing a page of its map can never meet a full disk (which would be a
/// SIGBUS, not an error). Never shortens the file.
#[cfg(target_os = "linux")]
fn allocate(file: &File, offset_bytes: u64, len_bytes: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (
        libc::off_t::try_from(offset_bytes),
        libc::off_t::try_from(len_bytes),
    ) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    if len == 0 {
        return Ok(());
    }
    // SAFETY: posix_fallocate only reads its integer arguments; the descriptor is open for
    // writing and owned by `file`, which outlives the call. It touches no memory of ours.
    let errno = unsafe { libc::posix_fallocate(file.as_raw_fd(), offset, len) };
    if errno != 0 {
        return Err(io::Error::from_raw_os_error(errno));
    }
    Ok(())
}

/// Elsewhere: extend the file (sparse); a full disk may then surface as a SIGBUS on a write.
#[cfg(not(target_os = "linux"))]
fn allocate(file: &File, offset_bytes: u64, len_bytes: u64) -> io::Result<()> {
    let end_bytes = offset_bytes.saturating_add(len_bytes);
    if file.metadata()?.len() < end_bytes {
        file.set_len(end_bytes)?;
    }
    Ok(())
}

/// A segment file and its read-write map of `len_bytes()` bytes from offset 0.
///
/// Contract (what makes the `unsafe` below sound): the crate maps a segment writable only in
/// the writer that holds the directory's lock (or in segment preparation, under a name nothing
/// else uses), never shortens a segment file that may be mapped, and lets only that writer
/// write to it. Readers in this or another process read it through their own read-only maps,
/// atomically for record lengths.
pub struct SegmentFile {
    map: MmapMut,
    /// Kept open for as long as the map, to sync the file's metadata.
    file: File,
}

impl SegmentFile {
    fn map(file: File, len_bytes: u64, populate: bool) -> io::Result<SegmentFile> {
        let mut options = MmapOptions::new();
        options.len(len_bytes as usize);
        if populate {
            options.populate();
        }
        // SAFETY: the file is at least `len_bytes` long (the callers created, allocated or
        // extended it just before) and, by the type's contract, is not shortened while mapped
        // and is written only through this map.
        let map = unsafe { options.map_mut(&file) }?;
        Ok(SegmentFile { map, file })
    }

    /// The length of the map: the segment's size.
    pub fn len_bytes(&self) -> u64 {
        self.map.len() as u64
    }

    /// The mapped bytes.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The mapped bytes, writable. Bytes a reader may already read (published records) must
    /// not be changed; the record length is published with [`Self::store_u32_release`].
    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }

    /// Stores `value` (native endian, which is little-endian on every supported target) at
    /// `offset_bytes` with release ordering: a reader whose atomic load of the field sees it
    /// (followed by an acquire fence) also sees every byte written before this call.
    ///
    /// Panics unless `offset_bytes` is a multiple of 4 and the field lies inside the map.
    #[inline]
    pub(crate) fn store_u32_release(&mut self, offset_bytes: usize, value: u32) {
        let end_bytes = offset_bytes.checked_add(4);
        assert!(
            offset_bytes.is_multiple_of(4) && end_bytes.is_some_and(|end| end <= self.map.len()),
            "an atomic u32 store must be aligned and inside the map"
        );
        let field_ptr = self
            .map
            .as_mut_ptr()
            .wrapping_add(offset_bytes)
            .cast::<u32>();
        assert!(field_ptr.is_aligned(), "maps are page-aligned");
        // SAFETY: `field_ptr` points to 4 writable bytes inside the map (asserted above) and is
        // aligned for a u32 (asserted). `&mut self` excludes every other access through this
        // map for the store's duration; the only concurrent accesses are readers' atomic loads
        // through their own maps (`load_u32_relaxed`), so this access is atomic as well.
        let field = unsafe { AtomicU32::from_ptr(field_ptr) };
        field.store(value, Ordering::Release);
    }
}

impl fmt::Debug for SegmentFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegmentFile")
            .field("len_bytes", &self.len_bytes())
            .finish_non_exhaustive()
    }
}

/// A read-only map of a whole file.
///
/// Contract (what makes the `unsafe` below sound): the crate maps journal segments read-only.
/// While one is mapped, only the journal writer modifies it, past its published end, and
/// publishes each record's length last with a release store; readers read a record only once
/// its length is published (`load_u32_relaxed`), and the tail check that looks past the end
/// only reports what it finds. Nothing in the crate shrinks a segment file that may be mapped
/// (the writer only extends), and unlinking one (pruning) leaves existing maps valid. A segment
/// decompressed from the archive is mapped from an unlinked temporary file that no one else can
/// open and nothing writes once it is mapped.
pub struct ReadOnlyMap {
    map: Mmap,
}

impl ReadOnlyMap {
    /// Maps `file` read-only. Besides `OsStorage`, only the reader of archived segments calls
    /// this, on an unlinked temporary file that it alone wrote and nothing changes afterwards.
    pub(crate) fn map(file: File) -> io::Result<ReadOnlyMap> {
        let len_bytes = file.metadata()?.len();
        // SAFETY: the map is read-only and covers the file's current length; by the type's
        // contract the file is not shortened while mapped and its bytes change only as
        // described there. (An empty file gives an empty map.)
        let map = unsafe { MmapOptions::new().len(len_bytes as usize).map(&file) }?;
        Ok(ReadOnlyMap { map })
    }

    /// The length of the map: the file's length when it was mapped.
    pub fn len_bytes(&self) -> u64 {
        self.map.len() as u64
    }

    /// The mapped bytes.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }
}

impl fmt::Debug for ReadOnlyMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadOnlyMap")
            .field("len_bytes", &self.len_bytes())
            .finish_non_exhaustive()
    }
}

/// Loads a u32 (native endian, little-endian on every supported target) with a relaxed atomic
/// load when the field is aligned for one, as every record length inside a map is; the caller
/// follows it with an acquire fence. An unaligned field can only be in a byte buffer outside a
/// map (tests), which nothing writes concurrently, and is read plainly.
#[inline]
pub(crate) fn load_u32_relaxed(field: &[u8; 4]) -> u32 {
    let field_ptr = field.as_ptr().cast::<AtomicU32>();
    if !field_ptr.is_aligned() {
        return u32::from_le_bytes(*field);
    }
    // SAFETY: `field_ptr` points to 4 readable bytes (the array) and is aligned for AtomicU32
    // (checked just above); AtomicU32 has the size and layout of u32. The only concurrent
    // writer of a record length is the journal writer, which stores it atomically through its
    // own map (`SegmentFile::store_u32_release`). A relaxed atomic load of a 4-byte value is
    // permitted even on read-only memory (see "Atomic accesses to read-only memory" in
    // std::sync::atomic); nothing is stored through this reference.
    unsafe { &*field_ptr }.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_length_loads_back_through_a_read_only_map() {
        let dir = std::env::temp_dir().join(format!("sluice-storage-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("segment");
        let mut segment = OsStorage.prepare_segment(&path, 8192, false).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 8192);
        assert!(segment.bytes().iter().all(|byte| *byte == 0));
        segment.store_u32_release(64, 0x0102_0304);
        OsStorage.flush(&segment, 0, 4096).unwrap();
        let read_only = OsStorage.map_read_only(&path).unwrap();
        let field: &[u8; 4] = read_only.bytes()[64..68].try_into().unwrap();
        assert_eq!(load_u32_relaxed(field), 0x0102_0304);
        assert_eq!(field, &0x0102_0304u32.to_le_bytes());
        // Reopening never shortens, and extends a short file.
        drop(segment);
        let reopened = OsStorage.open_segment(&path, 4096).unwrap();
        assert_eq!(reopened.len_bytes(), 4096);
        assert_eq!(fs::metadata(&path).unwrap().len(), 8192);
        drop((reopened, read_only));
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(100)
            .unwrap();
        let extended = OsStorage.open_segment(&path, 8192).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 8192);
        assert_eq!(
            load_u32_relaxed(extended.bytes()[64..68].try_into().unwrap()),
            0x0102_0304
        );
        drop(extended);
        assert!(
            OsStorage.prepare_segment(&path, 4096, false).is_err(),
            "create_new"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[should_panic(expected = "aligned and inside the map")]
    fn a_store_outside_the_map_panics() {
        let dir = std::env::temp_dir().join(format!("sluice-storage-oob-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut segment = OsStorage
            .prepare_segment(&dir.join("segment"), 4096, false)
            .unwrap();
        let _ = fs::remove_dir_all(&dir);
        segment.store_u32_release(4096, 1);
    }
}
