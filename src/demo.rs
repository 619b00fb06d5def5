//! `sluice demo`: a server with simulated channels in-process on an ephemeral loopback port, driven
//! through real TCP connections by the load driver, with one channel failing mid-run, and a
//! follower of its journal (`sluice_node::Follower`) applying the same inputs off the live path;
//! then a report, and one scrape of its own metrics endpoint (`demo_metrics`), merchant
//! notifications to a test merchant over HTTPS and an acquirer session resume (`demo_notify`).
//! Then a simulated month on a scripted clock (`demo_month`).

use clap::Args;
use serde_json::json;
use sluice_gateway::config::{Config, DEFAULT_CONFIG, MetricsConfig};
use sluice_gateway::metrics::Names;
use sluice_gateway::server::{ServeOptions, Server, SimCommand};
use sluice_gateway::sim_faults::Faults;
use sluice_protocol::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::demo_admin::{AdminFigures, admin_figures};
use crate::demo_follower::{Followed, LiveFollower};
use crate::demo_metrics::Scraped;
use crate::demo_scenarios::{finance, payouts, recon, risk, scenarios, sibling};
use crate::load::{self, Identity, LoadReport, LoadSpec, Milestone, Mix, Pacing, StopAt};

#[derive(Args)]
pub struct DemoArgs {
    /// Payments to drive.
    #[arg(long, default_value_t = 200_000)]
    pub payments: u64,
    /// Data directory for the journal it leaves (default: a fresh directory it names).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Client connections.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Channel that fails mid-run (0 = none).
    #[arg(long, default_value_t = 1)]
    pub fail_channel: u16,
    /// Seed of the generated payments and of the simulated channels.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run without the follower (to measure what it costs the live path).
    #[arg(long)]
    pub no_follower: bool,
    /// Run without the metrics endpoint (to measure what metrics cost the live path).
    #[arg(long)]
    pub no_metrics: bool,
    /// Run without merchant notifications and their test merchant (for A/B runs).
    #[arg(long)]
    pub no_notify: bool,
    /// Run without the in-process flow exporter (for A/B runs).
    #[arg(long)]
    pub no_export: bool,
    /// Days of the simulated month on a scripted clock (0 = skip it).
    #[arg(long, default_value_t = 31)]
    pub month_days: u32,
    /// Payments per simulated day.
    #[arg(long, default_value_t = 1_000)]
    pub month_payments_per_day: u64,
    #[command(flatten)]
    pub recon: crate::demo_recon::ReconArgs,
    #[command(flatten)]
    pub payouts: crate::demo_payouts::PayoutsArgs,
    #[command(flatten)]
    pub risk: crate::demo_risk::RiskArgs,
    #[command(flatten)]
    pub finance: crate::demo_finance::FinanceArgs,
    /// Run with channel faults (PROFILE as for `channel-sim --faults`; alone: late,lost,duplicate)
    /// and alipay on the FailOver policy; the report checks each channel's own book against the
    /// ledger and counts double charges, and the demo fails when they differ (docs/OPERATIONS.md).
    #[arg(long, value_name = "PROFILE", num_args = 0..=1, default_missing_value = "late,lost,duplicate")]
    pub faults: Option<String>,
    /// Keep the live run's simulated channels' book in this file (`[simulator] book`), e.g. for a
    /// post-mortem of a fault run with `sluice replay dump --order`.
    #[arg(long, value_name = "PATH")]
    pub book: Option<PathBuf>,
}

fn fresh_dir() -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("sluice-demo-{}-{stamp}", std::process::id()))
}

pub(crate) fn demo_config(args: &DemoArgs, data_dir: PathBuf) -> Result<Config, String> {
    let mut config = Config::parse(DEFAULT_CONFIG).map_err(|e| e.to_string())?;
    config.listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    config.data_dir = data_dir;
    config.simulator.enabled = true;
    config.simulator.seed = args.seed;
    config.metrics = MetricsConfig {
        enabled: !args.no_metrics,
        listen: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
    };
    let needed = (args.payments + args.payments / 5 + 10_000).min(50_000_000) as u32;
    let genesis = &mut config.world.genesis;
    genesis.orders_max = genesis.orders_max.max(needed);
    genesis.refunds_max = genesis.refunds_max.max(needed / 4);
    Ok(config)
}

