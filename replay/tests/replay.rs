//! The replay tools against a journal the real server wrote while real clients drove it: what the
//! tools say must be what the clients saw and what the server computed. (Not built with the
//! test-only `nondeterministic-check` feature, under which tests/nondeterministic.rs runs.)
#![cfg(not(feature = "nondeterministic-check"))]

mod common;

use common::{copy_data, recorded};
use sluice_engine::{ENVELOPE_LEN, Outbox, ROLE_SEQUENCER, StateHash, write_envelope};
use sluice_journal::{JournalReader, SnapshotStore};
use sluice_protocol::*;
use sluice_replay::dump::{DumpFilter, Format, OutputView};
use sluice_replay::replayer::{self, Replayer};
use sluice_replay::state::At;
use sluice_replay::trace::{OrderTrace, trace_order};
use sluice_replay::{DataDir, Start, check, dump, snapshot, state, verify};
use std::path::Path;

fn outputs(trace: &OrderTrace) -> impl Iterator<Item = &AnyMessage> {
    trace
        .entries
        .iter()
        .flat_map(|e| e.outputs.iter().filter_map(OutputView::message))
}

fn inputs(trace: &OrderTrace) -> Vec<(&'static str, u64)> {
    trace
        .entries
        .iter()
        .map(|e| {
            let name = e.input.message().map_or("?", AnyMessage::name);
            (name, e.input.seq)
        })
        .collect()
}

fn is_hex32(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn the_dump_of_an_order_is_what_the_client_saw() {
    let rec = recorded();
    let data = rec.data_dir();
    let paid = rec.payment(rec.failover_timeout);
    let result = paid.result.clone().expect("a result");
    let trace = trace_order(&data, paid.ack.order_id, &DumpFilter::default()).expect("trace");

    // The order was created after the admin snapshot: the replay starts there, not at Genesis.
    assert_eq!(
        trace.start,
        Start::Snapshot {
            seq: rec.mid_snapshot_seq,
            path: data
                .snapshots_dir
                .join(format!("{:020}.snap", rec.mid_snapshot_seq)),
        }
    );
    // Every output the acquirer received for the order is in the dump, byte for byte equal.
    let outs: Vec<&AnyMessage> = outputs(&trace).collect();
    assert!(outs.contains(&&AnyMessage::PaymentAck(paid.ack.clone())));
    assert!(outs.contains(&&AnyMessage::PaymentResult(result.clone())));
    assert_eq!(result.attempts, 2);
    assert_eq!(result.status, FinalStatus::Succeeded);
    assert_eq!(result.amount_minor, paid.request.amount_minor);
    let split: i64 = result.split.iter().map(|l| l.amount_minor).sum();
    assert_eq!(
        split, paid.request.amount_minor,
        "split lines sum to the amount"
    );
    for refunded in rec
        .refunds
        .iter()
        .filter(|r| r.ack.order_id == paid.ack.order_id)
    {
        assert!(outs.contains(&&AnyMessage::RefundAck(refunded.ack.clone())));
        assert!(outs.contains(&&AnyMessage::RefundResult(refunded.result.clone())));
    }
    assert!(outs.contains(&&AnyMessage::OrderStatus(rec.queried.clone())));
    // One dispatch per attempt: channel 2 first (priority), then channel 1 once the first attempt
    // was abandoned; one question to channel 2 between them.
    let questions = outs
        .iter()
        .filter(|m| matches!(m, AnyMessage::ChannelControl(c) if c.op == ChannelOp::Query && c.channel_id == 2))
        .count();
    assert_eq!(questions, 1);
    let dispatches: Vec<(u8, u16)> = outs
        .iter()
        .filter_map(|m| match m {
            AnyMessage::Dispatch(d) => Some((d.attempt, d.channel_id)),
            _ => None,
        })
        .collect();
    assert_eq!(dispatches, [(1, 2), (2, 1)]);
    // The inputs: the request, the pulse that found attempt 1's deadline passed (Unknown, asked),
    // the pulse that abandoned it (FailOver, no window) and failed over, the channel's result,
    // the refunds with their channel results, and the query.
    let names: Vec<&str> = inputs(&trace).iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "PaymentRequest",
            "Pulse",
            "Pulse",
            "ChannelResult",
            "RefundRequest",
            "RefundChannelResult",
            "RefundRequest",
            "RefundChannelResult",
            "QueryOrder"
        ]
    );
    assert_eq!(trace.entries[0].input.seq, paid.ack.sequence);
    // The final status is the one the query answered (taken later, at the journal's end).
    let at_end = OrderStatus {
        sequence: rec.queried.sequence,
        ..trace.status.clone()
    };
    assert_eq!(at_end, rec.queried);
    assert_eq!(trace.status.attempts.len(), 2);
    assert_eq!(trace.status.attempts[0].status, AttemptStatus::Abandoned);
    assert_eq!(trace.status.state, OrderState::Succeeded);
    assert_eq!(trace.status.refunded_minor, paid.request.amount_minor);
    assert!(
        !trace.status.candidates.is_empty(),
        "the routing explanation"
    );

    let mut text = Vec::new();
    trace.write(Format::Text, &mut text).expect("text");
    let text = String::from_utf8(text).expect("utf8");
    for part in [
        "Pulse",
        "Dispatch  order_id=",
        "attempt=2 channel_id=1",
        "final status of order",
        "routing (Priority)",
        "ChannelControl  op=Query order_id=",
        "Abandoned",
        "split:",
        "refunds:",
    ] {
        assert!(text.contains(part), "{part:?} missing from\n{text}");
    }
    let mut json = Vec::new();
    trace.write(Format::Json, &mut json).expect("json");
    let lines: Vec<serde_json::Value> = String::from_utf8(json)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), trace.entries.len() + 1);
    assert_eq!(lines[0]["template"], "PaymentRequest");
    assert_eq!(
        lines[0]["fields"]["amount_minor"],
        paid.request.amount_minor
    );
    let last = lines.last().expect("final line");
    assert_eq!(last["type"], "final");
    assert_eq!(last["status"]["state"], "Succeeded");
    assert_eq!(last["status"]["attempts"].as_array().map(Vec::len), Some(2));
    assert!(is_hex32(last["state_hash"].as_str().unwrap_or("")));
}

