//! Reading PayPal's Settlement Report: the record sequence RH FH SH CH SB* SF+ SC RF+ RC FF, each
//! record checked, the footers' per-currency totals and counts checked against the body rows.

use std::borrow::Cow;

use crate::currency;
use crate::model::{BillError, BillLine, Format, LineKind, LineStatus};
use crate::paypal::{COLUMNS, PAYMENT, REFUND, REPORT_VERSION, REVERSAL, Sums, event};
use crate::row::Row;
use crate::rules::{LineFault, check_line};
use crate::text::{Civil, Errors, day_of, lines, parse_refund_id, parse_u64, split_csv};

const TXN_ID: usize = 0;
const INVOICE_ID: usize = 1;
const REFERENCE_ID: usize = 2;
const REFERENCE_TYPE: usize = 3;
const EVENT_CODE: usize = 4;
const INITIATED: usize = 5;
const COMPLETED: usize = 6;
const GROSS_DC: usize = 7;
const GROSS: usize = 8;
const GROSS_CURRENCY: usize = 9;
const FEE_DC: usize = 10;
const FEE: usize = 11;
const FEE_CURRENCY: usize = 12;
const CUSTOM: usize = 13;

/// What the report states.
pub(crate) struct Report {
    pub account: String,
    pub day: u32,
    pub offset: i32,
    pub lines: Vec<BillLine>,
}

/// A time `YYYY/MM/DD HH:MM:SS ±hhmm`: the instant and the offset it was written in.
fn parse_time(text: &str) -> Option<(u64, i32, Civil)> {
    let (local, zone) = (text.get(..19)?, text.get(19..)?);
    let civil = Civil::parse(local, b'/')?;
    let zone = zone.strip_prefix(' ')?.as_bytes();
    let sign = match zone.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = (
        crate::text::digits(zone.get(1..3)?)?,
        crate::text::digits(zone.get(3..5)?)?,
    );
    if zone.len() != 5 || hours > 14 || minutes > 59 {
        return None;
    }
    let offset = sign * i32::try_from(hours * 60 + minutes).ok()?;
    Some((civil.at_ns(offset)?, offset, civil))
}

pub(crate) struct Reader<'e> {
    errors: Errors<'e>,
}

