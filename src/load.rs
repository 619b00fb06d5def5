//! The load driver behind `sluice demo` and `sluice loadgen`: many pipelined connections on one mio
//! event loop, payments (plus refunds and queries) generated from a seed, either closed-loop (a window
//! of requests in flight per connection: maximum throughput) or open-loop (requests scheduled at a
//! fixed rate; latency measured from each request's *intended* send time, so a stalled server cannot
//! hide its stalls: no coordinated omission). Latencies go into HdrHistograms.

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustc_hash::FxHashMap;
use sluice_gateway::sim::Rng;
use sluice_protocol::*;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How requests are paced.
#[derive(Debug, Clone, Copy)]
pub enum Pacing {
    /// Keep this many requests in flight per connection.
    Closed { window: usize },
    /// Send at this rate, whatever the server does.
    Open { rate_per_sec: f64 },
}

/// When to stop sending.
#[derive(Debug, Clone, Copy)]
pub enum StopAt {
    Payments(u64),
    Duration(Duration),
}

/// Request mix weights.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub payments: u32,
    pub refunds: u32,
    pub queries: u32,
}

/// Who the connections log in as, and the merchants they pay.
#[derive(Debug, Clone)]
pub struct Identity {
    pub key_id: String,
    pub secret: String,
    pub merchants: Vec<u32>,
}

/// A scheduled action during the run, at a fraction of the payments sent.
pub struct Milestone {
    pub fraction: f64,
    pub action: Box<dyn FnMut()>,
}

/// What to run.
pub struct LoadSpec {
    pub addr: SocketAddr,
    pub connections: usize,
    pub identities: Vec<Identity>,
    pub pacing: Pacing,
    pub stop: StopAt,
    pub warmup: Duration,
    pub mix: Mix,
    pub seed: u64,
    /// Print a progress line every second (stderr).
    pub progress: bool,
    /// After sending stops, wait this long at most for outstanding results.
    pub drain_timeout: Duration,
    pub milestones: Vec<Milestone>,
    /// Open loop: poll the sockets without sleeping and send each request at its time (for a
    /// dedicated core; otherwise sends go out in batches at most `PACING_NS` apart).
    pub busy_poll: bool,
    /// Keep every ack's timing in `LoadReport::ack_trace`.
    pub trace_acks: bool,
}

/// Counts and latencies of a run.
pub struct LoadReport {
    pub payments_sent: u64,
    pub refunds_sent: u64,
    pub queries_sent: u64,
    pub acked: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub rejected_by_rule: BTreeMap<u32, u64>,
    pub succeeded: u64,
    pub failed: u64,
    pub failed_by_reason: BTreeMap<String, u64>,
    pub failed_over: u64,
    pub reviews: u64,
    pub refunds_succeeded: u64,
    pub refunds_failed: u64,
    pub refunds_rejected: u64,
    pub queries_answered: u64,
    pub server_rejects: BTreeMap<String, u64>,
    pub outstanding: u64,
    /// Seconds from the first send to the last send.
    pub send_seconds: f64,
    /// Seconds from the first send until the last final result.
    pub seconds: f64,
    pub asked_rate: Option<f64>,
    pub ack_latency_ns: Histogram<u64>,
    pub result_latency_ns: Histogram<u64>,
    pub final_channels: BTreeMap<u16, (u64, u64)>,
    pub errors: Vec<String>,
    /// With `LoadSpec::trace_acks`: every recorded ack as (intended send ns since the start,
    /// latency ns, connection), in arrival order — to see whether slow answers cluster in time
    /// or on one connection.
    pub ack_trace: Option<Vec<(u64, u64, u16)>>,
}

impl LoadReport {
    /// Payments with a final outcome (result, or rejection at the ack) per second of the run.
    pub fn payments_per_sec(&self) -> f64 {
        if self.seconds <= 0.0 {
            return 0.0;
        }
        (self.succeeded + self.failed + self.rejected) as f64 / self.seconds
    }

