//! The PostgreSQL store end to end: the real `sluice serve` with its channel simulator under the
//! real load generator, then `sluice export --once` into Parquet and into a throwaway PostgreSQL
//! (`sluice_store::pg::testing`; the test fails without Debian's `postgresql`), and both stores
//! load the same rows. A second export into PostgreSQL changes nothing.

mod common;
#[path = "common/flow.rs"]
mod flow;

use common::*;
use flow::{export_once, multiset};
use sluice_node::flow::TABLES;
use sluice_store::pg::PgStore;
use sluice_store::pg::testing::TestCluster;
use sluice_store::{DayRange, FlowReader, ParquetStore};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

fn loadgen(addr: SocketAddr, secs: u32) {
    let status = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["loadgen", "--addr", &addr.to_string(), "--rate", "1000"])
        .args(["--duration", &secs.to_string(), "--connections", "2"])
        .args(["--mix", "payments=85,refunds=15", "--seed", "11", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run sluice loadgen");
    assert!(status.success(), "loadgen failed");
}

/// Succeeded payments' amounts per (channel, currency), summed by PostgreSQL (`psql`).
fn sql_captured(url: &str) -> BTreeMap<(i64, i64), i64> {
    let out = Command::new("psql")
        .args([
            url,
            "-Atc",
            "select channel_id, currency, sum(amount_minor) from payment_results \
             where status = 'Succeeded' group by 1, 2 order by 1, 2",
        ])
        .output()
        .expect("run psql (Debian's postgresql-client)");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let f: Vec<i64> = line
                .split('|')
                .map(|x| x.parse().expect("a number"))
                .collect();
            ((f[0], f[1]), f[2])
        })
        .collect()
}

#[test]
fn parquet_and_postgres_exports_of_a_server_run_hold_the_same_rows() {
    let pg = TestCluster::start().unwrap_or_else(|e| panic!("this test needs PostgreSQL: {e}"));
    let url = pg.create_database("export").unwrap();
    let settings = Settings {
        simulator: true,
        ..Settings::default()
    };
    let (dir, mut server) = start_server("export-postgres", &settings);
    loadgen(server.addr, 2);
    server.terminate();
    let data = dir.join("data");

    export_once(&data, &[]);
    export_once(
        &data,
        &[
            "--to",
            "postgres",
            "--postgres-url",
            &url,
            "--batch-rows",
            "3000",
        ],
    );
    let parquet = ParquetStore::open_read_only(&data)
        .expect("open the Parquet store")
        .load(TABLES, DayRange::default())
        .expect("load Parquet");
    let mut postgres = PgStore::connect(&url).expect("connect to the test PostgreSQL");
    let from_postgres = postgres
        .load(TABLES, DayRange::default())
        .expect("load PostgreSQL");
    assert!(
        parquet.payment_results.len() > 500,
        "{} payments",
        parquet.payment_results.len()
    );
    assert!(!parquet.refund_results.is_empty() && !parquet.ledger_transfers.is_empty());
    assert_eq!(
        multiset(&from_postgres),
        multiset(&parquet),
        "PostgreSQL holds the Parquet rows"
    );
    let position = FlowReader::position(&mut postgres).unwrap();
    assert!(position > 0);

    // Summed in PostgreSQL itself, by sluice report over either store: the same per-channel
    // captured totals.
    let sql = sql_captured(&url);
    assert!(!sql.is_empty());
    assert_eq!(report_captured(&data, &["--postgres-url", &url]), sql);
    assert_eq!(report_captured(&data, &[]), sql);

    // Exporting again finds nothing new and changes nothing.
    export_once(&data, &["--to", "postgres", "--postgres-url", &url]);
    assert_eq!(FlowReader::position(&mut postgres).unwrap(), position);
    assert_eq!(
        postgres.load(TABLES, DayRange::default()).unwrap(),
        from_postgres
    );

    // A missing URL is a clear error.
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["export", "--once", "--to", "postgres", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--postgres-url"), "{err}");
}
