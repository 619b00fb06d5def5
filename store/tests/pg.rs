//! The PostgreSQL store against a real, throwaway PostgreSQL cluster (`pg::testing`); without
//! PostgreSQL's server binaries these tests fail, saying what to install.

use sluice_node::flow::*;

use sluice_store::pg::PgStore;
use sluice_store::pg::schema::{self, MIGRATIONS};
use sluice_store::pg::testing::TestCluster;
use sluice_store::{DayRange, FlowReader, FlowStore};

fn cluster() -> TestCluster {
    TestCluster::start().unwrap_or_else(|e| panic!("the PostgreSQL tests need a server: {e}"))
}

/// One row of every table for journal sequence `seq`, on day `day`, with awkward text.
fn rows_at(seq: i64, day: i32) -> Rows {
    let d = Day(day);
    let t = |s: &str| format!("{s}\t'\"\\\n{seq}");
    let mut rows = Rows::default();
    rows.orders.push(Order {
        order_id: seq * 10,
        seq,
        at_ns: seq * 1_000,
        day: d,
        acquirer_id: 1,
        request_id: seq,
        merchant_id: 7,
        parent_merchant_id: 0,
        promoter_id: 3,
        amount_minor: i64::MAX,
        currency: 840,
        method: t("Card"),
        scene: "Online".into(),
        goods_category: 0,
        strategy: "Cost".into(),
        ack_status: "Accepted".into(),
        reject_reason: "None".into(),
        risk_action: "Allow".into(),
        risk_rule_id: 0,
        first_channel_id: 2,
        risk_score: 99,
    });
    rows.routing_candidates.push(RoutingCandidate {
        order_id: seq * 10,
        position: 0,
        seq,
        day: d,
        channel_id: 2,
        decision: "Chosen".into(),
        skip_reason: "None".into(),
        score: -4,
        rank: 1,
    });
    rows.attempts.push(Attempt {
        order_id: seq * 10,
        attempt: 1,
        seq,
        day: d,
        channel_id: 2,
        status: "Succeeded".into(),
        channel_code: 0,
        dispatched_ns: 5,
        latency_us: 120,
        probe: true,
    });
    rows.payment_results.push(PaymentResult {
        order_id: seq * 10,
        seq,
        at_ns: 9,
        day: d,
        merchant_id: 7,
        status: "Succeeded".into(),
        reason: "None".into(),
        channel_id: 2,
        attempts: 1,
        amount_minor: 100,
        currency: 840,
        fee_minor: 1,
        channel_ref: t("ref"),
        settle_day: Day(day + 1),
    });
    for ordinal in 0..2 {
        rows.split_lines.push(SplitLine {
            seq,
            ordinal,
            day: d,
            order_id: seq * 10,
            refund_id: 0,
            role: "Merchant".into(),
            party_id: 7,
            amount_minor: -50,
            currency: 840,
        });
    }
    rows.refunds.push(Refund {
        seq,
        ordinal: 0,
        at_ns: 1,
        day: d,
        refund_id: seq,
        refund_request_id: 4,
        order_id: seq * 10,
        merchant_id: 7,
        amount_minor: 5,
        currency: 840,
        ack_status: "Accepted".into(),
        reject_reason: "None".into(),
        risk_action: "Allow".into(),
        risk_rule_id: 0,
    });
    rows.refund_results.push(RefundResult {
        refund_id: seq,
        seq,
        at_ns: 1,
        day: d,
        order_id: seq * 10,
        merchant_id: 7,
        channel_id: 2,
        status: "Succeeded".into(),
        reason: "None".into(),
        amount_minor: 5,
        currency: 840,
        fee_returned_minor: 0,
    });
    rows.reversals.push(Reversal {
        seq,
        ordinal: 0,
        at_ns: 1,
        day: d,
        order_id: seq * 10,
        attempt: 1,
        channel_id: 2,
        amount_minor: 5,
        currency: 840,
        state: "Reversing".into(),
        reason: "LateCapture".into(),
    });
    rows.withdrawals.push(Withdrawal {
        seq,
        ordinal: 0,
        at_ns: 1,
        day: d,
        withdrawal_id: seq,
        withdraw_request_id: 2,
        merchant_id: 7,
        amount_minor: 5,
        currency: 840,
        status: "Succeeded".into(),
        reason: "None".into(),
        available_after_minor: i64::MIN,
        message: "WithdrawAck".into(),
        fee_minor: 7,
    });
    rows.ledger_transfers.push(LedgerTransfer {
        seq,
        ordinal: 0,
        at_ns: 1,
        day: d,
        phase: "post".into(),
        debit_kind: "clearing".into(),
        debit_owner: 0,
        debit_role: String::new(),
        credit_kind: "pending".into(),
        credit_owner: 7,
        credit_role: "Merchant".into(),
        amount_minor: 5,
        currency: 840,
    });
    rows.settlements.push(Settlement {
        seq,
        ordinal: 0,
        at_ns: 1,
        day: d,
        party_id: 7,
        role: "Merchant".into(),
        kind: "settled".into(),
        amount_minor: 5,
        currency: 840,
    });
    rows.risk_hits.push(RiskHit {
        seq,
        ordinal: 0,
        at_ns: 1,
        day: d,
        rule_id: 9,
        shadow: false,
        action: "Review".into(),
        subject: "payment".into(),
        order_id: seq * 10,
        merchant_id: 7,
        amount_minor: 5,
        currency: 840,
    });
    rows.channel_health.push(ChannelHealth {
        seq,
        ordinal: 0,
        at_ns: 1,
        day: d,
        channel_id: 2,
        from_state: "Healthy".into(),
        to_state: "Degraded".into(),
        failure_level_milli: 1500,
        success_rate_ppm: 999_999,
    });
    rows.channel_settlements.push(ChannelSettlementRow {
        seq,
        at_ns: 1,
        day: d,
        channel_id: 2,
        currency: 156,
        batch_id: 20_418,
        batch_ref: "20261126".into(),
        paid_minor: -5,
        fee_difference_minor: 3,
        first_day: d,
        last_day: d,
    });
    rows.discrepancies.push(DiscrepancyRow {
        seq,
        at_ns: 1,
        day: d,
        op: "Open".into(),
        discrepancy_id: seq * 7,
        channel_id: 2,
        class: "FeeMismatch".into(),
        currency: 156,
        order_id: seq * 10,
        attempt: 1,
        refund_id: 0,
        amount_minor: 3,
        write_off_minor: 0,
        bill_day: d,
        note: "fee 0.03 more".into(),
    });
    for (ordinal, state) in ["Sent", "Paid"].into_iter().enumerate() {
        rows.payouts.push(Payout {
            seq,
            ordinal: ordinal as i32,
            at_ns: 1,
            day: d,
            payout_id: seq * 11,
            party_kind: "Promoter".into(),
            party_id: 3,
            currency: 156,
            amount_minor: i64::MAX - 1,
            fee_minor: 1,
            state: state.into(),
            reason: t("None"),
            channel_id: 9,
            channel_code: -1,
            withdraw_request_id: -2,
            automatic: ordinal == 1,
        });
    }
    risk_rows(&mut rows, seq, d);
    finance_rows(&mut rows, seq, d);
    rows
}

