//! The replay loop shared by every command: an engine started from Genesis (the server's own
//! `pipeline::genesis_engine`) or from a snapshot, fed journal records through the same envelope
//! and `Engine::apply` path as the live processor, with the outputs of each input available to a
//! visitor (the server's `pipeline::replay_into` discards them and has no progress hook, so the
//! loop is here; the per-record work is the same eight lines).

use std::fmt;
use std::path::PathBuf;

use sluice_engine::{
    Engine, InputMeta, MAX_OUTPUT_BYTES_PER_INPUT, Outbox, StateHash, read_envelope,
};
use sluice_gateway::pipeline::ReadAhead;
use sluice_journal::{JournalReader, RecordRef};

use crate::progress::Progress;
use crate::{DataDir, Error, file_name};

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

    /// `{"from": "genesis"}` or `{"from": "snapshot", "seq": …, "file": …}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Start::Genesis => serde_json::json!({ "from": "genesis", "seq": 1 }),
            Start::Snapshot { seq, path } => serde_json::json!({
                "from": "snapshot",
                "seq": seq,
                "file": path.display().to_string(),
            }),
        }
    }
}

impl fmt::Display for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Start::Genesis => write!(f, "genesis (seq 1)"),
            Start::Snapshot { seq, path } => {
                write!(f, "snapshot {} (seq {seq})", file_name(path))
            }
        }
    }
}

/// One applied input, as a visitor sees it.
pub struct Applied<'a> {
    pub record: &'a RecordRef<'a>,
    pub meta: &'a InputMeta,
    /// The SBE message (after the envelope).
    pub sbe: &'a [u8],
    /// The engine right after the input.
    pub engine: &'a Engine,
    /// What the input produced.
    pub outputs: &'a Outbox,
}

/// An engine positioned at a sequence, ready to apply the journal's next records.
pub struct Replayer {
    pub engine: Engine,
    pub start: Start,
    outbox: Outbox,
}

impl Replayer {
    fn new(engine: Engine, start: Start) -> Replayer {
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
        let engine = sluice_gateway::pipeline::genesis_engine(reader)?;
        Ok(Replayer::new(engine, Start::Genesis))
    }

    /// The engine restored from the snapshot at `seq`, checked against its recorded hash.
    pub fn from_snapshot(data: &DataDir, seq: u64) -> Result<Replayer, Error> {
        let store = data.snapshot_store()?.ok_or_else(|| {
            Error::new(format!("{} does not exist", data.snapshots_dir.display()))
        })?;
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
        Ok(Replayer::new(
            engine,
            Start::Snapshot {
                seq,
                path: loaded.path,
            },
        ))
    }

    /// The best start for reaching `target`: the newest valid snapshot at or below it from which
    /// the journal continues, else Genesis. Snapshots passed over are noted with why.
    pub fn at_or_before(
        data: &DataDir,
        reader: &JournalReader,
        target: u64,
        notes: &mut Vec<String>,
    ) -> Result<Replayer, Error> {
        let first_seq = reader.first_seq().unwrap_or(1);
        if let Some(store) = data.snapshot_store()? {
            for info in store.list()?.iter().rev() {
                if info.seq > target || info.header.is_err() {
                    continue;
                }
                // A snapshot older than the journal's start cannot be continued.
                if info.seq < target && info.seq + 1 < first_seq {
                    continue;
                }
                match Replayer::from_snapshot(data, info.seq) {
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
        data: &DataDir,
        reader: &JournalReader,
        notes: &mut Vec<String>,
    ) -> Result<Replayer, Error> {
        let first_seq = reader.first_seq().unwrap_or(1);
        if first_seq <= 1 {
            return Replayer::from_genesis(reader);
        }
        if let Some(store) = data.snapshot_store()? {
            for info in store.list()? {
                if info.header.is_err() || info.seq + 1 < first_seq {
                    continue;
                }
                match Replayer::from_snapshot(data, info.seq) {
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

    /// Applies records up to and including `to`, calling `visit` after each. Returns how many
    /// were applied. Fails if the journal ends before `to`.
    pub fn run_to(
        &mut self,
        reader: &JournalReader,
        to: u64,
        progress: &mut Progress,
        mut visit: impl FnMut(Applied<'_>) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let last = self.engine.last_seq();
        if to < last {
            return Err(Error::new(format!(
                "cannot replay back to seq {to}: the state is already at seq {last}"
            )));
        }
        let mut applied = 0u64;
        if to == last {
            return Ok(applied);
        }
        let mut records = ReadAhead::new(reader, last + 1);
        while let Some(record) = records.next(&self.engine) {
            let record = record?;
            if record.seq > to {
                break;
            }
            let envelope = read_envelope(record.payload)
                .map_err(|e| Error::new(format!("input {}: {e}", record.seq)))?;
            let meta = InputMeta {
                seq: record.seq,
                timestamp_ns: record.timestamp_ns,
                session_id: envelope.session_id,
                principal_id: envelope.principal_id,
                role: envelope.role,
            };
            self.outbox.clear();
            self.engine
                .apply(&meta, envelope.sbe, &mut self.outbox)
                .map_err(|e| Error::new(format!("the engine refused input {}: {e}", record.seq)))?;
            applied += 1;
            progress.tick();
            visit(Applied {
                record: &record,
                meta: &meta,
                sbe: envelope.sbe,
                engine: &self.engine,
                outputs: &self.outbox,
            })?;
        }
        if self.engine.last_seq() != to {
            return Err(Error::new(format!(
                "the journal ends at seq {} before seq {to}",
                self.engine.last_seq()
            )));
        }
        Ok(applied)
    }

    /// `run_to` with a progress bar (when `data.progress`) and no visitor.
    pub fn advance_to(
        &mut self,
        data: &DataDir,
        reader: &JournalReader,
        to: u64,
        label: &str,
    ) -> Result<u64, Error> {
        let total = to.saturating_sub(self.last_seq());
        let mut progress = Progress::new(data.progress, label, total);
        let applied = self.run_to(reader, to, &mut progress, |_| Ok(()));
        progress.finish();
        applied
    }
}
