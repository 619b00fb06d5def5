//! The load driver behind `sluice demo` and `sluice loadgen`: many pipelined connections on one mio
//! event loop, payments (plus refunds and queries) generated from a seed, either closed-loop (a window
//! of requests in flight per connection: maximum throughput) or open-loop (requests scheduled at a
//! fixed rate; latency measured from each request's *intended* send time, so a stalled server cannot
//! hide its stalls: no coordinated omission). Latencies go into HdrHistograms.

mod answers;
mod conn;

use hdrhistogram::Histogram;
use mio::{Events, Poll, Token};
use rustc_hash::FxHashMap;
use sluice_protocol::*;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use answers::{InFlight, Tally, query_key, resend_key};
use conn::{Conn, PACING_NS, Timer, flush, push, read_frames};
use sluice_workload::Workload;

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
    /// Exact resends of payments sent before (answered `duplicate` = 1).
    pub resends: u32,
    /// Per mille of payments that ask for a consumer installment plan (schema 9,
    /// docs/INSTALLMENTS.md): 3, 6 or 12 installments, half of them with interest.
    pub installments: u32,
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
    pub resends_sent: u64,
    /// Resends answered with the original outcome (`duplicate` = 1).
    pub resends_answered: u64,
    /// Queries answered for an order retired from the server's order table.
    pub queries_retired: u64,
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

    /// Requests sent, every kind.
    pub fn sent(&self) -> u64 {
        self.payments_sent + self.refunds_sent + self.queries_sent + self.resends_sent
    }

    /// Requests sent per second of sending.
    pub fn sent_per_sec(&self) -> f64 {
        let sent = self.sent();
        if self.send_seconds <= 0.0 {
            0.0
        } else {
            sent as f64 / self.send_seconds
        }
    }
}

fn histogram() -> Histogram<u64> {
    // 1 ns .. 100 s at 3 significant digits.
    Histogram::new_with_bounds(1, 100_000_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).expect("histogram"))
}

impl LoadReport {
    fn new(spec: &LoadSpec) -> LoadReport {
        LoadReport {
            payments_sent: 0,
            refunds_sent: 0,
            queries_sent: 0,
            resends_sent: 0,
            resends_answered: 0,
            queries_retired: 0,
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
        }
    }
}

/// Runs a load against a server and returns what it measured.
pub fn run(mut spec: LoadSpec) -> io::Result<LoadReport> {
    let mut driver = Driver::connect(&spec)?;
    driver.log_in()?;
    let mut milestones = std::mem::take(&mut spec.milestones);
    driver.start = Instant::now();
    let mut sending = true;
    let mut stopped_at: Option<Instant> = None;
    let mut next_progress = Duration::from_secs(1);
    loop {
        let now = driver.now_ns();
        if sending && driver.send_due(&spec, &mut milestones, now) {
            sending = false;
            stopped_at = Some(Instant::now());
        }
        driver.wait(&spec, sending)?;
        driver.read_answers();
        driver.keep_alive();
        if spec.progress && driver.start.elapsed() >= next_progress {
            next_progress += Duration::from_secs(1);
            driver.print_progress();
        }
        if !sending {
            let drained = driver.in_flight.is_empty() || driver.conns.iter().all(|c| c.closed);
            let timed_out = stopped_at.is_some_and(|s| Instant::now() > s + spec.drain_timeout);
            if drained || timed_out {
                break;
            }
        }
    }
    Ok(driver.finish())
}

/// The state of a run.
struct Driver {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    scratch: Vec<u8>,
    workload: Workload,
    report: LoadReport,
    timer: Timer,
    in_flight: FxHashMap<u64, InFlight>,
    start: Instant,
    sent_total: u64,
    last_send_ns: u64,
    last_final_ns: u64,
    /// Round-robin cursor over the connections.
    rr: usize,
}

impl Driver {
    /// Connects every connection and queues its Login.
    fn connect(spec: &LoadSpec) -> io::Result<Driver> {
        let poll = Poll::new()?;
        let identities = spec.identities.len().max(1);
        let mut conns = Vec::with_capacity(spec.connections);
        for i in 0..spec.connections {
            conns.push(Conn::connect(spec.addr, &poll, Token(i), i % identities)?);
        }
        let mut scratch = vec![0u8; MAX_FRAME_BYTES];
        for c in conns.iter_mut() {
            let id = &spec.identities[c.identity];
            let login = Login {
                role: Role::Acquirer,
                key_id: Chars::new(&id.key_id),
                secret: Chars::new(&id.secret),
                ..Default::default()
            };
            push(c, &login, &mut scratch);
        }
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // Request ids differ between runs against the same server.
        let mut workload = Workload::new(spec.seed, (wall_ms % (1 << 22)) << 41);
        workload.set_installment_permille(spec.mix.installments);
        Ok(Driver {
            timer: Timer::new(&poll)?,
            poll,
            events: Events::with_capacity(1024),
            conns,
            scratch,
            workload,
            report: LoadReport::new(spec),
            in_flight: FxHashMap::with_capacity_and_hasher(1 << 20, Default::default()),
            start: Instant::now(),
            sent_total: 0,
            last_send_ns: 0,
            last_final_ns: 0,
            rr: 0,
        })
    }

