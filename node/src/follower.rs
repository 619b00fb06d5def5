//! A follower: an engine of its own that tails the live journal and applies each record through
//! the same `Engine::apply_record` as the processor, off the live path — for snapshots that never
//! stop the ring, notifications, exports, session resume and, later, a hot standby.
//!
//! Its rules (docs/ARCHITECTURE.md, "Followers"):
//! - It never applies a record past the journal's **durable cursor**: a follower must not act on
//!   an input that a power loss could erase.
//! - It has a **durable position** of its own (`DATA/followers/<name>.pos`): the last sequence
//!   whose effects it has made durable. Restarted, it rebuilds its engine to that position without
//!   acting (the newest snapshot at or below it and the journal), then acts on what follows. What
//!   it does for a record must therefore be idempotent by sequence: a crash between the effect and
//!   the next saved position repeats the effect.
//! - It never writes into the live engine and never blocks the processor; its lag is measured.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice_engine::Engine;
use sluice_journal::{JournalReader, ReadPosition};

use crate::Error;
use crate::replayer::{Applied, Replayer, snapshot_store_if_any};

/// The journal's durable cursor: the last sequence the journaler made durable under the chosen
/// durability policy. The journaler publishes it (release) after each group commit; egress and
/// followers read it (acquire). Clones share one cursor.
#[derive(Clone, Debug)]
pub struct DurableCursor(Arc<PaddedSeq>);

/// A sequence on a cache line of its own: the journaler stores it on every batch, and nothing
/// else that is written often may share its line.
#[derive(Debug)]
#[repr(align(128))]
struct PaddedSeq(AtomicU64);

impl DurableCursor {
    pub fn new(seq: u64) -> DurableCursor {
        DurableCursor(Arc::new(PaddedSeq(AtomicU64::new(seq))))
    }

    /// The last durable sequence.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.0.load(Ordering::Acquire)
    }

    /// Publishes a new durable sequence (only the journaler does, after a commit).
    #[inline]
    pub fn publish(&self, seq: u64) {
        debug_assert!(
            seq >= self.0.0.load(Ordering::Relaxed),
            "the cursor never goes back"
        );
        self.0.0.store(seq, Ordering::Release);
    }
}

/// Puts the calling thread in Linux's idle scheduling class (`SCHED_IDLE`): it runs only on a
/// core that nothing else wants, and never preempts the pipeline's threads. A follower sharing
/// cores with the live pipeline then lags under load and catches up after, instead of slowing
/// the live path. (A nice value of 19 still took about a fifth of the demo's throughput on two
/// cores; the idle class does not.)
#[allow(unsafe_code)] // One syscall on the calling thread; see the SAFETY comment.
pub fn background_priority() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, initialized sched_param that outlives the call; `pid = 0` names
    // the calling thread, and the call only changes that thread's scheduling policy.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// What a follower reports: how far it applied, how far it could, and what it saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerStatus {
    /// The last sequence applied to its engine.
    pub applied_seq: u64,
    /// The durable cursor when it last looked.
    pub durable_seq: u64,
    /// Inputs durable but not yet applied, when it last looked.
    pub lag_inputs: u64,
    /// The durable position: what a restart resumes after.
    pub saved_seq: u64,
}

/// A follower's progress, readable from other threads while it runs.
#[derive(Debug, Default)]
pub struct Progress {
    applied_seq: AtomicU64,
    durable_seq: AtomicU64,
    saved_seq: AtomicU64,
    /// The largest lag seen, inputs.
    max_lag_inputs: AtomicU64,
}

impl Progress {
    pub fn status(&self) -> FollowerStatus {
        let applied_seq = self.applied_seq.load(Ordering::Acquire);
        let durable_seq = self.durable_seq.load(Ordering::Acquire);
        FollowerStatus {
            applied_seq,
            durable_seq,
            lag_inputs: durable_seq.saturating_sub(applied_seq),
            saved_seq: self.saved_seq.load(Ordering::Acquire),
        }
    }

    /// The largest lag seen since the follower started, inputs.
    pub fn max_lag_inputs(&self) -> u64 {
        self.max_lag_inputs.load(Ordering::Acquire)
    }
}

/// Bytes of a position file: magic, sequence, CRC32C of both, 4 zero bytes.
const POSITION_LEN: usize = 24;
const POSITION_MAGIC: &[u8; 8] = b"SLFPOS01";

/// The file holding a follower's durable position.
pub fn position_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("followers").join(format!("{name}.pos"))
}

