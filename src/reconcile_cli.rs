//! `sluice reconcile`: a channel's bills for one bill day against the flow store
//! (docs/RECONCILIATION.md). The work is `sluice_store::recon`'s; this file parses arguments,
//! reads the channel's settings from the configuration, reads the bills, prints, and with
//! `--apply` sends the settlement batches and the new discrepancies to a running server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use sluice_bills::{Bill, Format};
use sluice_gateway::config::{Config, DEFAULT_CONFIG};
use sluice_protocol::*;
use sluice_store::recon::{self, Class, Options, Report};
use sluice_store::{FlowReader, ParquetStore};

use crate::admin::conn::{AdminConn, Answer};

#[derive(Args)]
pub struct ReconcileArgs {
    /// Data directory: the flow store's Parquet files under DATA/export/parquet (unless
    /// --postgres-url), and the reports and state under DATA/reconcile (unless --out).
    #[arg(long)]
    data: PathBuf,
    /// Read the flow store from PostgreSQL instead of the Parquet files.
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// The configuration that has the channel's settings (default: the embedded one).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The channel the bills are of.
    #[arg(long)]
    channel: u16,
    /// A bill file (repeat for several files of one bill day).
    #[arg(long, required = true)]
    bill: Vec<PathBuf>,
    /// wechat, alipay, unionpay, stripe or paypal (default: detected from the file).
    #[arg(long)]
    format: Option<String>,
    /// The bill day, YYYY-MM-DD (default: the bill's own).
    #[arg(long)]
    day: Option<String>,
    /// Where the reports and the carried state go (default DATA/reconcile).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Reconcile a day already reconciled again, from the state as it was before it.
    #[arg(long)]
    rerun: bool,
    /// Print the report as JSON instead of the summary.
    #[arg(long)]
    json: bool,
    /// A platform record this close to the day's end may be on the next bill (default 600).
    #[arg(long, default_value_t = 600)]
    timing_tolerance_s: u64,
    /// Bill days a carried timing record may stay absent before it is missing on the channel.
    #[arg(long, default_value_t = 2)]
    timing_max_days: u32,
    /// Send each complete batch (ChannelSettlement) and each discrepancy (Discrepancy Open) to
    /// the server at ADDR as an admin.
    #[arg(long, value_name = "ADDR")]
    apply: Option<SocketAddr>,
    /// The admin credential's key id (with --apply).
    #[arg(long)]
    admin_key: Option<String>,
    /// A file holding the admin secret (default: the environment variable SLUICE_ADMIN_SECRET).
    #[arg(long)]
    admin_secret_file: Option<PathBuf>,
}

pub fn run(args: ReconcileArgs) -> Result<(), String> {
    let config = channel_config(args.config.as_deref(), args.channel)?;
    let format = args
        .format
        .as_deref()
        .map(|name| {
            Format::from_name(name).ok_or_else(|| {
                format!("--format {name}: one of wechat, alipay, unionpay, stripe, paypal")
            })
        })
        .transpose()?;
    let bills = args
        .bill
        .iter()
        .map(|path| read_bill(path, format))
        .collect::<Result<Vec<Bill>, String>>()?;
    let mut reader = open_reader(&args.data, args.postgres_url.as_deref())?;
    let options = Options {
        exported_through_ns: exported_through_ns(&args.data, reader.as_mut())?,
        ..options(&args, &config)?
    };
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| args.data.join("reconcile"));
    let written = recon::reconcile_day(reader.as_mut(), &bills, &options, &dir)
        .map_err(|e| format!("reconcile: {e}"))?;
    if args.json {
        println!("{}", written.report.json());
    } else {
        print!("{}", recon::report::summary(&written.report));
        println!("Reports: {}", written.day_dir.display());
    }
    if let Some(addr) = args.apply {
        let applied = apply(addr, &args, &written.report)?;
        eprintln!("{applied}");
    }
    Ok(())
}

