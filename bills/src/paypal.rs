//! PayPal's Settlement Report (STL, version 009): CSV whose first column is the record type —
//! RH report header, FH file header, SH section header, CH column header, SB section body (one
//! transaction), SF section footer (per currency), SC section record count, RF report footer (per
//! currency), RC report record count, FF file footer. Text fields quoted; amounts unsigned in the
//! currency's units × 100 (100 JPY and 1.00 USD are both `100` … `10000` for 100.00), their
//! direction in a CR/DR column; times `YYYY/MM/DD HH:MM:SS ±hhmm`. docs/BILLS.md cites the
//! specification and maps each field.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::currency;
use crate::model::{Bill, BillError, BillLine, Format, LineKind, LineStatus, Totals};
use crate::rules::assert_writable;
use crate::text::{Civil, Errors, write_quoted};

pub const COLUMNS: [&str; 18] = [
    "Transaction ID",
    "Invoice ID",
    "PayPal Reference ID",
    "PayPal Reference ID Type",
    "Transaction Event Code",
    "Transaction Initiation Date",
    "Transaction Completion Date",
    "Transaction Debit or Credit",
    "Gross Transaction Amount",
    "Gross Transaction Currency",
    "Fee Debit or Credit",
    "Fee Amount",
    "Fee Currency",
    "Custom Field",
    "Consumer ID",
    "Payment Tracking ID",
    "Store ID",
    "Bank Reference ID",
];

/// Event codes (PayPal's T-codes) Sluice states: a payment, a refund, a reversal.
pub(crate) const PAYMENT: &str = "T0006";
pub(crate) const REFUND: &str = "T1107";
pub(crate) const REVERSAL: &str = "T1106";
pub(crate) const REPORT_VERSION: &str = "009";

/// The customary name: `STL-<yyyymmdd>.01.009.CSV` (the account is inside).
pub fn file_name(_account: &str, day: u32) -> String {
    let mut name = String::from("STL-");
    Civil::of_day(day).write_compact_date(&mut name);
    name.push_str(".01.009.CSV");
    name
}

/// `YYYY/MM/DD HH:MM:SS ±hhmm`.
fn write_time(out: &mut String, at_ns: u64, offset_min: i32) {
    Civil::of(at_ns, offset_min).write(out, '/');
    let sign = if offset_min < 0 { '-' } else { '+' };
    let magnitude = offset_min.unsigned_abs();
    let _ = write!(out, " {sign}{:02}{:02}", magnitude / 60, magnitude % 60);
}

/// What PayPal's amount fields hold for `minor` units of a currency with `exponent` decimals.
fn to_paypal_units(minor: i64, exponent: u8) -> i64 {
    minor * 10i64.pow(u32::from(2 - exponent.min(2)))
}

/// Per currency: gross credit, gross debit, fee credit, fee debit (PayPal units).
pub(crate) type Sums = BTreeMap<u16, [i64; 4]>;

pub(crate) fn event(
    kind: LineKind,
    status: LineStatus,
) -> (&'static str, &'static str, &'static str) {
    match (kind, status) {
        (LineKind::Payment, LineStatus::Reversed) => (REVERSAL, "DR", "CR"),
        (LineKind::Payment, _) => (PAYMENT, "CR", "DR"),
        (LineKind::Refund, _) => (REFUND, "DR", "CR"),
    }
}

pub fn write(bill: &Bill) -> Vec<u8> {
    assert_writable(bill, Format::PayPal);
    let mut out = String::with_capacity(bill.lines.len() * 220 + 1024);
    let offset = bill.utc_offset_min;
    let day_start_ns = Civil::of_day(bill.day).at_ns(offset).unwrap_or(0);
    // The report's generation time: Sluice writes the section's end (a later time could fall past
    // the last year a bill time may have, and the reader checks it).
    let day_end_ns = day_start_ns + 86_399_000_000_000;
    out.push_str("\"RH\",");
    write_time(&mut out, day_end_ns, offset);
    out.push_str(",\"A\",");
    write_quoted(&mut out, &bill.account);
    let _ = writeln!(out, ",{REPORT_VERSION}\n\"FH\",01");
    out.push_str("\"SH\",");
    write_time(&mut out, day_start_ns, offset);
    out.push(',');
    write_time(&mut out, day_end_ns, offset);
    out.push(',');
    write_quoted(&mut out, &bill.account);
    out.push_str(",\"\"\n\"CH\"");
    for column in COLUMNS {
        out.push(',');
        write_quoted(&mut out, column);
    }
    out.push('\n');
    let mut sums = Sums::new();
    for line in &bill.lines {
        write_line(&mut out, line, offset, &mut sums);
    }
    let rows = bill.totals.lines;
    write_footers(&mut out, "SF", &sums);
    let _ = writeln!(out, "\"SC\",{rows}");
    write_footers(&mut out, "RF", &sums);
    let _ = writeln!(out, "\"RC\",{rows}\n\"FF\",{rows}");
    out.into_bytes()
}

fn write_line(out: &mut String, line: &BillLine, offset: i32, sums: &mut Sums) {
    let currency = currency::by_numeric(line.currency).expect("check_line knows the currency");
    let (code, gross_dc, fee_dc) = event(line.kind, line.status);
    let gross = to_paypal_units(line.amount_minor, currency.exponent);
    let fee = to_paypal_units(line.fee_minor, currency.exponent);
    let sum = sums.entry(line.currency).or_default();
    sum[usize::from(gross_dc == "DR")] += gross;
    sum[2 + usize::from(fee_dc == "DR")] += fee;
    let (id, reference, reference_type) = match line.kind {
        LineKind::Payment if line.status == LineStatus::Reversed => (
            &line.channel_trade_no,
            line.channel_trade_no.as_str(),
            "TXN",
        ),
        LineKind::Payment => (&line.channel_trade_no, "", ""),
        LineKind::Refund => (
            &line.channel_refund_no,
            line.channel_trade_no.as_str(),
            "TXN",
        ),
    };
    let custom = if line.kind == LineKind::Refund {
        line.refund_id.to_string()
    } else {
        String::new()
    };
    out.push_str("\"SB\"");
    for text in [
        id.as_str(),
        &line.out_trade_no,
        reference,
        reference_type,
        code,
    ] {
        out.push(',');
        write_quoted(out, text);
    }
    for _ in 0..2 {
        out.push(',');
        write_time(out, line.at_ns, offset);
    }
    let _ = write!(
        out,
        ",\"{gross_dc}\",{gross},\"{}\",\"{fee_dc}\",{fee},\"{}\",",
        currency.code, currency.code
    );
    write_quoted(out, &custom);
    out.push_str(",\"\",\"\",\"\",\"\"\n");
}

fn write_footers(out: &mut String, record: &str, sums: &Sums) {
    for (numeric, [gross_cr, gross_dr, fee_cr, fee_dr]) in sums {
        let code = currency::by_numeric(*numeric).map_or("", |c| c.code);
        let _ = writeln!(
            out,
            "\"{record}\",\"{code}\",{gross_cr},{gross_dr},{fee_cr},{fee_dr}"
        );
    }
}

pub fn parse(file: &str, bytes: &[u8]) -> Result<Bill, BillError> {
    let errors = Errors { file };
    let text = crate::utf8(errors, bytes)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let report = crate::paypal_read::Reader::new(errors).read(text)?;
    Ok(Bill {
        format: Format::PayPal,
        account: report.account,
        day: report.day,
        utc_offset_min: report.offset,
        totals: Totals::of(&report.lines),
        lines: report.lines,
    })
}
