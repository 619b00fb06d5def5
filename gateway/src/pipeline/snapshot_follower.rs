//! The snapshot follower: a thread with an engine of its own (`sluice_node::Follower`) that
//! applies the live journal, never past the durable cursor, and serializes *its* engine for each
//! snapshot, so the processor never stops the ring for one (docs/PIPELINE.md, "Snapshots").
//!
//! It snapshots at every sequence that is a multiple of `snapshot_every_inputs`, when
//! `snapshot_every_secs` passed since its last snapshot and traffic (inputs other than pulses)
//! came since, right after a `SnapshotRequest` (its engine sees the same input as the live one
//! and raises the same request), and at shutdown, once it has applied everything durable. The
//! payload goes to the snapshot writer, as the processor's did.

use sluice_node::{Error, Follower, Start};
use sluice_protocol::{Message, Pulse};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

use super::snapshots::{SnapshotJob, SnapshotTaker, serialize_snapshot};
use super::{PipelineSettings, Shared};
use crate::metrics::Metrics;

/// The follower's name in logs and metrics (`sluice_follower_lag_inputs{follower="snapshots"}`).
pub const SNAPSHOT_FOLLOWER: &str = "snapshots";

/// Records applied per poll before the follower looks at its controls again.
const BATCH: usize = 4096;
/// How long the follower sleeps when nothing durable is new (it is off the live path: a sleep,
/// not a spin, on shared cores).
const IDLE_SLEEP: Duration = Duration::from_millis(1);

/// Follow the journal.
const RUN: u8 = 0;
/// Catch up with the (final) durable cursor, snapshot there, exit.
const FINISH: u8 = 1;
/// Exit at the next batch without a snapshot (a failed server, a benchmark, or too slow a finish).
const ABANDON: u8 = 2;

/// The running follower thread, as the pipeline holds it.
pub(super) struct SnapshotFollower {
    control: Arc<AtomicU8>,
    done: crossbeam::channel::Receiver<()>,
    handle: Option<JoinHandle<()>>,
}

impl SnapshotFollower {
    /// Starts the follower at `start_seq` (the live engine's sequence at start), from `seed`
    /// (the recovered engine serialized at start) when there is one, handing its snapshots to
    /// `jobs`.
    pub(super) fn spawn(
        start_seq: u64,
        seed: Option<SnapshotJob>,
        shared: Arc<Shared>,
        settings: PipelineSettings,
        jobs: crossbeam::channel::Sender<SnapshotJob>,
    ) -> std::io::Result<SnapshotFollower> {
        let control = Arc::new(AtomicU8::new(RUN));
        let (done_tx, done) = crossbeam::channel::bounded::<()>(1);
        let thread_control = control.clone();
        let handle = std::thread::Builder::new()
            .name("sluice-snapfollow".into())
            .spawn(move || {
                run(start_seq, seed, &shared, &settings, &thread_control, &jobs);
                drop(jobs);
                let _ = done_tx.send(());
            })?;
        Ok(SnapshotFollower {
            control,
            done,
            handle: Some(handle),
        })
    }

    /// Stops the follower: with `final_snapshot`, it first catches up with the durable cursor and
    /// snapshots there. Waits at most `bound`; returns whether the thread ended (when it did not,
    /// it is told to abandon and left behind, and the caller must not wait for its snapshots).
    pub(super) fn stop(mut self, final_snapshot: bool, bound: Duration) -> bool {
        let how = if final_snapshot { FINISH } else { ABANDON };
        self.control.store(how, Ordering::Release);
        let mut ended = self.done.recv_timeout(bound).is_ok();
        if !ended && final_snapshot {
            warn!(
                "the snapshot follower did not catch up within {} s: no snapshot at shutdown \
                 (the next start replays from the newest snapshot)",
                bound.as_secs()
            );
            self.control.store(ABANDON, Ordering::Release);
            ended = self.done.recv_timeout(Duration::from_secs(5)).is_ok();
        }
        if ended && let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        ended
    }
}

/// When the next snapshot is due.
struct Schedule {
    every_inputs: u64,
    every: Option<Duration>,
    /// The sequence of the last snapshot taken (or loaded at start), and when.
    last_seq: u64,
    last_at: Instant,
    /// Inputs other than pulses applied since then: traffic. Pulses alone (an idle server's
    /// clock) do not make a snapshot due by time — else an idle server would rewrite its whole
    /// state every `snapshot_every_secs`, and replaying pulses at restart costs next to nothing.
    traffic_since: u64,
}

impl Schedule {
    fn new(settings: &PipelineSettings, start: &Start) -> Schedule {
        let secs = u64::from(settings.snapshot_every_secs);
        Schedule {
            every_inputs: settings.snapshot_every_inputs,
            every: (secs > 0).then(|| Duration::from_secs(secs)),
            last_seq: match start {
                Start::Genesis => 0,
                Start::Snapshot { seq, .. } => *seq,
            },
            last_at: Instant::now(),
            traffic_since: 0,
        }
    }

    /// Whether a snapshot at `seq` is due by the rule of inputs, `durable` being the cursor: not
    /// when the next multiple is durable already (a follower catching up after a lag snapshots
    /// at the last multiple it passes, not at every one: each would be superseded at once).
    fn due_by_inputs(every_inputs: u64, seq: u64, durable: u64) -> bool {
        every_inputs > 0
            && seq.is_multiple_of(every_inputs)
            && durable.saturating_sub(seq) < every_inputs
    }

