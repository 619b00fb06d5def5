//! `sluice demo --faults`: the live run with channel faults (answers late, lost, duplicated; alipay
//! on the FailOver policy, answering most queries late), then the check that matters for money:
//! each simulated channel's own book (what it captured, refunded, reversed: the channel's truth)
//! beside what the engine booked for that channel, to the minor unit, and the payments charged
//! more than once net of reversals, by the channels' books, which must be none. The check itself
//! is `sluice_gateway::sim_check`; this module sets the run up, waits for it to settle, reports.

use serde_json::json;
use sluice_gateway::client::Client;
use sluice_gateway::config::Config;
use sluice_gateway::server::SimCommand;
use sluice_gateway::sim_check::{self, BookCheck, LedgerFigures, Standing};
use sluice_gateway::sim_faults::Faults;
use sluice_protocol::Role;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long the run may take to settle after the load: every unknown attempt resolved, every
/// capture not kept reversed (late answers come up to `late_ms_max` after a deadline, slow query
/// answers up to `query_delay_ms_max` after the question).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Applies the fault profile to the live run's configuration.
pub fn configure(config: &mut Config, profile: &str) -> Result<Faults, String> {
    let faults = Faults::parse(profile)?;
    sim_check::configure_fault_run(config, &faults, faults.lost);
    Ok(faults)
}

/// What the fault run found.
pub struct FaultReport {
    faults: Faults,
    standing: Standing,
    settled: bool,
    settle_seconds: f64,
    check: BookCheck,
    /// Payments the load driver got no result for.
    outstanding: u64,
}

/// Waits (after the load) until the run has settled, as the engine and the simulator say.
pub fn settle(
    addr: std::net::SocketAddr,
    control: &crossbeam::channel::Sender<SimCommand>,
) -> Result<(Standing, bool, f64), String> {
    let started = Instant::now();
    let mut admin = Client::login(addr, Role::Admin, "admin", "sluice-demo-admin")
        .map_err(|e| e.to_string())?;
    let (standing, settled) = sim_check::settle(&mut admin, control, SETTLE_TIMEOUT)?;
    Ok((standing, settled, started.elapsed().as_secs_f64()))
}

/// Waits again (after the operator tour, whose payments meet the faults too): where the run
/// stands then, with the seconds of both waits.
pub fn settle_again(
    first: (Standing, bool, f64),
    addr: std::net::SocketAddr,
    control: &crossbeam::channel::Sender<SimCommand>,
) -> Result<(Standing, bool, f64), String> {
    let (standing, settled, seconds) = settle(addr, control)?;
    Ok((standing, settled, first.2 + seconds))
}

impl FaultReport {
    pub fn new(
        faults: Faults,
        (standing, settled, settle_seconds): (Standing, bool, f64),
        ledger: &BTreeMap<(u16, u16), LedgerFigures>,
        outstanding: u64,
    ) -> FaultReport {
        let mut check = sim_check::check(&standing.sim.book, ledger);
        if !settled {
            check.mismatches.push(format!(
                "the run did not settle within {} s",
                SETTLE_TIMEOUT.as_secs()
            ));
        }
        if outstanding > 0 {
            check
                .mismatches
                .push(format!("{outstanding} payments ended without a result"));
        }
        FaultReport {
            faults,
            standing,
            settled,
            settle_seconds,
            check,
            outstanding,
        }
    }

    pub fn passed(&self) -> bool {
        self.check.passed()
    }

    /// The reason for a non-zero exit.
    pub fn error(&self) -> String {
        format!(
            "the channels' books do not match the ledger: {}",
            self.check.mismatches.join("; ")
        )
    }

    fn profile(&self) -> String {
        let f = &self.faults;
        let pct = |r: f64| format!("{:.2}%", r * 100.0);
        format!(
            "late {} (up to {:.1} s past the deadline), lost {}, duplicate {}, disconnect {}, slow queries {}, silent queries {} on every channel; channel {} on the FailOver policy (window {:.1} s), {} of its queries answered up to {:.1} s late",
            pct(f.late),
            f64::from(f.late_ms_max) / 1e3,
            pct(f.lost),
            pct(f.duplicate),
            pct(f.disconnect),
            pct(f.slow_queries),
            pct(f.silent_queries),
            sim_check::FAILOVER_CHANNEL,
            f64::from(sim_check::FAILOVER_WINDOW_MS) / 1e3,
            pct(sim_check::FAILOVER_SLOW_QUERIES),
            f64::from(sim_check::FAILOVER_QUERY_DELAY_MS) / 1e3,
        )
    }

