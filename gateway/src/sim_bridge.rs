//! The bridge to the in-process channel simulator: dispatches for channels with no connector
//! logged in go to it, and its replies come back as channel inputs through the sequencer, like a
//! connector's would. Commands (outages, recoveries) arrive from other threads over a channel.

use crossbeam::channel::{Receiver, Sender};
use sluice_protocol::{
    AnyMessage, ChannelControlResult, ChannelResult, Message, RefundChannelResult, Role,
    decode_any_frame, encode_sbe,
};

use crate::sim::{FaultCounts, SimReply, Simulator};
use crate::sim_bills_inject::BillOptions;
use crate::sim_bills_write::BillsWritten;
use crate::sim_book::BookSummary;
use crate::sim_book_file::BookFile;
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
    commands: (Sender<SimCommand>, Receiver<SimCommand>),
    /// `[simulator] book`: the book's records are written here before the answers they cause.
    book_file: Option<BookFile>,
}

impl SimBridge {
    pub fn new(sim: Option<Simulator>) -> SimBridge {
        SimBridge {
            sim,
            commands: crossbeam::channel::unbounded(),
            book_file: None,
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
        self.sim.as_ref().and_then(|s| s.next_due_ns())
    }

    /// A dispatch or refund dispatch for `channel`, which has no connector: true when the simulator
    /// serves the channel and took it.
    pub fn send(&mut self, channel: u16, frame: &[u8], now_ns: u64) -> bool {
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
            Self::command(sim, command, now_ns);
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
        delivered
    }
}
