//! `sluice report` over a scripted-clock month (docs/STORE.md, "Reports"): 37 simulated days from
//! Wednesday 2026-11-25 to Thursday 2026-12-31 — the end of November, the whole of December and
//! six week boundaries — exported with
//! `sluice export`; the daily, weekly and monthly statements must close at the balances the
//! server reports (BalanceQuery) to the minor unit, and their movements must sum to the same
//! totals whichever the period. Since issue 22 merchant 1001 keeps a 10% rolling reserve for 3
//! days and withdraws through the bank-transfer payout channel (fee 2.00), answered here as a
//! channel connector would: one payout paid and returned days later, one failed; the statements
//! show the reserve and the payouts and still tie out.

mod common;
use serde_json::Value;
use sluice_gateway::client::Client;
use sluice_gateway::server::{ServeOptions, Server};
use sluice_node::{Clock, ScriptedClock};
use sluice_protocol::*;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const DAYS: u64 = 37;
const PAYMENTS_PER_DAY: u64 = 20;
const NS_PER_DAY: u64 = 86_400_000_000_000;
/// 2026-11-25 00:00:00 in UTC+8 (the default configuration's settlement calendar).
const START_NS: u64 = 1_796_054_400_000_000_000 - 6 * NS_PER_DAY;
const MERCHANTS: [u32; 2] = [1001, 1002];
const CNY: i64 = 156;

/// Pays the day's payments and waits for every ack and result.
fn pay_a_day(client: &mut Client, day: u64) {
    let first = day * PAYMENTS_PER_DAY + 1;
    for id in first..first + PAYMENTS_PER_DAY {
        let request = PaymentRequest {
            request_id: id,
            merchant_id: MERCHANTS[(id % 2) as usize],
            amount_minor: 10_000 + (id % 50) as i64 * 100,
            currency: CNY as u16,
            method: PaymentMethod::Wallet,
            user_id: 1 + id % 40,
            country: Chars::new("CN"),
            ..PaymentRequest::default()
        };
        client.send(&request).expect("send");
    }
    let (mut acks, mut accepted, mut results) = (0, 0, 0);
    while acks < PAYMENTS_PER_DAY || results < accepted {
        match client.recv(WAIT).expect("recv").expect("a message in time") {
            AnyMessage::PaymentAck(a) => {
                acks += 1;
                accepted += u64::from(a.status == AckStatus::Accepted);
            }
            AnyMessage::PaymentResult(_) => results += 1,
            _ => {}
        }
    }
}

fn balance(client: &mut Client, merchant: u32) -> BalanceEntry {
    client
        .send(&BalanceQuery {
            party_kind: PartyKind::Merchant,
            party_id: merchant,
        })
        .expect("send");
    let report = client
        .recv_until(WAIT, |m| match m {
            AnyMessage::BalanceReport(r) => Some(r.clone()),
            _ => None,
        })
        .expect("balance");
    let cny = report
        .balances
        .iter()
        .find(|b| i64::from(b.currency) == CNY);
    cny.copied().unwrap_or_default()
}

/// The payout channel's fixed fee, minor units.
const PAYOUT_FEE: i64 = 200;
/// The payout channel (the default configuration's bank transfer).
const PAYOUT_CHANNEL: u16 = 9;

/// Withdraws `amount` for merchant 1001: accepted and dispatched to the payout channel; returns
/// the payout id.
fn withdraw(client: &mut Client, bank: &mut Client, id: u64, amount_minor: i64) -> u64 {
    let withdraw = WithdrawRequest {
        withdraw_request_id: id,
        merchant_id: MERCHANTS[0],
        currency: CNY as u16,
        amount_minor,
    };
    client.send(&withdraw).expect("send withdrawal");
    let ack = client
        .recv_until(WAIT, |m| match m {
            AnyMessage::WithdrawAck(a) => Some(a.clone()),
            _ => None,
        })
        .expect("a withdrawal ack");
    assert_eq!(ack.status, AckStatus::Accepted, "{ack:?}");
    assert_eq!(ack.fee_minor, PAYOUT_FEE, "{ack:?}");
    let dispatch = bank
        .recv_until(WAIT, |m| match m {
            AnyMessage::PayoutDispatch(d) => Some(d.clone()),
            _ => None,
        })
        .expect("a payout dispatch");
    assert_eq!(dispatch.payout_id, ack.withdrawal_id);
    dispatch.payout_id
}

