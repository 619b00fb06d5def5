//! The notifier's durable store: its own files in `DATA/notify/`, not the journal.
//!
//! **Why not the journal.** Delivery state changes at the rate of attempts (20,000 outcomes a
//! second at full load); journaling them as inputs would double the live path's input rate for
//! bookkeeping that does not change money, and would put HTTP timing into a log that must replay
//! deterministically. The journal stays the source of *what* to notify; this store only says
//! *how far delivery got*. After a crash the notifier rebuilds its pending set from here and the
//! journal side re-derives notifications past its saved position (enqueue is idempotent by id).
//!
//! **Files.** `state.log`: append-only framed records (`record.rs`: length + CRC32C), the first a
//! header naming the compaction generation. `checkpoint`: the whole state at a generation
//! (pending and given-up notifications with their state, delivered ids within the horizon).
//! `state.log.next`: exists only during a compaction. `resend/`: the operators' spool.
//!
//! **Durability.** `Created` records are made durable by [`Store::sync`] (the caller saves its
//! journal position only after it). Outcome records are batched and written at least every
//! 100 ms but fsynced only by `sync`, compaction and shutdown: a crash may lose the last few
//! outcomes, which only means an attempt is repeated. Delivery is at least once; the merchant
//! de-duplicates on the notification id.
//!
//! **Compaction** (when the log passes `log_compact_bytes`), in three steps so that appends wait
//! only for the first: (1) under the lock, sync the log, serialize the state, switch appends to
//! `state.log.next` (generation G+1); (2) without the lock, write `checkpoint.tmp`, fsync, rename
//! to `checkpoint`, fsync the directory; (3) under the lock, rename `state.log.next` to
//! `state.log`. Recovery applies the checkpoint, then every log whose generation is at least the
//! checkpoint's, in order, so a crash at any point of the three loses nothing. Opening a store
//! always writes a fresh checkpoint and an empty log, which also cuts any torn tail.

use crate::NotifyError;
use crate::book::{BookLimits, DeliveryBook};
use crate::record::{self, Record};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const LOG_FILE: &str = "state.log";
pub const NEXT_LOG_FILE: &str = "state.log.next";
pub const CHECKPOINT_FILE: &str = "checkpoint";
const CHECKPOINT_TMP_FILE: &str = "checkpoint.tmp";
const LOG_TMP_FILE: &str = "state.log.tmp";

fn io(path: &Path, e: std::io::Error) -> NotifyError {
    NotifyError::Io(format!("{}: {e}", path.display()))
}

/// The open, appendable log.
pub struct Store {
    dir: PathBuf,
    /// Shared so that [`Store::flush_for_sync`] can fsync without holding the caller's lock.
    file: Arc<File>,
    path: PathBuf,
    buffer: Vec<u8>,
    log_bytes: u64,
    generation: u64,
}

/// A checkpoint serialized under the lock, written without it.
pub struct Compaction {
    dir: PathBuf,
    bytes: Vec<u8>,
}

/// The state read from a store directory.
pub struct Loaded {
    pub book: DeliveryBook,
    /// The highest generation seen.
    pub generation: u64,
    /// Where a torn tail was found (file, offset), if anywhere.
    pub torn_tails: Vec<(PathBuf, u64)>,
}

/// Reads checkpoint and logs into a book, without changing any file (the offline `status` uses
/// this while a notifier may be running).
pub fn load(dir: &Path, limits: BookLimits) -> Result<Loaded, NotifyError> {
    let mut book = DeliveryBook::new(limits);
    let checkpoint_path = dir.join(CHECKPOINT_FILE);
    let mut generation = 0;
    let mut torn_tails = Vec::new();
    if let Some(scan) = read_scan(&checkpoint_path)? {
        if scan.torn_tail {
            // A checkpoint is renamed into place only after its fsync: it is never torn.
            return Err(NotifyError::Corrupt(format!(
                "{}: truncated at offset {}",
                checkpoint_path.display(),
                scan.valid_bytes
            )));
        }
        generation = apply_all(&mut book, &checkpoint_path, scan.records)?.unwrap_or(0);
    }
    let checkpoint_generation = generation;
    let mut logs = Vec::new();
    for name in [LOG_FILE, NEXT_LOG_FILE] {
        let path = dir.join(name);
        let Some(scan) = read_scan(&path)? else {
            continue;
        };
        let log_generation = match scan.records.first() {
            Some(Record::Header { generation }) => *generation,
            _ => continue, // Empty, or torn within its header: nothing was appended after it.
        };
        if scan.torn_tail {
            torn_tails.push((path.clone(), scan.valid_bytes));
        }
        logs.push((log_generation, path, scan.records));
    }
    logs.sort_by_key(|(g, _, _)| *g);
    let oldest_useful = logs
        .iter()
        .map(|(g, _, _)| *g)
        .find(|g| *g >= checkpoint_generation);
    if oldest_useful.is_some_and(|g| g > checkpoint_generation) && checkpoint_generation > 0 {
        // A compaction finished between reading the checkpoint and the log: read again.
        return Err(NotifyError::Io(format!(
            "{}: changed while being read",
            dir.display()
        )));
    }
    for (log_generation, path, records) in logs {
        if log_generation >= checkpoint_generation {
            apply_all(&mut book, &path, records)?;
            generation = generation.max(log_generation);
        }
    }
    Ok(Loaded {
        book,
        generation,
        torn_tails,
    })
}

