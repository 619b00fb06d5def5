//! The core of the server without sockets: the input ring, the journaler and business-logic threads,
//! the output chunks egress drains, and snapshots. `sluice bench pipeline` drives it directly; the
//! gateway's event loop feeds it from sockets. Recovery at start is the node's
//! (`sluice_node::recovery`).

mod journaler;
mod notify_sink;
mod outputs_follower;
mod processor;
mod ring;
mod snapshot_follower;
mod snapshots;

use crate::config::CoveredSegments;
use crossbeam::utils::CachePadded;
/// The ring's publishing trait (`try_publish`), re-exported so a producer outside this crate
/// (`sluice bench pipeline`) need not depend on the disruptor crate itself.
pub use disruptor::Producer;
use sluice_engine::Engine;
use sluice_journal::Storage;
use sluice_node::{DurableCursor, Recovered};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::error;

pub use processor::{OutChunk, OutputQueue};
pub use ring::{InputSlot, RingProducer, SLOT_PAYLOAD_BYTES};

use crate::config::{Config, WaitMode};
use crate::metrics::Metrics;
use crate::wait::{Parker, unpark_all};
use outputs_follower::OutputsFollower;
pub use outputs_follower::{OUTPUTS_FOLLOWER, OutputLogSink, OutputSink};
use processor::{ProcessorParts, Ready};
pub use snapshot_follower::SNAPSHOT_FOLLOWER;
use snapshot_follower::SnapshotFollower;
use snapshots::{SnapshotJob, SnapshotTaker, run_snapshot_writer, serialize_snapshot};

/// How long a shutdown waits for the snapshot follower to catch up with the journal and
/// serialize the last snapshot (it lags only as far as the load outran it).
pub const SHUTDOWN_SNAPSHOT_WAIT: Duration = Duration::from_secs(30);
/// How long a shutdown lets deliveries in flight finish (cut off, they are repeated after a
/// restart: delivery is at least once).
const NOTIFIER_SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// How the journaler and the processor consume the ring (docs/PIPELINE.md says why `Parallel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrangement {
    /// Both consume every input independently; egress waits for the durable cursor. The server's.
    Parallel,
    /// The processor sees an input only after the journaler committed it (LMAX's other option).
    /// Kept so `sluice bench pipeline --journal-before` can measure the difference.
    JournalBefore,
}

/// What the pipeline threads share with the gateway.
pub struct Shared {
    /// The last sequence the journal made durable (egress and followers read it).
    pub durable: DurableCursor,
    /// The last sequence the engine applied.
    pub applied_seq: CachePadded<AtomicU64>,
    /// Set by the gateway before it sleeps in epoll; whoever clears it wakes the gateway.
    pub gateway_parked: AtomicBool,
    waker: Mutex<Option<Arc<mio::Waker>>>,
    /// A pipeline thread failed (journal I/O error): the server must stop.
    pub fatal: Mutex<Option<String>>,
    pub failed: AtomicBool,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            durable: DurableCursor::new(0),
            applied_seq: CachePadded::new(AtomicU64::new(0)),
            gateway_parked: AtomicBool::new(false),
            waker: Mutex::new(None),
            fatal: Mutex::new(None),
            failed: AtomicBool::new(false),
        })
    }

    pub fn set_waker(&self, waker: Arc<mio::Waker>) {
        if let Ok(mut w) = self.waker.lock() {
            *w = Some(waker);
        }
    }

    /// Wakes the gateway if it announced it is about to sleep (no syscall otherwise).
    ///
    /// Dekker-style with `Server::poll_timeout`: the caller has just made work visible (a durable
    /// cursor, a chunk), then this fence, then the flag is read; the gateway stores the flag, fences,
    /// then looks for work. The two SeqCst fences guarantee that one side sees the other's store,
    /// on any architecture, so a wake is never lost (x86 would order it without them).
    #[inline]
    pub fn wake_gateway(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.gateway_parked.swap(false, Ordering::AcqRel)
            && let Ok(w) = self.waker.lock()
            && let Some(w) = w.as_ref()
        {
            let _ = w.wake();
        }
    }

    /// A pipeline thread cannot go on: logs why (with the input's sequence when one is known),
    /// records the first such error and wakes the gateway, which stops the server.
    fn fail(&self, seq: Option<u64>, why: String) {
        error!(seq, "FATAL: {why}");
        if let Ok(mut f) = self.fatal.lock() {
            f.get_or_insert(why);
        }
        self.failed.store(true, Ordering::Release);
        self.gateway_parked.store(true, Ordering::Release);
        self.wake_gateway();
    }

    /// The fatal error, if a pipeline thread failed.
    pub fn fatal_error(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.fatal.lock().ok().and_then(|f| f.clone())
    }
}