    /// Logs in everywhere before the clock starts.
    fn log_in(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.conns.iter().any(|c| !c.logged_in && !c.closed) {
            if Instant::now() > deadline {
                return Err(io::Error::other("login timed out"));
            }
            self.poll
                .poll(&mut self.events, Some(Duration::from_millis(10)))?;
            for c in self.conns.iter_mut() {
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
        Ok(())
    }

    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// How many requests the pacing allows now.
    fn due(&self, pacing: Pacing, now: u64) -> u64 {
        match pacing {
            Pacing::Open { rate_per_sec } => {
                let should = (now as f64 / 1e9 * rate_per_sec) as u64 + 1;
                should.saturating_sub(self.sent_total)
            }
            Pacing::Closed { window } => self
                .conns
                .iter()
                .filter(|c| !c.closed)
                .map(|c| window.saturating_sub(c.in_flight) as u64)
                .sum(),
        }
    }

    /// The next connection, round robin; closed loop: one with room in its window.
    fn pick(&mut self, pacing: Pacing) -> Option<usize> {
        for _ in 0..self.conns.len() {
            self.rr = (self.rr + 1) % self.conns.len();
            let c = &self.conns[self.rr];
            let room = match pacing {
                Pacing::Closed { window } => c.in_flight < window,
                Pacing::Open { .. } => true,
            };
            if !c.closed && room {
                return Some(self.rr);
            }
        }
        None
    }

    /// Sends what the pacing allows; returns whether sending is over (the stop condition).
    fn send_due(&mut self, spec: &LoadSpec, milestones: &mut [Milestone], now: u64) -> bool {
        let target = match spec.stop {
            StopAt::Payments(n) => Some(n),
            StopAt::Duration(_) => None,
        };
        for _ in 0..self.due(spec.pacing, now) {
            let intended = match spec.pacing {
                Pacing::Open { rate_per_sec } => {
                    ((self.sent_total as f64) * 1e9 / rate_per_sec) as u64
                }
                Pacing::Closed { .. } => now,
            };
            // Open loop: a request whose intended time is past the run's duration is not part of
            // the run, even when the sender catches up on a stall after it (rate × duration).
            if let StopAt::Duration(d) = spec.stop
                && Duration::from_nanos(intended) >= d
            {
                break;
            }
            let Some(ci) = self.pick(spec.pacing) else {
                break;
            };
            self.send_one(spec, ci, intended);
            self.last_send_ns = now;
            if let Some(t) = target {
                let fraction = self.report.payments_sent as f64 / t as f64;
                for m in milestones.iter_mut() {
                    if m.fraction >= 0.0 && fraction >= m.fraction {
                        (m.action)();
                        m.fraction = -1.0;
                    }
                }
                if self.report.payments_sent >= t {
                    break;
                }
            }
        }
        match spec.stop {
            StopAt::Payments(n) => self.report.payments_sent >= n,
            StopAt::Duration(d) => Duration::from_nanos(now) >= d,
        }
    }

    /// Sends one request of the mix on connection `ci` (a refund goes where its payment went).
    fn send_one(&mut self, spec: &LoadSpec, ci: usize, intended: u64) {
        let mix = spec.mix;
        let total_weight = (mix.payments + mix.refunds + mix.queries + mix.resends).max(1);
        let roll = (self.workload.rng().next_u64() % u64::from(total_weight)) as u32;
        let flight = InFlight {
            sent_ns: intended,
            record: Duration::from_nanos(intended) >= spec.warmup,
            acked: false,
        };
        let on = if roll < mix.payments {
            let merchants = &spec.identities[self.conns[ci].identity].merchants;
            let req = self.workload.payment(merchants);
            self.workload.sent(&req);
            self.in_flight.insert(req.request_id, flight);
            push(&mut self.conns[ci], &req, &mut self.scratch);
            self.report.payments_sent += 1;
            Some(ci)
        } else if roll < mix.payments + mix.refunds {
            match self.workload.refund() {
                Some((req, owner)) if !self.conns[owner].closed => {
                    self.in_flight.insert(req.refund_request_id, flight);
                    push(&mut self.conns[owner], &req, &mut self.scratch);
                    self.report.refunds_sent += 1;
                    Some(owner)
                }
                _ => None,
            }
        } else if roll >= mix.payments + mix.refunds + mix.queries {
            self.workload.resend().map(|req| {
                self.in_flight.insert(resend_key(req.request_id), flight);
                push(&mut self.conns[ci], &req, &mut self.scratch);
                self.report.resends_sent += 1;
                ci
            })
        } else {
            self.workload.query().map(|q| {
                self.in_flight.insert(query_key(q.request_id), flight);
                push(&mut self.conns[ci], &q, &mut self.scratch);
                self.report.queries_sent += 1;
                ci
            })
        };
        if let Some(c) = on {
            self.conns[c].in_flight += 1;
            self.sent_total += 1;
        }
    }

    /// Writes what is queued and waits for answers (or the next send time).
    fn wait(&mut self, spec: &LoadSpec, sending: bool) -> io::Result<()> {
        for c in self.conns.iter_mut() {
            flush(c);
        }
        let timeout = match (sending, spec.pacing) {
            (true, Pacing::Open { .. }) if spec.busy_poll => Some(Duration::ZERO),
            (true, Pacing::Open { rate_per_sec }) => {
                // Sleep in epoll until the next send is due or an answer arrives: the timer fires
                // with microsecond precision (epoll's own timeout has millisecond granularity).
                // Sends go out in small batches at most PACING_NS apart; a request sent late is
                // still measured from its intended time, so the batching is charged, not hidden.
                let next = ((self.sent_total as f64) * 1e9 / rate_per_sec) as u64;
                let wait = next.saturating_sub(self.now_ns());
                self.timer.arm(wait.max(PACING_NS));
                Some(Duration::from_millis(10))
            }
            (true, Pacing::Closed { .. }) => Some(Duration::from_millis(1)),
            (false, _) => Some(Duration::from_millis(5)),
        };
        self.poll.poll(&mut self.events, timeout)?;
        self.timer.clear();
        Ok(())
    }

    /// Reads every connection's answers.
    fn read_answers(&mut self) {
        let now_ns = self.now_ns();
        let Driver {
            conns,
            in_flight,
            report,
            workload,
            last_final_ns,
            ..
        } = self;
        for (ci, c) in conns.iter_mut().enumerate() {
            if c.closed {
                continue;
            }
            let mut tally = Tally {
                in_flight,
                report,
                workload,
                last_final_ns,
                now_ns,
                conn: ci,
            };
            let mut completed = 0usize;
            let result = read_frames(c, |frame| {
                completed += usize::from(tally.answer(frame));
                Ok(false)
            });
            c.in_flight = c.in_flight.saturating_sub(completed);
            if let Err(e) = result {
                report.errors.push(format!("connection {ci}: {e}"));
                c.closed = true;
            }
        }
    }

    /// Keeps idle sessions alive.
    fn keep_alive(&mut self) {
        for c in self.conns.iter_mut() {
            if !c.closed && c.last_send.elapsed() > Duration::from_millis(500) {
                push(c, &Heartbeat { timestamp_ns: 0 }, &mut self.scratch);
            }
        }
    }

    fn print_progress(&self) {
        let secs = self.start.elapsed().as_secs_f64();
        let r = &self.report;
        eprintln!(
            "t={secs:>5.1}s sent {:>9} ({:>8.0}/s) acked {:>9} results {:>9} in flight {:>6}  ack p99 {:>8.3} ms  result p99 {:>8.3} ms",
            self.sent_total,
            self.sent_total as f64 / secs,
            r.acked,
            r.succeeded + r.failed,
            self.in_flight.len(),
            r.ack_latency_ns.value_at_quantile(0.99) as f64 / 1e6,
            r.result_latency_ns.value_at_quantile(0.99) as f64 / 1e6,
        );
    }

    /// Logs out and returns the report.
    fn finish(mut self) -> LoadReport {
        self.report.outstanding = self.in_flight.len() as u64;
        self.report.send_seconds = self.last_send_ns as f64 / 1e9;
        self.report.seconds = self.last_final_ns.max(self.last_send_ns) as f64 / 1e9;
        let logout = Logout {
            reason: ReasonCode::None,
            text: codec::text("done"),
        };
        for c in self.conns.iter_mut() {
            push(c, &logout, &mut self.scratch);
            flush(c);
        }
        self.report
    }
}
