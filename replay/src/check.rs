//! `sluice replay check`: determinism, proved on real data.
//!
//! The journal is replayed from Genesis to its end, and again from every valid snapshot. The
//! replay from Genesis must reach, at each snapshot's sequence, the hash that snapshot recorded
//! (the live server's state then), and every replay must end with the same state hash. The output
//! bytes are compared too: each replay hashes everything the engine emits between consecutive
//! snapshot sequences, and those digests must agree wherever two replays cover the same inputs.
//! With no snapshot to compare against, the journal is replayed from Genesis twice.
//!
//! When the journal no longer starts at 1 (segments pruned after a snapshot), the oldest usable
//! snapshot takes Genesis's place as the reference.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde_json::json;
use sluice_engine::StateHash;
use sluice_journal::JournalReader;
use xxhash_rust::xxh3::Xxh3;

use crate::progress::Progress;
use crate::replayer::{self, Replayer, Start, start_json};
use crate::{DataDir, Error, file_name, journal_end};

/// One replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub start: Start,
    /// The hash the start recorded (a snapshot's header), if any.
    pub start_recorded_hash: Option<StateHash>,
    pub replayed: u64,
    pub end_hash: StateHash,
    /// Digest of all output bytes per interval, keyed by the interval's last sequence.
    pub output_digests: BTreeMap<u64, u128>,
    /// State hashes this run reached at snapshot sequences.
    pub hashes_at: BTreeMap<u64, StateHash>,
}

/// What `check` found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub data_dir: PathBuf,
    pub end_seq: u64,
    /// The reference replay (from Genesis, or the oldest usable snapshot), then one per snapshot
    /// (or a second reference replay when there is no snapshot).
    pub runs: Vec<Run>,
    /// Snapshots not used, with why.
    pub skipped: Vec<String>,
    /// Every disagreement, as a sentence.
    pub mismatches: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
    }

    /// The state hash at the journal's end (the reference replay's).
    pub fn end_hash(&self) -> Option<StateHash> {
        self.runs.first().map(|r| r.end_hash)
    }
}

/// A valid snapshot: its sequence, path and recorded hash.
struct SnapshotRef {
    seq: u64,
    path: PathBuf,
    hash: StateHash,
}

/// Replays from scratch and from every valid snapshot, and compares.
pub fn check(data: &DataDir) -> Result<CheckReport, Error> {
    let reader = data.reader()?;
    let end = journal_end(&reader)?.ok_or_else(|| Error::new("the journal has no records"))?;
    let mut skipped = Vec::new();
    let snapshots = usable_snapshots(data, &reader, end.seq, &mut skipped)?;
    // Interval boundaries for the output digests: every snapshot sequence, and the end.
    let mut boundaries: Vec<u64> = snapshots.iter().map(|s| s.seq).collect();
    boundaries.push(end.seq);
    boundaries.dedup();
    let reference = match Replayer::from_genesis(&reader) {
        Ok(replayer) => replayer,
        Err(e) => {
            let oldest = snapshots
                .first()
                .ok_or_else(|| Error::new(format!("{e}; nothing to replay from")))?;
            skipped.push(format!("no replay from Genesis: {e}"));
            replayer::from_snapshot(data, oldest.seq)?
        }
    };
    let plan = Plan {
        end_seq: end.seq,
        boundaries,
        snapshots,
    };
    let reference_seq = reference.last_seq();
    let mut runs = vec![plan.run(data, &reader, reference, None)?];
    let mut others = 0;
    let mut refused = Vec::new();
    for snapshot in &plan.snapshots {
        if snapshot.seq == reference_seq && matches!(runs[0].start, Start::Snapshot { .. }) {
            continue; // the reference itself
        }
        // A snapshot whose checksums hold but that the engine refuses fails the check too.
        match replayer::from_snapshot(data, snapshot.seq) {
            Ok(replayer) => {
                runs.push(plan.run(data, &reader, replayer, Some(snapshot.hash))?);
                others += 1;
            }
            Err(e) => refused.push(format!("the engine cannot start from a snapshot: {e}")),
        }
    }
    if others == 0 {
        // Nothing to compare with: replay from the same start a second time.
        let again = match &runs[0].start {
            Start::Genesis => Replayer::from_genesis(&reader)?,
            Start::Snapshot { seq, .. } => replayer::from_snapshot(data, *seq)?,
        };
        runs.push(plan.run(data, &reader, again, None)?);
    }
    let mut report = CheckReport {
        data_dir: data.root.clone(),
        end_seq: end.seq,
        runs,
        skipped,
        mismatches: Vec::new(),
    };
    compare(&mut report, &plan.snapshots);
    report.mismatches.extend(refused);
    Ok(report)
}

/// Valid snapshots at or below the journal's end from which the journal continues, oldest first.
fn usable_snapshots(
    data: &DataDir,
    reader: &JournalReader,
    end_seq: u64,
    skipped: &mut Vec<String>,
) -> Result<Vec<SnapshotRef>, Error> {
    let Some(store) = data.snapshot_store()? else {
        return Ok(Vec::new());
    };
    let first_seq = reader.first_seq().unwrap_or(1);
    let mut out = Vec::new();
    for info in store.list()? {
        let name = file_name(&info.path);
        let header = match &info.header {
            Ok(header) => *header,
            Err(why) => {
                skipped.push(format!("{name}: {why}"));
                continue;
            }
        };
        if info.seq > end_seq {
            skipped.push(format!("{name}: beyond the journal's end (seq {end_seq})"));
            continue;
        }
        if info.seq + 1 < first_seq {
            skipped.push(format!(
                "{name}: older than the journal's start (seq {first_seq})"
            ));
            continue;
        }
        if let Err(e) = store.load(info.seq) {
            skipped.push(format!("{name}: {e}"));
            continue;
        }
        out.push(SnapshotRef {
            seq: info.seq,
            path: info.path.clone(),
            hash: StateHash(header.state_hash),
        });
    }
    Ok(out)
}

