//! A simulated payment channel: per channel a success rate, a decline rate, a latency range and
//! scheduled outages, driven by a seeded generator; the channel's own book (`sim_book`), from which
//! it answers ChannelControl like a wallet; and fault profiles (`sim_faults`). The server runs it
//! in-process for the demo and for a plain `sluice serve`; `sluice channel-sim` runs the same model
//! as a TCP connector.
//!
//! What a channel does with an attempt is decided when the dispatch arrives (the model's success,
//! decline or error, and when it takes effect) and booked then, so a lost or late answer does not
//! change what the channel did. An answer is sent when the outcome takes effect, unless a fault
//! loses it; a success whose attempt was closed in the meantime is never sent (the close won).

use sluice_protocol::rng::Rng;
use sluice_protocol::{
    ChannelControl, ChannelControlResult, ChannelOutcome, ChannelResult, Dispatch,
    RefundChannelResult, RefundDispatch,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::config::SimChannel;
use crate::sim_bills::BillChannel;
use crate::sim_book::{AttemptEntry, Book, Decided, Record, RefundEntry, capture_ref, refund_ref};
pub use crate::sim_faults::FaultCounts;
use crate::sim_faults::{Draw, Faults};

/// A message the simulated channel will send when its time comes.
#[derive(Debug, Clone)]
pub enum SimReply {
    Payment(ChannelResult),
    Refund(RefundChannelResult),
    Control(ChannelControlResult),
}

/// What a simulated channel does with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Answer(ChannelOutcome),
    /// No answer at all: the engine's deadline fires.
    Silent,
}

/// The model of one channel.
#[derive(Debug, Clone)]
pub struct ChannelModel {
    pub config: SimChannel,
}

impl ChannelModel {
    /// Whether a "timeout" outage covers `elapsed_s`: the channel answers nothing then, questions
    /// included (it is unreachable).
    pub fn unreachable(&self, elapsed_s: f64) -> bool {
        self.config
            .outages
            .iter()
            .any(|o| o.mode == "timeout" && elapsed_s >= o.from_s && elapsed_s < o.to_s)
    }

    /// What happens to an attempt `elapsed_s` seconds after the simulator started.
    pub fn decide(&self, rng: &mut Rng, elapsed_s: f64) -> (Behaviour, u32) {
        let c = &self.config;
        let latency =
            rng.inclusive(u64::from(c.latency_us_min), u64::from(c.latency_us_max)) as u32;
        for o in &c.outages {
            if elapsed_s >= o.from_s && elapsed_s < o.to_s {
                let b = match o.mode.as_str() {
                    "decline" => Behaviour::Answer(ChannelOutcome::Declined),
                    "timeout" => Behaviour::Silent,
                    _ => Behaviour::Answer(ChannelOutcome::RetryableError),
                };
                return (b, latency);
            }
        }
        let x = rng.unit();
        let outcome = if x < c.success_rate {
            ChannelOutcome::Succeeded
        } else if x < c.success_rate + c.decline_rate {
            ChannelOutcome::Declined
        } else {
            ChannelOutcome::RetryableError
        };
        (Behaviour::Answer(outcome), latency)
    }
}

/// Work in the timer queue: an answer to send, or a ChannelControl to process (a Close or a
/// Reverse changes the book when the channel gets to it).
#[derive(Debug, Clone)]
enum Work {
    Send(SimReply),
    Control(ChannelControl),
}

/// Salt of the fault generator's seed: faults never draw from the model's generator, so a run
/// without faults has the outcomes and latencies it had before faults existed.
const FAULT_SEED_SALT: u64 = 0xFA17_5EED_0000_0017;

/// Simulated channels with their book and a timer queue of pending work.
pub struct Simulator {
    models: Vec<ChannelModel>,
    /// Faults of the channels without their own.
    faults: Faults,
    rng: Rng,
    fault_rng: Rng,
    start_ns: u64,
    pending: BinaryHeap<Reverse<(u64, u64, usize)>>,
    work: Vec<Option<(u16, Work)>>,
    free: Vec<usize>,
    counter: u64,
    book: Book,
    /// The connector is off until then (a disconnect fault).
    disconnected_until_ns: u64,
    /// A disconnect started and `take_disconnect` has not reported it yet.
    disconnect_news: bool,
    counts: FaultCounts,
    /// The channels' prices, fee policies and bill settings (`sim_bills`); a channel without
    /// charges no fee.
    bill_channels: Vec<BillChannel>,
}

