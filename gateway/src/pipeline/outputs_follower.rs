//! The outputs follower: a thread with an engine of its own (`sluice_node::Follower`, durable
//! position `outputs`) that applies the durable journal and hands every applied record, with the
//! outputs it produced, to its **sinks** — the output log that session resume reads
//! (`OutputLogSink`) and, later, the merchant notifier (docs/NOTIFICATIONS.md). Off the live
//! path: Linux's idle scheduling class, never past the durable cursor; it lags under load and
//! catches up after, and its lag is in the metrics (`follower="outputs"`).
//!
//! A sink's effects must be idempotent by sequence: the follower saves its position only after
//! every sink synced, so a crash between an effect and the save repeats the records after the
//! saved position.

use sluice_engine::DestKind;
use sluice_node::{Applied, Error, Follower};
use sluice_protocol::{is_recoverable, read_out_seq};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

use super::Shared;
use crate::metrics::Metrics;
use crate::net::frame_template_id;
use crate::output_log::{LogBounds, LogLimits, OutputLog};

/// The follower's name: its position file (`DATA/followers/outputs.pos`), logs and metrics.
pub const OUTPUTS_FOLLOWER: &str = "outputs";

/// Records applied per poll before the follower looks at its controls again.
const BATCH: usize = 4096;
/// How long the follower sleeps when nothing durable is new.
const IDLE_SLEEP: Duration = Duration::from_millis(1);
/// How often the sinks sync and the position is saved.
const SAVE_EVERY: Duration = Duration::from_millis(200);

const RUN: u8 = 0;
/// Catch up with the (final) durable cursor, sync, save, exit.
const FINISH: u8 = 1;
/// Exit at the next batch (a failed server).
const ABANDON: u8 = 2;

/// Something the outputs follower feeds.
pub trait OutputSink: Send {
    fn name(&self) -> &'static str;
    /// After the follower rebuilt its engine to its saved position, before any record.
    fn open(&mut self, engine: &sluice_engine::Engine) -> Result<(), sluice_node::Error>;
    /// Every applied record, with its outputs (sluice_node::Applied: record, engine after it, outbox).
    fn apply(&mut self, applied: &sluice_node::Applied<'_>) -> Result<(), sluice_node::Error>;
    /// Make every effect so far durable; the follower saves its position only after every sink synced.
    fn sync(&mut self) -> Result<(), sluice_node::Error>;
}

/// The output log as a sink: each recoverable output to an acquirer, appended under its out_seq
/// (skipped when written already).
pub struct OutputLogSink {
    root: PathBuf,
    limits: LogLimits,
    bounds: Arc<LogBounds>,
    log: Option<OutputLog>,
    /// Event time of the last record applied: the window's "now".
    now_ns: u64,
}

impl OutputLogSink {
    pub fn new(root: PathBuf, limits: LogLimits, bounds: Arc<LogBounds>) -> OutputLogSink {
        OutputLogSink {
            root,
            limits,
            bounds,
            log: None,
            now_ns: 0,
        }
    }

    fn log(&mut self) -> Result<&mut OutputLog, Error> {
        self.log
            .as_mut()
            .ok_or_else(|| Error::new("the output log is not open"))
    }
}

impl OutputSink for OutputLogSink {
    fn name(&self) -> &'static str {
        "output log"
    }

    fn open(&mut self, engine: &sluice_engine::Engine) -> Result<(), Error> {
        let log = OutputLog::open(&self.root, self.limits, self.bounds.clone())
            .map_err(|e| Error::new(format!("output log: {e}")))?;
        // The log can only be behind the engine it is rebuilt from (it is written after).
        for &(acquirer, last) in engine.acquirer_out_seqs() {
            if let Some((_, newest)) = log.bounds(acquirer)
                && newest > last
            {
                warn!(
                    acquirer,
                    "output log: acquirer {acquirer} holds out_seq {newest}, past the engine's \
                     {last} (a data directory restored from elsewhere?); it is started over"
                );
            }
        }
        self.now_ns = engine.state().now_ns;
        self.log = Some(log);
        Ok(())
    }