    /// Requests sent per second of sending.
    pub fn sent_per_sec(&self) -> f64 {
        let sent = self.payments_sent + self.refunds_sent + self.queries_sent;
        if self.send_seconds <= 0.0 {
            0.0
        } else {
            sent as f64 / self.send_seconds
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    /// Intended send time, ns since the run started.
    sent_ns: u64,
    record: bool,
    acked: bool,
}

struct Conn {
    stream: TcpStream,
    read: Vec<u8>,
    read_start: usize,
    read_end: usize,
    write: Vec<u8>,
    write_pos: usize,
    identity: usize,
    logged_in: bool,
    in_flight: usize,
    closed: bool,
    last_send: Instant,
}

fn histogram() -> Histogram<u64> {
    // 1 ns .. 100 s at 3 significant digits.
    Histogram::new_with_bounds(1, 100_000_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).expect("histogram"))
}

/// The generator of requests.
struct Generator {
    rng: Rng,
    base_id: u64,
    next_payment: u64,
    next_refund: u64,
    refundable: Vec<(u64, i64, usize)>,
    known: Vec<u64>,
}

fn merchant_has_usd(m: u32) -> bool {
    matches!(m, 1001 | 1002 | 2001)
}

impl Generator {
    fn payment(&mut self, identity: &Identity) -> PaymentRequest {
        let r = &mut self.rng;
        self.next_payment += 1;
        let request_id = self.base_id + self.next_payment;
        let merchant =
            identity.merchants[(r.next_u64() % identity.merchants.len().max(1) as u64) as usize];
        let user = match r.next_u64() % 10_000 {
            0..=4 => 666, // on the block list
            _ => 1 + r.next_u64() % 500_000,
        };
        let roll = r.next_u64() % 100;
        let (method, currency) = match roll {
            0..=69 => (PaymentMethod::Wallet, 156),
            70..=89 => (PaymentMethod::Card, 156),
            _ if merchant_has_usd(merchant) => (PaymentMethod::Card, 840),
            _ => (PaymentMethod::Card, 156),
        };
        let amount = match r.next_u64() % 10_000 {
            0..=9 => 6_000_000, // over the single-amount cap
            _ => {
                let exp = r.next_u64() % 4;
                let base = [100u64, 1_000, 10_000, 100_000][exp as usize];
                (base + r.next_u64() % (base * 9)) as i64
            }
        };
        let category = match r.next_u64() % 100 {
            0 => 7995,
            1..=20 => 5411,
            _ => 5999,
        };
        let card = method == PaymentMethod::Card;
        let fingerprint = if card {
            Chars::new(&format!("fp{:014}", user))
        } else {
            Chars::default()
        };
        let ip = Ip::v4([10, (user >> 16) as u8, (user >> 8) as u8, user as u8]);
        PaymentRequest {
            request_id,
            merchant_id: merchant,
            promoter_id: if r.next_u64() % 10 < 3 { 501 } else { 0 },
            amount_minor: amount,
            currency,
            method,
            scene: Scene::from_wire((1 + r.next_u64() % 6) as u8).unwrap_or_default(),
            goods_category: category,
            user_id: user,
            device_id: 1_000_000 + user,
            ip,
            card_fingerprint: fingerprint,
            card_bin: if !card {
                0
            } else if currency == 840 {
                411_111
            } else {
                622_848
            },
            country: Chars::new(if currency == 840 { "US" } else { "CN" }),
        }
    }

    fn refund(&mut self) -> Option<(RefundRequest, usize)> {
        if self.refundable.is_empty() {
            return None;
        }
        let i = (self.rng.next_u64() % self.refundable.len() as u64) as usize;
        let (payment, amount, conn) = self.refundable.swap_remove(i);
        self.next_refund += 1;
        let part = if self.rng.next_u64().is_multiple_of(2) {
            amount
        } else {
            (amount * 3 / 10).max(1)
        };
        Some((
            RefundRequest {
                refund_request_id: self.base_id + (1 << 40) + self.next_refund,
                payment_request_id: payment,
                amount_minor: part,
            },
            conn,
        ))
    }

