//! The demo's payout scenario (docs/PAYOUTS.md; issue 22): a scripted-clock month from
//! 2026-11-01 to 2026-12-05 on a server whose working-day calendar has a week of holidays
//! (Monday 16 to Friday 20 November) and two make-up working days (Saturday 14 and Sunday 22).
//! Merchants and promoters are on every schedule kind (calendar days, business days, weekly,
//! monthly on the 31st, which a 30-day November rolls back to its last day, and manual with a
//! ReleaseSettlement), with a deposit and a rolling reserve; one merchant is paid out
//! automatically after each settlement; the others withdraw, a promoter is paid on an admin's
//! request, the platform sweeps its revenue, and two large withdrawals wait for review (one
//! approved, one rejected). The simulated payout channel (`sim_payout`) is scripted so that every
//! outcome happens: paid, failed, answer lost (then queried), processing (then queried), not
//! received (then queried and sent again) and returned days later.
//!
//! The scenario checks, not only prints: the ledger balances; each party settled exactly on the
//! days its schedule and the calendar give (`demo_payouts_calendar`, a model of its own); every
//! outcome occurred and ended as it should; the payout channel's book agrees with the engine's
//! payout counters; nothing is left in flight.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use rust_decimal::Decimal;
use sluice_gateway::config::Config;
use sluice_gateway::server::{ServeOptions, Server};
use sluice_node::{Clock, ScriptedClock};
use sluice_protocol::*;

use crate::demo_payouts_calendar::{Calendar, day_of};
use crate::demo_payouts_drive::{Driven, Driver};

/// The demo's flags for the scenario.
#[derive(clap::Args)]
pub struct PayoutsArgs {
    /// Run only the payout scenario: a scripted-clock month of settlement schedules and payouts
    /// with every outcome.
    #[arg(long)]
    pub payouts_only: bool,
    /// Skip the payout scenario in the full demo.
    #[arg(long)]
    pub no_payouts: bool,
}

pub const NS_PER_DAY: u64 = 86_400_000_000_000;
/// 2026-11-01 00:00:00 in UTC+8 (the default configuration's day).
pub const START_NS: u64 = 1_793_462_400_000_000_000;
/// Days of the scenario: 2026-11-01 to 2026-12-05.
pub const DAYS: u32 = 35;
/// The payout channel of the embedded configuration's simulator.
pub const PAYOUT_CHANNEL: u16 = 9;
pub const CNY: u16 = 156;
/// Payouts above this wait for review.
pub const REVIEW_ABOVE_MINOR: i64 = 5_000_000;
/// The payout channel's fixed fee.
pub const PAYOUT_FEE_MINOR: i64 = 200;

/// The engine's day of the scenario's first day.
pub fn first_day() -> u32 {
    day_of(2026, 11, 1)
}

/// The calendar of the scenario: the holiday week and its two make-up working days.
pub fn calendar() -> Calendar {
    let nov = |d| day_of(2026, 11, d);
    let mut c = Calendar::default();
    c.holidays.extend((16..=20).map(nov));
    c.workdays.extend([nov(14), nov(22)]);
    c
}

/// One party's terms in the scenario.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    pub kind: PartyKind,
    pub id: u32,
    pub schedule: PartySchedule,
    pub anchor: u8,
    pub settlement_days: u8,
    pub mode: PayoutMode,
    pub min_payout_minor: i64,
    /// Rolling reserve: percent and days.
    pub reserve_percent: i64,
    pub reserve_days: u16,
}

const fn terms(kind: PartyKind, id: u32, schedule: PartySchedule, anchor: u8, n: u8) -> Terms {
    Terms {
        kind,
        id,
        schedule,
        anchor,
        settlement_days: n,
        mode: PayoutMode::Manual,
        min_payout_minor: 0,
        reserve_percent: 0,
        reserve_days: 0,
    }
}

/// Every party's terms: each schedule kind at least once. 1001 keeps the configuration's deposit
/// (5 %, 7 days), 1004 its (10 %, 30 days); 1002 holds a 10 % reserve for 10 days and is paid out
/// automatically.
pub const PARTIES: [Terms; 7] = [
    terms(PartyKind::Merchant, 1001, PartySchedule::CalendarDays, 0, 1),
    Terms {
        mode: PayoutMode::Automatic,
        min_payout_minor: 10_000,
        reserve_percent: 10,
        reserve_days: 10,
        ..terms(PartyKind::Merchant, 1002, PartySchedule::BusinessDays, 0, 1)
    },
    terms(PartyKind::Merchant, 1003, PartySchedule::Weekly, 1, 1),
    terms(PartyKind::Merchant, 1004, PartySchedule::Monthly, 31, 1),
    terms(PartyKind::Merchant, 2001, PartySchedule::Manual, 0, 1),
    terms(PartyKind::Promoter, 501, PartySchedule::Weekly, 5, 1),
    terms(PartyKind::Promoter, 502, PartySchedule::BusinessDays, 0, 2),
];

/// What the scenario showed.
pub struct PayoutsReport {
    pub driven: Driven,
    pub inputs: u64,
    pub wall_seconds: f64,
    pub data_dir: PathBuf,
    /// Every failed check, as a sentence; empty when the scenario passed.
    pub failures: Vec<String>,
}

