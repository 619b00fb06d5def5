//! The operator's view of a store, read from its files (offline, or beside a running notifier:
//! the log is append-only, and a torn tail read mid-append is simply not shown yet).

use crate::book::{BookLimits, Phase};
use crate::{NotifyError, spool, store};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    All,
    Order(u64),
    Merchant(u32),
    /// Given up, or pending with at least one failed attempt.
    Failing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    pub id: String,
    pub merchant_id: u32,
    pub order_id: u64,
    pub kind: String,
    /// "pending" or "given_up".
    pub state: &'static str,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Unix milliseconds; `None` once given up.
    pub next_due_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub pending: u64,
    pub given_up: u64,
    /// Delivered ids remembered for idempotent enqueue.
    pub delivered_ids: u64,
    /// Resend requests not yet picked up by a notifier.
    pub resend_requests_queued: u64,
    /// The notifications that match the filter: given up first, then by next due time.
    pub entries: Vec<StatusEntry>,
}

/// Reads the store in `notify_dir` and lists what matches `filter`.
pub fn status(notify_dir: &Path, filter: StatusFilter) -> Result<StatusReport, NotifyError> {
    if !notify_dir.join(store::CHECKPOINT_FILE).exists()
        && !notify_dir.join(store::LOG_FILE).exists()
    {
        return Err(NotifyError::Io(format!(
            "{}: no notify store here",
            notify_dir.display()
        )));
    }
    let limits = BookLimits {
        schedule_ms: Vec::new(),
        max_in_flight: 1,
        per_merchant_in_flight: 1,
        delivered_ids_max: usize::MAX,
        delivered_horizon_ms: u64::MAX,
    };
    // A compaction finishing between reading the checkpoint and the log is retried (rare).
    let mut loaded = store::load(notify_dir, limits.clone());
    for _ in 0..3 {
        if loaded.is_ok() {
            break;
        }
        loaded = store::load(notify_dir, limits.clone());
    }
    let book = loaded?.book;
    let counts = book.counts();
    let mut entries: Vec<StatusEntry> = book
        .entries()
        .filter(|e| match filter {
            StatusFilter::All => true,
            StatusFilter::Order(order_id) => e.note.order_id == order_id,
            StatusFilter::Merchant(merchant_id) => e.note.merchant_id == merchant_id,
            StatusFilter::Failing => e.attempts > 0 || e.phase == Phase::GivenUp,
        })
        .map(|e| {
            let given_up = e.phase == Phase::GivenUp;
            StatusEntry {
                id: e.note.id.clone(),
                merchant_id: e.note.merchant_id,
                order_id: e.note.order_id,
                kind: e.note.kind.clone(),
                state: if given_up { "given_up" } else { "pending" },
                attempts: e.attempts,
                last_error: e.last_error.clone(),
                next_due_ms: (!given_up).then_some(e.due_ms),
            }
        })
        .collect();
    entries.sort_by(|a, b| {
        (a.state != "given_up", a.next_due_ms, &a.id).cmp(&(
            b.state != "given_up",
            b.next_due_ms,
            &b.id,
        ))
    });
    Ok(StatusReport {
        pending: counts.pending,
        given_up: counts.given_up,
        delivered_ids: counts.delivered_ids,
        resend_requests_queued: spool::queued(notify_dir).len() as u64,
        entries,
    })
}
