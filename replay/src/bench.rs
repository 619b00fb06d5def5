//! `sluice replay bench`: how fast the engine replays this journal. The records are read (mapped,
//! checksummed and collected) first; the timed loop is only what recovery does per input:
//! `Engine::apply_record`, which splits the envelope, decodes the message, changes the state and
//! encodes its outputs.

use std::time::Instant;

use serde_json::json;
use sluice_engine::{MAX_OUTPUT_BYTES_PER_INPUT, Outbox, StateHash};
use sluice_journal::RecordRef;

use crate::progress::Progress;
use crate::replayer::{self, Replayer, Start, start_json};
use crate::{DataDir, Error, journal_end};

/// Updates of the progress bar are this many inputs apart in the timed loop.
const PROGRESS_EVERY: usize = 1 << 16;

/// The figures of one replay.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    pub start: Start,
    /// Inputs applied in the timed loop.
    pub events: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
    pub ns_per_event: f64,
    /// Payload bytes of those inputs.
    pub payload_bytes: u64,
    /// Outputs the engine produced.
    pub outputs: u64,
    /// Seconds spent reading and checksumming the records (not timed above).
    pub read_seconds: f64,
    pub seq: u64,
    pub state_hash: StateHash,
}

/// Replays the whole journal (from Genesis, or the oldest usable snapshot when the journal was
/// pruned) through the engine alone, timing only decode and apply.
pub fn bench(data: &DataDir) -> Result<BenchReport, Error> {
    let reader = data.reader()?;
    let end = journal_end(&reader)?.ok_or_else(|| Error::new("the journal has no records"))?;
    let mut notes = Vec::new();
    let Replayer {
        mut engine, start, ..
    } = replayer::earliest(data, &reader, &mut notes)?;
    let from = engine.last_seq() + 1;
    let read_started = Instant::now();
    let records = collect(&reader, from, end.seq)?;
    let read_seconds = read_started.elapsed().as_secs_f64();
    let payload_bytes = records.iter().map(|r| r.payload.len() as u64).sum();
    let mut outbox = Outbox::with_capacity(4 * MAX_OUTPUT_BYTES_PER_INPUT);
    let mut outputs = 0u64;
    let mut progress = Progress::new(data.progress, "replaying (timed)", records.len() as u64);
    let started = Instant::now();
    for (i, record) in records.iter().enumerate() {
        outbox.clear();
        // As the server's processor does within a ring batch.
        engine.prefetch_payloads(
            records.get(i + 1).map(|r| r.payload),
            records.get(i + 2).map(|r| r.payload),
        );
        engine
            .apply_record(record.seq, record.timestamp_ns, record.payload, &mut outbox)
            .map_err(|e| Error::new(format!("the engine refused input {}: {e}", record.seq)))?;
        outputs += outbox.len() as u64;
        if i % PROGRESS_EVERY == PROGRESS_EVERY - 1 {
            progress.add(PROGRESS_EVERY as u64);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    progress.finish();
    let events = records.len() as u64;
    Ok(BenchReport {
        start,
        events,
        seconds,
        events_per_sec: if seconds > 0.0 {
            events as f64 / seconds
        } else {
            0.0
        },
        ns_per_event: if events > 0 {
            seconds * 1e9 / events as f64
        } else {
            0.0
        },
        payload_bytes,
        outputs,
        read_seconds,
        seq: engine.last_seq(),
        state_hash: engine.state_hash(),
    })
}

fn collect<'r>(
    reader: &'r sluice_journal::JournalReader,
    from: u64,
    to: u64,
) -> Result<Vec<RecordRef<'r>>, Error> {
    let mut records = Vec::with_capacity(usize::try_from(to.saturating_sub(from) + 1).unwrap_or(0));
    for record in reader.iter_from(from) {
        let record = record?;
        if record.seq > to {
            break;
        }
        records.push(record);
    }
    Ok(records)
}

impl BenchReport {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "events": self.events,
            "seconds": self.seconds,
            "events_per_sec": self.events_per_sec,
            "ns_per_event": self.ns_per_event,
            "payload_bytes": self.payload_bytes,
            "outputs": self.outputs,
            "read_seconds": self.read_seconds,
            "replayed_from": start_json(&self.start),
            "seq": self.seq,
            "state_hash": self.state_hash.to_string(),
        })
    }

    pub fn to_text(&self) -> String {
        format!(
            "replayed {} input(s) from {} through the engine alone in {:.6} s: {:.0} inputs/s, \
             {:.0} ns per input ({} outputs, {} payload bytes; reading the records took {:.3} s, \
             not timed)\nstate hash {} at seq {}",
            self.events,
            self.start,
            self.seconds,
            self.events_per_sec,
            self.ns_per_event,
            self.outputs,
            self.payload_bytes,
            self.read_seconds,
            self.state_hash,
            self.seq
        )
    }
}
