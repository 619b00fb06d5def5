//! The flow exporter in the server (`[export] enabled = true`; docs/STORE.md, "In the server"):
//! the real `sluice serve` under the real load generator exports to Parquet on a thread of its
//! own, and
//! - stopped by SIGTERM, it has caught up to the journal's end: the rows tie out to the replayed
//!   ledger account by account, every key once;
//! - SIGKILLed mid-run and restarted, it continues from the store's position: after the restart
//!   catches up, the rows are those of a one-shot export of the same journal, none missing or
//!   duplicated.

mod common;
#[path = "common/flow.rs"]
mod flow;

use common::*;
use flow::*;
use sluice_store::{FlowReader, ParquetStore};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn settings(batch_rows: u32) -> Settings {
    Settings {
        simulator: true,
        snapshot_every_inputs: 5_000,
        set: vec![
            ("export.enabled", "true".into()),
            ("export.batch_rows", batch_rows.to_string()),
            ("export.batch_ms", "200".into()),
        ],
        ..Settings::default()
    }
}

fn position(data: &Path) -> u64 {
    ParquetStore::open_read_only(data)
        .ok()
        .map_or(0, |mut s| FlowReader::position(&mut s).unwrap_or(0))
}

#[test]
fn the_server_exports_in_process_and_catches_up_on_sigterm() {
    let (dir, mut server) = start_server("export-inproc", &settings(65_536));
    loadgen_at(server.addr, 1500, 3);
    server.terminate();
    let data = dir.join("data");
    let end = replayed(&data).last_seq();
    assert_eq!(position(&data), end, "the store reached the journal's end");
    let rows = load(&data);
    assert!(
        rows.payment_results.len() > 2_000,
        "{}",
        rows.payment_results.len()
    );
    multiset(&rows);
    check_ledger(&data, &rows);
}

#[test]
fn a_killed_server_exports_each_row_once_after_the_restart() {
    let (dir, mut server) = start_server("export-inproc-kill", &settings(2_000));
    let data = dir.join("data");
    loadgen_at(server.addr, 1500, 3);
    // Mid-run: the store committed something, not yet everything.
    for _ in 0..100 {
        if position(&data) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed_at = position(&data);
    server.kill();
    assert!(killed_at > 0, "the exporter committed before the kill");
    let mut server = ServerProcess::start(&dir.join("sluice.toml"), &data);
    loadgen_at(server.addr, 1500, 1);
    server.terminate();
    let end = replayed(&data).last_seq();
    assert!(killed_at < end, "killed at {killed_at} of {end}: mid-run");
    assert_eq!(position(&data), end, "the restart caught up");

    // The reference: a one-shot export of a copy of the journal, into a store of its own.
    let copy = dir.join("copy");
    let status = Command::new("cp").arg("-r").arg(&data).arg(&copy).status();
    assert!(status.unwrap().success());
    std::fs::remove_dir_all(copy.join("export")).unwrap();
    let _ = std::fs::remove_dir_all(copy.join("followers"));
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["export", "--once", "--data"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (exported, reference) = (load(&data), load(&copy));
    assert_eq!(
        multiset(&exported),
        multiset(&reference),
        "the same rows as a one-shot export, each once"
    );
    check_ledger(&data, &exported);
}
