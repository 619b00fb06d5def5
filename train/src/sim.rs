//! `sluice risk simulate`: simulated days with injected fraud patterns
//! (`sluice_workload::fraud`) driven through an engine of the default configuration's world and
//! written as a real journal, with the channels answering as the simulation says (the issuer
//! declines, refunds succeed), and the ground truth written beside it (`labels.csv`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;

use sluice_engine::{ENVELOPE_LEN, Engine, MAX_OUTPUT_BYTES_PER_INPUT, OutIter, Outbox};
use sluice_gateway::config::{Config, DEFAULT_CONFIG};
use sluice_journal::{Durability, JournalConfig, JournalWriter};
use sluice_protocol::{
    AnyMessage, ChannelOutcome, ChannelResult, Chars, DisputeNotice, DisputeReason, DisputeStage,
    FinalStatus, LabelKind, LabelSource, MAX_FRAME_BYTES, Message, Pulse, RefundChannelResult,
    RefundRequest, RiskLabel, Role, decode_any_frame, encode_sbe,
};
use sluice_workload::fraud::{DAY_NS, FraudSim, Pattern, SimMix, SimPayment};

use crate::labels::{LABELS_FILE, Label};

/// 2026-11-26 00:00:00 UTC+8, the simulation's first day.
pub const START_NS: u64 = 1_764_086_400_000_000_000;
const ACQUIRER: u32 = 1;
const SESSION: u64 = 77;
/// The channels answer this long after a dispatch.
const ANSWER_NS: u64 = 200_000_000;
const PULSE_NS: u64 = 60_000_000_000;
/// The issuer reports a fraud payment a day later; a stolen card's captured payment is disputed
/// three days later.
const LABEL_AFTER_NS: u64 = DAY_NS;
const DISPUTE_AFTER_NS: u64 = 3 * DAY_NS;

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    pub days: u32,
    pub payments_per_day: u32,
    pub seed: u64,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimSummary {
    pub records: u64,
    pub payments: u64,
    pub fraud_payments: u64,
    pub per_pattern: Vec<(String, u64)>,
    /// Refund requests sent, how many of them succeeded, and how many were still open (pending
    /// or unknown) at the end: the channels answer every refund dispatched, so none should be.
    pub refunds: u64,
    pub refunds_succeeded: u64,
    pub refunds_open: u64,
}

/// Something the simulated world does at a time (ordered by time, then by scheduling order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    /// Payment `index` of `Sim::payments`.
    Pay(usize),
    /// The channel answers an attempt.
    Answer {
        order_id: u64,
        attempt: u8,
        channel: u16,
    },
    RefundAnswer {
        refund_id: u64,
        channel: u16,
    },
    /// The payer asks for a full refund of a payment.
    Refund {
        request_id: u64,
        amount_minor: i64,
    },
    /// The issuer reports a fraud order (an admin's RiskLabel).
    Label {
        order_id: u64,
    },
    /// The payer's bank disputes a captured payment as fraud (the channel's DisputeNotice).
    Dispute {
        order_id: u64,
        channel: u16,
        amount_minor: i64,
    },
    Pulse,
}

/// What the simulation remembers of an order.
#[derive(Debug, Clone, Copy)]
struct SimOrder {
    declined: bool,
    refund_after_ns: Option<u64>,
    fraud: Option<Pattern>,
    /// The channel of its dispatch (0 until dispatched).
    channel: u16,
}

struct Sim {
    engine: Engine,
    writer: JournalWriter,
    outbox: Outbox,
    payload: Vec<u8>,
    seq: u64,
    now: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Action)>>,
    scheduled: u64,
    /// Every simulated payment so far (`Action::Pay` indexes it).
    payments: Vec<SimPayment>,
    orders: HashMap<u64, SimOrder>,
    next_refund: u64,
    next_dispute: u64,
    labels: Vec<Label>,
    summary: SimSummary,
}

