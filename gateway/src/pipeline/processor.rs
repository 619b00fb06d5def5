//! The business-logic processor thread: applies each input of the ring to the engine
//! (`Engine::apply_record`), encoding outputs straight into a preallocated chunk that it hands to
//! egress at the end of each batch; and the bounded queue of output chunks between them.

use crossbeam::queue::ArrayQueue;
use sluice_engine::{Engine, MAX_OUTPUT_BYTES_PER_INPUT, Outbox};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ring::{InputSlot, PollInputs, ProcessorPoller};
use super::{PipelineSettings, Shared};
use crate::metrics::ProcessorProbe;
use crate::wait::{Parker, Waiter, pin};
use disruptor::Polling;
use tracing::{info, warn};

/// A chunk of encoded outputs on its way from the processor to egress.
pub struct OutChunk {
    pub outbox: Outbox,
}

/// The bounded queue of output chunks and the pool of free ones (all allocated at start).
pub struct OutputQueue {
    full: ArrayQueue<Box<OutChunk>>,
    free: ArrayQueue<Box<OutChunk>>,
}

impl OutputQueue {
    pub fn new(chunks: usize, chunk_bytes: usize) -> Arc<OutputQueue> {
        let q = OutputQueue {
            full: ArrayQueue::new(chunks),
            free: ArrayQueue::new(chunks),
        };
        for _ in 0..chunks {
            let pooled = q.free.push(Box::new(OutChunk {
                outbox: Outbox::with_capacity(chunk_bytes),
            }));
            assert!(pooled.is_ok(), "the pool has room for every chunk");
        }
        Arc::new(q)
    }

    /// The oldest chunk of outputs, for egress.
    pub fn pop(&self) -> Option<Box<OutChunk>> {
        self.full.pop()
    }

    /// Returns a drained chunk to the pool.
    pub fn recycle(&self, mut chunk: Box<OutChunk>) {
        chunk.outbox.clear();
        let pooled = self.free.push(chunk);
        assert!(
            pooled.is_ok(),
            "more output chunks than the pool was built for"
        );
    }

    pub fn is_empty(&self) -> bool {
        self.full.is_empty()
    }

    /// A free chunk, if egress has recycled one.
    pub fn take_free(&self) -> Option<Box<OutChunk>> {
        self.free.pop()
    }

    /// Whether a free chunk is waiting.
    pub fn has_free(&self) -> bool {
        !self.free.is_empty()
    }

    /// Hands a chunk of outputs to egress. The two queues together hold every chunk there is, so
    /// the full queue always has room for one taken from the pool.
    pub fn hand_over(&self, chunk: Box<OutChunk>) {
        let pushed = self.full.push(chunk);
        assert!(
            pushed.is_ok(),
            "more output chunks than the queue was built for"
        );
    }
}

/// The processor's "ready" report to `Pipeline::start`.
pub(super) struct Ready(std::sync::mpsc::SyncSender<(usize, Duration)>);

impl Ready {
    /// A report channel for `Pipeline::start` to wait on: the processor sends once it is ready.
    pub(super) fn channel() -> (Ready, std::sync::mpsc::Receiver<(usize, Duration)>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        (Ready(tx), rx)
    }

    fn send(self, bytes: usize, took: Duration) {
        // The receiver waits in `start`; it is only gone if `start` itself failed.
        let _ = self.0.send((bytes, took));
    }
}

/// Starts the processor thread on `engine`, consuming the ring through `poller`.
pub(super) fn spawn(
    poller: ProcessorPoller,
    engine: Engine,
    parts: ProcessorParts,
    ready: Ready,
) -> std::io::Result<JoinHandle<Engine>> {
    std::thread::Builder::new()
        .name("sluice-engine".into())
        .spawn(move || match poller {
            ProcessorPoller::Direct(p) => run_processor(p, engine, parts, ready),
            ProcessorPoller::AfterJournal(p) => run_processor(p, engine, parts, ready),
        })
}

/// What the processor thread is handed besides its poller and engine.
pub(super) struct ProcessorParts {
    pub shared: Arc<Shared>,
    pub outputs: Arc<OutputQueue>,
    pub settings: PipelineSettings,
    pub parker: Arc<Parker>,
}

/// Pins the thread, prefaults the engine's tables and reports ready to `Pipeline::start`.
fn prepare(mut engine: Engine, settings: &PipelineSettings, ready: Ready) -> Engine {
    pin(settings.processor_core);
    let started = Instant::now();
    let bytes = if settings.prefault {
        engine.prefault()
    } else {
        0
    };
    ready.send(bytes, started.elapsed());
    engine
}

/// After each input: the diagnostic delay. (Snapshots are the snapshot follower's: the
/// processor never serializes.)
#[inline]
fn after_input(parts: &ProcessorParts) {
    let settings = &parts.settings;
    if settings.processor_delay_us > 0 {
        let delay = Duration::from_micros(u64::from(settings.processor_delay_us));
        std::thread::sleep(delay);
    }
}

/// A pause this long is logged when it happens (a new longest only).
const PAUSE_LOGGED: Duration = Duration::from_millis(50);

/// The longest time the processor spent on one input since start: the live path's longest
/// pause (one clock reading per input, about 20 ns with the TSC clock source).
struct Pauses {
    longest: Duration,
    longest_seq: u64,
    /// The longest as last published to the metrics.
    published: Duration,
}

impl Pauses {
    fn new() -> Pauses {
        Pauses {
            longest: Duration::ZERO,
            longest_seq: 0,
            published: Duration::ZERO,
        }
    }

