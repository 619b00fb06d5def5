//! Observations from a journal: a replay from Genesis with the engine's risk observation recorder
//! on (docs/RISK_SCORE.md, section 2), joined with the labels.

use std::path::Path;

use sluice_engine::read_envelope;
use sluice_engine::risk_observations::RiskObservation;
use sluice_journal::JournalReader;
use sluice_node::Replayer;
use sluice_protocol::{
    AnyMessage, DisputeNotice, DisputeReason, DisputeStage, LabelKind, Message, RiskLabel,
    decode_any_sbe,
};

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
    /// The labels journaled as inputs: RiskLabel, and DisputeNotice Opened for fraud.
    pub labels: Vec<Label>,
    pub seconds: f64,
}

/// Replays the journal of data directory `dir` from Genesis with the recorder on.
pub fn replay(dir: &Path) -> Result<Replayed, String> {
    let started = std::time::Instant::now();
    let journal = sluice_journal::journal_dir(dir);
    let reader =
        JournalReader::open(&journal).map_err(|e| format!("{}: {e}", journal.display()))?;
    let mut replayer = Replayer::from_genesis(&reader).map_err(|e| e.to_string())?;
    replayer.engine.record_risk_observations(true);
    let mut out = Replayed::default();
    for record in reader.iter_from(2) {
        let record = record.map_err(|e| e.to_string())?;
        replayer.apply(&record).map_err(|e| e.to_string())?;
        out.records += 1;
        out.observations
            .extend_from_slice(replayer.engine.recorded_risk_observations());
        if let Some(label) = journaled_label(record.kind, record.payload, record.timestamp_ns) {
            out.labels.push(label);
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

/// The label a journaled input gives, if it is one (an applied record has an envelope).
fn journaled_label(kind: u16, payload: &[u8], time_ns: u64) -> Option<Label> {
    if kind != RiskLabel::TEMPLATE_ID && kind != DisputeNotice::TEMPLATE_ID {
        return None;
    }
    let envelope = read_envelope(payload).ok()?;
    let (order_id, fraud, source) = match decode_any_sbe(envelope.sbe).ok()? {
        AnyMessage::RiskLabel(l) => (l.order_id, l.kind == LabelKind::Fraud, l.source.name()),
        AnyMessage::DisputeNotice(d)
            if d.stage == DisputeStage::Opened && d.reason == DisputeReason::Fraud =>
        {
            (d.order_id, true, "chargeback")
        }
        _ => return None,
    };
    Some(Label {
        order_id,
        acquirer_id: 0,
        request_id: 0,
        fraud,
        pattern: source.to_string(),
        time_ns,
    })
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