/// Simulates `options.days` days into a fresh data directory `dir` (journal and labels.csv).
pub fn simulate(dir: &Path, options: &SimOptions) -> Result<SimSummary, String> {
    let config = Config::parse(DEFAULT_CONFIG).map_err(|e| e.to_string())?;
    let mut genesis = config.world.genesis.clone();
    let payments = u64::from(options.days) * u64::from(options.payments_per_day);
    genesis.orders_max = genesis.orders_max.min((payments + 100_000) as u32);
    let mut sim = Sim::new(dir, &genesis)?;
    for input in &config.world.inputs {
        sim.admin(&input.message)?;
    }
    let mut fraud = FraudSim::new(
        options.seed,
        SimMix::for_payments_per_day(options.payments_per_day),
    );
    for day in 0..options.days {
        // Payments are indexed across days: a burst that starts late runs into the next day.
        let first = sim.payments.len();
        sim.payments.extend(fraud.day(day));
        let start = START_NS + u64::from(day) * DAY_NS;
        for i in first..sim.payments.len() {
            sim.schedule(START_NS + sim.payments[i].at_ns, Action::Pay(i));
        }
        for t in (0..DAY_NS).step_by(PULSE_NS as usize) {
            sim.schedule(start + t, Action::Pulse);
        }
        sim.run_until(start + DAY_NS)?;
    }
    sim.run_until(u64::MAX)?;
    sim.writer.commit().map_err(|e| e.to_string())?;
    sim.summary.refunds_succeeded = sim.engine.counters().refunds_succeeded;
    let kept = sim.engine.state().refunds.iter().filter(|r| !r.vacant);
    sim.summary.refunds_open = kept.filter(|r| r.state.is_open()).count() as u64;
    crate::labels::write(&dir.join(LABELS_FILE), &sim.labels)?;
    Ok(sim.summary)
}

impl Sim {
    fn new(dir: &Path, genesis: &sluice_protocol::Genesis) -> Result<Sim, String> {
        let config = JournalConfig {
            segment_size_bytes: 64 << 20,
            durability: Durability::None,
        };
        let journal = sluice_journal::journal_dir(dir);
        let (writer, _) = JournalWriter::open(&journal, config).map_err(|e| e.to_string())?;
        let engine = Engine::new(genesis, START_NS).map_err(|e| e.to_string())?;
        let mut sim = Sim {
            engine,
            writer,
            outbox: Outbox::with_capacity(4 * MAX_OUTPUT_BYTES_PER_INPUT),
            payload: vec![0u8; ENVELOPE_LEN + MAX_FRAME_BYTES],
            seq: 0,
            now: START_NS,
            queue: BinaryHeap::new(),
            scheduled: 0,
            payments: Vec::new(),
            orders: HashMap::new(),
            next_refund: 0,
            next_dispute: 0,
            labels: Vec::new(),
            summary: SimSummary::default(),
        };
        // Genesis is journaled as the first record but the engine is built from it directly.
        sluice_engine::write_envelope(&mut sim.payload, 0, 0, sluice_engine::ROLE_SEQUENCER);
        let n = encode_sbe(genesis, &mut sim.payload[ENVELOPE_LEN..]).map_err(|e| e.to_string())?;
        sim.seq = 1;
        sim.writer
            .append(
                1,
                START_NS,
                sluice_protocol::Genesis::TEMPLATE_ID,
                &sim.payload[..ENVELOPE_LEN + n],
            )
            .map_err(|e| e.to_string())?;
        sim.summary.records = 1;
        Ok(sim)
    }

    fn schedule(&mut self, at: u64, action: Action) {
        self.scheduled += 1;
        self.queue.push(Reverse((at, self.scheduled, action)));
    }

    fn run_until(&mut self, end: u64) -> Result<(), String> {
        while let Some(Reverse((at, _, action))) = self.queue.peek().copied() {
            if at >= end {
                break;
            }
            self.queue.pop();
            self.now = self.now.max(at);
            self.act(action)?;
        }
        Ok(())
    }