/// The channel's time of an outcome decided at `now_ns` to take effect at `effective_ns`, for a
/// message the server sent at `at_ns`: its timestamp plus the processing time the channel drew
/// (the simulator's own clock when the message carries none, from a server before schema 6).
fn channel_time_ns(at_ns: u64, now_ns: u64, effective_ns: u64) -> u64 {
    let base = if at_ns != 0 { at_ns } else { now_ns };
    base.saturating_add(effective_ns.saturating_sub(now_ns))
}

impl Simulator {
    /// `capacity` bounds work in flight (preallocated).
    pub fn new(channels: &[SimChannel], seed: u64, start_ns: u64, capacity: usize) -> Self {
        Simulator {
            models: channels
                .iter()
                .map(|c| ChannelModel { config: c.clone() })
                .collect(),
            faults: Faults::default(),
            rng: Rng::new(seed),
            fault_rng: Rng::new(seed ^ FAULT_SEED_SALT),
            start_ns,
            pending: BinaryHeap::with_capacity(capacity),
            work: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            counter: 0,
            book: Book::new(false),
            disconnected_until_ns: 0,
            disconnect_news: false,
            counts: FaultCounts::default(),
            bill_channels: Vec::new(),
        }
    }

    /// The channels' prices and bill settings (`sim_bills::bill_channels`).
    pub fn with_bill_channels(mut self, bill_channels: Vec<BillChannel>) -> Self {
        self.bill_channels = bill_channels;
        self
    }

    pub fn bill_channels(&self) -> &[BillChannel] {
        &self.bill_channels
    }

    /// Writes the channels' bills for bill days `days` (first, last) from the book at `now_ns`
    /// (`sim_bills_write::write_bills`).
    pub fn write_bills(
        &self,
        dir: &std::path::Path,
        days: (u32, u32),
        options: &crate::sim_bills_inject::BillOptions,
        now_ns: u64,
    ) -> Result<crate::sim_bills_write::BillsWritten, String> {
        crate::sim_bills_write::write_bills(
            &self.book,
            &self.bill_channels,
            dir,
            days,
            options,
            now_ns,
        )
    }

    fn bill_channel(&self, channel_id: u16) -> Option<&BillChannel> {
        self.bill_channels
            .iter()
            .find(|c| c.channel_id == channel_id)
    }

    /// The faults of every channel that has none of its own.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Starts from `book` (e.g. loaded from a book file).
    pub fn with_book(mut self, book: Book) -> Self {
        self.book = book;
        self
    }

    pub fn book(&self) -> &Book {
        &self.book
    }

    /// The book's records since the last call: write them before sending what `due` returns.
    pub fn take_records(&mut self) -> Vec<Record> {
        self.book.take_records()
    }

    pub fn fault_counts(&self) -> FaultCounts {
        self.counts
    }

    /// Whether the simulator plays channel `id`.
    pub fn serves(&self, channel_id: u16) -> bool {
        self.models
            .iter()
            .any(|m| m.config.channel_id == channel_id)
    }

    /// Replaces a channel's model (e.g. to schedule an outage at run time).
    pub fn set_model(&mut self, config: SimChannel) {
        match self
            .models
            .iter_mut()
            .find(|m| m.config.channel_id == config.channel_id)
        {
            Some(m) => m.config = config,
            None => self.models.push(ChannelModel { config }),
        }
    }

    /// Starts an outage of `channel_id` now, lasting `seconds`, in `mode` (error, decline, timeout).
    pub fn start_outage(&mut self, channel_id: u16, now_ns: u64, seconds: f64, mode: &str) {
        let from_s = self.elapsed_s(now_ns);
        if let Some(m) = self
            .models
            .iter_mut()
            .find(|m| m.config.channel_id == channel_id)
        {
            m.config.outages.push(crate::config::SimOutage {
                from_s,
                to_s: from_s + seconds,
                mode: mode.to_string(),
            });
        }
    }

    /// Ends every outage of `channel_id`.
    pub fn end_outages(&mut self, channel_id: u16) {
        if let Some(m) = self
            .models
            .iter_mut()
            .find(|m| m.config.channel_id == channel_id)
        {
            m.config.outages.clear();
        }
    }

