//! Opening a data directory: the journal is recovered (a torn tail cut and reported), then the
//! engine is rebuilt from the newest usable snapshot and the journal's tail — or, on an empty
//! journal, Genesis and the business world are journaled as the first inputs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sluice_engine::{ENVELOPE_LEN, Engine, Outbox, write_envelope};
use sluice_journal::{
    ExpectedStart, JournalConfig, JournalError, JournalReader, JournalWriter, OsStorage,
    SnapshotStore, Storage, Truncation,
};
use sluice_protocol::{Genesis, Message, encode_sbe};
use std::sync::Arc;

use crate::replayer::{Replayer, Start};
use crate::world::World;
use crate::world::scratch::{check_world, encode_world_input};
use crate::{Error, MAX_INPUT_PAYLOAD_BYTES};

/// Session id the configuration inputs of a first start carry (no session answers them).
pub const BOOTSTRAP_SESSION: u64 = u64::MAX;

/// A recovered (or freshly bootstrapped) engine and the journal writer positioned after it.
pub struct Recovered {
    pub engine: Engine,
    pub writer: JournalWriter,
    /// The journal's last timestamp: event time never goes back, also across restarts.
    pub last_timestamp_ns: u64,
    /// What happened, step by step, for the start-up log.
    pub log: Vec<RecoveryEvent>,
}

/// One step of opening a data directory, for the start-up log. The node does not log (it is also
/// the replay tools' and the tests' code): the server logs each step with the sequences it
/// concerns as fields, and `Display` is the sentence a person reads.
#[derive(Debug, Clone, PartialEq)]
pub enum RecoveryEvent {
    /// The journal was opened and scanned.
    JournalOpened {
        dir: PathBuf,
        segments: u32,
        records: u64,
        first_seq: Option<u64>,
        last_seq: Option<u64>,
    },
    /// A torn tail was cut: the journal ends at `truncation.seq - 1`.
    TornTailCut(Truncation),
    /// A snapshot that could not be used, and why (recovery starts from an older one or Genesis).
    SnapshotSkipped(String),
    /// The snapshot recovery starts from.
    SnapshotLoaded { path: PathBuf, seq: u64 },
    /// The journal's inputs `from_seq..=to_seq` were applied (none when `from_seq > to_seq`);
    /// the engine is at `seq` with `state_hash`.
    Replayed {
        inputs: u64,
        from_seq: u64,
        to_seq: u64,
        millis: f64,
        state_hash: String,
        seq: u64,
    },
    /// First start: Genesis and `inputs` configuration inputs journaled, up to `seq`.
    FreshStart {
        inputs: usize,
        state_hash: String,
        seq: u64,
    },
}

impl fmt::Display for RecoveryEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryEvent::JournalOpened {
                dir,
                segments,
                records,
                first_seq,
                last_seq,
            } => write!(
                f,
                "journal {}: {segments} segments, {records} records, sequences {first_seq:?}..={last_seq:?}",
                dir.display()
            ),
            RecoveryEvent::TornTailCut(t) => write!(f, "journal: torn tail cut: {t:?}"),
            RecoveryEvent::SnapshotSkipped(why) => f.write_str(why),
            RecoveryEvent::SnapshotLoaded { path, seq } => {
                write!(f, "snapshot {} loaded (sequence {seq})", path.display())
            }
            RecoveryEvent::Replayed {
                inputs,
                from_seq,
                to_seq,
                millis,
                state_hash,
                seq,
            } => write!(
                f,
                "replayed {inputs} inputs ({from_seq}..={to_seq}) in {millis:.1} ms; state hash \
                 {state_hash} at sequence {seq}"
            ),
            RecoveryEvent::FreshStart {
                inputs, state_hash, ..
            } => write!(
                f,
                "fresh start: Genesis and {inputs} configuration inputs journaled; state hash \
                 {state_hash}"
            ),
        }
    }
}

/// Opens `data_dir`: recovers the journal, loads the newest valid snapshot, replays the rest — or,
/// on an empty journal, writes Genesis and `world` as the first inputs, stamped `now_ns`.
pub fn recover(
    data_dir: &Path,
    journal: JournalConfig,
    world: &World,
    now_ns: u64,
) -> Result<Recovered, Error> {
    recover_with_storage(data_dir, journal, world, now_ns, Arc::new(OsStorage))
}

