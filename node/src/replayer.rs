//! The one replayer: an engine positioned at a sequence — built from Genesis or restored from a
//! snapshot — that applies the journal's next records through `Engine::apply_record`, reading two
//! records ahead so the engine can prefetch what they will miss in cache. Recovery at start, the
//! operator's replay tools and followers all drive this loop.

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};

use sluice_engine::{
    Engine, Envelope, MAX_OUTPUT_BYTES_PER_INPUT, Outbox, StateHash, read_envelope,
};
use sluice_journal::{JournalError, JournalReader, RecordRef, Records, SnapshotStore};
use sluice_protocol::{Genesis, Message};

use crate::Error;

/// Where a replay started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// From the journal's first record, Genesis (sequence 1).
    Genesis,
    /// From a snapshot taken at `seq`.
    Snapshot { seq: u64, path: PathBuf },
}

impl Start {
    /// The sequence the state starts at (Genesis is input 1).
    pub fn seq(&self) -> u64 {
        match self {
            Start::Genesis => 1,
            Start::Snapshot { seq, .. } => *seq,
        }
    }
}

impl fmt::Display for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Start::Genesis => write!(f, "genesis (seq 1)"),
            Start::Snapshot { seq, path } => {
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                write!(f, "snapshot {name} (seq {seq})")
            }
        }
    }
}

/// One applied input, as a visitor sees it.
pub struct Applied<'a> {
    pub record: &'a RecordRef<'a>,
    /// The engine right after the input.
    pub engine: &'a Engine,
    /// What the input produced.
    pub outputs: &'a Outbox,
}

impl<'a> Applied<'a> {
    /// Who sent the input, and its SBE message (the record was applied, so it has an envelope).
    pub fn envelope(&self) -> Envelope<'a> {
        read_envelope(self.record.payload)
            .unwrap_or_else(|_| unreachable!("an applied record has an envelope"))
    }
}

/// The engine built from the journal's first record, which must be Genesis at sequence 1.
pub fn genesis_engine(reader: &JournalReader) -> Result<Engine, Error> {
    let first = reader
        .iter_from(1)
        .next()
        .ok_or_else(|| {
            Error::new("the journal does not start at sequence 1 and no snapshot covers its start")
        })?
        .map_err(Error::from)?;
    if first.seq != 1 || first.kind != Genesis::TEMPLATE_ID {
        return Err(Error::new(format!(
            "sequence {} (kind {}) is not Genesis",
            first.seq, first.kind
        )));
    }
    Engine::from_genesis_record(first.timestamp_ns, first.payload)
        .map_err(|e| Error::new(format!("sequence 1: {e}")))
}

/// Journal records from a sequence on, read two ahead of the one handed out, so that the engine
/// applying them can start loading what the next two will miss in cache (`Engine::prefetch_payloads`,
/// as the processor does within a ring batch). Records and errors come in the journal's order, as
/// from `JournalReader::iter_from`.
pub struct ReadAhead<'a> {
    records: Records<'a>,
    ahead: VecDeque<Result<RecordRef<'a>, JournalError>>,
}

impl<'a> ReadAhead<'a> {
    pub fn new(reader: &'a JournalReader, from: u64) -> ReadAhead<'a> {
        let mut records = reader.iter_from(from);
        let ahead = records.by_ref().take(2).collect();
        ReadAhead { records, ahead }
    }

    /// The next record; first lets `engine` prefetch for the two after it.
    pub fn next(&mut self, engine: &Engine) -> Option<Result<RecordRef<'a>, JournalError>> {
        let record = self.ahead.pop_front()?;
        self.ahead.extend(self.records.next());
        let payload = |k: usize| match self.ahead.get(k) {
            Some(Ok(r)) => Some(r.payload),
            _ => None,
        };
        engine.prefetch_payloads(payload(0), payload(1));
        Some(record)
    }
}

/// An engine positioned at a sequence, ready to apply the journal's next records.
pub struct Replayer {
    pub engine: Engine,
    pub start: Start,
    outbox: Outbox,
}

impl Replayer {
    /// A replayer around an engine already at some sequence.
    pub fn new(engine: Engine, start: Start) -> Replayer {
        Replayer {
            engine,
            start,
            outbox: Outbox::with_capacity(4 * MAX_OUTPUT_BYTES_PER_INPUT),
        }
    }

