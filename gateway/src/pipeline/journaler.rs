//! The journaler thread: appends each input of the ring to the journal and, at the end of each
//! batch it polled, commits (group commit) and publishes the durable cursor.

use disruptor::Polling;
use sluice_journal::JournalWriter;
use std::sync::Arc;
use std::time::Duration;

use super::ring::RingPoller;
use super::{PipelineSettings, Shared};
use crate::wait::{Parker, Waiter, pin, unpark_all};

/// Starts the journaler thread.
pub(super) fn spawn(
    poller: RingPoller,
    writer: JournalWriter,
    shared: Arc<Shared>,
    settings: PipelineSettings,
    parkers: (Arc<Parker>, Option<Arc<Parker>>),
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sluice-journal".into())
        .spawn(move || run_journaler(poller, writer, &shared, &settings, parkers))
}

fn run_journaler(
    mut poller: RingPoller,
    mut writer: JournalWriter,
    shared: &Shared,
    settings: &PipelineSettings,
    (own, next): (Arc<Parker>, Option<Arc<Parker>>),
) {
    pin(settings.journal_core);
    let commit_before_release = next.is_some();
    let mut waiter = Waiter::new(settings.wait, Some(own));
    loop {
        let mut last = None;
        let committed = match poller.poll() {
            Ok(mut events) => {
                for e in &mut events {
                    if let Err(err) = writer.append(e.seq, e.timestamp_ns, e.kind, e.bytes()) {
                        return shared.fail(
                            Some(e.seq),
                            format!("journal append at sequence {}: {err}", e.seq),
                        );
                    }
                    last = Some(e.seq);
                }
                // Journal before the processor: the processor may see the batch only once it is
                // durable, so commit while the guard still holds the slots.
                if commit_before_release
                    && !commit_batch(&mut writer, shared, last, settings.journal_delay_us)
                {
                    return;
                }
                Some(commit_before_release)
            }
            Err(Polling::NoEvents) => None,
            Err(Polling::Shutdown) => break,
        };
        let Some(committed) = committed else {
            waiter.idle(|| poller.has_available());
            continue;
        };
        waiter.busy();
        if let Some(next) = &next {
            unpark_all(std::slice::from_ref(next));
        }
        // In parallel the slots are released first; the group commit covers the whole batch.
        if !committed && !commit_batch(&mut writer, shared, last, settings.journal_delay_us) {
            return;
        }
    }
    if let Err(err) = writer.commit() {
        shared.fail(None, format!("journal final commit: {err}"));
    }
}

/// Commits a batch and publishes the durable cursor; false (the pipeline failed) on an error.
fn commit_batch(
    writer: &mut JournalWriter,
    shared: &Shared,
    last: Option<u64>,
    delay_us: u32,
) -> bool {
    if delay_us > 0 {
        std::thread::sleep(Duration::from_micros(u64::from(delay_us)));
    }
    match writer.commit() {
        Ok(durable) => {
            debug_assert_eq!(Some(durable), last);
            shared.durable.publish(durable);
            shared.wake_gateway();
            true
        }
        Err(err) => {
            shared.fail(
                last,
                format!("journal commit: {err} — stopping: acknowledged data must not be lost"),
            );
            false
        }
    }
}