    fn query(&mut self) -> Option<QueryOrder> {
        if self.known.is_empty() {
            return None;
        }
        let i = (self.rng.next_u64() % self.known.len() as u64) as usize;
        Some(QueryOrder {
            order_id: 0,
            request_id: self.known[i],
        })
    }
}

fn rejected_reason(r: ReasonCode) -> String {
    r.name().to_string()
}

/// Runs a load against a server and returns what it measured.
pub fn run(mut spec: LoadSpec) -> io::Result<LoadReport> {
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(spec.connections);
    for i in 0..spec.connections {
        let std_stream = std::net::TcpStream::connect(spec.addr)?;
        std_stream.set_nodelay(true)?;
        std_stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(std_stream);
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        conns.push(Conn {
            stream,
            read: vec![0u8; 1 << 20],
            read_start: 0,
            read_end: 0,
            write: Vec::with_capacity(1 << 20),
            write_pos: 0,
            identity: i % spec.identities.len().max(1),
            logged_in: false,
            in_flight: 0,
            closed: false,
            last_send: Instant::now(),
        });
    }
    let mut scratch = vec![0u8; MAX_FRAME_BYTES];
    for c in conns.iter_mut() {
        let id = &spec.identities[c.identity];
        let login = Login {
            role: Role::Acquirer,
            key_id: Chars::new(&id.key_id),
            secret: Chars::new(&id.secret),
        };
        let n = encode_frame(&login, &mut scratch).map_err(|e| io::Error::other(e.to_string()))?;
        c.write.extend_from_slice(&scratch[..n]);
    }
    let wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut generator = Generator {
        rng: Rng::new(spec.seed),
        base_id: (wall_ms % (1 << 22)) << 41,
        next_payment: 0,
        next_refund: 0,
        refundable: Vec::with_capacity(1 << 16),
        known: Vec::with_capacity(1 << 16),
    };
    let mut report = LoadReport {
        payments_sent: 0,
        refunds_sent: 0,
        queries_sent: 0,
        acked: 0,
        accepted: 0,
        rejected: 0,
        rejected_by_reason: BTreeMap::new(),
        rejected_by_rule: BTreeMap::new(),
        succeeded: 0,
        failed: 0,
        failed_by_reason: BTreeMap::new(),
        failed_over: 0,
        reviews: 0,
        refunds_succeeded: 0,
        refunds_failed: 0,
        refunds_rejected: 0,
        queries_answered: 0,
        server_rejects: BTreeMap::new(),
        outstanding: 0,
        send_seconds: 0.0,
        seconds: 0.0,
        asked_rate: match spec.pacing {
            Pacing::Open { rate_per_sec } => Some(rate_per_sec),
            Pacing::Closed { .. } => None,
        },
        ack_latency_ns: histogram(),
        result_latency_ns: histogram(),
        final_channels: BTreeMap::new(),
        errors: Vec::new(),
        ack_trace: spec.trace_acks.then(|| Vec::with_capacity(1 << 20)),
    };
    let mut timer = Timer::new(&poll)?;
    let mut in_flight: FxHashMap<u64, InFlight> =
        FxHashMap::with_capacity_and_hasher(1 << 20, Default::default());
    let mut events = Events::with_capacity(1024);
    // Log in everywhere before the clock starts.
    let login_deadline = Instant::now() + Duration::from_secs(10);
    while conns.iter().any(|c| !c.logged_in && !c.closed) {
        if Instant::now() > login_deadline {
            return Err(io::Error::other("login timed out"));
        }
        poll.poll(&mut events, Some(Duration::from_millis(10)))?;
        for c in conns.iter_mut() {
            flush(c);
            let accepted = read_frames(c, |frame| match decode_any_frame(frame) {
                Ok(AnyMessage::LoginAccepted(_)) => Ok(true),
                Ok(AnyMessage::LoginRejected(r)) => {
                    Err(format!("login rejected: {:?} {}", r.reason, r.text))
                }
                _ => Ok(false),
            })
            .map_err(io::Error::other)?;
            c.logged_in |= accepted;
        }
    }
    let start = Instant::now();
    let now_ns = |start: Instant| start.elapsed().as_nanos() as u64;
    let total_weight = (spec.mix.payments + spec.mix.refunds + spec.mix.queries).max(1);
    let mut sent_total: u64 = 0;
    let mut sending = true;
    let mut last_send_ns = 0u64;
    let mut last_final_ns = 0u64;
    let mut next_progress = Duration::from_secs(1);
    let mut rr = 0usize;
    let mut milestones = std::mem::take(&mut spec.milestones);
    let target_payments = match spec.stop {
        StopAt::Payments(n) => Some(n),
        StopAt::Duration(_) => None,
    };
    let drain_until = |sending_stopped: Instant| sending_stopped + spec.drain_timeout;
    let mut stopped_at: Option<Instant> = None;
    loop {
        let now = now_ns(start);
        // 1. Send what the pacing allows.
        if sending {
            let due: u64 = match spec.pacing {
                Pacing::Open { rate_per_sec } => {
                    let should = (now as f64 / 1e9 * rate_per_sec) as u64 + 1;
                    should.saturating_sub(sent_total)
                }
                Pacing::Closed { window } => {
                    let room: usize = conns
                        .iter()
                        .filter(|c| !c.closed)
                        .map(|c| window.saturating_sub(c.in_flight))
                        .sum();
                    room as u64
                }
            };
            for _ in 0..due {
                let intended = match spec.pacing {
                    Pacing::Open { rate_per_sec } => {
                        ((sent_total as f64) * 1e9 / rate_per_sec) as u64
                    }
                    Pacing::Closed { .. } => now,
                };
                // Pick a connection (round robin; closed loop: one with room).
                let mut chosen = None;
                for _ in 0..conns.len() {
                    rr = (rr + 1) % conns.len();
                    let c = &conns[rr];
                    let room = match spec.pacing {
                        Pacing::Closed { window } => c.in_flight < window,
                        Pacing::Open { .. } => true,
                    };
                    if !c.closed && room {
                        chosen = Some(rr);
                        break;
                    }
                }
                let Some(ci) = chosen else { break };
                let roll = (generator.rng.next_u64() % u64::from(total_weight)) as u32;
                let record = Duration::from_nanos(intended) >= spec.warmup;
                let sent = if roll < spec.mix.payments {
                    let req = generator.payment(&spec.identities[conns[ci].identity]);
                    in_flight.insert(
                        req.request_id,
                        InFlight {
                            sent_ns: intended,
                            record,
                            acked: false,
                        },
                    );
                    push(&mut conns[ci], &req, &mut scratch);
                    report.payments_sent += 1;
                    true
                } else if roll < spec.mix.payments + spec.mix.refunds {
                    match generator.refund() {
                        Some((req, owner)) if !conns[owner].closed => {
                            in_flight.insert(
                                req.refund_request_id,
                                InFlight {
                                    sent_ns: intended,
                                    record,
                                    acked: false,
                                },
                            );
                            push(&mut conns[owner], &req, &mut scratch);
                            conns[owner].in_flight += 1;
                            report.refunds_sent += 1;
                            sent_total += 1;
                            false
                        }
                        _ => false,
                    }
                } else {
                    match generator.query() {
                        Some(q) => {
                            let key = q.request_id | (1 << 63);
                            in_flight.insert(
                                key,
                                InFlight {
                                    sent_ns: intended,
                                    record,
                                    acked: false,
                                },
                            );
                            push(&mut conns[ci], &q, &mut scratch);
                            report.queries_sent += 1;
                            true
                        }
                        None => false,
                    }
                };
                if sent {
                    conns[ci].in_flight += 1;
                    sent_total += 1;
                }
                last_send_ns = now;
                let target_done = target_payments.is_some_and(|t| report.payments_sent >= t);
                if let Some(t) = target_payments {
                    let fraction = report.payments_sent as f64 / t as f64;
                    for m in milestones.iter_mut() {
                        if m.fraction >= 0.0 && fraction >= m.fraction {
                            (m.action)();
                            m.fraction = -1.0;
                        }
                    }
                }
                if target_done {
                    break;
                }
            }
            let done = match spec.stop {
                StopAt::Payments(n) => report.payments_sent >= n,
                StopAt::Duration(d) => Duration::from_nanos(now) >= d,
            };
            if done {
                sending = false;
                stopped_at = Some(Instant::now());
            }
        }
        // 2. Write and read.
        for c in conns.iter_mut() {
            flush(c);
        }
        let timeout = match (sending, spec.pacing) {
            (true, Pacing::Open { .. }) if spec.busy_poll => Some(Duration::ZERO),
            (true, Pacing::Open { rate_per_sec }) => {
                // Sleep in epoll until the next send is due or an answer arrives: the timer fires
                // with microsecond precision (epoll's own timeout has millisecond granularity).
                // Sends go out in small batches at most PACING_NS apart; a request sent late is
                // still measured from its intended time, so the batching is charged, not hidden.
                let next = ((sent_total as f64) * 1e9 / rate_per_sec) as u64;
                let wait = next.saturating_sub(now_ns(start));
                timer.arm(wait.max(PACING_NS));
                Some(Duration::from_millis(10))
            }
            (true, Pacing::Closed { .. }) => Some(Duration::from_millis(1)),
            (false, _) => Some(Duration::from_millis(5)),
        };
        poll.poll(&mut events, timeout)?;
        timer.clear();
        let t = now_ns(start);
        for (ci, c) in conns.iter_mut().enumerate() {
            if c.closed {
                continue;
            }
            let mut completed = 0usize;
            let result = read_frames(c, |frame| {
                // Answers come back on the connection that sent the request.
                completed += usize::from(handle(
                    frame,
                    t,
                    &mut in_flight,
                    &mut report,
                    &mut generator,
                    ci,
                    &mut last_final_ns,
                ));
                Ok(false)
            });
            c.in_flight = c.in_flight.saturating_sub(completed);
            if let Err(e) = result {
                report.errors.push(format!("connection {ci}: {e}"));
                c.closed = true;
            }
        }
        // Keep idle sessions alive.
        for c in conns.iter_mut() {
            if !c.closed && c.last_send.elapsed() > Duration::from_millis(500) {
                push(c, &Heartbeat { timestamp_ns: 0 }, &mut scratch);
            }
        }
        // 3. Progress and the end.
        if spec.progress && start.elapsed() >= next_progress {
            next_progress += Duration::from_secs(1);
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "t={secs:>5.1}s sent {:>9} ({:>8.0}/s) acked {:>9} results {:>9} in flight {:>6}  ack p99 {:>8.3} ms  result p99 {:>8.3} ms",
                sent_total,
                sent_total as f64 / secs,
                report.acked,
                report.succeeded + report.failed,
                in_flight.len(),
                report.ack_latency_ns.value_at_quantile(0.99) as f64 / 1e6,
                report.result_latency_ns.value_at_quantile(0.99) as f64 / 1e6,
            );
        }
        if !sending {
            let drained = in_flight.is_empty() || conns.iter().all(|c| c.closed);
            let timed_out = stopped_at.is_some_and(|s| Instant::now() > drain_until(s));
            if drained || timed_out {
                break;
            }
        }
    }
    report.outstanding = in_flight.len() as u64;
    report.send_seconds = last_send_ns as f64 / 1e9;
    report.seconds = last_final_ns.max(last_send_ns) as f64 / 1e9;
    for c in conns.iter_mut() {
        let n = encode_frame(
            &Logout {
                reason: ReasonCode::None,
                text: codec::text("done"),
            },
            &mut scratch,
        )
        .unwrap_or(0);
        c.write.extend_from_slice(&scratch[..n]);
        flush(c);
    }
    Ok(report)
}

