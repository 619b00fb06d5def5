//! `check` catches a non-deterministic engine. Built only with
//! `cargo test -p sluice-replay --features nondeterministic-check`, which compiles the engine with
//! `nondeterministic-for-tests`: `Engine::apply` then mixes the wall clock into the state, so the
//! server that writes the journal and every replay of it reach different state hashes.
#![cfg(feature = "nondeterministic-check")]

mod common;

use common::recorded;
use sluice_replay::check;

#[test]
fn check_fails_when_the_engine_is_not_deterministic() {
    let rec = recorded();
    let report = check::check(&rec.data_dir()).expect("check runs");
    assert!(!report.ok(), "a non-deterministic engine passed the check");
    // The replay from Genesis does not reach the hashes the live server recorded in its snapshots.
    let snapshot_mismatch = format!("at seq {}", rec.mid_snapshot_seq);
    assert!(
        report
            .mismatches
            .iter()
            .any(|m| m.contains(&snapshot_mismatch)),
        "{:#?}",
        report.mismatches
    );
    // And two replays of the same journal disagree at its end.
    assert!(
        report
            .mismatches
            .iter()
            .any(|m| m.contains("at the journal's end")),
        "{:#?}",
        report.mismatches
    );
    let mut text = Vec::new();
    report.write_text(&mut text).expect("text");
    assert!(String::from_utf8_lossy(&text).contains("MISMATCH"));
}