/// Runs the scenario on a fresh server in `data_dir`.
pub fn run(mut config: Config, data_dir: &Path) -> Result<PayoutsReport, String> {
    config.data_dir = data_dir.to_path_buf();
    config.listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    config.metrics.enabled = false;
    config.pipeline.prefault_memory = false;
    config.simulator.enabled = true;
    // Payments never fail at a channel (declines stay): the days a party earns on are then the
    // scenario's, whatever the draws.
    for c in &mut config.simulator.channels {
        c.success_rate = 1.0 - c.decline_rate;
    }
    if !config
        .simulator
        .payout_channels
        .iter()
        .any(|c| c.channel_id == PAYOUT_CHANNEL)
    {
        let paying = sluice_gateway::sim_payout::SimPayoutChannel::paying(PAYOUT_CHANNEL);
        config.simulator.payout_channels.push(paying);
    }
    let clock = ScriptedClock::starting_at(START_NS + 60_000_000_000);
    let options = ServeOptions {
        clock: Clock::Scripted(clock.clone()),
        ..ServeOptions::default()
    };
    let started = Instant::now();
    let server = Server::start(config.clone(), options).map_err(|e| e.to_string())?;
    let (addr, stop, control) = (server.local_addr, server.stop.clone(), server.sim_control());
    let running = std::thread::spawn(move || server.run());
    let driven = Driver::connect(addr, &clock, control).and_then(|d| d.run(&config));
    stop.store(true, Ordering::Release);
    let report = running
        .join()
        .map_err(|_| "the payout scenario's server panicked".to_string())?;
    let driven = driven?;
    if let Some(e) = report.error {
        return Err(format!("the payout scenario's server failed: {e}"));
    }
    let failures = crate::demo_payouts_check::check(&driven);
    Ok(PayoutsReport {
        driven,
        inputs: report.last_seq,
        wall_seconds: started.elapsed().as_secs_f64(),
        data_dir: data_dir.to_path_buf(),
        failures,
    })
}

/// The configuration inputs of the scenario, in order: the calendar, the payout channel and
/// policy, then every party on its terms (from its configured definition).
pub fn setup_inputs(config: &Config) -> Result<Vec<AnyMessage>, String> {
    let c = calendar();
    let mut out: Vec<AnyMessage> = Vec::new();
    for &day in &c.holidays {
        let kind = DayKind::Holiday;
        out.push(ConfigCalendarDay { day, kind }.into());
    }
    for &day in &c.workdays {
        let kind = DayKind::Workday;
        out.push(ConfigCalendarDay { day, kind }.into());
    }
    out.push(
        ConfigPayoutChannel {
            channel_id: PAYOUT_CHANNEL,
            name: Chars::new("bank-transfer"),
            status: Activity::Active,
            timeout_ms: 30_000,
            query_interval_ms: 60_000,
            fee_fixed_minor: PAYOUT_FEE_MINOR,
            fee_rate: Decimal::ZERO,
        }
        .into(),
    );
    out.push(
        ConfigPayoutPolicy {
            currency: CNY,
            review_above_minor: REVIEW_ABOVE_MINOR,
            platform_payout_channel_id: PAYOUT_CHANNEL,
        }
        .into(),
    );
    for t in &PARTIES {
        out.push(party_input(config, t)?);
    }
    Ok(out)
}

/// A party's configured definition, on the scenario's terms.
fn party_input(config: &Config, t: &Terms) -> Result<AnyMessage, String> {
    let found = config.world.inputs.iter().find_map(|i| match &i.message {
        AnyMessage::ConfigMerchant(m) if t.kind == PartyKind::Merchant && m.merchant_id == t.id => {
            Some(i.message.clone())
        }
        AnyMessage::ConfigPromoter(p) if t.kind == PartyKind::Promoter && p.promoter_id == t.id => {
            Some(i.message.clone())
        }
        _ => None,
    });
    let reserve_rate = Decimal::new(t.reserve_percent, 2);
    match found {
        Some(AnyMessage::ConfigMerchant(mut m)) => {
            m.settlement_days = t.settlement_days;
            m.schedule = t.schedule;
            m.schedule_anchor = t.anchor;
            m.reserve_rate = reserve_rate;
            m.reserve_days = t.reserve_days;
            m.payout_mode = t.mode;
            m.payout_channel_id = PAYOUT_CHANNEL;
            m.min_payout_minor = t.min_payout_minor;
            Ok(m.into())
        }
        Some(AnyMessage::ConfigPromoter(mut p)) => {
            p.settlement_days = t.settlement_days;
            p.schedule = t.schedule;
            p.schedule_anchor = t.anchor;
            p.reserve_rate = reserve_rate;
            p.reserve_days = t.reserve_days;
            p.payout_mode = t.mode;
            p.payout_channel_id = PAYOUT_CHANNEL;
            p.min_payout_minor = t.min_payout_minor;
            Ok(p.into())
        }
        _ => Err(format!(
            "the configuration has no {:?} {} for the payout scenario",
            t.kind, t.id
        )),
    }
}

impl PayoutsReport {
    /// `--payouts-only`: the scenario's report alone, then its check.
    pub fn show_alone(&self, json: bool) -> Result<(), String> {
        if json {
            println!("{}", serde_json::json!({ "payouts": self.json() }));
        } else {
            self.print();
        }
        self.check()
    }

    /// Fails the demo when a check failed.
    pub fn check(&self) -> Result<(), String> {
        match self.failures.is_empty() {
            true => Ok(()),
            false => Err(format!(
                "payout scenario: {} checks failed: {}",
                self.failures.len(),
                self.failures.join("; ")
            )),
        }
    }
}
