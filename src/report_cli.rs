//! `sluice report`: statements and flow reports from the flow store (docs/STORE.md, "Reports").
//! The figures are computed in `sluice_store::report`; this file only parses arguments, opens the
//! store and prints.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use sluice_store::report::format::{self, Format};
use sluice_store::report::{
    self, ChannelStatement, Dim, Grouping, Party, PayoutDim, PeriodKind, Role, Statement, TxType,
};
use sluice_store::{DayRange, FlowReader, ParquetStore};

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Daily, weekly or monthly statements of a merchant, promoter, the platform or a channel:
    /// opening and closing balances and the movements between.
    Statement(StatementArgs),
    /// Payments, refunds and withdrawals grouped by any dimensions: volume, counts, success
    /// rates, failovers, fees, refunds, risk hits per rule.
    Flow(FlowArgs),
    /// Payout state changes (review, sent, paid, failed, returned) grouped by party kind, party,
    /// state, reason, channel, automatic, day, week, month or currency: count, amount, fees.
    Payouts(PayoutsArgs),
    /// What risk labels make possible: per rule hits, blocked, reviewed, precision,
    /// false-positive and interception rates (--by rule), or per day the overall rates and the
    /// risk score's distribution in 10-point buckets (--by day).
    Risk(RiskArgs),
    /// The financial extension: positions now (yield holdings, installment plans, loans),
    /// installment and loan schedules and totals per product (--by product), or the accruals
    /// per business day (--by day): yield and its residual, installment interest and fees, loan
    /// interest.
    Finance(FinanceArgs),
}

/// Where the rows come from.
#[derive(Args)]
pub struct SourceArgs {
    /// Data directory: its Parquet files under DATA/export/parquet are read unless a
    /// PostgreSQL URL is given.
    #[arg(long)]
    data: PathBuf,
    /// Read from PostgreSQL instead of the Parquet files.
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// text (an aligned table, amounts in major units), csv (minor units) or json.
    #[arg(long, default_value = "text")]
    format: String,
}

#[derive(Args)]
pub struct StatementArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// A merchant's statements.
    #[arg(long, group = "whose")]
    merchant: Option<i32>,
    /// A channel's statements.
    #[arg(long, group = "whose")]
    channel: Option<i32>,
    /// A promoter's statements.
    #[arg(long, group = "whose")]
    promoter: Option<i32>,
    /// The platform's statements.
    #[arg(long, group = "whose")]
    platform: bool,
    /// Every merchant, promoter, the platform and every channel.
    #[arg(long, group = "whose")]
    all: bool,
    /// day, week (ISO, Monday to Sunday) or month.
    #[arg(long, default_value = "day")]
    period: String,
    /// First day shown, YYYY-MM-DD (default: the first day with rows).
    #[arg(long)]
    from: Option<String>,
    /// Last day shown, YYYY-MM-DD (default: the last day with rows).
    #[arg(long)]
    to: Option<String>,
}

#[derive(Args)]
pub struct FlowArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Dimensions, comma-separated: channel, merchant, parent, day, week, month, method, scene,
    /// currency, type.
    #[arg(long, default_value = "channel")]
    by: String,
    /// Columns, comma-separated (default all): count, succeeded, volume,
    /// success_rate_first_attempt, success_rate, failovers, fees, refunds, refunds_amount, risk.
    #[arg(long)]
    measures: Option<String>,
    /// Transaction types the counts count: payment, refund, withdrawal.
    #[arg(long, default_value = "payment")]
    types: String,
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    from: Option<String>,
    /// Last day, YYYY-MM-DD.
    #[arg(long)]
    to: Option<String>,
}

#[derive(Args)]
pub struct PayoutsArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Dimensions, comma-separated: party_kind, party, state, reason, channel, automatic, day,
    /// week, month, currency.
    #[arg(long, default_value = "state,party_kind")]
    by: String,
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    from: Option<String>,
    /// Last day, YYYY-MM-DD.
    #[arg(long)]
    to: Option<String>,
}

