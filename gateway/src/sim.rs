//! A simulated payment channel: per channel a success rate, a decline rate, a latency range and
//! scheduled outages, driven by a seeded generator. The server runs it in-process for the demo and
//! for a plain `sluice serve`; `sluice channel-sim` runs the same model as a TCP connector.

use sluice_protocol::rng::Rng;
use sluice_protocol::{
    ChannelOutcome, ChannelResult, Chars, Dispatch, RefundChannelResult, RefundDispatch,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::config::SimChannel;

/// A result the simulated channel will send when its time comes.
#[derive(Debug, Clone)]
pub enum SimReply {
    Payment(ChannelResult),
    Refund(RefundChannelResult),
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

/// Simulated channels with a timer queue of pending replies.
pub struct Simulator {
    models: Vec<ChannelModel>,
    rng: Rng,
    start_ns: u64,
    pending: BinaryHeap<Reverse<(u64, u64, usize)>>,
    replies: Vec<Option<(u16, SimReply)>>,
    free: Vec<usize>,
    counter: u64,
    next_ref: u64,
}

impl Simulator {
    /// `capacity` bounds replies in flight (preallocated).
    pub fn new(channels: &[SimChannel], seed: u64, start_ns: u64, capacity: usize) -> Self {
        Simulator {
            models: channels
                .iter()
                .map(|c| ChannelModel { config: c.clone() })
                .collect(),
            rng: Rng::new(seed),
            start_ns,
            pending: BinaryHeap::with_capacity(capacity),
            replies: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            counter: 0,
            next_ref: 1,
        }
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

    fn model(&self, channel_id: u16) -> Option<&ChannelModel> {
        self.models
            .iter()
            .find(|m| m.config.channel_id == channel_id)
    }

    fn elapsed_s(&self, now_ns: u64) -> f64 {
        now_ns.saturating_sub(self.start_ns) as f64 / 1e9
    }

    fn channel_ref(&mut self) -> Chars<24> {
        self.next_ref += 1;
        Chars::new(&format!("SIM{:020}", self.next_ref))
    }

    fn schedule(&mut self, due_ns: u64, channel_id: u16, reply: SimReply) {
        let slot = match self.free.pop() {
            Some(i) => {
                self.replies[i] = Some((channel_id, reply));
                i
            }
            None => {
                self.replies.push(Some((channel_id, reply)));
                self.replies.len() - 1
            }
        };
        self.counter += 1;
        self.pending.push(Reverse((due_ns, self.counter, slot)));
    }

    /// A dispatch reached the simulated channel at `now_ns`.
    pub fn on_dispatch(&mut self, d: &Dispatch, now_ns: u64) {
        let Some(model) = self.model(d.channel_id).cloned() else {
            return;
        };
        let elapsed = self.elapsed_s(now_ns);
        let (behaviour, latency_us) = model.decide(&mut self.rng, elapsed);
        let Behaviour::Answer(outcome) = behaviour else {
            return;
        };
        let reply = ChannelResult {
            order_id: d.order_id,
            attempt: d.attempt,
            outcome,
            channel_code: match outcome {
                ChannelOutcome::Succeeded => 0,
                ChannelOutcome::Declined => 51,
                ChannelOutcome::RetryableError => 96,
            },
            latency_us,
            channel_ref: self.channel_ref(),
        };
        self.schedule(
            now_ns + u64::from(latency_us) * 1_000,
            d.channel_id,
            SimReply::Payment(reply),
        );
    }

    /// A refund dispatch reached the simulated channel.
    pub fn on_refund(&mut self, d: &RefundDispatch, now_ns: u64) {
        let Some(model) = self.model(d.channel_id).cloned() else {
            return;
        };
        let elapsed = self.elapsed_s(now_ns);
        let (behaviour, latency_us) = model.decide(&mut self.rng, elapsed);
        // Refunds are rarely declined: a decline in the model becomes a success.
        let outcome = match behaviour {
            Behaviour::Silent => return,
            Behaviour::Answer(ChannelOutcome::RetryableError) => ChannelOutcome::RetryableError,
            Behaviour::Answer(_) => ChannelOutcome::Succeeded,
        };
        let reply = RefundChannelResult {
            refund_id: d.refund_id,
            outcome,
            channel_code: 0,
            latency_us,
            channel_ref: self.channel_ref(),
        };
        self.schedule(
            now_ns + u64::from(latency_us) * 1_000,
            d.channel_id,
            SimReply::Refund(reply),
        );
    }

    /// The next reply due at `now_ns`, with its channel.
    pub fn due(&mut self, now_ns: u64) -> Option<(u16, SimReply)> {
        let &Reverse((due, _, slot)) = self.pending.peek()?;
        if due > now_ns {
            return None;
        }
        self.pending.pop();
        let reply = self.replies.get_mut(slot).and_then(Option::take);
        self.free.push(slot);
        reply
    }

    /// Puts back a reply that could not be delivered yet (ring full): it goes out first next time.
    pub fn defer(&mut self, channel_id: u16, reply: SimReply, now_ns: u64) {
        self.schedule(now_ns, channel_id, reply);
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
mod tests {
    use super::*;
    use crate::config::SimOutage;

    fn model(outages: Vec<SimOutage>) -> ChannelModel {
        ChannelModel {
            config: SimChannel {
                channel_id: 1,
                success_rate: 0.9,
                decline_rate: 0.05,
                latency_us_min: 100,
                latency_us_max: 200,
                outages,
            },
        }
    }

    #[test]
    fn rates_are_respected_and_reproducible() {
        let m = model(vec![]);
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut ok = 0;
            for _ in 0..10_000 {
                if m.decide(&mut rng, 0.0).0 == Behaviour::Answer(ChannelOutcome::Succeeded) {
                    ok += 1;
                }
            }
            ok
        };
        let ok = run(7);
        assert!((8_800..=9_200).contains(&ok), "{ok}");
        assert_eq!(run(7), ok, "same seed, same outcomes");
    }

    #[test]
    fn outages_apply_in_their_window() {
        let m = model(vec![SimOutage {
            from_s: 5.0,
            to_s: 15.0,
            mode: "error".into(),
        }]);
        let mut rng = Rng::new(1);
        assert_eq!(
            m.decide(&mut rng, 6.0).0,
            Behaviour::Answer(ChannelOutcome::RetryableError)
        );
        let m = model(vec![SimOutage {
            from_s: 5.0,
            to_s: 15.0,
            mode: "timeout".into(),
        }]);
        assert_eq!(m.decide(&mut rng, 14.9).0, Behaviour::Silent);
    }
}
