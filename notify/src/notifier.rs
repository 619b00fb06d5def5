//! The tokio shell around the pure core: a runtime of its own, a dispatcher that turns due
//! entries into HTTP attempts, a flusher (store writes every 100 ms, compaction), and the resend
//! spool poller. Locks are taken book first, then store, everywhere.

use crate::book::{
    BookLimits, DELIVERED_HORIZON_MS, DELIVERED_IDS_MAX, DeliveryBook, Dispatch, Outcome,
};
use crate::http::{self, HttpClient};
use crate::latency::{LatencyHistogram, LatencySummary};
use crate::record::{BODY_MAX_BYTES, Record};
use crate::store::Store;
use crate::{Endpoint, Notification, NotifyConfig, NotifyError, sign, spool, wall_ms};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Outcome records reach the file at least this often.
const FLUSH_INTERVAL_MS: u64 = 100;
/// The resend spool is read this often.
const SPOOL_POLL_MS: u64 = 1000;
/// The dispatcher looks at the clock at least this often (a bound on any missed wake-up).
const DISPATCH_IDLE_MS: u64 = 1000;
/// Ids are names, not documents.
const ID_MAX_BYTES: usize = 256;

/// Counters for the metrics endpoint. Monotonic ones count since start; `pending`, `given_up`
/// and `in_flight` are the current state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyStats {
    pub enqueued: u64,
    pub delivered: u64,
    pub attempts: u64,
    pub failed_attempts: u64,
    pub pending: u64,
    pub given_up: u64,
    pub in_flight: u64,
}

#[derive(Default)]
struct Counters {
    enqueued: AtomicU64,
    delivered: AtomicU64,
    attempts: AtomicU64,
    failed_attempts: AtomicU64,
}

pub(crate) struct Shared {
    pub(crate) book: Mutex<DeliveryBook>,
    pub(crate) store: Mutex<Store>,
    endpoints: RwLock<HashMap<u32, Arc<Endpoint>>>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    wake: Notify,
    counters: Counters,
    latency: LatencyHistogram,
    stopping: AtomicBool,
    compacting: AtomicBool,
    config: NotifyConfig,
    client: HttpClient,
    pub(crate) dir: PathBuf,
}

/// Locks a mutex; a poisoned one (a panic elsewhere) still holds consistent data here, because
/// every critical section is a handful of calls into the book or the store's buffer.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Delivers notifications to merchants. See the crate documentation.
pub struct Notifier {
    shared: Arc<Shared>,
    /// Taken by `shutdown` (the runtime's own shutdown needs it by value).
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

/// Runs at the start of each of the notifier's threads (e.g. to put them in a background
/// scheduling class beside a live pipeline).
pub type ThreadHook = Arc<dyn Fn() + Send + Sync>;

impl Notifier {
    /// Opens (or recovers) the store in `dir`, starts a runtime on threads of its own
    /// (sluice-notify-*), and resumes pending deliveries with their attempt counts and due times.
    pub fn start(config: NotifyConfig, dir: &Path) -> Result<Notifier, NotifyError> {
        Self::start_with(config, dir, Arc::new(|| {}))
    }

    /// `start`, with `on_thread_start` run first on each runtime thread.
    pub fn start_with(
        config: NotifyConfig,
        dir: &Path,
        on_thread_start: ThreadHook,
    ) -> Result<Notifier, NotifyError> {
        config.validate()?;
        let limits = BookLimits {
            schedule_ms: config.schedule_delays_ms(),
            max_in_flight: config.max_in_flight,
            per_merchant_in_flight: config.per_merchant_in_flight,
            delivered_ids_max: DELIVERED_IDS_MAX,
            delivered_horizon_ms: DELIVERED_HORIZON_MS,
        };
        let (store, book) = Store::open(dir, limits)?;
        let runtime = runtime(config.worker_threads, on_thread_start)?;
        // The client's pool needs the runtime's timer and reactor at construction.
        let client = {
            let _enter = runtime.enter();
            http::client(&config)?
        };
        let shared = Arc::new(Shared {
            book: Mutex::new(book),
            store: Mutex::new(store),
            endpoints: RwLock::new(HashMap::new()),
            hosts: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            counters: Counters::default(),
            latency: LatencyHistogram::new(),
            stopping: AtomicBool::new(false),
            compacting: AtomicBool::new(false),
            config,
            client,
            dir: dir.to_path_buf(),
        });
        runtime.spawn(dispatcher(shared.clone()));
        runtime.spawn(flusher(shared.clone()));
        runtime.spawn(spool_poller(shared.clone()));
        Ok(Notifier {
            shared,
            runtime: Mutex::new(Some(runtime)),
        })
    }

