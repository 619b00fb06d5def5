//! Fault profiles of the simulated channels: what a real channel and the network between it and
//! the connector do to answers. Each fault has a rate (a probability per answer, or per dispatch
//! for disconnects); every draw comes from the simulator's fault generator, seeded from its seed,
//! so a run with the same inputs in the same order draws the same faults. With every rate at 0 the
//! fault generator is never drawn from and the channel behaves exactly as without faults.
//!
//! Written as `[simulator.faults]` (every channel), as `faults = { ... }` on one
//! `[[simulator.channels]]` entry (that channel only, instead of the section's), or on the command
//! line of `sluice channel-sim` and `sluice demo` as a profile: `late,lost=0.02,duplicate` (a name
//! alone takes its default rate). docs/OPERATIONS.md, "Channel faults", describes each one.

use serde::Deserialize;
use sluice_protocol::rng::Rng;

/// The faults of one channel. Rates are probabilities in [0, 1].
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// An attempt's (or refund's) outcome takes effect after its deadline, by up to
    /// `late_ms_max`, and its answer is sent then: a capture the engine learns of late, or one a
    /// Close sent in the meantime prevents.
    pub late: f64,
    pub late_ms_max: u32,
    /// The answer to a Dispatch or RefundDispatch is never sent; what the channel did stands
    /// (queries find it). Answers to ChannelControl have their own faults, below.
    pub lost: f64,
    /// Any answer (ChannelControl's too) is sent twice, the second copy up to `duplicate_ms_max`
    /// later.
    pub duplicate: f64,
    pub duplicate_ms_max: u32,
    /// Per dispatch: the connector drops off for `disconnect_ms` (that dispatch and everything
    /// sent meanwhile never reaches the channel; answers due meanwhile are lost). Over TCP the
    /// connection is closed and opened again.
    pub disconnect: f64,
    pub disconnect_ms: u32,
    /// Per ChannelControl: the channel answers it up to `query_delay_ms_max` late (and processes
    /// it then: a late Close may come after the capture).
    pub slow_queries: f64,
    pub query_delay_ms_max: u32,
    /// Per ChannelControl: the channel never answers it (nor acts on it); the engine asks again.
    pub silent_queries: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            late: 0.0,
            late_ms_max: 5_000,
            lost: 0.0,
            duplicate: 0.0,
            duplicate_ms_max: 200,
            disconnect: 0.0,
            disconnect_ms: 2_000,
            slow_queries: 0.0,
            query_delay_ms_max: 3_000,
            silent_queries: 0.0,
        }
    }
}

/// The profile names, their default rates, and what each sets.
const NAMES: &[(&str, f64)] = &[
    ("late", 0.01),
    ("lost", 0.01),
    ("duplicate", 0.02),
    ("disconnect", 0.001),
    ("slow-queries", 0.3),
    ("silent-queries", 0.1),
];

impl Faults {
    /// Whether any fault can happen (otherwise the fault generator is never drawn from).
    pub fn any(&self) -> bool {
        self.late > 0.0
            || self.lost > 0.0
            || self.duplicate > 0.0
            || self.disconnect > 0.0
            || self.slow_queries > 0.0
            || self.silent_queries > 0.0
    }

    /// Every rate in [0, 1]; the first one that is not, by name.
    pub fn check(&self) -> Result<(), String> {
        let rates = [
            ("late", self.late),
            ("lost", self.lost),
            ("duplicate", self.duplicate),
            ("disconnect", self.disconnect),
            ("slow_queries", self.slow_queries),
            ("silent_queries", self.silent_queries),
        ];
        match rates.iter().find(|(_, r)| !(0.0..=1.0).contains(r)) {
            Some((name, rate)) => Err(format!("fault rate {name} = {rate} is not in [0, 1]")),
            None => Ok(()),
        }
    }