#[derive(Args)]
pub struct RiskArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// rule (a line per rule, then the overall figures) or day (a line per day, then `all`).
    #[arg(long, default_value = "rule")]
    by: String,
    /// First day of the orders counted, YYYY-MM-DD.
    #[arg(long)]
    from: Option<String>,
    /// Last day of the orders counted, YYYY-MM-DD.
    #[arg(long)]
    to: Option<String>,
}

#[derive(Args)]
pub struct FinanceArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// product (positions, schedules, totals) or day (accruals per business day, then `all`).
    #[arg(long, default_value = "product")]
    by: String,
    /// First business day of the accruals shown, YYYY-MM-DD.
    #[arg(long)]
    from: Option<String>,
    /// The day the positions are as of (rows of inputs after it are left out), YYYY-MM-DD.
    #[arg(long)]
    to: Option<String>,
    /// The whole report as JSON (the same as --format json).
    #[arg(long)]
    json: bool,
}

pub fn run(command: ReportCommand) -> Result<(), String> {
    let text = match command {
        ReportCommand::Statement(args) => statement(args),
        ReportCommand::Flow(args) => flow(args),
        ReportCommand::Payouts(args) => payouts(args),
        ReportCommand::Risk(args) => risk(args),
        ReportCommand::Finance(args) => finance(args),
    }
    .map_err(|e| e.to_string())?;
    print!("{text}");
    Ok(())
}

/// Opens the store `source` names: PostgreSQL when a URL is given, else the Parquet files.
fn open_reader(source: &SourceArgs) -> Result<Box<dyn FlowReader>, String> {
    if let Some(url) = &source.postgres_url {
        let store = sluice_store::pg::PgStore::connect(url).map_err(|e| format!("report: {e}"))?;
        return Ok(Box::new(store));
    }
    let store = ParquetStore::open_read_only(&source.data).map_err(|e| format!("report: {e}"))?;
    Ok(Box::new(store))
}

fn days(from: &Option<String>, to: &Option<String>) -> Result<DayRange, String> {
    let parse = |text: &Option<String>, what| {
        text.as_deref()
            .map(|t| report::parse_day(t, what))
            .transpose()
            .map_err(|e| e.to_string())
    };
    Ok(DayRange {
        from: parse(from, "--from")?,
        to: parse(to, "--to")?,
    })
}

const WHOSE: &str =
    "report statement: name one of --merchant, --promoter, --channel, --platform or --all";

/// The statements of `--all`, as JSON prints them.
#[derive(Serialize)]
struct AllStatements {
    parties: Vec<Statement>,
    channels: Vec<ChannelStatement>,
}

fn statement(args: StatementArgs) -> Result<String, String> {
    let format = Format::parse(&args.source.format).map_err(|e| e.to_string())?;
    let kind = PeriodKind::parse(&args.period).map_err(|e| e.to_string())?;
    let days = days(&args.from, &args.to)?;
    let named = args.merchant.is_some() || args.promoter.is_some() || args.channel.is_some();
    if !(named || args.platform || args.all) {
        return Err(WHOSE.into());
    }
    let mut reader = open_reader(&args.source)?;
    // Balances are cumulative: every day up to the end of the last period shown is loaded.
    let to = days.to.map(|to| report::Period::of(kind, to).end_day);
    let load_days = DayRange { from: None, to };
    let rows = report::load(reader.as_mut(), load_days).map_err(|e| e.to_string())?;
    let party = |role, id| Party { role, id };
    let (parties, channels) = match (args.merchant, args.promoter, args.channel) {
        (Some(m), _, _) => (vec![party(Role::Merchant, m)], vec![]),
        (_, Some(p), _) => (vec![party(Role::Promoter, p)], vec![]),
        (_, _, Some(c)) => (vec![], vec![c]),
        _ if args.platform => (vec![party(Role::Platform, 0)], vec![]),
        _ if args.all => (report::parties(&rows), report::channels(&rows)),
        _ => return Err(WHOSE.into()),
    };
    let mut all = AllStatements {
        parties: Vec::new(),
        channels: Vec::new(),
    };
    for p in parties {
        all.parties
            .extend(report::statements(&rows, p, kind, days).map_err(|e| e.to_string())?);
    }
    for c in channels {
        let s = report::channel_statements(&rows, c, kind, days).map_err(|e| e.to_string())?;
        all.channels.extend(s);
    }
    print_statements(&all, format)
}