/// The channel's settings from the configuration (its ConfigChannel).
fn channel_config(path: Option<&Path>, channel_id: u16) -> Result<ConfigChannel, String> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("reconcile: {}: {e}", path.display()))?,
        None => DEFAULT_CONFIG.to_string(),
    };
    let config = Config::parse(&text).map_err(|e| format!("reconcile: configuration: {e}"))?;
    config
        .world
        .inputs
        .iter()
        .find_map(|input| match &input.message {
            AnyMessage::ConfigChannel(c) if c.channel_id == channel_id => Some(c.clone()),
            _ => None,
        })
        .ok_or_else(|| format!("reconcile: the configuration has no channel {channel_id}"))
}

fn options(args: &ReconcileArgs, c: &ConfigChannel) -> Result<Options, String> {
    let day = args
        .day
        .as_deref()
        .map(|text| {
            sluice_store::report::parse_day(text, "--day")
                .map(|d| d.0 as u32)
                .map_err(|e| format!("reconcile: {e}"))
        })
        .transpose()?;
    Ok(Options {
        day,
        timing_tolerance_s: args.timing_tolerance_s,
        timing_max_days: args.timing_max_days,
        rerun: args.rerun,
        expected_format: Format::ALL
            .into_iter()
            .find(|f| c.name.as_str().starts_with(f.name())),
        ..crate::demo_recon::options_of(c)
    })
}

/// How far the store is exported in event time: the journal's timestamp at the store's
/// position, when the journal is in the data directory (`recon::coverage`); else None, and the
/// run judges it from the latest row it loads.
fn exported_through_ns(data: &Path, reader: &mut dyn FlowReader) -> Result<Option<u64>, String> {
    if !sluice_journal::journal_dir(data).is_dir() {
        return Ok(None);
    }
    let position = reader.position().map_err(|e| format!("reconcile: {e}"))?;
    recon::coverage::exported_through_ns(data, position)
        .map(Some)
        .map_err(|e| format!("reconcile: {e}"))
}

fn read_bill(path: &Path, format: Option<Format>) -> Result<Bill, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reconcile: {}: {e}", path.display()))?;
    let name = path.to_string_lossy();
    sluice_bills::parse(&name, &bytes, format).map_err(|e| format!("reconcile: {e}"))
}

/// Opens the flow store: PostgreSQL when a URL is given, else the Parquet files.
fn open_reader(data: &Path, postgres_url: Option<&str>) -> Result<Box<dyn FlowReader>, String> {
    if let Some(url) = postgres_url {
        let store =
            sluice_store::pg::PgStore::connect(url).map_err(|e| format!("reconcile: {e}"))?;
        return Ok(Box::new(store));
    }
    let store = ParquetStore::open_read_only(data).map_err(|e| format!("reconcile: {e}"))?;
    Ok(Box::new(store))
}

/// What `--apply` sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    pub batches: u64,
    pub batches_already: u64,
    pub opened: u64,
    pub opened_already: u64,
    /// Fee mismatches resolved at once: their difference is booked with their batch.
    pub fees_resolved: u64,
}

impl Applied {
    pub fn add(&mut self, other: &Applied) {
        self.batches += other.batches;
        self.batches_already += other.batches_already;
        self.opened += other.opened;
        self.opened_already += other.opened_already;
        self.fees_resolved += other.fees_resolved;
    }
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "applied: {} batches ({} already applied), {} discrepancies opened ({} already open; {} fee mismatches resolved as booked to channel_fee_differences)",
            self.batches,
            self.batches_already,
            self.opened,
            self.opened_already,
            self.fees_resolved
        )
    }
}

fn apply(addr: SocketAddr, args: &ReconcileArgs, report: &Report) -> Result<Applied, String> {
    let key = args.admin_key.as_deref().ok_or(
        "--apply needs --admin-key (and the secret in --admin-secret-file or SLUICE_ADMIN_SECRET)",
    )?;
    let secret = match &args.admin_secret_file {
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => std::env::var("SLUICE_ADMIN_SECRET")
            .map_err(|_| "no admin secret: give --admin-secret-file or set SLUICE_ADMIN_SECRET")?,
    };
    let mut conn = AdminConn::login(addr, key, &secret)?;
    apply_report(&mut conn, report)
}