    fn act(&mut self, action: Action) -> Result<(), String> {
        match action {
            Action::Pay(i) => self.pay(i),
            Action::Answer {
                order_id,
                attempt,
                channel,
            } => {
                let declined = self.orders.get(&order_id).is_some_and(|o| o.declined);
                let result = ChannelResult {
                    order_id,
                    attempt,
                    outcome: if declined {
                        ChannelOutcome::Declined
                    } else {
                        ChannelOutcome::Succeeded
                    },
                    channel_code: 0,
                    latency_us: 200_000,
                    channel_ref: Chars::new("sim"),
                };
                self.channel(channel, &result)
            }
            Action::RefundAnswer { refund_id, channel } => {
                let result = RefundChannelResult {
                    refund_id,
                    outcome: ChannelOutcome::Succeeded,
                    channel_code: 0,
                    latency_us: 200_000,
                    channel_ref: Chars::new("sim"),
                };
                self.channel(channel, &result)
            }
            Action::Refund {
                request_id,
                amount_minor,
            } => self.refund(request_id, amount_minor),
            Action::Label { order_id } => {
                let label = RiskLabel {
                    order_id,
                    kind: LabelKind::Fraud,
                    source: LabelSource::IssuerReport,
                    reference: order_id,
                    note: Default::default(),
                };
                self.apply(1, 1, Role::Admin as u8, &label)
            }
            Action::Dispute {
                order_id,
                channel,
                amount_minor,
            } => self.dispute(order_id, channel, amount_minor),
            Action::Pulse => {
                // A pulse may dispatch too (a failover after a timeout, a refund sent again).
                self.apply(0, 0, sluice_engine::ROLE_SEQUENCER, &Pulse { flags: 0 })?;
                self.schedule_answers();
                Ok(())
            }
        }
    }

    fn pay(&mut self, i: usize) -> Result<(), String> {
        let p = self.payments[i].clone();
        self.summary.payments += 1;
        if let Some(pattern) = p.fraud {
            self.summary.fraud_payments += 1;
            let name = pattern.name().to_string();
            match self
                .summary
                .per_pattern
                .iter_mut()
                .find(|(n, _)| *n == name)
            {
                Some((_, count)) => *count += 1,
                None => self.summary.per_pattern.push((name, 1)),
            }
        }
        self.apply(SESSION, ACQUIRER, Role::Acquirer as u8, &p.request)?;
        let order_id = self.outputs().iter().find_map(|m| match m {
            AnyMessage::PaymentAck(a) if a.request_id == p.request.request_id => Some(a.order_id),
            _ => None,
        });
        if let Some(order_id) = order_id.filter(|&id| id != 0) {
            let order = SimOrder {
                declined: p.declined,
                refund_after_ns: p.refund_after_ns,
                fraud: p.fraud,
                channel: 0,
            };
            self.orders.insert(order_id, order);
            if let Some(pattern) = p.fraud {
                self.labels.push(label(order_id, &p, pattern, self.now));
                self.schedule(self.now + LABEL_AFTER_NS, Action::Label { order_id });
            }
        }
        self.schedule_answers();
        Ok(())
    }

    /// The payer asks for a refund; the channel will answer its dispatch.
    fn refund(&mut self, request_id: u64, amount_minor: i64) -> Result<(), String> {
        self.next_refund += 1;
        let refund = RefundRequest {
            refund_request_id: (1 << 40) + self.next_refund,
            payment_request_id: request_id,
            amount_minor,
        };
        self.summary.refunds += 1;
        self.apply(SESSION, ACQUIRER, Role::Acquirer as u8, &refund)?;
        self.schedule_answers();
        Ok(())
    }

    fn channel<M: Message>(&mut self, channel: u16, msg: &M) -> Result<(), String> {
        self.apply(
            900_000 + u64::from(channel),
            u32::from(channel),
            Role::Channel as u8,
            msg,
        )?;
        self.schedule_answers();
        Ok(())
    }

    fn admin(&mut self, message: &AnyMessage) -> Result<(), String> {
        let mut sbe = vec![0u8; MAX_FRAME_BYTES];
        let n = message.encode_sbe(&mut sbe).map_err(|e| e.to_string())?;
        self.apply_sbe(1, 1, Role::Admin as u8, &sbe[..n])
    }

