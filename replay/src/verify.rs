//! `sluice replay verify`: checks a data directory without changing it.
//!
//! - The journal, with `sluice_journal::verify`: segment headers, every record's checksum, sequence
//!   continuity within and across segments, and what follows the last record (a torn tail is
//!   reported, not a problem: the next server start cuts it).
//! - Every record's payload: an envelope and an SBE message that decodes, of the template its
//!   record kind says; Genesis first; event time never going back.
//! - Every snapshot: header, length and both checksums (`SnapshotStore::load`), then
//!   `Engine::from_snapshot` with the recorded hash (which also re-checks the ledger), and that
//!   the state inside is at the sequence the file says and within the journal.
//!
//! Problems are listed in the order found; the first one is what the CLI exits with.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;

use serde_json::json;
use sluice_engine::{Engine, StateHash, read_envelope};
use sluice_journal::{JournalError, SegmentInfo, Truncation, VerifyReport};
use sluice_protocol::Genesis;
use sluice_protocol::Message;

use crate::progress::Progress;
use crate::time::format_ns;
use crate::{DataDir, Error, file_name};

/// Record-level problems listed before the rest are only counted.
const RECORD_PROBLEMS_LISTED_MAX: usize = 100;

/// One problem: the file, and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The segment or snapshot file (or the directory, for problems of the whole).
    pub file: PathBuf,
    /// Byte offset in the file, when the problem is at one place.
    pub offset: Option<u64>,
    /// The sequence concerned (for a segment: the record expected at that offset).
    pub seq: Option<u64>,
    pub what: String,
}

/// `FILE at byte offset N (seq S): what`.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(offset) = self.offset {
            write!(f, " at byte offset {offset}")?;
        }
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.what)
    }
}

impl Problem {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "file": self.file.display().to_string(),
            "offset": self.offset,
            "seq": self.seq,
            "what": self.what,
        })
    }

    fn from_journal_error(dir: &std::path::Path, error: JournalError) -> Problem {
        let what = error.to_string();
        match error {
            // The location is in the problem's own fields; the sentence says what is wrong.
            JournalError::Corrupt {
                segment,
                offset,
                seq,
                what,
            } => Problem {
                file: segment,
                offset: Some(offset),
                seq: Some(seq),
                what: format!("corrupt journal record: {what}"),
            },
            JournalError::MissingSegment {
                segment,
                expected_seq,
                ..
            } => Problem {
                file: segment,
                offset: Some(0),
                seq: Some(expected_seq),
                what,
            },
            JournalError::Io { path, .. } => Problem {
                file: path,
                offset: None,
                seq: None,
                what,
            },
            _ => Problem {
                file: dir.to_path_buf(),
                offset: None,
                seq: None,
                what,
            },
        }
    }
}

/// What was found about one snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotCheck {
    pub seq: u64,
    pub path: PathBuf,
    pub file_len_bytes: u64,
    /// The hash the header records, if the header is readable.
    pub state_hash: Option<StateHash>,
    /// `Ok` when the file verifies and the engine accepts it.
    pub valid: Result<(), String>,
    /// The snapshot is older than the journal's start, so no replay can continue from it
    /// (harmless: the server prunes such snapshots).
    pub before_journal: bool,
}

/// The result of `verify`.
#[derive(Debug, Clone)]
pub struct VerifyOutcome {
    pub data_dir: PathBuf,
    /// The journal's figures, when its structure verified.
    pub journal: Option<VerifyReport>,
    /// Records whose payload was decoded and checked.
    pub records_decoded: u64,
    pub snapshots: Vec<SnapshotCheck>,
    /// Every problem found, in order; the first one is the journal's when it has any.
    pub problems: Vec<Problem>,
    /// Record-level problems beyond those listed.
    pub problems_not_listed: u64,
}

impl VerifyOutcome {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first problem, as the CLI's error message.
    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems.first()
    }
}

