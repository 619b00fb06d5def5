//! The gateway: one mio event loop that owns the listener and every connection. Its parts own
//! their state: connections and buffers (`net`), each connection's session (`session`, sans-IO),
//! the sequencer and pulses (`sequencer`), egress gating and routing (`egress`, sans-IO), the
//! simulator bridge (`sim_bridge`) and the pipeline threads (`pipeline`). This module holds the
//! loop that ties them together; `inbound` reads and sequences, `outbound` sends.

mod credentials;
mod inbound;
mod outbound;
mod resume;
mod startup;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use sluice_engine::{Engine, StateHash};
use sluice_journal::{OsStorage, Storage};
use sluice_node::follower::Progress;
use sluice_node::recovery::recover_with_archive;
use sluice_node::{Clock, DurableCursor, Error, Recovered, wall_clock_ns};
use sluice_protocol::*;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::info;

use crate::auth::Keys;
use crate::config::{Config, ServerSection, WaitMode};
use crate::egress::{Egress, Routes};
use crate::metrics::{self, Endpoint, GatewayProbe, Metrics, Names};
use crate::net::{BufferPool, Conn};
use crate::pipeline::{OutputQueue, Pipeline, PipelineSettings, Shared};
use crate::sequencer::Sequencer;
use crate::session::Timers;
use crate::sim::Simulator;
use crate::sim_book::Book;
use crate::sim_book_file::BookFile;
use crate::sim_bridge::SimBridge;
pub use crate::sim_bridge::SimCommand;
use crate::sim_check::{LedgerFigures, ledger_figures};
use crate::sim_payout::PayoutSim;
use crate::sim_payout_book::PayoutBook;
use crate::sim_payout_book_file::{PayoutBookFile, beside};
use crate::wait::pin;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONN: usize = 2;
/// How often connection timers are checked.
const TIMER_INTERVAL: Duration = Duration::from_millis(50);

/// Counters the gateway keeps (for logs and metrics).
#[derive(Debug, Default, Clone)]
pub struct GatewayStats {
    pub accepted: u64,
    pub refused_connections: u64,
    pub logins: u64,
    pub login_failures: u64,
    pub inputs: u64,
    pub rejects: u64,
    pub ring_full: u64,
    pub slow_consumers: u64,
    pub outputs_sent: u64,
    pub outputs_dropped: u64,
    pub sim_replies: u64,
    /// Session resume: started, refused at login, completed, and outputs sent again.
    pub resumes_started: u64,
    pub resumes_refused: u64,
    pub resumes_completed: u64,
    pub outputs_retransmitted: u64,
}

/// What a stopped server reports.
#[derive(Debug, Clone)]
pub struct ServerReport {
    pub last_seq: u64,
    pub state_hash: Option<StateHash>,
    /// What the engine booked per (channel, currency) when it stopped: the fault run's check
    /// compares it with the simulated channels' book (`sim_check`).
    pub channel_figures: BTreeMap<(u16, u16), LedgerFigures>,
    pub stats: GatewayStats,
    pub error: Option<String>,
}

/// Options that are not in the configuration file.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Log the start-up steps (recovery, prefaulting, the metrics address) at info.
    pub verbose: bool,
    /// Where the sequencer's event time comes from: the wall clock, or a scripted clock that the
    /// caller drives (a simulated month in seconds; see `sluice_node::clock`).
    pub clock: Clock,
    /// The storage the journal and snapshots are written through (None: the operating system's).
    /// Tests pass a `sluice_journal::FaultyStorage` to fail chosen calls.
    pub storage: Option<Arc<dyn Storage>>,
    /// The file the configuration was read from (`serve --config`): on an existing data directory
    /// its business sections are compared with the journaled state and any difference is reported
    /// at start, with how to apply it. Never applied by a start: the journal is the truth.
    pub config_file: Option<PathBuf>,
    /// Applied to the recovered engine before the first input: tests switch the engine's
    /// test-only behaviour with it (e.g. no automatic reversals, to show a check that then fails).
    pub prepare_engine: Option<fn(&mut Engine)>,
}

/// Registers followers in the metrics from any thread ([`Server::follower_registry`]).
#[derive(Clone)]
pub struct FollowerRegistry(Option<Arc<Metrics>>);

