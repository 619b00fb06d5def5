//! The gateway: one mio event loop that owns the listener and every connection, authenticates
//! sessions, enforces roles, validates frames, sequences inputs into the ring (the only producer),
//! injects pulses, runs the in-process channel simulator, and is egress: it routes each output to
//! its session once the input that caused it is durable.

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use rustc_hash::FxHashMap;
use slab::Slab;
use sluice_engine::{DestKind, Engine, OutIter, OutRecord, StateHash};
use sluice_protocol::*;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::auth;
use crate::config::{Config, Credential, WaitMode};
use crate::pipeline::{
    InputSlot, OutChunk, Pipeline, PipelineSettings, SLOT_PAYLOAD_BYTES, Shared,
};
use crate::sim::{SimReply, Simulator};
use crate::wait::pin;
use sluice_node::{Clock, DurableCursor, Error, Recovered, recover, wall_clock_ns};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONN: usize = 2;
/// Session ids of the in-process simulated channels (never handed to a peer).
const SIM_SESSION_BASE: u64 = 1 << 62;
/// How often connection timers are checked.
const TIMER_INTERVAL: Duration = Duration::from_millis(50);

/// A logged-in session.
#[derive(Debug, Clone, Copy)]
struct Session {
    id: u64,
    role: Role,
    principal: u32,
}

/// Why a connection is being closed.
#[derive(Debug, Clone)]
enum Closing {
    /// Flush what is queued, then close.
    AfterFlush(String),
    /// Close now (the peer is gone or misbehaving beyond a reply).
    Now(String),
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    read_buf: Box<[u8]>,
    read_len: usize,
    write_buf: Vec<u8>,
    write_pos: usize,
    session: Option<Session>,
    opened: Instant,
    last_recv: Instant,
    last_send: Instant,
    closing: Option<Closing>,
    /// Frames wait in `read_buf` because the ring was full.
    stalled: bool,
}

/// Counters the gateway keeps (for logs).
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
}

/// What a stopped server reports.
#[derive(Debug, Clone)]
pub struct ServerReport {
    pub last_seq: u64,
    pub state_hash: Option<StateHash>,
    pub stats: GatewayStats,
    pub error: Option<String>,
}

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
}

/// Options that are not in the configuration file.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Print the start-up log to stderr.
    pub verbose: bool,
    /// Where the sequencer's event time comes from: the wall clock, or a scripted clock that the
    /// caller drives (a simulated month in seconds; see `sluice_node::clock`).
    pub clock: Clock,
}

/// A started server: its address, and a flag that stops it.
pub struct Server {
    gateway: Gateway,
    pub local_addr: SocketAddr,
    pub stop: Arc<AtomicBool>,
}

impl Server {
    /// Recovers the data directory, binds the listener and starts the pipeline threads. The event
    /// loop runs when `run` is called (on the caller's thread).
    pub fn start(config: Config, options: ServeOptions) -> Result<Server, Error> {
        let recovered = recover(
            &config.data_dir,
            config.journal_config(),
            &config.world,
            options.clock.now_ns(),
        )?;
        for line in &recovered.log {
            if options.verbose {
                eprintln!("sluice: {line}");
            }
        }
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| Error::new(format!("listen on {}: {e}", config.listen)))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::new(e.to_string()))?;
        let gateway = Gateway::new(config, recovered, listener, options.clock)?;
        let (bytes, took) = gateway
            .pipeline
            .as_ref()
            .map(|p| p.prefaulted)
            .unwrap_or_default();
        if options.verbose && bytes > 0 {
            eprintln!(
                "sluice: engine tables prefaulted: {} MiB in {} ms",
                bytes >> 20,
                took.as_millis()
            );
        }
        let stop = gateway.stop.clone();
        Ok(Server {
            gateway,
            local_addr,
            stop,
        })
    }

    /// Changes a simulated channel (e.g. schedules an outage) before `run`.
    pub fn simulator_mut(&mut self) -> Option<&mut Simulator> {
        self.gateway.sim.as_mut()
    }

    /// The journal's durable cursor, for followers of this server's journal.
    pub fn durable_cursor(&self) -> DurableCursor {
        self.gateway.shared.durable.clone()
    }

    /// What the pipeline threads share: the durable cursor and the processor's applied sequence.
    pub fn shared(&self) -> Arc<Shared> {
        self.gateway.shared.clone()
    }

    /// A handle to command the simulator while the server runs.
    pub fn sim_control(&self) -> crossbeam::channel::Sender<SimCommand> {
        self.gateway.sim_commands.0.clone()
    }

    /// Runs the event loop until `stop` is set or a pipeline thread fails; then drains, flushes,
    /// snapshots and returns.
    pub fn run(mut self) -> ServerReport {
        self.gateway.run()
    }
}