    /// The engine built from the journal's first record, Genesis.
    pub fn from_genesis(reader: &JournalReader) -> Result<Replayer, Error> {
        match reader.first_seq() {
            Some(1) => {}
            Some(first) => {
                return Err(Error::new(format!(
                    "the journal starts at seq {first} (older segments were pruned) and no \
                     usable snapshot covers the inputs before it"
                )));
            }
            None => return Err(Error::new("the journal has no segments")),
        }
        Ok(Replayer::new(genesis_engine(reader)?, Start::Genesis))
    }

    /// The engine restored from the snapshot at `seq`, checked against its recorded hash.
    pub fn from_snapshot(store: &SnapshotStore, seq: u64) -> Result<Replayer, Error> {
        let loaded = store.load(seq)?;
        let engine = Engine::from_snapshot(&loaded.payload, StateHash(loaded.state_hash))
            .map_err(|e| Error::new(format!("{}: {e}", loaded.path.display())))?;
        if engine.last_seq() != seq {
            return Err(Error::new(format!(
                "{}: the state inside is at seq {}, not {seq}",
                loaded.path.display(),
                engine.last_seq()
            )));
        }
        let start = Start::Snapshot {
            seq,
            path: loaded.path,
        };
        Ok(Replayer::new(engine, start))
    }

    /// The best start for reaching `target`: the newest valid snapshot at or below it from which
    /// the journal continues, else Genesis. Snapshots passed over are noted with why.
    pub fn at_or_before(
        store: Option<&SnapshotStore>,
        reader: &JournalReader,
        target: u64,
        notes: &mut Vec<String>,
    ) -> Result<Replayer, Error> {
        let first_seq = reader.first_seq().unwrap_or(1);
        if let Some(store) = store {
            for info in store.list()?.iter().rev() {
                if info.seq > target {
                    continue;
                }
                if let Err(why) = &info.header {
                    notes.push(format!("snapshot {} skipped: {why}", info.path.display()));
                    continue;
                }
                // A snapshot older than the journal's start cannot be continued.
                if info.seq < target && info.seq + 1 < first_seq {
                    continue;
                }
                match Replayer::from_snapshot(store, info.seq) {
                    Ok(replayer) => return Ok(replayer),
                    Err(e) => notes.push(format!("snapshot skipped: {e}")),
                }
            }
        }
        Replayer::from_genesis(reader)
    }

    /// The earliest start this data directory allows: Genesis when the journal starts at 1, else
    /// the oldest valid snapshot from which the (pruned) journal continues.
    pub fn earliest(
        store: Option<&SnapshotStore>,
        reader: &JournalReader,
        notes: &mut Vec<String>,
    ) -> Result<Replayer, Error> {
        let first_seq = reader.first_seq().unwrap_or(1);
        if first_seq <= 1 {
            return Replayer::from_genesis(reader);
        }
        if let Some(store) = store {
            for info in store.list()? {
                if info.header.is_err() || info.seq + 1 < first_seq {
                    continue;
                }
                match Replayer::from_snapshot(store, info.seq) {
                    Ok(replayer) => {
                        notes.push(format!(
                            "the journal starts at seq {first_seq} (older segments were pruned): \
                             replaying from {}",
                            replayer.start
                        ));
                        return Ok(replayer);
                    }
                    Err(e) => notes.push(format!("snapshot skipped: {e}")),
                }
            }
        }
        Replayer::from_genesis(reader)
    }

    /// The sequence of the last applied input.
    pub fn last_seq(&self) -> u64 {
        self.engine.last_seq()
    }

    /// Applies one record (the next in sequence); its outputs stay in `outputs()` until the next.
    pub fn apply(&mut self, record: &RecordRef<'_>) -> Result<(), Error> {
        self.outbox.clear();
        self.engine
            .apply_record(
                record.seq,
                record.timestamp_ns,
                record.payload,
                &mut self.outbox,
            )
            .map_err(|e| Error::new(format!("the engine refused input {}: {e}", record.seq)))
    }

