//! The demo's flow exporter (docs/STORE.md, "In the server"): the server's in-process exporter
//! into Parquet under the demo's data directory, and the report's "Export" section: rows and
//! tables written, the position reached against the journal's end, how long the exporter trailed
//! the end of the load, and what to run on the files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_gateway::config_export::ExportSection;
use sluice_gateway::server::Server;
use sluice_node::DurableCursor;
use sluice_store::ParquetStore;

use crate::export_inproc::{Exported, InProcessExporter};

/// The exporter running beside the demo's server.
pub(crate) struct DemoExport {
    exporter: InProcessExporter,
    cursor: DurableCursor,
    dir: PathBuf,
    /// The end of the load, and the durable journal end then.
    load_end: Option<(Instant, u64)>,
}

/// What the exporter did in the demo.
pub(crate) struct ExportNews {
    exported: Exported,
    journal_end: u64,
    load_end_seq: u64,
    trailed: Option<Duration>,
    tables: usize,
    dir: PathBuf,
}

/// Marks the end of the load, when the exporter runs.
pub(crate) fn load_ended(export: Option<&mut DemoExport>) {
    if let Some(e) = export {
        e.load_ended();
    }
}

impl DemoExport {
    /// Starts the exporter (None with `--no-export`).
    pub(crate) fn start(
        no_export: bool,
        data_dir: &Path,
        server: &Server,
    ) -> Result<Option<DemoExport>, String> {
        if no_export {
            return Ok(None);
        }
        let section = ExportSection {
            enabled: true,
            ..ExportSection::default()
        };
        Ok(Some(DemoExport {
            exporter: InProcessExporter::start(data_dir, &section, server)?,
            cursor: server.durable_cursor(),
            dir: ParquetStore::dir_in(data_dir),
            load_end: None,
        }))
    }

    /// Marks the end of the load (the durable journal end now is what the exporter must reach).
    pub(crate) fn load_ended(&mut self) {
        self.load_end = Some((Instant::now(), self.cursor.get()));
    }

    /// Once the server stopped at `last_seq`: the exporter catches up, commits and reports.
    pub(crate) fn finish(self, last_seq: u64) -> ExportNews {
        let exported = self.exporter.finish();
        let (end_at, load_end_seq) = self.load_end.unwrap_or((Instant::now(), last_seq));
        let trailed = exported
            .commit_times
            .iter()
            .find(|(_, position)| *position >= load_end_seq)
            .map(|(at, _)| at.saturating_duration_since(end_at));
        ExportNews {
            tables: tables_written(&self.dir),
            exported,
            journal_end: last_seq,
            load_end_seq,
            trailed,
            dir: self.dir,
        }
    }
}

/// Tables with at least one Parquet file.
fn tables_written(dir: &Path) -> usize {
    fn has_parquet(dir: &Path) -> bool {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let path = e.path();
                if path.is_dir() {
                    has_parquet(&path)
                } else {
                    path.extension().is_some_and(|x| x == "parquet")
                }
            })
    }
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir() && has_parquet(&e.path()))
        .count()
}

impl ExportNews {
    /// Why the demo fails: the exporter gave up or stopped short of the journal's end.
    pub(crate) fn error(&self) -> Option<String> {
        if let Some(e) = &self.exported.error {
            return Some(format!("the exporter failed: {e}"));
        }
        (self.exported.position != self.journal_end).then(|| {
            format!(
                "the exporter stopped at {} instead of the journal end {}",
                self.exported.position, self.journal_end
            )
        })
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let e = &self.exported;
        json!({
            "store": "parquet",
            "dir": self.dir.display().to_string(),
            "rows": e.rows,
            "payments": e.payments,
            "tables": self.tables,
            "commits": e.commits,
            "failures": e.failures,
            "position": e.position,
            "journal_end": self.journal_end,
            "load_end_seq": self.load_end_seq,
            "trailed_load_s": self.trailed.map(|t| (t.as_secs_f64() * 1000.0).round() / 1000.0),
            "error": e.error,
        })
    }

    pub(crate) fn print(&self) {
        let e = &self.exported;
        println!();
        println!("== Export ===============================================================");
        let caught = if e.position == self.journal_end {
            "caught up"
        } else {
            "SHORT"
        };
        println!(
            "exporter   in-process, idle priority, never past the durable cursor: {} rows in {} tables ({} payment results), {} commits",
            n(e.rows),
            self.tables,
            n(e.payments),
            n(e.commits)
        );
        println!(
            "position   {} of the journal end {} ({caught}; {} store failures retried)",
            n(e.position),
            n(self.journal_end),
            e.failures
        );
        match self.trailed {
            Some(t) => println!(
                "trailed    the end of the load by {:.2} s (until its position reached {}, the journal end then)",
                t.as_secs_f64(),
                n(self.load_end_seq)
            ),
            None => println!("trailed    -"),
        }
        self.print_commands();
    }

    fn print_commands(&self) {
        let dir = self.dir.display();
        let data = self
            .dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&self.dir);
        let data = data.display();
        println!("files      {dir}");
        println!(
            "duckdb     duckdb -c \"select channel_id, status, count(*), sum(amount_minor) from read_parquet('{dir}/payment_results/*/*.parquet', hive_partitioning = true) group by all order by all\""
        );
        println!("report     sluice report --data {data}");
        println!("console    sluice console --data {data}");
    }
}

/// 1234567 -> "1,234,567".
fn n(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
