//! The flow exporter end to end (docs/STORE.md): the real `sluice serve` with its channel
//! simulator under the real load generator (payments and refunds), then `sluice export --once`
//! into Parquet, read back through `ParquetStore` as a `FlowReader`:
//! - the ledger transfers sum, account by account, to the ledger of the replayed journal, to the
//!   minor unit, and the merchants' balances from the rows are the engine's balance reports;
//! - an export SIGKILLed after its first commit and restarted holds the same rows as a one-shot
//!   export of a copy of the journal: every key once, none missing;
//! - DuckDB (from PyPI) reads the files as a Hive-partitioned dataset and gets the reader's
//!   per-channel captured totals.

mod common;

use common::*;
use sluice_node::Replayer;
use sluice_node::flow::{Row, Rows, TABLES, TableVisitor};
use sluice_protocol::PartyKind;
use sluice_store::{DayRange, FlowReader, ParquetStore};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

const MERCHANTS: [u32; 4] = [1001, 1002, 1003, 1004];

fn loadgen(addr: SocketAddr, secs: u32) {
    loadgen_at(addr, 1500, secs);
}

fn loadgen_at(addr: SocketAddr, rate: u32, secs: u32) {
    let status = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "loadgen",
            "--addr",
            &addr.to_string(),
            "--rate",
            &rate.to_string(),
        ])
        .args(["--duration", &secs.to_string(), "--connections", "2"])
        .args(["--mix", "payments=85,refunds=15", "--seed", "7", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run sluice loadgen");
    assert!(status.success(), "loadgen failed");
}

fn export_once(data: &Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["export", "--once", "--data"])
        .arg(data)
        .args(extra)
        .output()
        .expect("run sluice export");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sluice export failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn load(data: &Path) -> Rows {
    let mut store = ParquetStore::open_read_only(data).expect("open the Parquet store");
    store
        .load(TABLES, DayRange::default())
        .expect("load the rows")
}

/// Every row of every table as text, sorted (a multiset), and whether every key is unique.
struct Multiset(BTreeMap<&'static str, Vec<String>>);

impl TableVisitor for Multiset {
    fn table<R: Row>(&mut self, rows: &[R]) {
        let key_at: Vec<usize> = R::KEY
            .iter()
            .map(|k| R::COLUMNS.iter().position(|c| c.name == *k).unwrap())
            .collect();
        let mut keys = BTreeSet::new();
        let mut all = Vec::with_capacity(rows.len());
        for row in rows {
            let values = row.values();
            let key: Vec<String> = key_at.iter().map(|i| format!("{:?}", values[*i])).collect();
            assert!(keys.insert(key.clone()), "{}: key {key:?} twice", R::TABLE);
            all.push(format!("{values:?}"));
        }
        all.sort();
        self.0.insert(R::TABLE, all);
    }
}

fn multiset(rows: &Rows) -> BTreeMap<&'static str, Vec<String>> {
    let mut m = Multiset(BTreeMap::new());
    rows.visit(&mut m);
    m.0
}

type Key = (String, i32, String, i32);

/// Per account: (pending debits, posted debits, pending credits, posted credits).
fn sums_from_rows(rows: &Rows) -> BTreeMap<Key, [i128; 4]> {
    let mut sums: BTreeMap<Key, [i128; 4]> = BTreeMap::new();
    for t in &rows.ledger_transfers {
        let a = i128::from(t.amount_minor);
        let (pending, posted) = match t.phase.as_str() {
            "post" => (0, a),
            "reserve" => (a, 0),
            "post_reserved" => (-a, a),
            "void_reserved" => (-a, 0),
            other => panic!("phase {other}"),
        };
        let d = sums
            .entry((
                t.debit_kind.clone(),
                t.debit_owner,
                t.debit_role.clone(),
                t.currency,
            ))
            .or_default();
        d[0] += pending;
        d[1] += posted;
        let c = sums
            .entry((
                t.credit_kind.clone(),
                t.credit_owner,
                t.credit_role.clone(),
                t.currency,
            ))
            .or_default();
        c[2] += pending;
        c[3] += posted;
    }
    sums.retain(|_, s| s.iter().any(|x| *x != 0));
    sums
}

fn replayed(data: &Path) -> Replayer {
    let reader = sluice_journal::JournalReader::open(&sluice_journal::journal_dir(data)).unwrap();
    let mut replayer = Replayer::from_genesis(&reader).unwrap();
    let last = sluice_replay::journal_end(&reader).unwrap().unwrap().seq;
    replayer
        .run_to(&reader, last, |_| Ok::<(), sluice_node::Error>(()))
        .unwrap();
    replayer
}

fn check_ledger(data: &Path, rows: &Rows) {
    let replayer = replayed(data);
    let engine = &replayer.engine;
    let ledger = &engine.state().ledger;
    let mut expected = BTreeMap::new();
    for id in 0..ledger.accounts_len() as u32 {
        let a = ledger.account(id);
        let s = [
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
        ]
        .map(|x| x as i128);
        if s.iter().any(|x| *x != 0) {
            let n = engine.describe_account(id).unwrap();
            let role = n.party.map_or_else(String::new, |k| k.name().to_string());
            expected.insert(
                (
                    n.kind.to_string(),
                    n.owner as i32,
                    role,
                    i32::from(n.currency),
                ),
                s,
            );
        }
    }
    let sums = sums_from_rows(rows);
    assert_eq!(sums, expected, "the ledger transfers sum to every account");
    for merchant in MERCHANTS {
        let report = engine.balance_report(PartyKind::Merchant, merchant, 0);
        for b in &report.balances {
            let balance = |kind: &str| {
                let key = (
                    kind.to_string(),
                    merchant as i32,
                    "Merchant".to_string(),
                    i32::from(b.currency),
                );
                sums.get(&key).map_or(0, |s| (s[3] - s[1]) as i64)
            };
            // What a merchant can spend: its posted balance less its reserved debits.
            let reserved = |kind: &str| {
                let key = (
                    kind.to_string(),
                    merchant as i32,
                    "Merchant".to_string(),
                    i32::from(b.currency),
                );
                sums.get(&key).map_or(0, |s| s[0] as i64)
            };
            assert_eq!(
                balance("pending"),
                b.pending_minor,
                "merchant {merchant} pending"
            );
            assert_eq!(
                balance("available") - reserved("available"),
                b.available_minor,
                "merchant {merchant} available"
            );
            assert_eq!(
                balance("frozen"),
                b.frozen_minor,
                "merchant {merchant} frozen"
            );
        }
    }
}

/// Succeeded payments' amounts per (channel, currency), from the reader.
fn captured(rows: &Rows) -> BTreeMap<(i32, i32), i64> {
    let mut totals = BTreeMap::new();
    for r in rows
        .payment_results
        .iter()
        .filter(|r| r.status == "Succeeded")
    {
        *totals.entry((r.channel_id, r.currency)).or_insert(0) += r.amount_minor;
    }
    totals
}

fn duckdb_captured(data: &Path) -> BTreeMap<(i32, i32), i64> {
    let glob = ParquetStore::dir_in(data).join("payment_results/*/*.parquet");
    let script = format!(
        "import duckdb\nfor c, cur, s in duckdb.sql(\"select channel_id, currency, sum(amount_minor) from \
         read_parquet('{}', hive_partitioning = true) where status = 'Succeeded' group by 1, 2\").fetchall():\n    \
         print(c, cur, s)\n",
        glob.display()
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "DuckDB query failed (python3 -m pip install duckdb): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut totals = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<i64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        totals.insert((f[0] as i32, f[1] as i32), f[2]);
    }
    totals
}

/// Captured per (channel, currency) as `sluice report flow --by channel,currency` states it.
fn report_captured(data: &Path) -> BTreeMap<(i32, i32), i64> {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "report",
            "flow",
            "--by",
            "channel,currency",
            "--format",
            "json",
            "--data",
        ])
        .arg(data)
        .output()
        .expect("run sluice report");
    assert!(
        out.status.success(),
        "sluice report flow: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    let mut totals = BTreeMap::new();
    for row in report["rows"].as_array().expect("rows") {
        let key: Vec<i32> = row["key"]
            .as_array()
            .expect("key")
            .iter()
            .map(|k| k.as_str().expect("key part").parse().expect("numeric key"))
            .collect();
        let volume = row["measures"]["volume_minor"].as_i64().expect("volume");
        if volume != 0 {
            totals.insert((key[0], key[1]), volume);
        }
    }
    totals
}