    /// The outputs of the last applied record.
    pub fn outputs(&self) -> &Outbox {
        &self.outbox
    }

    /// Applies records up to and including `to`, calling `visit` after each. Returns how many
    /// were applied. Fails if the journal ends before `to`.
    pub fn run_to<E: From<Error>>(
        &mut self,
        reader: &JournalReader,
        to: u64,
        mut visit: impl FnMut(Applied<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let last = self.engine.last_seq();
        if to < last {
            return Err(Error::new(format!(
                "cannot replay back to seq {to}: the state is already at seq {last}"
            ))
            .into());
        }
        let mut applied = 0u64;
        if to == last {
            return Ok(applied);
        }
        let mut records = ReadAhead::new(reader, last + 1);
        while let Some(record) = records.next(&self.engine) {
            let record = record.map_err(Error::from)?;
            if record.seq > to {
                break;
            }
            self.apply(&record)?;
            applied += 1;
            visit(Applied {
                record: &record,
                engine: &self.engine,
                outputs: &self.outbox,
            })?;
        }
        if self.engine.last_seq() != to {
            return Err(Error::new(format!(
                "the journal ends at seq {} before seq {to}",
                self.engine.last_seq()
            ))
            .into());
        }
        Ok(applied)
    }
}

impl Replayer {
    /// `run_to`, with the journal read and checksummed on a second thread, in batches of
    /// `READ_BATCH` records, while this one applies: for long replays on a machine with a core to
    /// spare (the backtest). The same records in the same order, the same errors.
    pub fn run_to_read_in_parallel<E: From<Error> + Send>(
        &mut self,
        reader: &JournalReader,
        to: u64,
        mut visit: impl FnMut(Applied<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let last = self.engine.last_seq();
        if to <= last {
            return self.run_to(reader, to, visit);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<RecordRef<'_>>>(READ_BATCHES_AHEAD);
        std::thread::scope(|scope| {
            let read = scope.spawn(move || read_batches(reader, last + 1, to, &tx));
            let mut applied = 0u64;
            for batch in rx.iter() {
                applied += self.apply_batch(&batch, &mut visit)?;
            }
            // The reader stops at `to`, at the journal's end or at its first error.
            read.join().expect("the journal reader thread panicked")?;
            if self.engine.last_seq() != to {
                return Err(Error::new(format!(
                    "the journal ends at seq {} before seq {to}",
                    self.engine.last_seq()
                ))
                .into());
            }
            Ok(applied)
        })
    }

    fn apply_batch<E: From<Error>>(
        &mut self,
        batch: &[RecordRef<'_>],
        visit: &mut impl FnMut(Applied<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        for (i, record) in batch.iter().enumerate() {
            let payload = |k: usize| batch.get(i + k).map(|r| r.payload);
            self.engine.prefetch_payloads(payload(1), payload(2));
            self.apply(record)?;
            visit(Applied {
                record,
                engine: &self.engine,
                outputs: &self.outbox,
            })?;
        }
        Ok(batch.len() as u64)
    }
}

/// Records per batch the reader thread hands over, and batches it may read ahead.
const READ_BATCH: usize = 4096;
const READ_BATCHES_AHEAD: usize = 4;

/// Reads records `from..=to` in batches into `tx`; stops early when the receiver is gone.
fn read_batches<'a>(
    reader: &'a JournalReader,
    from: u64,
    to: u64,
    tx: &std::sync::mpsc::SyncSender<Vec<RecordRef<'a>>>,
) -> Result<(), Error> {
    let mut batch = Vec::with_capacity(READ_BATCH);
    for record in reader.iter_from(from) {
        let record = record.map_err(Error::from)?;
        if record.seq > to {
            break;
        }
        batch.push(record);
        if batch.len() == READ_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(READ_BATCH));
            if tx.send(full).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch);
    }
    Ok(())
}

/// The snapshot store of a data directory, if `DATA/snapshots` exists (it is not created here).
pub fn snapshot_store_if_any(data_dir: &Path) -> Result<Option<SnapshotStore>, Error> {
    let dir = sluice_journal::snapshots_dir(data_dir);
    if !dir.is_dir() {
        return Ok(None);
    }
    Ok(Some(SnapshotStore::new(&dir)?))
}