impl FollowerRegistry {
    /// Reports `progress` under `name`, replacing what was registered under it.
    pub fn register(&self, name: &str, progress: Arc<Progress>) {
        if let Some(m) = &self.0 {
            m.register_follower(name, progress);
        }
    }
}

/// A started server: its address, and a flag that stops it.
pub struct Server {
    gateway: Gateway,
    pub local_addr: SocketAddr,
    pub stop: Arc<AtomicBool>,
    /// The metrics endpoint's address, when `[metrics] enabled`.
    pub metrics_addr: Option<SocketAddr>,
    metrics: Option<Arc<Metrics>>,
    /// Serves until the server is dropped (after `run` returns).
    _endpoint: Option<Endpoint>,
}

impl Server {
    /// Recovers the data directory, binds the listener and starts the pipeline threads. The event
    /// loop runs when `run` is called (on the caller's thread).
    pub fn start(config: Config, options: ServeOptions) -> Result<Server, Error> {
        let storage = options
            .storage
            .clone()
            .unwrap_or_else(|| Arc::new(OsStorage));
        let mut recovered = recover_with_archive(
            &config.data_dir,
            &config.archive_dir(),
            config.journal_config(),
            &config.world,
            options.clock.now_ns(),
            storage.clone(),
        )?;
        if let Some(prepare) = options.prepare_engine {
            prepare(&mut recovered.engine);
        }
        if options.verbose {
            startup::log_recovery(&recovered.log);
        }
        if let Some(file) = &options.config_file {
            startup::report_config_drift(file, &config, &recovered.engine);
        }
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| Error::new(format!("listen on {}: {e}", config.listen)))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::new(e.to_string()))?;
        let metrics =
            (config.metrics.enabled).then(|| Metrics::new(Names::of_world(&config.world)));
        let metrics_listen = config.metrics.listen;
        let sources = (options.clock, storage, metrics.clone());
        let gateway = Gateway::new(config, recovered, listener, sources)?;
        let endpoint = metrics
            .as_ref()
            .map(|m| start_endpoint(metrics_listen, m, &gateway.shared))
            .transpose()?;
        if let (true, Some(e)) = (options.verbose, endpoint.as_ref()) {
            let addr = e.local_addr();
            info!(%addr, "metrics at http://{addr}/metrics");
        }
        let (bytes, took) = gateway
            .pipeline
            .as_ref()
            .map(|p| p.prefaulted)
            .unwrap_or_default();
        if options.verbose && bytes > 0 {
            let (mib, millis) = (bytes >> 20, took.as_millis() as u64);
            info!(
                mib,
                millis, "engine tables prefaulted: {mib} MiB in {millis} ms"
            );
        }
        let stop = gateway.stop.clone();
        Ok(Server {
            gateway,
            local_addr,
            stop,
            metrics_addr: endpoint.as_ref().map(Endpoint::local_addr),
            metrics,
            _endpoint: endpoint,
        })
    }

    /// Reports a follower's progress in the metrics (when they are enabled), under `name`.
    pub fn register_follower(&self, name: &str, progress: Arc<Progress>) {
        if let Some(m) = &self.metrics {
            m.register_follower(name, progress);
        }
    }

    /// A handle that reports followers' progress in the metrics (when they are enabled) while
    /// the server runs: a follower that reopens registers its new progress under the same name.
    pub fn follower_registry(&self) -> FollowerRegistry {
        FollowerRegistry(self.metrics.clone())
    }

    /// Changes a simulated channel (e.g. schedules an outage) before `run`.
    pub fn simulator_mut(&mut self) -> Option<&mut Simulator> {
        self.gateway.sims.simulator_mut()
    }

    /// The journal's durable cursor, for followers of this server's journal.
    pub fn durable_cursor(&self) -> DurableCursor {
        self.gateway.shared.durable.clone()
    }

    /// What the pipeline threads share: the durable cursor and the processor's applied sequence.
    pub fn shared(&self) -> Arc<Shared> {
        self.gateway.shared.clone()
    }

    /// The merchant notifier (None: `[notify]` off), for its delivery figures while it runs.
    pub fn notifier(&self) -> Option<Arc<sluice_notify::Notifier>> {
        let pipeline = self.gateway.pipeline.as_ref();
        pipeline.and_then(|p| p.notifier.clone())
    }

    /// A handle to command the simulator while the server runs.
    pub fn sim_control(&self) -> crossbeam::channel::Sender<SimCommand> {
        self.gateway.sims.control()
    }

    /// Runs the event loop until `stop` is set or a pipeline thread fails; then drains, flushes,
    /// snapshots and returns.
    pub fn run(mut self) -> ServerReport {
        self.gateway.run()
    }
}