#[test]
fn the_dump_shows_a_failover_after_an_error_and_a_risk_block() {
    let rec = recorded();
    let data = rec.data_dir();
    let paid = rec.payment(rec.failover_error);
    let trace = trace_order(&data, paid.ack.order_id, &DumpFilter::default()).expect("trace");
    assert_eq!(trace.start, Start::Genesis, "created before every snapshot");
    let outcomes: Vec<ChannelOutcome> = trace
        .entries
        .iter()
        .filter_map(|e| match e.input.message() {
            Some(AnyMessage::ChannelResult(r)) => Some(r.outcome),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        [ChannelOutcome::RetryableError, ChannelOutcome::Succeeded]
    );
    assert!(outputs(&trace).any(|m| *m == AnyMessage::PaymentResult(paid.result.clone().unwrap())));

    let blocked = rec.payment(rec.blocked);
    assert_eq!(blocked.ack.risk_action, RiskAction::Block);
    let trace = trace_order(&data, blocked.ack.order_id, &DumpFilter::default()).expect("trace");
    assert_eq!(trace.entries.len(), 1);
    assert_eq!(
        trace.entries[0].outputs[0].message(),
        Some(&AnyMessage::PaymentAck(blocked.ack.clone()))
    );
    assert_eq!(trace.status.state, OrderState::Rejected);
    assert_eq!(trace.status.risk_rule_id, blocked.ack.risk_rule_id);

    let missing = trace_order(&data, 1_000_000, &DumpFilter::default());
    assert!(missing.is_err_and(|e| e.message.contains("does not exist")));
}

#[test]
fn the_plain_dump_filters_by_sequence_time_kind_and_merchant() {
    let rec = recorded();
    let data = rec.data_dir();
    let dump_lines = |filter: &DumpFilter| -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        dump::dump(&data, filter, Format::Json, &mut out).expect("dump");
        String::from_utf8(out)
            .expect("utf8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    };
    let all = dump_lines(&DumpFilter::default());
    assert_eq!(all.len() as u64, rec.report.last_seq, "every input, once");
    assert_eq!(all[0]["template"], "Genesis");
    for (i, line) in all.iter().enumerate() {
        assert_eq!(line["seq"], i as u64 + 1);
    }
    let range = dump_lines(&DumpFilter {
        from_seq: Some(5),
        to_seq: Some(9),
        ..DumpFilter::default()
    });
    assert_eq!(
        range
            .iter()
            .map(|l| l["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [5, 6, 7, 8, 9]
    );
    // Time bounds: the inputs stamped within the times of seq 20 and seq 30.
    let (t20, t30) = (
        all[19]["timestamp_ns"].as_u64().unwrap(),
        all[29]["timestamp_ns"].as_u64().unwrap(),
    );
    let timed = dump_lines(&DumpFilter {
        since_ns: Some(t20),
        until_ns: Some(t30),
        ..DumpFilter::default()
    });
    let expected: Vec<&serde_json::Value> = all
        .iter()
        .filter(|l| (t20..=t30).contains(&l["timestamp_ns"].as_u64().unwrap()))
        .collect();
    assert_eq!(timed.iter().collect::<Vec<_>>(), expected);
    let since_text = sluice_replay::time::format_ns(t20);
    assert_eq!(sluice_replay::time::parse_time(&since_text), Ok(t20));

    let kind = sluice_replay::fields::template_by_name("paymentrequest");
    let requests = dump_lines(&DumpFilter {
        kind,
        ..DumpFilter::default()
    });
    assert_eq!(requests.len(), rec.payments.len());
    let merchant = dump_lines(&DumpFilter {
        merchant: Some(1004),
        ..DumpFilter::default()
    });
    let templates: Vec<&str> = merchant
        .iter()
        .map(|l| l["template"].as_str().unwrap())
        .collect();
    let of_1004 = rec
        .payments
        .iter()
        .filter(|p| p.request.merchant_id == 1004)
        .count();
    assert_eq!(
        templates.iter().filter(|t| **t == "PaymentRequest").count(),
        of_1004
    );
    assert!(templates.contains(&"ChannelResult"));
    assert!(
        templates.contains(&"Pulse"),
        "the pulse that timed out 1004's attempt"
    );
    assert!(templates.contains(&"RefundRequest"));
    assert!(templates.contains(&"ConfigMerchant"));
    for line in &merchant {
        if line["template"] == "PaymentRequest" {
            assert_eq!(line["fields"]["merchant_id"], 1004);
        }
    }
}

#[test]
fn the_state_is_the_live_servers_state() {
    let rec = recorded();
    let data = rec.data_dir();
    let live_hash = rec
        .report
        .state_hash
        .expect("the server reports its state hash");
    let end = state::state(&data, At::End).expect("state");
    assert_eq!((end.seq, end.state_hash), (rec.report.last_seq, live_hash));
    assert!(end.ledger_balanced && end.ledger_verified.is_ok());
    let accepted = rec.payments.iter().filter(|p| p.ack.order_id != 0).count();
    assert_eq!(end.orders, accepted as u64);
    assert_eq!(end.refunds, rec.refunds.len() as u64);
    assert_eq!(end.stats.failed_over, 2);
    let json = end.to_json();
    assert_eq!(json["state_hash"], live_hash.to_string());
    assert!(is_hex32(json["state_hash"].as_str().unwrap()));
    assert_eq!(json["orders"]["by_state"]["Rejected"], 1);
    assert_eq!(json["merchants"], 5);

    // The live server's admin snapshot recorded its state hash at that sequence; an independent
    // replay from Genesis reaches the same hash there.
    let store = SnapshotStore::new(&data.snapshots_dir).expect("store");
    let recorded_hash = StateHash(
        store
            .load(rec.mid_snapshot_seq)
            .expect("mid snapshot")
            .state_hash,
    );
    let reader = data.reader().expect("reader");
    let mut from_genesis = Replayer::from_genesis(&reader).expect("genesis");
    replayer::advance_to(
        &mut from_genesis,
        &data,
        &reader,
        rec.mid_snapshot_seq,
        "test",
    )
    .expect("replay");
    assert_eq!(from_genesis.engine.state_hash(), recorded_hash);

    // A sequence between snapshots: the tool (from the mid snapshot) and the server's own recovery
    // code (`sluice_node::recovery::rebuild`, from Genesis: no snapshot in its store) agree.
    let between = rec.mid_snapshot_seq + 7;
    let at = state::state(&data, At::Seq(between)).expect("state");
    assert_eq!(at.seq, between);
    assert_eq!(at.start.seq(), rec.mid_snapshot_seq);
    let empty = common::temp_dir("empty-store");
    let empty_store = SnapshotStore::new(&empty).expect("store");
    let mut log = Vec::new();
    let rebuilt = sluice_node::recovery::rebuild(&data.root, &empty_store, between, &mut log)
        .expect("rebuild");
    assert_eq!(rebuilt.state_hash(), at.state_hash);

    // At a time: after the last input stamped at or before it.
    let reader = JournalReader::open(&data.journal_dir).expect("reader");
    let record = reader
        .iter_from(between)
        .next()
        .expect("record")
        .expect("valid");
    let by_time = state::state(&data, At::Time(record.timestamp_ns)).expect("state");
    assert!(by_time.seq >= between);
    let later = reader.iter_from(by_time.seq + 1).next();
    assert!(later.is_none_or(|r| r.expect("valid").timestamp_ns > record.timestamp_ns));
    let again = state::state(&data, At::Seq(by_time.seq)).expect("state");
    assert_eq!(by_time.state_hash, again.state_hash);
    assert!(state::state(&data, At::Seq(rec.report.last_seq + 1)).is_err());
    assert!(state::state(&data, At::Time(1)).is_err());
    let mut text = Vec::new();
    end.write_text(&mut text).expect("text");
    let text = String::from_utf8(text).expect("utf8");
    for part in [
        "state hash",
        "orders:",
        "ledger: balanced",
        "merchant 1004",
        "platform",
        "wechat_pay",
    ] {
        assert!(text.contains(part), "{part:?} missing from\n{text}");
    }
}

#[test]
fn verify_passes_a_clean_directory_and_names_damage() {
    let rec = recorded();
    let clean = verify::verify(&rec.data_dir()).expect("verify");
    assert!(clean.ok(), "{:?}", clean.problems);
    let journal = clean.journal.as_ref().expect("journal figures");
    assert!(
        journal.segments >= 3,
        "small segments: {}",
        journal.segments
    );
    assert_eq!(journal.records, rec.report.last_seq);
    assert_eq!(clean.records_decoded, rec.report.last_seq);
    assert_eq!(
        (journal.first_seq, journal.last_seq),
        (Some(1), Some(rec.report.last_seq))
    );
    let seqs: Vec<u64> = clean.snapshots.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, [rec.mid_snapshot_seq, rec.report.last_seq]);
    assert!(clean.snapshots.iter().all(|s| s.valid.is_ok()));

    // One flipped byte in the middle record of the first segment (not the newest).
    let dir = copy_data(&rec.dir, "verify-record");
    let reader = JournalReader::open(&sluice_journal::journal_dir(&dir)).expect("reader");
    let first_segment = reader.segments()[0].clone();
    let in_first: Vec<_> = reader
        .iter_from(1)
        .map(|r| r.expect("valid"))
        .take_while(|r| r.segment_first_seq == first_segment.first_seq)
        .map(|r| (r.seq, r.offset, r.payload.len() as u64))
        .collect();
    drop(reader);
    let (seq, offset, len) = in_first[in_first.len() / 2];
    flip_byte(&first_segment.path, offset + 32 + len / 2);
    let damaged = verify::verify(&DataDir::open(&dir).expect("dir")).expect("verify");
    let problem = damaged.first_problem().expect("a problem");
    assert_eq!(problem.file, first_segment.path);
    assert_eq!((problem.offset, problem.seq), (Some(offset), Some(seq)));
    let message = problem.to_string();
    for part in [
        first_segment.path.display().to_string(),
        format!("offset {offset}"),
        format!("seq {seq}"),
    ] {
        assert!(message.contains(&part), "{part:?} missing from {message}");
    }

    // One flipped byte in the mid snapshot's payload.
    let dir = copy_data(&rec.dir, "verify-snapshot");
    let snap =
        sluice_journal::snapshots_dir(&dir).join(format!("{:020}.snap", rec.mid_snapshot_seq));
    flip_byte(&snap, 64 + 1000);
    let damaged = verify::verify(&DataDir::open(&dir).expect("dir")).expect("verify");
    assert!(damaged.journal.is_some(), "the journal itself is fine");
    let problem = damaged.first_problem().expect("a problem");
    assert_eq!(
        (&problem.file, problem.seq),
        (&snap, Some(rec.mid_snapshot_seq))
    );
    assert!(problem.what.contains("checksum"), "{}", problem.what);
    let json = damaged.to_json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["snapshots"][0]["valid"], false);
    assert_eq!(json["snapshots"][1]["valid"], true);
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[at as usize] ^= 0x5A;
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn check_passes_on_real_data_and_catches_a_wrong_snapshot() {
    let rec = recorded();
    let report = check::check(&rec.data_dir()).expect("check");
    assert!(report.ok(), "{:?}", report.mismatches);
    assert_eq!(report.runs.len(), 3, "from Genesis and from both snapshots");
    assert_eq!(report.end_hash(), rec.report.state_hash);
    assert!(
        report
            .runs
            .iter()
            .all(|r| Some(r.end_hash) == rec.report.state_hash)
    );
    assert!(is_hex32(report.to_json()["state_hash"].as_str().unwrap()));

    // A snapshot whose checksums and hash are consistent but whose state is not the journal's:
    // the input at `seq` (a payment) replaced by a pulse.
    let dir = copy_data(&rec.dir, "check-wrong");
    let data = DataDir::open(&dir).expect("dir");
    let seq = rec.payment(3).ack.sequence;
    let reader = data.reader().expect("reader");
    let mut replayer = Replayer::from_genesis(&reader).expect("genesis");
    replayer::advance_to(&mut replayer, &data, &reader, seq - 1, "test").expect("replay");
    let mut payload = [0u8; 64];
    write_envelope(&mut payload, 0, 0, ROLE_SEQUENCER);
    let n = encode_sbe(&Pulse { flags: 0 }, &mut payload[ENVELOPE_LEN..]).expect("encode");
    let mut outbox = Outbox::with_capacity(1 << 16);
    let now = replayer.engine.now_ns();
    replayer
        .engine
        .apply_record(seq, now, &payload[..ENVELOPE_LEN + n], &mut outbox)
        .expect("apply");
    let (hash, payload) = replayer.engine.snapshot();
    SnapshotStore::new(&data.snapshots_dir)
        .expect("store")
        .write(seq, hash.0, &payload)
        .expect("write");
    let report = check::check(&data).expect("check");
    assert!(!report.ok());
    assert!(
        report
            .mismatches
            .iter()
            .any(|m| m.contains(&format!("at seq {seq}"))),
        "{:?}",
        report.mismatches
    );
}

#[test]
fn an_offline_snapshot_restores_the_same_state() {
    let rec = recorded();
    let dir = copy_data(&rec.dir, "offline-snapshot");
    let data = DataDir::open(&dir).expect("dir");
    let seq = rec.mid_snapshot_seq + 11;
    let written = snapshot::write_snapshot(&data, Some(seq), false).expect("snapshot");
    assert_eq!(written.seq, seq);
    assert_eq!(written.start.seq(), rec.mid_snapshot_seq);
    let reader = data.reader().expect("reader");
    let mut from_genesis = Replayer::from_genesis(&reader).expect("genesis");
    replayer::advance_to(&mut from_genesis, &data, &reader, seq, "test").expect("replay");
    assert_eq!(written.state_hash, from_genesis.engine.state_hash());
    // The new snapshot is the start for a later state, and everything still checks.
    let later = state::state(&data, At::Seq(seq + 3)).expect("state");
    assert_eq!(later.start.seq(), seq);
    assert!(verify::verify(&data).expect("verify").ok());
    let report = check::check(&data).expect("check");
    assert!(report.ok(), "{:?}", report.mismatches);
    assert_eq!(report.runs.len(), 4);
    // Writing it again is idempotent (same hash); the default is the journal's end.
    assert!(
        snapshot::write_snapshot(&data, Some(seq), false)
            .expect("again")
            .replaced
    );
    let at_end = snapshot::write_snapshot(&data, None, false).expect("at the end");
    assert_eq!(
        (at_end.seq, Some(at_end.state_hash)),
        (rec.report.last_seq, rec.report.state_hash)
    );

    // While a server holds the journal's lock, it refuses unless told otherwise.
    let lock = std::fs::File::open(data.journal_dir.join(sluice_journal::LOCK_FILE_NAME))
        .expect("lock file");
    lock.try_lock().expect("exclusive, as the server holds it");
    let refused = snapshot::write_snapshot(&data, Some(seq), false);
    assert!(refused.is_err_and(|e| e.message.contains("a server holds the journal")));
    let forced = snapshot::write_snapshot(&data, Some(seq), true).expect("forced");
    assert!(forced.server_was_running);
}

#[test]
fn bench_replays_the_whole_journal() {
    let rec = recorded();
    let report = sluice_replay::bench::bench(&rec.data_dir()).expect("bench");
    assert_eq!(
        report.events,
        rec.report.last_seq - 1,
        "every input after Genesis"
    );
    assert_eq!(Some(report.state_hash), rec.report.state_hash);
    assert!(report.events_per_sec > 0.0);
    let json = report.to_json();
    for key in ["events", "seconds", "events_per_sec", "state_hash"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    assert!(is_hex32(json["state_hash"].as_str().unwrap()));
}

#[test]
fn a_pruned_journal_is_replayed_from_its_oldest_snapshot() {
    let rec = recorded();
    let dir = copy_data(&rec.dir, "pruned");
    let data = DataDir::open(&dir).expect("dir");
    let deleted =
        sluice_journal::prune_segments(&data.journal_dir, rec.mid_snapshot_seq).expect("prune");
    assert!(
        !deleted.is_empty(),
        "the mid snapshot covers at least one segment"
    );
    let first_seq = data
        .reader()
        .expect("reader")
        .first_seq()
        .expect("segments");
    assert!(first_seq > 1 && first_seq <= rec.mid_snapshot_seq + 1);

    assert!(verify::verify(&data).expect("verify").ok());
    let end = state::state(&data, At::End).expect("state");
    assert_eq!(Some(end.state_hash), rec.report.state_hash);
    assert!(state::state(&data, At::Seq(first_seq - 1)).is_err());
    let report = check::check(&data).expect("check");
    assert!(report.ok(), "{:?}", report.mismatches);
    assert_eq!(report.runs[0].start.seq(), rec.mid_snapshot_seq);
    let bench = sluice_replay::bench::bench(&data).expect("bench");
    assert_eq!(bench.events, rec.report.last_seq - rec.mid_snapshot_seq);
    assert_eq!(Some(bench.state_hash), rec.report.state_hash);
    // An order created before the pruned point: its history starts at the oldest snapshot.
    let early = rec.payment(1).ack.order_id;
    let trace = trace_order(&data, early, &DumpFilter::default()).expect("trace");
    assert_eq!(trace.start.seq(), rec.mid_snapshot_seq);
    assert_eq!(trace.status.state, OrderState::Succeeded);

    // Without the snapshot that covers the pruned inputs, verify says the state cannot be built.
    std::fs::remove_file(
        data.snapshots_dir
            .join(format!("{:020}.snap", rec.mid_snapshot_seq)),
    )
    .expect("remove");
    std::fs::remove_file(
        data.snapshots_dir
            .join(format!("{:020}.snap", rec.report.last_seq)),
    )
    .expect("remove");
    let outcome = verify::verify(&data).expect("verify");
    let problem = outcome.first_problem().expect("a problem");
    assert!(
        problem.what.contains("no valid snapshot covers"),
        "{problem}"
    );
}