/// Verifies the journal and the snapshots of `data`.
pub fn verify(data: &DataDir) -> Result<VerifyOutcome, Error> {
    let mut outcome = VerifyOutcome {
        data_dir: data.root.clone(),
        journal: None,
        records_decoded: 0,
        snapshots: Vec::new(),
        problems: Vec::new(),
        problems_not_listed: 0,
    };
    match sluice_journal::verify(&data.journal_dir) {
        Ok(report) => {
            check_records(data, &report, &mut outcome);
            outcome.journal = Some(report);
        }
        Err(error) => outcome
            .problems
            .push(Problem::from_journal_error(&data.journal_dir, error)),
    }
    check_snapshots(data, &mut outcome)?;
    check_coverage(data, &mut outcome);
    Ok(outcome)
}

/// Decodes every record's payload; checks Genesis first and that time never goes back.
fn check_records(data: &DataDir, report: &VerifyReport, outcome: &mut VerifyOutcome) {
    let (Some(first_seq), Some(last_seq)) = (report.first_seq, report.last_seq) else {
        return;
    };
    let reader = match data.reader() {
        Ok(reader) => reader,
        Err(e) => {
            let problem = Problem {
                file: data.journal_dir.clone(),
                offset: None,
                seq: None,
                what: e.message,
            };
            return outcome.problems.push(problem);
        }
    };
    let mut progress = Progress::new(data.progress, "decoding records", report.records);
    let mut last_timestamp_ns = 0u64;
    for record in reader.iter_from(first_seq) {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let problem = Problem::from_journal_error(&data.journal_dir, error);
                outcome.problems.push(problem);
                break;
            }
        };
        if record.seq > last_seq {
            break; // appended by a live writer after verify read the journal
        }
        progress.tick();
        outcome.records_decoded += 1;
        let mut fault = record_fault(&record);
        if fault.is_none() && record.seq == 1 && record.kind != Genesis::TEMPLATE_ID {
            fault = Some("the journal's first record is not Genesis".to_string());
        }
        if fault.is_none() && record.timestamp_ns < last_timestamp_ns {
            fault = Some(format!(
                "event time goes back: {} after {}",
                format_ns(record.timestamp_ns),
                format_ns(last_timestamp_ns)
            ));
        }
        last_timestamp_ns = last_timestamp_ns.max(record.timestamp_ns);
        if let Some(what) = fault {
            if outcome.problems.len() >= RECORD_PROBLEMS_LISTED_MAX {
                outcome.problems_not_listed += 1;
                continue;
            }
            let file = segment_path(report, record.segment_first_seq);
            outcome.problems.push(Problem {
                file,
                offset: Some(record.offset),
                seq: Some(record.seq),
                what,
            });
        }
    }
    progress.finish();
}

/// Why a record's payload is not a journaled input, if it is not.
fn record_fault(record: &sluice_journal::RecordRef<'_>) -> Option<String> {
    let envelope = match read_envelope(record.payload) {
        Ok(envelope) => envelope,
        Err(e) => return Some(format!("the payload has no input envelope: {e}")),
    };
    match crate::fields::decode_sbe(envelope.sbe) {
        Ok(decoded) if decoded.header.template_id != record.kind => Some(format!(
            "the record's kind is {} but it holds a {} (template {})",
            record.kind,
            decoded.name(),
            decoded.header.template_id
        )),
        Ok(_) => None,
        Err(e) => Some(format!("the input does not decode: {e}")),
    }
}

fn segment_path(report: &VerifyReport, first_seq: u64) -> PathBuf {
    report
        .segment_infos
        .iter()
        .find(|info| info.first_seq == first_seq)
        .map(|info| info.path.clone())
        .unwrap_or_default()
}

