//! The input ring's hand-off against the baseline, in the same run: one producer and one consumer
//! passing a payment-sized (128-byte) event through the `disruptor` ring (the gateway's input ring,
//! consumed with an `EventPoller` as the journaler and the processor do) and through a crossbeam
//! bounded channel. Throughput is events per second, in two modes:
//!
//! - round trip (`disruptor`, `disruptor_batch`, `crossbeam`): the producer publishes a burst, then
//!   waits until the consumer has seen all of it, so one iteration is one burst handed off and
//!   seen — the gateway's case of one socket read's frames reaching an idle consumer. For small
//!   bursts this measures how fast a waiting consumer notices, which on a VM is dominated by the
//!   cost of `sched_yield` rather than by the queue.
//! - streaming (`…_stream`): the producer publishes bursts back to back, waiting only while the
//!   queue is full, and the timing ends when the consumer has seen the last event — sustained
//!   hand-off under load.
//!
//! Variants: `disruptor` publishes each event with `try_publish`, as the gateway's sequencer does;
//! `disruptor_batch` claims and publishes the whole burst with `try_batch_publish` (one cursor
//! update per burst); `crossbeam` sends each event with `try_send`.
//!
//! Both consumers and the producer wait the same way — a short spin, then `yield_now` — so the
//! bench is fair on a 2-core machine where the threads share the cores with everything else; the
//! producer is pinned to core 0 and the consumer to core 1.
//!
//! Goal: the ring hands off at least twice crossbeam's throughput at burst 10.
//!
//! `cargo bench --bench ring`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam::channel::TryRecvError;
use crossbeam::utils::CachePadded;
use disruptor::{BusySpin, Polling, Producer};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Ring and channel capacity: far above the largest burst, so neither ever fills.
const CAPACITY: usize = 1024;
const BURSTS: [u64; 3] = [1, 10, 100];
/// Spins before each `yield_now` while waiting.
const SPINS_BEFORE_YIELD: u32 = 64;

/// A payment-sized input: the ring slot's header fields and a payload.
#[derive(Clone, Copy)]
struct Event {
    seq: u64,
    timestamp_ns: u64,
    kind: u16,
    len: u16,
    payload: [u8; 108],
}

const _: () = assert!(std::mem::size_of::<Event>() == 128);

impl Event {
    fn empty() -> Self {
        Event {
            seq: 0,
            timestamp_ns: 0,
            kind: 0,
            len: 0,
            payload: [0; 108],
        }
    }

    /// What a consumer does with an event: read the header and touch the payload.
    #[inline]
    fn digest(&self) -> u64 {
        self.seq ^ self.timestamp_ns ^ u64::from(self.kind) ^ u64::from(self.payload[0])
    }
}

/// Spin a little, then yield: the same wait for every thread of both variants.
struct Backoff(u32);

impl Backoff {
    #[inline]
    fn snooze(&mut self) {
        self.0 += 1;
        if self.0 < SPINS_BEFORE_YIELD {
            std::hint::spin_loop();
        } else {
            self.0 = 0;
            std::thread::yield_now();
        }
    }
}

/// How many events the consumer has seen (written by the consumer only).
type Seen = Arc<CachePadded<AtomicU64>>;

fn wait_until_seen(seen: &AtomicU64, target: u64) {
    let mut backoff = Backoff(0);
    while seen.load(Ordering::Acquire) < target {
        backoff.snooze();
    }
}

/// Fills an event the way the sequencer fills a slot: header fields and a payload copy.
#[inline]
fn fill(e: &mut Event, seq: u64, template: &[u8; 108]) {
    e.seq = seq;
    e.timestamp_ns = seq.wrapping_mul(1_000);
    e.kind = 10;
    e.len = 108;
    e.payload = *template;
}

/// Pins the calling thread: the producer on core 0, each consumer on core 1 (a thread per core, as
/// the pipeline runs with `pin_cores`; unpinned, the scheduler of a busy 2-core machine sometimes
/// puts both on one core and the figure measures context switches).
///
/// The cores are listed once, before any thread is pinned: `get_core_ids` lists the calling thread's
/// allowed cores, and a thread spawned by a pinned thread inherits its single-core mask (listing
/// them from the consumer put it on the producer's core).
fn pin(core: usize) {
    static CORES: std::sync::OnceLock<Vec<core_affinity::CoreId>> = std::sync::OnceLock::new();
    let cores = CORES.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default());
    match cores.get(core) {
        Some(&id) if core_affinity::set_for_current(id) => {}
        _ => eprintln!("ring bench: could not pin a thread to core {core}; figures may mix cores"),
    }
}

fn spawn_ring_consumer(
    mut poller: disruptor::EventPoller<Event, disruptor::SingleProducerBarrier>,
    seen: Seen,
) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        pin(1);
        let mut count = 0u64;
        let mut digest = 0u64;
        let mut backoff = Backoff(0);
        loop {
            match poller.poll() {
                Ok(mut events) => {
                    for e in &mut events {
                        digest ^= e.digest();
                        count += 1;
                    }
                    seen.store(count, Ordering::Release);
                    backoff = Backoff(0);
                }
                Err(Polling::NoEvents) => backoff.snooze(),
                Err(Polling::Shutdown) => return black_box(digest),
            }
        }
    })
}

fn spawn_channel_consumer(rx: crossbeam::channel::Receiver<Event>, seen: Seen) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        pin(1);
        let mut count = 0u64;
        let mut digest = 0u64;
        let mut backoff = Backoff(0);
        loop {
            match rx.try_recv() {
                Ok(e) => {
                    digest ^= e.digest();
                    count += 1;
                    // Drain what is there, then publish the count once (as the poller does per batch).
                    while let Ok(e) = rx.try_recv() {
                        digest ^= e.digest();
                        count += 1;
                    }
                    seen.store(count, Ordering::Release);
                    backoff = Backoff(0);
                }
                Err(TryRecvError::Empty) => backoff.snooze(),
                Err(TryRecvError::Disconnected) => return black_box(digest),
            }
        }
    })
}

