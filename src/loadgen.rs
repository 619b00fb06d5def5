//! `sluice loadgen`: an open-loop load generator over the real protocol. Requests are scheduled at a
//! fixed rate and latency is measured from each request's intended send time (no coordinated
//! omission), request → ack and request → final result separately.

use clap::Args;
use hdrhistogram::Histogram;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::load::{self, Identity, LoadReport, LoadSpec, Mix, Pacing, StopAt};

#[derive(Args, Clone)]
pub struct LoadgenArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub addr: SocketAddr,
    /// Requests per second (all kinds together).
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    /// Seconds of sending (warm-up included).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Connections.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Seconds at the start whose latencies are not recorded.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Request mix, e.g. payments=90,refunds=5,queries=5 (and resends=N: exact resends of earlier
    /// payments, answered with their original outcome).
    #[arg(long, default_value = "payments=90,refunds=5,queries=5")]
    pub mix: String,
    /// Write the request → ack percentile distribution (HdrHistogram text format) here; the result
    /// distribution goes to the same name with `.result` before the extension.
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// One JSON object on stdout instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Key id to log in with (default: the embedded configuration's demo acquirer).
    #[arg(long, default_value = "acq-a")]
    pub key_id: String,
    /// Secret of that key.
    #[arg(long, default_value = "sluice-demo-acquirer-a")]
    pub secret: String,
    /// Merchants the acquirer pays (comma-separated ids).
    #[arg(long, default_value = "1001,1002,1003,1004")]
    pub merchants: String,
    /// Seed of the generated requests.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Step the rate up until the request → ack p99 passes --p99-bound-ms; report the highest rate
    /// that stayed under it and was achieved.
    #[arg(long)]
    pub find_max: bool,
    /// The p99 bound for --find-max, milliseconds.
    #[arg(long, default_value_t = 1.0)]
    pub p99_bound_ms: f64,
    /// First rate of --find-max; each step multiplies it by --step.
    #[arg(long, default_value_t = 10_000.0)]
    pub start_rate: f64,
    #[arg(long, default_value_t = 1.25)]
    pub step: f64,
    /// Poll without sleeping and send each request at its scheduled time. For a dedicated core
    /// (pin with taskset); by default sends go out in batches at most 200 µs apart, which keeps
    /// the load generator from taking a shared machine's CPU.
    #[arg(long)]
    pub busy_poll: bool,
    /// Write every recorded ack as a line "intended_send_us latency_us connection" (arrival
    /// order), to see whether slow answers cluster in time or on one connection.
    #[arg(long)]
    pub ack_trace: Option<PathBuf>,
}

fn parse_mix(text: &str) -> Result<Mix, String> {
    let mut mix = Mix {
        payments: 0,
        refunds: 0,
        queries: 0,
        resends: 0,
        installments: 0,
    };
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("--mix: {part:?} is not name=weight"))?;
        let v: u32 = v
            .trim()
            .parse()
            .map_err(|_| format!("--mix: {v:?} is not a number"))?;
        match k.trim() {
            "payments" => mix.payments = v,
            "refunds" => mix.refunds = v,
            "queries" => mix.queries = v,
            "resends" => mix.resends = v,
            // Not a kind of request: per mille of payments under an installment plan.
            "installments" if v <= 1000 => mix.installments = v,
            "installments" => return Err("--mix: installments is per mille (0..=1000)".into()),
            other => {
                return Err(format!(
                    "--mix: unknown kind {other:?} (payments, refunds, queries, resends, \
                     installments)"
                ));
            }
        }
    }
    if mix.payments == 0 {
        return Err("--mix: payments must have a weight above 0".into());
    }
    Ok(mix)
}