fn read_scan(path: &Path) -> Result<Option<record::Scan>, NotifyError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
    };
    record::scan(&bytes).map(Some).map_err(|(offset, why)| {
        NotifyError::Corrupt(format!("{} at offset {offset}: {why}", path.display()))
    })
}

/// Applies a file's records; returns its header's generation.
fn apply_all(
    book: &mut DeliveryBook,
    path: &Path,
    records: Vec<Record>,
) -> Result<Option<u64>, NotifyError> {
    let mut generation = None;
    for (i, record) in records.into_iter().enumerate() {
        match record {
            Record::Header { generation: g } if i == 0 => generation = Some(g),
            Record::Header { .. } => {
                return Err(NotifyError::Corrupt(format!(
                    "{}: a second header (record {i})",
                    path.display()
                )));
            }
            record => apply(book, record),
        }
    }
    Ok(generation)
}

/// One record into the book, through the same calls the live notifier makes.
pub fn apply(book: &mut DeliveryBook, record: Record) {
    match record {
        Record::Header { .. } => {}
        Record::Created { note, at_ms } => {
            if !book.is_known(&note.id) {
                book.restore(Arc::new(note), 0, at_ms, None, false);
            }
        }
        Record::Attempted {
            id,
            attempts,
            next_due_ms,
            error,
        } => book.restore_attempted(&id, attempts, next_due_ms, error),
        Record::Delivered { id, at_ms } | Record::DeliveredId { id, at_ms } => {
            book.handle_delivered(&id, at_ms)
        }
        Record::GivenUp {
            id,
            attempts,
            error,
            ..
        } => book.restore_given_up(&id, attempts, error),
        Record::Resend { id, at_ms } => {
            book.handle_resend(&id, at_ms);
        }
        Record::Pending {
            note,
            attempts,
            due_ms,
            last_error,
            given_up,
        } => {
            let last_error = (!last_error.is_empty()).then_some(last_error);
            book.restore(Arc::new(note), attempts, due_ms, last_error, given_up)
        }
    }
}

/// The whole state as checkpoint bytes, headed by `generation`.
fn serialize(book: &DeliveryBook, generation: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    record::encode(&Record::Header { generation }, &mut bytes);
    for entry in book.entries() {
        let pending = Record::Pending {
            note: Notification::clone(&entry.note),
            attempts: entry.attempts,
            due_ms: entry.due_ms,
            last_error: entry.last_error.clone().unwrap_or_default(),
            given_up: entry.phase == crate::book::Phase::GivenUp,
        };
        record::encode(&pending, &mut bytes);
    }
    for (id, at_ms) in book.delivered_ids() {
        record::encode(
            &Record::DeliveredId {
                id: id.to_string(),
                at_ms,
            },
            &mut bytes,
        );
    }
    bytes
}

use crate::Notification;

/// Writes `bytes` to `dir/tmp_name`, fsyncs, renames it to `dir/name`, fsyncs the directory.
fn write_atomically(
    dir: &Path,
    tmp_name: &str,
    name: &str,
    bytes: &[u8],
) -> Result<(), NotifyError> {
    let tmp = dir.join(tmp_name);
    let mut file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, dir.join(name)).map_err(|e| io(&tmp, e))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), NotifyError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

fn open_append(path: &Path) -> Result<File, NotifyError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| io(path, e))
}