impl<'e> Reader<'e> {
    pub fn new(errors: Errors<'e>) -> Reader<'e> {
        Reader { errors }
    }

    fn record<'a>(
        &self,
        next: Option<(u32, &'a str)>,
        kind: &str,
        cells: &mut Vec<Cow<'a, str>>,
        width: usize,
    ) -> Result<u32, BillError> {
        let (line_no, text) = next.ok_or_else(|| {
            self.errors
                .at(0, kind, format!("the report ends before its {kind} record"))
        })?;
        split_csv(text, cells).map_err(|m| self.errors.at(line_no, kind, m))?;
        if cells.first().map(|c| c.as_ref()) != Some(kind) {
            return Err(self.errors.at(
                line_no,
                "(record type)",
                format!("expected a {kind} record"),
            ));
        }
        if cells.len() != width {
            return Err(self.errors.at(
                line_no,
                kind,
                format!("{} fields, expected {width}", cells.len()),
            ));
        }
        Ok(line_no)
    }

    fn time(&self, line: u32, field: &str, text: &str) -> Result<(u64, i32, Civil), BillError> {
        parse_time(text).ok_or_else(|| {
            self.errors.at(
                line,
                field,
                format!("{text:?} is not YYYY/MM/DD HH:MM:SS ±hhmm"),
            )
        })
    }

    fn count(&self, line: u32, field: &str, text: &str, expected: u64) -> Result<(), BillError> {
        match parse_u64(text) {
            Some(n) if n == expected => Ok(()),
            _ => Err(self.errors.at(
                line,
                field,
                format!("{text:?}, the body has {expected} rows"),
            )),
        }
    }

    pub fn read(&self, text: &str) -> Result<Report, BillError> {
        let mut rows = lines(text).peekable();
        let mut cells = Vec::with_capacity(COLUMNS.len() + 1);
        let (account, offset, day) = self.read_header(&mut rows, &mut cells)?;
        let mut sums = Sums::new();
        let mut parsed = Vec::new();
        while rows.peek().is_some_and(|(_, l)| l.starts_with("\"SB\"")) {
            let (line_no, text) = rows.next().unwrap_or((0, ""));
            split_csv(text, &mut cells).map_err(|m| self.errors.at(line_no, "SB", m))?;
            let row = Row {
                errors: self.errors,
                line: line_no,
                columns: &COLUMNS,
                cells: &cells[1..],
            };
            parsed.push(parse_line(&row, &mut sums, offset)?);
        }
        let body_rows = parsed.len() as u64;
        self.read_footers(&mut rows, &mut cells, "SF", &sums)?;
        let n = self.record(rows.next(), "SC", &mut cells, 2)?;
        self.count(n, "SC", &cells[1], body_rows)?;
        self.read_footers(&mut rows, &mut cells, "RF", &sums)?;
        let n = self.record(rows.next(), "RC", &mut cells, 2)?;
        self.count(n, "RC", &cells[1], body_rows)?;
        let n = self.record(rows.next(), "FF", &mut cells, 2)?;
        self.count(n, "FF", &cells[1], body_rows)?;
        if let Some((extra, _)) = rows.next() {
            return Err(self
                .errors
                .at(extra, "(record type)", "a record after the file footer"));
        }
        Ok(Report {
            account,
            day,
            offset,
            lines: parsed,
        })
    }

    fn read_header<'a>(
        &self,
        rows: &mut impl Iterator<Item = (u32, &'a str)>,
        cells: &mut Vec<Cow<'a, str>>,
    ) -> Result<(String, i32, u32), BillError> {
        let n = self.record(rows.next(), "RH", cells, 5)?;
        self.time(n, "RH report date", &cells[1])?;
        let account = cells[3].to_string();
        if !crate::rules::account_ok(Format::PayPal, &account) {
            return Err(self.errors.at(n, "RH account ID", "not an identifier"));
        }
        if cells[4] != REPORT_VERSION {
            return Err(self.errors.at(
                n,
                "RH report version",
                format!("{:?}, expected {REPORT_VERSION}", cells[4]),
            ));
        }
        let n = self.record(rows.next(), "FH", cells, 2)?;
        if parse_u64(&cells[1]).is_none() {
            return Err(self.errors.at(n, "FH file sequence", "not a number"));
        }
        let n = self.record(rows.next(), "SH", cells, 5)?;
        let (_, offset, start) = self.time(n, "SH section start", &cells[1])?;
        let (_, end_offset, end) = self.time(n, "SH section end", &cells[2])?;
        let day = day_of(&start).filter(|_| (start.hour, start.minute, start.second) == (0, 0, 0));
        let end_ok = end_offset == offset
            && end.day_number() == start.day_number()
            && (end.hour, end.minute, end.second) == (23, 59, 59);
        let day = day.filter(|_| end_ok).ok_or_else(|| {
            self.errors.at(
                n,
                "SH section start",
                "the section is not one day, 00:00:00 to 23:59:59 in one zone",
            )
        })?;
        if cells[3] != account.as_str() {
            return Err(self
                .errors
                .at(n, "SH account ID", "differs from the report header's"));
        }
        let n = self.record(rows.next(), "CH", cells, COLUMNS.len() + 1)?;
        for (cell, column) in cells[1..].iter().zip(COLUMNS) {
            // Older reports spell one column with two spaces.
            if cell.split_whitespace().ne(column.split_whitespace()) {
                return Err(self.errors.at(n, column, format!("column header {cell:?}")));
            }
        }
        Ok((account, offset, day))
    }

    fn read_footers<'a>(
        &self,
        rows: &mut std::iter::Peekable<impl Iterator<Item = (u32, &'a str)>>,
        cells: &mut Vec<Cow<'a, str>>,
        kind: &str,
        sums: &Sums,
    ) -> Result<(), BillError> {
        let mut seen = 0;
        let prefix = format!("\"{kind}\"");
        while rows.peek().is_some_and(|(_, l)| l.starts_with(&prefix))
            || (seen == 0 && !sums.is_empty())
        {
            let n = self.record(rows.next(), kind, cells, 6)?;
            let currency = currency::by_code(&cells[1])
                .filter(|c| c.code == cells[1])
                .ok_or_else(|| {
                    self.errors
                        .at(n, kind, format!("unknown currency {:?}", cells[1]))
                })?;
            let stated: Option<Vec<i64>> = cells[2..6]
                .iter()
                .map(|c| parse_u64(c).and_then(|v| i64::try_from(v).ok()))
                .collect();
            let expected = sums.get(&currency.numeric).copied().unwrap_or_default();
            if stated.as_deref() != Some(&expected[..]) {
                return Err(self.errors.at(
                    n,
                    kind,
                    format!(
                        "totals {:?} for {}, the rows sum to {expected:?}",
                        &cells[2..6],
                        currency.code
                    ),
                ));
            }
            seen += 1;
        }
        if seen != sums.len() {
            return Err(self.errors.at(
                0,
                kind,
                format!(
                    "{seen} currency footers, the rows have {} currencies",
                    sums.len()
                ),
            ));
        }
        Ok(())
    }
}

/// PayPal units (the currency's units × 100) to minor units; None unless exact.
fn minor_of(units: u64, exponent: u8) -> Option<i64> {
    let scale = 10u64.pow(u32::from(2 - exponent.min(2)));
    units
        .is_multiple_of(scale)
        .then(|| i64::try_from(units / scale).ok())
        .flatten()
}

/// The row's currency, amount and fee in minor units, its directions checked and its PayPal
/// units added to the per-currency sums the footers state.
fn money(
    row: &Row,
    kind: LineKind,
    status: LineStatus,
    sums: &mut Sums,
) -> Result<(u16, i64, i64), BillError> {
    let code = row.text(GROSS_CURRENCY);
    let currency = currency::by_code(code)
        .filter(|c| c.code == code && c.exponent <= 2)
        .ok_or_else(|| row.fail(GROSS_CURRENCY, "unknown currency"))?;
    let units = |column: usize| {
        let text = row.text(column);
        parse_u64(text)
            .and_then(|u| Some((i64::try_from(u).ok()?, minor_of(u, currency.exponent)?)))
            .ok_or_else(|| {
                row.fail(
                    column,
                    format!("{text:?} is not an amount in {} units × 100", currency.code),
                )
            })
    };
    let (gross_units, amount) = units(GROSS)?;
    let (_, gross_dc, fee_dc) = event(kind, status);
    row.literal(GROSS_DC, gross_dc)?;
    // A transaction without a fee may leave the three fee fields blank.
    let no_fee = [FEE, FEE_DC, FEE_CURRENCY]
        .iter()
        .all(|&c| row.text(c).is_empty());
    let (fee_units, fee) = if no_fee {
        (0, 0)
    } else {
        row.literal(FEE_DC, fee_dc)?;
        row.literal(FEE_CURRENCY, currency.code)?;
        units(FEE)?
    };
    let sum = sums.entry(currency.numeric).or_default();
    let (gross_slot, fee_slot) = (
        usize::from(gross_dc == "DR"),
        2 + usize::from(fee_dc == "DR"),
    );
    sum[gross_slot] = sum[gross_slot].saturating_add(gross_units);
    sum[fee_slot] = sum[fee_slot].saturating_add(fee_units);
    Ok((currency.numeric, amount, fee))
}

/// (channel_trade_no, channel_refund_no, refund id): a refund's and a reversal's own transaction
/// refers to the payment's (PayPal Reference ID, type TXN); a refund's Custom Field is its id.
fn ids(row: &Row, kind: LineKind, status: LineStatus) -> Result<(String, String, u64), BillError> {
    match (kind, status) {
        (LineKind::Payment, LineStatus::Succeeded) => {
            row.literal(REFERENCE_ID, "")?;
            row.literal(REFERENCE_TYPE, "")?;
            row.literal(CUSTOM, "")?;
            Ok((row.ident(TXN_ID)?, String::new(), 0))
        }
        (LineKind::Payment, _) => {
            row.literal(REFERENCE_TYPE, "TXN")?;
            row.literal(CUSTOM, "")?;
            row.check_ident(TXN_ID)?;
            Ok((row.ident(REFERENCE_ID)?, String::new(), 0))
        }
        (LineKind::Refund, _) => {
            row.literal(REFERENCE_TYPE, "TXN")?;
            let refund_id = parse_refund_id(row.text(CUSTOM))
                .ok_or_else(|| row.fail(CUSTOM, "not a refund id"))?;
            Ok((row.ident(REFERENCE_ID)?, row.ident(TXN_ID)?, refund_id))
        }
    }
}

/// Reads one body row; its times must be in the section's zone (`offset`), as PayPal writes them
/// and as a writer of the bill writes them back.
fn parse_line(row: &Row, sums: &mut Sums, offset: i32) -> Result<BillLine, BillError> {
    row.check_width()?;
    let (kind, status) = match row.text(EVENT_CODE) {
        PAYMENT => (LineKind::Payment, LineStatus::Succeeded),
        REVERSAL => (LineKind::Payment, LineStatus::Reversed),
        REFUND => (LineKind::Refund, LineStatus::Succeeded),
        other => {
            return Err(row.fail(
                EVENT_CODE,
                format!("unknown or unsupported event code {other:?}"),
            ));
        }
    };
    let (currency, amount_minor, fee_minor) = money(row, kind, status, sums)?;
    let time = |column: usize| match parse_time(row.text(column)) {
        Some((at_ns, row_offset, _)) if row_offset == offset => Ok(at_ns),
        Some(_) => Err(row.fail(column, "not in the section header's time zone")),
        None => Err(row.fail(column, "not YYYY/MM/DD HH:MM:SS ±hhmm")),
    };
    time(INITIATED)?;
    let at_ns = time(COMPLETED)?;
    let (channel_trade_no, channel_refund_no, refund_id) = ids(row, kind, status)?;
    let line = BillLine {
        line_no: row.line,
        kind,
        status,
        channel_trade_no,
        out_trade_no: row.ident(INVOICE_ID)?,
        refund_id,
        channel_refund_no,
        amount_minor,
        fee_minor,
        currency,
        at_ns,
        batch: String::new(),
    };
    check_line(Format::PayPal, &line)
        .map_err(|fault| row.fault(column_of(fault, kind, status), fault))?;
    Ok(line)
}

fn column_of(fault: LineFault, kind: LineKind, status: LineStatus) -> usize {
    let original_payment = (kind, status) == (LineKind::Payment, LineStatus::Succeeded);
    match fault {
        LineFault::TradeNo if original_payment => TXN_ID,
        LineFault::Status => EVENT_CODE,
        LineFault::Amount => GROSS,
        LineFault::Fee => FEE,
        LineFault::Currency => GROSS_CURRENCY,
        LineFault::TradeNo => REFERENCE_ID,
        LineFault::OutTradeNo => INVOICE_ID,
        LineFault::RefundId => CUSTOM,
        LineFault::RefundNo | LineFault::Batch => TXN_ID,
    }
}
