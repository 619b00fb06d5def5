//! A storage that fails chosen calls, for the tests of this crate and of the crates that use
//! it: wrap the OS storage, choose which call of which kind fails, open a writer or a snapshot
//! store with it, and check what the caller sees and what a reopen recovers.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use crate::storage::{OsStorage, ReadOnlyMap, SegmentFile, Storage};

/// A kind of storage call; one per [`Storage`] method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// [`Storage::create_dir_all`]: fails with ENOSPC.
    CreateDir,
    /// [`Storage::prepare_segment`], in the writer's open, at a roll or in the background:
    /// fails with ENOSPC before creating anything.
    PrepareSegment,
    /// [`Storage::open_segment`] (recovery reopens the newest segment): fails with EIO.
    OpenSegment,
    /// [`Storage::map_read_only`] (the scan at the writer's open): fails with ENOMEM.
    MapReadOnly,
    /// [`Storage::flush`], the msync of `commit`, of a roll and of a new segment's header:
    /// fails with EIO and flushes nothing.
    Flush,
    /// [`Storage::sync_file`] (fsync of a segment): fails with EIO.
    SyncFile,
    /// [`Storage::write_synced`] (a snapshot's temporary file): a torn write, the first half of
    /// the bytes reach the file, then ENOSPC.
    WriteSynced,
    /// [`Storage::rename`]: fails with EIO and renames nothing.
    Rename,
    /// [`Storage::sync_dir`]: fails with EIO (whatever the directory holds stays).
    SyncDir,
    /// [`Storage::remove_file`]: fails with EIO and removes nothing.
    RemoveFile,
}

impl FaultKind {
    /// Every kind, in declaration order.
    pub const ALL: [FaultKind; 10] = [
        FaultKind::CreateDir,
        FaultKind::PrepareSegment,
        FaultKind::OpenSegment,
        FaultKind::MapReadOnly,
        FaultKind::Flush,
        FaultKind::SyncFile,
        FaultKind::WriteSynced,
        FaultKind::Rename,
        FaultKind::SyncDir,
        FaultKind::RemoveFile,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The error the OS most plausibly returns for this call.
    fn os_error(self) -> io::Error {
        let errno = match self {
            FaultKind::CreateDir | FaultKind::PrepareSegment | FaultKind::WriteSynced => {
                libc::ENOSPC
            }
            FaultKind::MapReadOnly => libc::ENOMEM,
            FaultKind::OpenSegment
            | FaultKind::Flush
            | FaultKind::SyncFile
            | FaultKind::Rename
            | FaultKind::SyncDir
            | FaultKind::RemoveFile => libc::EIO,
        };
        io::Error::from_raw_os_error(errno)
    }
}

/// Which calls of one kind fail, and what happened so far.
#[derive(Clone, Copy, Debug, Default)]
struct Plan {
    /// Calls of this kind so far, failed ones included.
    calls: u64,
    /// The calls numbered `first_failing ..= last_failing` (1-based) fail; 0 means none.
    first_failing: u64,
    last_failing: u64,
    /// Calls failed so far.
    injected: u64,
}

/// A [`Storage`] that wraps another (the OS storage by default) and fails the calls chosen per
/// [`FaultKind`], with the error the OS would return. Calls are numbered per kind from 1 since
/// the storage was made, whichever thread makes them (segment preparation also runs on the
/// writer's helper thread, and the writer retries a failed background preparation once on its
/// own thread, so making a roll fail takes [`FaultyStorage::fail_from_nth`]).
///
/// ```
/// use std::sync::Arc;
/// use sluice_journal::{
///     Durability, ExpectedStart, FaultKind, FaultyStorage, JournalConfig, JournalError,
///     JournalWriter,
/// };
///
/// let dir = std::env::temp_dir().join(format!("sluice-faulty-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let storage = Arc::new(FaultyStorage::new());
/// let config = JournalConfig { segment_size_bytes: 4096, durability: Durability::Fsync };
/// let (mut writer, _) =
///     JournalWriter::open_with_storage(&dir, config, ExpectedStart::FRESH, storage.clone())
///         .unwrap();
/// writer.append(1, 10, 1, b"one").unwrap();
/// storage.fail_next(FaultKind::Flush);
/// assert!(matches!(writer.commit(), Err(JournalError::Io { .. })));
/// assert!(matches!(writer.commit(), Err(JournalError::WriterFailed { .. })));
/// # drop(writer);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct FaultyStorage {
    inner: Arc<dyn Storage>,
    plans: Mutex<[Plan; FaultKind::ALL.len()]>,
}