/// The payout channel answers `payout_id`; the acquirer hears the outcome (`WithdrawResult`, or
/// `WithdrawReturned` for a return).
fn bank_answers(
    client: &mut Client,
    bank: &mut Client,
    payout_id: u64,
    status: PayoutChannelStatus,
) {
    let answer = PayoutChannelResult {
        payout_id,
        status,
        channel_code: 0,
        channel_ref: Chars::new("bank-ref"),
    };
    bank.send(&answer).expect("send payout answer");
    let heard = client
        .recv_until(WAIT, |m| match m {
            AnyMessage::WithdrawResult(r) if r.withdrawal_id == payout_id => {
                Some(format!("{:?}", r.status))
            }
            AnyMessage::WithdrawReturned(r) if r.withdrawal_id == payout_id => {
                Some("Returned".to_string())
            }
            _ => None,
        })
        .expect("the withdrawal's outcome");
    let want = match status {
        PayoutChannelStatus::Paid => "Succeeded",
        PayoutChannelStatus::Failed => "Failed",
        _ => "Returned",
    };
    assert_eq!(heard, want);
}

/// On 2026-12-04: refunds 30.00 of the first payment (merchant 1002's, of 2026-11-25: settled
/// long ago, so taken from available); merchant 1001 withdraws 1,000.00 (paid) and 200.00 (the
/// bank fails it). Returns the paid payout's id.
fn refund_and_withdraw(client: &mut Client, bank: &mut Client) -> u64 {
    let refund = RefundRequest {
        refund_request_id: 1,
        payment_request_id: 1,
        amount_minor: 3_000,
    };
    client.send(&refund).expect("send refund");
    let result = client
        .recv_until(WAIT, |m| match m {
            AnyMessage::RefundResult(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a refund result");
    assert_eq!(result.status, FinalStatus::Succeeded, "{result:?}");
    let paid = withdraw(client, bank, 1, 100_000);
    bank_answers(client, bank, paid, PayoutChannelStatus::Paid);
    let failed = withdraw(client, bank, 2, 20_000);
    bank_answers(client, bank, failed, PayoutChannelStatus::Failed);
    paid
}

/// The default configuration, with merchant 1001's rolling reserve and the payout fee.
fn month_config(dir: &Path) -> sluice_gateway::config::Config {
    let mut config = common::in_process_config(dir, 10_000);
    let text = sluice_gateway::config::DEFAULT_CONFIG;
    let reserve = "id = 1001\nacquirer_id = 1\nreserve_rate = \"0.1\"\nreserve_days = 3\n";
    let fee = format!("fee_fixed_minor = {PAYOUT_FEE}\nfee_rate = \"0\"");
    let edited = text
        .replacen("id = 1001\nacquirer_id = 1\n", reserve, 1)
        .replacen("fee_fixed_minor = 0\nfee_rate = \"0\"", &fee, 1);
    assert!(edited.contains("reserve_days = 3") && edited.contains(&fee));
    let genesis = config.world.genesis.clone();
    config.world = sluice_gateway::config::Config::parse(&edited)
        .expect("the edited configuration")
        .world;
    config.world.genesis = genesis;
    config
}

/// Logs in the payout channel's connector with a key made for it.
fn bank_connector(addr: std::net::SocketAddr, dir: &Path) -> Client {
    let file = dir.join("ch-bank.secret");
    let file_arg = file.to_str().expect("utf-8 path");
    let principal = PAYOUT_CHANNEL.to_string();
    common::admin_ok(
        addr,
        &[
            "credential",
            "add",
            "ch-bank-test",
            "--role",
            "channel",
            "--principal",
            &principal,
            "--secret-out",
            file_arg,
        ],
    );
    let secret = std::fs::read_to_string(&file).expect("the secret file");
    Client::login(addr, Role::Channel, "ch-bank-test", secret.trim()).expect("bank login")
}

/// Runs the month in `dir` and returns each merchant's CNY balance at its end.
fn run_month(dir: &Path) -> Vec<BalanceEntry> {
    let clock = ScriptedClock::starting_at(START_NS);
    let options = ServeOptions {
        clock: Clock::Scripted(clock.clone()),
        ..ServeOptions::default()
    };
    let server = Server::start(month_config(dir), options).expect("server");
    let (addr, stop) = (server.local_addr, server.stop.clone());
    let running = std::thread::spawn(move || server.run());
    let mut client =
        Client::login(addr, Role::Acquirer, "acq-a", "sluice-demo-acquirer-a").expect("login");
    let mut bank = bank_connector(addr, dir);
    let mut paid = 0;
    for day in 0..DAYS {
        clock.advance_to(START_NS + day * NS_PER_DAY + 10 * 3_600_000_000_000);
        pay_a_day(&mut client, day);
        if day == 9 {
            paid = refund_and_withdraw(&mut client, &mut bank);
        }
        if day == 12 {
            // The receiving bank sends the paid transfer back.
            bank_answers(&mut client, &mut bank, paid, PayoutChannelStatus::Returned);
        }
    }
    // The last day's evening: the day is still open, so its income is still pending.
    clock.advance_to(START_NS + (DAYS - 1) * NS_PER_DAY + 20 * 3_600_000_000_000);
    let balances = MERCHANTS.map(|m| balance(&mut client, m)).to_vec();
    stop.store(true, Ordering::Release);
    let report = running.join().expect("server thread");
    assert!(report.error.is_none(), "server: {:?}", report.error);
    balances
}

fn sluice(args: &[&str], dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .arg("--data")
        .arg(dir)
        .output()
        .expect("run sluice");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "sluice {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The merchant's CNY statements of one period kind, as JSON.
fn statements(dir: &Path, period: &str, merchant: u32) -> Vec<Value> {
    let merchant = merchant.to_string();
    let args = [
        "report",
        "statement",
        "--merchant",
        &merchant,
        "--period",
        period,
        "--format",
        "json",
    ];
    let json: Value = serde_json::from_str(&sluice(&args, dir)).expect("JSON");
    let all = json["parties"].as_array().expect("parties").clone();
    all.into_iter().filter(|s| s["currency"] == CNY).collect()
}

fn sum(statements: &[Value], field: &str) -> i64 {
    statements
        .iter()
        .map(|s| s["movements"][field].as_i64().expect("a figure"))
        .sum()
}

#[test]
fn statements_of_a_scripted_month_tie_out_to_the_ledger() {
    let test_dir = common::TestDir::new("report-month");
    let dir = test_dir.path.clone();
    let balances = run_month(&dir);
    assert_eq!(balances.len(), 2);
    sluice(&["export", "--once"], &dir);
    channels_tie_out(&dir);
    for (merchant, balance) in MERCHANTS.into_iter().zip(balances) {
        let daily = statements(&dir, "day", merchant);
        let weekly = statements(&dir, "week", merchant);
        let monthly = statements(&dir, "month", merchant);
        assert_eq!(
            daily.len() as u64,
            DAYS,
            "merchant {merchant}: a statement a day"
        );
        assert_eq!(weekly.len(), 6, "2026-W48 to 2026-W53");
        assert_eq!(monthly.len(), 2, "November and December");
        for field in [
            "gross_minor",
            "sales_minor",
            "fees_minor",
            "splits_minor",
            "settled_minor",
        ] {
            let days = sum(&daily, field);
            assert_eq!(
                days,
                sum(&weekly, field),
                "merchant {merchant}: {field} by week"
            );
            assert_eq!(
                days,
                sum(&monthly, field),
                "merchant {merchant}: {field} by month"
            );
        }
        assert!(sum(&daily, "sales_minor") > 0);
        if merchant == MERCHANTS[0] {
            payouts_show(&dir, &daily, &monthly);
        }
        // Every day ties its movements to its balances (docs/STORE.md, "Reports").
        for s in &daily {
            let total = |b: &Value| {
                [
                    "pending_minor",
                    "available_minor",
                    "frozen_minor",
                    "refunds_held_minor",
                    "reserve_minor",
                    "payouts_held_minor",
                ]
                .iter()
                .map(|f| b[*f].as_i64().expect("a balance"))
                .sum::<i64>()
            };
            let m = |f: &str| s["movements"][f].as_i64().expect("a figure");
            let moved = m("sales_minor") + m("commission_minor")
                - m("refunds_minor")
                - m("withdrawn_minor")
                - m("payouts_paid_minor")
                - m("payout_fees_minor")
                + m("payouts_returned_minor");
            let change = total(&s["closing"]) - total(&s["opening"]);
            assert_eq!(
                change, moved,
                "merchant {merchant} on {}",
                s["period"]["start"]
            );
        }
        for period in [&daily, &weekly, &monthly] {
            let closing = &period.last().expect("statements")["closing"];
            assert_eq!(
                closing["pending_minor"], balance.pending_minor,
                "merchant {merchant}"
            );
            assert_eq!(
                closing["available_minor"], balance.available_minor,
                "merchant {merchant}"
            );
            // BalanceQuery's frozen holds the deposit and the rolling reserve.
            let held = closing["frozen_minor"].as_i64().expect("frozen")
                + closing["reserve_minor"].as_i64().expect("reserve");
            assert_eq!(held, balance.frozen_minor, "merchant {merchant}");
        }
        let text = sluice(
            &[
                "report",
                "statement",
                "--merchant",
                &merchant.to_string(),
                "--period",
                "week",
            ],
            &dir,
        );
        println!("{text}");
    }
}

/// Every channel's captures sum to the merchants' gross, and to the flow report's volume by
/// channel; each channel's receivable moves by its movements.
fn channels_tie_out(dir: &Path) {
    let args = [
        "report",
        "statement",
        "--all",
        "--period",
        "month",
        "--format",
        "json",
    ];
    let all: Value = serde_json::from_str(&sluice(&args, dir)).expect("JSON");
    let channels = all["channels"].as_array().expect("channel statements");
    let parties = all["parties"].as_array().expect("party statements");
    assert!(!channels.is_empty());
    for s in channels {
        let m = |f: &str| s["movements"][f].as_i64().expect("a figure");
        let moved = m("captured_minor") - m("fees_minor") - m("refunded_minor")
            + m("fees_returned_minor")
            + m("reversals_minor")
            - m("reversed_minor")
            - m("settled_minor")
            - m("fee_differences_minor")
            - m("written_off_minor");
        let change = s["outstanding_closing_minor"]
            .as_i64()
            .expect("outstanding")
            - s["outstanding_opening_minor"]
                .as_i64()
                .expect("outstanding");
        assert_eq!(change, moved, "{s}");
    }
    let args = ["report", "flow", "--by", "channel", "--format", "json"];
    let flow: Value = serde_json::from_str(&sluice(&args, dir)).expect("JSON");
    let rows = flow["rows"].as_array().expect("rows");
    let volume: i64 = rows
        .iter()
        .map(|r| r["measures"]["volume_minor"].as_i64().expect("volume"))
        .sum();
    assert_eq!(volume, sum(channels, "captured_minor"));
    assert_eq!(volume, sum(parties, "gross_minor"));
    println!(
        "{}",
        sluice(&["report", "flow", "--by", "channel,week"], dir)
    );
}

#[test]
fn report_names_what_is_missing() {
    let test_dir = common::TestDir::new("report-errors");
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["report", "statement", "--merchant", "1001", "--data"])
        .arg(&test_dir.path)
        .output()
        .expect("run sluice");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("export"), "{stderr}");
}

/// Merchant 1001's payouts and reserve in its statements, and `sluice report payouts`.
fn payouts_show(dir: &Path, daily: &[Value], monthly: &[Value]) {
    for period in [daily, monthly] {
        assert_eq!(
            sum(period, "payouts_requested_minor"),
            100_000 + 20_000 + 2 * PAYOUT_FEE
        );
        assert_eq!(sum(period, "payouts_paid_minor"), 100_000);
        assert_eq!(sum(period, "payout_fees_minor"), PAYOUT_FEE);
        assert_eq!(sum(period, "payouts_failed_minor"), 20_000 + PAYOUT_FEE);
        assert_eq!(sum(period, "payouts_returned_minor"), 100_000);
        assert!(sum(period, "reserve_held_minor") > 0);
        assert!(sum(period, "reserve_released_minor") > 0);
    }
    let args = ["report", "payouts", "--by", "state", "--format", "json"];
    let report: Value = serde_json::from_str(&sluice(&args, dir)).expect("JSON");
    let by_state: Vec<(String, u64, i64)> = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let m = &r["measures"];
            (
                r["key"][0].as_str().expect("a state").to_string(),
                m["count"].as_u64().expect("a count"),
                m["amount_minor"].as_i64().expect("an amount"),
            )
        })
        .collect();
    let want = [
        ("Sent", 2, 120_000),
        ("Paid", 1, 100_000),
        ("Failed", 1, 20_000),
        ("Returned", 1, 100_000),
    ]
    .map(|(s, c, a)| (s.to_string(), c, a));
    assert_eq!(by_state, want);
    println!(
        "{}",
        sluice(&["report", "payouts", "--by", "day,state"], dir)
    );
}