type RingProducer = disruptor::SingleProducer<Event, disruptor::SingleConsumerBarrier>;

/// Publishes `n` events one by one, spinning while the ring is full; returns the last sequence.
#[inline]
fn publish_each(producer: &mut RingProducer, published: &mut u64, n: u64, template: &[u8; 108]) {
    for _ in 0..n {
        *published += 1;
        let seq = *published;
        while producer.try_publish(|e| fill(e, seq, template)).is_err() {
            std::hint::spin_loop();
        }
    }
}

/// Claims and publishes `n` events at once, spinning while the ring lacks room.
#[inline]
fn publish_batch(producer: &mut RingProducer, published: &mut u64, n: u64, template: &[u8; 108]) {
    let first = *published + 1;
    while producer
        .try_batch_publish(n as usize, |events| {
            for (i, e) in events.enumerate() {
                fill(e, first + i as u64, template);
            }
        })
        .is_err()
    {
        std::hint::spin_loop();
    }
    *published += n;
}

/// Sends `n` events one by one, spinning while the channel is full.
#[inline]
fn send_each(tx: &crossbeam::channel::Sender<Event>, sent: &mut u64, n: u64, template: &[u8; 108]) {
    for _ in 0..n {
        *sent += 1;
        let mut e = Event::empty();
        fill(&mut e, *sent, template);
        let mut e = Some(e);
        while let Some(event) = e.take() {
            if let Err(err) = tx.try_send(event) {
                e = Some(err.into_inner());
                std::hint::spin_loop();
            }
        }
    }
}

fn new_ring() -> (RingProducer, Seen, JoinHandle<u64>) {
    let builder = disruptor::build_single_producer(CAPACITY, Event::empty, BusySpin);
    let (poller, builder) = builder.new_event_poller();
    let producer = builder.build();
    let seen: Seen = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let consumer = spawn_ring_consumer(poller, seen.clone());
    (producer, seen, consumer)
}

fn new_channel() -> (crossbeam::channel::Sender<Event>, Seen, JoinHandle<u64>) {
    let (tx, rx) = crossbeam::channel::bounded::<Event>(CAPACITY);
    let seen: Seen = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let consumer = spawn_channel_consumer(rx, seen.clone());
    (tx, seen, consumer)
}

fn ring(c: &mut Criterion) {
    let template = [0x5Au8; 108];
    pin(0);
    let mut group = c.benchmark_group("ring_handoff");
    group.measurement_time(Duration::from_secs(4));
    for burst in BURSTS {
        group.throughput(Throughput::Elements(burst));

        // Round trip: publish a burst, wait until it is seen.
        let (mut producer, seen, consumer) = new_ring();
        let mut published = 0u64;
        group.bench_with_input(BenchmarkId::new("disruptor", burst), &burst, |b, &n| {
            b.iter(|| {
                publish_each(&mut producer, &mut published, n, &template);
                wait_until_seen(&seen, published);
            })
        });
        drop(producer);
        let _ = consumer.join();

        // The same ring, the burst claimed and published at once (one cursor update per burst):
        // what the gateway could do with the frames of one socket read.
        let (mut producer, seen, consumer) = new_ring();
        let mut published = 0u64;
        group.bench_with_input(
            BenchmarkId::new("disruptor_batch", burst),
            &burst,
            |b, &n| {
                b.iter(|| {
                    publish_batch(&mut producer, &mut published, n, &template);
                    wait_until_seen(&seen, published);
                })
            },
        );
        drop(producer);
        let _ = consumer.join();

        let (tx, seen, consumer) = new_channel();
        let mut sent = 0u64;
        group.bench_with_input(BenchmarkId::new("crossbeam", burst), &burst, |b, &n| {
            b.iter(|| {
                send_each(&tx, &mut sent, n, &template);
                wait_until_seen(&seen, sent);
            })
        });
        drop(tx);
        let _ = consumer.join();

        // Streaming: bursts back to back; the clock stops when the last event has been seen.
        let (mut producer, seen, consumer) = new_ring();
        let mut published = 0u64;
        group.bench_with_input(
            BenchmarkId::new("disruptor_stream", burst),
            &burst,
            |b, &n| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        publish_each(&mut producer, &mut published, n, &template);
                    }
                    wait_until_seen(&seen, published);
                    start.elapsed()
                })
            },
        );
        drop(producer);
        let _ = consumer.join();

        let (mut producer, seen, consumer) = new_ring();
        let mut published = 0u64;
        group.bench_with_input(
            BenchmarkId::new("disruptor_batch_stream", burst),
            &burst,
            |b, &n| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        publish_batch(&mut producer, &mut published, n, &template);
                    }
                    wait_until_seen(&seen, published);
                    start.elapsed()
                })
            },
        );
        drop(producer);
        let _ = consumer.join();

        let (tx, seen, consumer) = new_channel();
        let mut sent = 0u64;
        group.bench_with_input(
            BenchmarkId::new("crossbeam_stream", burst),
            &burst,
            |b, &n| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        send_each(&tx, &mut sent, n, &template);
                    }
                    wait_until_seen(&seen, sent);
                    start.elapsed()
                })
            },
        );
        drop(tx);
        let _ = consumer.join();
    }
    group.finish();
}

criterion_group!(benches, ring);
criterion_main!(benches);
