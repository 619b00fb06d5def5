//! Observations from a journal: a replay from Genesis with the engine's risk observation recorder
//! on (docs/RISK_SCORE.md, section 2), joined with the labels.

use std::path::Path;

use sluice_engine::risk_observations::RiskObservation;
use sluice_journal::JournalReader;
use sluice_node::Replayer;

use crate::labels::Label;

/// A labelled observation.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    pub observation: RiskObservation,
    /// Fraud per the labels (unlabelled orders count as genuine).
    pub fraud: bool,
}

/// What a replay saw.
#[derive(Debug, Clone, Default)]
pub struct Replayed {
    pub records: u64,
    pub observations: Vec<RiskObservation>,
    pub seconds: f64,
}

/// Replays the journal of data directory `dir` from Genesis with the recorder on.
pub fn replay(dir: &Path) -> Result<Replayed, String> {
    let started = std::time::Instant::now();
    let journal = sluice_journal::journal_dir(dir);
    let reader = JournalReader::open(&journal).map_err(|e| format!("{}: {e}", journal.display()))?;
    let mut replayer = Replayer::from_genesis(&reader).map_err(|e| e.to_string())?;
    replayer.engine.record_risk_observations(true);
    let mut out = Replayed::default();
    for record in reader.iter_from(2) {
        let record = record.map_err(|e| e.to_string())?;
        replayer.apply(&record).map_err(|e| e.to_string())?;
        out.records += 1;
        out.observations
            .extend_from_slice(replayer.engine.recorded_risk_observations());
    }
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

/// Joins observations with labels by order id (labels of orders never observed are ignored).
pub fn join(observations: &[RiskObservation], labels: &[Label]) -> Vec<Example> {
    let fraud = crate::labels::by_order(labels);
    observations
        .iter()
        .map(|o| Example {
            observation: *o,
            fraud: fraud.get(&o.order_id).copied().unwrap_or(false),
        })
        .collect()
}
