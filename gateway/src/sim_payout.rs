//! A simulated payout channel: a bank-transfer API as WeChat Pay's 商家转账, Alipay's
//! `fund.trans.uni.transfer` or Stripe's payouts are (docs/PAYOUTS.md, section 4). A transfer is
//! idempotent on its request id (the payout id): a dispatch the channel already has is answered
//! with where it stands and never paid twice. What becomes of a transfer is drawn once per payout
//! from the seed and the payout id (the same outcome whatever order messages arrive in), or taken
//! from the channel's script (`script`, `SimCommand::PayoutScript`) for scenarios that need each
//! outcome: paid; failed (account closed, invalid, ...); processing (answered Processing, final
//! only to a later PayoutQuery); lost (booked, the answer never sent: the engine's deadline and
//! query find it); unseen (the dispatch never reached the channel: a query answers NotFound, and
//! the same dispatch sent again is processed); returned (paid, then sent back by the receiving
//! bank `return_days` later: an unsolicited Returned once the channel's time passes it).
//!
//! The channel's time is event time: the `at_ns` of the messages it receives (and, in process,
//! the server's clock, `observe`), so that a scripted month moves it. Answers go out after a
//! latency on the caller's clock (the wall clock), as the payment channels' do (`sim`).

use serde::Deserialize;
use sluice_protocol::rng::{Rng, mix};
use sluice_protocol::{
    PartyKind, PayoutChannelResult, PayoutChannelStatus, PayoutDispatch, PayoutQuery,
};
use std::collections::BTreeMap;

use crate::sim_payout_book::{
    FAILURE_CODES, Fate, PayoutBook, PayoutEntry, PayoutRecord, RETURN_CODE, Standing, payout_ref,
};

const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_DAY: u64 = 86_400 * NS_PER_S;

/// One simulated payout channel: `[[simulator.payout_channels]]`. Rates are probabilities per
/// new payout; what is left over is paid at once.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimPayoutChannel {
    pub channel_id: u16,
    /// Failed: the account is closed, invalid, frozen, ... (`FAILURE_CODES`).
    #[serde(default)]
    pub failed_rate: f64,
    /// Answered Processing; final (paid) `processing_s` later, told to a PayoutQuery.
    #[serde(default)]
    pub processing_rate: f64,
    /// Paid, and the answer lost.
    #[serde(default)]
    pub lost_rate: f64,
    /// The dispatch never reaches the channel.
    #[serde(default)]
    pub unseen_rate: f64,
    /// Paid, and returned by the receiving bank `return_days` later.
    #[serde(default)]
    pub returned_rate: f64,
    /// How long a Processing transfer takes, seconds of event time.
    #[serde(default = "d_processing_s")]
    pub processing_s: u64,
    /// How long after payment a returned transfer comes back, days of event time.
    #[serde(default = "d_return_days")]
    pub return_days: u32,
    #[serde(default = "d_lat_min")]
    pub latency_us_min: u32,
    #[serde(default = "d_lat_max")]
    pub latency_us_max: u32,
    /// The outcomes of the first new payouts, in the order they arrive (names of `Path`); the
    /// draws decide the rest.
    #[serde(default)]
    pub script: Vec<String>,
}

fn d_processing_s() -> u64 {
    7_200
}
fn d_return_days() -> u32 {
    3
}
fn d_lat_min() -> u32 {
    300
}
fn d_lat_max() -> u32 {
    3_000
}

impl SimPayoutChannel {
    /// A channel that pays everything at once.
    pub fn paying(channel_id: u16) -> SimPayoutChannel {
        SimPayoutChannel {
            channel_id,
            failed_rate: 0.0,
            processing_rate: 0.0,
            lost_rate: 0.0,
            unseen_rate: 0.0,
            returned_rate: 0.0,
            processing_s: d_processing_s(),
            return_days: d_return_days(),
            latency_us_min: d_lat_min(),
            latency_us_max: d_lat_max(),
            script: Vec::new(),
        }
    }