/// What every replay of one check shares.
struct Plan {
    end_seq: u64,
    /// Interval ends for the output digests: every snapshot sequence, and the end.
    boundaries: Vec<u64>,
    snapshots: Vec<SnapshotRef>,
}

impl Plan {
    /// One replay to the end, digesting outputs per interval and hashing at snapshot sequences.
    fn run(
        &self,
        data: &DataDir,
        reader: &JournalReader,
        mut replayer: Replayer,
        start_recorded_hash: Option<StateHash>,
    ) -> Result<Run, Error> {
        let start = replayer.start.clone();
        let start_seq = replayer.last_seq();
        let mut hashes_at = BTreeMap::new();
        hashes_at.insert(start_seq, replayer.engine.state_hash());
        let mut output_digests = BTreeMap::new();
        let mut digest = Xxh3::new();
        let label = match &start {
            Start::Genesis => "replay from genesis".to_string(),
            Start::Snapshot { seq, .. } => format!("replay from seq {seq}"),
        };
        let total = self.end_seq.saturating_sub(start_seq);
        let mut progress = Progress::new(data.progress, &label, total);
        let replayed =
            replayer::run_to(&mut replayer, reader, self.end_seq, &mut progress, |step| {
                digest.update(step.outputs.bytes());
                let seq = step.record.seq;
                if self.boundaries.binary_search(&seq).is_ok() {
                    output_digests.insert(seq, digest.digest128());
                    digest.reset();
                }
                if self.snapshots.iter().any(|s| s.seq == seq) {
                    hashes_at.insert(seq, step.engine.state_hash());
                }
                Ok(())
            });
        progress.finish();
        let replayed = replayed?;
        Ok(Run {
            start,
            start_recorded_hash,
            replayed,
            end_hash: replayer.engine.state_hash(),
            output_digests,
            hashes_at,
        })
    }
}

fn compare(report: &mut CheckReport, snapshots: &[SnapshotRef]) {
    let Some((reference, others)) = report.runs.split_first() else {
        return;
    };
    let mut mismatches = Vec::new();
    for snapshot in snapshots {
        let Some(replayed) = reference.hashes_at.get(&snapshot.seq) else {
            continue; // before the reference's start
        };
        if *replayed != snapshot.hash {
            mismatches.push(format!(
                "snapshot {} recorded state hash {} at seq {}, but the replay from {} reaches {} \
                 there",
                file_name(&snapshot.path),
                snapshot.hash,
                snapshot.seq,
                reference.start,
                replayed
            ));
        }
    }
    for other in others {
        if let Some(recorded) = other.start_recorded_hash
            && other.hashes_at.get(&other.start.seq()) != Some(&recorded)
        {
            mismatches.push(format!(
                "{} restores to another state hash than it recorded ({recorded})",
                other.start
            ));
        }
        if other.end_hash != reference.end_hash {
            mismatches.push(format!(
                "at the journal's end (seq {}) the replay from {} gives state hash {}, the \
                 replay from {} gives {}",
                report.end_seq, reference.start, reference.end_hash, other.start, other.end_hash
            ));
        }
        for (seq, digest) in &other.output_digests {
            if reference
                .output_digests
                .get(seq)
                .is_some_and(|d| d != digest)
            {
                mismatches.push(format!(
                    "the outputs of the inputs up to seq {seq} differ between the replay from {} \
                     and the replay from {}",
                    reference.start, other.start
                ));
            }
        }
    }
    report.mismatches = mismatches;
}

impl CheckReport {
    pub fn to_json(&self) -> serde_json::Value {
        let runs: Vec<_> = self
            .runs
            .iter()
            .map(|r| {
                json!({
                    "from": start_json(&r.start),
                    "replayed_inputs": r.replayed,
                    "end_state_hash": r.end_hash.to_string(),
                    "state_hashes_at": r
                        .hashes_at
                        .iter()
                        .map(|(seq, hash)| json!({ "seq": seq, "state_hash": hash.to_string() }))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "ok": self.ok(),
            "data_dir": self.data_dir.display().to_string(),
            "seq": self.end_seq,
            "state_hash": self.end_hash().map(|h| h.to_string()),
            "runs": runs,
            "skipped_snapshots": self.skipped,
            "mismatches": self.mismatches,
        })
    }

    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "journal end: seq {}", self.end_seq)?;
        for r in &self.runs {
            writeln!(
                out,
                "replay from {}: {} input(s), state hash {} at the end",
                r.start, r.replayed, r.end_hash
            )?;
            if let Some(recorded) = r.start_recorded_hash {
                writeln!(out, "  recorded hash of the snapshot: {recorded}")?;
            }
        }
        if let Some(reference) = self.runs.first() {
            for (seq, hash) in reference.hashes_at.iter().skip(1) {
                writeln!(out, "  reference replay at seq {seq}: state hash {hash}")?;
            }
        }
        for skipped in &self.skipped {
            writeln!(out, "skipped: {skipped}")?;
        }
        if self.ok() {
            return writeln!(
                out,
                "OK: deterministic: {} replay(s) agree on every state hash and on every output byte",
                self.runs.len()
            );
        }
        writeln!(out, "MISMATCH: {} disagreement(s):", self.mismatches.len())?;
        for m in &self.mismatches {
            writeln!(out, "  {m}")?;
        }
        Ok(())
    }
}
