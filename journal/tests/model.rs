//! Property tests against a naive model: a `Vec` of records and the last committed sequence.
//!
//! Random appends, commits, reads and crashes; a crash drops the writer and may tear the
//! uncommitted tail of the newest segment the way a crash or a power loss can (zeroed bytes
//! from some offset, a truncated file, a lost page, a flipped bit). After every reopen, every
//! committed record must be there, in order and byte-equal, and recovery must cut exactly at
//! the first damaged record.

mod common;

use std::path::Path;

use common::*;
use proptest::prelude::*;
use sluice_journal::{
    Durability, JournalConfig, JournalReader, JournalWriter, RecoveryReport, verify,
};

const PAGE_BYTES: u64 = 4096;

#[derive(Clone, Debug)]
enum Damage {
    /// Zero an uncommitted record from one of its bytes to its end.
    ZeroFrom { record_pick: u64, cut_pick: u64 },
    /// Truncate the newest segment inside an uncommitted record.
    TruncateAt { record_pick: u64, cut_pick: u64 },
    /// A page of the uncommitted batch never reached the disk: its uncommitted bytes are zero.
    LosePage { page_pick: u64 },
    /// One bit of an uncommitted record flipped.
    FlipBit {
        record_pick: u64,
        byte_pick: u64,
        bit: u8,
    },
}

#[derive(Clone, Debug)]
enum Op {
    Append { payload_len: usize, kind: u16 },
    Commit,
    Read { start_pick: u64 },
    Crash(Option<Damage>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<u64>(), any::<u64>()).prop_map(|(record_pick, cut_pick)| Damage::ZeroFrom {
            record_pick,
            cut_pick
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(record_pick, cut_pick)| Damage::TruncateAt {
            record_pick,
            cut_pick
        }),
        any::<u64>().prop_map(|page_pick| Damage::LosePage { page_pick }),
        (any::<u64>(), any::<u64>(), 0u8..8).prop_map(|(record_pick, byte_pick, bit)| {
            Damage::FlipBit {
                record_pick,
                byte_pick,
                bit,
            }
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0usize..700, any::<u16>())
            .prop_map(|(payload_len, kind)| Op::Append { payload_len, kind }),
        3 => Just(Op::Commit),
        1 => any::<u64>().prop_map(|start_pick| Op::Read { start_pick }),
        2 => proptest::option::weighted(0.75, damage()).prop_map(Op::Crash),
    ]
}

/// The model and the system under test.
struct Harness {
    dir: std::path::PathBuf,
    config: JournalConfig,
    writer: Option<JournalWriter>,
    model: Vec<Expected>,
    committed_seq: u64,
}

impl Harness {
    fn append(&mut self, payload_len: usize, kind: u16) -> Result<(), TestCaseError> {
        let seq = self.model.len() as u64 + 1;
        let mut record = record(seq, payload_len);
        record.kind = kind;
        let writer = self.writer.as_mut().unwrap();
        prop_assert_eq!(writer.next_seq(), seq);
        writer
            .append(
                record.seq,
                record.timestamp_ns,
                record.kind,
                &record.payload,
            )
            .unwrap();
        self.model.push(record);
        Ok(())
    }

    fn commit(&mut self) -> Result<(), TestCaseError> {
        let committed_seq = self.writer.as_mut().unwrap().commit().unwrap();
        prop_assert_eq!(committed_seq, self.model.len() as u64);
        self.committed_seq = committed_seq;
        Ok(())
    }

    fn read(&self, start_pick: u64) -> Result<(), TestCaseError> {
        let start = 1 + start_pick % (self.model.len() as u64 + 1);
        let reader = JournalReader::open(&self.dir).unwrap();
        let read: Vec<_> = reader
            .iter_from(start)
            .map(|r| Expected::of(&r.unwrap()))
            .collect();
        prop_assert_eq!(&read[..], &self.model[(start - 1) as usize..]);
        Ok(())
    }

