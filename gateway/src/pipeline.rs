//! The core of the server without sockets: the input ring, the journaler and business-logic threads,
//! the output chunks egress drains, snapshots, and recovery at start. `sluice bench pipeline` drives
//! it directly; the gateway's event loop feeds it from sockets.

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
/// The ring's publishing trait (`try_publish`), re-exported so a producer outside this crate
/// (`sluice bench pipeline`) need not depend on the disruptor crate itself.
pub use disruptor::Producer;
use disruptor::{
    BusySpin, EventGuard, EventPoller, Polling, SingleConsumerBarrier, SingleProducer,
    SingleProducerBarrier,
};
use sluice_engine::{Engine, MAX_OUTPUT_BYTES_PER_INPUT, Outbox, StateHash};
use sluice_journal::{JournalWriter, SnapshotStore};
use sluice_node::{DurableCursor, Recovered};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{Config, WaitMode};
use crate::wait::{Parker, Waiter, pin, unpark_all};

/// Bytes an input slot carries: the envelope and the largest inbound SBE message.
pub const SLOT_PAYLOAD_BYTES: usize = sluice_node::MAX_INPUT_PAYLOAD_BYTES;

/// One input on the ring: sequence, event time, template id, and the journal payload.
pub struct InputSlot {
    pub seq: u64,
    pub timestamp_ns: u64,
    pub kind: u16,
    pub len: u16,
    pub payload: [u8; SLOT_PAYLOAD_BYTES],
}

impl InputSlot {
    fn empty() -> Self {
        InputSlot {
            seq: 0,
            timestamp_ns: 0,
            kind: 0,
            len: 0,
            payload: [0; SLOT_PAYLOAD_BYTES],
        }
    }

    /// The journal payload (envelope + SBE).
    pub fn bytes(&self) -> &[u8] {
        &self.payload[..usize::from(self.len)]
    }
}

/// The ring's producer, owned by the sequencer.
pub type RingProducer = SingleProducer<InputSlot, disruptor::MultiConsumerBarrier>;
type RingPoller = EventPoller<InputSlot, SingleProducerBarrier>;
/// The processor's poller when it runs after the journaler (`Arrangement::JournalBefore`).
type AfterJournalPoller = EventPoller<InputSlot, SingleConsumerBarrier>;

/// A ring consumer's poll, whichever barrier it waits on. The disruptor crate does not export its
/// barrier trait, so the processor is generic over this instead (monomorphised: no cost).
trait PollInputs {
    type Barrier;
    fn poll_inputs(&mut self) -> Result<EventGuard<'_, InputSlot, Self::Barrier>, Polling>;
    /// Whether an event is ready (a cheap check before parking).
    fn has_events(&self) -> bool;
}

impl PollInputs for RingPoller {
    type Barrier = SingleProducerBarrier;
    #[inline]
    fn poll_inputs(&mut self) -> Result<EventGuard<'_, InputSlot, Self::Barrier>, Polling> {
        self.poll()
    }
    #[inline]
    fn has_events(&self) -> bool {
        self.has_available()
    }
}

impl PollInputs for AfterJournalPoller {
    type Barrier = SingleConsumerBarrier;
    #[inline]
    fn poll_inputs(&mut self) -> Result<EventGuard<'_, InputSlot, Self::Barrier>, Polling> {
        self.poll()
    }
    #[inline]
    fn has_events(&self) -> bool {
        self.has_available()
    }
}

/// The processor's poller in either arrangement.
enum ProcessorPoller {
    Direct(RingPoller),
    AfterJournal(AfterJournalPoller),
}

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

    fn fail(&self, why: String) {
        eprintln!("sluice: FATAL: {why}");
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
            let _ = q.free.push(Box::new(OutChunk {
                outbox: Outbox::with_capacity(chunk_bytes),
            }));
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
        let _ = self.free.push(chunk);
    }

    pub fn is_empty(&self) -> bool {
        self.full.is_empty()
    }
}

/// A snapshot taken by the processor, waiting to be written.
struct SnapshotJob {
    seq: u64,
    hash: StateHash,
    payload: sluice_journal::AlignedVec,
}

/// Settings the pipeline threads need.
#[derive(Clone)]
pub struct PipelineSettings {
    pub wait: WaitMode,
    pub journal_core: Option<usize>,
    pub processor_core: Option<usize>,
    pub snapshot_every: u64,
    pub snapshots_keep: usize,
    pub processor_delay_us: u32,
    pub journal_delay_us: u32,
    pub data_dir: PathBuf,
    pub prune_covered_segments: bool,
    /// Touch the engine's preallocated tables on the processor thread before the pipeline starts
    /// (see `Engine::prefault`).
    pub prefault: bool,
}

