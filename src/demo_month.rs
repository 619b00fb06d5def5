//! The demo's simulated month: a second server whose sequencer reads a scripted clock
//! (`sluice_node::ScriptedClock`). Each simulated day the acquirers pay over real TCP at 10:00,
//! then the clock jumps to the next day and the pulse it causes settles what is due (T+1, T+2,
//! promoters T+7) and releases deposits after their hold. The order table holds about two days of
//! payments: final orders retire after a day (docs/ENGINE.md, "Retention"), and the month's first
//! payment, retired four weeks before, is queried, resent and partly refunded at the end. A month of
//! settlement in about a second; the journal is then checked for determinism as `sluice replay
//! check` does.

use serde_json::json;
use sluice_gateway::client::Client;
use sluice_gateway::config::Config;
use sluice_gateway::server::{ServeOptions, Server};
use sluice_node::{Clock, ScriptedClock};
use sluice_protocol::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const NS_PER_DAY: u64 = 86_400_000_000_000;
const NS_PER_HOUR: u64 = 3_600_000_000_000;
/// 2026-12-01 00:00:00 in UTC+8, the default configuration's settlement calendar.
const START_NS: u64 = 1_796_054_400_000_000_000;
const WAIT: Duration = Duration::from_secs(30);
/// Requests in flight on the month's one connection.
const WINDOW: u64 = 256;
const MERCHANTS: [u32; 4] = [1001, 1002, 1003, 1004];

/// What the month showed.
pub struct MonthReport {
    pub days: u32,
    pub payments: u64,
    pub succeeded: u64,
    pub inputs: u64,
    pub wall_seconds: f64,
    /// (merchant, CNY balance at the end).
    pub balances: Vec<(u32, BalanceEntry)>,
    /// Promoter 501's CNY balance at the end (T+7).
    pub promoter: BalanceEntry,
    /// The order table's size: about two days of payments.
    pub orders_max: u32,
    pub retired: RetiredFirst,
    pub check_ok: bool,
    pub check_text: String,
    pub data_dir: PathBuf,
}

