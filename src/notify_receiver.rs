//! `sluice notify receiver`: a test merchant as a process — the real HTTP(S) receiver of
//! `sluice_notify::receiver`, which verifies every signature and de-duplicates on the
//! notification id — for benchmarks and drills beside a running server
//! (`benches/scripts/ab-notify.sh`). It prints its base URL (a merchant's URL is
//! `<base>/m/<merchant_id>`), picks up merchants' secrets from files named `merchant-<id>.secret`
//! in `--secrets-dir` as they appear (as `sluice admin notify set --secret-out` writes them), and
//! on SIGINT or SIGTERM prints its counts as one JSON object.

use serde_json::json;
use sluice_notify::receiver::{Receiver, ReceiverConfig};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(clap::Args)]
pub struct ReceiverArgs {
    /// Serve HTTPS with the fixed test certificate (its CA's path is printed: trust it with
    /// `[notify.delivery] ca_file`).
    #[arg(long)]
    https: bool,
    /// Where merchants' secrets appear, as `merchant-<id>.secret`.
    #[arg(long, value_name = "DIR")]
    secrets_dir: PathBuf,
    /// Runtime threads of the receiver.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

pub fn run(args: ReceiverArgs) -> Result<(), String> {
    let receiver = Receiver::start(ReceiverConfig {
        https: args.https,
        worker_threads: args.threads,
        ..ReceiverConfig::default()
    })
    .map_err(|e| format!("receiver: {e}"))?;
    let base = receiver.url(0);
    let base = base.trim_end_matches("/m/0");
    let ca = receiver.ca_file().map(|p| p.display().to_string());
    println!("{}", json!({"url": base, "ca_file": ca}));
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).map_err(|e| e.to_string())?;
    }
    let mut known = BTreeSet::new();
    while !stop.load(Ordering::Acquire) {
        pick_up_secrets(&receiver, &args.secrets_dir, &mut known)?;
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = receiver.stats();
    let counts = json!({
        "requests": s.requests,
        "accepted": s.accepted,
        "duplicates": s.duplicates,
        "bad_signatures": s.bad_signatures,
        "failures_injected": s.failures_injected,
    });
    println!("{counts}");
    Ok(())
}

/// Hands the receiver every secret file it has not seen yet.
fn pick_up_secrets(
    receiver: &Receiver,
    dir: &Path,
    known: &mut BTreeSet<u32>,
) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let merchant = name
            .strip_prefix("merchant-")
            .and_then(|n| n.strip_suffix(".secret"))
            .and_then(|n| n.parse::<u32>().ok());
        let Some(merchant) = merchant.filter(|m| !known.contains(m)) else {
            continue;
        };
        let secret = std::fs::read_to_string(entry.path())
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        receiver.set_secrets(merchant, vec![secret.trim().as_bytes().to_vec()]);
        known.insert(merchant);
    }
    Ok(())
}