/// Sends one run's settlement inputs: a ChannelSettlement per complete batch, a Discrepancy Open
/// per discrepancy, and for each fee mismatch a Resolve at once — its difference goes to
/// `channel_fee_differences` with its batch's ChannelSettlement (or waits in its payout, which
/// the reconciliation counts as not yet paid), so it is not owed twice. Repeats of what an
/// earlier run applied are refused by the engine, changing nothing, and counted.
pub fn apply_report(conn: &mut AdminConn, report: &Report) -> Result<Applied, String> {
    let mut applied = Applied::default();
    for message in settlement_messages(report)? {
        match conn.request(&message)? {
            Answer::Accepted { .. } => applied.batches += 1,
            Answer::Refused {
                reason: ReasonCode::DuplicateBatch,
                ..
            } => applied.batches_already += 1,
            other => return Err(format!("ChannelSettlement refused: {other:?}")),
        }
    }
    for message in discrepancy_messages(report)? {
        let resolve = fee_resolution(&message);
        match conn.request(&message)? {
            Answer::Accepted { .. } => applied.opened += 1,
            Answer::Refused {
                reason: ReasonCode::DiscrepancyExists,
                ..
            } => {
                applied.opened_already += 1;
                continue;
            }
            other => return Err(format!("Discrepancy refused: {other:?}")),
        }
        if let Some(resolve) = resolve {
            match conn.request(&resolve)? {
                Answer::Accepted { .. } => applied.fees_resolved += 1,
                other => return Err(format!("Discrepancy Resolve refused: {other:?}")),
            }
        }
    }
    Ok(applied)
}

/// The Resolve that follows a fee mismatch's Open.
fn fee_resolution(open: &AnyMessage) -> Option<AnyMessage> {
    let AnyMessage::Discrepancy(d) = open else {
        return None;
    };
    if d.class != DiscrepancyClass::FeeMismatch {
        return None;
    }
    let mut note = codec::Text::<128>::new();
    note.try_push_str("booked to channel_fee_differences with its settlement batch")
        .expect("the note fits 128 bytes");
    Some(
        Discrepancy {
            op: DiscrepancyOp::Resolve,
            note,
            ..d.clone()
        }
        .into(),
    )
}

/// One ChannelSettlement per complete batch.
pub fn settlement_messages(report: &Report) -> Result<Vec<AnyMessage>, String> {
    report
        .batches
        .iter()
        .map(|b| {
            let mut batch_ref = codec::Text::<64>::new();
            batch_ref
                .try_push_str(&b.batch_ref)
                .map_err(|_| format!("batch ref {:?} is over 64 bytes", b.batch_ref))?;
            Ok(ChannelSettlement {
                channel_id: u16::try_from(b.channel_id).map_err(|e| e.to_string())?,
                currency: b.currency,
                batch_id: b.batch_id,
                paid_minor: b.paid_minor,
                fee_difference_minor: b.fee_difference_minor,
                first_day: b.first_day,
                last_day: b.last_day,
                batch_ref,
            }
            .into())
        })
        .collect()
}

/// One Discrepancy Open per discrepancy.
pub fn discrepancy_messages(report: &Report) -> Result<Vec<AnyMessage>, String> {
    let bill_day = sluice_store::report::parse_day(&report.day, "day")
        .map_err(|e| e.to_string())?
        .0 as u32;
    report
        .discrepancies
        .iter()
        .map(|d| {
            let mut note = codec::Text::<128>::new();
            let text = format!("{} line {}: {}", d.key, d.line_no, d.class.name());
            let mut end = text.len().min(128);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            note.try_push_str(&text[..end])
                .expect("at most 128 bytes fit a 128-byte text");
            Ok(Discrepancy {
                op: DiscrepancyOp::Open,
                discrepancy_id: d.id_number(),
                channel_id: u16::try_from(d.channel_id).map_err(|e| e.to_string())?,
                class: class(d.class),
                currency: d.currency,
                order_id: d.order_id,
                attempt: d.attempt,
                refund_id: d.refund_id,
                amount_minor: d.amount_minor,
                write_off_minor: 0,
                bill_day,
                note,
            }
            .into())
        })
        .collect()
}