fn print_statements(all: &AllStatements, format: Format) -> Result<String, String> {
    let parties = format::statements_table(&all.parties);
    let channels = format::channel_statements_table(&all.channels);
    let err = |e: sluice_store::StoreError| e.to_string();
    if format == Format::Json {
        return format::render(all, &parties, format).map_err(err);
    }
    let mut out = String::new();
    if !all.parties.is_empty() {
        out += &format::render(&all.parties, &parties, format).map_err(err)?;
    }
    if !all.channels.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out += &format::render(&all.channels, &channels, format).map_err(err)?;
        if format == Format::Text {
            out += &format!("note: {}\n", report::SETTLED_NOTE);
        }
    }
    Ok(out)
}

fn flow(args: FlowArgs) -> Result<String, String> {
    let format = Format::parse(&args.source.format).map_err(|e| e.to_string())?;
    let grouping = Grouping {
        dims: Dim::parse_list(&args.by).map_err(|e| e.to_string())?,
        types: TxType::parse_list(&args.types).map_err(|e| e.to_string())?,
        days: days(&args.from, &args.to)?,
    };
    let measures: Vec<String> = args
        .measures
        .as_deref()
        .map(|m| m.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    let mut reader = open_reader(&args.source)?;
    // A payment counts on its order's day; its result may come later.
    let load_days = DayRange {
        from: grouping.days.from,
        to: None,
    };
    let rows = report::load(reader.as_mut(), load_days).map_err(|e| e.to_string())?;
    let flow = report::flow(&rows, &grouping).map_err(|e| e.to_string())?;
    let table = format::flow_table(&flow, &measures).map_err(|e| e.to_string())?;
    format::render(&flow, &table, format).map_err(|e| e.to_string())
}

fn payouts(args: PayoutsArgs) -> Result<String, String> {
    let format = Format::parse(&args.source.format).map_err(|e| e.to_string())?;
    let dims = PayoutDim::parse_list(&args.by).map_err(|e| e.to_string())?;
    let days = days(&args.from, &args.to)?;
    let mut reader = open_reader(&args.source)?;
    // Only the payouts table: a store without payouts prints an empty report.
    let rows = reader
        .load(&["payouts"], days)
        .map_err(|e| format!("report: {e}"))?;
    let report = report::payouts(&rows, &dims, days).map_err(|e| e.to_string())?;
    let table = format::payouts_table(&report);
    format::render(&report, &table, format).map_err(|e| e.to_string())
}

fn risk(args: RiskArgs) -> Result<String, String> {
    let format = Format::parse(&args.source.format).map_err(|e| e.to_string())?;
    let by = report::RiskBy::parse(&args.by).map_err(|e| e.to_string())?;
    let days = days(&args.from, &args.to)?;
    let mut reader = open_reader(&args.source)?;
    // Orders from the first day asked; their hits and labels come on their own days, later.
    let load_days = DayRange {
        from: days.from,
        to: None,
    };
    let rows = reader
        .load(&["orders", "risk_hits", "risk_labels"], load_days)
        .map_err(|e| format!("report: {e}"))?;
    let figures = report::risk(&rows, days);
    let table = match by {
        report::RiskBy::Rule => format::risk_rules_table(&figures),
        report::RiskBy::Day => format::risk_days_table(&figures),
    };
    let mut out = format::render(&figures, &table, format).map_err(|e| e.to_string())?;
    if format == Format::Text && by == report::RiskBy::Rule {
        out += &format::risk_overall_line(&figures.overall);
    }
    Ok(out)
}

fn finance(args: FinanceArgs) -> Result<String, String> {
    let format = if args.json {
        Format::Json
    } else {
        Format::parse(&args.source.format).map_err(|e| e.to_string())?
    };
    let by = report::FinanceBy::parse(&args.by).map_err(|e| e.to_string())?;
    let days = days(&args.from, &args.to)?;
    let mut reader = open_reader(&args.source)?;
    let figures = finance_figures(reader.as_mut(), days)?;
    render_finance(&figures, by, format)
}

/// `sluice report finance --data DATA` (by product, as text), and its figures: for the demo.
pub fn finance_of(data: &std::path::Path) -> Result<(report::FinanceReport, String), String> {
    let mut store = ParquetStore::open_read_only(data).map_err(|e| format!("report: {e}"))?;
    let figures = finance_figures(&mut store, DayRange::default())?;
    let text = render_finance(&figures, report::FinanceBy::Product, Format::Text)?;
    Ok((figures, text))
}

fn finance_figures(
    reader: &mut dyn FlowReader,
    days: DayRange,
) -> Result<report::FinanceReport, String> {
    // Positions are cumulative: every row up to --to.
    let load_days = DayRange {
        from: None,
        to: days.to,
    };
    let rows = reader
        .load(&["finance_events"], load_days)
        .map_err(|e| format!("report: {e}"))?;
    Ok(report::finance(&rows, days))
}

fn render_finance(
    figures: &report::FinanceReport,
    by: report::FinanceBy,
    format: Format,
) -> Result<String, String> {
    let err = |e: sluice_store::StoreError| e.to_string();
    if format == Format::Json || by == report::FinanceBy::Day {
        let table = format::finance_days_table(figures);
        return format::render(figures, &table, format).map_err(err);
    }
    let tables = [
        ("positions", format::finance_positions_table(figures)),
        ("installments", format::finance_plans_table(figures)),
        ("loans", format::finance_loans_table(figures)),
        ("totals", format::finance_totals_table(figures)),
    ];
    let mut out = String::new();
    for (name, table) in tables {
        if !out.is_empty() {
            out.push('\n');
        }
        if format == Format::Text {
            out += &format!("{name}\n");
        }
        out += &format::render(figures, &table, format).map_err(err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_node::flow::{Day, FinanceEventRow, Rows};
    use sluice_store::FlowStore;

    fn row(seq: i64, kind: &str, amount: i64, position: i64, accrued: i64) -> FinanceEventRow {
        FinanceEventRow {
            seq,
            ordinal: 0,
            at_ns: seq,
            day: Day(20_500 + seq as i32),
            product: "Loan".into(),
            kind: kind.into(),
            party_kind: "Merchant".into(),
            party_id: 1001,
            reference: 4,
            installment: 0,
            currency: 156,
            amount_minor: amount,
            position_minor: position,
            accrued_minor: accrued,
            business_day: Day(20_499 + seq as i32),
        }
    }

    fn args(data: &std::path::Path, by: &str, format: &str, json: bool) -> FinanceArgs {
        FinanceArgs {
            source: SourceArgs {
                data: data.to_path_buf(),
                postgres_url: None,
                format: format.into(),
            },
            by: by.into(),
            from: None,
            to: None,
            json,
        }
    }

    #[test]
    fn report_finance_prints_positions_schedules_totals_and_days_from_the_store() {
        let data =
            std::env::temp_dir().join(format!("sluice-report-finance-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let mut store = ParquetStore::open(&data).expect("a store");
        let rows = Rows {
            finance_events: vec![
                row(1, "LoanDisbursed", 60_000, 60_000, 0),
                row(2, "InterestAccrued", 30, 60_030, 30),
                row(3, "LoanRepaid", 10_030, 50_000, 30),
            ],
            ..Rows::default()
        };
        store.commit(&rows, 3).expect("stored");
        let text = finance(args(&data, "product", "text", false)).expect("a report");
        for part in [
            "positions\n",
            "installments\n",
            "loans\n",
            "totals\n",
            "500.00",
            "0.30",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        let days = finance(args(&data, "day", "csv", false)).expect("a report");
        assert_eq!(
            days.lines().nth(1),
            Some("2026-02-17,156,0,0,0,0,30"),
            "{days}"
        );
        let json = finance(args(&data, "product", "text", true)).expect("a report");
        let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(v["loans"][0]["repaid_minor"], 10_030);
        assert_eq!(v["totals"][0]["difference_minor"], 0);
        assert!(finance(args(&data, "week", "text", false)).is_err());
        let _ = std::fs::remove_dir_all(&data);
    }
}