/// Runs `days` simulated days of `per_day` payments on a fresh server in `data_dir`.
pub fn run(
    mut config: Config,
    data_dir: &Path,
    days: u32,
    per_day: u64,
) -> Result<MonthReport, String> {
    config.data_dir = data_dir.to_path_buf();
    config.listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    // Two days of payments: without retention the table would be full on the third day.
    let two_days = u32::try_from(2 * per_day + 1_000).map_err(|e| e.to_string())?;
    config.world.genesis.orders_max = config.world.genesis.orders_max.min(two_days);
    let orders_max = config.world.genesis.orders_max;
    config.pipeline.prefault_memory = false;
    let clock = ScriptedClock::starting_at(START_NS);
    let options = ServeOptions {
        clock: Clock::Scripted(clock.clone()),
        ..ServeOptions::default()
    };
    let started = Instant::now();
    let server = Server::start(config, options).map_err(|e| e.to_string())?;
    let (addr, stop) = (server.local_addr, server.stop.clone());
    let running = std::thread::spawn(move || server.run());
    let driven = drive(addr, &clock, days, per_day);
    stop.store(true, Ordering::Release);
    let report = running
        .join()
        .map_err(|_| "month server panicked".to_string())?;
    let (payments, succeeded, balances, promoter, retired) = driven?;
    if let Some(e) = report.error {
        return Err(format!("month server failed: {e}"));
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    let data = sluice_replay::DataDir::open(data_dir).map_err(|e| e.to_string())?;
    let check = sluice_replay::check::check(&data).map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    check.write_text(&mut text).map_err(|e| e.to_string())?;
    Ok(MonthReport {
        days,
        payments,
        succeeded,
        inputs: report.last_seq,
        wall_seconds,
        balances,
        promoter,
        orders_max,
        retired,
        check_ok: check.ok(),
        check_text: String::from_utf8_lossy(&text).into_owned(),
        data_dir: data_dir.to_path_buf(),
    })
}

type Driven = (
    u64,
    u64,
    Vec<(u32, BalanceEntry)>,
    BalanceEntry,
    RetiredFirst,
);

/// The month's first payment at the end, four weeks after it retired.
#[derive(Debug, Clone, Default)]
pub struct RetiredFirst {
    /// Its query: final state, retired.
    pub status: OrderStatus,
    /// Whether a resend got the original result (`duplicate` = 1, same outcome and split).
    pub resend_same: bool,
    /// A refund of a tenth of it.
    pub refund: RefundResult,
}

/// Queries, resends and refunds payment 1, which retired weeks ago.
fn first_payment(acquirer: &mut Client, first: &PaymentResult) -> Result<RetiredFirst, String> {
    acquirer
        .send(&QueryOrder {
            order_id: 0,
            request_id: 1,
        })
        .map_err(text)?;
    let status = acquirer
        .recv_until(WAIT, |m| match m {
            AnyMessage::OrderStatus(s) => Some(s.clone()),
            _ => None,
        })
        .map_err(text)?;
    acquirer.send(&payment(1)).map_err(text)?;
    let again = acquirer
        .recv_until(WAIT, |m| match m {
            AnyMessage::PaymentResult(r) => Some(r.clone()),
            _ => None,
        })
        .map_err(text)?;
    let resend_same = again.duplicate
        && (again.order_id, again.status, again.fee_minor, &again.split)
            == (first.order_id, first.status, first.fee_minor, &first.split);
    let refund = RefundRequest {
        refund_request_id: 1,
        payment_request_id: 1,
        amount_minor: first.amount_minor / 10,
    };
    acquirer.send(&refund).map_err(text)?;
    let refund = acquirer
        .recv_until(WAIT, |m| match m {
            AnyMessage::RefundResult(r) => Some(r.clone()),
            _ => None,
        })
        .map_err(text)?;
    if !status.retired || !resend_same {
        return Err(format!(
            "payment 1, weeks old, should be retired and answer a resend as at first: {status:?}"
        ));
    }
    Ok(RetiredFirst {
        status,
        resend_same,
        refund,
    })
}

fn drive(
    addr: std::net::SocketAddr,
    clock: &ScriptedClock,
    days: u32,
    per_day: u64,
) -> Result<Driven, String> {
    let e = |e: sluice_gateway::client::ClientError| e.to_string();
    let mut acquirer =
        Client::login(addr, Role::Acquirer, "acq-a", "sluice-demo-acquirer-a").map_err(e)?;
    let mut admin = Client::login(addr, Role::Admin, "admin", "sluice-demo-admin").map_err(e)?;
    let (mut payments, mut succeeded, mut first_result) = (0, 0, None);
    for day in 0..u64::from(days) {
        clock.advance_to(START_NS + day * NS_PER_DAY + 10 * NS_PER_HOUR);
        let first = day * per_day + 1;
        succeeded += pay(&mut acquirer, first..first + per_day, &mut first_result)?;
        payments += per_day;
    }
    // The morning after the last day, and a week later: what is due settles, deposits thaw.
    clock.advance_to(START_NS + u64::from(days) * NS_PER_DAY + NS_PER_HOUR);
    let balance = |admin: &mut Client, kind, id| -> Result<BalanceEntry, String> {
        admin
            .send(&BalanceQuery {
                party_kind: kind,
                party_id: id,
            })
            .map_err(|e| e.to_string())?;
        let report = admin
            .recv_until(WAIT, |m| match m {
                AnyMessage::BalanceReport(r) => Some(r.clone()),
                _ => None,
            })
            .map_err(e)?;
        Ok(report
            .balances
            .iter()
            .find(|b| b.currency == 156)
            .copied()
            .unwrap_or_default())
    };
    // The admin's queries are sequenced after the jump's pulse once they see nothing pending.
    let deadline = Instant::now() + WAIT;
    while balance(&mut admin, PartyKind::Merchant, 1001)?.pending_minor != 0 {
        if Instant::now() > deadline {
            return Err("the last day never settled".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let balances = MERCHANTS
        .iter()
        .map(|&m| balance(&mut admin, PartyKind::Merchant, m).map(|b| (m, b)))
        .collect::<Result<_, _>>()?;
    let promoter = balance(&mut admin, PartyKind::Promoter, 501)?;
    let first = first_result.ok_or("payment 1 had no result")?;
    let retired = first_payment(&mut acquirer, &first)?;
    Ok((payments, succeeded, balances, promoter, retired))
}

/// Pays the ids in windows over one connection; returns how many succeeded. Payment 1's result
/// is kept in `first`.
fn pay(
    client: &mut Client,
    ids: std::ops::Range<u64>,
    first: &mut Option<PaymentResult>,
) -> Result<u64, String> {
    let (mut next, end) = (ids.start, ids.end);
    let (mut sent, mut finished, mut succeeded) = (0u64, 0u64, 0u64);
    let total = end - ids.start;
    while finished < total {
        while next < end && sent - finished < WINDOW {
            client.send(&payment(next)).map_err(|e| e.to_string())?;
            next += 1;
            sent += 1;
        }
        match client.recv(WAIT).map_err(|e| e.to_string())? {
            Some(AnyMessage::PaymentAck(a)) if a.status != AckStatus::Accepted => finished += 1,
            Some(AnyMessage::PaymentResult(r)) => {
                if r.request_id == 1 {
                    *first = Some(r.clone());
                }
                finished += 1;
                succeeded += u64::from(r.status == FinalStatus::Succeeded);
            }
            Some(_) => {}
            None => return Err("no answer in time".into()),
        }
    }
    Ok(succeeded)
}

fn payment(id: u64) -> PaymentRequest {
    PaymentRequest {
        request_id: id,
        merchant_id: MERCHANTS[(id % 4) as usize],
        promoter_id: if id.is_multiple_of(3) { 501 } else { 0 },
        amount_minor: 1_000 + (id * 7_919 % 90_000) as i64,
        currency: 156,
        method: PaymentMethod::Wallet,
        scene: Scene::App,
        goods_category: 5999,
        user_id: 100_000 + id % 20_000,
        device_id: 200_000 + id % 20_000,
        ip: Ip::v4([10, 7, (id >> 8) as u8, id as u8]),
        country: Chars::new("CN"),
        ..PaymentRequest::default()
    }
}

fn text<E: ToString>(e: E) -> String {
    e.to_string()
}

fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

impl MonthReport {
    pub fn json(&self) -> serde_json::Value {
        let balances: serde_json::Map<String, serde_json::Value> = self
            .balances
            .iter()
            .map(|(m, b)| {
                (m.to_string(), json!({ "pending": b.pending_minor, "available": b.available_minor, "frozen": b.frozen_minor }))
            })
            .collect();
        json!({
            "days": self.days,
            "payments": self.payments,
            "succeeded": self.succeeded,
            "inputs": self.inputs,
            "wall_seconds": (self.wall_seconds * 1000.0).round() / 1000.0,
            "merchants_cny": balances,
            "promoter_501_cny": { "pending": self.promoter.pending_minor, "available": self.promoter.available_minor },
            "orders_max": self.orders_max,
            "first_payment": {
                "retired": self.retired.status.retired,
                "state": self.retired.status.state.name(),
                "resend_same_result": self.retired.resend_same,
                "refund": self.retired.refund.status.name(),
                "refund_minor": self.retired.refund.amount_minor,
            },
            "replay_check_ok": self.check_ok,
            "data_dir": self.data_dir.display().to_string(),
        })
    }

    pub fn print(&self) {
        println!();
        println!("== a simulated month (scripted clock) ====================================");
        println!(
            "{} days from 2026-12-01, {} payments ({} succeeded), {} inputs, in {:.2} s of wall time",
            self.days, self.payments, self.succeeded, self.inputs, self.wall_seconds
        );
        println!(
            "the morning after the last day, in CNY (settled T+N by event time; deposits thaw after their hold):"
        );
        println!(
            "  {:<10} {:>14} {:>16} {:>14}",
            "merchant", "pending", "available", "frozen"
        );
        for (m, b) in &self.balances {
            println!(
                "  {m:<10} {:>14} {:>16} {:>14}",
                money(b.pending_minor),
                money(b.available_minor),
                money(b.frozen_minor)
            );
        }
        println!(
            "  promoter 501 (T+7): pending {} (the last week), available {}",
            money(self.promoter.pending_minor),
            money(self.promoter.available_minor)
        );
        let (st, r) = (&self.retired.status, &self.retired.refund);
        println!(
            "retention: {} payments through an order table of {} (final orders retire after a day)",
            self.payments, self.orders_max
        );
        println!(
            "  payment 1 (day 1, retired weeks ago): query {:?} retired={} amount {}; resend {}; \
             refund {} {:?}, reversed over {} split lines",
            st.state,
            st.retired,
            money(st.amount_minor),
            if self.retired.resend_same {
                "got the original result"
            } else {
                "DIFFERED"
            },
            money(r.amount_minor),
            r.status,
            r.reversal.len()
        );
        print!("replay check of its journal: {}", self.check_text);
        println!("journal    {}", self.data_dir.display());
    }
}