struct Gateway {
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Slab<Conn>,
    max_connections: usize,
    free_read_bufs: Vec<Box<[u8]>>,
    free_write_bufs: Vec<Vec<u8>>,
    write_cap: usize,
    sessions: FxHashMap<u64, usize>,
    acquirer_latest: FxHashMap<u32, usize>,
    channel_conns: FxHashMap<u16, usize>,
    admins: Vec<usize>,
    credentials: Vec<Credential>,
    next_session: u64,
    // Sequencer.
    pipeline: Option<Pipeline>,
    shared: Arc<Shared>,
    sequencer: Sequencer,
    /// `sequencer.published` when the consumers were last unparked.
    unparked_at: u64,
    pulse_every: Duration,
    last_pulse: Instant,
    // Egress.
    current: Option<(Box<OutChunk>, usize)>,
    dirty: Vec<usize>,
    stalled: Vec<usize>,
    sim: Option<Simulator>,
    heartbeat_every: Duration,
    idle_timeout: Duration,
    login_timeout: Duration,
    last_timers: Instant,
    scratch: Vec<u8>,
    stop: Arc<AtomicBool>,
    stats: GatewayStats,
    core: Option<usize>,
    /// `wait = "spin"`: the event loop busy-polls (epoll with a zero timeout) on its dedicated
    /// core instead of sleeping; a sleeping core's wake-up is what a spinning pipeline avoids.
    spin: bool,
    sim_commands: (
        crossbeam::channel::Sender<SimCommand>,
        crossbeam::channel::Receiver<SimCommand>,
    ),
}