/// Names of the configured risk rules (and of the list verdicts) and channels, for the report.
fn names(config: &Config) -> (BTreeMap<u32, String>, BTreeMap<u16, String>) {
    let Names {
        mut rules,
        channels,
    } = Names::of_world(&config.world);
    rules.extend([(1, "allow_list".to_string()), (2, "block_list".to_string())]);
    (rules, channels)
}

/// The channel outage of the run: it starts at 40% of the payments and ends at 70%.
fn outage(args: &DemoArgs, control: &crossbeam::channel::Sender<SimCommand>) -> Vec<Milestone> {
    if args.fail_channel == 0 {
        return Vec::new();
    }
    let (c1, c2) = (control.clone(), control.clone());
    let channel = args.fail_channel;
    vec![
        Milestone {
            fraction: 0.4,
            action: Box::new(move || {
                let _ = c1.send(SimCommand::Outage {
                    channel_id: channel,
                    seconds: 3_600.0,
                    mode: "error".into(),
                });
            }),
        },
        Milestone {
            fraction: 0.7,
            action: Box::new(move || {
                let _ = c2.send(SimCommand::Recover {
                    channel_id: channel,
                });
            }),
        },
    ]
}

/// The load: both acquirers, closed loop, mostly payments with some refunds and queries.
fn load_spec(args: &DemoArgs, addr: std::net::SocketAddr, milestones: Vec<Milestone>) -> LoadSpec {
    let identities = vec![
        Identity {
            key_id: "acq-a".into(),
            secret: "sluice-demo-acquirer-a".into(),
            merchants: vec![1001, 1002, 1003, 1004],
        },
        Identity {
            key_id: "acq-b".into(),
            secret: "sluice-demo-acquirer-b".into(),
            merchants: vec![2001],
        },
    ];
    LoadSpec {
        busy_poll: false,
        trace_acks: false,
        addr,
        connections: args.connections.max(1),
        identities,
        pacing: Pacing::Closed {
            window: args.window.max(1),
        },
        stop: StopAt::Payments(args.payments),
        warmup: Duration::ZERO,
        mix: Mix {
            payments: 97,
            refunds: 2,
            queries: 1,
            resends: 0,
            // `sluice loadgen --mix ...,installments=N` asks for plans; the demo's month of
            // installments is scripted (demo_finance_installments.rs).
            installments: 0,
        },
        seed: args.seed,
        progress: !args.json,
        drain_timeout: Duration::from_secs(30),
        milestones,
    }
}

/// What the live run produced.
struct LiveRun {
    report: LoadReport,
    admin: AdminFigures,
    state_hash: String,
    followed: Option<Followed>,
    scraped: Option<Scraped>,
    tour: crate::demo_admin::Tour,
    faults: Option<crate::demo_faults::FaultReport>,
    news: crate::demo_notify::News,
    export: Option<crate::demo_export::ExportNews>,
}

/// Starts the server (and the follower), drives the load, asks the admin figures, stops.
fn live_run(
    args: &DemoArgs,
    mut config: Config,
    data_dir: &std::path::Path,
    faults: Option<Faults>,
) -> Result<LiveRun, String> {
    let options = ServeOptions {
        verbose: !args.json,
        ..ServeOptions::default()
    };
    let merchant = crate::demo_notify::DemoMerchant::start(args.no_notify, &mut config)?;
    let config_copy = config.clone();
    let server = Server::start(config, options).map_err(|e| e.to_string())?;
    let (addr, stop, notifier) = (server.local_addr, server.stop.clone(), server.notifier());
    let control = server.sim_control();
    let milestones = outage(args, &control);
    let follower = LiveFollower::start_unless(args.no_follower, data_dir, &server)?;
    let mut export = crate::demo_export::DemoExport::start(args.no_export, data_dir, &server)?;
    let metrics_addr = server.metrics_addr;
    let handle = spawn_server(server)?;
    let key_file = config_copy.notify_key_file();
    let result = drive(args, addr, milestones, merchant.as_ref(), &key_file);
    let load_end = std::time::Instant::now();
    crate::demo_export::load_ended(export.as_mut());
    let settled = faults
        .as_ref()
        .map(|_| crate::demo_faults::settle(addr, &control))
        .transpose();
    let admin = admin_figures(addr);
    let scraped = scrape(metrics_addr, &result, &admin);
    // After the figures and the scrape, which must agree with the load's report: the resume
    // vignette and the tour pay more.
    let news = crate::demo_notify::after_load(merchant.as_ref(), notifier, load_end, addr);
    let tour = crate::demo_admin::tour(addr, &config_copy);
    // The tour's payments meet the faults too: the check is of the run as it stops.
    let settled = settled.and_then(|s| {
        s.map(|first| crate::demo_faults::settle_again(first, addr, &control))
            .transpose()
    });
    stop.store(true, Ordering::Release);
    let server_report = handle
        .join()
        .map_err(|_| "server thread panicked".to_string())?;
    let followed = follower.map(|f| f.finish(server_report.last_seq));
    let export = export.map(|e| e.finish(server_report.last_seq));
    let (report, admin, tour, settled, news) = (result?, admin?, tour?, settled?, news?);
    if let Some(e) = server_report.error {
        return Err(format!("server failed: {e}"));
    }
    let faults = faults.zip(settled).map(|(f, settled)| {
        let ledger = &server_report.channel_figures;
        crate::demo_faults::FaultReport::new(f, settled, ledger, report.outstanding)
    });
    let state_hash = server_report
        .state_hash
        .map(|h| h.to_string())
        .unwrap_or_default();
    Ok(LiveRun {
        report,
        admin,
        state_hash,
        followed: followed.transpose()?,
        scraped: scraped.transpose()?,
        tour,
        faults,
        news,
        export,
    })
}