/// `recover`, with the journal writer on `storage` (tests inject faults through it).
pub fn recover_with_storage(
    data_dir: &Path,
    journal: JournalConfig,
    world: &World,
    now_ns: u64,
    storage: Arc<dyn Storage>,
) -> Result<Recovered, Error> {
    let archive_dir = sluice_journal::default_archive_dir(data_dir);
    recover_with_archive(data_dir, &archive_dir, journal, world, now_ns, storage)
}

/// `recover_with_storage`, with archived journal segments in `archive_dir` (`[journal]
/// archive_dir`). A start needs only the newest usable snapshot and the live segments after
/// it; the archive is read only when no snapshot the live journal continues is usable.
pub fn recover_with_archive(
    data_dir: &Path,
    archive_dir: &Path,
    journal: JournalConfig,
    world: &World,
    now_ns: u64,
    storage: Arc<dyn Storage>,
) -> Result<Recovered, Error> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| Error::new(format!("data directory {}: {e}", data_dir.display())))?;
    let journal_dir = sluice_journal::journal_dir(data_dir);
    let store = SnapshotStore::new(&sluice_journal::snapshots_dir(data_dir))?;
    let newest_snapshot = store
        .list()?
        .iter()
        .filter(|s| s.header.is_ok())
        .map(|s| s.seq)
        .max();
    let covered = newest_snapshot.max(archived_through(&journal_dir, archive_dir)?);
    let start = covered.map_or(ExpectedStart::FRESH, ExpectedStart::after_snapshot);
    let (writer, report) = JournalWriter::open_with_storage(&journal_dir, journal, start, storage)
        .map_err(|e| explain_missing_segment(e, archive_dir))?;
    let mut log = vec![RecoveryEvent::JournalOpened {
        dir: journal_dir,
        segments: report.segments,
        records: report.records,
        first_seq: report.first_seq,
        last_seq: report.last_seq,
    }];
    if let Some(t) = &report.truncated {
        log.push(RecoveryEvent::TornTailCut(t.clone()));
    }
    match report.last_seq {
        None => bootstrap(world, writer, now_ns, log),
        Some(last) => {
            let engine = rebuild_with_archive(data_dir, archive_dir, &store, last, &mut log)?;
            Ok(Recovered {
                engine,
                writer,
                last_timestamp_ns: report.last_timestamp_ns.unwrap_or(0),
                log,
            })
        }
    }
}

/// A journal that starts too late says where else the records were looked for.
fn explain_missing_segment(error: JournalError, archive_dir: &Path) -> Error {
    if !matches!(error, JournalError::MissingSegment { .. }) {
        return Error::from(error);
    }
    Error::new(format!(
        "{error}; no valid snapshot covers the records before it, and the archive directory {} \
         holds no segment before it (set [journal] archive_dir if the archive is elsewhere)",
        archive_dir.display()
    ))
}

/// Where the archive lets the live journal start later than a snapshot would: when
/// `archive_dir` holds a segment that starts before the live journal's first one, the archive is
/// taken to hold the records up to the live start (a replay through it checks that, and names a
/// gap). None without such a segment.
fn archived_through(journal_dir: &Path, archive_dir: &Path) -> Result<Option<u64>, Error> {
    let live_first_seq = sluice_journal::list_segments(journal_dir)?
        .first()
        .map(|s| s.0);
    let archived_first_seq = sluice_journal::list_archived_segments(archive_dir)?
        .first()
        .map(|s| s.0);
    Ok(match (archived_first_seq, live_first_seq) {
        (Some(archived), Some(live)) if archived < live => Some(live - 1),
        _ => None,
    })
}

/// Rebuilds the engine at `last` from the newest valid snapshot at or below it and the journal
/// (with the archive at its default place, `DATA/archive`).
pub fn rebuild(
    data_dir: &Path,
    store: &SnapshotStore,
    last: u64,
    log: &mut Vec<RecoveryEvent>,
) -> Result<Engine, Error> {
    let archive_dir = sluice_journal::default_archive_dir(data_dir);
    rebuild_with_archive(data_dir, &archive_dir, store, last, log)
}

