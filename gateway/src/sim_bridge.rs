//! The bridge to the in-process channel simulator: dispatches for channels with no connector
//! logged in go to it, and its replies come back as channel inputs through the sequencer, like a
//! connector's would. Commands (outages, recoveries) arrive from other threads over a channel.
//! Payout channels (`sim_payout`) are served beside the payment channels, on the server's event
//! time (`observe`), so that a scripted clock brings a returned transfer back.

use crossbeam::channel::{Receiver, Sender};
use sluice_protocol::{
    AnyMessage, ChannelControlResult, ChannelResult, Message, PayoutChannelResult,
    RefundChannelResult, Role, decode_any_frame, encode_sbe,
};

use crate::sim::{FaultCounts, SimReply, Simulator};
use crate::sim_bills_inject::BillOptions;
use crate::sim_bills_write::BillsWritten;
use crate::sim_book::BookSummary;
use crate::sim_book_file::BookFile;
use crate::sim_payout::{Path, PayoutCounts, PayoutSim};
use crate::sim_payout_book::PayoutSummary;
use crate::sim_payout_book_file::PayoutBookFile;
use sluice_node::wall_clock_ns;
use std::path::PathBuf;
use tracing::{error, info};

/// Session ids of the in-process simulated channels (never handed to a peer).
pub const SIM_SESSION_BASE: u64 = 1 << 62;

/// A command to the in-process channel simulator while the server runs.
#[derive(Debug, Clone)]
pub enum SimCommand {
    /// Channel `channel_id` fails from now for `seconds` (mode: error, decline or timeout).
    Outage {
        channel_id: u16,
        seconds: f64,
        mode: String,
    },
    /// Channel `channel_id` works again.
    Recover { channel_id: u16 },
    /// Write the channels' bills for bill days `first_day..=last_day` (days since 1970-01-01)
    /// into `dir` (`sim_bills_write`), and answer what was written.
    WriteBills {
        dir: PathBuf,
        first_day: u32,
        last_day: u32,
        options: BillOptions,
        answer: Sender<Result<BillsWritten, String>>,
    },
    /// Send what the channels' book says now, what the faults did, and what is in flight (the
    /// fault run's check).
    Report(Sender<SimReport>),
    /// The next new payouts of payout channel `channel_id` (of `party` only, when set) take
    /// these paths, in arrival order (before the draws).
    PayoutScript {
        channel_id: u16,
        party: Option<(sluice_protocol::PartyKind, u32)>,
        paths: Vec<Path>,
    },
    /// The receiving bank returns paid transfer `payout_id` now; answers whether it could.
    PayoutReturn {
        channel_id: u16,
        payout_id: u64,
        answer: Sender<bool>,
    },
    /// Send what the payout channels' book says now.
    PayoutReport(Sender<PayoutReport>),
}

/// The simulator's answer to `SimCommand::PayoutReport`.
#[derive(Debug, Clone)]
pub struct PayoutReport {
    /// At the channels' time (`event_ns`).
    pub summary: PayoutSummary,
    pub counts: PayoutCounts,
    /// Per payout, in id order: the path its channel chose and what its book says.
    pub payouts: Vec<(u64, Path, crate::sim_payout_book::PayoutEntry)>,
    /// Answers waiting to be sent.
    pub in_flight: u64,
    pub event_ns: u64,
}

/// The simulator's answer to `SimCommand::Report`.
#[derive(Debug, Clone)]
pub struct SimReport {
    pub book: BookSummary,
    pub faults: FaultCounts,
    /// Answers and ChannelControls waiting in the timer queue.
    pub in_flight: u64,
}

pub struct SimBridge {
    sim: Option<Simulator>,
    payouts: Option<PayoutSim>,
    /// The payout channels' book file, beside `book_file` (`sim_payout_book_file`).
    payout_file: Option<PayoutBookFile>,
    commands: (Sender<SimCommand>, Receiver<SimCommand>),
    /// `[simulator] book`: the book's records are written here before the answers they cause.
    book_file: Option<BookFile>,
}

impl SimBridge {
    pub fn new(sim: Option<Simulator>) -> SimBridge {
        SimBridge {
            sim,
            payouts: None,
            payout_file: None,
            commands: crossbeam::channel::unbounded(),
            book_file: None,
        }
    }

    /// Serves payout channels too.
    pub fn with_payouts(mut self, payouts: PayoutSim) -> SimBridge {
        self.payouts = Some(payouts);
        self
    }