    /// Input `seq` was begun at `began` and is done now; returns now (the next one's start).
    #[inline]
    fn observe(&mut self, began: Instant, seq: u64) -> Instant {
        let now = Instant::now();
        let took = now - began;
        if took > self.longest {
            self.longest = took;
            self.longest_seq = seq;
            if took >= PAUSE_LOGGED {
                let millis = took.as_secs_f64() * 1e3;
                warn!(seq, "the processor spent {millis:.1} ms on input {seq}");
            }
        }
        now
    }

    /// Stores a new longest into the metrics (at the end of a batch).
    #[inline]
    fn publish(&mut self, metrics: Option<&crate::metrics::Metrics>) {
        if self.longest == self.published {
            return;
        }
        self.published = self.longest;
        if let Some(m) = metrics {
            let ns = self.longest.as_nanos() as u64;
            m.processor_longest_input_ns.store(ns, Ordering::Relaxed);
            m.processor_longest_input_seq
                .store(self.longest_seq, Ordering::Relaxed);
        }
    }

    fn log(&self) {
        let (seq, micros) = (self.longest_seq, self.longest.as_micros() as u64);
        info!(
            seq,
            longest_input_us = micros,
            "processor: the longest time spent on one input was {micros} us (sequence {seq})"
        );
    }
}

fn run_processor<P: PollInputs>(
    mut poller: P,
    engine: Engine,
    parts: ProcessorParts,
    ready: Ready,
) -> Engine {
    let (shared, outputs) = (&parts.shared, &parts.outputs);
    let mut engine = prepare(engine, &parts.settings, ready);
    let mut waiter = Waiter::new(parts.settings.wait, Some(parts.parker.clone()));
    let mut probe = parts.settings.metrics.clone().map(ProcessorProbe::new);
    let mut pauses = Pauses::new();
    let Some(mut chunk) = take_free(outputs, shared, &mut waiter) else {
        return engine;
    };
    loop {
        let mut last = 0;
        let polled = match poller.poll_inputs() {
            Ok(mut events) => {
                // The likely cache misses of the next two inputs overlap this one's work.
                let mut batch = &mut events;
                let (mut current, mut near) = (batch.next(), batch.next());
                let mut began = Instant::now();
                while let Some(e) = current {
                    let far = batch.next();
                    engine.prefetch_payloads(near.map(|n| n.bytes()), far.map(|f| f.bytes()));
                    if chunk.outbox.remaining() < MAX_OUTPUT_BYTES_PER_INPUT {
                        chunk = match hand_over(chunk, outputs, shared, &mut waiter) {
                            Some(c) => c,
                            None => return engine,
                        };
                        // Waiting for egress is backpressure, not time spent on the input.
                        began = Instant::now();
                    }
                    apply_slot(&mut engine, e, &mut chunk.outbox, shared);
                    if let Some(p) = probe.as_mut() {
                        p.count(e.kind);
                    }
                    last = e.seq;
                    after_input(&parts);
                    began = pauses.observe(began, e.seq);
                    (current, near) = (near, far);
                }
                true
            }
            Err(Polling::NoEvents) => false,
            Err(Polling::Shutdown) => break,
        };
        if !polled {
            waiter.idle(|| poller.has_events());
            continue;
        }
        waiter.busy();
        shared.applied_seq.store(last, Ordering::Release);
        end_batch(&engine, &mut pauses, probe.as_mut(), &parts);
        if !chunk.outbox.is_empty() {
            chunk = match hand_over(chunk, outputs, shared, &mut waiter) {
                Some(c) => c,
                None => return engine,
            };
        }
    }
    if !chunk.outbox.is_empty() {
        outputs.hand_over(chunk);
        shared.wake_gateway();
    }
    pauses.publish(parts.settings.metrics.as_deref());
    pauses.log();
    engine
}

/// At the end of a batch: the metrics, when they are on.
#[inline]
fn end_batch(
    engine: &Engine,
    pauses: &mut Pauses,
    probe: Option<&mut ProcessorProbe>,
    parts: &ProcessorParts,
) {
    pauses.publish(parts.settings.metrics.as_deref());
    if let Some(p) = probe {
        p.end_batch(engine);
    }
}

fn apply_slot(engine: &mut Engine, e: &InputSlot, outbox: &mut Outbox, shared: &Shared) {
    if let Err(err) = engine.apply_record(e.seq, e.timestamp_ns, e.bytes(), outbox) {
        shared.fail(
            Some(e.seq),
            format!("engine refused input {}: {err}", e.seq),
        );
    }
}

/// Gives a full chunk to egress and takes a free one (waiting while egress catches up).
fn hand_over(
    chunk: Box<OutChunk>,
    outputs: &OutputQueue,
    shared: &Shared,
    waiter: &mut Waiter,
) -> Option<Box<OutChunk>> {
    outputs.hand_over(chunk);
    shared.wake_gateway();
    take_free(outputs, shared, waiter)
}

fn take_free(outputs: &OutputQueue, shared: &Shared, waiter: &mut Waiter) -> Option<Box<OutChunk>> {
    loop {
        if let Some(c) = outputs.take_free() {
            waiter.busy();
            return Some(c);
        }
        if shared.failed.load(Ordering::Acquire) {
            return None;
        }
        shared.wake_gateway();
        // Egress recycling a chunk unparks the consumers too; the park timeout bounds the rest.
        waiter.idle(|| outputs.has_free() || shared.failed.load(Ordering::Acquire));
    }
}