    /// The merchant's current URL and secrets (`None` removes them). Each attempt reads the
    /// endpoint current at that moment, so a retry goes to the new URL with the new secrets.
    pub fn set_endpoint(&self, merchant_id: u32, endpoint: Option<Endpoint>) {
        let mut endpoints = self
            .shared
            .endpoints
            .write()
            .unwrap_or_else(|p| p.into_inner());
        match endpoint {
            Some(endpoint) => endpoints.insert(merchant_id, Arc::new(endpoint)),
            None => endpoints.remove(&merchant_id),
        };
    }

    /// Records the notification (durable after the next [`Notifier::sync`]) and makes its first
    /// attempt due now. `Ok(false)`, changing nothing, for an id already known.
    pub fn enqueue(&self, note: Notification) -> Result<bool, NotifyError> {
        check(&note)?;
        if self.shared.stopping.load(Ordering::Acquire) {
            return Err(NotifyError::Stopped);
        }
        let now_ms = wall_ms();
        let mut book = lock(&self.shared.book);
        if book.is_known(&note.id) {
            return Ok(false);
        }
        let note = Arc::new(note);
        lock(&self.shared.store).append(&Record::Created {
            note: Notification::clone(&note),
            at_ms: now_ms,
        });
        book.handle_enqueue(note, now_ms);
        drop(book);
        self.shared
            .counters
            .enqueued
            .fetch_add(1, Ordering::Relaxed);
        self.shared.wake.notify_one();
        Ok(true)
    }

    /// Makes every enqueue so far durable (write and fsync). The fsync runs outside the store's
    /// lock: attempts finishing meanwhile do not wait for the disk.
    pub fn sync(&self) -> Result<(), NotifyError> {
        let (file, path) = lock(&self.shared.store).flush_for_sync()?;
        file.sync_data()
            .map_err(|e| NotifyError::Io(format!("{}: {e}", path.display())))
    }

    pub fn stats(&self) -> NotifyStats {
        let counts = lock(&self.shared.book).counts();
        let c = &self.shared.counters;
        NotifyStats {
            enqueued: c.enqueued.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            attempts: c.attempts.load(Ordering::Relaxed),
            failed_attempts: c.failed_attempts.load(Ordering::Relaxed),
            pending: counts.pending,
            given_up: counts.given_up,
            in_flight: counts.in_flight,
        }
    }

    /// Attempt latency since start: signing and the HTTP exchange, to the merchant's answer or
    /// the timeout (not the wait for a per-host connection slot).
    pub fn attempt_latency(&self) -> LatencySummary {
        self.shared.latency.summary()
    }

    /// Stops dispatching, waits up to `bound` for the runtime's tasks, then writes and fsyncs the
    /// store. Attempts cut off here have no outcome recorded and are repeated after a restart.
    /// A second call does nothing more than a final sync.
    pub fn shutdown(&self, bound: Duration) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        let runtime = lock(&self.runtime).take();
        if let Some(runtime) = runtime {
            runtime.shutdown_timeout(bound);
        }
        if let Err(e) = lock(&self.shared.store).sync() {
            tracing::warn!(error = %e, "notify store: the final sync failed");
        }
    }
}

fn check(note: &Notification) -> Result<(), NotifyError> {
    if note.id.is_empty() || note.id.len() > ID_MAX_BYTES {
        return Err(NotifyError::Invalid(format!(
            "an id is 1..={ID_MAX_BYTES} bytes, got {}",
            note.id.len()
        )));
    }
    if note.body.len() > BODY_MAX_BYTES {
        return Err(NotifyError::Invalid(format!(
            "notification {}: body of {} bytes exceeds {BODY_MAX_BYTES}",
            note.id,
            note.body.len()
        )));
    }
    Ok(())
}

fn runtime(
    worker_threads: u32,
    on_thread_start: ThreadHook,
) -> Result<tokio::runtime::Runtime, NotifyError> {
    let next = AtomicU64::new(0);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads as usize)
        .on_thread_start(move || on_thread_start())
        .thread_name_fn(move || format!("sluice-notify-{}", next.fetch_add(1, Ordering::Relaxed)))
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| NotifyError::Io(format!("notify runtime: {e}")))
}

/// Turns due entries into attempts; sleeps until the next due time, an enqueue, or an outcome.
async fn dispatcher(shared: Arc<Shared>) {
    while !shared.stopping.load(Ordering::Acquire) {
        let now_ms = wall_ms();
        let (due, wake_ms) = {
            let mut book = lock(&shared.book);
            (book.poll_due(now_ms), book.next_wake_ms())
        };
        for dispatch in due {
            tokio::spawn(attempt(shared.clone(), dispatch));
        }
        let sleep_ms = wake_ms.map_or(DISPATCH_IDLE_MS, |w| {
            w.saturating_sub(now_ms).min(DISPATCH_IDLE_MS)
        });
        let _ = tokio::time::timeout(Duration::from_millis(sleep_ms), shared.wake.notified()).await;
    }
}

