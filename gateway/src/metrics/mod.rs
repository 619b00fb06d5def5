//! Metrics: a Prometheus text-format endpoint for the running server, off the live path
//! (docs/OPERATIONS.md, "Metrics").
//!
//! The threads of the live path publish into `Metrics` without waiting on anything:
//! - the processor counts inputs by template in a plain array and stores the counts it changed
//!   into atomics (relaxed) at the end of each batch; at most every 250 ms it also builds the
//!   engine's statistics block from its running counters (`Engine::stats_counters`, no scan of
//!   the orders) and puts it in a mutex with `try_lock`, skipping when the metrics thread holds it;
//! - the gateway keeps its counters and its ack latency histogram in plain fields and stores them
//!   into atomics at its timer turn (every 50 ms), and the last sequence it published whenever it
//!   wakes the consumers;
//! - the processor also times each input (one clock reading per input) and stores its longest
//!   pause at the end of a batch when it grew;
//! - the snapshot follower and writer observe their durations directly (a snapshot is rare).
//!
//! The metrics thread (`http`) reads all of it when scraped and encodes the text (`render`).

mod histogram;
mod http;
mod probes;
mod render;

pub use histogram::{
    ACK_LATENCY_BOUNDS_NS, AtomicHistogram, HistogramReading, LocalHistogram, SNAPSHOT_BOUNDS_NS,
};
pub use http::{CONTENT_TYPE, Endpoint, MAX_HEAD_BYTES, READ_TIMEOUT};
pub use probes::{GatewayProbe, ProcessorProbe};
pub use render::render;

use crossbeam::utils::CachePadded;
use sluice_node::follower::Progress;
use sluice_node::world::World;
use sluice_protocol::{AnyMessage, StatsReport};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Template ids counted one by one; a larger id (none today) is counted in the last slot.
pub const TEMPLATE_SLOTS: usize = 128;
/// Reason codes counted one by one; a larger code (none today) is counted in the last slot.
pub const REASON_SLOTS: usize = 256;

/// The slot a template id is counted in.
#[inline]
pub fn template_slot(template_id: u16) -> usize {
    usize::from(template_id).min(TEMPLATE_SLOTS - 1)
}

fn zeroed<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

/// The gateway's counters as it last stored them (see `GatewayProbe::publish`).
pub struct GatewayCounters {
    pub connections_open: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub connections_refused: AtomicU64,
    pub logins: AtomicU64,
    pub login_failures: AtomicU64,
    pub ring_full: AtomicU64,
    pub slow_consumers: AtomicU64,
    pub outputs_dropped: AtomicU64,
    pub sim_replies: AtomicU64,
    /// Session resume: started, refused at login, completed; outputs sent again.
    pub resumes_started: AtomicU64,
    pub resumes_refused: AtomicU64,
    pub resumes_completed: AtomicU64,
    pub outputs_retransmitted: AtomicU64,
    /// Inputs whose first output was not seen while their sequencing time was kept.
    pub ack_unmatched: AtomicU64,
    /// Rejects the gateway sent itself, by reason code.
    pub rejects_by_reason: [AtomicU64; REASON_SLOTS],
    /// Frames queued to connections, by template id.
    pub outputs_by_template: [AtomicU64; TEMPLATE_SLOTS],
}

/// The engine's statistics as the processor last published them, and when.
#[derive(Clone)]
pub struct EngineBlock {
    pub report: StatsReport,
    pub published: Instant,
}

/// Names of the configured channels and risk rules, for labels.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub channels: BTreeMap<u16, String>,
    pub rules: BTreeMap<u32, String>,
}

impl Names {
    /// The channels and rules a configuration's world defines (later admin changes keep the ids;
    /// a channel or rule added after start is labelled by its id alone).
    pub fn of_world(world: &World) -> Names {
        let mut names = Names::default();
        for input in &world.inputs {
            match &input.message {
                AnyMessage::ConfigChannel(c) => {
                    names
                        .channels
                        .insert(c.channel_id, c.name.as_str().into_owned());
                }
                AnyMessage::ConfigRiskRule(r) => {
                    names.rules.insert(r.rule_id, r.name.as_str().into_owned());
                }
                AnyMessage::ConfigRiskRuleText(r) => {
                    names.rules.insert(r.rule_id, r.name.as_str().into_owned());
                }
                _ => {}
            }
        }
        names
    }
}

