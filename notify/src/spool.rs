//! Operators' resend requests. The CLI never appends to the live log (two writers would tear
//! it): it drops a request file into `DIR/resend/` (written as a dot-file, then renamed, so the
//! notifier never reads half of one), and a running notifier applies and removes it within a
//! second. A request left while no notifier runs is applied at the next start.

use crate::book::Resend;
use crate::notifier::{Shared, lock};
use crate::record::Record;
use crate::{NotifyError, wall_ms};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub const RESEND_DIR: &str = "resend";
/// Requests read per poll: a bound on one poll's work.
const REQUESTS_PER_POLL_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ResendRequest {
    /// These notifications, by id.
    Ids(Vec<String>),
    /// Every given-up notification and every pending one with a failed attempt, optionally of
    /// one merchant only.
    Failing { merchant_id: Option<u32> },
}

/// Writes a request into `notify_dir/resend/`; returns the file's path.
pub fn request_resend(notify_dir: &Path, request: &ResendRequest) -> Result<PathBuf, NotifyError> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let spool = notify_dir.join(RESEND_DIR);
    std::fs::create_dir_all(&spool)
        .map_err(|e| NotifyError::Io(format!("{}: {e}", spool.display())))?;
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let name = format!("{}-{}-{sequence}.json", wall_ms(), std::process::id());
    let (tmp, path) = (spool.join(format!(".{name}")), spool.join(&name));
    let text = serde_json::to_vec(request).expect("a request always serializes");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| NotifyError::Io(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// Request files waiting in the spool, oldest first.
pub(crate) fn queued(notify_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(notify_dir.join(RESEND_DIR)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    paths
}

/// Applies and removes queued requests; returns how many notifications were rescheduled.
pub(crate) fn apply_pending(shared: &Shared) -> u64 {
    let mut rescheduled = 0;
    for path in queued(&shared.dir).into_iter().take(REQUESTS_PER_POLL_MAX) {
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                serde_json::from_slice::<ResendRequest>(&bytes).map_err(|e| e.to_string())
            }) {
            Ok(request) => rescheduled += apply(shared, &request),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "notify resend request unreadable; removed")
            }
        }
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(file = %path.display(), error = %e, "notify resend request not removed");
        }
    }
    rescheduled
}

fn apply(shared: &Shared, request: &ResendRequest) -> u64 {
    let now_ms = wall_ms();
    let mut book = lock(&shared.book);
    let ids: Vec<String> = match request {
        ResendRequest::Ids(ids) => ids.clone(),
        ResendRequest::Failing { merchant_id } => book
            .entries()
            .filter(|e| e.attempts > 0 && merchant_id.is_none_or(|m| e.note.merchant_id == m))
            .map(|e| e.note.id.clone())
            .collect(),
    };
    let mut rescheduled = 0;
    for id in ids {
        let result = book.handle_resend(&id, now_ms);
        tracing::info!(id = %id, result = ?result, "notify resend");
        if matches!(result, Resend::Restarted | Resend::MovedToNow) {
            lock(&shared.store).append(&Record::Resend { id, at_ms: now_ms });
            rescheduled += 1;
        }
    }
    rescheduled
}
