//! Opening a data directory: the journal is recovered (a torn tail cut and reported), then the
//! engine is rebuilt from the newest usable snapshot and the journal's tail — or, on an empty
//! journal, Genesis and the business world are journaled as the first inputs.

use std::path::Path;
use std::time::Instant;

use sluice_engine::{ENVELOPE_LEN, Engine, Outbox, write_envelope};
use sluice_journal::{
    ExpectedStart, JournalConfig, JournalReader, JournalWriter, OsStorage, SnapshotStore, Storage,
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
    /// What happened, line by line, for the start-up log.
    pub log: Vec<String>,
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
    let start = newest_snapshot.map_or(ExpectedStart::FRESH, ExpectedStart::after_snapshot);
    let (writer, report) = JournalWriter::open_with_storage(&journal_dir, journal, start, storage)?;
    let mut log = vec![format!(
        "journal {}: {} segments, {} records, sequences {:?}..={:?}",
        journal_dir.display(),
        report.segments,
        report.records,
        report.first_seq,
        report.last_seq
    )];
    if let Some(t) = &report.truncated {
        log.push(format!("journal: torn tail cut: {t:?}"));
    }
    match report.last_seq {
        None => bootstrap(world, writer, now_ns, log),
        Some(last) => {
            let engine = rebuild(data_dir, &store, last, &mut log)?;
            Ok(Recovered {
                engine,
                writer,
                last_timestamp_ns: report.last_timestamp_ns.unwrap_or(0),
                log,
            })
        }
    }
}

/// Rebuilds the engine at `last` from the newest valid snapshot at or below it and the journal.
pub fn rebuild(
    data_dir: &Path,
    store: &SnapshotStore,
    last: u64,
    log: &mut Vec<String>,
) -> Result<Engine, Error> {
    let reader = JournalReader::open(&sluice_journal::journal_dir(data_dir))?;
    let started = Instant::now();
    let mut notes = Vec::new();
    let mut replayer = Replayer::at_or_before(Some(store), &reader, last, &mut notes)?;
    log.append(&mut notes);
    if let Start::Snapshot { seq, path } = &replayer.start {
        log.push(format!(
            "snapshot {} loaded (sequence {seq})",
            path.display()
        ));
    }
    let from = replayer.last_seq() + 1;
    let replayed = replayer.run_to(&reader, last, |_| Ok::<(), Error>(()))?;
    let engine = replayer.engine;
    log.push(format!(
        "replayed {replayed} inputs ({from}..={last}) in {:.1} ms; state hash {} at sequence {}",
        started.elapsed().as_secs_f64() * 1e3,
        engine.state_hash(),
        engine.last_seq()
    ));
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
    mut log: Vec<String>,
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
    log.push(format!(
        "fresh start: Genesis and {} configuration inputs journaled; state hash {}",
        world.inputs.len(),
        engine.state_hash()
    ));
    Ok(Recovered {
        engine,
        writer,
        last_timestamp_ns: now_ns,
        log,
    })
}