    fn apply<M: Message>(
        &mut self,
        session: u64,
        principal: u32,
        role: u8,
        msg: &M,
    ) -> Result<(), String> {
        let mut sbe = [0u8; 1024];
        let n = encode_sbe(msg, &mut sbe).map_err(|e| e.to_string())?;
        self.apply_sbe(session, principal, role, &sbe[..n])
    }

    /// Journals and applies one input.
    fn apply_sbe(
        &mut self,
        session: u64,
        principal: u32,
        role: u8,
        sbe: &[u8],
    ) -> Result<(), String> {
        sluice_engine::write_envelope(&mut self.payload, session, principal, role);
        let len = ENVELOPE_LEN + sbe.len();
        self.payload[ENVELOPE_LEN..len].copy_from_slice(sbe);
        let kind = u16::from_le_bytes([sbe[2], sbe[3]]);
        self.seq += 1;
        self.writer
            .append(self.seq, self.now, kind, &self.payload[..len])
            .map_err(|e| e.to_string())?;
        self.outbox.clear();
        self.engine
            .apply_record(self.seq, self.now, &self.payload[..len], &mut self.outbox)
            .map_err(|e| e.to_string())?;
        self.summary.records += 1;
        if self.seq.is_multiple_of(4096) {
            self.writer.commit().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn outputs(&self) -> Vec<AnyMessage> {
        OutIter::new(self.outbox.bytes())
            .filter_map(|r| decode_any_frame(r.frame).ok())
            .collect()
    }

    /// Schedules the channels' answers to the last input's dispatches, and the refunds of
    /// payments that just succeeded.
    fn schedule_answers(&mut self) {
        let at = self.now + ANSWER_NS;
        for m in self.outputs() {
            match m {
                AnyMessage::Dispatch(d) => {
                    if let Some(o) = self.orders.get_mut(&d.order_id) {
                        o.channel = d.channel_id;
                    }
                    let answer = Action::Answer {
                        order_id: d.order_id,
                        attempt: d.attempt,
                        channel: d.channel_id,
                    };
                    self.schedule(at, answer);
                }
                AnyMessage::RefundDispatch(d) => self.schedule(
                    at,
                    Action::RefundAnswer {
                        refund_id: d.refund_id,
                        channel: d.channel_id,
                    },
                ),
                AnyMessage::PaymentResult(r) if r.status == FinalStatus::Succeeded => {
                    let Some(o) = self.orders.get(&r.order_id).copied() else {
                        continue;
                    };
                    if let Some(after) = o.refund_after_ns {
                        let refund = Action::Refund {
                            request_id: r.request_id,
                            amount_minor: r.amount_minor,
                        };
                        self.schedule(self.now + after, refund);
                    }
                    if o.fraud == Some(Pattern::StolenCard) {
                        let dispute = Action::Dispute {
                            order_id: r.order_id,
                            channel: o.channel,
                            amount_minor: r.amount_minor,
                        };
                        self.schedule(self.now + DISPUTE_AFTER_NS, dispute);
                    }
                }
                _ => {}
            }
        }
    }
}

impl Sim {
    /// A fraud chargeback of a captured stolen-card payment, as its channel reports it.
    fn dispute(&mut self, order_id: u64, channel: u16, amount_minor: i64) -> Result<(), String> {
        self.next_dispute += 1;
        let notice = DisputeNotice {
            dispute_id: self.next_dispute,
            channel_id: channel,
            order_id,
            attempt: 1,
            stage: DisputeStage::Opened,
            reason: DisputeReason::Fraud,
            currency: 156,
            amount_minor,
            fee_minor: 1_500,
            channel_ref: Chars::new("sim-dispute"),
        };
        self.channel(channel, &notice)
    }
}

fn label(order_id: u64, p: &SimPayment, pattern: Pattern, now_ns: u64) -> Label {
    Label {
        order_id,
        acquirer_id: ACQUIRER,
        request_id: p.request.request_id,
        fraud: true,
        pattern: pattern.name().to_string(),
        time_ns: now_ns,
    }
}