    /// The configuration's check: rates in [0, 1] summing to at most 1, a script of known names.
    pub fn check(&self) -> Result<(), String> {
        let rates = [
            self.failed_rate,
            self.processing_rate,
            self.lost_rate,
            self.unseen_rate,
            self.returned_rate,
        ];
        if rates.iter().any(|r| !(0.0..=1.0).contains(r)) || rates.iter().sum::<f64>() > 1.0 {
            return Err("the outcome rates must be in [0, 1] and sum to at most 1".into());
        }
        if self.latency_us_min > self.latency_us_max {
            return Err("latency_us_min must not exceed latency_us_max".into());
        }
        if self.return_days == 0 || self.return_days > 365 {
            return Err("return_days must be 1..=365".into());
        }
        for name in &self.script {
            Path::from_name(name).ok_or_else(|| {
                format!("script: {name:?} is not one of {}", Path::NAMES.join(", "))
            })?;
        }
        Ok(())
    }

    /// The path of a new payout from its draw `x` in [0, 1).
    fn path_of(&self, x: f64) -> Path {
        let bands = [
            (self.failed_rate, Path::Failed),
            (self.processing_rate, Path::Processing),
            (self.lost_rate, Path::Lost),
            (self.unseen_rate, Path::Unseen),
            (self.returned_rate, Path::Returned),
        ];
        let mut edge = 0.0;
        for (rate, path) in bands {
            edge += rate;
            if x < edge {
                return path;
            }
        }
        Path::Paid
    }
}

/// What becomes of one payout at the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Path {
    /// Paid at once, answered Paid.
    Paid,
    /// Failed at once, answered Failed.
    Failed,
    /// Answered Processing; a query after `processing_s` finds it paid.
    Processing,
    /// Paid; the answer is lost.
    Lost,
    /// The dispatch never reaches the channel; sent again, it is paid.
    Unseen,
    /// Paid, answered Paid, and returned `return_days` later.
    Returned,
}

impl Path {
    pub const NAMES: [&'static str; 6] =
        ["paid", "failed", "processing", "lost", "unseen", "returned"];
    const ALL: [Path; 6] = [
        Path::Paid,
        Path::Failed,
        Path::Processing,
        Path::Lost,
        Path::Unseen,
        Path::Returned,
    ];

    pub fn from_name(name: &str) -> Option<Path> {
        let i = Path::NAMES.iter().position(|n| *n == name)?;
        Some(Path::ALL[i])
    }

    pub fn name(self) -> &'static str {
        let i = Path::ALL
            .iter()
            .position(|p| *p == self)
            .expect("every path is listed");
        Path::NAMES[i]
    }
}

/// What the payout channels did, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PayoutCounts {
    pub dispatches: u64,
    /// Dispatches of a payout the channel already had (answered from the book).
    pub repeats: u64,
    pub queries: u64,
    pub answers: u64,
    /// New payouts per path, in `Path` order.
    pub paths: [u64; 6],
    pub returns: u64,
    /// Answers dropped: the timer queue was full.
    pub dropped: u64,
}

/// One scripted outcome: the next new payout of `channel_id` (of `party` only, when set) takes
/// `path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scripted {
    pub channel_id: u16,
    pub party: Option<(PartyKind, u32)>,
    pub path: Path,
}

/// Most scripted outcomes waiting.
pub const SCRIPT_MAX: usize = 4_096;

/// Salt of the per-payout draws (apart from the payment channels' generator).
const PAYOUT_SEED_SALT: u64 = 0xB0A7_7A11_0000_0022;

/// Simulated payout channels with their book and a queue of answers to send.
pub struct PayoutSim {
    models: Vec<SimPayoutChannel>,
    seed: u64,
    book: PayoutBook,
    script: Vec<Scripted>,
    /// Answers waiting for their time (wall clock), in order: (due, sequence) -> (channel, answer).
    pending: BTreeMap<(u64, u64), (u16, PayoutChannelResult)>,
    pending_max: usize,
    sequence: u64,
    /// The channel's time: the latest event time seen.
    event_ns: u64,
    counts: PayoutCounts,
    /// The path each new payout took (for reports), bounded as the book is.
    paths: BTreeMap<u64, Path>,
}