/// Reads a position file: `Ok(None)` when there is none; a damaged file is an error that names it.
pub fn read_position(path: &Path) -> Result<Option<u64>, Error> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::new(format!("{}: {e}", path.display()))),
    };
    let bad = |why: &str| Error::new(format!("{}: {why}", path.display()));
    if bytes.len() != POSITION_LEN || &bytes[..8] != POSITION_MAGIC {
        return Err(bad("not a follower position file (wrong length or magic)"));
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[16..20]);
    if crc32c::crc32c(&bytes[..16]) != u32::from_le_bytes(crc) {
        return Err(bad("checksum mismatch"));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&bytes[8..16]);
    Ok(Some(u64::from_le_bytes(seq)))
}

/// Writes a position file atomically: a temporary file, synced, renamed, the directory synced.
pub fn write_position(path: &Path, seq: u64) -> Result<(), Error> {
    let io = |what: &Path, e: std::io::Error| Error::new(format!("{}: {e}", what.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut bytes = [0u8; POSITION_LEN];
    bytes[..8].copy_from_slice(POSITION_MAGIC);
    bytes[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[..16]);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
    let temp = path.with_extension("pos.tmp");
    let mut file = File::create(&temp).map_err(|e| io(&temp, e))?;
    file.write_all(&bytes).map_err(|e| io(&temp, e))?;
    file.sync_all().map_err(|e| io(&temp, e))?;
    fs::rename(&temp, path).map_err(|e| io(path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

/// A follower of one data directory's journal.
pub struct Follower {
    name: String,
    data_dir: PathBuf,
    replayer: Replayer,
    reader: JournalReader,
    position: ReadPosition,
    cursor: DurableCursor,
    progress: Arc<Progress>,
    saved_seq: u64,
}

impl Follower {
    /// Opens the follower `name` of `data_dir`'s journal, whose durable cursor is `cursor`: its
    /// engine is rebuilt, without acting, to its saved position (or to the journal's earliest
    /// start, when it has none yet: then every record is new to it).
    pub fn open(data_dir: &Path, name: &str, cursor: DurableCursor) -> Result<Follower, Error> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(Error::new(format!(
                "follower name {name:?}: use letters, digits, '-' and '_'"
            )));
        }
        let saved = read_position(&position_path(data_dir, name))?;
        let reader = JournalReader::open(&sluice_journal::journal_dir(data_dir))?;
        let store = snapshot_store_if_any(data_dir)?;
        let mut notes = Vec::new();
        let mut replayer = match saved {
            Some(seq) => Replayer::at_or_before(store.as_ref(), &reader, seq, &mut notes)?,
            None => Replayer::earliest(store.as_ref(), &reader, &mut notes)?,
        };
        let target = saved.unwrap_or(replayer.last_seq());
        if target > cursor.get() {
            return Err(Error::new(format!(
                "follower {name}: its saved position {target} is past the durable cursor {}",
                cursor.get()
            )));
        }
        replayer.run_to(&reader, target, |_| Ok::<(), Error>(()))?;
        let mut follower = Follower::with_replayer(data_dir, name, cursor, replayer)?;
        follower.saved_seq = saved.unwrap_or(0);
        follower
            .progress
            .saved_seq
            .store(follower.saved_seq, Ordering::Release);
        Ok(follower)
    }

    /// Opens the follower `name` at `target` without a position file of its own: its engine is
    /// rebuilt, without acting, from the newest snapshot at or below `target` and the journal.
    /// For a follower whose durable effects say where it is (the snapshot follower: the newest
    /// snapshot), so that a restart starts it where the live engine starts. `save_position` is
    /// then never needed.
    pub fn open_at(
        data_dir: &Path,
        name: &str,
        cursor: DurableCursor,
        target: u64,
    ) -> Result<Follower, Error> {
        if target > cursor.get() {
            return Err(Error::new(format!(
                "follower {name}: sequence {target} is past the durable cursor {}",
                cursor.get()
            )));
        }
        let reader = JournalReader::open(&sluice_journal::journal_dir(data_dir))?;
        let store = snapshot_store_if_any(data_dir)?;
        let mut notes = Vec::new();
        let mut replayer = Replayer::at_or_before(store.as_ref(), &reader, target, &mut notes)?;
        replayer.run_to(&reader, target, |_| Ok::<(), Error>(()))?;
        Follower::with_replayer(data_dir, name, cursor, replayer)
    }

    /// The follower `name` around an engine already at some durable sequence (restored by the
    /// caller), without a position file of its own, as `open_at`.
    pub fn with_replayer(
        data_dir: &Path,
        name: &str,
        cursor: DurableCursor,
        replayer: Replayer,
    ) -> Result<Follower, Error> {
        let target = replayer.last_seq();
        if target > cursor.get() {
            return Err(Error::new(format!(
                "follower {name}: sequence {target} is past the durable cursor {}",
                cursor.get()
            )));
        }
        let reader = JournalReader::open(&sluice_journal::journal_dir(data_dir))?;
        let position = reader.iter_from(target + 1).position();
        let progress = Arc::new(Progress::default());
        progress.applied_seq.store(target, Ordering::Release);
        Ok(Follower {
            name: name.to_string(),
            data_dir: data_dir.to_path_buf(),
            replayer,
            reader,
            position,
            cursor,
            progress,
            saved_seq: 0,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the follower's engine was rebuilt from (Genesis or a snapshot).
    pub fn start(&self) -> &crate::Start {
        &self.replayer.start
    }

    /// The durable cursor the follower reads.
    pub fn durable_seq(&self) -> u64 {
        self.cursor.get()
    }

    /// The follower's engine (at `applied_seq`).
    pub fn engine(&self) -> &Engine {
        &self.replayer.engine
    }

    /// The last sequence applied.
    pub fn applied_seq(&self) -> u64 {
        self.replayer.last_seq()
    }

    /// A handle on the follower's progress for other threads.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    pub fn status(&self) -> FollowerStatus {
        self.progress.status()
    }

    /// Applies up to `max` durable records not yet applied, calling `act` after each with the
    /// engine and the record's outputs. Returns how many were applied (0: nothing durable is
    /// new). Never applies a record past the durable cursor.
    pub fn poll(
        &mut self,
        max: usize,
        act: impl FnMut(Applied<'_>) -> Result<(), Error>,
    ) -> Result<usize, Error> {
        self.poll_until(max, act, |_| false)
            .map(|(applied, _)| applied)
    }

    /// `poll`, which also stops right after a record for which `stop_after` (given the engine,
    /// mutably: `Engine::take_snapshot_request`) says so. Returns how many records were applied
    /// and whether `stop_after` stopped it (the engine is then exactly at that record).
    pub fn poll_until(
        &mut self,
        max: usize,
        mut act: impl FnMut(Applied<'_>) -> Result<(), Error>,
        mut stop_after: impl FnMut(&mut Engine) -> bool,
    ) -> Result<(usize, bool), Error> {
        let durable = self.cursor.get();
        self.note_durable(durable);
        let mut applied = 0;
        let mut refreshed = false;
        let mut stopped = false;
        while applied < max && self.replayer.last_seq() < durable {
            let mut records = self.reader.records_at(self.position);
            let Some(record) = records.next() else {
                // A durable record is visible: the writer rolled to a segment this reader has not
                // mapped yet. Map it once; if the record is still not there the journal is damaged.
                if refreshed {
                    return Err(Error::new(format!(
                        "follower {}: durable record {} is not in the journal",
                        self.name,
                        self.replayer.last_seq() + 1
                    )));
                }
                drop(records);
                self.reader.refresh()?;
                refreshed = true;
                continue;
            };
            let record = record?;
            assert!(
                record.seq <= durable,
                "a follower never applies past the durable cursor"
            );
            self.replayer
                .apply(&record)
                .map_err(|e| Error::new(format!("follower {}: {e}", self.name)))?;
            self.position = records.position();
            applied += 1;
            act(Applied {
                record: &record,
                engine: &self.replayer.engine,
                outputs: self.replayer.outputs(),
            })?;
            if stop_after(&mut self.replayer.engine) {
                stopped = true;
                break;
            }
        }
        self.progress
            .applied_seq
            .store(self.replayer.last_seq(), Ordering::Release);
        Ok((applied, stopped))
    }

    fn note_durable(&self, durable: u64) {
        self.progress.durable_seq.store(durable, Ordering::Release);
        let lag = durable.saturating_sub(self.replayer.last_seq());
        self.progress
            .max_lag_inputs
            .fetch_max(lag, Ordering::AcqRel);
    }

    /// Makes the position durable: a restart resumes after the last applied record. Call it only
    /// once the effects of the records applied so far are durable themselves.
    pub fn save_position(&mut self) -> Result<(), Error> {
        let seq = self.replayer.last_seq();
        if seq == self.saved_seq {
            return Ok(());
        }
        write_position(&position_path(&self.data_dir, &self.name), seq)?;
        self.saved_seq = seq;
        self.progress.saved_seq.store(seq, Ordering::Release);
        Ok(())
    }

    /// Follows until `stop` is set and everything durable is applied: polls, sleeps briefly when
    /// nothing is new, and saves its position every `save_every` (and at the end). `act` runs
    /// after each record.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        save_every: Duration,
        mut act: impl FnMut(Applied<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        const BATCH: usize = 4096;
        let mut saved_at = Instant::now();
        loop {
            let applied = self.poll(BATCH, &mut act)?;
            if saved_at.elapsed() >= save_every {
                self.save_position()?;
                saved_at = Instant::now();
            }
            if applied == 0 {
                if stop.load(Ordering::Acquire) && self.replayer.last_seq() >= self.cursor.get() {
                    break;
                }
                // Followers are off the live path: a short sleep, not a spin, on shared cores.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        self.save_position()
    }
}