async fn attempt(shared: Arc<Shared>, dispatch: Dispatch) {
    let result = deliver(&shared, &dispatch.note).await;
    let counters = &shared.counters;
    counters.attempts.fetch_add(1, Ordering::Relaxed);
    if result.is_err() {
        counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
    }
    let now_ms = wall_ms();
    let id = &dispatch.note.id;
    let error = result.as_ref().err().cloned().unwrap_or_default();
    let outcome = {
        let mut book = lock(&shared.book);
        let outcome = book.handle_outcome(id, result, now_ms);
        if let Some(record) = outcome_record(id, &outcome, error.clone(), now_ms) {
            lock(&shared.store).append(&record);
        }
        outcome
    };
    match outcome {
        Outcome::Delivered { .. } => {
            counters.delivered.fetch_add(1, Ordering::Relaxed);
        }
        Outcome::GaveUp { attempts } => {
            let merchant_id = dispatch.note.merchant_id;
            tracing::warn!(id = %id, merchant_id, attempts, error = %error, "notification given up");
        }
        Outcome::Retry { .. } | Outcome::NotInFlight => {}
    }
    shared.wake.notify_one();
}

/// The one conversion from an outcome to the store record that makes it durable.
fn outcome_record(id: &str, outcome: &Outcome, error: String, now_ms: u64) -> Option<Record> {
    let id = id.to_string();
    match *outcome {
        Outcome::Delivered { .. } => Some(Record::Delivered { id, at_ms: now_ms }),
        Outcome::Retry {
            attempts,
            next_due_ms,
        } => Some(Record::Attempted {
            id,
            attempts,
            next_due_ms,
            error,
        }),
        Outcome::GaveUp { attempts } => Some(Record::GivenUp {
            id,
            attempts,
            at_ms: now_ms,
            error,
        }),
        Outcome::NotInFlight => None,
    }
}

/// One attempt: the endpoint current now, a fresh timestamp, the per-host bound, the POST.
async fn deliver(shared: &Shared, note: &Notification) -> Result<(), String> {
    let endpoint = {
        let endpoints = shared.endpoints.read().unwrap_or_else(|p| p.into_inner());
        endpoints.get(&note.merchant_id).cloned()
    };
    let endpoint =
        endpoint.ok_or_else(|| format!("no endpoint for merchant {}", note.merchant_id))?;
    let uri: hyper::Uri = endpoint
        .url
        .parse()
        .map_err(|e| format!("URL {:?}: {e}", endpoint.url))?;
    let semaphore = {
        let mut hosts = lock(&shared.hosts);
        let per_host = shared.config.per_host_connections as usize;
        hosts
            .entry(http::host_key(&uri))
            .or_insert_with(|| Arc::new(Semaphore::new(per_host)))
            .clone()
    };
    let _permit = semaphore
        .acquire_owned()
        .await
        .map_err(|_| "stopping".to_string())?;
    // Latency is the exchange itself (signing included), not the wait for a per-host slot:
    // queueing shows in the end-to-end rate instead.
    let started = std::time::Instant::now();
    let signature = sign(&endpoint.secrets, wall_ms() / 1000, &note.body);
    let timeout_ms = shared.config.response_timeout_ms;
    let result = http::post(&shared.client, uri, note, signature, timeout_ms).await;
    let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    shared.latency.record(elapsed_us);
    result
}

/// Writes outcome records at least every 100 ms, and compacts the log when it is over the bound.
async fn flusher(shared: Arc<Shared>) {
    while !shared.stopping.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(FLUSH_INTERVAL_MS)).await;
        let over = {
            let mut store = lock(&shared.store);
            if let Err(e) = store.flush() {
                tracing::warn!(error = %e, "notify store: flush failed (retried)");
            }
            store.log_bytes() > shared.config.log_compact_bytes
        };
        if over && !shared.compacting.swap(true, Ordering::AcqRel) {
            let shared = shared.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = compact(&shared) {
                    tracing::warn!(error = %e, "notify store: compaction failed (retried)");
                }
                shared.compacting.store(false, Ordering::Release);
            });
        }
    }
}

fn compact(shared: &Shared) -> Result<(), NotifyError> {
    let compaction = {
        let book = lock(&shared.book);
        lock(&shared.store).begin_compaction(&book)?
    };
    compaction.write()?;
    lock(&shared.store).finish_compaction()
}

/// Applies operators' resend requests from `DIR/resend/`.
async fn spool_poller(shared: Arc<Shared>) {
    while !shared.stopping.load(Ordering::Acquire) {
        let worker = shared.clone();
        let applied = tokio::task::spawn_blocking(move || spool::apply_pending(&worker)).await;
        if let Ok(n) = applied
            && n > 0
        {
            shared.wake.notify_one();
        }
        tokio::time::sleep(Duration::from_millis(SPOOL_POLL_MS)).await;
    }
}
