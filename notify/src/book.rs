//! The pure core of delivery: which notification to attempt when, within the in-flight caps.
//! No sockets, no clocks: every call takes `now_ms`, and the shell (`notifier.rs`) turns
//! [`Dispatch`]es into HTTP requests and feeds their results back through
//! [`DeliveryBook::handle_outcome`]. Recovery replays the store's records through the same calls,
//! so a restart rebuilds exactly the state these functions would have reached.
//!
//! Fairness: due notifications wait in a ready queue per merchant, and [`DeliveryBook::poll_due`]
//! takes one from each merchant in turn. A merchant at its in-flight cap leaves the rotation until
//! one of its attempts ends, so a slow merchant holds at most `per_merchant_in_flight` slots and
//! never blocks the queue of another.

use crate::Notification;
use rustc_hash::FxHashMap as HashMap;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

/// The limits the book enforces.
#[derive(Debug, Clone)]
pub struct BookLimits {
    /// Delay after each failed attempt; after the last, give up.
    pub schedule_ms: Vec<u64>,
    pub max_in_flight: u32,
    pub per_merchant_in_flight: u32,
    /// Ids of delivered notifications remembered for idempotent enqueue: at most this many...
    pub delivered_ids_max: usize,
    /// ...and none older than this.
    pub delivered_horizon_ms: u64,
}

/// Delivered ids are remembered for 7 days or the last 1,000,000, whichever is fewer: about
/// 100 MB at most. Enqueue is idempotent within that horizon; the journal side re-derives only
/// the notifications past its saved position, which is far inside it.
pub const DELIVERED_IDS_MAX: usize = 1_000_000;
pub const DELIVERED_HORIZON_MS: u64 = 7 * 24 * 3600 * 1000;

/// Where a known notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for its due time.
    Waiting,
    /// Due, queued behind its merchant's cap or the global cap.
    Ready,
    /// An attempt is under way.
    InFlight,
    /// The schedule ran out; kept until an operator resends it.
    GivenUp,
}

/// A notification not yet delivered.
#[derive(Debug, Clone)]
pub struct Entry {
    pub note: Arc<Notification>,
    /// Attempts completed (each one failed).
    pub attempts: u32,
    pub due_ms: u64,
    pub last_error: Option<String>,
    pub phase: Phase,
    /// Matches the live timer; older timers in the heap are stale and skipped.
    timer_generation: u64,
}

/// An attempt to make now.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub note: Arc<Notification>,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// What an attempt's end did to the notification (the shell logs it to the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        attempts: u32,
    },
    Retry {
        attempts: u32,
        next_due_ms: u64,
    },
    GaveUp {
        attempts: u32,
    },
    /// The id had no attempt in flight (a stale result): nothing changed.
    NotInFlight,
}

/// What a resend request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Given up before: the schedule restarts from zero, first attempt now.
    Restarted,
    /// Pending: its next attempt moves to now (attempts kept).
    MovedToNow,
    /// Already due or in flight: nothing to do.
    AlreadyDue,
    /// Delivered (only the id is kept, not the body): nothing to resend.
    Delivered,
    Unknown,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookCounts {
    /// Not delivered and not given up (waiting, ready or in flight).
    pub pending: u64,
    pub in_flight: u64,
    pub given_up: u64,
    pub delivered_ids: u64,
}

#[derive(Default)]
struct MerchantQueue {
    ready: VecDeque<String>,
    in_flight: u32,
    /// In `rotation` now (at most once).
    in_rotation: bool,
}

pub struct DeliveryBook {
    limits: BookLimits,
    entries: HashMap<String, Entry>,
    timers: BinaryHeap<Reverse<(u64, u64, String)>>,
    merchants: HashMap<u32, MerchantQueue>,
    rotation: VecDeque<u32>,
    in_flight: u32,
    given_up: u64,
    delivered: HashMap<String, u64>,
    delivered_order: VecDeque<(u64, String)>,
    next_generation: u64,
}

impl DeliveryBook {
    pub fn new(limits: BookLimits) -> DeliveryBook {
        assert!(limits.max_in_flight > 0 && limits.per_merchant_in_flight > 0);
        DeliveryBook {
            limits,
            entries: HashMap::default(),
            timers: BinaryHeap::new(),
            merchants: HashMap::default(),
            rotation: VecDeque::new(),
            in_flight: 0,
            given_up: 0,
            delivered: HashMap::default(),
            delivered_order: VecDeque::new(),
            next_generation: 0,
        }
    }

    /// Pending, given up, or delivered within the horizon.
    pub fn is_known(&self, id: &str) -> bool {
        self.entries.contains_key(id) || self.delivered.contains_key(id)
    }

