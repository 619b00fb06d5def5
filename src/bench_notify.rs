//! `sluice bench notify`: merchant notifications end to end, in one process. A test receiver
//! (hyper, its own runtime and threads; HTTPS with the test CA under --https) verifies every
//! signature and de-duplicates; a Notifier with a fresh store in a temporary directory gets N
//! notifications for a handful of merchants, synced every `--batch` enqueues as the journal side
//! does. Reported: notifications delivered per second from the first enqueue to the last 2xx
//! (store writes and fsyncs included), and the attempt latency percentiles (the HTTP exchange: request out to answer in).

use clap::Args;
use serde_json::json;
use sluice_notify::receiver::{Receiver, ReceiverConfig};
use sluice_notify::{Endpoint, Notification, Notifier, NotifyConfig};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct NotifyBenchArgs {
    /// Notifications to deliver.
    #[arg(long, default_value_t = 200_000)]
    pub count: u64,
    /// Deliver over HTTPS (rustls, ring) instead of HTTP.
    #[arg(long)]
    pub https: bool,
    /// Merchants the notifications are spread over.
    #[arg(long, default_value_t = 8)]
    pub merchants: u32,
    /// Enqueues between two syncs (fsyncs) of the store.
    #[arg(long, default_value_t = 1000)]
    pub batch: u64,
    /// The notifier runtime's worker threads.
    #[arg(long, default_value_t = 2)]
    pub notifier_threads: u32,
    /// The receiver runtime's worker threads. One by default: the receiver stands in for a
    /// merchant on another machine, and on a 2-core host two receiver workers beside the
    /// notifier's two halve the figure (41k/s against 21k/s measured: the threads preempt each
    /// other instead of working).
    #[arg(long, default_value_t = 1)]
    pub receiver_threads: usize,
    /// Directory for the temporary store (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// One JSON line instead of the report.
    #[arg(long)]
    pub json: bool,
}

fn secret(merchant_id: u32) -> Vec<u8> {
    format!("whsec_bench_{merchant_id:08}_0123456789abcdef0123456789abcdef").into_bytes()
}

/// A body shaped like a real one (docs/NOTIFICATIONS.md section 2), about 330 bytes.
fn notification(i: u64, merchants: u32) -> Notification {
    let merchant_id = 1 + (i % u64::from(merchants)) as u32;
    let id = format!("ntf_{}_{}", 1_000_000 + i, i % 3);
    let body = format!(
        concat!(
            r#"{{"id":"{id}","type":"payment.succeeded","order_id":{order},"request_id":"req_{order}","#,
            r#""merchant_id":{m},"amount_minor":{amount},"currency":"EUR","status":"succeeded","#,
            r#""reason":null,"created_at":"2026-12-06T12:00:00.000Z","split":[{{"role":"merchant","#,
            r#""party_id":{m},"amount_minor":{net}}},{{"role":"platform","party_id":1,"amount_minor":{fee}}}]}}"#
        ),
        id = id,
        order = 5_000_000 + i,
        m = merchant_id,
        amount = 1999 + i % 1000,
        net = 1959 + i % 1000,
        fee = 40,
    );
    Notification {
        id,
        merchant_id,
        order_id: 5_000_000 + i,
        kind: "payment.succeeded".into(),
        body: body.into_bytes(),
    }
}

pub fn run(args: NotifyBenchArgs) -> Result<(), String> {
    if args.count == 0 || args.merchants == 0 || args.batch == 0 {
        return Err("--count, --merchants and --batch must be at least 1".into());
    }
    let receiver = Receiver::start(ReceiverConfig {
        https: args.https,
        worker_threads: args.receiver_threads,
        ..ReceiverConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("sluice-bench-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = NotifyConfig {
        ca_file: receiver.ca_file().map(|p| p.to_path_buf()),
        worker_threads: args.notifier_threads,
        ..NotifyConfig::default()
    };
    let notifier = Notifier::start(config, &dir).map_err(|e| e.to_string())?;
    for m in 1..=args.merchants {
        receiver.set_secrets(m, vec![secret(m)]);
        notifier.set_endpoint(
            m,
            Some(Endpoint {
                url: receiver.url(m),
                secrets: vec![secret(m)],
            }),
        );
    }
    let result = measure(&args, &notifier, &receiver);
    notifier.shutdown(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(args: &NotifyBenchArgs, notifier: &Notifier, receiver: &Receiver) -> Result<(), String> {
    let notes: Vec<Notification> = (0..args.count)
        .map(|i| notification(i, args.merchants))
        .collect();
    let started = Instant::now();
    for (i, note) in notes.into_iter().enumerate() {
        notifier.enqueue(note).map_err(|e| e.to_string())?;
        if (i as u64 + 1).is_multiple_of(args.batch) {
            notifier.sync().map_err(|e| e.to_string())?;
        }
    }
    notifier.sync().map_err(|e| e.to_string())?;
    let enqueue_secs = started.elapsed().as_secs_f64();
    let deadline = started + Duration::from_secs(60 + args.count / 1000);
    while notifier.stats().delivered < args.count {
        if Instant::now() > deadline {
            return Err(format!(
                "not all delivered in time: {:?} {:?}",
                notifier.stats(),
                receiver.stats()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed_secs = started.elapsed().as_secs_f64();
    let (stats, received, latency) = (
        notifier.stats(),
        receiver.stats(),
        notifier.attempt_latency(),
    );
    if received.bad_signatures > 0 || received.accepted != args.count {
        return Err(format!("receiver disagrees: {received:?}"));
    }
    let rate = args.count as f64 / elapsed_secs;
    let scheme = if args.https { "https" } else { "http" };
    if args.json {
        let line = json!({
            "bench": "notify", "scheme": scheme, "count": args.count, "merchants": args.merchants,
            "elapsed_s": elapsed_secs, "enqueue_s": enqueue_secs, "delivered_per_s": rate,
            "attempts": stats.attempts, "failed_attempts": stats.failed_attempts,
            "attempt_p50_us": latency.p50_us, "attempt_p99_us": latency.p99_us,
            "attempt_p999_us": latency.p999_us, "attempt_max_us": latency.max_us,
            "duplicates": received.duplicates,
        });
        println!("{line}");
        return Ok(());
    }
    println!(
        "notify bench ({scheme}): {} notifications, {} merchants, sync every {}",
        args.count, args.merchants, args.batch
    );
    println!(
        "  delivered      {:>10.0} /s  ({elapsed_secs:.2} s end to end; enqueue+sync {enqueue_secs:.2} s)",
        rate
    );
    println!(
        "  attempts       {:>10}     (failed {}, duplicates at the receiver {})",
        stats.attempts, stats.failed_attempts, received.duplicates
    );
    println!(
        "  attempt latency p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        latency.p50_us, latency.p99_us, latency.p999_us, latency.max_us
    );
    Ok(())
}
