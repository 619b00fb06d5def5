//! Stripe's itemized payout reconciliation report (`payout_reconciliation.itemized.5`; the
//! balance change from activity report, `balance_change_from_activity.itemized.3`, has the same
//! columns less the payout ones), run with the columns below: one row per balance transaction,
//! amounts in major units with the currency's decimals, currency lower-case, times in UTC and in
//! the report's time zone. docs/BILLS.md cites the report and maps each column.

use std::fmt::Write as _;

use crate::currency;
use crate::model::{Bill, BillError, BillLine, Format, LineKind, LineStatus, Totals};
use crate::row::Row;
use crate::rules::{LineFault, assert_writable, check_line};
use crate::text::{Civil, Errors, base_name, day_of, lines, split_csv, write_decimal};

pub const COLUMNS: [&str; 20] = [
    "balance_transaction_id",
    "created_utc",
    "created",
    "available_on_utc",
    "available_on",
    "currency",
    "gross",
    "fee",
    "net",
    "reporting_category",
    "source_id",
    "description",
    "customer_facing_amount",
    "customer_facing_currency",
    "automatic_payout_id",
    "automatic_payout_effective_at_utc",
    "automatic_payout_effective_at",
    "payment_intent_id",
    "payment_metadata[out_trade_no]",
    "refund_metadata[refund_id]",
];

const TXN_ID: usize = 0;
const CREATED_UTC: usize = 1;
const CREATED: usize = 2;
const AVAILABLE_UTC: usize = 3;
const AVAILABLE: usize = 4;
const CURRENCY: usize = 5;
const GROSS: usize = 6;
const FEE: usize = 7;
const NET: usize = 8;
const CATEGORY: usize = 9;
const SOURCE_ID: usize = 10;
const CUSTOMER_AMOUNT: usize = 12;
const CUSTOMER_CURRENCY: usize = 13;
const PAYOUT_ID: usize = 14;
const PAYOUT_AT_UTC: usize = 15;
const PAYOUT_AT: usize = 16;
const PAYMENT_INTENT: usize = 17;
const OUT_TRADE_NO: usize = 18;
const REFUND_ID: usize = 19;

/// The report's name as Sluice stores it: `<account>_payout_reconciliation.itemized.5_<yyyymmdd>.csv`.
pub fn file_name(account: &str, day: u32) -> String {
    let mut name = format!("{account}_payout_reconciliation.itemized.5_");
    Civil::of_day(day).write_compact_date(&mut name);
    name.push_str(".csv");
    name
}

fn name_parts(file: &str) -> Option<(&str, u32)> {
    let stem = base_name(file).strip_suffix(".csv")?;
    let (account, date) = stem.rsplit_once("_payout_reconciliation.itemized.5_")?;
    Some((account, day_of(&Civil::parse_compact_date(date)?)?))
}

/// The category of a line, and the sign of its gross (a credit to the balance is positive).
fn category(kind: LineKind, status: LineStatus) -> (&'static str, i64) {
    match (kind, status) {
        (LineKind::Payment, LineStatus::Reversed) => ("charge_failure", -1),
        (LineKind::Payment, _) => ("charge", 1),
        (LineKind::Refund, LineStatus::Succeeded) => ("refund", -1),
        (LineKind::Refund, _) => ("refund_failure", 1),
    }
}

pub fn write(bill: &Bill) -> Vec<u8> {
    assert_writable(bill, Format::Stripe);
    let mut out = String::with_capacity(bill.lines.len() * 260 + 512);
    out.push_str(&COLUMNS.join(","));
    out.push('\n');
    for (index, line) in bill.lines.iter().enumerate() {
        write_line(&mut out, bill, line, index);
    }
    out.into_bytes()
}

fn write_line(out: &mut String, bill: &Bill, line: &BillLine, index: usize) {
    let currency = currency::by_numeric(line.currency).expect("check_line knows the currency");
    let exponent = currency.exponent;
    let (category, sign) = category(line.kind, line.status);
    let gross = sign * line.amount_minor;
    let fee = sign * line.fee_minor;
    let utc = Civil::of(line.at_ns, 0);
    let local = Civil::of(line.at_ns, bill.utc_offset_min);
    let _ = write!(out, "txn_{:08}{},", bill.day, index);
    for time in [&utc, &local, &utc, &local] {
        time.write(out, '-');
        out.push(',');
    }
    let code = currency.code.to_ascii_lowercase();
    let _ = write!(out, "{code},");
    for minor in [gross, fee, gross - fee] {
        write_decimal(out, minor, exponent);
        out.push(',');
    }
    let source = match line.kind {
        LineKind::Payment => &line.channel_trade_no,
        LineKind::Refund => &line.channel_refund_no,
    };
    let _ = write!(out, "{category},{source},,");
    write_decimal(out, line.amount_minor, exponent);
    let _ = write!(
        out,
        ",{code},{},,,{},{},",
        line.batch, line.channel_trade_no, line.out_trade_no
    );
    if line.kind == LineKind::Refund {
        let _ = write!(out, "{}", line.refund_id);
    }
    out.push('\n');
}

