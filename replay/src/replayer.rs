//! The replay tools' use of the node's one replayer (`sluice_node::replayer`): starts found in a
//! [`DataDir`], a progress bar per run, and where a replay started as JSON.

use sluice_journal::JournalReader;
pub use sluice_node::replayer::{Applied, Replayer, Start};

use crate::progress::Progress;
use crate::{DataDir, Error};

/// `{"from": "genesis", "seq": 1}` or `{"from": "snapshot", "seq": …, "file": …}`.
pub fn start_json(start: &Start) -> serde_json::Value {
    match start {
        Start::Genesis => serde_json::json!({ "from": "genesis", "seq": 1 }),
        Start::Snapshot { seq, path } => serde_json::json!({
            "from": "snapshot",
            "seq": seq,
            "file": path.display().to_string(),
        }),
    }
}

/// The engine restored from the snapshot at `seq` of `data`.
pub fn from_snapshot(data: &DataDir, seq: u64) -> Result<Replayer, Error> {
    let store = data
        .snapshot_store()?
        .ok_or_else(|| Error::new(format!("{} does not exist", data.snapshots_dir.display())))?;
    Ok(Replayer::from_snapshot(&store, seq)?)
}

/// The best start for reaching `target` (see `Replayer::at_or_before`).
pub fn at_or_before(
    data: &DataDir,
    reader: &JournalReader,
    target: u64,
    notes: &mut Vec<String>,
) -> Result<Replayer, Error> {
    let store = data.snapshot_store()?;
    Ok(Replayer::at_or_before(
        store.as_ref(),
        reader,
        target,
        notes,
    )?)
}

/// The earliest start `data` allows (see `Replayer::earliest`).
pub fn earliest(
    data: &DataDir,
    reader: &JournalReader,
    notes: &mut Vec<String>,
) -> Result<Replayer, Error> {
    let store = data.snapshot_store()?;
    Ok(Replayer::earliest(store.as_ref(), reader, notes)?)
}

/// `Replayer::run_to` with a progress tick per input.
pub fn run_to(
    replayer: &mut Replayer,
    reader: &JournalReader,
    to: u64,
    progress: &mut Progress,
    mut visit: impl FnMut(Applied<'_>) -> Result<(), Error>,
) -> Result<u64, Error> {
    replayer.run_to(reader, to, |step| {
        progress.tick();
        visit(step)
    })
}

/// `run_to` with a progress bar (when `data.progress`) and no visitor.
pub fn advance_to(
    replayer: &mut Replayer,
    data: &DataDir,
    reader: &JournalReader,
    to: u64,
    label: &str,
) -> Result<u64, Error> {
    let total = to.saturating_sub(replayer.last_seq());
    let mut progress = Progress::new(data.progress, label, total);
    let applied = run_to(replayer, reader, to, &mut progress, |_| Ok(()));
    progress.finish();
    applied
}
