#![allow(clippy::field_reassign_with_default)]
use super::*;
use sluice_node::flow::{ChannelHealth, Order, Rows};

fn health(seq: i64, ordinal: i32, day: i32) -> ChannelHealth {
    ChannelHealth {
        seq,
        ordinal,
        at_ns: seq * 1_000,
        day: Day(day),
        channel_id: 3,
        from_state: "Healthy".into(),
        to_state: "Unhealthy".into(),
        failure_level_milli: 1500,
        success_rate_ppm: 400_000,
    }
}

fn order(order_id: i64, seq: i64) -> Order {
    Order {
        order_id,
        seq,
        at_ns: 5,
        day: Day(20_418),
        acquirer_id: 1,
        request_id: -7,
        merchant_id: 1001,
        parent_merchant_id: 0,
        promoter_id: 0,
        amount_minor: 12_345,
        currency: 156,
        method: "Wallet".into(),
        scene: "App".into(),
        goods_category: 0,
        strategy: "CostFirst".into(),
        ack_status: "Accepted".into(),
        reject_reason: "None".into(),
        risk_action: "Allow".into(),
        risk_rule_id: 0,
        first_channel_id: 1,
        risk_score: 0,
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-parquet-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

#[test]
fn rows_round_trip_by_day_and_survive_a_reopen() {
    let data = temp_dir("roundtrip");
    let mut store = ParquetStore::open(&data).unwrap();
    let mut rows = Rows::default();
    rows.channel_health = vec![
        health(3, 0, 20_417),
        health(5, 0, 20_418),
        health(5, 1, 20_418),
    ];
    rows.orders = vec![order(1, 4), order(2, 5)];
    store.commit(&rows, 5).unwrap();
    // Rows at or below the position are not stored twice.
    store.commit(&rows, 5).unwrap();
    let part = ParquetStore::dir_in(&data).join("channel_health/day=2025-11-26/part-1-5.parquet");
    assert!(part.is_file(), "{}", part.display());
    let mut reader = ParquetStore::open(&data).unwrap();
    assert_eq!(FlowReader::position(&mut reader).unwrap(), 5);
    let back = reader.load(TABLES, DayRange::default()).unwrap();
    assert_eq!(back.channel_health, rows.channel_health);
    assert_eq!(back.orders, rows.orders);
    let one_day = DayRange {
        from: Some(Day(20_418)),
        to: Some(Day(20_418)),
    };
    let back = reader.load(&["channel_health"], one_day).unwrap();
    assert_eq!(back.channel_health.len(), 2);
    assert!(back.orders.is_empty());
    let _ = fs::remove_dir_all(&data);
}

#[test]
fn parts_past_the_position_are_orphans_deleted_on_open() {
    let data = temp_dir("orphans");
    let mut store = ParquetStore::open(&data).unwrap();
    let mut rows = Rows::default();
    rows.channel_health = vec![health(2, 0, 20_418)];
    store.commit(&rows, 2).unwrap();
    // A crash after the parts of (2, 9] were renamed, before the position moved.
    rows.channel_health = vec![health(9, 0, 20_418)];
    let mut writer = Writer {
        dir: &store.dir,
        after: 2,
        through: 9,
        error: None,
    };
    rows.visit(&mut writer);
    let orphan = ParquetStore::dir_in(&data).join("channel_health/day=2025-11-26/part-3-9.parquet");
    assert!(orphan.is_file());
    let mut store = ParquetStore::open(&data).unwrap();
    assert!(!orphan.exists());
    let back = store.load(TABLES, DayRange::default()).unwrap();
    assert_eq!(back.channel_health, vec![health(2, 0, 20_418)]);
    let _ = fs::remove_dir_all(&data);
}

#[test]
fn a_damaged_or_foreign_file_is_an_error_naming_it() {
    let data = temp_dir("damaged");
    let mut store = ParquetStore::open(&data).unwrap();
    let mut rows = Rows::default();
    rows.channel_health = vec![health(2, 0, 20_418)];
    rows.orders = vec![order(1, 2)];
    store.commit(&rows, 2).unwrap();
    let dir = ParquetStore::dir_in(&data);
    let part = dir.join("channel_health/day=2025-11-26/part-1-2.parquet");
    // A part of another table where this table's should be.
    fs::copy(dir.join("orders/day=2025-11-26/part-1-2.parquet"), &part).unwrap();
    let e = store
        .load(&["channel_health"], DayRange::default())
        .unwrap_err();
    assert!(
        e.0.contains("part-1-2.parquet") && e.0.contains("not a part of table"),
        "{e}"
    );
    fs::write(&part, b"PAR1 garbage").unwrap();
    let e = store
        .load(&["channel_health"], DayRange::default())
        .unwrap_err();
    assert!(e.0.contains("part-1-2.parquet"), "{e}");
    fs::write(dir.join(POSITION_FILE), b"nonsense").unwrap();
    let e = ParquetStore::open(&data).err().unwrap();
    assert!(e.0.contains("_position"), "{e}");
    let _ = fs::remove_dir_all(&data);
}

fn payout(seq: i64, ordinal: i32, state: &str) -> sluice_node::flow::Payout {
    sluice_node::flow::Payout {
        seq,
        ordinal,
        at_ns: seq * 1_000,
        day: Day(20_418 + i32::from(state == "Returned")),
        payout_id: 1 << 40,
        party_kind: "Merchant".into(),
        party_id: 1001,
        currency: 156,
        amount_minor: 50_000,
        fee_minor: 200,
        state: state.into(),
        reason: if state == "Failed" {
            "PayoutFailed".into()
        } else {
            "None".into()
        },
        channel_id: 40,
        channel_code: if state == "Failed" { 51 } else { 0 },
        withdraw_request_id: -3,
        automatic: state == "Sent",
    }
}

#[test]
fn payouts_and_schema_7_withdrawals_round_trip() {
    let data = temp_dir("payouts");
    let mut store = ParquetStore::open(&data).unwrap();
    let mut rows = Rows::default();
    rows.payouts = vec![
        payout(3, 0, "Review"),
        payout(4, 0, "Sent"),
        payout(6, 0, "Paid"),
        payout(6, 1, "Failed"),
        payout(9, 0, "Returned"),
    ];
    rows.withdrawals = vec![sluice_node::flow::Withdrawal {
        seq: 3,
        ordinal: 0,
        at_ns: 3_000,
        day: Day(20_418),
        withdrawal_id: 1 << 40,
        withdraw_request_id: -3,
        merchant_id: 1001,
        amount_minor: 50_000,
        currency: 156,
        status: "Accepted".into(),
        reason: "None".into(),
        available_after_minor: 9,
        message: "WithdrawAck".into(),
        fee_minor: 200,
    }];
    store.commit(&rows, 9).unwrap();
    let part = ParquetStore::dir_in(&data).join("payouts/day=2025-11-27/part-1-9.parquet");
    assert!(part.is_file(), "{}", part.display());
    let mut reader = ParquetStore::open_read_only(&data).unwrap();
    let back = reader.load(TABLES, DayRange::default()).unwrap();
    assert_eq!(back.payouts, rows.payouts);
    assert_eq!(back.withdrawals, rows.withdrawals);
    let _ = fs::remove_dir_all(&data);
}

/// `orders` as it was before migration 4: every column but `risk_score`.
struct OrderBeforeScore(Order);

impl sluice_node::flow::Row for OrderBeforeScore {
    const TABLE: &'static str = "orders";
    const COLUMNS: &'static [sluice_node::flow::Column] =
        Order::COLUMNS.split_at(Order::COLUMNS.len() - 1).0;
    const KEY: &'static [&'static str] = Order::KEY;
    fn values(&self) -> Vec<sluice_node::flow::Value> {
        let mut v = self.0.values();
        v.pop();
        v
    }
    fn from_values(_: &[sluice_node::flow::Value]) -> Option<Self> {
        None
    }
}

#[test]
fn a_part_written_before_a_column_was_added_reads_it_as_its_default() {
    assert_eq!(Order::COLUMNS.last().map(|c| c.name), Some("risk_score"));
    let data = temp_dir("old-orders");
    let mut store = ParquetStore::open(&data).unwrap();
    let mut rows = Rows::default();
    let mut scored = order(2, 3);
    scored.risk_score = 87;
    rows.orders = vec![scored.clone()];
    store.commit(&rows, 3).unwrap();
    let dir = ParquetStore::dir_in(&data).join("orders/day=2025-11-26");
    let old = order(1, 2);
    let mut with_score = old.clone();
    with_score.risk_score = 55;
    write::write_part(
        &dir.join("part-1-3.old.parquet"),
        &[&OrderBeforeScore(with_score)],
    )
    .unwrap();
    fs::rename(
        dir.join("part-1-3.old.parquet"),
        dir.join("part-1-2.parquet"),
    )
    .unwrap();
    let back = store.load(&["orders"], DayRange::default()).unwrap();
    assert_eq!(
        back.orders,
        vec![old, scored],
        "the old part's score reads 0"
    );
    let _ = fs::remove_dir_all(&data);
}

#[test]
fn labels_disputes_and_reviews_round_trip() {
    use sluice_node::flow::{DisputeRow, ReviewRow, RiskLabelRow};
    let data = temp_dir("risk");
    let mut store = ParquetStore::open(&data).unwrap();
    let mut rows = Rows::default();
    let d = Day(20_418);
    rows.reviews = ["Queued", "RefundAndBlock"]
        .iter()
        .enumerate()
        .map(|(i, state)| ReviewRow {
            seq: 3 + i as i64,
            ordinal: 0,
            at_ns: 1,
            day: d,
            order_id: 1 << 40,
            merchant_id: 1001,
            state: (*state).into(),
            rule_id: 7,
            risk_score: 93,
            amount_minor: 80_000,
            currency: 156,
        })
        .collect();
    rows.risk_labels = vec![RiskLabelRow {
        seq: 4,
        ordinal: 0,
        at_ns: 2,
        day: d,
        order_id: 1 << 40,
        merchant_id: 1001,
        kind: "Fraud".into(),
        source: "Review".into(),
    }];
    rows.disputes = vec![DisputeRow {
        seq: 5,
        ordinal: 0,
        at_ns: 3,
        day: Day(20_419),
        dispute_id: -9,
        channel_id: 2,
        order_id: 1 << 41,
        merchant_id: 1002,
        stage: "Opened".into(),
        reason: "Fraud".into(),
        amount_minor: 1_000,
        fee_minor: 1_500,
        currency: 156,
    }];
    store.commit(&rows, 5).unwrap();
    let mut reader = ParquetStore::open_read_only(&data).unwrap();
    let back = reader.load(TABLES, DayRange::default()).unwrap();
    assert_eq!(back, rows);
    let _ = fs::remove_dir_all(&data);
}

#[test]
fn finance_events_round_trip() {
    use sluice_node::flow::FinanceEventRow;
    let data = temp_dir("finance");
    let mut store = ParquetStore::open(&data).unwrap();
    let mut rows = Rows::default();
    let row = |seq: i64, ordinal: i32, kind: &str, installment: i32, day: i32| FinanceEventRow {
        seq,
        ordinal,
        at_ns: seq * 7,
        day: Day(20_418),
        product: "Installment".into(),
        kind: kind.into(),
        party_kind: "Merchant".into(),
        party_id: 1001,
        reference: 1 << 40,
        installment,
        currency: 156,
        amount_minor: 33_334,
        position_minor: 100_000,
        accrued_minor: -1,
        business_day: Day(day),
    };
    rows.finance_events = vec![
        row(3, 0, "PlanOpened", 0, 20_418),
        row(3, 1, "InstallmentScheduled", 1, 20_448),
        row(3, 2, "InstallmentScheduled", 2, 20_479),
        FinanceEventRow {
            product: "Loan".into(),
            party_kind: "Promoter".into(),
            amount_minor: i64::MIN,
            ..row(9, 0, "InterestAccrued", 0, 20_417)
        },
    ];
    store.commit(&rows, 9).unwrap();
    let mut reader = ParquetStore::open_read_only(&data).unwrap();
    let back = reader.load(TABLES, DayRange::default()).unwrap();
    assert_eq!(back, rows);
    let days = DayRange {
        from: Some(Day(20_419)),
        to: None,
    };
    let later = reader.load(&["finance_events"], days).unwrap();
    assert!(
        later.finance_events.is_empty(),
        "filtered by the input's day"
    );
    let _ = fs::remove_dir_all(&data);
}
