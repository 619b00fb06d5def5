//! The start-up log: what recovery did (each step with the sequences it concerns), and how a
//! configuration file given to `serve --config` differs from the journaled state.

use sluice_engine::Engine;
use sluice_node::RecoveryEvent;
use std::path::Path;
use tracing::{info, warn};

use crate::config::Config;

/// Logs recovery's steps: `seq` where one sequence is meant (a snapshot loaded, the state
/// reached), `from_seq`/`to_seq` for the inputs replayed, `first_seq`/`last_seq` for the journal.
pub(super) fn log_recovery(events: &[RecoveryEvent]) {
    for event in events {
        match event {
            RecoveryEvent::JournalOpened {
                segments,
                records,
                first_seq,
                last_seq,
                ..
            } => info!(segments, records, first_seq, last_seq, "{event}"),
            RecoveryEvent::TornTailCut(t) => {
                warn!(seq = t.seq, bytes_cut = t.bytes_cut, "{event}")
            }
            RecoveryEvent::SnapshotSkipped(_) => warn!("{event}"),
            RecoveryEvent::SnapshotLoaded { seq, .. } => info!(seq, "{event}"),
            RecoveryEvent::Replayed {
                inputs,
                from_seq,
                to_seq,
                state_hash,
                seq,
                ..
            } => info!(
                seq,
                from_seq,
                to_seq,
                inputs,
                state_hash = %state_hash,
                "{event}"
            ),
            RecoveryEvent::FreshStart {
                inputs,
                state_hash,
                seq,
            } => info!(seq, inputs, state_hash = %state_hash, "{event}"),
        }
    }
}

/// Says, loudly, how the file's business sections differ from the journaled state: one warning
/// per difference, between a line that counts them and one that says how to apply them.
pub(super) fn report_config_drift(file: &Path, config: &Config, engine: &Engine) {
    let f = file.display();
    let differences = match sluice_node::world::diff::diff(&config.world, engine) {
        Ok(d) => d,
        Err(e) => {
            warn!(config_file = %f, "{f} cannot be compared with the journal: {e}");
            return;
        }
    };
    if differences.is_empty() {
        return;
    }
    let count = differences.len();
    warn!(
        config_file = %f,
        differences = count,
        "{f} differs from the journaled state in {count} places. The journal is the source of \
         truth: these were NOT applied."
    );
    for d in &differences {
        warn!(config_file = %f, "not applied: {d}");
    }
    warn!(
        config_file = %f,
        "review with `sluice admin diff {f}`, apply with `sluice admin apply {f}`"
    );
}