    fn model_index(&self, channel_id: u16) -> Option<usize> {
        self.models
            .iter()
            .position(|m| m.config.channel_id == channel_id)
    }

    fn elapsed_s(&self, now_ns: u64) -> f64 {
        now_ns.saturating_sub(self.start_ns) as f64 / 1e9
    }

    /// The fault draws for a message to channel model `index` (none without faults).
    fn draw(&mut self, index: usize) -> Draw {
        let faults = self.models[index].config.faults.as_ref();
        let faults = faults.unwrap_or(&self.faults);
        if !faults.any() {
            return Draw::NONE;
        }
        Draw::of(faults, &mut self.fault_rng)
    }

    fn schedule(&mut self, due_ns: u64, channel_id: u16, work: Work) {
        let slot = match self.free.pop() {
            Some(i) => {
                self.work[i] = Some((channel_id, work));
                i
            }
            None => {
                self.work.push(Some((channel_id, work)));
                self.work.len() - 1
            }
        };
        self.counter += 1;
        self.pending.push(Reverse((due_ns, self.counter, slot)));
    }

    /// Schedules an answer at `due_ns` as the draw says: not at all (lost), or twice.
    fn send_at(&mut self, due_ns: u64, channel_id: u16, reply: SimReply, draw: Draw) {
        if draw.lost {
            self.counts.lost += 1;
            return;
        }
        if let Some(after_ns) = draw.duplicate_ns {
            self.counts.duplicated += 1;
            self.schedule(due_ns + after_ns, channel_id, Work::Send(reply.clone()));
        }
        self.schedule(due_ns, channel_id, Work::Send(reply));
    }

    /// Whether the connector is off at `now_ns` (a disconnect fault).
    pub fn disconnected(&self, now_ns: u64) -> bool {
        now_ns < self.disconnected_until_ns
    }

    /// When a disconnect started since the last call, until when it lasts (the TCP connector
    /// closes its connection and opens it again then).
    pub fn take_disconnect(&mut self) -> Option<u64> {
        std::mem::take(&mut self.disconnect_news).then_some(self.disconnected_until_ns)
    }

    fn start_disconnect(&mut self, index: usize, now_ns: u64) {
        let faults = self.models[index].config.faults.as_ref();
        let ms = faults.unwrap_or(&self.faults).disconnect_ms;
        self.counts.disconnects += 1;
        self.disconnected_until_ns = now_ns + u64::from(ms) * 1_000_000;
        self.disconnect_news = true;
        self.drop_pending();
    }

    /// Drops every answer in flight (the connection they would go out on is gone).
    pub fn drop_pending(&mut self) {
        self.counts.lost_disconnected += self.pending.len() as u64;
        self.pending.clear();
        self.work.iter_mut().for_each(|w| *w = None);
        self.free.clear();
        self.free.extend((0..self.work.len()).rev());
    }

    /// Whether a message for channel model `index` reaches the channel at `now_ns`: not while the
    /// connector is off, nor when its draw disconnects it (`draw` is drawn either way).
    fn arrives(&mut self, index: usize, draw: &Draw, now_ns: u64) -> bool {
        if self.disconnected(now_ns) {
            self.counts.unseen += 1;
            return false;
        }
        if draw.disconnect {
            self.start_disconnect(index, now_ns);
            self.counts.unseen += 1;
            return false;
        }
        true
    }