/// Runs the server's event loop on a thread of its own.
fn spawn_server(
    server: Server,
) -> Result<std::thread::JoinHandle<sluice_gateway::server::ServerReport>, String> {
    std::thread::Builder::new()
        .name("sluice-gateway".into())
        .spawn(move || server.run())
        .map_err(|e| e.to_string())
}

/// Sets the merchants' notify URLs (when the demo notifies), then drives the load.
fn drive(
    args: &DemoArgs,
    addr: std::net::SocketAddr,
    milestones: Vec<Milestone>,
    merchant: Option<&crate::demo_notify::DemoMerchant>,
    key_file: &std::path::Path,
) -> Result<LoadReport, String> {
    if let Some(m) = merchant {
        m.register(addr, key_file)?;
    }
    load::run(load_spec(args, addr, milestones)).map_err(|e| format!("load: {e}"))
}

/// One scrape of the metrics endpoint, checked against the load's report and the engine's figures.
fn scrape(
    at: Option<std::net::SocketAddr>,
    result: &Result<LoadReport, String>,
    admin: &Result<AdminFigures, String>,
) -> Option<Result<Scraped, String>> {
    match (at, result, admin) {
        (Some(at), Ok(report), Ok(admin)) => {
            Some(crate::demo_metrics::check(at, &admin.stats, report))
        }
        _ => None,
    }
}

/// The live run's configuration: the demo's, with its book file and fault profile, if any (the
/// month runs without either).
fn live_config(
    args: &DemoArgs,
    data_dir: &std::path::Path,
) -> Result<(Config, Option<Faults>), String> {
    let mut config = demo_config(args, data_dir.to_path_buf())?;
    config.simulator.book = args.book.clone();
    let faults = args
        .faults
        .as_deref()
        .map(|p| crate::demo_faults::configure(&mut config, p))
        .transpose()?;
    Ok((config, faults))
}

/// The reconciliation scenario on its own server in `DIR-recon`.
pub fn run(args: DemoArgs) -> Result<(), String> {
    let data_dir = args.data.clone().unwrap_or_else(fresh_dir);
    if let Some(alone) = scenario_alone(&args, &data_dir) {
        return alone;
    }
    let (config, faults) = live_config(&args, &data_dir)?;
    let (rule_names, channel_names) = names(&config);
    if !args.json {
        eprintln!(
            "sluice demo: {} payments, data in {}",
            args.payments,
            data_dir.display()
        );
    }
    let live = live_run(&args, config, &data_dir, faults)?;
    let ctx = Context {
        report: &live.report,
        admin: &live.admin,
        rule_names: &rule_names,
        channel_names: &channel_names,
        state_hash: &live.state_hash,
        data_dir: &data_dir,
        followed: live.followed.as_ref(),
        scraped: live.scraped.as_ref(),
        tour: &live.tour,
    };
    let month_dir = sibling(&data_dir, "month");
    let month = || -> Result<crate::demo_month::MonthReport, String> {
        let mut config = demo_config(&args, month_dir.clone())?;
        // Nobody scrapes the month's server.
        config.metrics.enabled = false;
        let days = args.month_days;
        crate::demo_month::run(config, &month_dir, days, args.month_payments_per_day)
    };
    if args.json {
        let mut json = ctx.json();
        live.news.json(&mut json);
        json["export"] = json!(live.export.as_ref().map(|e| e.json()));
        if let Some(f) = &live.faults {
            json["faults"] = f.json(&channel_names);
        }
        if args.month_days > 0 {
            json["month"] = month()?.json();
        }
        scenarios(&args, &data_dir, Some(&mut json))?;
        println!("{json}");
    } else {
        ctx.print();
        live.news.print();
        if let Some(e) = &live.export {
            e.print();
        }
        if let Some(f) = &live.faults {
            f.print(&channel_names);
        }
        if args.month_days > 0 {
            month()?.print();
        }
        scenarios(&args, &data_dir, None)?;
    }
    check_run(&live)
}