/// Everything the live path publishes for the metrics thread. Each part has one writer; the
/// parts written often sit on cache lines of their own.
pub struct Metrics {
    /// Processor: inputs applied, by template slot.
    pub inputs_by_template: CachePadded<[AtomicU64; TEMPLATE_SLOTS]>,
    /// Processor: the engine's statistics block (at most every 250 ms; `try_lock`).
    pub engine: Mutex<Option<EngineBlock>>,
    /// Gateway: the last sequence it published into the ring.
    pub sequenced_seq: CachePadded<AtomicU64>,
    /// Gateway: its counters (every 50 ms).
    pub gateway: CachePadded<GatewayCounters>,
    /// Gateway: sequenced → first output handed to its connection (every 50 ms).
    pub ack_latency: AtomicHistogram,
    /// Processor: the longest time it spent on one input since start (its longest pause), and
    /// that input's sequence (stored at the end of a batch when it grew).
    pub processor_longest_input_ns: AtomicU64,
    pub processor_longest_input_seq: AtomicU64,
    /// Snapshot follower: serializing its engine for a snapshot (the ring does not wait).
    pub snapshot_serialize: AtomicHistogram,
    /// Snapshot writer: writing, syncing and renaming a snapshot file.
    pub snapshot_write: AtomicHistogram,
    pub snapshot_bytes: AtomicU64,
    pub snapshot_write_failures: AtomicU64,
    /// Followers of the journal whose progress is reported (`Server::register_follower`).
    pub followers: Mutex<Vec<(String, Arc<Progress>)>>,
    /// The merchant notifier, when `[notify]` is on (its counters are read at each scrape).
    pub notifier: Mutex<Option<Arc<sluice_notify::Notifier>>>,
    pub names: Names,
}

impl Metrics {
    pub fn new(names: Names) -> Arc<Metrics> {
        Arc::new(Metrics {
            inputs_by_template: CachePadded::new(zeroed()),
            engine: Mutex::new(None),
            sequenced_seq: CachePadded::new(AtomicU64::new(0)),
            gateway: CachePadded::new(GatewayCounters {
                connections_open: AtomicU64::new(0),
                connections_accepted: AtomicU64::new(0),
                connections_refused: AtomicU64::new(0),
                logins: AtomicU64::new(0),
                login_failures: AtomicU64::new(0),
                ring_full: AtomicU64::new(0),
                slow_consumers: AtomicU64::new(0),
                outputs_dropped: AtomicU64::new(0),
                sim_replies: AtomicU64::new(0),
                resumes_started: AtomicU64::new(0),
                resumes_refused: AtomicU64::new(0),
                resumes_completed: AtomicU64::new(0),
                outputs_retransmitted: AtomicU64::new(0),
                ack_unmatched: AtomicU64::new(0),
                rejects_by_reason: zeroed(),
                outputs_by_template: zeroed(),
            }),
            ack_latency: AtomicHistogram::new(&ACK_LATENCY_BOUNDS_NS),
            processor_longest_input_ns: AtomicU64::new(0),
            processor_longest_input_seq: AtomicU64::new(0),
            snapshot_serialize: AtomicHistogram::new(&SNAPSHOT_BOUNDS_NS),
            snapshot_write: AtomicHistogram::new(&SNAPSHOT_BOUNDS_NS),
            snapshot_bytes: AtomicU64::new(0),
            snapshot_write_failures: AtomicU64::new(0),
            followers: Mutex::new(Vec::new()),
            notifier: Mutex::new(None),
            names,
        })
    }

    /// Reports a follower's progress (lag behind the durable cursor) from now on.
    pub fn register_follower(&self, name: &str, progress: Arc<Progress>) {
        if let Ok(mut followers) = self.followers.lock() {
            followers.retain(|(n, _)| n != name);
            followers.push((name.to_string(), progress));
        }
    }
}