    fn crash(&mut self, damage: Option<Damage>) -> Result<(), TestCaseError> {
        drop(self.writer.take());
        let survivors = match damage {
            Some(damage) => apply(&self.dir, &self.model, self.committed_seq, &damage),
            None => self.model.len() as u64,
        };
        let (writer, report) = JournalWriter::open(&self.dir, self.config).unwrap();
        check_recovery(&report, writer.next_seq(), self.committed_seq, survivors)?;
        self.model.truncate(survivors as usize);
        self.committed_seq = survivors;
        prop_assert_eq!(writer.last_committed_seq(), survivors);
        self.writer = Some(writer);
        self.read(0)
    }
}

fn check_recovery(
    report: &RecoveryReport,
    next_seq: u64,
    committed_seq: u64,
    survivors: u64,
) -> Result<(), TestCaseError> {
    prop_assert!(next_seq > committed_seq, "a committed record was lost");
    prop_assert_eq!(next_seq, survivors + 1, "cut at the first damaged record");
    prop_assert_eq!(report.last_seq.unwrap_or(0), survivors);
    if let Some(truncated) = &report.truncated {
        prop_assert_eq!(truncated.seq, survivors + 1);
    }
    Ok(())
}

/// A record of the newest segment: (seq, offset, total length).
type Located = (u64, u64, u64);

/// Damages the uncommitted part of the newest segment; returns how many records survive: all
/// before the first record whose bytes changed or went missing.
fn apply(dir: &Path, model: &[Expected], committed_seq: u64, damage: &Damage) -> u64 {
    let newest = segment_paths(dir).pop().unwrap();
    let uncommitted = uncommitted_in_newest(dir, committed_seq);
    let Some(&(_, first_offset, _)) = uncommitted.first() else {
        return model.len() as u64;
    };
    let before = std::fs::read(&newest).unwrap();
    let pick = |index: u64| uncommitted[(index % uncommitted.len() as u64) as usize];
    match *damage {
        Damage::ZeroFrom {
            record_pick,
            cut_pick,
        } => {
            let (_, offset, total_len) = pick(record_pick);
            zero_range(&newest, offset + cut_pick % total_len, offset + total_len);
        }
        Damage::TruncateAt {
            record_pick,
            cut_pick,
        } => {
            let (_, offset, total_len) = pick(record_pick);
            truncate(&newest, offset + cut_pick % total_len);
        }
        Damage::LosePage { page_pick } => {
            let &(_, last_offset, last_len) = uncommitted.last().unwrap();
            let end = last_offset + last_len;
            let first_page = first_offset / PAGE_BYTES;
            let page = first_page + page_pick % ((end - 1) / PAGE_BYTES - first_page + 1);
            let from = (page * PAGE_BYTES).max(first_offset);
            zero_range(&newest, from, ((page + 1) * PAGE_BYTES).min(end));
        }
        Damage::FlipBit {
            record_pick,
            byte_pick,
            bit,
        } => {
            let (_, offset, total_len) = pick(record_pick);
            flip_bit(&newest, offset + byte_pick % total_len, bit);
        }
    }
    let after = std::fs::read(&newest).unwrap();
    // A record with a byte changed, or missing from a truncated file, is damaged.
    let first_damaged = uncommitted.iter().find(|(_, offset, total_len)| {
        (*offset..offset + total_len).any(|at| before.get(at as usize) != after.get(at as usize))
    });
    first_damaged.map_or(model.len() as u64, |(seq, _, _)| seq - 1)
}

fn uncommitted_in_newest(dir: &Path, committed_seq: u64) -> Vec<Located> {
    let reader = JournalReader::open(dir).unwrap();
    let Some(newest) = reader.segments().last() else {
        return Vec::new();
    };
    let start = (committed_seq + 1).max(newest.first_seq);
    reader
        .iter_from(start)
        .map(|record| {
            let record = record.unwrap();
            (record.seq, record.offset, 32 + record.payload.len() as u64)
        })
        .collect()
}

fn run(segment_size_bytes: u64, durability: Durability, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let temp = TempDir::new("model");
    let dir = temp.join("journal");
    let config = JournalConfig {
        segment_size_bytes,
        durability,
    };
    let (writer, _) = JournalWriter::open(&dir, config).unwrap();
    let mut harness = Harness {
        dir,
        config,
        writer: Some(writer),
        model: Vec::new(),
        committed_seq: 0,
    };
    for op in ops {
        match op {
            Op::Append { payload_len, kind } => harness.append(payload_len, kind)?,
            Op::Commit => harness.commit()?,
            Op::Read { start_pick } => harness.read(start_pick)?,
            Op::Crash(damage) => harness.crash(damage)?,
        }
    }
    harness.crash(None)?;
    drop(harness.writer.take());
    let verified = verify(&harness.dir).unwrap();
    prop_assert_eq!(verified.records, harness.model.len() as u64);
    prop_assert_eq!(verified.torn_tail, None);
    Ok(())
}

/// 64 cases by default; set `PROPTEST_CASES` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Integration tests have no lib.rs for the default persistence to find; keep failing
        // cases beside this file instead, so they are replayed first on the next run.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn committed_records_survive_crashes_and_torn_tails(
        segment_size_bytes in prop_oneof![Just(1024u64), Just(2048), Just(8192)],
        fsync in proptest::bool::weighted(0.1),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let durability = if fsync { Durability::Fsync } else { Durability::None };
        run(segment_size_bytes, durability, ops)?;
    }

    /// Random bytes written anywhere in any segment never panic anything, and whatever opens
    /// holds a prefix of the original records, byte-equal.
    #[test]
    fn random_damage_is_refused_or_recovers_a_prefix(
        writes in proptest::collection::vec((any::<u64>(), any::<u64>(), any::<u8>()), 1..6),
    ) {
        let temp = TempDir::new("random-damage");
        let dir = temp.join("journal");
        let (mut writer, _) = JournalWriter::open(&dir, config(1024)).unwrap();
        let mut model = append_committed(&mut writer, 1..=30, |seq| (seq * 37 % 150) as usize);
        for seq in 31..=36 {
            let record = record(seq, 90);
            append(&mut writer, &record);
            model.push(record);
        }
        drop(writer);
        let segments = segment_paths(&dir);
        for (segment_pick, offset_pick, value) in writes {
            let segment = &segments[(segment_pick % segments.len() as u64) as usize];
            write_bytes(segment, offset_pick % 1024, &[value]);
        }
        let _ = verify(&dir);
        if let Ok(reader) = JournalReader::open(&dir) {
            for record in reader.iter_from(1).take(100) {
                if record.is_err() { break; }
            }
        }
        if let Ok((writer, _)) = JournalWriter::open(&dir, config(1024)) {
            drop(writer);
            let recovered = read_from(&dir, 1);
            prop_assert!(recovered.len() <= model.len());
            prop_assert_eq!(&recovered[..], &model[..recovered.len()]);
        }
    }
}