/// A plan opened with its first installment scheduled, and a yield day's residual.
fn finance_rows(rows: &mut Rows, seq: i64, d: Day) {
    let row = |ordinal: i32, kind: &str, installment: i32, business_day: i32| FinanceEventRow {
        seq,
        ordinal,
        at_ns: seq * 1_000 + 8,
        day: d,
        product: "Installment".into(),
        kind: kind.into(),
        party_kind: "Merchant".into(),
        party_id: 7,
        reference: seq * 10,
        installment,
        currency: 840,
        amount_minor: i64::MAX,
        position_minor: -1,
        accrued_minor: i64::MIN,
        business_day: Day(business_day),
    };
    rows.finance_events.extend([
        row(0, "PlanOpened", 0, d.0),
        row(1, "InstallmentScheduled", 1, d.0 + 30),
        FinanceEventRow {
            product: format!("Yield\t'\"\\\n{seq}"),
            party_kind: "None".into(),
            party_id: 0,
            reference: 0,
            ..row(2, "YieldResidual", 0, d.0 - 1)
        },
    ]);
}

/// A label, a dispute's two stages and a review queued and decided, for sequence `seq`.
fn risk_rows(rows: &mut Rows, seq: i64, d: Day) {
    rows.risk_labels.push(RiskLabelRow {
        seq,
        ordinal: 0,
        at_ns: seq * 1_000 + 5,
        day: d,
        order_id: seq * 10,
        merchant_id: 7,
        kind: "Fraud".into(),
        source: format!("Analyst\t'\"\\\n{seq}"),
    });
    for (ordinal, stage) in ["Opened", "Lost"].into_iter().enumerate() {
        rows.disputes.push(DisputeRow {
            seq,
            ordinal: ordinal as i32,
            at_ns: seq * 1_000 + 6,
            day: d,
            dispute_id: -seq,
            channel_id: 2,
            order_id: seq * 10,
            merchant_id: 7,
            stage: stage.into(),
            reason: "Fraud".into(),
            amount_minor: i64::MAX,
            fee_minor: 1_500,
            currency: 840,
        });
    }
    for (ordinal, state) in ["Queued", "RefundAndBlock"].into_iter().enumerate() {
        rows.reviews.push(ReviewRow {
            seq,
            ordinal: ordinal as i32,
            at_ns: seq * 1_000 + 7,
            day: d,
            order_id: seq * 10,
            merchant_id: 7,
            state: state.into(),
            rule_id: 12,
            risk_score: 100,
            amount_minor: 1,
            currency: 840,
        });
    }
}