    /// Keeps the payout channels' book in `file` as the simulator runs.
    pub fn with_payout_file(mut self, file: PayoutBookFile) -> SimBridge {
        self.payout_file = Some(file);
        self
    }

    /// The server's event time now: the payout channels' clock (returns fall due by it).
    pub fn observe(&mut self, event_ns: u64) {
        if let Some(p) = self.payouts.as_mut() {
            p.observe(event_ns, wall_clock_ns());
        }
        self.persist_payouts();
    }

    /// Writes the payout book's new records, when it is kept in a file (a failed write ends the
    /// file, as `persist` does).
    fn persist_payouts(&mut self) {
        let (Some(payouts), Some(file)) = (self.payouts.as_mut(), self.payout_file.as_mut()) else {
            return;
        };
        if let Err(e) = file.append(&payouts.take_records()) {
            error!("simulator: {e}; the payout book file is no longer written");
            self.payout_file = None;
        }
    }

    /// Keeps the book in `file` as the simulator runs.
    pub fn with_book_file(mut self, file: BookFile) -> SimBridge {
        self.book_file = Some(file);
        self
    }

    /// Writes the book's new records, when it is kept in a file. A failed write is logged and ends
    /// the file (the simulator goes on: the file is a record for a post-mortem, not the truth
    /// the server runs on).
    fn persist(sim: &mut Simulator, book_file: &mut Option<BookFile>) {
        let Some(file) = book_file.as_mut() else {
            return;
        };
        if let Err(e) = file.append(&sim.take_records()) {
            error!("simulator: {e}; the book file is no longer written");
            *book_file = None;
        }
    }

    /// A handle to command the simulator while the server runs.
    pub fn control(&self) -> Sender<SimCommand> {
        self.commands.0.clone()
    }

    pub fn simulator_mut(&mut self) -> Option<&mut Simulator> {
        self.sim.as_mut()
    }

    /// When the next reply is due, ns (wall clock).
    pub fn next_due_ns(&self) -> Option<u64> {
        let payments = self.sim.as_ref().and_then(|s| s.next_due_ns());
        let payouts = self.payouts.as_ref().and_then(|p| p.next_due_ns());
        payments.into_iter().chain(payouts).min()
    }

    /// A PayoutDispatch or PayoutQuery for payout channel `channel`: true when the simulator
    /// serves it and took it.
    fn send_payout(&mut self, channel: u16, frame: &[u8], now_ns: u64) -> bool {
        let Some(payouts) = self.payouts.as_mut().filter(|p| p.serves(channel)) else {
            return false;
        };
        match decode_any_frame(frame) {
            Ok(AnyMessage::PayoutDispatch(d)) => payouts.on_dispatch(&d, now_ns),
            Ok(AnyMessage::PayoutQuery(q)) => payouts.on_query(&q, now_ns),
            _ => {}
        }
        self.persist_payouts();
        true
    }

    /// A dispatch or refund dispatch for `channel`, which has no connector: true when the simulator
    /// serves the channel and took it.
    pub fn send(&mut self, channel: u16, frame: &[u8], now_ns: u64) -> bool {
        if self.send_payout(channel, frame, now_ns) {
            return true;
        }
        let Some(sim) = self.sim.as_mut().filter(|s| s.serves(channel)) else {
            return false;
        };
        match decode_any_frame(frame) {
            Ok(AnyMessage::Dispatch(d)) => sim.on_dispatch(&d, now_ns),
            Ok(AnyMessage::RefundDispatch(d)) => sim.on_refund(&d, now_ns),
            Ok(AnyMessage::ChannelControl(c)) => sim.on_control(&c, now_ns),
            _ => {}
        }
        Self::persist(sim, &mut self.book_file);
        true
    }

    /// Applies a payout channel's command at `now_ns`; gives back any other.
    fn payout_command(
        payouts: Option<&mut PayoutSim>,
        command: SimCommand,
        now_ns: u64,
    ) -> Option<SimCommand> {
        let Some(p) = payouts else {
            return Some(command);
        };
        match command {
            SimCommand::PayoutScript {
                channel_id,
                party,
                paths,
            } => p.script(channel_id, party, &paths),
            SimCommand::PayoutReturn {
                channel_id,
                payout_id,
                answer,
            } => {
                let _ = answer.send(p.force_return(channel_id, payout_id, now_ns));
            }
            SimCommand::PayoutReport(answer) => {
                let _ = answer.send(PayoutReport {
                    summary: p.book().summary(p.event_ns()),
                    counts: p.counts(),
                    payouts: p.report_payouts(),
                    in_flight: p.in_flight() as u64,
                    event_ns: p.event_ns(),
                });
            }
            other => return Some(other),
        }
        None
    }

