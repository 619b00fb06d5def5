//! The settlement step of the reconciliation scenario (src/demo_recon.rs): the server started
//! again on the same data directory, as the next morning's would be; every reconciled day's
//! complete batches applied as ChannelSettlement and its discrepancies opened as Discrepancy,
//! through the admin protocol exactly as `sluice reconcile --apply` does; then, replayed from the
//! journal, each channel's receivable checked against its open discrepancies plus what its
//! schedule has not paid yet (carried timing rows, Stripe payouts still filling).

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use sluice_gateway::config::Config;
use sluice_gateway::server::{ServeOptions, Server};
use sluice_node::{Clock, Replayer, ScriptedClock};
use sluice_store::recon::Report;

use crate::admin::conn::AdminConn;
use crate::reconcile_cli::{Applied, apply_report};

/// One channel and currency after the day's settlement inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owed {
    pub channel_id: u16,
    pub currency: u16,
    /// What the ledger says the channel still owes.
    pub receivable_minor: i128,
    /// Σ of its open discrepancies (the engine's list).
    pub open_minor: i128,
    pub open: u64,
    /// What its schedule has not paid yet, from the reconciliation: timing rows carried and
    /// payouts still being filled.
    pub unpaid_minor: i128,
    /// Received into the platform's bank account, and booked as fee differences.
    pub paid_minor: i128,
    pub fee_differences_minor: i128,
    pub batches: u64,
}

impl Owed {
    /// The equation: receivable = open discrepancies + not yet paid.
    pub fn ties_out(&self) -> bool {
        self.receivable_minor == self.open_minor + self.unpaid_minor
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "channel_id": self.channel_id, "currency": self.currency,
            "receivable_minor": self.receivable_minor as i64, "open_discrepancies": self.open,
            "open_discrepancies_minor": self.open_minor as i64, "unpaid_minor": self.unpaid_minor as i64,
            "paid_minor": self.paid_minor as i64, "fee_differences_minor": self.fee_differences_minor as i64,
            "batches": self.batches, "ties_out": self.ties_out(),
        })
    }
}

/// Applies every report on a restarted server; returns what was applied and, per channel and
/// currency, what is owed.
pub(crate) fn settle(
    config: &Config,
    clock: &ScriptedClock,
    reports: &[(u16, Vec<Report>)],
) -> Result<(Applied, Vec<Owed>), String> {
    let options = ServeOptions {
        clock: Clock::Scripted(clock.clone()),
        ..ServeOptions::default()
    };
    let server = Server::start(config.clone(), options).map_err(|e| e.to_string())?;
    let (addr, stop) = (server.local_addr, server.stop.clone());
    let running = std::thread::spawn(move || server.run());
    let applied = AdminConn::login(addr, "admin", "sluice-demo-admin").and_then(|mut conn| {
        let mut total = Applied::default();
        for report in reports.iter().flat_map(|(_, days)| days) {
            total.add(&apply_report(&mut conn, report)?);
        }
        Ok(total)
    });
    stop.store(true, Ordering::Release);
    let report = running
        .join()
        .map_err(|_| "the settlement server panicked")?;
    if let Some(e) = report.error {
        return Err(format!("the settlement server failed: {e}"));
    }
    let applied = applied?;
    Ok((applied, owed(&config.data_dir, reports)?))
}

/// Per channel and currency, the ledger's figures (the journal replayed) beside the
/// reconciliation's unpaid amounts.
fn owed(data_dir: &std::path::Path, reports: &[(u16, Vec<Report>)]) -> Result<Vec<Owed>, String> {
    let dir = sluice_journal::journal_dir(data_dir);
    let reader = sluice_journal::JournalReader::open(&dir).map_err(|e| e.to_string())?;
    let mut replayer = Replayer::from_genesis(&reader).map_err(|e| e.to_string())?;
    let last = sluice_replay::journal_end(&reader)
        .map_err(|e| e.to_string())?
        .map_or(0, |end| end.seq);
    replayer
        .run_to(&reader, last, |_| Ok::<(), sluice_node::Error>(()))
        .map_err(|e| e.to_string())?;
    let engine = &replayer.engine;
    engine
        .verify_ledger()
        .map_err(|e| format!("ledger: {e:?}"))?;
    let mut owed = Vec::new();
    for (channel, days) in reports {
        for (currency, unpaid) in unpaid(days) {
            let p = engine
                .channel_position(*channel, currency)
                .ok_or_else(|| format!("channel {channel} has no currency {currency}"))?;
            owed.push(Owed {
                channel_id: *channel,
                currency,
                receivable_minor: p.receivable_minor,
                open_minor: p.open_discrepancies_minor,
                open: p.open_discrepancies,
                unpaid_minor: unpaid,
                paid_minor: p.paid_minor,
                fee_differences_minor: p.fee_differences_minor,
                batches: p.batches,
            });
        }
    }
    Ok(owed)
}

/// What a channel's schedule has not paid yet after its last reconciled day, per currency:
/// every currency it billed (0 when nothing is outstanding), plus the last run's carried timing
/// rows and the payouts still being filled.
fn unpaid(days: &[Report]) -> BTreeMap<u16, i128> {
    let mut unpaid: BTreeMap<u16, i128> = BTreeMap::new();
    for r in days {
        for b in &r.batches {
            unpaid.entry(b.currency).or_default();
        }
    }
    if let Some(last) = days.last() {
        for c in &last.timing_carried {
            *unpaid.entry(c.currency).or_default() += i128::from(c.net_minor);
        }
        // A payout still filling: what its rows pay, and the fee differences its settlement will
        // book (the platform's side of its fee mismatches).
        for p in &last.payouts_open {
            *unpaid.entry(p.currency).or_default() +=
                i128::from(p.net_minor) + i128::from(p.fee_difference_minor);
        }
    }
    unpaid
}