/// `sluice report risk` over a Parquet store holding the console's sample rows (five orders:
/// one blocked by rule 7 and labelled a false positive, two sent to review by rule 9, one of
/// them refunded and blocked as fraud): the figures are the report API's, and tie out by hand.
#[test]
fn risk_report_prints_rates_that_tie_out_to_the_labels() {
    use sluice_store::FlowStore;
    let test_dir = common::TestDir::new("report-risk");
    let rows = sluice_store::console::testing::sample_rows();
    let mut store = sluice_store::ParquetStore::open(&test_dir.path).expect("open the store");
    store.commit(&rows, 40).expect("commit");
    let json: Value = serde_json::from_str(&sluice(
        &["report", "risk", "--format", "json"],
        &test_dir.path,
    ))
    .expect("JSON");
    let all = sluice_store::DayRange::default();
    let expected = serde_json::to_value(sluice_store::report::risk(&rows, all)).expect("JSON");
    assert_eq!(json, expected, "the CLI prints the report API's figures");
    let overall = &json["overall"];
    assert_eq!(
        (overall["requested"].as_u64(), overall["blocked"].as_u64()),
        (Some(5), Some(1))
    );
    assert_eq!(overall["interception_rate"].as_f64(), Some(0.2));
    assert_eq!(overall["false_positive_rate"].as_f64(), Some(1.0));
    let rule9 = json["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["rule_id"] == 9)
        .expect("rule 9");
    assert_eq!(
        (rule9["hits"].as_u64(), rule9["reviewed"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(rule9["precision"].as_f64(), Some(0.5));
    let text = sluice(&["report", "risk"], &test_dir.path);
    assert!(
        text.contains("false-positive rate 100.00% (1 blocked orders labelled good)"),
        "{text}"
    );
    let csv = sluice(
        &["report", "risk", "--by", "day", "--format", "csv"],
        &test_dir.path,
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("day,requested,blocked") && lines[0].ends_with("score_90_100"));
    // Scores 12, 97, 35, 62, 91.
    assert_eq!(
        lines[1],
        "2026-12-01,5,1,2,1,1,1,1,0.200000,1.000000,1.000000,0,1,0,1,0,0,1,0,0,2"
    );
    assert!(lines[2].starts_with("all,5,1,2,"), "{csv}");
}