/// Settings the pipeline threads need.
#[derive(Clone)]
pub struct PipelineSettings {
    pub wait: WaitMode,
    pub journal_core: Option<usize>,
    pub processor_core: Option<usize>,
    /// The snapshot follower's schedule (docs/PIPELINE.md, "Snapshots").
    pub snapshot_every_inputs: u64,
    pub snapshot_every_secs: u32,
    /// Run the snapshot follower (off: no snapshots at all; `sluice bench pipeline`).
    pub snapshot_follower: bool,
    pub snapshots_keep: usize,
    pub processor_delay_us: u32,
    pub journal_delay_us: u32,
    pub data_dir: PathBuf,
    /// What the snapshot writer does with the segments every kept snapshot covers.
    pub covered_segments: CoveredSegments,
    pub archive_dir: PathBuf,
    /// Touch the engine's preallocated tables on the processor thread before the pipeline starts
    /// (see `Engine::prefault`).
    pub prefault: bool,
    /// Where snapshots are written (the journal writer has its own, from recovery).
    pub storage: Arc<dyn Storage>,
    /// Where the processor and the snapshot writer publish their metrics (None: metrics off).
    pub metrics: Option<Arc<Metrics>>,
    /// The output log's bounds when `[resume] enabled`: the outputs follower keeps it.
    pub output_log: Option<crate::output_log::LogLimits>,
    /// Merchant notifications when `[notify] enabled`: a second sink of the outputs follower.
    pub notify: Option<NotifySettings>,
}

/// What the notifier needs: its delivery configuration, its store and the key that opens the
/// merchants' sealed secrets.
#[derive(Clone)]
pub struct NotifySettings {
    pub delivery: sluice_notify::NotifyConfig,
    pub dir: PathBuf,
    pub key_file: PathBuf,
}

impl PipelineSettings {
    pub fn from_config(c: &Config, storage: Arc<dyn Storage>) -> Self {
        let core = |i: usize| c.pipeline.pin_cores.get(i).copied();
        PipelineSettings {
            wait: c.wait,
            journal_core: core(1),
            processor_core: core(2),
            snapshot_every_inputs: c.pipeline.snapshot_every_inputs,
            snapshot_every_secs: c.pipeline.snapshot_every_secs,
            snapshot_follower: true,
            snapshots_keep: c.pipeline.snapshots_keep as usize,
            processor_delay_us: c.pipeline.processor_delay_us,
            journal_delay_us: c.pipeline.journal_delay_us,
            data_dir: c.data_dir.clone(),
            covered_segments: c.covered_segments,
            archive_dir: c.archive_dir(),
            prefault: c.pipeline.prefault_memory,
            storage,
            metrics: None,
            output_log: c.resume.enabled.then(|| crate::output_log::LogLimits {
                window_ns: c.resume.window_secs.saturating_mul(1_000_000_000),
                max_bytes_per_acquirer: c.resume.max_bytes_per_acquirer,
            }),
            notify: c.notify.enabled.then(|| NotifySettings {
                delivery: c.notify.delivery.clone(),
                dir: c.data_dir.join("notify"),
                key_file: c.notify_key_file(),
            }),
        }
    }
}

/// The running pipeline: the ring producer (for the sequencer) and the threads behind it.
pub struct Pipeline {
    pub producer: Option<RingProducer>,
    pub shared: Arc<Shared>,
    pub outputs: Arc<OutputQueue>,
    journaler: Option<JoinHandle<()>>,
    processor: Option<JoinHandle<Engine>>,
    snapshotter: Option<JoinHandle<()>>,
    snapshot_follower: Option<SnapshotFollower>,
    outputs_follower: Option<OutputsFollower>,
    /// What the output log holds per acquirer (None: `[resume]` off).
    pub output_bounds: Option<Arc<crate::output_log::LogBounds>>,
    /// The merchant notifier (None: `[notify]` off).
    pub notifier: Option<Arc<sluice_notify::Notifier>>,
    /// Each acquirer's last out_seq in the recovered engine (the gateway seeds its view of what
    /// egress routed from it).
    pub out_seqs_at_start: Vec<(u32, u64)>,
    /// The journaler's and the processor's parkers: the producer unparks them after publishing.
    parkers: [Arc<Parker>; 2],
    /// What the processor prefaulted before the pipeline started: bytes and how long it took.
    pub prefaulted: (usize, Duration),
}

