//! The channels' books against the engine's ledger, at the end of a run with channel faults
//! (`sluice demo --faults`, tests/channel_faults.rs): per channel and currency, what the channel
//! captured, refunded and reversed by its own book must be what the engine booked, to the minor
//! unit, and no payer may have paid twice (a payment with more than one capture not reversed, by
//! the channel's book: the channel's truth, not the engine's). Also the wait for a run to settle:
//! no attempt or refund unknown, every capture not kept reversed, nothing left in the channels'
//! queues.

use crossbeam::channel::Sender;
use sluice_engine::Engine;
use sluice_protocol::{AnyMessage, StatsQuery, StatsReport, UnknownPolicy};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::config::Config;
use crate::sim::FaultCounts;
use crate::sim_book::{BookSummary, ChannelFigures};
use crate::sim_bridge::{SimCommand, SimReport};
use crate::sim_faults::Faults;

/// What the engine booked for one channel in one currency, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerFigures {
    /// Every capture the channel reported, kept or not.
    pub captured_minor: i128,
    pub refunded_minor: i128,
    pub reversed_minor: i128,
}

/// The engine's figures per (channel, currency), from its per-channel books (`channel_book`):
/// every configured channel and ledger currency, zeros included.
pub fn ledger_figures(engine: &Engine) -> BTreeMap<(u16, u16), LedgerFigures> {
    let state = engine.state();
    let mut out = BTreeMap::new();
    for channel in &state.channels {
        for &currency in &state.limits.currencies {
            let Some(book) = engine.channel_book(channel.id, currency) else {
                continue;
            };
            let minor = |v: u128| i128::try_from(v).expect("a channel book fits i128");
            let figures = LedgerFigures {
                captured_minor: minor(book.captured_minor),
                refunded_minor: minor(book.refunded_minor),
                reversed_minor: minor(book.reversed_minor),
            };
            if figures != LedgerFigures::default() {
                out.insert((channel.id, currency), figures);
            }
        }
    }
    out
}

/// One channel and currency: the channel's book beside the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub channel_id: u16,
    pub currency: u16,
    pub book: ChannelFigures,
    pub ledger: LedgerFigures,
}

impl Row {
    pub fn agrees(&self) -> bool {
        let (b, l) = (&self.book, &self.ledger);
        i128::from(b.captured_minor) == l.captured_minor
            && i128::from(b.refunded_minor) == l.refunded_minor
            && i128::from(b.reversed_minor) == l.reversed_minor
    }
}

/// The check's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookCheck {
    pub rows: Vec<Row>,
    /// Payments charged more than once, net of reversals (by the channels' books).
    pub double_charges: u64,
    /// Every difference, as a sentence; empty when the check passes.
    pub mismatches: Vec<String>,
}