fn check_snapshots(data: &DataDir, outcome: &mut VerifyOutcome) -> Result<(), Error> {
    let Some(store) = data.snapshot_store()? else {
        return Ok(());
    };
    let journal = outcome.journal.as_ref();
    let first_seq = journal.and_then(|j| j.first_seq);
    let last_seq = journal.and_then(|j| j.last_seq);
    for info in store.list()? {
        let state_hash = info.header.as_ref().ok().map(|h| StateHash(h.state_hash));
        let mut valid = match store.load(info.seq) {
            Ok(loaded) => {
                match Engine::from_snapshot(&loaded.payload, StateHash(loaded.state_hash)) {
                    Ok(engine) if engine.last_seq() != info.seq => Err(format!(
                        "the state inside is at seq {}, not {}",
                        engine.last_seq(),
                        info.seq
                    )),
                    Ok(_) => Ok(()),
                    Err(e) => Err(format!("the engine refuses it: {e}")),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        if valid.is_ok()
            && let Some(last) = last_seq
            && info.seq > last
        {
            valid = Err(format!(
                "it is at seq {} but the journal ends at seq {last}: a snapshot must never be \
                 ahead of the journal",
                info.seq
            ));
        }
        if let Err(what) = &valid {
            outcome.problems.push(Problem {
                file: info.path.clone(),
                offset: None,
                seq: Some(info.seq),
                what: what.clone(),
            });
        }
        outcome.snapshots.push(SnapshotCheck {
            seq: info.seq,
            path: info.path,
            file_len_bytes: info.file_len_bytes,
            state_hash,
            valid,
            before_journal: first_seq.is_some_and(|first| info.seq + 1 < first),
        });
    }
    Ok(())
}

/// A journal whose oldest segments were pruned needs a valid snapshot covering what is gone.
fn check_coverage(data: &DataDir, outcome: &mut VerifyOutcome) {
    let Some(first) = outcome.journal.as_ref().and_then(|j| j.first_seq) else {
        return;
    };
    if first <= 1 {
        return;
    }
    let covered = outcome
        .snapshots
        .iter()
        .any(|s| s.valid.is_ok() && s.seq + 1 >= first);
    if !covered {
        outcome.problems.push(Problem {
            file: data.journal_dir.clone(),
            offset: None,
            seq: Some(first),
            what: format!(
                "the journal starts at seq {first} and no valid snapshot covers the inputs \
                 before it: the state cannot be rebuilt"
            ),
        });
    }
}

/// The sequence range each segment holds: `(info, last seq or None when empty)`.
fn segment_ranges(report: &VerifyReport) -> Vec<(&SegmentInfo, Option<u64>)> {
    let infos = &report.segment_infos;
    infos
        .iter()
        .enumerate()
        .map(|(i, info)| {
            let last = match infos.get(i + 1) {
                Some(next) => next.first_seq.checked_sub(1),
                None => report.last_seq,
            };
            (info, last.filter(|last| *last >= info.first_seq))
        })
        .collect()
}

fn torn_json(torn: &Truncation) -> serde_json::Value {
    json!({
        "segment": torn.segment.display().to_string(),
        "offset": torn.offset,
        "seq": torn.seq,
        "bytes_cut": torn.bytes_cut,
        "later_records_cut": torn.later_records_cut,
    })
}

impl VerifyOutcome {
    /// The whole outcome as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let journal = self.journal.as_ref();
        let segments: Vec<_> = journal
            .map(|report| {
                segment_ranges(report)
                    .into_iter()
                    .map(|(info, last)| {
                        json!({
                            "file": info.path.display().to_string(),
                            "first_seq": info.first_seq,
                            "last_seq": last,
                            "size_bytes": info.size_bytes,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let snapshots: Vec<_> = self
            .snapshots
            .iter()
            .map(|s| {
                json!({
                    "file": s.path.display().to_string(),
                    "seq": s.seq,
                    "bytes": s.file_len_bytes,
                    "state_hash": s.state_hash.map(|h| h.to_string()),
                    "valid": s.valid.is_ok(),
                    "error": s.valid.as_ref().err(),
                    "before_journal_start": s.before_journal,
                })
            })
            .collect();
        json!({
            "ok": self.ok(),
            "data_dir": self.data_dir.display().to_string(),
            "segments": journal.map(|j| j.segments),
            "records": journal.map(|j| j.records),
            "records_decoded": self.records_decoded,
            "first_seq": journal.and_then(|j| j.first_seq),
            "last_seq": journal.and_then(|j| j.last_seq),
            "first_timestamp_ns": journal.and_then(|j| j.first_timestamp_ns),
            "last_timestamp_ns": journal.and_then(|j| j.last_timestamp_ns),
            "first_time": journal.and_then(|j| j.first_timestamp_ns).map(format_ns),
            "last_time": journal.and_then(|j| j.last_timestamp_ns).map(format_ns),
            "torn_tail": journal.and_then(|j| j.torn_tail.as_ref()).map(torn_json),
            "segment_files": segments,
            "snapshots": snapshots,
            "problems": self.problems.iter().map(Problem::to_json).collect::<Vec<_>>(),
            "problems_not_listed": self.problems_not_listed,
            "first_problem": self.first_problem().map(Problem::to_json),
        })
    }

    /// The human-readable summary.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "data directory {}", self.data_dir.display())?;
        match &self.journal {
            Some(report) => self.write_journal(out, report)?,
            None => writeln!(out, "journal: DAMAGED (see the problems below)")?,
        }
        writeln!(out, "snapshots: {}", self.snapshots.len())?;
        for s in &self.snapshots {
            let hash = s.state_hash.map(|h| h.to_string()).unwrap_or("-".into());
            let verdict = match &s.valid {
                Ok(()) if s.before_journal => "valid (older than the journal's start)".to_string(),
                Ok(()) => "valid".to_string(),
                Err(why) => format!("INVALID: {why}"),
            };
            writeln!(
                out,
                "  {}  seq {}  {} bytes  state hash {hash}  {verdict}",
                file_name(&s.path),
                s.seq,
                s.file_len_bytes
            )?;
        }
        if self.ok() {
            return writeln!(out, "OK: no problems found");
        }
        let more = self.problems_not_listed;
        writeln!(
            out,
            "{} problem(s){}:",
            self.problems.len() as u64 + more,
            if more > 0 {
                format!(" ({more} not listed)")
            } else {
                String::new()
            }
        )?;
        for problem in &self.problems {
            writeln!(out, "  {problem}")?;
        }
        Ok(())
    }

    fn write_journal(&self, out: &mut dyn Write, report: &VerifyReport) -> std::io::Result<()> {
        writeln!(
            out,
            "journal: {} segment(s), {} record(s) checked (checksums, sequences), {} decoded",
            report.segments, report.records, self.records_decoded
        )?;
        if let (Some(seq), Some(ts)) = (report.first_seq, report.first_timestamp_ns) {
            writeln!(out, "  first: seq {seq} at {}", format_ns(ts))?;
        }
        if let (Some(seq), Some(ts)) = (report.last_seq, report.last_timestamp_ns) {
            writeln!(out, "  last:  seq {seq} at {}", format_ns(ts))?;
        }
        for (info, last) in segment_ranges(report) {
            let range = match last {
                Some(last) => format!("seq {}..={last}", info.first_seq),
                None => format!("empty (next seq {})", info.first_seq),
            };
            writeln!(
                out,
                "  {}  {range}  ({} bytes)",
                file_name(&info.path),
                info.size_bytes
            )?;
        }
        match &report.torn_tail {
            Some(t) => writeln!(
                out,
                "  torn tail in {} at byte offset {} (seq {}): {} bytes the next server start cuts",
                file_name(&t.segment),
                t.offset,
                t.seq,
                t.bytes_cut
            ),
            None => writeln!(out, "  no torn tail"),
        }
    }
}