    fn apply(&mut self, applied: &Applied<'_>) -> Result<(), Error> {
        let ts = applied.record.timestamp_ns;
        self.now_ns = self.now_ns.max(ts);
        let log = self.log()?;
        for r in applied.outputs.iter() {
            if r.dest.kind != DestKind::Acquirer || !is_recoverable(frame_template_id(r.frame)) {
                continue;
            }
            let Some(out_seq) = read_out_seq(r.frame) else {
                continue;
            };
            log.append(r.dest.principal_id, out_seq, ts, r.frame)
                .map_err(|e| Error::new(format!("output log: {e}")))?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), Error> {
        let now = self.now_ns;
        self.log()?
            .sync(now)
            .map_err(|e| Error::new(format!("output log: {e}")))
    }
}

/// The running follower thread.
pub(super) struct OutputsFollower {
    control: Arc<AtomicU8>,
    done: crossbeam::channel::Receiver<()>,
    handle: Option<JoinHandle<()>>,
}

impl OutputsFollower {
    pub(super) fn spawn(
        data_dir: PathBuf,
        shared: Arc<Shared>,
        sinks: Vec<Box<dyn OutputSink>>,
        metrics: Option<Arc<Metrics>>,
    ) -> std::io::Result<OutputsFollower> {
        let control = Arc::new(AtomicU8::new(RUN));
        let (done_tx, done) = crossbeam::channel::bounded::<()>(1);
        let thread_control = control.clone();
        let handle = std::thread::Builder::new()
            .name("sluice-outputs".into())
            .spawn(move || {
                run(data_dir, &shared, sinks, metrics, &thread_control);
                let _ = done_tx.send(());
            })?;
        Ok(OutputsFollower {
            control,
            done,
            handle: Some(handle),
        })
    }

    /// Stops the follower: with `finish`, after it caught up with the durable cursor and synced.
    /// Waits at most `bound`.
    pub(super) fn stop(mut self, finish: bool, bound: Duration) {
        let how = if finish { FINISH } else { ABANDON };
        self.control.store(how, Ordering::Release);
        if self.done.recv_timeout(bound).is_err() {
            warn!(
                "the outputs follower did not catch up within {} s: the next start goes on \
                 from its saved position",
                bound.as_secs()
            );
            self.control.store(ABANDON, Ordering::Release);
            return;
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn run(
    data_dir: PathBuf,
    shared: &Shared,
    mut sinks: Vec<Box<dyn OutputSink>>,
    metrics: Option<Arc<Metrics>>,
    control: &AtomicU8,
) {
    if let Err(e) = sluice_node::follower::background_priority() {
        warn!("outputs follower: could not enter the idle scheduling class: {e}");
    }
    let started = Instant::now();
    let mut follower = match Follower::open(&data_dir, OUTPUTS_FOLLOWER, shared.durable.clone()) {
        Ok(f) => f,
        Err(e) => return error!("outputs follower not started: {e}; no session resume"),
    };
    for sink in sinks.iter_mut() {
        if let Err(e) = sink.open(follower.engine()) {
            return error!("outputs follower not started: {}: {e}", sink.name());
        }
    }
    let seq = follower.applied_seq();
    let millis = started.elapsed().as_millis();
    info!(
        seq,
        "outputs follower at sequence {seq} (from {} in {millis} ms)",
        follower.start()
    );
    if let Some(m) = &metrics {
        m.register_follower(OUTPUTS_FOLLOWER, follower.progress());
    }
    if let Err(e) = follow(&mut follower, &mut sinks, control) {
        error!("outputs follower stopped: {e}; resumes wait until a restart");
    }
}

fn sync_and_save(follower: &mut Follower, sinks: &mut [Box<dyn OutputSink>]) -> Result<(), Error> {
    for sink in sinks.iter_mut() {
        sink.sync()
            .map_err(|e| Error::new(format!("{}: {e}", sink.name())))?;
    }
    follower.save_position()
}

fn follow(
    follower: &mut Follower,
    sinks: &mut [Box<dyn OutputSink>],
    control: &AtomicU8,
) -> Result<(), Error> {
    let mut saved_at = Instant::now();
    loop {
        let how = control.load(Ordering::Acquire);
        if how == ABANDON {
            return Ok(());
        }
        let applied = follower.poll(BATCH, |a| {
            sinks.iter_mut().try_for_each(|sink| {
                sink.apply(&a)
                    .map_err(|e| Error::new(format!("{}: {e}", sink.name())))
            })
        })?;
        let caught_up = applied == 0 && follower.applied_seq() >= follower.durable_seq();
        if saved_at.elapsed() >= SAVE_EVERY || (how == FINISH && caught_up) {
            sync_and_save(follower, sinks)?;
            saved_at = Instant::now();
        }
        if how == FINISH && caught_up {
            return Ok(());
        }
        if applied == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
}
