//! `sluice bench reconcile`: one channel's day of N bill rows reconciled end to end. A seeded
//! generator makes N records (payments, about one in eight with a partial refund) and the
//! matching bill with a few injected differences; the platform side goes into a temporary
//! Parquet flow store through the store's own `commit`, as the exporter writes it. Timed: (a)
//! parsing the bill file, (b) loading the platform side from the store, (c) matching and
//! classifying (and the batches), (d) writing the reports; and the total.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use sluice_bills::{Bill, BillLine, Format, LineKind, LineStatus, Totals};
use sluice_node::flow::{Day, PaymentResult, RefundResult, Rows};
use sluice_store::recon::{self, Options, Report, State, Window};
use sluice_store::{FlowStore, ParquetStore};

#[derive(Args)]
pub struct ReconcileBenchArgs {
    /// Bill rows (payments and refunds) of the day.
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: u64,
    /// The generator's seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The bill's layout: wechat, alipay, unionpay, stripe or paypal.
    #[arg(long, default_value = "wechat")]
    pub format: String,
    /// Directory for the temporary store and bill (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// One JSON line instead of the report.
    #[arg(long)]
    pub json: bool,
}

/// 2026-12-06, days since 1970-01-01.
const DAY: u32 = 20_793;
const CHANNEL: i32 = 1;
const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// splitmix64: a seeded generator with no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The platform's rows and the channel's bill of one generated day.
pub struct Day0 {
    pub rows: Rows,
    pub bill: Bill,
    /// Differences injected into the bill (one per 10,000 rows of each kind).
    pub injected: u64,
}

/// Generates `lines` bill rows for bill day `DAY` of a +480 channel (WeChat's clock).
pub fn generate(lines: u64, seed: u64, format: Format) -> Day0 {
    let mut rng = Rng(seed);
    let window = Window::of(DAY, 480, 0);
    // Keep clear of the day's edges: the benchmark measures matching, not timing carries.
    let span_ns = NS_PER_DAY - 2 * 3_600 * 1_000_000_000;
    let mut rows = Rows::default();
    let mut bill_lines = Vec::with_capacity(lines as usize);
    let mut injected = 0;
    let mut order_id = 0u64;
    while (bill_lines.len() as u64) < lines {
        order_id += 1;
        let at_ns = window.start_ns + 3_600 * 1_000_000_000 + rng.below(span_ns);
        let amount = 100 + rng.below(500_000) as i64;
        let fee = amount * 6 / 1_000;
        let attempt = 1 + (rng.below(20) == 0) as u8;
        rows.payment_results
            .push(payment_row(order_id, attempt, amount, fee, at_ns));
        let mut line = bill_line(order_id, attempt, amount, fee, at_ns, format);
        if order_id % 10_000 == 7 {
            line.fee_minor += 1;
            injected += 1;
        }
        bill_lines.push(line);
        if rng.below(8) == 0 && (bill_lines.len() as u64) < lines {
            let refund_id = order_id;
            let (refunded, fee_returned) = (amount / 2, fee / 2);
            rows.refund_results.push(refund_row(
                refund_id,
                order_id,
                refunded,
                fee_returned,
                at_ns + 60_000_000_000,
            ));
            let mut line = bill_line(order_id, attempt, refunded, fee_returned, at_ns, format);
            line.kind = LineKind::Refund;
            line.refund_id = refund_id;
            line.channel_refund_no = format!("50{:026}", refund_id);
            line.at_ns = at_ns + 60_000_000_000;
            bill_lines.push(line);
        }
    }
    // A row past the window's end plus the tolerance: the store is exported far enough.
    rows.payment_results.push(payment_row(
        order_id + 1,
        1,
        100,
        0,
        window.end_ns + 3_600 * 1_000_000_000,
    ));
    for (i, line) in bill_lines.iter_mut().enumerate() {
        line.line_no = i as u32 + 2;
    }
    let bill = Bill {
        format,
        account: sluice_bills::sample::account(format).to_string(),
        day: DAY,
        utc_offset_min: 480,
        totals: Totals::of(&bill_lines),
        lines: bill_lines,
    };
    Day0 {
        rows,
        bill,
        injected,
    }
}

fn payment_row(order_id: u64, attempt: u8, amount: i64, fee: i64, at_ns: u64) -> PaymentResult {
    PaymentResult {
        order_id: order_id as i64,
        seq: order_id as i64 * 4,
        at_ns: at_ns as i64,
        day: Day((at_ns / NS_PER_DAY) as i32),
        merchant_id: 1001,
        status: "Succeeded".into(),
        reason: "None".into(),
        channel_id: CHANNEL,
        attempts: i32::from(attempt),
        amount_minor: amount,
        currency: 156,
        fee_minor: fee,
        channel_ref: format!("42{:026}", order_id),
        settle_day: Day(DAY as i32 + 1),
    }
}

fn refund_row(refund_id: u64, order_id: u64, amount: i64, fee: i64, at_ns: u64) -> RefundResult {
    RefundResult {
        refund_id: refund_id as i64,
        seq: order_id as i64 * 4 + 2,
        at_ns: at_ns as i64,
        day: Day((at_ns / NS_PER_DAY) as i32),
        order_id: order_id as i64,
        merchant_id: 1001,
        channel_id: CHANNEL,
        status: "Succeeded".into(),
        reason: "None".into(),
        amount_minor: amount,
        currency: 156,
        fee_returned_minor: fee,
    }
}

