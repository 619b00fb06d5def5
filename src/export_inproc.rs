//! The flow exporter in the server (`[export] enabled = true`; docs/STORE.md, "In the server"):
//! a thread beside the `Server`, in Linux's idle scheduling class, that follows the journal's
//! durable cursor (it never exports a record that is not durable) and commits rows to the flow
//! store in batches. It never blocks the processor: it only reads the cursor and the journal.
//! A store failure is logged with its cause and retried with backoff, reopening the store and
//! the exporter at the store's position (the store is the truth). At shutdown, after the server
//! stopped, it catches up to the final durable cursor, commits and exits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_gateway::config_export::ExportSection;
use sluice_gateway::server::{FollowerRegistry, Server};
use sluice_node::DurableCursor;
use sluice_store::pg::PgStore;
use sluice_store::{ExportOptions, ExportStats, Exporter, FlowStore, ParquetStore, StoreError};
use tracing::{info, warn};

/// A store chosen at run time ([`open_store`]).
pub struct AnyStore(Box<dyn FlowStore>);

impl FlowStore for AnyStore {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn position(&mut self) -> Result<u64, StoreError> {
        self.0.position()
    }
    fn commit(&mut self, rows: &sluice_node::flow::Rows, through: u64) -> Result<(), StoreError> {
        self.0.commit(rows, through)
    }
}

/// Opens the flow store that `to` names, for `sluice export` and the server's exporter alike:
/// `parquet` (DATA/export/parquet) or `postgres` (at `postgres_url`). The one place a store is
/// chosen.
pub fn open_store(data: &Path, to: &str, postgres_url: &str) -> Result<AnyStore, String> {
    match to {
        "parquet" => {
            let store = ParquetStore::open(data).map_err(|e| e.to_string())?;
            Ok(AnyStore(Box::new(store)))
        }
        "postgres" if postgres_url.is_empty() => Err(
            "export.postgres_url (--postgres-url): the PostgreSQL store needs a URL \
             (postgresql://user@host:port/db)"
                .into(),
        ),
        "postgres" => {
            let store = PgStore::connect(postgres_url).map_err(|e| e.to_string())?;
            Ok(AnyStore(Box::new(store)))
        }
        other => Err(format!("export.to: {other:?} is not parquet or postgres")),
    }
}

/// The exporter's options from `[export]`.
pub fn options(section: &ExportSection) -> ExportOptions {
    ExportOptions {
        batch_rows: section.batch_rows.max(1) as usize,
        batch_interval: Duration::from_millis(u64::from(section.batch_ms)),
    }
}

/// What the exporter did, at the end.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    /// The store's position at the end.
    pub position: u64,
    /// The store's position when the exporter started.
    pub from_position: u64,
    /// Rows and commits over every (re)open.
    pub rows: u64,
    pub payments: u64,
    pub commits: u64,
    /// Store failures (each logged and retried).
    pub failures: u64,
    /// The time of each commit and the position it reached.
    pub commit_times: Vec<(Instant, u64)>,
    /// Why it gave up (only after the server stopped and the store kept failing).
    pub error: Option<String>,
}

/// Once the server stopped, a failing store gets this many more tries before the exporter gives
/// up (the next start, or `sluice export --once`, continues from the store's position).
const TRIES_AFTER_STOP: u32 = 3;
/// The newest commit times kept (a long-running server commits about once a second).
const COMMIT_TIMES_KEPT: usize = 4096;
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// The exporter thread beside a server.
pub struct InProcessExporter {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Exported>,
}

struct Job {
    data: PathBuf,
    section: ExportSection,
    cursor: DurableCursor,
    registry: FollowerRegistry,
    stop: Arc<AtomicBool>,
    progress: Arc<Mutex<Exported>>,
}

impl InProcessExporter {
    /// Starts the exporter of `server`'s journal (in `data`) as `section` says. Opening the store
    /// happens on the thread: a slow or failing store never delays the server.
    pub fn start(
        data: &Path,
        section: &ExportSection,
        server: &Server,
    ) -> Result<InProcessExporter, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Mutex::new(Exported::default()));
        let job = Job {
            data: data.to_path_buf(),
            section: section.clone(),
            cursor: server.durable_cursor(),
            registry: server.follower_registry(),
            stop: stop.clone(),
            progress,
        };
        let thread = std::thread::Builder::new()
            .name("sluice-export".into())
            .spawn(move || job.run())
            .map_err(|e| format!("export thread: {e}"))?;
        Ok(InProcessExporter { stop, thread })
    }

    /// Once the server stopped: catches up to the final durable cursor, commits and returns.
    pub fn finish(self) -> Exported {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap_or_else(|_| Exported {
            error: Some("the export thread panicked".into()),
            ..Exported::default()
        })
    }
}