impl Default for FaultyStorage {
    fn default() -> Self {
        FaultyStorage::new()
    }
}

impl FaultyStorage {
    /// Wraps the OS storage; nothing fails until asked.
    pub fn new() -> FaultyStorage {
        FaultyStorage::wrapping(Arc::new(OsStorage))
    }

    /// Wraps `inner`; nothing fails until asked.
    pub fn wrapping(inner: Arc<dyn Storage>) -> FaultyStorage {
        FaultyStorage {
            inner,
            plans: Mutex::new([Plan::default(); FaultKind::ALL.len()]),
        }
    }

    /// Fails the `n`-th call of `kind` (1-based, counted since this storage was made) and no
    /// other. Replaces an earlier choice for `kind`. Panics if `n` is 0.
    pub fn fail_nth(&self, kind: FaultKind, n: u64) {
        self.set_failing(kind, n, n);
    }

    /// Fails the `n`-th call of `kind` and every later one (a full or dead disk). Replaces an
    /// earlier choice for `kind`. Panics if `n` is 0.
    pub fn fail_from_nth(&self, kind: FaultKind, n: u64) {
        self.set_failing(kind, n, u64::MAX);
    }

    /// Fails the next call of `kind` only.
    pub fn fail_next(&self, kind: FaultKind) {
        let next = self.with_plan(kind, |plan| plan.calls + 1);
        self.fail_nth(kind, next);
    }

    /// No further call of `kind` fails.
    pub fn heal(&self, kind: FaultKind) {
        self.with_plan(kind, |plan| {
            plan.first_failing = 0;
            plan.last_failing = 0;
        });
    }

    /// Calls of `kind` so far, failed ones included.
    pub fn calls(&self, kind: FaultKind) -> u64 {
        self.with_plan(kind, |plan| plan.calls)
    }

    /// Calls of `kind` failed so far.
    pub fn injected(&self, kind: FaultKind) -> u64 {
        self.with_plan(kind, |plan| plan.injected)
    }

    fn set_failing(&self, kind: FaultKind, first: u64, last: u64) {
        assert!(first >= 1, "calls are numbered from 1");
        self.with_plan(kind, |plan| {
            plan.first_failing = first;
            plan.last_failing = last;
        });
    }

    fn with_plan<T>(&self, kind: FaultKind, f: impl FnOnce(&mut Plan) -> T) -> T {
        // A panic elsewhere while the lock was held cannot leave a plan half-updated.
        let mut plans = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut plans[kind.index()])
    }

    /// Counts a call of `kind` and returns the injected error if it is one that fails.
    fn call(&self, kind: FaultKind) -> io::Result<()> {
        let fails = self.with_plan(kind, |plan| {
            plan.calls += 1;
            let fails = plan.first_failing != 0
                && (plan.first_failing..=plan.last_failing).contains(&plan.calls);
            plan.injected += u64::from(fails);
            fails
        });
        if fails {
            return Err(kind.os_error());
        }
        Ok(())
    }
}