fn rows_for(seqs: std::ops::RangeInclusive<i64>) -> Rows {
    let mut all = Rows::default();
    for seq in seqs {
        all.append(&mut rows_at(seq, 20_000 + i32::try_from(seq % 3).unwrap()));
    }
    all
}

fn load_all(store: &mut PgStore) -> Rows {
    store.load(TABLES, DayRange::default()).unwrap()
}

#[test]
#[ignore = "writes store/migrations/0001_flow.sql from rows.rs; run once when writing it"]
fn write_first_migration() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/0001_flow.sql");
    std::fs::write(path, schema::first_migration_sql()).unwrap();
}

/// What the database says about one table after the migrations, against rows.rs.
struct SchemaCheck<'a> {
    client: &'a mut postgres::Client,
    mismatches: Vec<String>,
}

impl TableVisitor for SchemaCheck<'_> {
    fn table<R: Row>(&mut self, _: &[R]) {
        let t = R::TABLE;
        let columns: Vec<(String, String, bool, Option<String>)> = self
            .client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                 col_description(a.attrelid, a.attnum) FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&t],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let expected: Vec<(String, String, bool, Option<String>)> = R::COLUMNS
            .iter()
            .map(|c| {
                (
                    c.name.to_owned(),
                    schema::pg_type(c.ty).to_owned(),
                    true,
                    Some(c.doc.trim().to_owned()),
                )
            })
            .collect();
        if columns != expected {
            self.mismatches.push(format!(
                "table {t}: the database has {columns:?}\nrows.rs declares {expected:?}\n\
                 a migration must make it:\n{}",
                schema::create_table_sql::<R>()
            ));
        }
        let key: Vec<String> = self
            .client
            .query(
                "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
                 AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass($1) AND i.indisprimary \
                 ORDER BY array_position(i.indkey::int2[], a.attnum)",
                &[&t],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        if key != R::KEY {
            self.mismatches.push(format!(
                "table {t}: primary key {key:?}, rows.rs says {:?}",
                R::KEY
            ));
        }
        for columns in schema::indexes::<R>() {
            let name = format!("{t}_{}_idx", columns.join("_"));
            let found = self
                .client
                .query("SELECT 1 FROM pg_indexes WHERE indexname = $1", &[&name])
                .unwrap();
            if found.is_empty() {
                self.mismatches.push(format!("table {t}: no index {name}"));
            }
        }
    }
}