fn spec(args: &LoadgenArgs, rate: f64, progress: bool) -> Result<LoadSpec, String> {
    let merchants = args
        .merchants
        .split(',')
        .map(|m| {
            m.trim()
                .parse::<u32>()
                .map_err(|_| format!("--merchants: {m:?} is not an id"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !(rate > 0.0 && rate.is_finite()) || args.duration <= 0.0 || args.connections == 0 {
        return Err("--rate, --duration and --connections must be positive".into());
    }
    Ok(LoadSpec {
        busy_poll: args.busy_poll,
        trace_acks: args.ack_trace.is_some(),
        addr: args.addr,
        connections: args.connections,
        identities: vec![Identity {
            key_id: args.key_id.clone(),
            secret: args.secret.clone(),
            merchants,
        }],
        pacing: Pacing::Open { rate_per_sec: rate },
        stop: StopAt::Duration(Duration::from_secs_f64(args.duration)),
        warmup: Duration::from_secs_f64(args.warmup.max(0.0)),
        mix: parse_mix(&args.mix)?,
        seed: args.seed,
        progress,
        drain_timeout: Duration::from_secs(15),
        milestones: Vec::new(),
    })
}

pub fn run(args: LoadgenArgs) -> Result<(), String> {
    if args.find_max {
        return find_max(&args);
    }
    let report =
        load::run(spec(&args, args.rate, !args.json)?).map_err(|e| format!("load: {e}"))?;
    if let Some(path) = &args.hgrm {
        write_hgrm(path, &report.ack_latency_ns)?;
        write_hgrm(&result_path(path), &report.result_latency_ns)?;
    }
    if let (Some(path), Some(trace)) = (&args.ack_trace, &report.ack_trace) {
        write_ack_trace(path, trace)?;
    }
    if args.json {
        println!("{}", to_json(&report));
    } else {
        print(&report);
    }
    Ok(())
}

fn result_path(path: &std::path::Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!("{stem}.result{ext}"))
}

fn find_max(args: &LoadgenArgs) -> Result<(), String> {
    let bound_ns = (args.p99_bound_ms * 1e6) as u64;
    let mut rate = args.start_rate;
    let mut best: Option<(f64, f64, u64)> = None;
    let mut steps = Vec::new();
    for _ in 0..40 {
        let report = load::run(spec(args, rate, false)?).map_err(|e| format!("load: {e}"))?;
        let p99 = report.ack_latency_ns.value_at_quantile(0.99);
        let achieved = report.sent_per_sec();
        let kept_up =
            achieved >= rate * 0.97 && report.outstanding == 0 && report.errors.is_empty();
        steps.push(json!({ "asked": rate.round(), "achieved": achieved.round(), "ack_p99_us": p99 as f64 / 1e3, "kept_up": kept_up }));
        if !args.json {
            eprintln!(
                "rate {rate:>10.0}/s  achieved {achieved:>10.0}/s  ack p99 {:>9.3} ms  {}",
                p99 as f64 / 1e6,
                if p99 <= bound_ns && kept_up {
                    "ok"
                } else {
                    "over"
                }
            );
        }
        if p99 > bound_ns || !kept_up {
            break;
        }
        best = Some((rate, achieved, p99));
        rate *= args.step;
    }
    let out = json!({
        "p99_bound_ms": args.p99_bound_ms,
        "max_rate_per_sec": best.map(|b| b.0.round()),
        "achieved_per_sec": best.map(|b| b.1.round()),
        "ack_p99_us": best.map(|b| b.2 as f64 / 1e3),
        "steps": steps,
    });
    if args.json {
        println!("{out}");
    } else {
        match best {
            Some((r, a, p)) => println!(
                "highest sustainable rate: {r:.0}/s (achieved {a:.0}/s, ack p99 {:.3} ms <= {} ms)",
                p as f64 / 1e6,
                args.p99_bound_ms
            ),
            None => println!(
                "even {:.0}/s did not stay under a p99 of {} ms",
                args.start_rate, args.p99_bound_ms
            ),
        }
    }
    Ok(())
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    (h.value_at_quantile(q) as f64 / 100.0).round() / 10.0
}

fn percentiles(h: &Histogram<u64>) -> serde_json::Value {
    json!({
        "p50": us(h, 0.5), "p90": us(h, 0.9), "p99": us(h, 0.99), "p999": us(h, 0.999),
        "p9999": us(h, 0.9999), "max": (h.max() as f64 / 100.0).round() / 10.0, "count": h.len(),
    })
}

fn to_json(r: &LoadReport) -> serde_json::Value {
    json!({
        "sent": r.sent(),
        "payments_sent": r.payments_sent,
        "refunds_sent": r.refunds_sent,
        "queries_sent": r.queries_sent,
        "queries_retired": r.queries_retired,
        "resends_sent": r.resends_sent,
        "resends_answered": r.resends_answered,
        "acked": r.acked,
        "rejected": r.rejected,
        "rejected_by_reason": r.rejected_by_reason,
        "rejected_by_rule": r.rejected_by_rule.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
        "succeeded": r.succeeded,
        "failed": r.failed,
        "failed_over": r.failed_over,
        "server_rejects": r.server_rejects,
        "errors": r.errors,
        "outstanding": r.outstanding,
        "asked_per_sec": r.asked_rate,
        "throughput_per_sec": r.sent_per_sec().round(),
        "payments_final_per_sec": r.payments_per_sec().round(),
        "seconds": r.seconds,
        "ack_latency_us": percentiles(&r.ack_latency_ns),
        "result_latency_us": percentiles(&r.result_latency_ns),
    })
}

fn print(r: &LoadReport) {
    println!(
        "sent {} requests ({} payments, {} refunds, {} queries, {} resends) in {:.2} s",
        r.sent(),
        r.payments_sent,
        r.refunds_sent,
        r.queries_sent,
        r.resends_sent,
        r.send_seconds
    );
    if r.resends_sent + r.queries_retired > 0 {
        println!(
            "resends answered with their original outcome {}; queries of retired orders {}",
            r.resends_answered, r.queries_retired
        );
    }
    println!(
        "throughput {:.0}/s achieved, {:.0}/s asked",
        r.sent_per_sec(),
        r.asked_rate.unwrap_or(0.0)
    );
    println!(
        "acked {}, rejected {}, succeeded {}, failed {} ({} after failover), outstanding {}",
        r.acked, r.rejected, r.succeeded, r.failed, r.failed_over, r.outstanding
    );
    for (reason, n) in &r.rejected_by_reason {
        println!("  rejected {reason}: {n}");
    }
    for (reason, n) in &r.server_rejects {
        println!("  server reject {reason}: {n}");
    }
    for e in &r.errors {
        println!("  error: {e}");
    }
    for (name, h) in [
        ("request -> ack", &r.ack_latency_ns),
        ("request -> result", &r.result_latency_ns),
    ] {
        println!(
            "{name:<18} p50 {:>9.1} us  p90 {:>9.1}  p99 {:>9.1}  p99.9 {:>9.1}  p99.99 {:>9.1}  max {:>9.1}  (n={})",
            us(h, 0.5),
            us(h, 0.9),
            us(h, 0.99),
            us(h, 0.999),
            us(h, 0.9999),
            h.max() as f64 / 1e3,
            h.len()
        );
    }
}

fn write_ack_trace(path: &std::path::Path, trace: &[(u64, u64, u16)]) -> Result<(), String> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    for (sent, latency, conn) in trace {
        writeln!(
            w,
            "{:.1} {:.1} {conn}",
            *sent as f64 / 1e3,
            *latency as f64 / 1e3
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    w.flush().map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes the standard HdrHistogram percentile distribution (values in milliseconds), as
/// `outputPercentileDistribution` prints it, which HdrHistogram plotters read.
pub fn write_hgrm(path: &std::path::Path, h: &Histogram<u64>) -> Result<(), String> {
    let mut out = String::new();
    out.push_str("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let scale = 1e6; // ns -> ms
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / scale;
        if q < 1.0 {
            out.push_str(&format!(
                "{value:12.3} {q:2.12} {total:10} {:14.2}\n",
                1.0 / (1.0 - q)
            ));
        } else {
            out.push_str(&format!("{value:12.3} {q:2.12} {total:10}\n"));
        }
    }
    let n = h.len().max(1);
    out.push_str(&format!(
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n",
        h.mean() / scale,
        h.stdev() / scale
    ));
    out.push_str(&format!(
        "#[Max     = {:12.3}, Total count    = {:12}]\n",
        h.max() as f64 / scale,
        n
    ));
    out.push_str(&format!(
        "#[Buckets = {:12}, SubBuckets     = {:12}]\n",
        h.buckets(),
        h.distinct_values()
    ));
    let mut f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(out.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}