/// Starts `sluice export --once` with small batches, SIGKILLs it right after its first commit;
/// returns the position that commit reported.
fn export_killed_after_first_commit(data: &Path) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["export", "--once", "--batch-rows", "2000", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sluice export");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut position = 0;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("export: committed position ") {
            position = rest.split_whitespace().next().unwrap().parse().unwrap();
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    position
}

#[test]
fn an_export_ties_out_to_the_ledger_survives_a_kill_and_reads_in_duckdb() {
    export_scenario(1500, 3, 200_000, 2_000);
}

/// The issue's 200,000-payment run (about 80 s of load, then the exports).
#[test]
#[ignore]
fn two_hundred_thousand_payments_tie_out_survive_a_kill_and_read_in_duckdb() {
    export_scenario(3000, 80, 400_000, 190_000);
}

fn export_scenario(rate: u32, secs: u32, orders_max: u32, payments_min: usize) {
    let settings = Settings {
        simulator: true,
        snapshot_every_inputs: 5_000,
        orders_max,
        ..Settings::default()
    };
    let (dir, mut server) = start_server("export", &settings);
    loadgen_at(server.addr, rate, secs);
    server.terminate();
    let data = dir.join("data");
    let copy = dir.join("copy");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&data)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());

    // One shot, into the copy: the reference.
    let summary = export_once(&copy, &[]);
    eprintln!("{summary}");
    let reference = load(&copy);
    let payments = reference.payment_results.len();
    assert!(payments > payments_min, "{payments} payments");
    assert!(!reference.refund_results.is_empty());
    check_ledger(&copy, &reference);

    // Killed after its first commit, then restarted: the same rows, each once.
    let killed_at = export_killed_after_first_commit(&data);
    let end = replayed(&data).last_seq();
    assert!(
        killed_at > 0 && killed_at < end,
        "killed at {killed_at} of {end}: mid-run"
    );
    export_once(&data, &["--batch-rows", "2000"]);
    let resumed = load(&data);
    assert_eq!(
        multiset(&resumed),
        multiset(&reference),
        "the same rows as a one-shot export"
    );

    let totals = captured(&reference);
    assert!(!totals.is_empty());
    assert_eq!(
        duckdb_captured(&copy),
        totals,
        "DuckDB's per-channel totals are the reader's"
    );
    assert_eq!(
        report_captured(&copy),
        totals,
        "sluice report's per-channel totals are DuckDB's"
    );
}

/// `sluice export --follow` beside a running server: it tails the journal as the server writes
/// it, catches up after the server stops, and exits cleanly on SIGTERM with rows that tie out.
#[test]
fn a_following_export_tails_a_live_server_and_stops_on_sigterm() {
    let settings = Settings {
        simulator: true,
        ..Settings::default()
    };
    let (dir, mut server) = start_server("export-follow", &settings);
    let data = dir.join("data");
    let export = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["export", "--follow", "--batch-ms", "200", "--data"])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice export --follow");
    loadgen(server.addr, 2);
    server.terminate();
    let end = replayed(&data).last_seq();
    let mut position = 0;
    for _ in 0..300 {
        let mut store = ParquetStore::open_read_only(&data).ok();
        position = store
            .as_mut()
            .map_or(0, |s| FlowReader::position(s).unwrap_or(0));
        if position == end {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        position, end,
        "the following export caught up with the journal's end"
    );
    let sent = Command::new("kill")
        .args(["-TERM", &export.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let out = export.wait_with_output().expect("wait for sluice export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = load(&data);
    assert!(
        rows.payment_results.len() > 1_000,
        "{}",
        rows.payment_results.len()
    );
    multiset(&rows);
    check_ledger(&data, &rows);
}