impl Job {
    fn run(self) -> Exported {
        // Off the live path: on a busy machine it lags under load and catches up after.
        if let Err(e) = sluice_node::follower::background_priority() {
            warn!("export: at normal priority: {e}");
        }
        let mut backoff = Duration::from_millis(100);
        let mut tries_after_stop = 0;
        loop {
            let error = match self.session() {
                Ok(()) => break,
                Err(e) => e,
            };
            let failures = self.update(|p| {
                p.failures += 1;
                p.failures
            });
            if self.stop.load(Ordering::Acquire) {
                tries_after_stop += 1;
                if tries_after_stop > TRIES_AFTER_STOP {
                    tracing::error!(error = %error, "export: gave up after the server stopped: {error}; the next start (or `sluice export --once`) continues from the store's position");
                    self.update(|p| p.error = Some(error.clone()));
                    break;
                }
            }
            let retry_ms = backoff.as_millis() as u64;
            warn!(error = %error, failures, retry_ms, "export: {error}; retrying in {retry_ms} ms from the store's position");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn update<T>(&self, f: impl FnOnce(&mut Exported) -> T) -> T {
        let mut guard = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Opens the store and the exporter at the store's position, then exports until the server
    /// stopped and everything durable is committed.
    fn session(&self) -> Result<(), String> {
        let store = open_store(&self.data, &self.section.to, &self.section.postgres_url)?;
        let name = format!("export-{}", store.name());
        let mut exporter = Exporter::open(
            &self.data,
            store,
            self.cursor.clone(),
            options(&self.section),
        )
        .map_err(|e| e.to_string())?;
        self.registry.register(&name, exporter.progress());
        let opened = exporter.stats();
        self.update(|p| {
            if p.commit_times.is_empty() && p.failures == 0 {
                p.from_position = opened.position;
            }
            p.position = opened.position;
        });
        info!(
            position = opened.position,
            "export: {name} from position {}", opened.position
        );
        let mut seen = ExportStats::default();
        loop {
            let applied = exporter.step(4096).map_err(|e| e.to_string())?;
            self.note(&exporter.stats(), &mut seen);
            if applied > 0 {
                continue;
            }
            if self.stop.load(Ordering::Acquire) && exporter.applied_seq() >= self.cursor.get() {
                exporter.commit().map_err(|e| e.to_string())?;
                self.note(&exporter.stats(), &mut seen);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Adds the commits since `seen` to the totals.
    fn note(&self, now: &ExportStats, seen: &mut ExportStats) {
        if now.commits == seen.commits {
            return;
        }
        let at = Instant::now();
        self.update(|p| {
            p.rows += now.rows - seen.rows;
            p.payments += now.payments - seen.payments;
            p.commits += now.commits - seen.commits;
            p.position = now.position;
            if p.commit_times.len() >= COMMIT_TIMES_KEPT {
                p.commit_times.drain(..COMMIT_TIMES_KEPT / 2);
            }
            p.commit_times.push((at, now.position));
        });
        *seen = *now;
    }
}

/// Fails when `[export] to` names a store this build does not have.
pub fn check_store(section: &ExportSection) -> Result<(), String> {
    match section.to.as_str() {
        "parquet" => Ok(()),
        _ => open_store(Path::new(""), &section.to, &section.postgres_url).map(|_| ()),
    }
}

/// Logs where the exporter stopped, against the journal's end.
pub fn log_finish(exported: Exported, journal_end: u64) {
    let (position, rows, failures) = (exported.position, exported.rows, exported.failures);
    match &exported.error {
        None => info!(
            position,
            journal_end,
            rows,
            failures,
            "export: stopped at position {position} (journal end {journal_end}); {rows} rows this run"
        ),
        Some(e) => tracing::error!(
            position,
            journal_end,
            "export: stopped at position {position} short of the journal end {journal_end}: {e}"
        ),
    }
}