/// A session id as a log field: text, not a number. Ids are the start time in ms shifted left by
/// 16 bits (about 1.2e17), past the 2^53 that JSON tools reading numbers as doubles keep exactly
/// (JavaScript, jq before 1.7), where neighbouring sessions, one apart, would read the same.
fn session_field(id: u64) -> tracing::field::DisplayValue<u64> {
    tracing::field::display(id)
}

/// Binds the metrics endpoint and starts its thread.
fn start_endpoint(
    listen: SocketAddr,
    metrics: &Arc<Metrics>,
    shared: &Arc<Shared>,
) -> Result<Endpoint, Error> {
    let render = metrics::render(metrics.clone(), shared.clone());
    Endpoint::start(listen, metrics::READ_TIMEOUT, render)
        .map_err(|e| Error::new(format!("metrics endpoint on {listen}: {e}")))
}

/// The in-process channel simulator, when the configuration enables it, with its book read back
/// from `[simulator] book` when set.
fn sim_bridge(config: &Config) -> Result<SimBridge, Error> {
    let sim = &config.simulator;
    if !sim.enabled {
        return Ok(SimBridge::new(None));
    }
    // The book holds every attempt and refund of the orders the engine keeps, in its table or as
    // receipts of retired orders (docs/ENGINE.md, "Retention"). It forgets nothing: a server that
    // retires orders for longer than that makes it full, and a full book answers dispatches as
    // errors (the simulator stands for a channel's records, which a real channel keeps).
    let g = &config.world.genesis;
    let kept = g.orders_max as usize + g.receipts_max as usize;
    let entries_max = kept * MAX_ATTEMPTS + g.refunds_max as usize;
    let simulator = Simulator::new(&sim.channels, sim.seed, wall_clock_ns(), 1 << 20)
        .with_faults(sim.faults.clone())
        .with_bill_channels(crate::sim_bills::bill_channels(config));
    // The payout channels (bank transfers): at most 65,536 answers waiting to be sent; their
    // book, like the payment channels', forgets nothing while the server runs.
    let payouts = PayoutSim::new(&sim.payout_channels, sim.seed, 1 << 16);
    let Some(path) = &sim.book else {
        let book = Book::new(false).with_entries_max(entries_max);
        return Ok(SimBridge::new(Some(simulator.with_book(book))).with_payouts(payouts));
    };
    let (payout_file, payout_records) =
        PayoutBookFile::open(&beside(path), false).map_err(Error::new)?;
    let mut payout_book = PayoutBook::new(true);
    payout_records.iter().for_each(|r| payout_book.apply(r));
    let payouts = payouts.with_book(payout_book);
    let (file, records) = BookFile::open(path, false).map_err(Error::new)?;
    let mut book = Book::new(true).with_entries_max(entries_max);
    records.iter().for_each(|r| book.apply(r));
    info!(
        records = records.len(),
        "simulator: book {} read back",
        path.display()
    );
    Ok(SimBridge::new(Some(simulator.with_book(book)))
        .with_payouts(payouts)
        .with_payout_file(payout_file)
        .with_book_file(file))
}

/// The session timers of `[server]`.
fn timers(s: &ServerSection) -> Timers {
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    Timers {
        heartbeat_every: ms(s.heartbeat_interval_ms),
        idle_timeout: ms(s.idle_timeout_ms),
        login_timeout: ms(s.login_timeout_ms),
    }
}