/// `rebuild`, reading archived segments from `archive_dir` where no usable snapshot covers the
/// live journal's start. Fails naming the journal and archive directories when neither a
/// snapshot nor the segments before the live journal are there.
pub fn rebuild_with_archive(
    data_dir: &Path,
    archive_dir: &Path,
    store: &SnapshotStore,
    last: u64,
    log: &mut Vec<RecoveryEvent>,
) -> Result<Engine, Error> {
    let journal_dir = sluice_journal::journal_dir(data_dir);
    let reader = JournalReader::open_with_archive(&journal_dir, archive_dir)?;
    let started = Instant::now();
    let mut notes = Vec::new();
    let replayer = Replayer::at_or_before(Some(store), &reader, last, &mut notes);
    let mut replayer = replayer.map_err(|e| match reader.first_seq() {
        Some(first_seq) if first_seq > 1 => Error::new(format!(
            "no usable snapshot covers the journal's start (sequence {first_seq}), and the \
             segments before it are neither in {} nor archived in {}: {e}{}",
            journal_dir.display(),
            archive_dir.display(),
            notes.iter().map(|n| format!("; {n}")).collect::<String>()
        )),
        _ => e,
    })?;
    log.extend(notes.into_iter().map(RecoveryEvent::SnapshotSkipped));
    if let Start::Snapshot { seq, path } = &replayer.start {
        log.push(RecoveryEvent::SnapshotLoaded {
            path: path.clone(),
            seq: *seq,
        });
    }
    let from_seq = replayer.last_seq() + 1;
    let inputs = replayer.run_to(&reader, last, |_| Ok::<(), Error>(()))?;
    let engine = replayer.engine;
    log.push(RecoveryEvent::Replayed {
        inputs,
        from_seq,
        to_seq: last,
        millis: started.elapsed().as_secs_f64() * 1e3,
        state_hash: engine.state_hash().to_string(),
        seq: engine.last_seq(),
    });
    Ok(engine)
}

/// Encodes an input as its journal payload (envelope + SBE) into `buf`; returns the length.
/// `buf` must hold `MAX_INPUT_PAYLOAD_BYTES` and the message must fit an inbound frame.
pub fn encode_input<M: Message>(
    buf: &mut [u8],
    session_id: u64,
    principal_id: u32,
    role: u8,
    msg: &M,
) -> usize {
    write_envelope(buf, session_id, principal_id, role);
    let sbe = encode_sbe(msg, &mut buf[ENVELOPE_LEN..])
        .expect("an input the sequencer encodes fits its payload buffer");
    ENVELOPE_LEN + sbe
}

/// First start: Genesis, then the world as admin inputs. The world is checked on a scratch engine
/// first, so nothing is written unless all of it is accepted.
fn bootstrap(
    world: &World,
    mut writer: JournalWriter,
    now_ns: u64,
    mut log: Vec<RecoveryEvent>,
) -> Result<Recovered, Error> {
    check_world(world)?;
    let mut engine = Engine::new(&world.genesis, now_ns)?;
    let mut buf = vec![0u8; MAX_INPUT_PAYLOAD_BYTES];
    let len = encode_input(&mut buf, 0, 0, 0, &world.genesis);
    writer.append(1, now_ns, Genesis::TEMPLATE_ID, &buf[..len])?;
    let mut outbox = Outbox::with_capacity(1 << 16);
    for (i, input) in world.inputs.iter().enumerate() {
        let seq = 2 + i as u64;
        let len = encode_world_input(&mut buf, &input.message)?;
        outbox.clear();
        engine.apply_record(seq, now_ns, &buf[..len], &mut outbox)?;
        writer.append(seq, now_ns, input.message.template_id(), &buf[..len])?;
    }
    writer.commit()?;
    log.push(RecoveryEvent::FreshStart {
        inputs: world.inputs.len(),
        state_hash: engine.state_hash().to_string(),
        seq: engine.last_seq(),
    });
    Ok(Recovered {
        engine,
        writer,
        last_timestamp_ns: now_ns,
        log,
    })
}