    /// Parses a profile: comma-separated `NAME[=VALUE]`, NAME one of late, lost, duplicate,
    /// disconnect, slow-queries, silent-queries (VALUE a rate, default as in `NAMES`), or late-ms, duplicate-ms,
    /// disconnect-ms, query-delay-ms (VALUE milliseconds). Example: `late=0.05,lost,duplicate`.
    pub fn parse(profile: &str) -> Result<Faults, String> {
        let mut faults = Faults::default();
        for item in profile.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (item, None),
            };
            faults
                .set(name, value)
                .map_err(|e| format!("faults {item:?}: {e}"))?;
        }
        faults.check()?;
        Ok(faults)
    }

    fn set(&mut self, name: &str, value: Option<&str>) -> Result<(), String> {
        let ms = |v: Option<&str>| -> Result<u32, String> {
            let v = v.ok_or("needs a value in milliseconds")?;
            v.parse().map_err(|_| format!("{v:?} is not milliseconds"))
        };
        let field = match name {
            "late-ms" => Some(&mut self.late_ms_max),
            "duplicate-ms" => Some(&mut self.duplicate_ms_max),
            "disconnect-ms" => Some(&mut self.disconnect_ms),
            "query-delay-ms" => Some(&mut self.query_delay_ms_max),
            _ => None,
        };
        if let Some(field) = field {
            *field = ms(value)?;
            return Ok(());
        }
        let &(_, default) = NAMES.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
            format!("unknown fault (one of {})", names.join(", "))
        })?;
        let rate = match value {
            Some(v) => v.parse().map_err(|_| format!("{v:?} is not a rate"))?,
            None => default,
        };
        let field = match name {
            "late" => &mut self.late,
            "lost" => &mut self.lost,
            "duplicate" => &mut self.duplicate,
            "disconnect" => &mut self.disconnect,
            "slow-queries" => &mut self.slow_queries,
            _ => &mut self.silent_queries,
        };
        *field = rate;
        Ok(())
    }
}

/// What the faults did, counted since the simulator started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Attempts and refunds whose outcome took effect after their deadline.
    pub late: u64,
    /// Answers never sent.
    pub lost: u64,
    /// Answers sent twice.
    pub duplicated: u64,
    /// Times the connector dropped off.
    pub disconnects: u64,
    /// Messages that arrived while it was off (never seen by the channel).
    pub unseen: u64,
    /// Answers that were due while it was off, or in flight when it dropped off.
    pub lost_disconnected: u64,
    /// ChannelControls answered late, and never.
    pub controls_slowed: u64,
    pub controls_unanswered: u64,
    /// ChannelControls answered.
    pub controls_answered: u64,
    /// Success answers not sent because a Close came first (the attempt never captured).
    pub closed_before_capture: u64,
}

/// The fault draws for one message: a fixed number of draws whatever they decide, so the same
/// messages in the same order draw the same faults.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Draw {
    pub disconnect: bool,
    pub late_ns: Option<u64>,
    pub lost: bool,
    pub duplicate_ns: Option<u64>,
    pub slow_ns: Option<u64>,
    pub unanswered: bool,
}

impl Draw {
    pub const NONE: Draw = Draw {
        disconnect: false,
        late_ns: None,
        lost: false,
        duplicate_ns: None,
        slow_ns: None,
        unanswered: false,
    };

    pub fn of(f: &Faults, rng: &mut Rng) -> Draw {
        let ms = |rng: &mut Rng, lo: u32, hi: u32| {
            rng.inclusive(u64::from(lo), u64::from(hi.max(lo))) * 1_000_000
        };
        let disconnect = rng.unit() < f.disconnect;
        let late = rng.unit() < f.late;
        let late_ns = ms(rng, 1, f.late_ms_max);
        let lost = rng.unit() < f.lost;
        let duplicate = rng.unit() < f.duplicate;
        let duplicate_ns = ms(rng, 0, f.duplicate_ms_max);
        let slow = rng.unit() < f.slow_queries;
        let slow_ns = ms(rng, 1, f.query_delay_ms_max);
        let unanswered = rng.unit() < f.silent_queries;
        Draw {
            disconnect,
            late_ns: late.then_some(late_ns),
            lost,
            duplicate_ns: duplicate.then_some(duplicate_ns),
            slow_ns: slow.then_some(slow_ns),
            unanswered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_with_default_and_given_rates() {
        let f = Faults::parse("late,lost=0.05, duplicate ,late-ms=800").unwrap();
        assert_eq!((f.late, f.lost, f.duplicate), (0.01, 0.05, 0.02));
        assert_eq!(f.late_ms_max, 800);
        assert_eq!((f.disconnect, f.slow_queries), (0.0, 0.0));
        assert!(f.any());
        let f = Faults::parse("disconnect,slow-queries=1,disconnect-ms=10,silent-queries").unwrap();
        assert_eq!(f.silent_queries, 0.1);
        assert_eq!(
            (f.disconnect, f.slow_queries, f.disconnect_ms),
            (0.001, 1.0, 10)
        );
        assert!(!Faults::parse("").unwrap().any());
        assert!(Faults::parse("late=2").is_err());
        assert!(Faults::parse("explode").is_err());
        assert!(Faults::parse("late=x").is_err());
        assert!(Faults::parse("late-ms").is_err());
    }

    #[test]
    fn the_table_form_reads_the_same_fields() {
        let f: Faults = toml::from_str("late = 0.5\nquery_delay_ms_max = 10\n").unwrap();
        assert_eq!((f.late, f.query_delay_ms_max, f.lost), (0.5, 10, 0.0));
        assert!(toml::from_str::<Faults>("latee = 0.5\n").is_err());
    }
}