impl PayoutSim {
    /// `pending_max` bounds the answers waiting to be sent.
    pub fn new(channels: &[SimPayoutChannel], seed: u64, pending_max: usize) -> PayoutSim {
        let script = channels
            .iter()
            .flat_map(|c| c.script.iter().map(move |name| (c.channel_id, name)))
            .filter_map(|(channel_id, name)| {
                let path = Path::from_name(name)?;
                Some(Scripted {
                    channel_id,
                    party: None,
                    path,
                })
            })
            .take(SCRIPT_MAX)
            .collect();
        PayoutSim {
            models: channels.to_vec(),
            seed: seed ^ PAYOUT_SEED_SALT,
            book: PayoutBook::new(false),
            script,
            pending: BTreeMap::new(),
            pending_max,
            sequence: 0,
            event_ns: 0,
            counts: PayoutCounts::default(),
            paths: BTreeMap::new(),
        }
    }

    /// Starts from `book` (e.g. read back from a file).
    pub fn with_book(mut self, book: PayoutBook) -> PayoutSim {
        self.book = book;
        self
    }

    pub fn book(&self) -> &PayoutBook {
        &self.book
    }

    pub fn take_records(&mut self) -> Vec<PayoutRecord> {
        self.book.take_records()
    }

    /// Every payout in the book with the path it took, in id order (`Paid` for one read back
    /// from a file, whose path is not kept).
    pub fn report_payouts(&self) -> Vec<(u64, Path, PayoutEntry)> {
        self.book
            .payouts()
            .map(|(id, e)| (id, self.paths.get(&id).copied().unwrap_or(Path::Paid), *e))
            .collect()
    }

    pub fn counts(&self) -> PayoutCounts {
        self.counts
    }

    /// The channel's time now (the latest event time seen).
    pub fn event_ns(&self) -> u64 {
        self.event_ns
    }

    pub fn serves(&self, channel_id: u16) -> bool {
        self.model(channel_id).is_some()
    }

    pub fn channel_ids(&self) -> Vec<u16> {
        self.models.iter().map(|m| m.channel_id).collect()
    }

    fn model(&self, channel_id: u16) -> Option<&SimPayoutChannel> {
        self.models.iter().find(|m| m.channel_id == channel_id)
    }

    /// Appends outcomes for the next new payouts of `channel_id` (of `party` only, when set),
    /// in arrival order; beyond `SCRIPT_MAX` waiting, the rest is ignored.
    pub fn script(&mut self, channel_id: u16, party: Option<(PartyKind, u32)>, paths: &[Path]) {
        let room = SCRIPT_MAX.saturating_sub(self.script.len());
        self.script
            .extend(paths.iter().take(room).map(|&path| Scripted {
                channel_id,
                party,
                path,
            }));
    }

    /// The first scripted outcome that applies to a new payout of `party` on `channel_id`,
    /// taken out of the script.
    fn take_scripted(&mut self, channel_id: u16, party: (PartyKind, u32)) -> Option<Path> {
        let i = self
            .script
            .iter()
            .position(|s| s.channel_id == channel_id && s.party.is_none_or(|p| p == party))?;
        Some(self.script.remove(i).path)
    }

    /// The channel's time moves to `at_ns` (a message's event time, or the server's clock); the
    /// returns it makes due are booked and told unasked, at `now_ns`.
    pub fn observe(&mut self, at_ns: u64, now_ns: u64) {
        self.event_ns = self.event_ns.max(at_ns);
        // Bounded by the returns planned; each step books one.
        while let Some((payout_id, channel)) = self.book.return_due(self.event_ns) {
            let due = self.book.payout(payout_id).map_or(0, |e| e.return_due_ns);
            self.make_return(channel, payout_id, due, now_ns);
        }
    }

