//! Background preparation of the next segment file, so that rolling to a new segment rarely
//! waits on the file system.
//!
//! A helper thread has the storage ([`Storage::prepare_segment`]) create a file at its full size
//! under a temporary name, with every block allocated, map it and write one byte per page, which
//! makes the kernel allocate every page now rather than on the hot path (and, under `Fsync`,
//! sync it so that later msyncs need no metadata update). It hands the file and its map back
//! over a channel. At most one preparation is in flight; when none is
//! ready at a roll, the writer prepares one synchronously.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::{self, JoinHandle};

use crate::error::JournalError;
use crate::storage::{SegmentFile, Storage};

/// Suffix of segment files being prepared; open removes any left by a crash.
pub(crate) const PREPARED_FILE_SUFFIX: &str = ".seg.prep";

/// A full-size, zero-filled, pre-faulted segment file under a temporary name.
#[derive(Debug)]
pub(crate) struct PreparedSegment {
    pub path: PathBuf,
    pub segment: SegmentFile,
}

/// Creates a prepared segment file at `path` (see [`Storage::prepare_segment`]); removes the
/// partial file on failure.
pub(crate) fn prepare_segment_file(
    storage: &dyn Storage,
    path: &Path,
    size_bytes: u64,
    sync_to_disk: bool,
) -> Result<PreparedSegment, JournalError> {
    match storage.prepare_segment(path, size_bytes, sync_to_disk) {
        Ok(segment) => Ok(PreparedSegment {
            path: path.to_path_buf(),
            segment,
        }),
        Err(source) => {
            // Best effort: a leftover would only be removed at the next open.
            let _ = storage.remove_file(path);
            Err(JournalError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    }
}

/// Removes prepared files left by a crash. Only the writer that holds the lock calls this.
pub(crate) fn remove_leftover_prepared_files(
    storage: &dyn Storage,
    dir: &Path,
) -> Result<(), JournalError> {
    for entry in fs::read_dir(dir).map_err(JournalError::io(dir))? {
        let entry = entry.map_err(JournalError::io(dir))?;
        let is_prepared = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.ends_with(PREPARED_FILE_SUFFIX));
        if is_prepared {
            let path = entry.path();
            storage
                .remove_file(&path)
                .map_err(JournalError::io(&path))?;
        }
    }
    Ok(())
}

type PrepareResult = Result<PreparedSegment, JournalError>;

/// The helper thread and its two channels.
pub(crate) struct Preparer {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    size_bytes: u64,
    sync_to_disk: bool,
    requests: Option<Sender<PathBuf>>,
    ready: Receiver<PrepareResult>,
    thread: Option<JoinHandle<()>>,
    in_flight: bool,
    next_file_index: u64,
}

impl Preparer {
    /// Starts the helper thread; it prepares nothing until asked.
    pub(crate) fn start(
        storage: Arc<dyn Storage>,
        dir: &Path,
        size_bytes: u64,
        sync_to_disk: bool,
    ) -> Result<Preparer, JournalError> {
        let (request_sender, request_receiver) = mpsc::channel::<PathBuf>();
        let (ready_sender, ready_receiver) = mpsc::channel::<PrepareResult>();
        let helper_storage = Arc::clone(&storage);
        let thread = thread::Builder::new()
            .name("sluice-journal-prep".into())
            .spawn(move || {
                // Ends when the writer drops its request sender.
                while let Ok(path) = request_receiver.recv() {
                    let prepared =
                        prepare_segment_file(&*helper_storage, &path, size_bytes, sync_to_disk);
                    if ready_sender.send(prepared).is_err() {
                        break;
                    }
                }
            })
            .map_err(JournalError::io(dir))?;
        Ok(Preparer {
            storage,
            dir: dir.to_path_buf(),
            size_bytes,
            sync_to_disk,
            requests: Some(request_sender),
            ready: ready_receiver,
            thread: Some(thread),
            in_flight: false,
            next_file_index: 0,
        })
    }

    /// Asks the helper for the next segment unless one is already on its way.
    pub(crate) fn request(&mut self) {
        if self.in_flight {
            return;
        }
        let path = self.next_path();
        let sent = self
            .requests
            .as_ref()
            .is_some_and(|requests| requests.send(path).is_ok());
        // If the helper is gone, `take` prepares synchronously instead.
        self.in_flight = sent;
    }

    /// A prepared segment: the helper's if it is ready (`true`), otherwise one made now.
    pub(crate) fn take(&mut self) -> Result<(PreparedSegment, bool), JournalError> {
        if self.in_flight {
            match self.ready.try_recv() {
                Ok(Ok(prepared)) => {
                    self.in_flight = false;
                    return Ok((prepared, true));
                }
                // The helper failed (say, the disk was full): try again here, where an error
                // reaches the caller.
                Ok(Err(_)) | Err(TryRecvError::Disconnected) => self.in_flight = false,
                Err(TryRecvError::Empty) => {}
            }
        }
        let path = self.next_path();
        prepare_segment_file(&*self.storage, &path, self.size_bytes, self.sync_to_disk)
            .map(|prepared| (prepared, false))
    }

    fn next_path(&mut self) -> PathBuf {
        let index = self.next_file_index;
        self.next_file_index += 1;
        self.dir
            .join(format!("prepared-{index:06}{PREPARED_FILE_SUFFIX}"))
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        // Closing the request channel lets the helper finish its current file and exit.
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            // A panic in the helper has nothing left to clean up; ignore it.
            let _ = thread.join();
        }
        while let Ok(result) = self.ready.try_recv() {
            if let Ok(prepared) = result {
                let path = prepared.path.clone();
                drop(prepared);
                let _ = self.storage.remove_file(&path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::OsStorage;
    use std::time::{Duration, Instant};

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sluice-journal-prep-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn prepared_files(dir: &Path) -> usize {
        fs::read_dir(dir)
            .unwrap()
            .filter(|entry| {
                let name = entry.as_ref().unwrap().file_name();
                name.to_str().unwrap().ends_with(PREPARED_FILE_SUFFIX)
            })
            .count()
    }

    #[test]
    fn helper_prepares_in_background_and_drop_cleans_up() {
        let dir = temp_dir("background");
        let mut preparer = Preparer::start(Arc::new(OsStorage), &dir, 8192, false).unwrap();
        preparer.request();
        // Wait (bounded) until the helper has produced the file.
        let deadline = Instant::now() + Duration::from_secs(10);
        let prepared = loop {
            match preparer.ready.try_recv() {
                Ok(result) => break result.unwrap(),
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Err(error) => panic!("helper did not answer: {error}"),
            }
        };
        preparer.in_flight = false;
        assert_eq!(prepared.segment.len_bytes(), 8192);
        assert!(prepared.segment.bytes().iter().all(|byte| *byte == 0));
        assert_eq!(fs::metadata(&prepared.path).unwrap().len(), 8192);
        drop(prepared);
        preparer.request();
        drop(preparer);
        assert_eq!(
            prepared_files(&dir),
            1,
            "the taken file is the caller's to rename"
        );
        remove_leftover_prepared_files(&OsStorage, &dir).unwrap();
        assert_eq!(prepared_files(&dir), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn take_without_request_prepares_synchronously() {
        let dir = temp_dir("sync");
        let mut preparer = Preparer::start(Arc::new(OsStorage), &dir, 4096, true).unwrap();
        let (first, from_helper) = preparer.take().unwrap();
        assert!(!from_helper);
        preparer.request();
        let (second, _) = preparer.take().unwrap();
        assert_ne!(first.path, second.path);
        assert_eq!(second.segment.len_bytes(), 4096);
        drop(preparer);
        fs::remove_dir_all(&dir).unwrap();
    }
}
