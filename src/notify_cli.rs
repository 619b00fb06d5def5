//! `sluice notify status|resend`: the operator's view of merchant notifications and the lever to
//! send them again. Both work on `DATA/notify` with or without a running server: status reads the
//! store's files; resend drops a request into the spool that a running notifier applies within a
//! second (the CLI never writes the live log).

use clap::{Args, Subcommand};
use sluice_notify::{ResendRequest, StatusFilter, StatusReport, request_resend, status, wall_ms};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct NotifyArgs {
    #[command(subcommand)]
    pub command: NotifyCommand,
}

#[derive(Subcommand)]
pub enum NotifyCommand {
    /// List pending and given-up notifications: attempts, last error, next due time.
    Status {
        /// Data directory (the store is DATA/notify).
        #[arg(long)]
        data: PathBuf,
        /// Only this order's notifications.
        #[arg(long, conflicts_with_all = ["merchant", "failing"])]
        order: Option<u64>,
        /// Only this merchant's notifications.
        #[arg(long, conflicts_with = "failing")]
        merchant: Option<u32>,
        /// Only given-up notifications and pending ones with a failed attempt.
        #[arg(long)]
        failing: bool,
        /// One JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// A test merchant: a real HTTP(S) receiver that verifies every signature (benchmarks,
    /// drills).
    Receiver(crate::notify_receiver::ReceiverArgs),
    /// Send notifications again: given-up ones restart their schedule, pending ones are due now.
    Resend {
        /// Data directory (the store is DATA/notify).
        #[arg(long)]
        data: PathBuf,
        /// A notification id (repeatable).
        #[arg(long, required_unless_present = "failing", conflicts_with = "failing")]
        id: Vec<String>,
        /// Every given-up notification and every pending one with a failed attempt.
        #[arg(long)]
        failing: bool,
        /// With --failing: only this merchant's.
        #[arg(long, requires = "failing")]
        merchant: Option<u32>,
    },
}

/// The notifier's directory inside a data directory.
pub fn notify_dir(data: &Path) -> PathBuf {
    data.join("notify")
}

pub fn run(args: NotifyArgs) -> Result<(), String> {
    match args.command {
        NotifyCommand::Status {
            data,
            order,
            merchant,
            failing,
            json,
        } => {
            let filter = match (order, merchant, failing) {
                (Some(order_id), _, _) => StatusFilter::Order(order_id),
                (_, Some(merchant_id), _) => StatusFilter::Merchant(merchant_id),
                (_, _, true) => StatusFilter::Failing,
                _ => StatusFilter::All,
            };
            let report = status(&notify_dir(&data), filter).map_err(|e| e.to_string())?;
            let text = if json {
                serde_json::to_string(&report).map_err(|e| e.to_string())? + "\n"
            } else {
                render(&report)
            };
            emit(&text)
        }
        NotifyCommand::Receiver(args) => crate::notify_receiver::run(args),
        NotifyCommand::Resend {
            data,
            id,
            failing,
            merchant,
        } => {
            let dir = notify_dir(&data);
            // Refuse a mistyped data directory rather than spool a request nobody will read.
            status(&dir, StatusFilter::Order(u64::MAX)).map_err(|e| e.to_string())?;
            let request = if failing {
                ResendRequest::Failing {
                    merchant_id: merchant,
                }
            } else {
                ResendRequest::Ids(id)
            };
            let path = request_resend(&dir, &request).map_err(|e| e.to_string())?;
            println!(
                "resend request queued: {} (a running notifier applies it within a second; otherwise at its next start)",
                path.display()
            );
            Ok(())
        }
    }
}

/// Writes the report; a closed pipe (`| head`) ends the output quietly instead of a panic.
fn emit(text: &str) -> Result<(), String> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
        _ => Ok(()),
    }
}

fn render(report: &StatusReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "pending {}, given up {}, delivered ids remembered {}, resend requests queued {}",
        report.pending, report.given_up, report.delivered_ids, report.resend_requests_queued
    );
    if report.entries.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:<28} {:>9} {:>12} {:<18} {:<9} {:>8} {:<14} last error",
        "id", "merchant", "order", "kind", "state", "attempts", "next due"
    );
    let now_ms = wall_ms();
    for e in &report.entries {
        let due = match e.next_due_ms {
            None => "-".to_string(),
            Some(due_ms) if due_ms <= now_ms => "now".to_string(),
            Some(due_ms) => format!("in {} s", (due_ms - now_ms).div_ceil(1000)),
        };
        let error = e.last_error.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "{:<28} {:>9} {:>12} {:<18} {:<9} {:>8} {:<14} {error}",
            e.id, e.merchant_id, e.order_id, e.kind, e.state, e.attempts, due
        );
    }
    out
}