    fn make_return(&mut self, channel_id: u16, payout_id: u64, at_ns: u64, now_ns: u64) {
        self.book.record(PayoutRecord::Returned {
            channel_id,
            payout_id,
            at_ns,
        });
        self.counts.returns += 1;
        let answer = result(channel_id, payout_id, Standing::Returned);
        self.send_at(now_ns, channel_id, answer);
    }

    /// Returns paid transfer `payout_id` now (a test's or scenario's command): false when the
    /// channel has no such paid transfer, or it was returned already.
    pub fn force_return(&mut self, channel_id: u16, payout_id: u64, now_ns: u64) -> bool {
        let returnable = self
            .book
            .payout(payout_id)
            .is_some_and(|e| e.channel_id == channel_id && e.paid() && e.returned_ns == 0);
        if returnable {
            self.make_return(channel_id, payout_id, self.event_ns, now_ns);
        }
        returnable
    }

    /// The channel's time of a message stamped `at_ns` (its latest time when it carries none).
    fn channel_ns(&self, at_ns: u64) -> u64 {
        if at_ns != 0 { at_ns } else { self.event_ns }
    }

    fn latency_ns(&self, channel_id: u16, payout_id: u64) -> u64 {
        let Some(m) = self.model(channel_id) else {
            return 0;
        };
        let mut rng = Rng::new(self.seed ^ mix(payout_id ^ 0x1A7E_0C1E));
        rng.inclusive(u64::from(m.latency_us_min), u64::from(m.latency_us_max)) * 1_000
    }

    /// What becomes of new payout `payout_id`: the script's next entry, or its own draw.
    fn path_of(&mut self, d: &PayoutDispatch) -> (Path, u16) {
        let (channel_id, payout_id) = (d.channel_id, d.payout_id);
        let mut rng = Rng::new(self.seed ^ mix(payout_id ^ (u64::from(channel_id) << 48)));
        let drawn = rng.unit();
        let code = rng.pick(FAILURE_CODES).0;
        let scripted = self.take_scripted(channel_id, (d.party_kind, d.party_id));
        let model = self
            .model(channel_id)
            .expect("a served channel has a model");
        (scripted.unwrap_or_else(|| model.path_of(drawn)), code)
    }

    /// A PayoutDispatch reached the channel at `now_ns` (wall clock).
    pub fn on_dispatch(&mut self, d: &PayoutDispatch, now_ns: u64) {
        self.observe(d.at_ns, now_ns);
        if !self.serves(d.channel_id) {
            return;
        }
        self.counts.dispatches += 1;
        let at_ns = self.channel_ns(d.at_ns);
        if self.book.payout(d.payout_id).is_some() {
            // Idempotent: the transfer stands as it is; nothing is paid again.
            self.counts.repeats += 1;
            let standing = self.book.standing(d.payout_id, at_ns);
            return self.answer(d.channel_id, d.payout_id, standing, now_ns);
        }
        let (path, code) = match self.book.was_unseen(d.payout_id) {
            true => (Path::Paid, 0),
            false => self.path_of(d),
        };
        self.counts.paths[path as usize] += 1;
        self.paths.entry(d.payout_id).or_insert(path);
        if path == Path::Unseen {
            self.book.record(PayoutRecord::Unseen {
                channel_id: d.channel_id,
                payout_id: d.payout_id,
            });
            return;
        }
        if self.book.is_full() {
            // Refused and not booked: the channel takes no more transfers.
            return self.answer(d.channel_id, d.payout_id, Standing::Failed(5), now_ns);
        }
        let entry = self.entry(d, path, code, at_ns);
        self.book.record(PayoutRecord::Payout {
            payout_id: d.payout_id,
            entry,
        });
        if path != Path::Lost {
            let standing = self.book.standing(d.payout_id, at_ns);
            self.answer(d.channel_id, d.payout_id, standing, now_ns);
        }
    }

