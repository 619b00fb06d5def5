//! `sluice reconcile` as an operator runs it: a Parquet flow store, a WeChat bill file written by
//! sluice-bills, the reports and state under DATA/reconcile; a second run refused unless
//! `--rerun`; a bill of another channel and a store behind the window refused with nothing
//! written.

use std::path::{Path, PathBuf};
use std::process::Command;

use sluice_bills::{Bill, BillLine, Format, LineKind, LineStatus, Totals};
use sluice_node::flow::{Day, PaymentResult, Rows};
use sluice_store::{FlowStore, ParquetStore};

/// 2026-12-06, days since 1970-01-01.
const DAY: u32 = 20_793;
const SEC: u64 = 1_000_000_000;
const NS_PER_DAY: u64 = 86_400 * SEC;

/// `secs` into WeChat's bill day (Beijing time: it starts at 16:00 UTC the day before).
fn at(secs: u64) -> u64 {
    u64::from(DAY) * NS_PER_DAY - 8 * 3_600 * SEC + secs * SEC
}

fn payment(order_id: i64, amount: i64, fee: i64, at_ns: u64) -> PaymentResult {
    PaymentResult {
        order_id,
        seq: order_id,
        at_ns: at_ns as i64,
        day: Day((at_ns / NS_PER_DAY) as i32),
        merchant_id: 1001,
        status: "Succeeded".into(),
        reason: "None".into(),
        channel_id: 1,
        attempts: 1,
        amount_minor: amount,
        currency: 156,
        fee_minor: fee,
        channel_ref: format!("4200{order_id:024}"),
        settle_day: Day(0),
    }
}

fn line(order_id: u64, amount: i64, fee: i64, at_ns: u64) -> BillLine {
    BillLine {
        line_no: 0,
        kind: LineKind::Payment,
        status: LineStatus::Succeeded,
        channel_trade_no: format!("4200{order_id:024}"),
        out_trade_no: sluice_bills::out_trade_no(order_id, 1),
        refund_id: 0,
        channel_refund_no: String::new(),
        amount_minor: amount,
        fee_minor: fee,
        currency: 156,
        at_ns,
        batch: String::new(),
    }
}

/// A store with orders 1–3 of channel 1 and a last row past the window; `through` = whether
/// that last row is there.
fn store(data: &Path, through: bool) {
    let mut rows = Rows {
        payment_results: vec![
            payment(1, 10_000, 60, at(100)),
            payment(2, 20_000, 120, at(200)),
            payment(3, 30_000, 180, at(300)),
        ],
        ..Rows::default()
    };
    if through {
        rows.payment_results
            .push(payment(9, 100, 1, at(86_400 + 3_600)));
    }
    let mut store = ParquetStore::open(data).unwrap();
    store.commit(&rows, 100).unwrap();
}

/// The bill: order 1 as booked, order 2 with a fee of 126, order 3 missing, order 4 unknown.
fn bill_file(data: &Path, format: Format) -> PathBuf {
    let lines = vec![
        line(1, 10_000, 60, at(100)),
        line(2, 20_000, 126, at(200)),
        line(4, 5_000, 30, at(400)),
    ];
    let bill = Bill {
        format,
        account: "1900000109".into(),
        day: DAY,
        utc_offset_min: 480,
        totals: Totals::of(&lines),
        lines,
    };
    let path = data.join(sluice_bills::file_name(format, &bill.account, DAY));
    std::fs::write(&path, sluice_bills::write(&bill)).unwrap();
    path
}

fn reconcile(data: &Path, channel: &str, bill: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["reconcile", "--data"])
        .arg(data)
        .args(["--channel", channel, "--bill"])
        .arg(bill)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-reconcile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn reconcile_reports_refuses_a_second_run_and_reruns_exactly() {
    let data = temp_dir("run");
    store(&data, true);
    let bill = bill_file(&data, Format::WechatAll);
    let (ok, stdout, stderr) = reconcile(&data, "1", &bill, &["--json"]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["day"], "2026-12-06");
    assert_eq!(report["classes"]["fee_mismatch"]["count"], 1);
    assert_eq!(report["classes"]["missing_on_channel"]["count"], 1);
    assert_eq!(report["classes"]["missing_on_platform"]["count"], 1);
    assert_eq!(
        report["discrepancies_total"]["amount_minor"],
        6 + 29_820 - 4_970
    );
    assert_eq!(report["batches"][0]["batch_ref"], "2026-12-06");
    let day_dir = data.join("reconcile").join("1").join("2026-12-06");
    for file in [
        "discrepancies.csv",
        "report.json",
        "summary.txt",
        "state_before.json",
    ] {
        assert!(day_dir.join(file).is_file(), "{file}");
    }
    let (ok, _, stderr) = reconcile(&data, "1", &bill, &[]);
    assert!(!ok && stderr.contains("already reconciled"), "{stderr}");
    let (ok, stdout, stderr) = reconcile(&data, "1", &bill, &["--rerun"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("fee_mismatch"), "{stdout}");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let data = temp_dir("refused");
    store(&data, false);
    let bill = bill_file(&data, Format::WechatAll);
    let (ok, _, stderr) = reconcile(&data, "1", &bill, &[]);
    assert!(
        !ok && stderr.contains("not exported far enough"),
        "{stderr}"
    );
    // A WeChat bill given for Alipay's channel.
    let (ok, _, stderr) = reconcile(&data, "2", &bill, &[]);
    assert!(!ok && stderr.contains("another channel"), "{stderr}");
    let garbage = data.join("garbage.csv");
    std::fs::write(&garbage, "not,a,bill\n").unwrap();
    let (ok, _, stderr) = reconcile(&data, "1", &garbage, &[]);
    assert!(!ok && stderr.contains("garbage.csv"), "{stderr}");
    assert!(!data.join("reconcile").exists(), "nothing was written");
    let _ = std::fs::remove_dir_all(&data);
}