fn push<M: Message>(c: &mut Conn, msg: &M, scratch: &mut [u8]) {
    if let Ok(n) = encode_frame(msg, scratch) {
        if c.write_pos > 0 && c.write_pos == c.write.len() {
            c.write.clear();
            c.write_pos = 0;
        }
        c.write.extend_from_slice(&scratch[..n]);
        c.last_send = Instant::now();
    }
}

fn flush(c: &mut Conn) {
    while c.write_pos < c.write.len() && !c.closed {
        match c.stream.write(&c.write[c.write_pos..]) {
            Ok(0) => {
                c.closed = true;
            }
            Ok(n) => c.write_pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => c.closed = true,
        }
    }
    if c.write_pos == c.write.len() {
        c.write.clear();
        c.write_pos = 0;
    } else if c.write_pos > (1 << 20) {
        c.write.drain(..c.write_pos);
        c.write_pos = 0;
    }
}

/// Reads what the socket has and hands each whole frame to `f`; returns whether `f` said true.
fn read_frames(
    c: &mut Conn,
    mut f: impl FnMut(&[u8]) -> Result<bool, String>,
) -> Result<bool, String> {
    let mut any = false;
    loop {
        if c.read_start > 0 && c.read_end == c.read.len() {
            c.read.copy_within(c.read_start..c.read_end, 0);
            c.read_end -= c.read_start;
            c.read_start = 0;
        }
        let mut got = false;
        match c.stream.read(&mut c.read[c.read_end..]) {
            Ok(0) => return Err("closed by the server".into()),
            Ok(n) => {
                c.read_end += n;
                got = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        loop {
            match frame_length(&c.read[c.read_start..c.read_end], MAX_FRAME_BYTES) {
                Ok(Some(n)) => {
                    let frame = &c.read[c.read_start..c.read_start + n];
                    any |= f(frame)?;
                    c.read_start += n;
                }
                Ok(None) => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        if c.read_start == c.read_end {
            c.read_start = 0;
            c.read_end = 0;
        }
        if !got {
            return Ok(any);
        }
    }
}

fn handle(
    frame: &[u8],
    t: u64,
    in_flight: &mut FxHashMap<u64, InFlight>,
    report: &mut LoadReport,
    generator: &mut Generator,
    conn: usize,
    last_final_ns: &mut u64,
) -> bool {
    let Ok(msg) = decode_any_frame(frame) else {
        *report
            .server_rejects
            .entry("undecodable".into())
            .or_default() += 1;
        return false;
    };
    match msg {
        AnyMessage::PaymentAck(a) => {
            let Some(f) = in_flight.get_mut(&a.request_id) else {
                return false;
            };
            if f.record && !f.acked {
                let latency = t.saturating_sub(f.sent_ns).max(1);
                let _ = report.ack_latency_ns.record(latency);
                if let Some(trace) = report.ack_trace.as_mut() {
                    trace.push((f.sent_ns, latency, conn as u16));
                }
            }
            f.acked = true;
            report.acked += 1;
            if a.status == AckStatus::Accepted {
                report.accepted += 1;
                if a.risk_action == RiskAction::Review {
                    report.reviews += 1;
                }
                return false;
            }
            report.rejected += 1;
            *report
                .rejected_by_reason
                .entry(rejected_reason(a.reason))
                .or_default() += 1;
            if a.risk_rule_id != 0 {
                *report.rejected_by_rule.entry(a.risk_rule_id).or_default() += 1;
            }
            let f = in_flight.remove(&a.request_id);
            if let Some(f) = f.filter(|f| f.record) {
                let _ = report
                    .result_latency_ns
                    .record(t.saturating_sub(f.sent_ns).max(1));
            }
            *last_final_ns = t;
            true
        }
        AnyMessage::PaymentResult(r) => {
            let Some(f) = in_flight.remove(&r.request_id) else {
                return false;
            };
            if f.record {
                let _ = report
                    .result_latency_ns
                    .record(t.saturating_sub(f.sent_ns).max(1));
            }
            *last_final_ns = t;
            let entry = report.final_channels.entry(r.channel_id).or_default();
            entry.0 += 1;
            if r.status == FinalStatus::Succeeded {
                entry.1 += 1;
                report.succeeded += 1;
                if r.attempts > 1 {
                    report.failed_over += 1;
                }
                if generator.refundable.len() < 1 << 20 {
                    generator
                        .refundable
                        .push((r.request_id, r.amount_minor, conn));
                }
                if generator.known.len() < 1 << 20 {
                    generator.known.push(r.request_id);
                }
            } else {
                report.failed += 1;
                *report
                    .failed_by_reason
                    .entry(rejected_reason(r.reason))
                    .or_default() += 1;
            }
            true
        }
        AnyMessage::RefundAck(a) => {
            if a.status != AckStatus::Rejected {
                return false;
            }
            report.refunds_rejected += 1;
            *last_final_ns = t;
            in_flight.remove(&a.refund_request_id).is_some()
        }
        AnyMessage::RefundResult(r) => {
            if in_flight.remove(&r.refund_request_id).is_none() {
                return false;
            }
            *last_final_ns = t;
            if r.status == FinalStatus::Succeeded {
                report.refunds_succeeded += 1;
            } else {
                report.refunds_failed += 1;
            }
            true
        }
        AnyMessage::OrderStatus(s) => {
            let done = in_flight.remove(&(s.request_id | (1 << 63))).is_some();
            report.queries_answered += u64::from(done);
            done
        }
        AnyMessage::Reject(r) => {
            *report
                .server_rejects
                .entry(rejected_reason(r.reason))
                .or_default() += 1;
            r.ref_request_id != 0 && in_flight.remove(&r.ref_request_id).is_some()
        }
        _ => false,
    }
}

/// Shortest sleep between batches of sends, ns. Waking for every request (every 20 µs at 50k/s)
/// costs the load generator more CPU than the server can spare on a 2-core machine.
const PACING_NS: u64 = 200_000;

/// A one-shot timerfd in the load generator's epoll set, for sub-millisecond pacing.
struct Timer {
    fd: std::os::fd::OwnedFd,
}

/// Token of the timer in the poll (connections use their index).
const TIMER: Token = Token(usize::MAX - 1);

impl Timer {
    fn new(poll: &Poll) -> io::Result<Timer> {
        use std::os::fd::{AsRawFd, FromRawFd};
        // SAFETY: timerfd_create takes no pointers; a negative return is an error and is checked.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a file descriptor we just created and own exclusively.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        poll.registry().register(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            TIMER,
            Interest::READABLE,
        )?;
        Ok(Timer { fd })
    }

    /// Fires once, `after_ns` from now.
    fn arm(&mut self, after_ns: u64) {
        use std::os::fd::AsRawFd;
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (after_ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (after_ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec on the stack; a null old-value pointer is allowed.
        unsafe {
            libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut());
        }
    }

    /// Reads the expiration count so the edge-triggered registration fires again.
    fn clear(&mut self) {
        use std::os::fd::AsRawFd;
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into an 8-byte buffer we own; errors (EAGAIN) are ignored.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
    }
}