    /// A new notification, first attempt due now. `false` (and no change) for a known id.
    pub fn handle_enqueue(&mut self, note: Arc<Notification>, now_ms: u64) -> bool {
        if self.is_known(&note.id) {
            return false;
        }
        self.restore(note, 0, now_ms, None, false);
        true
    }

    /// Puts a notification back with its state (recovery, checkpoint load). Replaces any entry.
    pub fn restore(
        &mut self,
        note: Arc<Notification>,
        attempts: u32,
        due_ms: u64,
        last_error: Option<String>,
        given_up: bool,
    ) {
        let id = note.id.clone();
        self.forget(&id);
        let phase = if given_up {
            Phase::GivenUp
        } else {
            Phase::Waiting
        };
        let entry = Entry {
            note,
            attempts,
            due_ms,
            last_error,
            phase,
            timer_generation: 0,
        };
        self.entries.insert(id.clone(), entry);
        if given_up {
            self.given_up += 1;
        } else {
            self.arm(&id, due_ms);
        }
    }

    /// Removes an entry wherever it is (recovery replaces state; a stale timer is skipped).
    fn forget(&mut self, id: &str) {
        let Some(entry) = self.entries.remove(id) else {
            return;
        };
        match entry.phase {
            Phase::GivenUp => self.given_up -= 1,
            Phase::InFlight => self.release_slot(entry.note.merchant_id),
            Phase::Ready => {
                if let Some(queue) = self.merchants.get_mut(&entry.note.merchant_id) {
                    queue.ready.retain(|ready| ready != id);
                }
            }
            Phase::Waiting => {}
        }
    }

    fn arm(&mut self, id: &str, due_ms: u64) {
        self.next_generation += 1;
        let generation = self.next_generation;
        let entry = self
            .entries
            .get_mut(id)
            .expect("arm is called for a present entry");
        entry.phase = Phase::Waiting;
        entry.due_ms = due_ms;
        entry.timer_generation = generation;
        self.timers
            .push(Reverse((due_ms, generation, id.to_string())));
    }

    /// The attempts to make now: due timers move to their merchant's ready queue, then merchants
    /// take turns, one attempt each, within both caps.
    pub fn poll_due(&mut self, now_ms: u64) -> Vec<Dispatch> {
        self.fire_timers(now_ms);
        let mut out = Vec::new();
        while self.in_flight < self.limits.max_in_flight {
            let Some(merchant_id) = self.rotation.pop_front() else {
                break;
            };
            let cap = self.limits.per_merchant_in_flight;
            let queue = self
                .merchants
                .get_mut(&merchant_id)
                .expect("rotation names a queue");
            let Some(id) = queue.ready.pop_front() else {
                queue.in_rotation = false;
                continue;
            };
            queue.in_flight += 1;
            queue.in_rotation = !queue.ready.is_empty() && queue.in_flight < cap;
            if queue.in_rotation {
                self.rotation.push_back(merchant_id);
            }
            self.in_flight += 1;
            let entry = self.entries.get_mut(&id).expect("a ready id has an entry");
            entry.phase = Phase::InFlight;
            out.push(Dispatch {
                note: entry.note.clone(),
                attempt: entry.attempts + 1,
            });
        }
        out
    }

    fn fire_timers(&mut self, now_ms: u64) {
        while let Some(Reverse((due_ms, generation, _))) = self.timers.peek() {
            if *due_ms > now_ms {
                break;
            }
            let generation = *generation;
            let Reverse((_, _, id)) = self.timers.pop().expect("peeked");
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            if entry.phase != Phase::Waiting || entry.timer_generation != generation {
                continue;
            }
            entry.phase = Phase::Ready;
            let merchant_id = entry.note.merchant_id;
            self.merchants
                .entry(merchant_id)
                .or_default()
                .ready
                .push_back(id);
            self.enter_rotation(merchant_id);
        }
    }

    fn enter_rotation(&mut self, merchant_id: u32) {
        let cap = self.limits.per_merchant_in_flight;
        let queue = self.merchants.entry(merchant_id).or_default();
        if !queue.in_rotation && !queue.ready.is_empty() && queue.in_flight < cap {
            queue.in_rotation = true;
            self.rotation.push_back(merchant_id);
        }
    }

    fn release_slot(&mut self, merchant_id: u32) {
        self.in_flight -= 1;
        let queue = self
            .merchants
            .get_mut(&merchant_id)
            .expect("in flight has a queue");
        queue.in_flight -= 1;
        self.enter_rotation(merchant_id);
    }