    /// The book's entry of a new transfer on `path`, received at `at_ns`.
    fn entry(&self, d: &PayoutDispatch, path: Path, code: u16, at_ns: u64) -> PayoutEntry {
        let model = self
            .model(d.channel_id)
            .expect("a served channel has a model");
        let final_ns = match path {
            Path::Processing => at_ns.saturating_add(model.processing_s.saturating_mul(NS_PER_S)),
            _ => at_ns,
        };
        let return_due_ns = match path {
            Path::Returned => at_ns.saturating_add(u64::from(model.return_days) * NS_PER_DAY),
            _ => 0,
        };
        PayoutEntry {
            channel_id: d.channel_id,
            party_kind: d.party_kind,
            party_id: d.party_id,
            currency: d.currency,
            amount_minor: d.amount_minor,
            fee_minor: d.fee_minor,
            fate: match path {
                Path::Failed => Fate::Failed(code),
                _ => Fate::Paid,
            },
            received_ns: at_ns,
            final_ns,
            return_due_ns,
            returned_ns: 0,
        }
    }

    /// A PayoutQuery reached the channel at `now_ns`: answered from the book.
    pub fn on_query(&mut self, q: &PayoutQuery, now_ns: u64) {
        self.observe(q.at_ns, now_ns);
        if !self.serves(q.channel_id) {
            return;
        }
        self.counts.queries += 1;
        let standing = self.book.standing(q.payout_id, self.channel_ns(q.at_ns));
        self.answer(q.channel_id, q.payout_id, standing, now_ns);
    }

    fn answer(&mut self, channel_id: u16, payout_id: u64, standing: Standing, now_ns: u64) {
        let due = now_ns.saturating_add(self.latency_ns(channel_id, payout_id));
        self.send_at(due, channel_id, result(channel_id, payout_id, standing));
    }

    fn send_at(&mut self, due_ns: u64, channel_id: u16, answer: PayoutChannelResult) {
        if self.pending.len() >= self.pending_max {
            self.counts.dropped += 1;
            return;
        }
        self.sequence += 1;
        self.pending
            .insert((due_ns, self.sequence), (channel_id, answer));
    }

    /// The next answer due at `now_ns`, with its channel.
    pub fn due(&mut self, now_ns: u64) -> Option<(u16, PayoutChannelResult)> {
        let (&(due, _), _) = self.pending.first_key_value()?;
        if due > now_ns {
            return None;
        }
        let (_, answer) = self.pending.pop_first()?;
        self.counts.answers += 1;
        Some(answer)
    }

    /// Puts back an answer that could not be delivered yet: it goes out first next time.
    pub fn defer(&mut self, channel_id: u16, answer: PayoutChannelResult) {
        self.counts.answers -= 1;
        self.sequence += 1;
        self.pending
            .insert((0, self.sequence), (channel_id, answer));
    }

    pub fn next_due_ns(&self) -> Option<u64> {
        self.pending.first_key_value().map(|(&(due, _), _)| due)
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

/// The channel's answer for where a payout stands.
fn result(channel_id: u16, payout_id: u64, standing: Standing) -> PayoutChannelResult {
    let (status, channel_code) = match standing {
        Standing::NotFound => (PayoutChannelStatus::NotFound, 0),
        Standing::Processing => (PayoutChannelStatus::Processing, 0),
        Standing::Paid => (PayoutChannelStatus::Paid, 0),
        Standing::Failed(code) => (PayoutChannelStatus::Failed, code),
        Standing::Returned => (PayoutChannelStatus::Returned, RETURN_CODE),
    };
    let channel_ref = match standing {
        Standing::NotFound => sluice_protocol::Chars::new(""),
        _ => payout_ref(channel_id, payout_id),
    };
    PayoutChannelResult {
        payout_id,
        status,
        channel_code,
        channel_ref,
    }
}

#[cfg(test)]
#[path = "sim_payout_tests.rs"]
mod tests;