    pub fn json(&self, channel_names: &BTreeMap<u16, String>) -> serde_json::Value {
        let (s, c) = (&self.standing.stats, &self.standing.sim.faults);
        let rows: Vec<serde_json::Value> = self
            .check
            .rows
            .iter()
            .map(|r| {
                json!({
                    "channel": name(channel_names, r.channel_id),
                    "currency": crate::demo::currency_name(r.currency),
                    "book": { "captured": r.book.captured_minor, "captures": r.book.captured_count, "refunded": r.book.refunded_minor, "reversed": r.book.reversed_minor, "reversals": r.book.reversed_count },
                    "ledger": { "captured": r.ledger.captured_minor as i64, "refunded": r.ledger.refunded_minor as i64, "reversed": r.ledger.reversed_minor as i64 },
                    "agrees": r.agrees(),
                })
            })
            .collect();
        json!({
            "profile": self.profile(),
            "drawn": { "late": c.late, "lost": c.lost, "duplicated": c.duplicated, "disconnects": c.disconnects, "queries_slowed": c.controls_slowed, "queries_unanswered": c.controls_unanswered, "controls_answered": c.controls_answered, "closed_before_capture": c.closed_before_capture },
            "engine": { "unknown_attempts": s.unknown_attempts, "unknown_resolved": s.unknown_resolved, "late_captures": s.late_captures, "reversals": s.reversals, "unknown_refunds": s.unknown_refunds },
            "channels": rows,
            "double_charges": self.check.double_charges,
            "payments_captured": self.standing.sim.book.payments_captured,
            "settled": self.settled,
            "settle_seconds": (self.settle_seconds * 10.0).round() / 10.0,
            "outstanding": self.outstanding,
            "passed": self.passed(),
            "mismatches": self.check.mismatches,
        })
    }

    pub fn print(&self, channel_names: &BTreeMap<u16, String>) {
        let (s, c) = (&self.standing.stats, &self.standing.sim.faults);
        println!();
        println!("== Channel faults (sluice demo --faults) ================================");
        println!("profile      {}", self.profile());
        println!(
            "drawn        {} late, {} lost, {} duplicated, {} disconnects, {} queries slowed, {} unanswered; {} captures prevented by a close; {} controls answered",
            c.late,
            c.lost,
            c.duplicated,
            c.disconnects,
            c.controls_slowed,
            c.controls_unanswered,
            c.closed_before_capture,
            c.controls_answered
        );
        println!(
            "engine       unknown attempts resolved by query {}, unknown now {}; late captures {}, automatic reversals confirmed {}; unknown refunds now {}",
            s.unknown_resolved, s.unknown_attempts, s.late_captures, s.reversals, s.unknown_refunds
        );
        println!(
            "{:<12} {:<4} {:>15} {:>13} {:>13}   {:>15} {:>13} {:>13}",
            "channel",
            "",
            "book captured",
            "refunded",
            "reversed",
            "ledger captured",
            "refunded",
            "reversed"
        );
        for r in &self.check.rows {
            let money = |m: i128| crate::demo::money(m as i64);
            println!(
                "{:<12} {:<4} {:>15} {:>13} {:>13}   {:>15} {:>13} {:>13}  {}",
                name(channel_names, r.channel_id),
                crate::demo::currency_name(r.currency),
                money(i128::from(r.book.captured_minor)),
                money(i128::from(r.book.refunded_minor)),
                money(i128::from(r.book.reversed_minor)),
                money(r.ledger.captured_minor),
                money(r.ledger.refunded_minor),
                money(r.ledger.reversed_minor),
                if r.agrees() { "same" } else { "DIFFERENT" }
            );
        }
        println!(
            "double charges (payments captured more than once net of reversals, by the channels' books): {}",
            self.check.double_charges
        );
        println!(
            "settled      {} (waited {:.1} s for it after the load); payments without a result: {}",
            if self.settled { "yes" } else { "NO" },
            self.settle_seconds,
            self.outstanding
        );
        match self.passed() {
            true => println!("check        passed: every channel's book matches the ledger"),
            false => println!("check        FAILED: {}", self.check.mismatches.join("; ")),
        }
    }
}

fn name(channel_names: &BTreeMap<u16, String>, id: u16) -> String {
    channel_names
        .get(&id)
        .cloned()
        .unwrap_or_else(|| id.to_string())
}