impl BookCheck {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Checks the channels' book against the ledger's figures.
pub fn check(book: &BookSummary, ledger: &BTreeMap<(u16, u16), LedgerFigures>) -> BookCheck {
    let mut keys: Vec<(u16, u16)> = book.channels.keys().copied().collect();
    keys.extend(ledger.keys().filter(|k| !book.channels.contains_key(k)));
    keys.sort_unstable();
    let mut out = BookCheck {
        double_charges: book.double_charges,
        ..BookCheck::default()
    };
    for (channel_id, currency) in keys {
        let row = Row {
            channel_id,
            currency,
            book: book
                .channels
                .get(&(channel_id, currency))
                .copied()
                .unwrap_or_default(),
            ledger: ledger
                .get(&(channel_id, currency))
                .copied()
                .unwrap_or_default(),
        };
        if !row.agrees() {
            let (b, l) = (&row.book, &row.ledger);
            out.mismatches.push(format!(
                "channel {channel_id} currency {currency}: the channel's book says captured {} refunded {} reversed {}, the ledger {} {} {}",
                b.captured_minor,
                b.refunded_minor,
                b.reversed_minor,
                l.captured_minor,
                l.refunded_minor,
                l.reversed_minor
            ));
        }
        out.rows.push(row);
    }
    if book.double_charges > 0 {
        out.mismatches.push(format!(
            "{} payments were charged more than once (net of reversals): orders {:?}",
            book.double_charges, book.double_charged_orders
        ));
    }
    if book.pending > 0 {
        out.mismatches.push(format!(
            "{} captures or refunds had not taken effect: the run did not settle",
            book.pending
        ));
    }
    out
}

/// The channel with the FailOver policy in a fault run, its window, and how late it answers
/// three queries in four: longer than the window, so that its attempts are abandoned and their
/// captures, when they come, are reversed. The engine keeps closing an abandoned attempt until
/// the channel answers, so a capture that takes effect after the window and whose own answer is
/// lost is still found (the Close is answered Paid) and reversed.
pub const FAILOVER_CHANNEL: u16 = 2;
pub const FAILOVER_WINDOW_MS: u32 = 2_000;
pub const FAILOVER_SLOW_QUERIES: f64 = 0.75;
pub const FAILOVER_QUERY_DELAY_MS: u32 = 4_000;

/// Sets up a fault run: every simulated channel gets `faults`; channel `FAILOVER_CHANNEL` also
/// runs the FailOver policy with a short window and answers most queries late, and loses answers
/// at `failover_lost` (the demo: the profile's rate).
pub fn configure_fault_run(config: &mut Config, faults: &Faults, failover_lost: f64) {
    config.simulator.faults = faults.clone();
    for channel in &mut config.simulator.channels {
        if channel.channel_id == FAILOVER_CHANNEL {
            channel.faults = Some(Faults {
                slow_queries: FAILOVER_SLOW_QUERIES,
                query_delay_ms_max: FAILOVER_QUERY_DELAY_MS,
                lost: failover_lost,
                ..faults.clone()
            });
        }
    }
    for input in &mut config.world.inputs {
        if let AnyMessage::ConfigChannel(c) = &mut input.message
            && c.channel_id == FAILOVER_CHANNEL
        {
            c.unknown_policy = UnknownPolicy::FailOver;
            c.query_window_ms = FAILOVER_WINDOW_MS;
        }
    }
}

/// Where a run stands: the engine's counters, the channels' book and faults.
#[derive(Debug, Clone)]
pub struct Standing {
    pub stats: StatsReport,
    pub sim: SimReport,
}

impl Standing {
    /// Nothing unknown, every capture not kept reversed, nothing in flight anywhere.
    pub fn settled(&self) -> bool {
        let s = &self.stats;
        s.unknown_attempts == 0
            && s.unknown_refunds == 0
            && s.late_captures == s.reversals
            && s.in_flight == 0
            && self.sim.in_flight == 0
            && self.sim.book.pending == 0
    }
}

/// Asks the engine for its counters (as an admin).
pub fn stats(admin: &mut Client) -> Result<StatsReport, String> {
    admin
        .send(&StatsQuery { flags: 0 })
        .map_err(|e| e.to_string())?;
    admin
        .recv_until(Duration::from_secs(10), |m| match m {
            AnyMessage::StatsReport(s) => Some(s.clone()),
            _ => None,
        })
        .map_err(|e| e.to_string())
}

/// Asks the in-process simulator for its book and fault counts.
pub fn sim_report(control: &Sender<SimCommand>) -> Result<SimReport, String> {
    let (tx, rx) = crossbeam::channel::bounded(1);
    control
        .send(SimCommand::Report(tx))
        .map_err(|_| "the simulator is gone".to_string())?;
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the simulator did not answer".to_string())
}

/// Has the in-process simulator write its channels' bills for bill days `first_day..=last_day`
/// into `dir` (`sim_bills_write::write_bills`); the server keeps running.
pub fn write_bills(
    control: &Sender<SimCommand>,
    dir: &std::path::Path,
    first_day: u32,
    last_day: u32,
    options: &crate::sim_bills_inject::BillOptions,
) -> Result<crate::sim_bills_write::BillsWritten, String> {
    let (tx, rx) = crossbeam::channel::bounded(1);
    let command = SimCommand::WriteBills {
        dir: dir.to_path_buf(),
        first_day,
        last_day,
        options: options.clone(),
        answer: tx,
    };
    control
        .send(command)
        .map_err(|_| "the simulator is gone".to_string())?;
    rx.recv_timeout(Duration::from_secs(120))
        .map_err(|_| "the simulator did not answer".to_string())?
}

/// Waits until the run has settled (twice in a row, 250 ms apart: an answer due now may still be
/// on its way), or `timeout` passes; returns where it stands either way.
pub fn settle(
    admin: &mut Client,
    control: &Sender<SimCommand>,
    timeout: Duration,
) -> Result<(Standing, bool), String> {
    let deadline = Instant::now() + timeout;
    let mut calm = 0;
    loop {
        let standing = Standing {
            stats: stats(admin)?,
            sim: sim_report(control)?,
        };
        calm = if standing.settled() { calm + 1 } else { 0 };
        if calm == 2 || Instant::now() >= deadline {
            return Ok((standing, calm == 2));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The fault counts' total of faults that happened (for a report's "faults drawn" line).
pub fn faults_total(c: &FaultCounts) -> u64 {
    c.late + c.lost + c.duplicated + c.disconnects + c.controls_slowed + c.controls_unanswered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_names_every_difference_and_double_charges() {
        let mut book = BookSummary::default();
        let figures = ChannelFigures {
            captured_count: 2,
            captured_minor: 300,
            reversed_count: 1,
            reversed_minor: 100,
            refunded_count: 1,
            refunded_minor: 50,
        };
        book.channels.insert((2, 156), figures);
        let same = LedgerFigures {
            captured_minor: 300,
            refunded_minor: 50,
            reversed_minor: 100,
        };
        let ledger = BTreeMap::from([((2, 156), same)]);
        let ok = check(&book, &ledger);
        assert!(ok.passed(), "{:?}", ok.mismatches);
        assert_eq!(ok.rows.len(), 1);
        // Not reversed by the engine: the ledger says 0 reversed, and a payer paid twice.
        let unreversed = LedgerFigures {
            reversed_minor: 0,
            ..same
        };
        book.double_charges = 1;
        let ledger = BTreeMap::from([((2, 156), unreversed), ((4, 840), same)]);
        let bad = check(&book, &ledger);
        assert_eq!(bad.mismatches.len(), 3, "{:?}", bad.mismatches);
        assert_eq!(
            bad.rows.len(),
            2,
            "a channel only the ledger knows is a row too"
        );
    }
}