    /// Whether a snapshot at `seq` is due by time (only if traffic came since the last one).
    fn due_by_time(&self, seq: u64) -> bool {
        seq > self.last_seq
            && self.traffic_since > 0
            && self.every.is_some_and(|e| self.last_at.elapsed() >= e)
    }

    fn taken(&mut self, seq: u64) {
        self.last_seq = seq;
        self.last_at = Instant::now();
        self.traffic_since = 0;
    }
}

/// The follower's engine at `start_seq`: restored from `seed`, or rebuilt from the newest
/// snapshot and the journal.
fn open(
    start_seq: u64,
    seed: Option<SnapshotJob>,
    shared: &Shared,
    settings: &PipelineSettings,
) -> Result<Follower, Error> {
    let cursor = shared.durable.clone();
    let Some(seed) = seed else {
        return Follower::open_at(&settings.data_dir, SNAPSHOT_FOLLOWER, cursor, start_seq);
    };
    assert_eq!(seed.seq(), start_seq, "the seed is the recovered engine");
    let engine = seed.restore().map_err(Error::new)?;
    drop(seed);
    let start = Start::Snapshot {
        seq: start_seq,
        path: "the recovered engine".into(),
    };
    let replayer = sluice_node::Replayer::new(engine, start);
    Follower::with_replayer(&settings.data_dir, SNAPSHOT_FOLLOWER, cursor, replayer)
}

fn run(
    start_seq: u64,
    seed: Option<SnapshotJob>,
    shared: &Shared,
    settings: &PipelineSettings,
    control: &AtomicU8,
    jobs: &crossbeam::channel::Sender<SnapshotJob>,
) {
    // The follower shares cores with the pipeline: it runs only on idle cycles, lags under load
    // and catches up after (docs/ARCHITECTURE.md, "Followers").
    if let Err(e) = sluice_node::follower::background_priority() {
        warn!("snapshot follower: could not enter the idle scheduling class: {e}");
    }
    let started = Instant::now();
    let mut follower = match open(start_seq, seed, shared, settings) {
        Ok(f) => f,
        Err(e) => return error!("snapshot follower not started: {e}; no periodic snapshots"),
    };
    let millis = started.elapsed().as_millis();
    info!(
        seq = start_seq,
        "snapshot follower at sequence {start_seq} (from {} in {millis} ms)",
        follower.start()
    );
    let metrics = settings.metrics.as_deref();
    if let Some(m) = metrics {
        m.register_follower(SNAPSHOT_FOLLOWER, follower.progress());
    }
    let mut schedule = Schedule::new(settings, follower.start());
    if let Err(e) = follow(&mut follower, &mut schedule, control, jobs, metrics) {
        error!("snapshot follower stopped: {e}; no more snapshots until a restart");
    }
}

/// The follower's loop: applies what is durable, snapshots when due, and ends as told.
fn follow(
    follower: &mut Follower,
    schedule: &mut Schedule,
    control: &AtomicU8,
    jobs: &crossbeam::channel::Sender<SnapshotJob>,
    metrics: Option<&Metrics>,
) -> Result<(), Error> {
    let every_inputs = schedule.every_inputs;
    loop {
        let how = control.load(Ordering::Acquire);
        if how == ABANDON {
            return Ok(());
        }
        let durable = follower.durable_seq();
        let mut traffic = 0;
        let (applied, asked) = follower.poll_until(
            BATCH,
            |a| {
                traffic += u64::from(a.record.kind != Pulse::TEMPLATE_ID);
                Ok(())
            },
            // The request first: taking it clears it, whichever rule fired.
            |engine| {
                engine.take_snapshot_request()
                    || Schedule::due_by_inputs(every_inputs, engine.last_seq(), durable)
            },
        )?;
        schedule.traffic_since += traffic;
        let seq = follower.applied_seq();
        let caught_up = applied == 0 && seq >= follower.durable_seq();
        let finishing = how == FINISH && caught_up;
        if asked || schedule.due_by_time(seq) || (finishing && seq > schedule.last_seq) {
            let lag = follower.durable_seq().saturating_sub(seq);
            let job = serialize_snapshot(follower.engine(), lag, metrics, SnapshotTaker::Follower);
            if jobs.send(job).is_err() {
                return Err(Error::new("the snapshot writer has stopped"));
            }
            schedule.taken(seq);
        }
        if finishing {
            return Ok(());
        }
        if applied == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_of_inputs_fires_at_multiples_only_when_on() {
        assert!(Schedule::due_by_inputs(1000, 3000, 3000));
        assert!(Schedule::due_by_inputs(1000, 3000, 3999));
        assert!(!Schedule::due_by_inputs(1000, 3001, 3001));
        assert!(!Schedule::due_by_inputs(0, 3000, 3000));
    }

    #[test]
    fn a_lagging_follower_skips_the_multiples_already_superseded() {
        assert!(!Schedule::due_by_inputs(1000, 3000, 4000));
        assert!(!Schedule::due_by_inputs(1000, 3000, 9000));
    }

    #[test]
    fn the_rule_of_time_needs_new_inputs() {
        let mut s = Schedule {
            every_inputs: 0,
            every: Some(Duration::ZERO),
            last_seq: 10,
            last_at: Instant::now(),
            traffic_since: 1,
        };
        assert!(!s.due_by_time(10), "nothing new since the last snapshot");
        assert!(s.due_by_time(11));
        s.taken(11);
        assert!(!s.due_by_time(12), "pulses alone are not traffic");
        s.traffic_since = 1;
        assert!(s.due_by_time(12));
        s.every = None;
        assert!(!s.due_by_time(11), "off");
    }
}