    /// A dispatch reached the simulated channel at `now_ns`.
    pub fn on_dispatch(&mut self, d: &Dispatch, now_ns: u64) {
        let Some(index) = self.model_index(d.channel_id) else {
            return;
        };
        if let Some(e) = self.book.attempt(d.order_id, d.attempt).copied() {
            // Sent again: the book answers, nothing is decided twice.
            return self.answer_attempt(d, e, now_ns, Draw::NONE);
        }
        let elapsed = self.elapsed_s(now_ns);
        let (behaviour, latency_us) = self.models[index].decide(&mut self.rng, elapsed);
        let draw = self.draw(index);
        if !self.arrives(index, &draw, now_ns) {
            return;
        }
        let Behaviour::Answer(outcome) = behaviour else {
            return;
        };
        let mut effective_ns = now_ns + u64::from(latency_us) * 1_000;
        if let Some(late_ns) = draw.late_ns {
            self.counts.late += 1;
            effective_ns = effective_ns.max(d.deadline_ns) + late_ns;
        }
        let decided = match outcome {
            ChannelOutcome::Succeeded => Decided::Capture,
            ChannelOutcome::Declined => Decided::Decline,
            ChannelOutcome::RetryableError => Decided::Error,
        };
        let fee_minor = self
            .bill_channel(d.channel_id)
            .map_or(0, |c| c.fee_minor(d.method, d.amount_minor));
        let entry = AttemptEntry {
            channel_id: d.channel_id,
            currency: d.currency,
            amount_minor: d.amount_minor,
            decided,
            effective_ns,
            closed: false,
            reversed: false,
            channel_at_ns: channel_time_ns(d.at_ns, now_ns, effective_ns),
            fee_minor: if decided == Decided::Capture {
                fee_minor
            } else {
                0
            },
            reversed_at_ns: 0,
        };
        if self.book.is_full() {
            // Refused, and not booked: the channel takes no more orders.
            let refused = AttemptEntry {
                decided: Decided::Error,
                ..entry
            };
            return self.answer_attempt(d, refused, now_ns, draw);
        }
        self.book.record(Record::Attempt {
            order_id: d.order_id,
            attempt: d.attempt,
            entry,
        });
        self.answer_attempt(d, entry, now_ns, draw);
    }

    /// Schedules the answer to attempt `d` as booked in `e` (none for one that was closed).
    fn answer_attempt(&mut self, d: &Dispatch, e: AttemptEntry, now_ns: u64, draw: Draw) {
        if e.closed {
            return;
        }
        let (outcome, channel_code) = match e.decided {
            Decided::Capture => (ChannelOutcome::Succeeded, 0),
            Decided::Decline => (ChannelOutcome::Declined, 51),
            Decided::Error => (ChannelOutcome::RetryableError, 96),
        };
        let due_ns = e.effective_ns.max(now_ns);
        let reply = ChannelResult {
            order_id: d.order_id,
            attempt: d.attempt,
            outcome,
            channel_code,
            latency_us: (due_ns.saturating_sub(now_ns) / 1_000).min(u64::from(u32::MAX)) as u32,
            channel_ref: capture_ref(d.channel_id, d.order_id, d.attempt),
        };
        self.send_at(due_ns, d.channel_id, SimReply::Payment(reply), draw);
    }

    /// A refund dispatch reached the simulated channel.
    pub fn on_refund(&mut self, d: &RefundDispatch, now_ns: u64) {
        let Some(index) = self.model_index(d.channel_id) else {
            return;
        };
        if let Some(r) = self.book.refund(d.refund_id).copied() {
            return self.answer_refund(d.refund_id, r, now_ns, Draw::NONE);
        }
        let elapsed = self.elapsed_s(now_ns);
        let (behaviour, latency_us) = self.models[index].decide(&mut self.rng, elapsed);
        let draw = self.draw(index);
        if !self.arrives(index, &draw, now_ns) {
            return;
        }
        // Refunds are rarely declined: a decline in the model becomes a success; a retryable
        // error fails the refund.
        let paid = match behaviour {
            Behaviour::Silent => return,
            Behaviour::Answer(outcome) => outcome != ChannelOutcome::RetryableError,
        };
        let mut effective_ns = now_ns + u64::from(latency_us) * 1_000;
        if let Some(late_ns) = draw.late_ns {
            self.counts.late += 1;
            effective_ns = effective_ns.max(d.deadline_ns) + late_ns;
        }
        let attempt = self.book.captured_attempt(d.order_id, d.channel_id);
        let entry = RefundEntry {
            channel_id: d.channel_id,
            order_id: d.order_id,
            attempt,
            currency: d.currency,
            amount_minor: d.amount_minor,
            paid,
            effective_ns,
            channel_at_ns: channel_time_ns(d.at_ns, now_ns, effective_ns),
            fee_returned_minor: if paid {
                self.fee_returned(d, attempt, now_ns)
            } else {
                0
            },
        };
        if !self.book.is_full() {
            self.book.record(Record::Refund {
                refund_id: d.refund_id,
                entry,
            });
        }
        self.answer_refund(d.refund_id, entry, now_ns, draw);
    }