/// Starts the snapshot writer and the snapshot follower (its only sender: the writer ends when
/// the follower does). When recovery replayed inputs past its snapshot, the recovered engine is
/// serialized once now, before the ring runs: written as a snapshot at the recovered sequence (a
/// crash loop then never replays the same inputs twice) and restored as the follower's engine
/// (which then need not replay them again on idle cycles).
fn start_snapshots(
    recovered: &Recovered,
    settings: &PipelineSettings,
    shared: &Arc<Shared>,
) -> std::io::Result<(JoinHandle<()>, Option<SnapshotFollower>)> {
    let (snapshot_tx, snapshot_rx) = crossbeam::channel::unbounded::<SnapshotJob>();
    let snapshotter = {
        let (shared, settings) = (shared.clone(), settings.clone());
        std::thread::Builder::new()
            .name("sluice-snapshot".into())
            .spawn(move || run_snapshot_writer(snapshot_rx, &shared, &settings))?
    };
    if !settings.snapshot_follower {
        return Ok((snapshotter, None));
    }
    let replayed = recovered.log.iter().any(
        |event| matches!(event, sluice_node::RecoveryEvent::Replayed { inputs, .. } if *inputs > 0),
    );
    let seed = replayed.then(|| {
        let metrics = settings.metrics.as_deref();
        serialize_snapshot(&recovered.engine, 0, metrics, SnapshotTaker::Start)
    });
    if let Some(job) = &seed {
        // The writer is running: the channel is open.
        let _ = snapshot_tx.send(job.clone());
    }
    let applied = recovered.engine.last_seq();
    let (shared, settings) = (shared.clone(), settings.clone());
    let follower = SnapshotFollower::spawn(applied, seed, shared, settings, snapshot_tx)?;
    Ok((snapshotter, Some(follower)))
}

/// What the outputs follower feeds: the output log, the notifier, or both.
struct Outputs {
    follower: Option<OutputsFollower>,
    bounds: Option<Arc<crate::output_log::LogBounds>>,
    notifier: Option<Arc<sluice_notify::Notifier>>,
}

/// Starts the outputs follower with its sinks: the output log when `[resume]` is on, the
/// merchant notifier when `[notify]` is (its delivery threads in the idle scheduling class, like
/// the follower: off the live path on shared cores).
fn start_outputs(settings: &PipelineSettings, shared: &Arc<Shared>) -> std::io::Result<Outputs> {
    let mut sinks: Vec<Box<dyn OutputSink>> = Vec::new();
    let bounds = settings.output_log.map(|limits| {
        let bounds = Arc::new(crate::output_log::LogBounds::default());
        let root = crate::output_log::outputs_dir(&settings.data_dir);
        sinks.push(Box::new(OutputLogSink::new(root, limits, bounds.clone())));
        bounds
    });
    let notifier = match &settings.notify {
        Some(n) => {
            let (sink, notifier) = notify_sink::start(n)?;
            sinks.push(Box::new(sink));
            if let Some(m) = &settings.metrics
                && let Ok(mut slot) = m.notifier.lock()
            {
                *slot = Some(notifier.clone());
            }
            Some(notifier)
        }
        None => None,
    };
    if sinks.is_empty() {
        return Ok(Outputs {
            follower: None,
            bounds,
            notifier,
        });
    }
    let follower = OutputsFollower::spawn(
        settings.data_dir.clone(),
        shared.clone(),
        sinks,
        settings.metrics.clone(),
    )?;
    Ok(Outputs {
        follower: Some(follower),
        bounds,
        notifier,
    })
}

/// Wakes the pipeline's parked consumers; held by whoever publishes into the ring.
#[derive(Clone)]
pub struct ConsumerWaker([Arc<Parker>; 2]);

impl ConsumerWaker {
    /// Call after publishing.
    #[inline]
    pub fn wake(&self) {
        unpark_all(&self.0);
    }
}

impl Pipeline {
    /// Wakes the consumers that parked while the ring was empty. Call after publishing.
    #[inline]
    pub fn unpark_consumers(&self) {
        unpark_all(&self.parkers);
    }

