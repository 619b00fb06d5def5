//! How a pipeline thread waits when it has no work: busy-spin (dedicated, pinned cores), yield, or
//! adaptive (spin briefly, then yield, then sleep) for shared machines.

use crate::config::WaitMode;
use std::time::Duration;

/// Spins before yielding, and yields before sleeping, in adaptive mode.
const SPINS: u32 = 200;
const YIELDS: u32 = 50;
/// The adaptive mode's sleep once spinning and yielding found nothing.
const SLEEP: Duration = Duration::from_micros(50);

/// A waiter for one thread: call `idle()` when a poll found nothing, `busy()` when it found work.
#[derive(Debug)]
pub struct Waiter {
    mode: WaitMode,
    idle_polls: u32,
}

impl Waiter {
    pub fn new(mode: WaitMode) -> Self {
        Waiter {
            mode,
            idle_polls: 0,
        }
    }

    /// Work arrived: start over with the cheapest wait.
    #[inline]
    pub fn busy(&mut self) {
        self.idle_polls = 0;
    }

    /// Nothing to do: wait a little, more the longer nothing comes.
    #[inline]
    pub fn idle(&mut self) {
        self.idle_polls = self.idle_polls.saturating_add(1);
        match self.mode {
            WaitMode::Spin => std::hint::spin_loop(),
            WaitMode::Yield => std::thread::yield_now(),
            WaitMode::Adaptive => {
                if self.idle_polls < SPINS {
                    std::hint::spin_loop();
                } else if self.idle_polls < SPINS + YIELDS {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(SLEEP);
                }
            }
        }
    }
}

/// Pins the calling thread to `core` when one is given (and the machine has it).
pub fn pin(core: Option<usize>) {
    if let Some(id) = core {
        let ok = core_affinity::set_for_current(core_affinity::CoreId { id });
        if !ok {
            eprintln!("sluice: could not pin thread to core {id}");
        }
    }
}
