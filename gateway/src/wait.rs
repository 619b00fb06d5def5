//! How a pipeline thread waits when it has no work: busy-spin (dedicated, pinned cores), yield, or
//! adaptive: spin briefly, then park until the producer unparks it (shared machines such as a
//! 2-core box that also runs the load generator, where spinning or yielding threads would take the
//! CPU from the thread that has work).

use crate::config::WaitMode;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;
use tracing::warn;

/// Spins before parking in adaptive mode (a few microseconds).
const SPINS: u32 = 200;
/// Longest park: a safety net only; the producer unparks a parked consumer as soon as it publishes.
const PARK_MAX: Duration = Duration::from_millis(1);

/// A consumer thread that may park; its producer unparks it after publishing.
///
/// The handshake is Dekker-style: the consumer stores `parked` (SeqCst), issues a SeqCst fence,
/// then checks for work, and parks only if there is none; the producer publishes, issues a SeqCst
/// fence, then loads `parked`.
/// One of the two always sees the other's store, so a published event never waits for the timeout.
#[derive(Default)]
pub struct Parker {
    parked: AtomicBool,
    thread: OnceLock<Thread>,
}

impl Parker {
    pub fn new() -> Arc<Parker> {
        Arc::new(Parker::default())
    }

    /// Called by the consumer thread once, before it first waits.
    pub fn register_current(&self) {
        let _ = self.thread.set(std::thread::current());
    }

    /// Called by the producer after publishing: wakes the consumer if it is parked or parking.
    #[inline]
    pub fn unpark_if_parked(&self) {
        if self.parked.load(Ordering::SeqCst)
            && let Some(t) = self.thread.get()
        {
            t.unpark();
        }
    }
}

/// Unparks every parked consumer after a publish (the fence pairs with the consumers' fence in
/// `Waiter::idle`).
#[inline]
pub fn unpark_all(parkers: &[Arc<Parker>]) {
    fence(Ordering::SeqCst);
    for p in parkers {
        p.unpark_if_parked();
    }
}

/// A waiter for one thread: call `idle(has_work)` when a poll found nothing, `busy()` when it found
/// work.
pub struct Waiter {
    mode: WaitMode,
    idle_polls: u32,
    parker: Option<Arc<Parker>>,
    /// The longest park (`PARK_MAX`; a test makes it long to show that the unpark is what wakes).
    park_max: Duration,
}

impl Waiter {
    pub fn new(mode: WaitMode, parker: Option<Arc<Parker>>) -> Self {
        if let Some(p) = &parker {
            p.register_current();
        }
        Waiter {
            mode,
            idle_polls: 0,
            parker,
            park_max: PARK_MAX,
        }
    }

    /// The same waiter with another safety-net park length.
    pub fn with_park_max(mut self, park_max: Duration) -> Self {
        self.park_max = park_max;
        self
    }

    /// Work arrived: start over with the cheapest wait.
    #[inline]
    pub fn busy(&mut self) {
        self.idle_polls = 0;
    }

    /// Nothing to do: wait a little, more the longer nothing comes. `has_work` is checked once more
    /// after announcing a park, so work published meanwhile is never slept on.
    #[inline]
    pub fn idle(&mut self, has_work: impl Fn() -> bool) {
        self.idle_polls = self.idle_polls.saturating_add(1);
        match self.mode {
            WaitMode::Spin => std::hint::spin_loop(),
            WaitMode::Yield => std::thread::yield_now(),
            WaitMode::Adaptive if self.idle_polls < SPINS => std::hint::spin_loop(),
            WaitMode::Adaptive => match &self.parker {
                Some(p) => {
                    p.parked.store(true, Ordering::SeqCst);
                    // Pairs with the producer's fence in `unpark_all` (see `Parker`).
                    fence(Ordering::SeqCst);
                    if !has_work() {
                        std::thread::park_timeout(self.park_max);
                    }
                    p.parked.store(false, Ordering::Release);
                }
                None => std::thread::sleep(Duration::from_micros(50)),
            },
        }
    }
}

/// Pins the calling thread to `core` when one is given (and the machine has it).
pub fn pin(core: Option<usize>) {
    if let Some(id) = core {
        let ok = core_affinity::set_for_current(core_affinity::CoreId { id });
        if !ok {
            warn!(core = id, "could not pin thread to core {id}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::time::Instant;

    /// The park timeout is made 2 s here, far above the producer's 2 ms between publishes: a wait
    /// that ended early was ended by the unpark. (Checked: with the unpark deleted, every wait lasts
    /// the 2 s timeout and the test fails.)
    #[test]
    fn a_parked_consumer_is_woken_by_the_producer_not_by_the_timeout() {
        const PUBLISHES: u64 = 10;
        let parker = Parker::new();
        let work = Arc::new(AtomicU64::new(0));
        let (p, w) = (parker.clone(), work.clone());
        let consumer = std::thread::spawn(move || {
            let mut waiter =
                Waiter::new(WaitMode::Adaptive, Some(p)).with_park_max(Duration::from_secs(2));
            let mut seen = 0;
            let mut waits = Vec::new();
            while seen < PUBLISHES {
                let now = w.load(Ordering::Acquire);
                if now > seen {
                    seen = now;
                    waiter.busy();
                    continue;
                }
                let t = Instant::now();
                waiter.idle(|| w.load(Ordering::Acquire) > seen);
                waits.push(t.elapsed());
            }
            waits
        });
        for i in 1..=PUBLISHES {
            std::thread::sleep(Duration::from_millis(2));
            work.store(i, Ordering::Release);
            unpark_all(std::slice::from_ref(&parker));
        }
        let waits = consumer.join().unwrap();
        let longest = waits.iter().max().copied().unwrap_or_default();
        assert!(
            longest < Duration::from_millis(500),
            "a park lasted {longest:?}: the unpark did not wake it"
        );
    }
}