    /// The end of an attempt: `Ok` for a 2xx, `Err(reason)` for anything else.
    pub fn handle_outcome(&mut self, id: &str, result: Result<(), String>, now_ms: u64) -> Outcome {
        let Some(entry) = self.entries.get(id) else {
            return Outcome::NotInFlight;
        };
        if entry.phase != Phase::InFlight {
            return Outcome::NotInFlight;
        }
        let (merchant_id, attempts) = (entry.note.merchant_id, entry.attempts + 1);
        self.release_slot(merchant_id);
        // Out of flight, no timer yet: `handle_delivered` or `handle_failed` decides what next.
        self.entries.get_mut(id).expect("just read").phase = Phase::Waiting;
        match result {
            Ok(()) => {
                self.handle_delivered(id, now_ms);
                Outcome::Delivered { attempts }
            }
            Err(reason) => self.handle_failed(id, attempts, reason, now_ms),
        }
    }

    fn handle_failed(&mut self, id: &str, attempts: u32, reason: String, now_ms: u64) -> Outcome {
        let delay_ms = self.limits.schedule_ms.get(attempts as usize - 1).copied();
        let entry = self.entries.get_mut(id).expect("checked by the caller");
        entry.attempts = attempts;
        entry.last_error = Some(reason);
        match delay_ms {
            Some(delay_ms) => {
                let next_due_ms = now_ms.saturating_add(delay_ms);
                self.arm(id, next_due_ms);
                Outcome::Retry {
                    attempts,
                    next_due_ms,
                }
            }
            None => {
                entry.phase = Phase::GivenUp;
                self.given_up += 1;
                Outcome::GaveUp { attempts }
            }
        }
    }

    /// Records an attempt's failure from the store (recovery): attempts and next due time.
    pub fn restore_attempted(&mut self, id: &str, attempts: u32, next_due_ms: u64, error: String) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        if entry.phase == Phase::GivenUp {
            return;
        }
        entry.attempts = attempts;
        entry.last_error = Some(error);
        self.arm(id, next_due_ms);
    }

    /// Records a give-up from the store (recovery).
    pub fn restore_given_up(&mut self, id: &str, attempts: u32, error: String) {
        let Some(entry) = self.entries.get(id) else {
            return;
        };
        let note = entry.note.clone();
        let due_ms = entry.due_ms;
        self.restore(note, attempts, due_ms, Some(error), true);
    }

    /// The notification was delivered: its body goes, its id stays within the horizon.
    pub fn handle_delivered(&mut self, id: &str, at_ms: u64) {
        self.forget(id);
        if self.delivered.insert(id.to_string(), at_ms).is_none() {
            self.delivered_order.push_back((at_ms, id.to_string()));
        }
        self.prune_delivered(at_ms);
    }

    fn prune_delivered(&mut self, now_ms: u64) {
        let oldest_ms = now_ms.saturating_sub(self.limits.delivered_horizon_ms);
        while let Some((at_ms, _)) = self.delivered_order.front() {
            let over = self.delivered_order.len() > self.limits.delivered_ids_max;
            if !over && *at_ms >= oldest_ms {
                break;
            }
            let (_, id) = self.delivered_order.pop_front().expect("peeked");
            self.delivered.remove(&id);
        }
    }

    /// An operator's resend.
    pub fn handle_resend(&mut self, id: &str, now_ms: u64) -> Resend {
        let Some(entry) = self.entries.get_mut(id) else {
            return if self.delivered.contains_key(id) {
                Resend::Delivered
            } else {
                Resend::Unknown
            };
        };
        match entry.phase {
            Phase::GivenUp => {
                entry.attempts = 0;
                self.given_up -= 1;
                self.arm(id, now_ms);
                Resend::Restarted
            }
            Phase::Waiting if entry.due_ms > now_ms => {
                self.arm(id, now_ms);
                Resend::MovedToNow
            }
            _ => Resend::AlreadyDue,
        }
    }

    /// The earliest timer (possibly a stale one: waking early is harmless). Ready work waiting on
    /// a cap needs no timer: the outcome that frees the slot wakes the shell.
    pub fn next_wake_ms(&self) -> Option<u64> {
        self.timers.peek().map(|Reverse((due_ms, _, _))| *due_ms)
    }

    pub fn counts(&self) -> BookCounts {
        BookCounts {
            pending: self.entries.len() as u64 - self.given_up,
            in_flight: u64::from(self.in_flight),
            given_up: self.given_up,
            delivered_ids: self.delivered.len() as u64,
        }
    }

    /// Every undelivered notification (pending and given up), in no order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Delivered ids with their delivery times, oldest first.
    pub fn delivered_ids(&self) -> impl Iterator<Item = (&str, u64)> {
        self.delivered_order
            .iter()
            .map(|(at_ms, id)| (id.as_str(), *at_ms))
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