#[test]
fn migrations_apply_once_and_give_every_table_its_rows_columns() {
    let pg = cluster();
    let url = pg.create_database("schema").unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert_eq!(schema::migrate(&mut client).unwrap(), MIGRATIONS.len());
    assert_eq!(
        schema::migrate(&mut client).unwrap(),
        0,
        "a second run applies nothing"
    );
    let recorded: Vec<(i32, String)> = client
        .query(
            "SELECT version, name FROM sluice_schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected: Vec<(i32, String)> = MIGRATIONS.iter().map(|m| (m.0, m.1.to_owned())).collect();
    assert_eq!(recorded, expected);
    // Connecting (twice) migrates nothing more and starts at position 0.
    assert_eq!(
        FlowStore::position(&mut PgStore::connect(&url).unwrap()).unwrap(),
        0
    );
    assert_eq!(
        FlowStore::position(&mut PgStore::connect(&url).unwrap()).unwrap(),
        0
    );
    let mut check = SchemaCheck {
        client: &mut client,
        mismatches: Vec::new(),
    };
    Rows::default().visit(&mut check);
    assert!(
        check.mismatches.is_empty(),
        "rows.rs and store/migrations disagree:\n{}",
        check.mismatches.join("\n")
    );
    // A database from a newer sluice is refused, by name.
    client
        .execute(
            "INSERT INTO sluice_schema_migrations (version, name) VALUES (999, 'x')",
            &[],
        )
        .unwrap();
    let err = PgStore::connect(&url).err().unwrap().to_string();
    assert!(
        err.contains("schema migration 999, newer than this sluice"),
        "{err}"
    );
}

#[test]
fn exporters_connecting_at_once_migrate_once() {
    let pg = cluster();
    let url = pg.create_database("race").unwrap();
    let connects: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgStore::connect(&url).map(|_| ()))
        })
        .collect();
    for c in connects {
        c.join().unwrap().unwrap();
    }
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM sluice_schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, i64::try_from(MIGRATIONS.len()).unwrap());
}

#[test]
fn without_server_binaries_the_harness_says_what_to_install() {
    let err = match std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "missing_binaries_child",
            "--ignored",
            "--nocapture",
        ])
        .env("SLUICE_PG_BIN", "/nonexistent-sluice-pg")
        .output()
    {
        Ok(out) => {
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr)
        }
        Err(e) => panic!("running the child test: {e}"),
    };
    assert!(
        err.contains("SLUICE_PG_BIN=/nonexistent-sluice-pg holds no initdb"),
        "{err}"
    );
    assert!(err.contains("test result: FAILED"), "{err}");
}

#[test]
#[ignore = "run by without_server_binaries_the_harness_says_what_to_install"]
fn missing_binaries_child() {
    cluster();
}

#[test]
fn batches_round_trip_and_recommitting_changes_nothing() {
    let pg = cluster();
    let mut store = PgStore::connect(&pg.create_database("flow").unwrap()).unwrap();
    let first = rows_for(1..=3);
    store.commit(&first, 3).unwrap();
    assert_eq!(FlowStore::position(&mut store).unwrap(), 3);
    assert_eq!(
        load_all(&mut store),
        first,
        "every table, every cell, in order"
    );
    // The same range again, and a batch that overlaps it, store nothing twice.
    store.commit(&first, 3).unwrap();
    store.commit(&rows_for(2..=3), 3).unwrap();
    assert_eq!(load_all(&mut store), first);
    // The next range, overlapping the stored one: only sequences after 3 are new.
    store.commit(&rows_for(2..=5), 5).unwrap();
    assert_eq!(FlowStore::position(&mut store).unwrap(), 5);
    let all = rows_for(1..=5);
    assert_eq!(load_all(&mut store), all);
    // An empty batch still moves the position.
    store.commit(&Rows::default(), 9).unwrap();
    assert_eq!(FlowReader::position(&mut store).unwrap(), 9);
    // Days and tables filter.
    let day = Day(20_001);
    let some = store
        .load(
            &["orders", "settlements"],
            DayRange {
                from: Some(day),
                to: Some(day),
            },
        )
        .unwrap();
    assert_eq!(
        some.orders,
        all.orders
            .iter()
            .filter(|o| o.day == day)
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(some.settlements.len(), 2);
    assert!(some.attempts.is_empty());
    let err = store
        .load(&["nope"], DayRange::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no table \"nope\""), "{err}");
    // A row past the batch's end is refused, naming the table; nothing changes.
    let err = store
        .commit(&rows_for(10..=11), 10)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("table orders") && err.contains("past the batch's end"),
        "{err}"
    );
    assert_eq!(load_all(&mut store), all);
}