struct Gateway {
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Slab<Conn>,
    max_connections: usize,
    buffers: BufferPool,
    write_cap: usize,
    routes: Routes,
    /// The login table: the engine's credentials, kept current by its `CredentialUpdate`s.
    keys: Keys,
    next_session: u64,
    pipeline: Option<Pipeline>,
    /// The processor's output chunks (kept past the pipeline's stop, to send the last ones).
    outputs: Arc<OutputQueue>,
    shared: Arc<Shared>,
    sequencer: Sequencer,
    /// `sequencer.published` when the consumers were last unparked.
    unparked_at: u64,
    egress: Egress,
    /// Connections with bytes queued to write.
    dirty: Vec<usize>,
    /// Connections whose frames wait for room in the ring.
    stalled: Vec<usize>,
    sims: SimBridge,
    timers: Timers,
    last_timers: Instant,
    scratch: Vec<u8>,
    stop: Arc<AtomicBool>,
    stats: GatewayStats,
    core: Option<usize>,
    /// `wait = "spin"`: the event loop busy-polls (epoll with a zero timeout) on its dedicated
    /// core instead of sleeping; a sleeping core's wake-up is what a spinning pipeline avoids.
    spin: bool,
    /// What the gateway keeps for the metrics (None: metrics off).
    probe: Option<Box<GatewayProbe>>,
    /// Session resume: what egress routed per acquirer, the sessions resuming, the worker.
    resume: resume::ResumeState,
}

impl Gateway {
    fn new(
        config: Config,
        recovered: Recovered,
        mut listener: TcpListener,
        (clock, storage, metrics): (Clock, Arc<dyn Storage>, Option<Arc<Metrics>>),
    ) -> Result<Gateway, Error> {
        let io = |e: io::Error| Error::new(format!("event loop: {e}"));
        let poll = Poll::new().map_err(io)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(io)?;
        let shared = Shared::new();
        shared.set_waker(Arc::new(Waker::new(poll.registry(), WAKER).map_err(io)?));
        let p = &config.pipeline;
        let sequencer = Sequencer::new(
            recovered.engine.last_seq() + 1,
            recovered.last_timestamp_ns,
            clock,
            Duration::from_millis(u64::from(p.pulse_interval_ms)),
        );
        let keys = Keys::from_engine(&recovered.engine);
        let probe = metrics.clone().map(|m| Box::new(GatewayProbe::new(m)));
        let last_seq = recovered.engine.last_seq();
        probe.iter().for_each(|p| p.publish_sequenced(last_seq));
        let settings = PipelineSettings {
            metrics,
            ..PipelineSettings::from_config(&config, storage)
        };
        let pipeline = Pipeline::start(
            recovered,
            p.ring_size as usize,
            p.output_chunks as usize,
            p.output_chunk_bytes as usize,
            settings,
            shared.clone(),
        )
        .map_err(io)?;
        let s = &config.server;
        let max_connections = s.max_connections as usize;
        Ok(Gateway {
            poll,
            listener: Some(listener),
            conns: Slab::with_capacity(max_connections),
            max_connections,
            buffers: BufferPool::new(max_connections, s.read_buffer_bytes as usize),
            write_cap: s.write_buffer_bytes as usize,
            routes: Routes::default(),
            keys,
            // Session ids differ across restarts: the high bits are the start time in ms.
            next_session: (wall_clock_ns() / 1_000_000) << 16,
            outputs: pipeline.outputs.clone(),
            resume: resume::ResumeState::new(&config, &pipeline, &shared)?,
            pipeline: Some(pipeline),
            shared,
            sequencer,
            unparked_at: 0,
            egress: Egress::default(),
            dirty: Vec::with_capacity(max_connections),
            stalled: Vec::with_capacity(max_connections),
            sims: sim_bridge(&config)?,
            timers: timers(s),
            last_timers: Instant::now(),
            scratch: vec![0u8; MAX_FRAME_BYTES],
            stop: Arc::new(AtomicBool::new(false)),
            stats: GatewayStats::default(),
            core: config.pipeline.pin_cores.first().copied(),
            spin: config.wait == WaitMode::Spin,
            probe,
        })
    }