    /// The fee refund `d` of `attempt` returns: the channel's policy over the capture's fee and
    /// the refunds dispatched before it, paid or not yet answered (`Book::refunded_before_minor`).
    fn fee_returned(&self, d: &RefundDispatch, attempt: u8, now_ns: u64) -> i64 {
        let (Some(channel), Some(capture)) = (
            self.bill_channel(d.channel_id),
            self.book.attempt(d.order_id, attempt),
        ) else {
            return 0;
        };
        let before = self.book.refunded_before_minor(d.order_id, attempt, now_ns);
        channel.fee_returned_minor(
            capture.fee_minor,
            capture.amount_minor,
            before,
            d.amount_minor,
        )
    }

    fn answer_refund(&mut self, refund_id: u64, r: RefundEntry, now_ns: u64, draw: Draw) {
        let due_ns = r.effective_ns.max(now_ns);
        let reply = RefundChannelResult {
            refund_id,
            outcome: if r.paid {
                ChannelOutcome::Succeeded
            } else {
                ChannelOutcome::RetryableError
            },
            channel_code: if r.paid { 0 } else { 96 },
            latency_us: (due_ns.saturating_sub(now_ns) / 1_000).min(u64::from(u32::MAX)) as u32,
            channel_ref: refund_ref(r.channel_id, refund_id),
        };
        self.send_at(due_ns, r.channel_id, SimReply::Refund(reply), draw);
    }

    /// A ChannelControl reached the simulated channel: it is processed (and the book changed)
    /// when the channel gets to it, after its smallest latency, later or never when its queries
    /// are slow or silent (`lost` is for answers to dispatches: a question has faults of its own),
    /// never during a "timeout" outage.
    pub fn on_control(&mut self, c: &ChannelControl, now_ns: u64) {
        let Some(index) = self.model_index(c.channel_id) else {
            return;
        };
        let draw = self.draw(index);
        if !self.arrives(index, &draw, now_ns) {
            return;
        }
        if draw.unanswered || self.models[index].unreachable(self.elapsed_s(now_ns)) {
            self.counts.controls_unanswered += 1;
            return;
        }
        let latency_ns = u64::from(self.models[index].config.latency_us_min) * 1_000;
        let mut due_ns = now_ns + latency_ns;
        if let Some(slow_ns) = draw.slow_ns {
            self.counts.controls_slowed += 1;
            due_ns += slow_ns;
        }
        if let Some(after_ns) = draw.duplicate_ns {
            self.counts.duplicated += 1;
            self.schedule(due_ns + after_ns, c.channel_id, Work::Control(c.clone()));
        }
        self.schedule(due_ns, c.channel_id, Work::Control(c.clone()));
    }

    /// The next message due at `now_ns`, with its channel. A ChannelControl is processed against
    /// the book now; a success whose attempt was closed meanwhile is dropped.
    pub fn due(&mut self, now_ns: u64) -> Option<(u16, SimReply)> {
        loop {
            let &Reverse((due, _, slot)) = self.pending.peek()?;
            if due > now_ns {
                return None;
            }
            self.pending.pop();
            let work = self.work.get_mut(slot).and_then(Option::take);
            self.free.push(slot);
            let Some((channel, work)) = work else {
                continue;
            };
            if self.disconnected(now_ns) {
                self.counts.lost_disconnected += 1;
                continue;
            }
            match work {
                Work::Send(SimReply::Payment(r)) if self.closed(r.order_id, r.attempt) => {
                    self.counts.closed_before_capture += 1;
                }
                Work::Send(reply) => return Some((channel, reply)),
                Work::Control(c) => {
                    let (status, channel_ref) = self.book.control(&c, now_ns);
                    self.counts.controls_answered += 1;
                    let result = ChannelControlResult {
                        op: c.op,
                        order_id: c.order_id,
                        attempt: c.attempt,
                        refund_id: c.refund_id,
                        status,
                        channel_code: 0,
                        channel_ref,
                    };
                    return Some((channel, SimReply::Control(result)));
                }
            }
        }
    }

    fn closed(&self, order_id: u64, attempt: u8) -> bool {
        self.book
            .attempt(order_id, attempt)
            .is_some_and(|e| e.closed)
    }

    /// Puts back a reply that could not be delivered yet (ring full): it goes out first next time.
    pub fn defer(&mut self, channel_id: u16, reply: SimReply, now_ns: u64) {
        self.schedule(now_ns, channel_id, Work::Send(reply));
    }

    /// When the next reply is due, if any.
    pub fn next_due_ns(&self) -> Option<u64> {
        self.pending.peek().map(|Reverse((due, _, _))| *due)
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests;