pub fn parse(file: &str, bytes: &[u8]) -> Result<Bill, BillError> {
    let errors = Errors { file };
    let text = crate::utf8(errors, bytes)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (account, day) = name_parts(file)
        .filter(|(a, _)| crate::rules::account_ok(Format::Stripe, a))
        .ok_or_else(|| errors.at(0, "(file name)", "expected <account>_payout_reconciliation.itemized.5_<yyyymmdd>.csv (the report states neither)"))?;
    let mut rows = lines(text);
    let header = rows.next().map(|(_, l)| l).unwrap_or("");
    crate::expect_header(errors, 1, header, &COLUMNS)?;
    let mut cells = Vec::with_capacity(COLUMNS.len());
    let mut parsed = Vec::new();
    let mut offset: Option<i32> = None;
    for (line_no, text) in rows {
        split_csv(text, &mut cells).map_err(|m| errors.at(line_no, "(row)", m))?;
        let row = Row {
            errors,
            line: line_no,
            columns: &COLUMNS,
            cells: &cells,
        };
        let (line, row_offset) = parse_line(&row)?;
        if *offset.get_or_insert(row_offset) != row_offset {
            return Err(row.fail(CREATED, "the row's time zone differs from the rows above"));
        }
        parsed.push(line);
    }
    Ok(Bill {
        format: Format::Stripe,
        account: account.to_string(),
        day,
        utc_offset_min: offset.unwrap_or(0),
        totals: Totals::of(&parsed),
        lines: parsed,
    })
}

/// The report's zone offset a local and a UTC time imply, when whole minutes within a day.
fn offset_of(row: &Row, local_column: usize, utc_ns: u64) -> Result<i32, BillError> {
    let local_ns = row.time(local_column, b'-', 0)?;
    let diff_s = (i128::from(local_ns) - i128::from(utc_ns)) / 1_000_000_000;
    i32::try_from(diff_s / 60)
        .ok()
        .filter(|m| diff_s % 60 == 0 && (-1440..=1440).contains(m))
        .ok_or_else(|| row.fail(local_column, "not the UTC time shifted by a zone offset"))
}

/// The row's UTC time and the report's zone offset, checked on both time pairs.
fn times(row: &Row) -> Result<(u64, i32), BillError> {
    let at_ns = row.time(CREATED_UTC, b'-', 0)?;
    let offset = offset_of(row, CREATED, at_ns)?;
    let available_ns = row.time(AVAILABLE_UTC, b'-', 0)?;
    if offset_of(row, AVAILABLE, available_ns)? != offset {
        return Err(row.fail(AVAILABLE, "the zone differs from the created time's"));
    }
    Ok((at_ns, offset))
}

fn parse_line(row: &Row) -> Result<(BillLine, i32), BillError> {
    row.check_width()?;
    row.check_ident(TXN_ID)?;
    let (at_ns, offset) = times(row)?;
    let code = row.text(CURRENCY);
    let currency = currency::by_code(code)
        .filter(|_| code.bytes().all(|b| b.is_ascii_lowercase()))
        .ok_or_else(|| {
            row.fail(
                CURRENCY,
                format!("{code:?} is not a known lower-case currency"),
            )
        })?;
    row.literal(CUSTOMER_CURRENCY, code)?;
    let exponent = currency.exponent;
    let (kind, status) = match row.text(CATEGORY) {
        "charge" => (LineKind::Payment, LineStatus::Succeeded),
        "charge_failure" => (LineKind::Payment, LineStatus::Reversed),
        "refund" => (LineKind::Refund, LineStatus::Succeeded),
        "refund_failure" => (LineKind::Refund, LineStatus::Failed),
        other => {
            return Err(row.fail(
                CATEGORY,
                format!("unknown or unsupported reporting category {other:?}"),
            ));
        }
    };
    let sign = category(kind, status).1;
    let gross = row.decimal(GROSS, exponent)?;
    let fee = row.decimal(FEE, exponent)?;
    row.expect_eq(NET, row.decimal(NET, exponent)?, gross - fee)?;
    row.expect_eq(
        CUSTOMER_AMOUNT,
        row.decimal(CUSTOMER_AMOUNT, exponent)?,
        gross * sign,
    )?;
    let batch = row.ident_or_empty(PAYOUT_ID)?;
    row.literal(PAYOUT_AT_UTC, "")?;
    row.literal(PAYOUT_AT, "")?;
    let (refund_id, channel_refund_no) = match kind {
        LineKind::Payment => {
            row.literal(REFUND_ID, "")?;
            row.literal(SOURCE_ID, row.text(PAYMENT_INTENT))?;
            (0, String::new())
        }
        LineKind::Refund => (row.refund_id(REFUND_ID)?, row.ident(SOURCE_ID)?),
    };
    let line = BillLine {
        line_no: row.line,
        kind,
        status,
        channel_trade_no: row.ident(PAYMENT_INTENT)?,
        out_trade_no: row.ident(OUT_TRADE_NO)?,
        refund_id,
        channel_refund_no,
        amount_minor: gross * sign,
        fee_minor: fee * sign,
        currency: currency.numeric,
        at_ns,
        batch,
    };
    check_line(Format::Stripe, &line).map_err(|fault| row.fault(column_of(fault), fault))?;
    Ok((line, offset))
}

fn column_of(fault: LineFault) -> usize {
    match fault {
        LineFault::Status => CATEGORY,
        LineFault::Amount => GROSS,
        LineFault::Fee => FEE,
        LineFault::Currency => CURRENCY,
        LineFault::TradeNo => PAYMENT_INTENT,
        LineFault::OutTradeNo => OUT_TRADE_NO,
        LineFault::RefundId => REFUND_ID,
        LineFault::RefundNo => SOURCE_ID,
        LineFault::Batch => PAYOUT_ID,
    }
}
