//! The demo's financial month (issue 24, docs/FINANCE.md): a server of its own on a scripted clock
//! runs the three products' scripted months together — the balance yield
//! (`demo_finance_yield`), consumer installments (`demo_finance_installments`) and merchant credit
//! (`demo_finance_credit`) — over real TCP: payments as acquirer 1, everything else as an admin,
//! each answer checked. Each simulated day the clock jumps to 10:00 and the pulse it causes
//! settles what is due and runs the products' day steps (sweeps, late fees, interest accrual);
//! the day's inputs follow. An in-process exporter writes the flow store, and the month ends with
//! `sluice report finance` over it: the demo fails unless the report shows yield accrued and
//! redeemed, one plan repaid and one defaulted, and a loan disbursed and repaid from settlements,
//! and unless the journal replays to the same state (`sluice replay check`).

use serde_json::json;
use sluice_gateway::client::Client;
use sluice_gateway::config::Config;
use sluice_gateway::server::{ServeOptions, Server};
use sluice_node::{Clock, ScriptedClock};
use sluice_protocol::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::admin::conn::{AdminConn, Answer};

#[derive(clap::Args)]
pub struct FinanceArgs {
    /// Run only the financial month (balance yield, installments, merchant credit) and exit.
    #[arg(long)]
    pub finance_only: bool,
    /// Skip the financial month.
    #[arg(long)]
    pub no_finance: bool,
}

const NS_PER_DAY: u64 = 86_400_000_000_000;
const NS_PER_HOUR: u64 = 3_600_000_000_000;
/// 2026-12-01 00:00:00 in UTC+8, the default configuration's settlement calendar.
const START_NS: u64 = 1_796_054_400_000_000_000;
/// The month's days (indexes 0..DAYS; the scripts use 0..=30).
const DAYS: u32 = 31;
const WAIT: Duration = Duration::from_secs(30);
/// After a jump, the sequencer pulses within its interval (10 ms by default): the day's inputs
/// wait this long so that they follow the day's pulse.
const AFTER_JUMP: Duration = Duration::from_millis(60);

/// What one scripted input got.
#[derive(Debug, Clone)]
pub struct Step {
    pub day: u32,
    pub input: &'static str,
    pub outcome: String,
}

/// What the month showed.
pub struct FinanceReport {
    pub inputs: u64,
    pub payments: u64,
    pub wall_seconds: f64,
    /// The admin inputs and their answers (payments are counted, not listed).
    pub steps: Vec<Step>,
    /// `sluice report finance` over the exported store.
    pub report: store_report::FinanceReport,
    pub report_text: String,
    pub check_ok: bool,
    pub check_text: String,
    pub data_dir: PathBuf,
}

use sluice_store::report as store_report;

/// Every product's script, merged by day (each script's order kept within a day).
fn script() -> Vec<(u32, AnyMessage)> {
    // The fund's yields name engine days: the month's first is the day of START_NS in the
    // default configuration's UTC+8.
    let first_day = sluice_engine::day_of(START_NS, 8 * 3600);
    let mut all =
        crate::demo_finance_yield::on_days(crate::demo_finance_yield::month_script(), first_day);
    all.extend(crate::demo_finance_installments::month_script());
    all.extend(crate::demo_finance_credit::month_script());
    all.sort_by_key(|(day, _)| *day);
    all
}