    /// A handle that wakes the consumers, usable while the producer is borrowed.
    pub fn consumer_waker(&self) -> ConsumerWaker {
        ConsumerWaker(self.parkers.clone())
    }

    /// Starts the journaler, the processor and the snapshot writer around a recovered engine.
    pub fn start(
        recovered: Recovered,
        ring_size: usize,
        chunks: usize,
        chunk_bytes: usize,
        settings: PipelineSettings,
        shared: Arc<Shared>,
    ) -> std::io::Result<Pipeline> {
        let arrangement = Arrangement::Parallel;
        Self::start_arranged(
            recovered,
            ring_size,
            chunks,
            chunk_bytes,
            settings,
            shared,
            arrangement,
        )
    }

    /// `start` with a choice of arrangement (benchmarks compare them; the server runs `Parallel`).
    pub fn start_arranged(
        recovered: Recovered,
        ring_size: usize,
        chunks: usize,
        chunk_bytes: usize,
        settings: PipelineSettings,
        shared: Arc<Shared>,
        arrangement: Arrangement,
    ) -> std::io::Result<Pipeline> {
        let (journal_poller, processor_poller, producer) = ring::build(ring_size, arrangement);
        shared.durable.publish(recovered.engine.last_seq());
        let applied = recovered.engine.last_seq();
        shared.applied_seq.store(applied, Ordering::Release);
        let outputs = OutputQueue::new(chunks, chunk_bytes);
        let parkers = [Parker::new(), Parker::new()];
        let (snapshotter, snapshot_follower) = start_snapshots(&recovered, &settings, &shared)?;
        let started = start_outputs(&settings, &shared)?;
        let out_seqs_at_start = recovered.engine.acquirer_out_seqs().to_vec();
        // Journal before the processor: the processor waits on the journaler, which wakes it.
        let next = (arrangement == Arrangement::JournalBefore).then(|| parkers[1].clone());
        let journaler = journaler::spawn(
            journal_poller,
            recovered.writer,
            shared.clone(),
            settings.clone(),
            (parkers[0].clone(), next),
        )?;
        // The processor reports when it is ready (pinned, tables prefaulted) before `start`
        // returns, so that the first requests do not wait for it.
        let (ready, ready_rx) = Ready::channel();
        let parts = ProcessorParts {
            shared: shared.clone(),
            outputs: outputs.clone(),
            settings,
            parker: parkers[1].clone(),
        };
        let processor = processor::spawn(processor_poller, recovered.engine, parts, ready)?;
        // An error means the processor thread ended before reporting; `stop` will show why.
        let prefaulted = ready_rx.recv().unwrap_or_default();
        Ok(Pipeline {
            producer: Some(producer),
            shared,
            outputs,
            journaler: Some(journaler),
            processor: Some(processor),
            snapshotter: Some(snapshotter),
            snapshot_follower,
            outputs_follower: started.follower,
            output_bounds: started.bounds,
            notifier: started.notifier,
            out_seqs_at_start,
            prefaulted,
            parkers,
        })
    }

    /// Drains and stops: drops the producer (the consumers finish what was published and exit),
    /// joins the threads, lets the snapshot follower catch up and take the final snapshot
    /// (bounded by `SHUTDOWN_SNAPSHOT_WAIT`), and returns the engine.
    pub fn stop(mut self, final_snapshot: bool) -> Option<Engine> {
        drop(self.producer.take());
        if let Some(j) = self.journaler.take() {
            let _ = j.join();
        }
        let engine = self.processor.take().and_then(|p| p.join().ok());
        let final_snapshot = final_snapshot && self.shared.fatal_error().is_none();
        if let Some(f) = self.outputs_follower.take() {
            f.stop(final_snapshot, SHUTDOWN_SNAPSHOT_WAIT);
        }
        // After the follower: every notification it enqueued is in the store, synced.
        if let Some(n) = self.notifier.take() {
            n.shutdown(NOTIFIER_SHUTDOWN_WAIT);
        }
        let ended = match self.snapshot_follower.take() {
            Some(f) => f.stop(final_snapshot, SHUTDOWN_SNAPSHOT_WAIT),
            None => true,
        };
        // The writer ends once the follower (its only sender) has; a follower left behind
        // leaves the writer too (a snapshot file is written whole or not at all).
        if ended && let Some(s) = self.snapshotter.take() {
            let _ = s.join();
        }
        engine
    }
}
