//! `sluice replay snapshot`: writes a snapshot offline (`Engine::snapshot()` into
//! `SnapshotStore::write`, atomically), so that a server restarts from it instead of replaying the
//! whole journal.
//!
//! While a server runs, the records a reader sees may not be durable yet (under `fsync`, an
//! append is visible before its batch is msynced). A snapshot of such records that survived a
//! power loss the records did not would describe inputs the journal no longer has, and the server
//! would later journal different inputs under the same sequences. So the tool takes the journal's
//! lock file in shared mode for the whole operation — which fails while a server (the exclusive
//! holder) runs, and keeps one from starting meanwhile — and refuses unless
//! `allow_live_server`: then the caller vouches that the chosen sequence is durable (ask a live
//! server for a snapshot with an admin `SnapshotRequest` instead).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use serde_json::json;
use sluice_engine::StateHash;
use sluice_journal::{LOCK_FILE_NAME, SnapshotStore};

use crate::replayer::{Start, start_json};
use crate::state::{At, rebuild_at, resolve};
use crate::{DataDir, Error};

/// What `write_snapshot` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotWritten {
    pub seq: u64,
    pub state_hash: StateHash,
    pub path: PathBuf,
    pub payload_bytes: u64,
    /// A snapshot at the same sequence, with the same hash, was already there and was replaced.
    pub replaced: bool,
    pub start: Start,
    pub replayed: u64,
    /// A live server held the journal (only with `allow_live_server`).
    pub server_was_running: bool,
}

/// Holds the journal's lock file in shared mode while it lives.
struct SharedLock {
    _file: Option<File>,
    server_running: bool,
}

fn lock_shared(data: &DataDir) -> Result<SharedLock, Error> {
    let path = data.journal_dir.join(LOCK_FILE_NAME);
    let file = match OpenOptions::new().read(true).open(&path) {
        Ok(file) => file,
        // No lock file: no server has ever opened this journal for writing.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SharedLock {
                _file: None,
                server_running: false,
            });
        }
        Err(e) => return Err(Error::new(format!("{}: {e}", path.display()))),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(SharedLock {
            _file: Some(file),
            server_running: false,
        }),
        Err(TryLockError::WouldBlock) => Ok(SharedLock {
            _file: None,
            server_running: true,
        }),
        Err(TryLockError::Error(e)) => Err(Error::new(format!("{}: {e}", path.display()))),
    }
}

/// Rebuilds the state at `at` (default: the journal's end) and writes it as a snapshot into
/// `DATA/snapshots`. Refuses while a server holds the journal unless `allow_live_server`.
pub fn write_snapshot(
    data: &DataDir,
    at: Option<u64>,
    allow_live_server: bool,
) -> Result<SnapshotWritten, Error> {
    let lock = lock_shared(data)?;
    if lock.server_running && !allow_live_server {
        return Err(Error::new(format!(
            "a server holds the journal ({}): records it has not made durable yet could end up \
             in the snapshot. Ask the running server for a snapshot (admin SnapshotRequest), or \
             stop it first; --allow-live-server overrides this for a sequence known to be durable",
            data.journal_dir.join(LOCK_FILE_NAME).display()
        )));
    }
    let seq = resolve(data, at.map_or(At::End, At::Seq))?;
    let rebuilt = rebuild_at(data, seq)?;
    for note in &rebuilt.notes {
        eprintln!("sluice replay: {note}");
    }
    let engine = &rebuilt.replayer.engine;
    let (state_hash, payload) = engine.snapshot();
    let store = SnapshotStore::new(&data.snapshots_dir)?;
    let existing = store
        .list()?
        .into_iter()
        .find(|info| info.seq == seq)
        .and_then(|info| info.header.ok());
    if let Some(header) = existing
        && header.state_hash != state_hash.0
    {
        return Err(Error::new(format!(
            "a snapshot at seq {seq} already exists with state hash {}, but the replay gives \
             {state_hash}: refusing to replace it (run `sluice replay check`)",
            StateHash(header.state_hash)
        )));
    }
    let path = store.write(seq, state_hash.0, &payload)?;
    // Read it back: a snapshot that does not load is worse than none.
    let loaded = store.load(seq)?;
    let restored =
        sluice_engine::Engine::from_snapshot(&loaded.payload, state_hash).map_err(|e| {
            Error::new(format!(
                "{}: written but does not load: {e}",
                path.display()
            ))
        })?;
    if restored.state_hash() != state_hash {
        return Err(Error::new(format!(
            "{}: written but restores to another state hash",
            path.display()
        )));
    }
    Ok(SnapshotWritten {
        seq,
        state_hash,
        path,
        payload_bytes: payload.len() as u64,
        replaced: existing.is_some(),
        start: rebuilt.replayer.start.clone(),
        replayed: rebuilt.replayed,
        server_was_running: lock.server_running,
    })
}

impl SnapshotWritten {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "seq": self.seq,
            "state_hash": self.state_hash.to_string(),
            "file": self.path.display().to_string(),
            "payload_bytes": self.payload_bytes,
            "replaced": self.replaced,
            "replayed_from": start_json(&self.start),
            "replayed_inputs": self.replayed,
            "server_was_running": self.server_was_running,
        })
    }

    pub fn to_text(&self) -> String {
        format!(
            "snapshot written: {}\n  seq {}, state hash {}, {} bytes{}\n  built by replaying {} \
             input(s) from {}",
            self.path.display(),
            self.seq,
            self.state_hash,
            self.payload_bytes,
            if self.replaced {
                " (replaced one with the same hash)"
            } else {
                ""
            },
            self.replayed,
            self.start
        )
    }
}