pub fn run(mut config: Config, data_dir: &Path) -> Result<FinanceReport, String> {
    config.data_dir = data_dir.to_path_buf();
    config.listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    config.pipeline.prefault_memory = false;
    config.metrics.enabled = false;
    let clock = ScriptedClock::starting_at(START_NS);
    let options = ServeOptions {
        clock: Clock::Scripted(clock.clone()),
        ..ServeOptions::default()
    };
    let started = Instant::now();
    let server = Server::start(config.clone(), options).map_err(|e| e.to_string())?;
    let section = sluice_gateway::config_export::ExportSection {
        enabled: true,
        ..Default::default()
    };
    let exporter = crate::export_inproc::InProcessExporter::start(data_dir, &section, &server)?;
    let (addr, stop) = (server.local_addr, server.stop.clone());
    let running = std::thread::spawn(move || server.run());
    let driven = drive(addr, &clock);
    stop.store(true, Ordering::Release);
    let served = running
        .join()
        .map_err(|_| "the finance month's server panicked".to_string())?;
    let exported = exporter.finish();
    let (payments, steps) = driven?;
    if let Some(e) = served.error.or(exported.error) {
        return Err(format!("the finance month's server failed: {e}"));
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    let (report, report_text) = crate::report_cli::finance_of(data_dir)?;
    let data = sluice_replay::DataDir::open(data_dir).map_err(|e| e.to_string())?;
    let check = sluice_replay::check::check(&data).map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    check.write_text(&mut text).map_err(|e| e.to_string())?;
    Ok(FinanceReport {
        inputs: served.last_seq,
        payments,
        wall_seconds,
        steps,
        report,
        report_text,
        check_ok: check.ok(),
        check_text: String::from_utf8_lossy(&text).into_owned(),
        data_dir: data_dir.to_path_buf(),
    })
}

/// Plays the scripts day by day; returns the payments made and the admin inputs' answers.
fn drive(addr: std::net::SocketAddr, clock: &ScriptedClock) -> Result<(u64, Vec<Step>), String> {
    let e = |e: sluice_gateway::client::ClientError| format!("{e:?}");
    let mut acquirer =
        Client::login(addr, Role::Acquirer, "acq-a", "sluice-demo-acquirer-a").map_err(e)?;
    // An admin session a day: a session idle while the acquirer pays would time out.
    let admin = || AdminConn::login(addr, "admin", "sluice-demo-admin");
    let mut script = script();
    let mut orders: HashMap<u64, u64> = HashMap::new();
    let (mut payments, mut steps) = (0u64, Vec::new());
    let mut at = 0;
    for day in 0..DAYS {
        clock.advance_to(START_NS + u64::from(day) * NS_PER_DAY + 10 * NS_PER_HOUR);
        std::thread::sleep(AFTER_JUMP);
        let end = at + script[at..].iter().take_while(|(d, _)| *d == day).count();
        let paid: Vec<PaymentRequest> = script[at..end]
            .iter()
            .filter_map(|(_, m)| match m {
                AnyMessage::PaymentRequest(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        payments += pay(&mut acquirer, &paid, &mut orders)?;
        let known = crate::demo_finance_installments::resolve(&mut script[at..end], |r| {
            orders.get(&r).copied()
        });
        if !known {
            return Err(format!("day {day}: a plan's payment has no order"));
        }
        let mut session = admin()?;
        for (_, m) in &script[at..end] {
            if !matches!(m, AnyMessage::PaymentRequest(_)) {
                let outcome = describe(&session.request(m)?);
                steps.push(Step {
                    day,
                    input: m.name(),
                    outcome,
                });
            }
        }
        at = end;
    }
    // The morning after: the last day's income settles, the last day steps run.
    clock.advance_to(START_NS + u64::from(DAYS) * NS_PER_DAY + NS_PER_HOUR);
    std::thread::sleep(AFTER_JUMP);
    // A query is answered after that pulse: the store then holds the whole month.
    let totals = YieldQuery {
        party_kind: PartyKind::Platform,
        party_id: 0,
        currency: 156,
    };
    let outcome = describe(&admin()?.request(&totals.into())?);
    steps.push(Step {
        day: DAYS,
        input: "YieldQuery",
        outcome,
    });
    Ok((payments, steps))
}

/// Sends the day's payments in one window and waits for every result; remembers each order id.
/// A simulated channel fails some payments: a failed payment under an installment plan is paid
/// again under a new request id (the script's plan inputs then name the new order), other failures
/// are counted. Returns the payments that succeeded.
fn pay(
    client: &mut Client,
    batch: &[PaymentRequest],
    orders: &mut HashMap<u64, u64>,
) -> Result<u64, String> {
    let mut plans: HashMap<u64, PaymentRequest> = HashMap::new();
    for p in batch {
        if p.installment_count > 0 {
            plans.insert(p.request_id, p.clone());
        }
        client.send(p).map_err(|e| e.to_string())?;
    }
    // A retry's request id → the script's.
    let mut retried: HashMap<u64, u64> = HashMap::new();
    let (mut open, mut succeeded) = (batch.len(), 0);
    while open > 0 {
        let message = client.recv(WAIT).map_err(|e| format!("{e:?}"))?;
        match message.ok_or("no payment result in time")? {
            AnyMessage::PaymentAck(a) if a.status == AckStatus::Accepted => {
                let scripted = retried.get(&a.request_id).copied().unwrap_or(a.request_id);
                orders.insert(scripted, a.order_id);
            }
            AnyMessage::PaymentAck(a) => {
                return Err(format!("payment {} refused: {:?}", a.request_id, a.reason));
            }
            AnyMessage::PaymentResult(r) if r.status == FinalStatus::Succeeded => {
                (open, succeeded) = (open - 1, succeeded + 1);
            }
            AnyMessage::PaymentResult(r) => {
                let scripted = retried.get(&r.request_id).copied().unwrap_or(r.request_id);
                match plans.get(&scripted) {
                    Some(plan) if retried.len() < 8 => {
                        let again = PaymentRequest {
                            request_id: r.request_id + RETRY_IDS,
                            ..plan.clone()
                        };
                        retried.insert(again.request_id, scripted);
                        client.send(&again).map_err(|e| e.to_string())?;
                    }
                    Some(_) => return Err(format!("plan payment {scripted} keeps failing")),
                    None => open -= 1,
                }
            }
            _ => {}
        }
    }
    Ok(succeeded)
}

/// Added to a failed plan payment's request id for its retry.
const RETRY_IDS: u64 = 1 << 40;

/// One line for an admin answer.
fn describe(answer: &Answer) -> String {
    match answer {
        Answer::Accepted { sequence } => format!("accepted at seq {sequence}"),
        Answer::Refused { reason, text } => format!("refused {reason:?}: {text}"),
        Answer::Object(m) => position_line(m),
    }
}

fn position_line(m: &AnyMessage) -> String {
    let money = crate::demo::money;
    match m {
        AnyMessage::YieldPosition(p) => format!(
            "principal {} accrued {} (yield to date {}), queued {}",
            money(p.principal_minor),
            money(p.accrued_minor),
            money(p.yield_total_minor),
            money(p.queued_minor)
        ),
        AnyMessage::InstallmentPlan(p) => format!(
            "plan status {}: outstanding {}, paid {}, written off {}",
            p.status,
            money(p.outstanding_minor),
            money(p.paid_minor),
            money(p.written_off_minor)
        ),
        AnyMessage::CreditPosition(p) => format!(
            "flow {}, limit {}, loan {} {:?}: principal outstanding {}, interest accrued {}, repaid {}",
            money(p.flow_minor),
            money(p.limit_minor),
            p.loan_id,
            p.loan_state,
            money(p.principal_outstanding_minor),
            money(p.interest_accrued_minor),
            money(p.repaid_minor)
        ),
        other => other.name().to_string(),
    }
}

impl FinanceReport {
    /// Why the month does not show what it must (docs/FINANCE.md, "The demo's month").
    pub fn problems(&self) -> Vec<String> {
        let r = &self.report;
        let mut out = Vec::new();
        let in_state = |product: &str, states: &[&str]| {
            r.positions
                .iter()
                .any(|p| p.product == product && states.contains(&p.state.as_str()))
        };
        let accrued: i64 = r
            .accrual_totals
            .iter()
            .map(|t| t.accruals.yield_accrued_minor)
            .sum();
        if accrued <= 0 {
            out.push("no yield accrued".into());
        }
        let redeemed = self
            .steps
            .iter()
            .any(|s| s.input == "YieldRedeem" && s.outcome.starts_with("accepted"));
        if !redeemed {
            out.push("nothing redeemed".into());
        }
        if !in_state("Installment", &["RepaidEarly", "Completed"]) {
            out.push("no installment plan repaid".into());
        }
        if !in_state("Installment", &["Defaulted"]) {
            out.push("no installment plan defaulted".into());
        }
        if !r.loans.iter().any(|l| l.repaid_minor > 0) {
            out.push("no loan repaid from settlements".into());
        }
        if !self.check_ok {
            out.push("the journal does not replay to the same state".into());
        }
        out
    }

    pub fn check(&self) -> Result<(), String> {
        match self.problems().as_slice() {
            [] => Ok(()),
            p => Err(format!("the financial month: {}", p.join("; "))),
        }
    }

    pub fn print(&self) {
        println!(
            "\nThe financial month (issue 24): {DAYS} days on a scripted clock, {} payments, {} inputs, {:.1} s; data in {}",
            self.payments,
            self.inputs,
            self.wall_seconds,
            self.data_dir.display()
        );
        for s in &self.steps {
            println!("  day {:>2}  {:<26} {}", s.day, s.input, s.outcome);
        }
        println!(
            "\n  sluice report finance --data {}",
            self.data_dir.display()
        );
        for line in self.report_text.lines() {
            println!("    {line}");
        }
        if self.check_ok {
            println!("  replay check: ok");
        } else {
            println!("  replay check FAILED:\n{}", self.check_text);
        }
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "days": DAYS,
            "payments": self.payments,
            "inputs": self.inputs,
            "wall_seconds": self.wall_seconds,
            "steps": self.steps.iter().map(|s| json!({"day": s.day, "input": s.input, "outcome": s.outcome})).collect::<Vec<_>>(),
            "report": self.report,
            "replay_check_ok": self.check_ok,
            "problems": self.problems(),
        })
    }

    /// `demo --finance-only`: the month alone.
    pub fn show_alone(&self, json: bool) -> Result<(), String> {
        if json {
            println!("{}", self.json());
        } else {
            self.print();
        }
        self.check()
    }
}