impl PipelineSettings {
    pub fn from_config(c: &Config) -> Self {
        let core = |i: usize| c.pipeline.pin_cores.get(i).copied();
        PipelineSettings {
            wait: c.wait,
            journal_core: core(1),
            processor_core: core(2),
            snapshot_every: c.pipeline.snapshot_every,
            snapshots_keep: c.pipeline.snapshots_keep as usize,
            processor_delay_us: c.pipeline.processor_delay_us,
            journal_delay_us: c.pipeline.journal_delay_us,
            data_dir: c.data_dir.clone(),
            prune_covered_segments: c.prune_covered_segments,
            prefault: c.pipeline.prefault_memory,
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
    snapshot_tx: Option<crossbeam::channel::Sender<SnapshotJob>>,
    /// The journaler's and the processor's parkers: the producer unparks them after publishing.
    parkers: [Arc<Parker>; 2],
    /// What the processor prefaulted before the pipeline started: bytes and how long it took.
    pub prefaulted: (usize, Duration),
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
        let builder = disruptor::build_single_producer(ring_size, InputSlot::empty, BusySpin);
        let (journal_poller, builder) = builder.new_event_poller();
        let (processor_poller, producer) = match arrangement {
            Arrangement::Parallel => {
                let (poller, builder) = builder.new_event_poller();
                (ProcessorPoller::Direct(poller), builder.build())
            }
            Arrangement::JournalBefore => {
                let builder = builder.and_then().with_multi_consumer();
                let (poller, builder) = builder.new_event_poller();
                (ProcessorPoller::AfterJournal(poller), builder.build())
            }
        };
        let commit_before_release = arrangement == Arrangement::JournalBefore;
        shared.durable.publish(recovered.engine.last_seq());
        shared
            .applied_seq
            .store(recovered.engine.last_seq(), Ordering::Release);
        let outputs = OutputQueue::new(chunks, chunk_bytes);
        let parkers = [Parker::new(), Parker::new()];
        let (snapshot_tx, snapshot_rx) = crossbeam::channel::unbounded::<SnapshotJob>();
        let snapshotter = {
            let shared = shared.clone();
            let settings = settings.clone();
            std::thread::Builder::new()
                .name("sluice-snapshot".into())
                .spawn(move || run_snapshot_writer(snapshot_rx, &shared, &settings))?
        };
        let journaler = {
            let shared = shared.clone();
            let settings = settings.clone();
            let writer = recovered.writer;
            let own = parkers[0].clone();
            // Journal before the processor: the processor waits on the journaler, which wakes it.
            let next = commit_before_release.then(|| parkers[1].clone());
            std::thread::Builder::new()
                .name("sluice-journal".into())
                .spawn(move || {
                    run_journaler(journal_poller, writer, &shared, &settings, (own, next))
                })?
        };
        // The processor reports when it is ready (pinned, tables prefaulted) before `start`
        // returns, so that the first requests do not wait for it.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<(usize, Duration)>(1);
        let processor = {
            let shared = shared.clone();
            let outputs = outputs.clone();
            let tx = snapshot_tx.clone();
            let engine = recovered.engine;
            let parker = parkers[1].clone();
            std::thread::Builder::new()
                .name("sluice-engine".into())
                .spawn(move || {
                    let ready = Ready(ready_tx);
                    match processor_poller {
                        ProcessorPoller::Direct(p) => run_processor(
                            p, engine, &shared, &outputs, &tx, &settings, parker, ready,
                        ),
                        ProcessorPoller::AfterJournal(p) => run_processor(
                            p, engine, &shared, &outputs, &tx, &settings, parker, ready,
                        ),
                    }
                })?
        };
        // An error means the processor thread ended before reporting; `stop` will show why.
        let prefaulted = ready_rx.recv().unwrap_or_default();
        Ok(Pipeline {
            producer: Some(producer),
            shared,
            outputs,
            journaler: Some(journaler),
            processor: Some(processor),
            snapshotter: Some(snapshotter),
            snapshot_tx: Some(snapshot_tx),
            prefaulted,
            parkers,
        })
    }

    /// Drains and stops: drops the producer (the consumers finish what was published and exit),
    /// joins the threads, writes a final snapshot, and returns the engine.
    pub fn stop(mut self, final_snapshot: bool) -> Option<Engine> {
        drop(self.producer.take());
        if let Some(j) = self.journaler.take() {
            let _ = j.join();
        }
        let engine = self.processor.take().and_then(|p| p.join().ok());
        if let (Some(engine), Some(tx), true) =
            (engine.as_ref(), self.snapshot_tx.as_ref(), final_snapshot)
            && self.shared.fatal_error().is_none()
        {
            send_snapshot(engine, tx);
        }
        drop(self.snapshot_tx.take());
        if let Some(s) = self.snapshotter.take() {
            let _ = s.join();
        }
        engine
    }
}

fn run_journaler(
    mut poller: RingPoller,
    mut writer: JournalWriter,
    shared: &Shared,
    settings: &PipelineSettings,
    (own, next): (Arc<Parker>, Option<Arc<Parker>>),
) {
    pin(settings.journal_core);
    let commit_before_release = next.is_some();
    let mut waiter = Waiter::new(settings.wait, Some(own));
    loop {
        let mut last = None;
        let committed = match poller.poll() {
            Ok(mut events) => {
                for e in &mut events {
                    if let Err(err) = writer.append(e.seq, e.timestamp_ns, e.kind, e.bytes()) {
                        return shared.fail(format!("journal append at sequence {}: {err}", e.seq));
                    }
                    last = Some(e.seq);
                }
                // Journal before the processor: the processor may see the batch only once it is
                // durable, so commit while the guard still holds the slots.
                if commit_before_release
                    && !commit_batch(&mut writer, shared, last, settings.journal_delay_us)
                {
                    return;
                }
                Some(commit_before_release)
            }
            Err(Polling::NoEvents) => None,
            Err(Polling::Shutdown) => break,
        };
        let Some(committed) = committed else {
            waiter.idle(|| poller.has_available());
            continue;
        };
        waiter.busy();
        if let Some(next) = &next {
            unpark_all(std::slice::from_ref(next));
        }
        // In parallel the slots are released first; the group commit covers the whole batch.
        if !committed && !commit_batch(&mut writer, shared, last, settings.journal_delay_us) {
            return;
        }
    }
    if let Err(err) = writer.commit() {
        shared.fail(format!("journal final commit: {err}"));
    }
}

/// Commits a batch and publishes the durable cursor; false (the pipeline failed) on an error.
fn commit_batch(
    writer: &mut JournalWriter,
    shared: &Shared,
    last: Option<u64>,
    delay_us: u32,
) -> bool {
    if delay_us > 0 {
        std::thread::sleep(Duration::from_micros(u64::from(delay_us)));
    }
    match writer.commit() {
        Ok(durable) => {
            debug_assert_eq!(Some(durable), last);
            shared.durable.publish(durable);
            shared.wake_gateway();
            true
        }
        Err(err) => {
            shared.fail(format!(
                "journal commit: {err} — stopping: acknowledged data must not be lost"
            ));
            false
        }
    }
}

/// The processor's "ready" report to `Pipeline::start`.
struct Ready(std::sync::mpsc::SyncSender<(usize, Duration)>);

impl Ready {
    fn send(self, bytes: usize, took: Duration) {
        // The receiver waits in `start`; it is only gone if `start` itself failed.
        let _ = self.0.send((bytes, took));
    }
}

#[allow(clippy::too_many_arguments)]
fn run_processor<P: PollInputs>(
    mut poller: P,
    engine: Engine,
    shared: &Shared,
    outputs: &OutputQueue,
    snapshots: &crossbeam::channel::Sender<SnapshotJob>,
    settings: &PipelineSettings,
    parker: Arc<Parker>,
    ready: Ready,
) -> Engine {
    pin(settings.processor_core);
    let mut engine = engine;
    let started = Instant::now();
    let bytes = if settings.prefault {
        engine.prefault()
    } else {
        0
    };
    ready.send(bytes, started.elapsed());
    let mut waiter = Waiter::new(settings.wait, Some(parker));
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
                while let Some(e) = current {
                    let far = batch.next();
                    engine.prefetch_payloads(near.map(|n| n.bytes()), far.map(|f| f.bytes()));
                    if chunk.outbox.remaining() < MAX_OUTPUT_BYTES_PER_INPUT {
                        chunk = match hand_over(chunk, outputs, shared, &mut waiter) {
                            Some(c) => c,
                            None => return engine,
                        };
                    }
                    apply_slot(&mut engine, e, &mut chunk.outbox, shared);
                    last = e.seq;
                    if settings.processor_delay_us > 0 {
                        std::thread::sleep(Duration::from_micros(u64::from(
                            settings.processor_delay_us,
                        )));
                    }
                    let every = settings.snapshot_every;
                    if engine.take_snapshot_request() || (every > 0 && e.seq % every == 0) {
                        send_snapshot(&engine, snapshots);
                    }
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
        if !chunk.outbox.is_empty() {
            chunk = match hand_over(chunk, outputs, shared, &mut waiter) {
                Some(c) => c,
                None => return engine,
            };
        }
    }
    if !chunk.outbox.is_empty() {
        let _ = outputs.full.push(chunk);
        shared.wake_gateway();
    }
    engine
}

fn apply_slot(engine: &mut Engine, e: &InputSlot, outbox: &mut Outbox, shared: &Shared) {
    if let Err(err) = engine.apply_record(e.seq, e.timestamp_ns, e.bytes(), outbox) {
        shared.fail(format!("engine refused input {}: {err}", e.seq));
    }
}

/// Gives a full chunk to egress and takes a free one (waiting while egress catches up).
fn hand_over(
    chunk: Box<OutChunk>,
    outputs: &OutputQueue,
    shared: &Shared,
    waiter: &mut Waiter,
) -> Option<Box<OutChunk>> {
    // The queue holds every chunk there is, so it cannot be full.
    let _ = outputs.full.push(chunk);
    shared.wake_gateway();
    take_free(outputs, shared, waiter)
}

fn take_free(outputs: &OutputQueue, shared: &Shared, waiter: &mut Waiter) -> Option<Box<OutChunk>> {
    loop {
        if let Some(c) = outputs.free.pop() {
            waiter.busy();
            return Some(c);
        }
        if shared.failed.load(Ordering::Acquire) {
            return None;
        }
        shared.wake_gateway();
        // Egress recycling a chunk unparks the consumers too; the park timeout bounds the rest.
        waiter.idle(|| !outputs.free.is_empty() || shared.failed.load(Ordering::Acquire));
    }
}

fn send_snapshot(engine: &Engine, tx: &crossbeam::channel::Sender<SnapshotJob>) {
    let started = Instant::now();
    let (hash, payload) = engine.snapshot();
    let seq = engine.last_seq();
    eprintln!(
        "sluice: snapshot at sequence {seq}: {} bytes serialized in {:.1} ms (the ring waited this long), state hash {hash}",
        payload.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let _ = tx.send(SnapshotJob { seq, hash, payload });
}

fn run_snapshot_writer(
    rx: crossbeam::channel::Receiver<SnapshotJob>,
    shared: &Shared,
    settings: &PipelineSettings,
) {
    let store = match SnapshotStore::new(&sluice_journal::snapshots_dir(&settings.data_dir)) {
        Ok(s) => s,
        Err(e) => return shared.fail(format!("snapshot directory: {e}")),
    };
    for job in rx {
        // Never let a snapshot get ahead of the journal.
        while shared.durable.get() < job.seq && !shared.failed.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if shared.failed.load(Ordering::Acquire) {
            return;
        }
        match store.write(job.seq, job.hash.0, &job.payload) {
            Ok(path) => eprintln!("sluice: snapshot written: {}", path.display()),
            Err(e) => eprintln!("sluice: snapshot at {} not written: {e}", job.seq),
        }
        if let Err(e) = store.prune(settings.snapshots_keep) {
            eprintln!("sluice: snapshot pruning: {e}");
        }
        if settings.prune_covered_segments {
            prune_covered_segments(&store, &settings.data_dir);
        }
    }
}

/// Deletes the journal segments wholly covered by the oldest valid snapshot kept.
fn prune_covered_segments(store: &SnapshotStore, data_dir: &Path) {
    let oldest = store.list().ok().and_then(|list| {
        list.iter()
            .filter(|s| s.header.is_ok())
            .map(|s| s.seq)
            .min()
    });
    let Some(covered) = oldest else { return };
    match sluice_journal::prune_segments(&sluice_journal::journal_dir(data_dir), covered) {
        Ok(deleted) if !deleted.is_empty() => {
            eprintln!(
                "sluice: {} journal segment(s) covered by snapshot {covered} deleted",
                deleted.len()
            )
        }
        Ok(_) => {}
        Err(e) => eprintln!("sluice: journal pruning: {e}"),
    }
}