#[test]
fn a_connection_lost_before_commit_changes_nothing_and_the_retry_succeeds() {
    let pg = cluster();
    let mut store = PgStore::connect(&pg.create_database("crash").unwrap()).unwrap();
    store.commit(&rows_for(1..=2), 2).unwrap();
    store.crash_before_next_commit();
    let err = store.commit(&rows_for(3..=4), 4).unwrap_err().to_string();
    assert!(err.contains("PostgreSQL store (postgres@"), "{err}");
    assert_eq!(
        FlowStore::position(&mut store).unwrap(),
        2,
        "reconnected; the batch is not there"
    );
    assert_eq!(load_all(&mut store), rows_for(1..=2));
    store.commit(&rows_for(3..=4), 4).unwrap();
    assert_eq!(load_all(&mut store), rows_for(1..=4));
}

#[test]
fn bad_urls_and_unreachable_servers_are_errors() {
    let err = PgStore::connect("postgresql://x:secret@h:notaport/db")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("postgres_url is not a PostgreSQL URL"),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
    let err = PgStore::connect("host=/nonexistent-sluice port=1 user=u dbname=d")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("u@/nonexistent-sluice:1/d") && err.contains("connecting"),
        "{err}"
    );
}

const SCHEMA_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/STORE_SCHEMA.md");
const GENERATED: &str =
    "<!-- generated from node/src/flow/rows.rs by sluice_store::pg::schema::tables_markdown -->\n";

#[test]
fn the_schema_page_lists_rows_rs_tables() {
    let page = std::fs::read_to_string(SCHEMA_DOC).unwrap();
    let (head, tables) = page
        .split_once(GENERATED)
        .expect("docs/STORE_SCHEMA.md lost its generated marker");
    let expected = format!("\n{}", schema::tables_markdown());
    if tables != expected {
        if std::env::var_os("SLUICE_BLESS").is_some() {
            std::fs::write(SCHEMA_DOC, format!("{head}{GENERATED}{expected}")).unwrap();
        } else {
            panic!("docs/STORE_SCHEMA.md's tables differ from rows.rs: rerun with SLUICE_BLESS=1");
        }
    }
}

#[test]
fn the_schema_page_queries_run() {
    let pg = cluster();
    let url = pg.create_database("queries").unwrap();
    let mut store = PgStore::connect(&url).unwrap();
    store.commit(&rows_for(1..=3), 3).unwrap();
    let page = std::fs::read_to_string(SCHEMA_DOC).unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let queries: Vec<&str> = page
        .split("```sql\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert_eq!(queries.len(), 6);
    for query in queries {
        client
            .simple_query(query)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
    }
}

#[test]
#[ignore = "a throughput measurement, not a check: cargo test -p sluice-store --test pg -- --ignored --nocapture commit_throughput"]
fn commit_throughput() {
    let pg = cluster();
    let mut store = PgStore::connect(&pg.create_database("speed").unwrap()).unwrap();
    let batch = rows_for(1..=20_000);
    let started = std::time::Instant::now();
    store.commit(&batch, 20_000).unwrap();
    let commit = started.elapsed();
    let started = std::time::Instant::now();
    let loaded = load_all(&mut store);
    let load = started.elapsed();
    assert_eq!(loaded.len(), batch.len());
    let rows = batch.len() as f64;
    println!(
        "{} rows: commit {commit:?} ({:.0} rows/s), load {load:?} ({:.0} rows/s)",
        batch.len(),
        rows / commit.as_secs_f64(),
        rows / load.as_secs_f64()
    );
}