fn class(class: Class) -> DiscrepancyClass {
    match class {
        Class::Duplicate => DiscrepancyClass::Duplicate,
        Class::MissingOnPlatform => DiscrepancyClass::MissingOnPlatform,
        Class::StatusMismatch => DiscrepancyClass::StatusMismatch,
        Class::AmountMismatch => DiscrepancyClass::AmountMismatch,
        Class::FeeMismatch => DiscrepancyClass::FeeMismatch,
        Class::MissingOnChannel => DiscrepancyClass::MissingOnChannel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_store::recon::Batch;

    fn report() -> Report {
        let options = Options::new(4);
        let window = recon::Window::of(20_793, 0, 0);
        let mut report = Report::new(
            &options,
            window,
            &[],
            recon::Outcome::default(),
            vec![Batch {
                batch_id: recon::batches::payout_batch_id("po_1"),
                batch_ref: "po_1".into(),
                channel_id: 4,
                currency: 840,
                lines: 3,
                paid_minor: 9_000,
                fee_difference_minor: -5,
                first_day: 20_791,
                last_day: 20_793,
            }],
            &recon::State::default(),
        );
        report.discrepancies.push(recon::Discrepancy {
            id: recon::matcher::discrepancy_id(4, Class::FeeMismatch, "S7A1"),
            class: Class::FeeMismatch,
            channel_id: 4,
            order_id: 7,
            attempt: 1,
            refund_id: 0,
            key: "S7A1".into(),
            out_trade_no: "S7A1".into(),
            channel_trade_no: "ch_7".into(),
            line_no: 9,
            platform_seq: 70,
            platform_at_ns: 1,
            currency: 840,
            bill_amount_minor: Some(1_000),
            bill_fee_minor: Some(35),
            bill_status: Some("Succeeded"),
            platform_amount_minor: Some(1_000),
            platform_fee_minor: Some(30),
            platform_status: Some("Succeeded"),
            amount_minor: 5,
            action: Class::FeeMismatch.action(),
            line_index: Some(0),
        });
        report
    }

    #[test]
    fn batches_and_discrepancies_become_the_admin_inputs() {
        let report = report();
        let settlements = settlement_messages(&report).unwrap();
        let AnyMessage::ChannelSettlement(s) = &settlements[0] else {
            panic!("{settlements:?}");
        };
        assert_eq!((s.channel_id, s.currency, s.paid_minor), (4, 840, 9_000));
        assert_eq!(s.batch_id, recon::batches::payout_batch_id("po_1"));
        assert_eq!(
            (s.fee_difference_minor, s.first_day, s.last_day),
            (-5, 20_791, 20_793)
        );
        assert_eq!(s.batch_ref.as_str(), "po_1");
        let opened = discrepancy_messages(&report).unwrap();
        let AnyMessage::Discrepancy(d) = &opened[0] else {
            panic!("{opened:?}");
        };
        assert_eq!(d.op, DiscrepancyOp::Open);
        assert_eq!(d.class, DiscrepancyClass::FeeMismatch);
        assert_eq!(d.discrepancy_id, report.discrepancies[0].id_number());
        assert_eq!(
            format!("{:016x}", d.discrepancy_id),
            report.discrepancies[0].id
        );
        assert_eq!(
            (d.order_id, d.attempt, d.amount_minor, d.bill_day),
            (7, 1, 5, 20_793)
        );
        assert_eq!(d.note.as_str(), "S7A1 line 9: fee_mismatch");
    }
}