impl Gateway {
    fn new(
        config: Config,
        recovered: Recovered,
        mut listener: TcpListener,
        clock: Clock,
    ) -> Result<Gateway, Error> {
        let io = |e: io::Error| Error::new(format!("event loop: {e}"));
        let poll = Poll::new().map_err(io)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(io)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(io)?);
        let shared = Shared::new();
        shared.set_waker(waker);
        let next_seq = recovered.engine.last_seq() + 1;
        let last_ts = recovered.last_timestamp_ns;
        let settings = PipelineSettings::from_config(&config);
        let p = &config.pipeline;
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
        let read_bytes = s.read_buffer_bytes as usize;
        // Buffers for every possible connection, allocated now (pages are touched on first use).
        let free_read_bufs = (0..max_connections)
            .map(|_| vec![0u8; read_bytes].into_boxed_slice())
            .collect();
        let free_write_bufs = (0..max_connections)
            .map(|_| Vec::with_capacity(256 * 1024))
            .collect();
        let sim = config.simulator.enabled.then(|| {
            Simulator::new(
                &config.simulator.channels,
                config.simulator.seed,
                wall_clock_ns(),
                1 << 20,
            )
        });
        Ok(Gateway {
            poll,
            listener: Some(listener),
            conns: Slab::with_capacity(max_connections),
            max_connections,
            free_read_bufs,
            free_write_bufs,
            write_cap: s.write_buffer_bytes as usize,
            sessions: FxHashMap::default(),
            acquirer_latest: FxHashMap::default(),
            channel_conns: FxHashMap::default(),
            admins: Vec::with_capacity(max_connections),
            credentials: config.credentials.clone(),
            next_session: (wall_clock_ns() / 1_000_000) << 16,
            pipeline: Some(pipeline),
            shared,
            unparked_at: 0,
            sequencer: Sequencer {
                next_seq,
                last_ts,
                published: 0,
                clock_jumps: clock.jumps(),
                clock,
            },
            pulse_every: Duration::from_millis(u64::from(p.pulse_interval_ms)),
            last_pulse: Instant::now(),
            current: None,
            dirty: Vec::with_capacity(max_connections),
            stalled: Vec::with_capacity(max_connections),
            sim,
            heartbeat_every: Duration::from_millis(u64::from(s.heartbeat_interval_ms)),
            idle_timeout: Duration::from_millis(u64::from(s.idle_timeout_ms)),
            login_timeout: Duration::from_millis(u64::from(s.login_timeout_ms)),
            last_timers: Instant::now(),
            scratch: vec![0u8; MAX_FRAME_BYTES],
            stop: Arc::new(AtomicBool::new(false)),
            stats: GatewayStats::default(),
            core: config.pipeline.pin_cores.first().copied(),
            spin: config.wait == WaitMode::Spin,
            sim_commands: crossbeam::channel::unbounded(),
        })
    }

    fn run(&mut self) -> ServerReport {
        pin(self.core);
        let mut events = Events::with_capacity(1024);
        let mut error = None;
        loop {
            if self.stop.load(Ordering::Acquire) {
                break;
            }
            if let Some(e) = self.shared.fatal_error() {
                error = Some(e);
                break;
            }
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                error = Some(format!("epoll: {e}"));
                break;
            }
            self.shared.gateway_parked.store(false, Ordering::Release);
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
        }
        self.shutdown(error)
    }

    /// One turn of work after the poll: stalled reads, simulator, pulse, egress, timers, closes.
    fn turn(&mut self) {
        self.retry_stalled();
        self.deliver_sim_replies();
        self.maybe_pulse();
        self.wake_consumers();
        self.drain_outputs();
        self.flush_dirty();
        if self.last_timers.elapsed() >= TIMER_INTERVAL {
            self.check_timers();
        }
        self.close_finished();
    }

    fn poll_timeout(&mut self) -> Option<Duration> {
        let busy = !self.stalled.is_empty() || !self.dirty.is_empty();
        let until_pulse = self.pulse_every.saturating_sub(self.last_pulse.elapsed());
        let mut timeout = until_pulse.min(TIMER_INTERVAL);
        if let Some(due) = self.sim.as_ref().and_then(|s| s.next_due_ns()) {
            let now = wall_clock_ns();
            timeout = timeout.min(Duration::from_nanos(due.saturating_sub(now)));
        }
        if busy || self.spin {
            return Some(Duration::ZERO);
        }
        // Announce the sleep, then look once more so a wake between the check and the flag is not lost.
        // The fence pairs with the one in `Shared::wake_gateway` (see there).
        self.shared.gateway_parked.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.egress_ready() {
            self.shared.gateway_parked.store(false, Ordering::Release);
            return Some(Duration::ZERO);
        }
        Some(timeout)
    }

    /// Whether egress has something it could send now.
    fn egress_ready(&self) -> bool {
        let durable = self.shared.durable.get();
        match &self.current {
            Some((chunk, at)) => OutIter::from_offset(chunk.outbox.bytes(), *at)
                .peek()
                .is_some_and(|r| r.input_seq <= durable),
            None => self
                .pipeline
                .as_ref()
                .is_some_and(|p| !p.outputs.is_empty()),
        }
    }

    // --- connections -------------------------------------------------------------------------

    fn accept(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.on_accept(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("sluice: accept: {e}");
                    return;
                }
            }
        }
    }

    fn on_accept(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        if self.conns.len() >= self.max_connections {
            self.stats.refused_connections += 1;
            let n = encode_frame(
                &Logout {
                    reason: ReasonCode::TooManyConnections,
                    text: codec::text("connection cap reached"),
                },
                &mut self.scratch,
            )
            .unwrap_or(0);
            let _ = stream.write(&self.scratch[..n]);
            return;
        }
        let (Some(read_buf), Some(write_buf)) =
            (self.free_read_bufs.pop(), self.free_write_bufs.pop())
        else {
            return;
        };
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let token = Token(key + FIRST_CONN);
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            eprintln!("sluice: register {peer}: {e}");
            self.free_read_bufs.push(read_buf);
            self.free_write_bufs.push(write_buf);
            return;
        }
        let now = Instant::now();
        entry.insert(Conn {
            stream,
            peer,
            read_buf,
            read_len: 0,
            write_buf,
            write_pos: 0,
            session: None,
            opened: now,
            last_recv: now,
            last_send: now,
            closing: None,
            stalled: false,
        });
        self.stats.accepted += 1;
    }

    fn on_readable(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.stalled || conn.closing.is_some() {
            return;
        }
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            if conn.read_len == conn.read_buf.len() {
                // Full: make room by handling frames, then read on.
                if !self.handle_frames(key) {
                    return;
                }
                continue;
            }
            let Conn {
                stream,
                read_buf,
                read_len,
                ..
            } = conn;
            match stream.read(&mut read_buf[*read_len..]) {
                Ok(0) => {
                    conn.closing = Some(Closing::Now("peer closed the connection".into()));
                    break;
                }
                Ok(n) => {
                    conn.read_len += n;
                    conn.last_recv = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    conn.closing = Some(Closing::Now(format!("read: {e}")));
                    break;
                }
            }
        }
        self.handle_frames(key);
        self.wake_consumers();
    }

    /// Handles the complete frames in the connection's read buffer. Returns false when it has to
    /// stop (ring full, or the connection is closing).
    fn handle_frames(&mut self, key: usize) -> bool {
        let mut at = 0;
        let mut keep_going = true;
        loop {
            let Some(conn) = self.conns.get(key) else {
                return false;
            };
            if conn.closing.is_some() {
                keep_going = false;
                break;
            }
            let available = &conn.read_buf[at..conn.read_len];
            let len = match frame_length(available, MAX_INBOUND_FRAME_BYTES) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => {
                    // The stream cannot be trusted after a framing error: say why and close.
                    self.send_logout(key, e.reason(), &e.to_string());
                    self.close_after_flush(key, format!("framing error: {e}"));
                    keep_going = false;
                    break;
                }
            };
            match self.handle_frame(key, at, len) {
                FrameOutcome::Done => at += len,
                FrameOutcome::RingFull => {
                    keep_going = false;
                    self.stats.ring_full += 1;
                    if let Some(c) = self.conns.get_mut(key)
                        && !c.stalled
                    {
                        c.stalled = true;
                        self.stalled.push(key);
                    }
                    break;
                }
            }
        }
        if let Some(conn) = self.conns.get_mut(key)
            && at > 0
        {
            conn.read_buf.copy_within(at..conn.read_len, 0);
            conn.read_len -= at;
        }
        keep_going
    }

    fn handle_frame(&mut self, key: usize, at: usize, len: usize) -> FrameOutcome {
        let Some(conn) = self.conns.get(key) else {
            return FrameOutcome::Done;
        };
        let session = conn.session;
        let sbe_start = at + SOFH_LEN;
        let sbe_end = at + len;
        let header = match MessageHeader::read(&conn.read_buf[sbe_start..sbe_end]) {
            Ok(h) => h,
            Err(e) => {
                let reason = match e {
                    DecodeError::WrongSchema { .. } => ReasonCode::WrongSchema,
                    _ => ReasonCode::MalformedMessage,
                };
                self.send_reject(key, 0, reason, 0, &e.to_string());
                return FrameOutcome::Done;
            }
        };
        let template = header.template_id;
        let Some(session) = session else {
            if template == Login::TEMPLATE_ID {
                self.login(key, header, sbe_start, sbe_end);
            } else {
                self.send_reject(
                    key,
                    template,
                    ReasonCode::NotLoggedIn,
                    0,
                    "only Login is accepted before login",
                );
                self.close_after_flush(key, "message before login".into());
            }
            return FrameOutcome::Done;
        };
        match template {
            t if t == Login::TEMPLATE_ID => {
                self.send_reject(key, t, ReasonCode::AlreadyLoggedIn, 0, "already logged in");
                FrameOutcome::Done
            }
            t if t == Heartbeat::TEMPLATE_ID => FrameOutcome::Done,
            t if t == Logout::TEMPLATE_ID => {
                self.send_logout(key, ReasonCode::None, "goodbye");
                self.close_after_flush(key, "logout".into());
                FrameOutcome::Done
            }
            t => self.publish_request(key, session, header, sbe_start, sbe_end, t),
        }
    }

    fn publish_request(
        &mut self,
        key: usize,
        session: Session,
        header: MessageHeader,
        sbe_start: usize,
        sbe_end: usize,
        template: u16,
    ) -> FrameOutcome {
        let Some(conn) = self.conns.get(key) else {
            return FrameOutcome::Done;
        };
        let body = &conn.read_buf[sbe_start + MESSAGE_HEADER_LEN..sbe_end];
        // Decode first, so that a refusal names the request it refuses when the body is readable.
        let decoded = AnyMessage::decode(header, body).map(|m| ref_request_id(&m));
        if !may_send(session.role, template) {
            if template_name(template).is_some() {
                self.send_reject(
                    key,
                    template,
                    ReasonCode::RoleNotAllowed,
                    decoded.unwrap_or(0),
                    "this role may not send this message",
                );
            } else {
                self.send_reject(
                    key,
                    template,
                    ReasonCode::UnknownTemplate,
                    0,
                    &format!("template id {template} is unknown"),
                );
            }
            return FrameOutcome::Done;
        }
        if let Err(e) = decoded {
            let reason = match e {
                DecodeError::UnknownTemplate { .. } => ReasonCode::UnknownTemplate,
                _ => ReasonCode::MalformedMessage,
            };
            self.send_reject(key, template, reason, 0, &e.to_string());
            return FrameOutcome::Done;
        }
        let Gateway {
            conns,
            pipeline,
            sequencer,
            ..
        } = self;
        let Some(producer) = pipeline.as_mut().and_then(|p| p.producer.as_mut()) else {
            return FrameOutcome::Done;
        };
        let sbe = &conns[key].read_buf[sbe_start..sbe_end];
        if sequencer.publish(
            producer,
            sbe,
            session.id,
            session.principal,
            session.role as u8,
            template,
        ) {
            FrameOutcome::Done
        } else {
            FrameOutcome::RingFull
        }
    }

    /// Sequences one input into the ring. False when the ring is full.
    fn publish(
        &mut self,
        sbe: &[u8],
        session_id: u64,
        principal: u32,
        role: u8,
        kind: u16,
    ) -> bool {
        let Some(producer) = self.pipeline.as_mut().and_then(|p| p.producer.as_mut()) else {
            return false;
        };
        self.sequencer
            .publish(producer, sbe, session_id, principal, role, kind)
    }

    /// Unparks the pipeline's consumers if anything was published since they were last woken.
    #[inline]
    fn wake_consumers(&mut self) {
        if self.sequencer.published != self.unparked_at {
            self.unparked_at = self.sequencer.published;
            if let Some(p) = self.pipeline.as_ref() {
                p.unpark_consumers();
            }
        }
    }

    fn login(&mut self, key: usize, header: MessageHeader, sbe_start: usize, sbe_end: usize) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        let body = &conn.read_buf[sbe_start + MESSAGE_HEADER_LEN..sbe_end];
        let login = match Login::read_body(header.block_length, body) {
            Ok(l) => l,
            Err(e) => {
                self.send_login_rejected(key, ReasonCode::MalformedMessage, &e.to_string());
                return;
            }
        };
        let key_id = login.key_id.as_str().into_owned();
        let secret = login.secret.as_str().into_owned();
        let Some(cred) =
            auth::authenticate(&self.credentials, &key_id, login.role, &secret).cloned()
        else {
            self.stats.login_failures += 1;
            eprintln!(
                "sluice: login refused for key {key_id:?} from {}",
                conn.peer
            );
            self.send_login_rejected(
                key,
                ReasonCode::BadCredentials,
                "unknown key, wrong secret or role",
            );
            return;
        };
        self.next_session += 1;
        let session = Session {
            id: self.next_session,
            role: cred.role,
            principal: cred.principal_id,
        };
        if let Some(conn) = self.conns.get_mut(key) {
            conn.session = Some(session);
        }
        self.sessions.insert(session.id, key);
        match cred.role {
            Role::Acquirer => {
                self.acquirer_latest.insert(cred.principal_id, key);
            }
            Role::Channel => {
                self.channel_conns.insert(cred.principal_id as u16, key);
            }
            Role::Admin => self.admins.push(key),
        }
        self.stats.logins += 1;
        let accepted = LoginAccepted {
            session_id: session.id,
            principal_id: cred.principal_id,
            role: cred.role,
            heartbeat_interval_ms: self.heartbeat_every.as_millis() as u32,
            idle_timeout_ms: self.idle_timeout.as_millis() as u32,
            max_frame_bytes: MAX_INBOUND_FRAME_BYTES as u32,
        };
        self.send_msg(key, &accepted);
    }

    fn retry_stalled(&mut self) {
        if self.stalled.is_empty() {
            return;
        }
        let stalled = std::mem::take(&mut self.stalled);
        let mut still = Vec::with_capacity(stalled.len());
        for key in stalled {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            conn.stalled = false;
            if !self.handle_frames(key) {
                if self.conns.get(key).is_some_and(|c| c.stalled) {
                    // handle_frames pushed it again; keep the order of the others.
                    self.stalled.retain(|k| *k != key);
                    still.push(key);
                }
                continue;
            }
            // Unstalled: read what the socket still holds (edge-triggered readiness was consumed).
            self.on_readable(key);
        }
        still.append(&mut self.stalled);
        self.stalled = still;
    }

    // --- sequencer-generated inputs ----------------------------------------------------------

    fn maybe_pulse(&mut self) {
        let jumps = self.sequencer.clock.jumps();
        if self.last_pulse.elapsed() < self.pulse_every && jumps == self.sequencer.clock_jumps {
            return;
        }
        let n = encode_sbe(&Pulse { flags: 0 }, &mut self.scratch).unwrap_or(0);
        let sbe = self.scratch[..n].to_vec();
        if self.publish(
            &sbe,
            0,
            0,
            sluice_engine::ROLE_SEQUENCER,
            Pulse::TEMPLATE_ID,
        ) {
            self.last_pulse = Instant::now();
        }
    }

    fn deliver_sim_replies(&mut self) {
        let Some(mut sim) = self.sim.take() else {
            return;
        };
        let now = wall_clock_ns();
        while let Ok(command) = self.sim_commands.1.try_recv() {
            match command {
                SimCommand::Outage {
                    channel_id,
                    seconds,
                    mode,
                } => {
                    eprintln!("sluice: simulator: channel {channel_id} fails ({mode}) from now");
                    sim.start_outage(channel_id, now, seconds, &mode);
                }
                SimCommand::Recover { channel_id } => {
                    eprintln!("sluice: simulator: channel {channel_id} works again");
                    sim.end_outages(channel_id);
                }
            }
        }
        let mut buf = [0u8; 256];
        while let Some((channel, reply)) = sim.due(now) {
            let (n, kind) = match &reply {
                SimReply::Payment(r) => (
                    encode_sbe(r, &mut buf).unwrap_or(0),
                    ChannelResult::TEMPLATE_ID,
                ),
                SimReply::Refund(r) => (
                    encode_sbe(r, &mut buf).unwrap_or(0),
                    RefundChannelResult::TEMPLATE_ID,
                ),
            };
            let session = SIM_SESSION_BASE + u64::from(channel);
            if !self.publish(
                &buf[..n],
                session,
                u32::from(channel),
                Role::Channel as u8,
                kind,
            ) {
                sim.defer(channel, reply, now);
                break;
            }
            self.stats.sim_replies += 1;
        }
        self.sim = Some(sim);
    }

    // --- egress ------------------------------------------------------------------------------

    fn drain_outputs(&mut self) {
        let durable = self.shared.durable.get();
        loop {
            if self.current.is_none() {
                let Some(chunk) = self.pipeline.as_ref().and_then(|p| p.outputs.pop()) else {
                    return;
                };
                self.current = Some((chunk, 0));
            }
            let Some((chunk, at)) = self.current.take() else {
                return;
            };
            let mut iter = OutIter::from_offset(chunk.outbox.bytes(), at);
            let mut blocked = false;
            while let Some(record) = iter.peek() {
                if record.input_seq > durable {
                    blocked = true;
                    break;
                }
                self.route(&record);
                iter.next();
            }
            if blocked {
                let offset = iter.offset();
                self.current = Some((chunk, offset));
                return;
            }
            if let Some(p) = self.pipeline.as_ref() {
                p.outputs.recycle(chunk);
                // A processor waiting for a free chunk may be parked.
                p.unpark_consumers();
            }
        }
    }

    fn route(&mut self, r: &OutRecord<'_>) {
        let target = match r.dest.kind {
            DestKind::Session => self.sessions.get(&r.dest.session_id).copied(),
            DestKind::Acquirer => self
                .sessions
                .get(&r.dest.session_id)
                .copied()
                .filter(|&k| {
                    self.conns.get(k).and_then(|c| c.session).is_some_and(|s| {
                        s.role == Role::Acquirer && s.principal == r.dest.principal_id
                    })
                })
                .or_else(|| self.acquirer_latest.get(&r.dest.principal_id).copied()),
            DestKind::Channel => {
                let channel = r.dest.principal_id as u16;
                match self.channel_conns.get(&channel).copied() {
                    Some(k) => Some(k),
                    None => {
                        self.send_to_simulator(channel, r.frame);
                        return;
                    }
                }
            }
            DestKind::Admins => {
                for i in 0..self.admins.len() {
                    let k = self.admins[i];
                    self.queue_frame(k, r.frame);
                }
                return;
            }
        };
        match target {
            Some(k) => self.queue_frame(k, r.frame),
            None => self.stats.outputs_dropped += 1,
        }
    }

    fn send_to_simulator(&mut self, channel: u16, frame: &[u8]) {
        let Some(sim) = self.sim.as_mut().filter(|s| s.serves(channel)) else {
            // No connector: the attempt times out at its deadline and fails over.
            self.stats.outputs_dropped += 1;
            return;
        };
        let now = wall_clock_ns();
        match decode_any_frame(frame) {
            Ok(AnyMessage::Dispatch(d)) => sim.on_dispatch(&d, now),
            Ok(AnyMessage::RefundDispatch(d)) => sim.on_refund(&d, now),
            _ => {}
        }
    }

    /// Queues a frame for a connection, disconnecting a client that stopped reading.
    fn queue_frame(&mut self, key: usize, frame: &[u8]) {
        let cap = self.write_cap;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.closing.is_some() {
            return;
        }
        if conn.write_buf.len() - conn.write_pos + frame.len() > cap {
            self.stats.slow_consumers += 1;
            eprintln!(
                "sluice: disconnecting slow consumer {} (session {:?}): {} bytes unread",
                conn.peer,
                conn.session.map(|s| s.id),
                conn.write_buf.len() - conn.write_pos
            );
            conn.closing = Some(Closing::Now("slow consumer: outbound buffer full".into()));
            return;
        }
        if conn.write_pos > 0 && conn.write_buf.len() + frame.len() > conn.write_buf.capacity() {
            // Reclaim the sent prefix before growing.
            conn.write_buf.drain(..conn.write_pos);
            conn.write_pos = 0;
        }
        let was_empty = conn.write_buf.len() == conn.write_pos;
        conn.write_buf.extend_from_slice(frame);
        self.stats.outputs_sent += 1;
        if was_empty {
            self.dirty.push(key);
        }
    }

    fn send_msg<M: Message>(&mut self, key: usize, msg: &M) {
        let mut scratch = std::mem::take(&mut self.scratch);
        if let Ok(n) = encode_frame(msg, &mut scratch) {
            self.queue_frame(key, &scratch[..n]);
        }
        self.scratch = scratch;
    }

    fn send_reject(
        &mut self,
        key: usize,
        template: u16,
        reason: ReasonCode,
        request_id: u64,
        why: &str,
    ) {
        self.stats.rejects += 1;
        let msg = Reject {
            ref_template_id: template,
            reason,
            ref_request_id: request_id,
            text: codec::text(why),
        };
        self.send_msg(key, &msg);
    }

    fn send_logout(&mut self, key: usize, reason: ReasonCode, why: &str) {
        self.send_msg(
            key,
            &Logout {
                reason,
                text: codec::text(why),
            },
        );
    }

    fn send_login_rejected(&mut self, key: usize, reason: ReasonCode, why: &str) {
        self.send_msg(
            key,
            &LoginRejected {
                reason,
                text: codec::text(why),
            },
        );
        self.close_after_flush(key, format!("login rejected: {why}"));
    }

    fn close_after_flush(&mut self, key: usize, why: String) {
        if let Some(c) = self.conns.get_mut(key)
            && c.closing.is_none()
        {
            c.closing = Some(Closing::AfterFlush(why));
        }
    }

    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &key in &dirty {
            self.flush(key);
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    /// Writes as much as the socket takes.
    fn flush(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        while conn.write_pos < conn.write_buf.len() {
            match conn.stream.write(&conn.write_buf[conn.write_pos..]) {
                Ok(0) => {
                    conn.closing = Some(Closing::Now("write returned 0".into()));
                    return;
                }
                Ok(n) => {
                    conn.write_pos += n;
                    conn.last_send = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    conn.closing = Some(Closing::Now(format!("write: {e}")));
                    return;
                }
            }
        }
        conn.write_buf.clear();
        conn.write_pos = 0;
    }

    fn check_timers(&mut self) {
        self.last_timers = Instant::now();
        let now = Instant::now();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            let Some(conn) = self.conns.get(key) else {
                continue;
            };
            if conn.closing.is_some() {
                continue;
            }
            if conn.session.is_none() && now.duration_since(conn.opened) > self.login_timeout {
                self.send_logout(key, ReasonCode::NotLoggedIn, "no login in time");
                self.close_after_flush(key, "login timeout".into());
            } else if now.duration_since(conn.last_recv) > self.idle_timeout {
                self.send_logout(key, ReasonCode::HeartbeatTimeout, "idle too long");
                self.close_after_flush(key, "idle timeout".into());
            } else if conn.session.is_some()
                && now.duration_since(conn.last_send) > self.heartbeat_every
                && conn.write_buf.is_empty()
            {
                self.send_msg(
                    key,
                    &Heartbeat {
                        timestamp_ns: wall_clock_ns(),
                    },
                );
            }
        }
    }

    fn close_finished(&mut self) {
        let closing: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.closing.is_some())
            .map(|(k, _)| k)
            .collect();
        for key in closing {
            if let Some(Closing::AfterFlush(_)) =
                self.conns.get(key).and_then(|c| c.closing.clone())
            {
                self.flush(key);
            }
            self.close(key);
        }
    }

    /// The one place a connection is closed and deregistered.
    fn close(&mut self, key: usize) {
        if !self.conns.contains(key) {
            return;
        }
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if let Some(s) = conn.session {
            self.sessions.remove(&s.id);
            if self.acquirer_latest.get(&s.principal) == Some(&key) && s.role == Role::Acquirer {
                self.acquirer_latest.remove(&s.principal);
                // Another live session of the same acquirer takes over its results.
                if let Some((k, _)) = self.conns.iter().find(|(_, c)| {
                    c.session
                        .is_some_and(|x| x.role == Role::Acquirer && x.principal == s.principal)
                }) {
                    self.acquirer_latest.insert(s.principal, k);
                }
            }
            if s.role == Role::Channel
                && self.channel_conns.get(&(s.principal as u16)) == Some(&key)
            {
                self.channel_conns.remove(&(s.principal as u16));
            }
            self.admins.retain(|k| *k != key);
        }
        if let Some(Closing::Now(why) | Closing::AfterFlush(why)) = &conn.closing
            && (why.starts_with("slow consumer") || why.starts_with("framing"))
        {
            eprintln!("sluice: closed {}: {why}", conn.peer);
        }
        self.stalled.retain(|k| *k != key);
        conn.write_buf.clear();
        self.free_write_bufs
            .push(std::mem::take(&mut conn.write_buf));
        self.free_read_bufs
            .push(std::mem::replace(&mut conn.read_buf, Box::new([])));
    }

    // --- shutdown ----------------------------------------------------------------------------

    fn shutdown(&mut self, error: Option<String>) -> ServerReport {
        // Stop accepting and reading; let what was sequenced drain through journal and engine.
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
            if done
                && !self.egress_ready()
                && self.pipeline.as_ref().is_none_or(|p| p.outputs.is_empty())
            {
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
            last_seq: engine.as_ref().map(|e| e.last_seq()).unwrap_or(last),
            state_hash: engine.as_ref().map(|e| e.state_hash()),
            stats: self.stats.clone(),
            error,
        }
    }
}

