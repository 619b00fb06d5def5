//! `sluice replay …`, the real binary, over a journal the real server wrote while a real client
//! drove it (the journal comes from the replay crate's test fixture, replay/tests/common).

#[path = "../replay/tests/common/mod.rs"]
mod common;

use common::{copy_data, recorded};
use std::path::Path;
use std::process::{Command, Output};

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("run sluice")
}

fn replay(command: &str, data: &Path, extra: &[&str]) -> Output {
    let data = data.to_str().expect("utf-8 path");
    let mut args = vec!["replay", command, "--data", data];
    args.extend_from_slice(extra);
    sluice(&args)
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn is_hex32(value: &serde_json::Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[test]
fn the_binary_verifies_states_dumps_checks_and_benches_a_real_journal() {
    let rec = recorded();
    let live_hash = rec.report.state_hash.expect("hash").to_string();

    let verified = json_lines(&stdout(&replay("verify", &rec.dir, &["--json"])));
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0]["ok"], true);
    assert_eq!(verified[0]["records"], rec.report.last_seq);
    assert!(stdout(&replay("verify", &rec.dir, &[])).contains("OK: no problems found"));

    let state = json_lines(&stdout(&replay("state", &rec.dir, &["--json"])));
    assert_eq!(state[0]["state_hash"], live_hash.as_str());
    assert_eq!(state[0]["seq"], rec.report.last_seq);
    let at = rec.mid_snapshot_seq.to_string();
    let mid = json_lines(&stdout(&replay(
        "state",
        &rec.dir,
        &["--at", &at, "--json"],
    )));
    assert!(is_hex32(&mid[0]["state_hash"]));
    let time = mid[0]["time"].as_str().expect("time").to_string();
    let by_time = json_lines(&stdout(&replay(
        "state",
        &rec.dir,
        &["--at-time", &time, "--json"],
    )));
    assert!(by_time[0]["seq"].as_u64() >= Some(rec.mid_snapshot_seq));
    let text = stdout(&replay("state", &rec.dir, &[]));
    assert!(text.contains(&format!("state hash {live_hash}")), "{text}");

    // The dump of the order that failed over after a timeout ends with the status the client saw.
    let paid = rec.payment(rec.failover_timeout);
    let result = paid.result.as_ref().expect("result");
    let order = paid.ack.order_id.to_string();
    let lines = json_lines(&stdout(&replay(
        "dump",
        &rec.dir,
        &["--order", &order, "--json"],
    )));
    let results: Vec<&serde_json::Value> = lines
        .iter()
        .flat_map(|l| l["outputs"].as_array().into_iter().flatten())
        .filter(|o| o["template"] == "PaymentResult")
        .collect();
    assert_eq!(results.len(), 1);
    let fields = &results[0]["fields"];
    assert_eq!(fields["amount_minor"], result.amount_minor);
    assert_eq!(fields["status"], "Succeeded");
    assert_eq!(fields["attempts"], 2);
    let split = fields["split"].as_array().expect("split");
    assert_eq!(split.len(), result.split.len());
    for (line, seen) in split.iter().zip(&result.split) {
        assert_eq!(line["amount_minor"], seen.amount_minor);
        assert_eq!(line["party_id"], seen.party_id);
        assert_eq!(line["role"], seen.role.name());
    }
    let last = lines.last().expect("final");
    assert_eq!(last["type"], "final");
    assert_eq!(last["status"]["attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(last["status"]["refunded_minor"], paid.request.amount_minor);
    let text = stdout(&replay("dump", &rec.dir, &["--order", &order]));
    assert!(text.contains("routing (Priority)"), "{text}");

    let requests = json_lines(&stdout(&replay(
        "dump",
        &rec.dir,
        &["--kind", "PAYMENTREQUEST", "--since", &time, "--json"],
    )));
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|l| l["template"] == "PaymentRequest"));
    let bad_kind = replay("dump", &rec.dir, &["--kind", "nope"]);
    assert!(!bad_kind.status.success());

    let checked = stdout(&replay("check", &rec.dir, &[]));
    assert!(checked.contains("OK: deterministic"), "{checked}");

    let bench = json_lines(&stdout(&replay("bench", &rec.dir, &["--json"])));
    assert_eq!(bench.len(), 1);
    for key in ["events", "seconds", "events_per_sec"] {
        assert!(bench[0][key].is_number(), "{key}");
    }
    assert_eq!(bench[0]["state_hash"], live_hash.as_str());
}

#[test]
fn the_binary_names_the_damaged_record_and_exits_non_zero() {
    let rec = recorded();
    let dir = copy_data(&rec.dir, "bin-verify");
    let reader =
        sluice_journal::JournalReader::open(&sluice_journal::journal_dir(&dir)).expect("reader");
    let segment = reader.segments()[1].clone();
    let records: Vec<(u64, u64)> = reader
        .iter_from(segment.first_seq)
        .map(|r| r.expect("valid"))
        .take_while(|r| r.segment_first_seq == segment.first_seq)
        .map(|r| (r.seq, r.offset))
        .collect();
    drop(reader);
    let (seq, offset) = records[records.len() / 2];
    let mut bytes = std::fs::read(&segment.path).expect("read");
    bytes[offset as usize + 40] ^= 0xFF;
    std::fs::write(&segment.path, bytes).expect("write");

    let output = replay("verify", &dir, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for part in [
        segment.path.display().to_string(),
        format!("byte offset {offset}"),
        format!("seq {seq}"),
    ] {
        assert!(stderr.contains(&part), "{part:?} missing from {stderr}");
    }
    let json = replay("verify", &dir, &["--json"]);
    assert!(!json.status.success());
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(report["first_problem"]["offset"], offset);
    assert_eq!(report["first_problem"]["seq"], seq);

    // An offline snapshot, then the server-side recovery code uses it.
    let clean = copy_data(&rec.dir, "bin-snapshot");
    let at = (rec.mid_snapshot_seq + 5).to_string();
    let written = json_lines(&stdout(&replay(
        "snapshot",
        &clean,
        &["--at", &at, "--json"],
    )));
    assert!(Path::new(written[0]["file"].as_str().expect("file")).is_file());
    assert!(is_hex32(&written[0]["state_hash"]));
    let state = json_lines(&stdout(&replay("state", &clean, &["--at", &at, "--json"])));
    assert_eq!(state[0]["state_hash"], written[0]["state_hash"]);
    assert_eq!(state[0]["replayed_inputs"], 0);
}
