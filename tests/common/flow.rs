//! The flow-export tests' shared helpers (tests/export.rs, tests/export_inprocess.rs): the load,
//! the rows read back from the Parquet store, and their tie-out to the replayed ledger.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use sluice_node::Replayer;
use sluice_node::flow::{Row, Rows, TABLES, TableVisitor};
use sluice_protocol::PartyKind;
use sluice_store::{DayRange, FlowReader, ParquetStore};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

pub const MERCHANTS: [u32; 4] = [1001, 1002, 1003, 1004];

pub fn loadgen_at(addr: SocketAddr, rate: u32, secs: u32) {
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

pub fn load(data: &Path) -> Rows {
    let mut store = ParquetStore::open_read_only(data).expect("open the Parquet store");
    store
        .load(TABLES, DayRange::default())
        .expect("load the rows")
}

/// Every row of every table as text, sorted (a multiset), and whether every key is unique.
pub struct Multiset(pub BTreeMap<&'static str, Vec<String>>);

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

pub fn multiset(rows: &Rows) -> BTreeMap<&'static str, Vec<String>> {
    let mut m = Multiset(BTreeMap::new());
    rows.visit(&mut m);
    m.0
}

pub type Key = (String, i32, String, i32);

/// Per account: (pending debits, posted debits, pending credits, posted credits).
pub fn sums_from_rows(rows: &Rows) -> BTreeMap<Key, [i128; 4]> {
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

pub fn replayed(data: &Path) -> Replayer {
    let reader = sluice_journal::JournalReader::open(&sluice_journal::journal_dir(data)).unwrap();
    let mut replayer = Replayer::from_genesis(&reader).unwrap();
    let last = sluice_replay::journal_end(&reader).unwrap().unwrap().seq;
    replayer
        .run_to(&reader, last, |_| Ok::<(), sluice_node::Error>(()))
        .unwrap();
    replayer
}

pub fn check_ledger(data: &Path, rows: &Rows) {
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

/// `sluice export --once --data DATA EXTRA…`, which must succeed; its stdout.
pub fn export_once(data: &Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["export", "--once", "--data"])
        .arg(data)
        .args(extra)
        .output()
        .expect("run sluice export");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sluice export {extra:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}