enum FrameOutcome {
    Done,
    RingFull,
}

/// The request id a Reject names for a refused message (0 when the message has none).
fn ref_request_id(m: &AnyMessage) -> u64 {
    match m {
        AnyMessage::PaymentRequest(m) => m.request_id,
        AnyMessage::RefundRequest(m) => m.refund_request_id,
        AnyMessage::WithdrawRequest(m) => m.withdraw_request_id,
        AnyMessage::QueryOrder(m) if m.request_id == 0 => m.order_id,
        AnyMessage::QueryOrder(m) => m.request_id,
        AnyMessage::ChannelResult(m) => m.order_id,
        AnyMessage::RefundChannelResult(m) => m.refund_id,
        _ => 0,
    }
}

/// The sequencer: assigns each input its sequence and event time and publishes it into the ring.
struct Sequencer {
    next_seq: u64,
    last_ts: u64,
    published: u64,
    /// The source of event time.
    clock: Clock,
    /// `clock.jumps()` when the sequencer last pulsed: a scripted jump is pulsed at once.
    clock_jumps: u64,
}

impl Sequencer {
    /// Publishes one input. False when the ring is full (nothing was consumed).
    fn publish(
        &mut self,
        producer: &mut crate::pipeline::RingProducer,
        sbe: &[u8],
        session_id: u64,
        principal: u32,
        role: u8,
        kind: u16,
    ) -> bool {
        if sbe.len() + sluice_engine::ENVELOPE_LEN > SLOT_PAYLOAD_BYTES {
            // Cannot happen: frames over the inbound maximum are refused before this.
            return true;
        }
        let seq = self.next_seq;
        // Event time never goes back, also across restarts (the journal's last timestamp).
        let ts = self.last_ts.max(self.clock.now_ns());
        let published = disruptor::Producer::try_publish(producer, |slot: &mut InputSlot| {
            slot.seq = seq;
            slot.timestamp_ns = ts;
            slot.kind = kind;
            sluice_engine::write_envelope(&mut slot.payload, session_id, principal, role);
            let end = sluice_engine::ENVELOPE_LEN + sbe.len();
            slot.payload[sluice_engine::ENVELOPE_LEN..end].copy_from_slice(sbe);
            slot.len = end as u16;
        });
        if published.is_err() {
            return false;
        }
        self.next_seq += 1;
        self.last_ts = ts;
        self.published += 1;
        true
    }
}