fn bill_line(
    order_id: u64,
    attempt: u8,
    amount: i64,
    fee: i64,
    at_ns: u64,
    _format: Format,
) -> BillLine {
    BillLine {
        line_no: 0,
        kind: LineKind::Payment,
        status: LineStatus::Succeeded,
        channel_trade_no: format!("42{:026}", order_id),
        out_trade_no: sluice_bills::out_trade_no(order_id, attempt),
        refund_id: 0,
        channel_refund_no: String::new(),
        amount_minor: amount,
        fee_minor: fee,
        currency: 156,
        at_ns: at_ns - at_ns % 1_000_000_000,
        batch: String::new(),
    }
}

/// The phases' times, seconds.
struct Timings {
    parse_s: f64,
    load_s: f64,
    classify_s: f64,
    report_s: f64,
}

pub fn run(args: ReconcileBenchArgs) -> Result<(), String> {
    let format = Format::from_name(&args.format)
        .ok_or_else(|| format!("--format {}: not a bill layout", args.format))?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("sluice-bench-reconcile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let started = Instant::now();
    let day = generate(args.lines, args.seed, format);
    let generate_s = started.elapsed().as_secs_f64();
    let setup = Instant::now();
    let mut store = ParquetStore::open(&dir).map_err(|e| e.to_string())?;
    store
        .commit(&day.rows, u64::MAX / 2)
        .map_err(|e| e.to_string())?;
    let bill_file = write_bill(&day.bill, &dir)?;
    let setup_s = setup.elapsed().as_secs_f64();
    let (t, report) = timed_run(&bill_file, format, &dir)?;
    let total_s = t.parse_s + t.load_s + t.classify_s + t.report_s;
    let found = report.discrepancies_total.count;
    let _ = std::fs::remove_dir_all(&dir);
    if found != day.injected {
        return Err(format!(
            "the run found {found} discrepancies, {} were injected",
            day.injected
        ));
    }
    let figures = json!({
        "bench": "reconcile", "lines": args.lines, "format": format.name(), "seed": args.seed,
    "bill_bytes": bill_file.1.len(), "generate_s": generate_s, "setup_s": setup_s,
        "parse_s": t.parse_s, "load_s": t.load_s, "classify_s": t.classify_s,
        "report_s": t.report_s, "total_s": total_s, "discrepancies": found,
        "lines_per_s": args.lines as f64 / total_s,
    });
    if args.json {
        println!("{figures}");
    } else {
        println!(
            "reconcile: {} rows ({} bill, {} bytes), {found} discrepancies found as injected\n\
             \x20 generate        {generate_s:>8.3} s (not counted)\n\
             \x20 store + bill    {setup_s:>8.3} s (not counted: Parquet commit, bill write)\n\
             \x20 (a) parse       {:>8.3} s\n\
             \x20 (b) load        {:>8.3} s\n\
             \x20 (c) classify    {:>8.3} s\n\
             \x20 (d) reports     {:>8.3} s\n\
             \x20 total           {total_s:>8.3} s ({:.0} rows/s)",
            args.lines,
            format.name(),
            bill_file.1.len(),
            t.parse_s,
            t.load_s,
            t.classify_s,
            t.report_s,
            args.lines as f64 / total_s
        );
    }
    Ok(())
}

/// Writes the bill in its layout (sluice-bills' writer): its path and bytes.
fn write_bill(bill: &Bill, dir: &std::path::Path) -> Result<(PathBuf, Vec<u8>), String> {
    let bytes = sluice_bills::write(bill);
    let path = dir.join(sluice_bills::file_name(
        bill.format,
        &bill.account,
        bill.day,
    ));
    std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, bytes))
}

/// The four timed phases, as `sluice reconcile` runs them.
fn timed_run(
    file: &(PathBuf, Vec<u8>),
    format: Format,
    dir: &std::path::Path,
) -> Result<(Timings, Report), String> {
    let at = Instant::now();
    let bill = sluice_bills::parse(&file.0.to_string_lossy(), &file.1, Some(format))
        .map_err(|e| e.to_string())?;
    let parse_s = at.elapsed().as_secs_f64();
    let mut options = Options::new(CHANNEL);
    options.expected_format = Some(format);
    let window = Window::of(DAY, options.bill_utc_offset_min, options.bill_cutoff_min);
    let at = Instant::now();
    let mut reader = ParquetStore::open_read_only(dir).map_err(|e| e.to_string())?;
    let t = options.tolerance_ns();
    let platform =
        recon::platform::load(&mut reader, CHANNEL, window.start_ns - t, window.end_ns + t)
            .map_err(|e| e.to_string())?;
    let load_s = at.elapsed().as_secs_f64();
    let at = Instant::now();
    let lines: Vec<&BillLine> = bill.lines.iter().collect();
    let carried = State::default();
    let mut outcome =
        recon::matcher::classify(&lines, &platform.records, &carried, window, &options);
    let next = std::mem::take(&mut outcome.next);
    let (batches, next) =
        recon::batches::complete(&lines, &outcome.discrepancies, window, &options, next);
    let report = Report::new(&options, window, &lines, outcome, batches, &next);
    let classify_s = at.elapsed().as_secs_f64();
    let at = Instant::now();
    recon::report::write(&dir.join("reconcile").join("1").join("2026-12-06"), &report)
        .map_err(|e| e.to_string())?;
    let report_s = at.elapsed().as_secs_f64();
    let timings = Timings {
        parse_s,
        load_s,
        classify_s,
        report_s,
    };
    Ok((timings, report))
}