    /// Applies one command at `now_ns`.
    fn command(sim: &mut Simulator, command: SimCommand, now_ns: u64) {
        match command {
            SimCommand::Outage {
                channel_id,
                seconds,
                mode,
            } => {
                info!(channel_id, seconds, %mode, "simulator: channel {channel_id} fails ({mode}) from now");
                sim.start_outage(channel_id, now_ns, seconds, &mode);
            }
            SimCommand::Recover { channel_id } => {
                info!(channel_id, "simulator: channel {channel_id} works again");
                sim.end_outages(channel_id);
            }
            SimCommand::WriteBills {
                dir,
                first_day,
                last_day,
                options,
                answer,
            } => {
                let days = (first_day, last_day);
                let _ = answer.send(sim.write_bills(&dir, days, &options, now_ns));
            }
            SimCommand::Report(answer) => {
                let _ = answer.send(SimReport {
                    book: sim.book().summary(now_ns),
                    faults: sim.fault_counts(),
                    in_flight: sim.in_flight() as u64,
                });
            }
            // Without payout channels: a report is empty, a return cannot be made.
            SimCommand::PayoutScript { .. } => {}
            SimCommand::PayoutReturn { answer, .. } => {
                let _ = answer.send(false);
            }
            SimCommand::PayoutReport(answer) => drop(answer),
        }
    }

    /// Applies the queued commands, then publishes the replies due at `now_ns` through `publish`
    /// (SBE, session, principal, role, template; false when the ring is full, and the reply waits).
    /// Returns how many were published.
    pub fn deliver(
        &mut self,
        now_ns: u64,
        mut publish: impl FnMut(&[u8], u64, u32, u8, u16) -> bool,
    ) -> u64 {
        let Some(sim) = self.sim.as_mut() else {
            // No simulator: a request for bills is answered at once rather than left to time out.
            while let Ok(command) = self.commands.1.try_recv() {
                if let SimCommand::WriteBills { answer, .. } = command {
                    let _ = answer.send(Err("the in-process simulator is off".into()));
                }
            }
            return 0;
        };
        while let Ok(command) = self.commands.1.try_recv() {
            if let Some(command) = Self::payout_command(self.payouts.as_mut(), command, now_ns) {
                Self::command(sim, command, now_ns);
            }
        }
        let mut buf = [0u8; 256];
        let mut delivered = 0;
        while let Some((channel, reply)) = sim.due(now_ns) {
            Self::persist(sim, &mut self.book_file);
            let (n, kind) = match &reply {
                SimReply::Payment(r) => (encode_sbe(r, &mut buf), ChannelResult::TEMPLATE_ID),
                SimReply::Refund(r) => (encode_sbe(r, &mut buf), RefundChannelResult::TEMPLATE_ID),
                SimReply::Control(r) => {
                    (encode_sbe(r, &mut buf), ChannelControlResult::TEMPLATE_ID)
                }
            };
            let n = n.expect("a channel result fits 256 bytes");
            let session = SIM_SESSION_BASE + u64::from(channel);
            if !publish(
                &buf[..n],
                session,
                u32::from(channel),
                Role::Channel as u8,
                kind,
            ) {
                sim.defer(channel, reply, now_ns);
                break;
            }
            delivered += 1;
        }
        delivered + self.deliver_payouts(now_ns, &mut publish)
    }

    /// Publishes the payout channels' answers due at `now_ns` (as `deliver`).
    fn deliver_payouts(
        &mut self,
        now_ns: u64,
        publish: &mut impl FnMut(&[u8], u64, u32, u8, u16) -> bool,
    ) -> u64 {
        // What a forced return booked is written before its answer goes out.
        self.persist_payouts();
        let Some(payouts) = self.payouts.as_mut() else {
            return 0;
        };
        let mut buf = [0u8; 256];
        let mut delivered = 0;
        while let Some((channel, answer)) = payouts.due(now_ns) {
            let n = encode_sbe(&answer, &mut buf).expect("a payout result fits 256 bytes");
            let session = SIM_SESSION_BASE + u64::from(channel);
            let kind = PayoutChannelResult::TEMPLATE_ID;
            if !publish(
                &buf[..n],
                session,
                u32::from(channel),
                Role::Channel as u8,
                kind,
            ) {
                payouts.defer(channel, answer);
                break;
            }
            delivered += 1;
        }
        delivered
    }
}