/// The first `len_bytes` bytes of `parts`, as parts.
fn prefix<'a>(parts: &[&'a [u8]], len_bytes: usize) -> Vec<&'a [u8]> {
    let mut left_bytes = len_bytes;
    let mut prefix = Vec::with_capacity(parts.len());
    for part in parts {
        let take_bytes = left_bytes.min(part.len());
        prefix.push(&part[..take_bytes]);
        left_bytes -= take_bytes;
    }
    prefix
}

impl Storage for FaultyStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.call(FaultKind::CreateDir)?;
        self.inner.create_dir_all(dir)
    }

    fn prepare_segment(
        &self,
        path: &Path,
        size_bytes: u64,
        sync_to_disk: bool,
    ) -> io::Result<SegmentFile> {
        self.call(FaultKind::PrepareSegment)?;
        self.inner.prepare_segment(path, size_bytes, sync_to_disk)
    }

    fn open_segment(&self, path: &Path, size_bytes: u64) -> io::Result<SegmentFile> {
        self.call(FaultKind::OpenSegment)?;
        self.inner.open_segment(path, size_bytes)
    }

    fn map_read_only(&self, path: &Path) -> io::Result<ReadOnlyMap> {
        self.call(FaultKind::MapReadOnly)?;
        self.inner.map_read_only(path)
    }

    fn flush(&self, segment: &SegmentFile, offset_bytes: u64, len_bytes: u64) -> io::Result<()> {
        self.call(FaultKind::Flush)?;
        self.inner.flush(segment, offset_bytes, len_bytes)
    }

    fn sync_file(&self, segment: &SegmentFile) -> io::Result<()> {
        self.call(FaultKind::SyncFile)?;
        self.inner.sync_file(segment)
    }

    fn write_synced(&self, path: &Path, parts: &[&[u8]]) -> io::Result<()> {
        if let Err(error) = self.call(FaultKind::WriteSynced) {
            // A torn write: part of the bytes reach the file before the disk fills up.
            let total_bytes: usize = parts.iter().map(|part| part.len()).sum();
            let _ = self
                .inner
                .write_synced(path, &prefix(parts, total_bytes / 2));
            return Err(error);
        }
        self.inner.write_synced(path, parts)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.call(FaultKind::Rename)?;
        self.inner.rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.call(FaultKind::SyncDir)?;
        self.inner.sync_dir(dir)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.call(FaultKind::RemoveFile)?;
        self.inner.remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_index_their_plans_in_order() {
        for (index, kind) in FaultKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), index);
        }
    }

    #[test]
    fn the_chosen_calls_fail_and_are_counted() {
        let storage = FaultyStorage::new();
        let missing = Path::new("/nonexistent-sluice-dir/file");
        storage.fail_nth(FaultKind::RemoveFile, 2);
        let kinds: Vec<Option<i32>> = (0..3)
            .map(|_| storage.remove_file(missing).unwrap_err().raw_os_error())
            .collect();
        assert_eq!(
            kinds,
            [Some(libc::ENOENT), Some(libc::EIO), Some(libc::ENOENT)]
        );
        assert_eq!(
            (
                storage.calls(FaultKind::RemoveFile),
                storage.injected(FaultKind::RemoveFile)
            ),
            (3, 1)
        );
        storage.fail_from_nth(FaultKind::Rename, 1);
        for _ in 0..3 {
            let error = storage.rename(missing, missing).unwrap_err();
            assert_eq!(error.raw_os_error(), Some(libc::EIO));
        }
        storage.heal(FaultKind::Rename);
        let error = storage.rename(missing, missing).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(storage.injected(FaultKind::Rename), 3);
    }

    #[test]
    fn prefix_takes_the_first_bytes_across_parts() {
        let parts: [&[u8]; 3] = [b"abc", b"", b"defg"];
        let joined = |len: usize| prefix(&parts, len).concat();
        assert_eq!(joined(0), b"");
        assert_eq!(joined(2), b"ab");
        assert_eq!(joined(5), b"abcde");
        assert_eq!(joined(99), b"abcdefg");
    }
}