    fn run(&mut self) -> ServerReport {
        pin(self.core);
        let mut events = Events::with_capacity(1024);
        let error = loop {
            if self.stop.load(Ordering::Acquire) {
                break None;
            }
            if let Some(e) = self.shared.fatal_error() {
                break Some(e);
            }
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                break Some(format!("epoll: {e}"));
            }
            self.shared.gateway_parked.store(false, Ordering::Release);
            if let Some(p) = self.probe.as_deref_mut() {
                p.tick();
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(t) => {
                        let key = t - FIRST_CONN;
                        if event.is_writable() {
                            self.flush(key);
                        }
                        if event.is_readable() || event.is_read_closed() {
                            self.on_readable(key);
                        }
                    }
                }
            }
            self.turn();
        };
        self.shutdown(error)
    }

    /// One turn of work after the poll: stalled reads, simulator, pulse, egress, timers, closes.
    fn turn(&mut self) {
        self.retry_stalled();
        self.deliver_sim_replies();
        if let Some(producer) = self.pipeline.as_mut().and_then(|p| p.producer.as_mut()) {
            self.sequencer.maybe_pulse(producer, Instant::now());
        }
        self.wake_consumers();
        self.drain_outputs();
        self.resume_turn();
        self.flush_dirty();
        if self.last_timers.elapsed() >= TIMER_INTERVAL {
            self.check_timers();
            if let Some(p) = &self.probe {
                p.publish(&self.stats, self.conns.len());
            }
        }
        self.close_finished();
    }

    fn poll_timeout(&mut self) -> Option<Duration> {
        let busy = !self.stalled.is_empty() || !self.dirty.is_empty();
        let mut timeout = self
            .sequencer
            .until_pulse(Instant::now())
            .min(TIMER_INTERVAL);
        if let Some(due) = self.sims.next_due_ns() {
            timeout = timeout.min(Duration::from_nanos(due.saturating_sub(wall_clock_ns())));
        }
        if busy || self.spin {
            return Some(Duration::ZERO);
        }
        // Announce the sleep, then look once more so a wake between the check and the flag is not lost.
        // The fence pairs with the one in `Shared::wake_gateway` (see there).
        self.shared.gateway_parked.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        let resume_ready = self
            .resume
            .worker
            .as_ref()
            .is_some_and(|w| !w.replies.is_empty());
        if self.egress_ready() || resume_ready {
            self.shared.gateway_parked.store(false, Ordering::Release);
            return Some(Duration::ZERO);
        }
        Some(timeout)
    }

    /// Whether egress has something it could send now.
    fn egress_ready(&self) -> bool {
        self.egress.ready(self.shared.durable.get(), &self.outputs)
    }

    /// Unparks the pipeline's consumers if anything was published since they were last woken.
    #[inline]
    fn wake_consumers(&mut self) {
        if self.sequencer.published != self.unparked_at {
            self.unparked_at = self.sequencer.published;
            if let Some(p) = self.pipeline.as_ref() {
                p.unpark_consumers();
            }
            if let Some(p) = &self.probe {
                p.publish_sequenced(self.sequencer.next_seq - 1);
            }
        }
    }

    /// Stops accepting and reading, lets what was sequenced drain through journal and engine,
    /// sends what is durable, stops the pipeline (final snapshot) and logs every session out.
    fn shutdown(&mut self, error: Option<String>) -> ServerReport {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let last = self.sequencer.next_seq - 1;
        let deadline = Instant::now() + Duration::from_secs(30);
        while error.is_none() && Instant::now() < deadline {
            let done = self.shared.applied_seq.load(Ordering::Acquire) >= last
                && self.shared.durable.get() >= last;
            self.drain_outputs();
            self.flush_dirty();
            if done && !self.egress.holds_outputs() && self.outputs.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let engine: Option<Engine> = self.pipeline.take().and_then(|p| p.stop(error.is_none()));
        self.drain_outputs();
        self.flush_dirty();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.send_logout(key, ReasonCode::ServerShuttingDown, "server stopping");
            self.flush(key);
            self.close(key);
        }
        self.stats.inputs = self.sequencer.published;
        ServerReport {
            last_seq: engine.as_ref().map_or(last, |e| e.last_seq()),
            state_hash: engine.as_ref().map(|e| e.state_hash()),
            channel_figures: engine.as_ref().map(ledger_figures).unwrap_or_default(),
            stats: self.stats.clone(),
            error,
        }
    }
}
