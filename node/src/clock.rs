//! Where event time comes from. The sequencer stamps each input with `max(last stamp, clock)` and
//! journals it; the engine only ever sees the journaled stamp. So the clock can be anything that
//! moves forward: the wall clock in production, or a scripted clock that a scenario drives — start
//! at an instant, advance by steps, fast-forward a day or a month — so that a demo, a test or a
//! benchmark runs a simulated month of settlement in seconds, and its journal replays byte for
//! byte like any other.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Nanoseconds per day.
pub const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// The wall clock in ns since the Unix epoch (0 if the system clock is before 1970).
pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The sequencer's time source.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system's wall clock.
    #[default]
    Wall,
    /// Time that moves only when a scenario moves it.
    Scripted(ScriptedClock),
}

impl Clock {
    /// The time now, ns since the Unix epoch.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        match self {
            Clock::Wall => wall_clock_ns(),
            Clock::Scripted(c) => c.now_ns(),
        }
    }

    /// How many times the time was moved by hand (always 0 for the wall clock). The gateway
    /// pulses as soon as this changes, so the engine sees a jump at once rather than at the next
    /// periodic pulse.
    #[inline]
    pub fn jumps(&self) -> u64 {
        match self {
            Clock::Wall => 0,
            Clock::Scripted(c) => c.jumps(),
        }
    }
}

#[derive(Debug)]
struct Scripted {
    now_ns: AtomicU64,
    jumps: AtomicU64,
}

/// A clock that a scenario drives; clones share the same time. It never goes back.
#[derive(Clone, Debug)]
pub struct ScriptedClock(Arc<Scripted>);

impl ScriptedClock {
    /// A clock standing at `start_ns` (ns since the Unix epoch).
    pub fn starting_at(start_ns: u64) -> ScriptedClock {
        ScriptedClock(Arc::new(Scripted {
            now_ns: AtomicU64::new(start_ns),
            jumps: AtomicU64::new(0),
        }))
    }

    /// The time now, ns since the Unix epoch.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.0.now_ns.load(Ordering::Acquire)
    }

    /// How many times the time was moved.
    #[inline]
    pub fn jumps(&self) -> u64 {
        self.0.jumps.load(Ordering::Acquire)
    }

    /// Moves the time forward by `step` (saturating at the end of u64 time).
    pub fn advance(&self, step: Duration) {
        let step_ns = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .0
            .now_ns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(step_ns))
            });
        self.0.jumps.fetch_add(1, Ordering::AcqRel);
    }

    /// Moves the time forward to `instant_ns`; an instant in the past changes nothing.
    pub fn advance_to(&self, instant_ns: u64) {
        let before = self.0.now_ns.fetch_max(instant_ns, Ordering::AcqRel);
        if before < instant_ns {
            self.0.jumps.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Fast-forwards whole days.
    pub fn advance_days(&self, days: u32) {
        self.advance(Duration::from_nanos(u64::from(days) * NS_PER_DAY));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripted_clock_moves_only_forward_and_counts_its_jumps() {
        let clock = ScriptedClock::starting_at(1_000);
        let shared = Clock::Scripted(clock.clone());
        assert_eq!((shared.now_ns(), shared.jumps()), (1_000, 0));
        clock.advance(Duration::from_nanos(500));
        assert_eq!((shared.now_ns(), shared.jumps()), (1_500, 1));
        clock.advance_to(1_200);
        assert_eq!((shared.now_ns(), shared.jumps()), (1_500, 1), "never back");
        clock.advance_to(2_000);
        clock.advance_days(1);
        assert_eq!(shared.now_ns(), 2_000 + NS_PER_DAY);
        assert_eq!(shared.jumps(), 3);
        clock.advance_to(u64::MAX);
        clock.advance(Duration::from_secs(1));
        assert_eq!(shared.now_ns(), u64::MAX, "saturates");
    }

    #[test]
    fn the_wall_clock_is_now() {
        let before = wall_clock_ns();
        let now = Clock::Wall.now_ns();
        assert!(now >= before && now - before < 60_000_000_000);
        assert_eq!(Clock::Wall.jumps(), 0);
    }
}