impl Store {
    /// Opens or recovers the store in `dir`: reads everything, then writes a fresh checkpoint and
    /// an empty log at the next generation (normalizing any interrupted compaction, cutting any
    /// torn tail). Returns the recovered book.
    pub fn open(dir: &Path, limits: BookLimits) -> Result<(Store, DeliveryBook), NotifyError> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let loaded = load(dir, limits)?;
        for (path, offset) in &loaded.torn_tails {
            tracing::warn!(file = %path.display(), offset, "notify store: torn tail cut (a crash mid-append)");
        }
        let generation = loaded.generation + 1;
        let checkpoint = serialize(&loaded.book, generation);
        write_atomically(dir, CHECKPOINT_TMP_FILE, CHECKPOINT_FILE, &checkpoint)?;
        let mut header = Vec::new();
        record::encode(&Record::Header { generation }, &mut header);
        write_atomically(dir, LOG_TMP_FILE, LOG_FILE, &header)?;
        let next = dir.join(NEXT_LOG_FILE);
        if next.exists() {
            std::fs::remove_file(&next).map_err(|e| io(&next, e))?;
            sync_dir(dir)?;
        }
        let path = dir.join(LOG_FILE);
        let file = Arc::new(open_append(&path)?);
        let log_bytes = header.len() as u64;
        let store = Store {
            dir: dir.to_path_buf(),
            file,
            path,
            buffer: Vec::new(),
            log_bytes,
            generation,
        };
        Ok((store, loaded.book))
    }

    /// Buffers a record (written by the next flush).
    pub fn append(&mut self, record: &Record) {
        let before = self.buffer.len();
        record::encode(record, &mut self.buffer);
        self.log_bytes += (self.buffer.len() - before) as u64;
    }

    /// Writes buffered records to the file (no fsync).
    pub fn flush(&mut self) -> Result<(), NotifyError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        (&*self.file)
            .write_all(&self.buffer)
            .map_err(|e| io(&self.path, e))?;
        self.buffer.clear();
        Ok(())
    }

    /// Writes and fsyncs everything appended so far.
    pub fn sync(&mut self) -> Result<(), NotifyError> {
        let (file, path) = self.flush_for_sync()?;
        file.sync_data().map_err(|e| io(&path, e))
    }

    /// Writes everything appended so far and returns the file to fsync, so that the caller can
    /// release its lock first: appends and outcome records need not wait for the disk. A
    /// compaction switching files in between is safe: it fsyncs the old log itself.
    pub fn flush_for_sync(&mut self) -> Result<(Arc<File>, PathBuf), NotifyError> {
        self.flush()?;
        Ok((self.file.clone(), self.path.clone()))
    }

    pub fn log_bytes(&self) -> u64 {
        self.log_bytes
    }

    /// Step 1 of compaction (under the caller's locks): sync, serialize, switch to the next log.
    pub fn begin_compaction(&mut self, book: &DeliveryBook) -> Result<Compaction, NotifyError> {
        self.sync()?;
        let generation = self.generation + 1;
        let bytes = serialize(book, generation);
        let next = self.dir.join(NEXT_LOG_FILE);
        let mut header = Vec::new();
        record::encode(&Record::Header { generation }, &mut header);
        let mut file = File::create(&next).map_err(|e| io(&next, e))?;
        file.write_all(&header)
            .and_then(|()| file.sync_all())
            .map_err(|e| io(&next, e))?;
        sync_dir(&self.dir)?;
        self.file = Arc::new(open_append(&next)?);
        self.path = next;
        self.generation = generation;
        self.log_bytes = header.len() as u64;
        Ok(Compaction {
            dir: self.dir.clone(),
            bytes,
        })
    }

    /// Step 3 of compaction: the next log becomes the log.
    pub fn finish_compaction(&mut self) -> Result<(), NotifyError> {
        let log = self.dir.join(LOG_FILE);
        std::fs::rename(&self.path, &log).map_err(|e| io(&self.path, e))?;
        sync_dir(&self.dir)?;
        self.path = log;
        Ok(())
    }
}

impl Compaction {
    /// Step 2 of compaction, without locks: the checkpoint, atomically.
    pub fn write(&self) -> Result<(), NotifyError> {
        write_atomically(&self.dir, CHECKPOINT_TMP_FILE, CHECKPOINT_FILE, &self.bytes)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