/// `--recon-only`, `--payouts-only`, `--risk-only`, `--finance-only`: that scenario alone.
fn scenario_alone(args: &DemoArgs, data_dir: &std::path::Path) -> Option<Result<(), String>> {
    let json = args.json;
    if args.recon.recon_only {
        return Some(recon(args, data_dir).and_then(|r| r.show_alone(json)));
    }
    if args.payouts.payouts_only {
        return Some(payouts(args, data_dir).and_then(|r| r.show_alone(json)));
    }
    if args.risk.risk_only {
        return Some(risk(args, data_dir).and_then(|r| r.show_alone(json)));
    }
    if args.finance.finance_only {
        return Some(finance(args, data_dir).and_then(|r| r.show_alone(json)));
    }
    None
}

/// Fails the demo when a check of the live run failed.
fn check_run(live: &LiveRun) -> Result<(), String> {
    if let Some(f) = live.faults.as_ref().filter(|f| !f.passed()) {
        return Err(f.error());
    }
    if let Some(e) = live
        .news
        .error()
        .or(live.export.as_ref().and_then(|e| e.error()))
    {
        return Err(e);
    }
    if !live.admin.stats.ledger_balanced {
        return Err("the ledger does not balance".into());
    }
    if live
        .followed
        .as_ref()
        .is_some_and(|f| f.hash != live.state_hash)
    {
        return Err("the follower's state differs from the live engine's".into());
    }
    Ok(())
}

struct Context<'a> {
    tour: &'a crate::demo_admin::Tour,
    report: &'a LoadReport,
    admin: &'a AdminFigures,
    rule_names: &'a BTreeMap<u32, String>,
    channel_names: &'a BTreeMap<u16, String>,
    state_hash: &'a str,
    data_dir: &'a PathBuf,
    followed: Option<&'a Followed>,
    scraped: Option<&'a Scraped>,
}

fn percentiles_us(h: &hdrhistogram::Histogram<u64>) -> serde_json::Value {
    let us = |q: f64| (h.value_at_quantile(q) as f64 / 1e3 * 10.0).round() / 10.0;
    json!({ "p50": us(0.5), "p90": us(0.9), "p99": us(0.99), "p999": us(0.999), "p9999": us(0.9999), "max": (h.max() as f64 / 1e3 * 10.0).round() / 10.0, "count": h.len() })
}

/// Sums of a party kind's balances per currency: (pending, available, frozen).
fn sum_balances(reports: &[BalanceReport]) -> BTreeMap<u16, (i64, i64, i64)> {
    let mut out: BTreeMap<u16, (i64, i64, i64)> = BTreeMap::new();
    for r in reports {
        for b in &r.balances {
            let e = out.entry(b.currency).or_default();
            e.0 += b.pending_minor;
            e.1 += b.available_minor;
            e.2 += b.frozen_minor;
        }
    }
    out
}

pub(crate) fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.abs() / 100, minor.abs() % 100)
}

pub(crate) fn currency_name(c: u16) -> String {
    sluice_node::world::currency_code(c)
        .map(str::to_string)
        .unwrap_or_else(|| c.to_string())
}

impl Context<'_> {
    fn rejected_by_rule(&self) -> BTreeMap<String, u64> {
        self.report
            .rejected_by_rule
            .iter()
            .map(|(id, n)| {
                (
                    self.rule_names
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| format!("rule_{id}")),
                    *n,
                )
            })
            .collect()
    }

    fn channels(&self) -> BTreeMap<String, (u64, u64, f64, String)> {
        self.admin
            .stats
            .channels
            .iter()
            .map(|c| {
                let name = self
                    .channel_names
                    .get(&c.channel_id)
                    .cloned()
                    .unwrap_or_else(|| c.channel_id.to_string());
                let rate = if c.attempts == 0 {
                    0.0
                } else {
                    c.successes as f64 / c.attempts as f64
                };
                (
                    name,
                    (c.attempts, c.successes, rate, c.health.name().to_string()),
                )
            })
            .collect()
    }

    fn json(&self) -> serde_json::Value {
        let r = self.report;
        let channels: serde_json::Map<String, serde_json::Value> = self
            .channels()
            .into_iter()
            .map(|(name, (attempts, successes, rate, health))| {
                (name, json!({ "attempts": attempts, "successes": successes, "success_rate": (rate * 10_000.0).round() / 10_000.0, "health": health }))
            })
            .collect();
        let ledger = |reports: &[BalanceReport]| -> serde_json::Value {
            sum_balances(reports)
                .into_iter()
                .map(|(c, (p, a, f))| {
                    (
                        currency_name(c),
                        json!({ "pending": p, "available": a, "frozen": f }),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let platform: serde_json::Map<String, serde_json::Value> = self
            .admin
            .platform
            .balances
            .iter()
            .map(|b| {
                (
                    currency_name(b.currency),
                    json!({ "revenue": b.pending_minor, "fee_expense": b.available_minor }),
                )
            })
            .collect();
        json!({
            "payments": r.payments_sent,
            "accepted": r.accepted,
            "succeeded": r.succeeded,
            "failed": r.failed,
            "rejected": r.rejected,
            "rejected_by_reason": r.rejected_by_reason,
            "rejected_by_rule": self.rejected_by_rule(),
            "failed_over": r.failed_over,
            "failed_by_reason": r.failed_by_reason,
            "reviews": r.reviews,
            "refunds": { "sent": r.refunds_sent, "succeeded": r.refunds_succeeded, "failed": r.refunds_failed, "rejected": r.refunds_rejected },
            "queries": { "sent": r.queries_sent, "answered": r.queries_answered },
            "outstanding": r.outstanding,
            "uncertain": uncertain_json(&self.admin.stats),
            "channels": channels,
            "seconds": (r.seconds * 1000.0).round() / 1000.0,
            "payments_per_sec": r.payments_per_sec().round(),
            "ack_latency_us": percentiles_us(&r.ack_latency_ns),
            "result_latency_us": percentiles_us(&r.result_latency_ns),
            "ledger_balanced": self.admin.stats.ledger_balanced,
            "ledger": { "platform": platform, "merchants": ledger(&self.admin.merchants), "promoters": ledger(&self.admin.promoters) },
            "state_hash": self.state_hash,
            "follower": self.followed.map(|f| json!({
                "applied_seq": f.status.applied_seq,
                "saved_seq": f.status.saved_seq,
                "max_lag_inputs": f.max_lag_inputs,
                "state_hash": f.hash,
                "matches_live": f.hash == self.state_hash,
            })),
            "metrics": self.scraped.map(Scraped::json),
            "operator": self.tour.json(),
            "data_dir": self.data_dir.display().to_string(),
            "errors": r.errors,
        })
    }

    fn print(&self) {
        println!();
        println!("== Sluice demo ==========================================================");
        self.print_outcomes();
        println!();
        self.print_speed();
        println!();
        self.print_channels();
        println!();
        self.print_ledger();
        println!();
        self.print_state();
    }

    fn print_outcomes(&self) {
        let r = self.report;
        let pct = |n: u64| {
            if r.payments_sent == 0 {
                0.0
            } else {
                n as f64 * 100.0 / r.payments_sent as f64
            }
        };
        println!("payments sent        {:>10}", r.payments_sent);
        println!(
            "  accepted           {:>10}  ({:.2}%, {} flagged for review)",
            r.accepted,
            pct(r.accepted),
            r.reviews
        );
        println!(
            "  rejected           {:>10}  ({:.2}%)",
            r.rejected,
            pct(r.rejected)
        );
        for (reason, n) in &r.rejected_by_reason {
            println!("    {reason:<30} {n:>8}");
        }
        for (rule, n) in self.rejected_by_rule() {
            println!("    risk rule {rule:<20} {n:>8}");
        }
        println!(
            "  succeeded          {:>10}  ({:.2}%)",
            r.succeeded,
            pct(r.succeeded)
        );
        println!("    after failover   {:>10}", r.failed_over);
        println!(
            "  failed             {:>10}  ({:.2}%)",
            r.failed,
            pct(r.failed)
        );
        for (reason, n) in &r.failed_by_reason {
            println!("    {reason:<30} {n:>8}");
        }
        println!(
            "refunds              {:>10} sent, {} succeeded, {} failed, {} rejected",
            r.refunds_sent, r.refunds_succeeded, r.refunds_failed, r.refunds_rejected
        );
        println!(
            "queries              {:>10} sent, {} answered",
            r.queries_sent, r.queries_answered
        );
        println!("outstanding at end   {:>10}", r.outstanding);
        let s = &self.admin.stats;
        println!(
            "uncertain outcomes   {:>10} attempts unknown at their deadline resolved by asking the channel; {} late captures, {} reversed; unknown now: {} attempts, {} refunds (--faults: late, lost and duplicated answers)",
            s.unknown_resolved, s.late_captures, s.reversals, s.unknown_attempts, s.unknown_refunds
        );
    }

    fn print_speed(&self) {
        let r = self.report;
        println!(
            "throughput           {:>10.0} payments/s end to end ({:.2} s)",
            r.payments_per_sec(),
            r.seconds
        );
        let line = |name: &str, h: &hdrhistogram::Histogram<u64>| {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1e6;
            println!(
                "{name:<20} p50 {:>8.3} ms  p99 {:>8.3} ms  p99.9 {:>8.3} ms  max {:>8.3} ms",
                ms(0.5),
                ms(0.99),
                ms(0.999),
                h.max() as f64 / 1e6
            );
        };
        line("request -> ack", &r.ack_latency_ns);
        line("request -> result", &r.result_latency_ns);
        println!(
            "(closed loop at full speed: latency here includes queueing; see `sluice loadgen` for latency at a set rate)"
        );
    }

    fn print_channels(&self) {
        println!(
            "{:<14} {:>10} {:>10} {:>9}  health",
            "channel", "attempts", "successes", "rate"
        );
        for (name, (attempts, successes, rate, health)) in self.channels() {
            println!(
                "{name:<14} {attempts:>10} {successes:>10} {:>8.2}%  {health}",
                rate * 100.0
            );
        }
    }

    fn print_ledger(&self) {
        println!("ledger (minor units shown as major.minor)");
        for b in &self.admin.platform.balances {
            println!(
                "  platform {}   revenue {:>16}   channel fees borne {:>14}",
                currency_name(b.currency),
                money(b.pending_minor),
                money(b.available_minor)
            );
        }
        for (c, (p, a, f)) in sum_balances(&self.admin.promoters) {
            println!(
                "  promoters {}  commissions pending {:>14} available {:>14} frozen {:>12}",
                currency_name(c),
                money(p),
                money(a),
                money(f)
            );
        }
        for (c, (p, a, f)) in sum_balances(&self.admin.merchants) {
            println!(
                "  merchants {}  pending {:>16} available {:>14} frozen {:>12}",
                currency_name(c),
                money(p),
                money(a),
                money(f)
            );
        }
        println!(
            "  ledger balanced (total debits = total credits): {}",
            self.admin.stats.ledger_balanced
        );
    }

    fn print_state(&self) {
        println!("state hash {}", self.state_hash);
        if let Some(f) = self.followed {
            let same = if f.hash == self.state_hash {
                "the same"
            } else {
                "DIFFERENT"
            };
            println!(
                "follower   applied the same {} inputs from the journal off the live path, never past the durable cursor (largest lag {} inputs): state hash {} ({same})",
                f.status.applied_seq, f.max_lag_inputs, f.hash
            );
        }
        if let Some(s) = self.scraped {
            println!("{}", s.line());
        }
        self.tour.print();
        println!(
            "journal    {}  (replay it with: sluice replay verify --data {})",
            self.data_dir.display(),
            self.data_dir.display()
        );
        if !self.report.errors.is_empty() {
            println!("errors: {:?}", self.report.errors);
        }
    }
}

/// The engine's uncertain-outcome counters, for the JSON report.
fn uncertain_json(s: &StatsReport) -> serde_json::Value {
    json!({
        "resolved_by_query": s.unknown_resolved,
        "late_captures": s.late_captures,
        "reversals": s.reversals,
        "unknown_attempts": s.unknown_attempts,
        "unknown_refunds": s.unknown_refunds,
    })
}
