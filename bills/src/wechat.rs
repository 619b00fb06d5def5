//! WeChat Pay's trade bill, type ALL (交易账单), as `downloadbill` (v2) and the v3 trade bill
//! return it: a header row of Chinese column names, detail rows with every cell prefixed by a
//! backtick, then a summary header and one summary row. UTF-8; amounts in yuan with two decimals;
//! times in Beijing time. docs/BILLS.md cites the layout and maps each column.

use std::borrow::Cow;

use crate::currency::CNY;
use crate::model::{Bill, BillError, BillLine, Format, LineKind, LineStatus, Totals};
use crate::row::Row;
use crate::rules::{LineFault, assert_writable, check_line};
use crate::text::{Civil, Errors, base_name, lines, write_decimal};

pub const COLUMNS: [&str; 27] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
];

pub const SUMMARY_COLUMNS: [&str; 7] = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
];

const TIME: usize = 0;
const MCH_ID: usize = 2;
const TRANSACTION_ID: usize = 5;
const OUT_TRADE_NO: usize = 6;
const TRADE_STATE: usize = 9;
const CURRENCY: usize = 11;
const SETTLEMENT: usize = 12;
const COUPON: usize = 13;
const REFUND_ID: usize = 14;
const OUT_REFUND_NO: usize = 15;
const REFUND: usize = 16;
const COUPON_REFUND: usize = 17;
const REFUND_STATUS: usize = 19;
const FEE: usize = 22;
const ORDER_AMOUNT: usize = 24;
const REFUND_APPLIED: usize = 25;

/// A cell that holds no number in a payment row's refund columns.
const NONE: &str = "0";
/// What Sluice writes as the trade type and rate: constants it does not read.
const TRADE_TYPE: &str = "NATIVE";
const RATE: &str = "0.60%";

/// The customary name: `<mchid>_<yyyymmdd>_ALL.csv`.
pub fn file_name(account: &str, day: u32) -> String {
    let mut name = format!("{account}_");
    Civil::of_day(day).write_compact_date(&mut name);
    name.push_str("_ALL.csv");
    name
}

/// The account and day a file name states (`file_name`'s inverse); the layout itself has no day.
fn name_parts(file: &str) -> Option<(&str, u32)> {
    let stem = base_name(file).strip_suffix("_ALL.csv")?;
    let (account, date) = stem.rsplit_once('_')?;
    let day = crate::text::day_of(&Civil::parse_compact_date(date)?)?;
    Some((account, day))
}

/// The column sums the summary row states.
#[derive(Default)]
struct Sums {
    settlement: i64,
    refund: i64,
    fee: i64,
    order: i64,
    refund_applied: i64,
}

fn cell(out: &mut String, text: &str) {
    out.push('`');
    out.push_str(text);
    out.push(',');
}

fn amount_cell(out: &mut String, minor: i64) {
    out.push('`');
    write_decimal(out, minor, 2);
    out.push(',');
}

fn end_row(out: &mut String) {
    out.pop();
    out.push('\n');
}

pub fn write(bill: &Bill) -> Vec<u8> {
    assert_writable(bill, Format::WechatAll);
    let mut out = String::with_capacity(bill.lines.len() * 200 + 1024);
    out.push_str(&COLUMNS.join(","));
    out.push('\n');
    let mut sums = Sums::default();
    for line in &bill.lines {
        write_line(&mut out, bill, line, &mut sums);
    }
    out.push_str(&SUMMARY_COLUMNS.join(","));
    out.push('\n');
    cell(&mut out, &bill.totals.lines.to_string());
    for minor in [
        bill.totals.paid_minor,
        bill.totals.refunded_minor,
        0,
        bill.totals.fees_minor,
        sums.order,
        sums.refund_applied,
    ] {
        amount_cell(&mut out, minor);
    }
    end_row(&mut out);
    out.into_bytes()
}

fn write_line(out: &mut String, bill: &Bill, line: &BillLine, sums: &mut Sums) {
    let succeeded = line.status == LineStatus::Succeeded;
    let (state, refund_status, refund_type) = match (line.kind, line.status) {
        (LineKind::Payment, LineStatus::Reversed) => ("REVOKED", "", ""),
        (LineKind::Payment, _) => ("SUCCESS", "", ""),
        (LineKind::Refund, LineStatus::Succeeded) => ("REFUND", "SUCCESS", "ORIGINAL"),
        (LineKind::Refund, _) => ("REFUND", "REFUNDCLOSE", "ORIGINAL"),
    };
    let payment = line.kind == LineKind::Payment;
    let settlement = if payment && succeeded {
        line.amount_minor
    } else {
        0
    };
    let refund = if !payment && succeeded {
        line.amount_minor
    } else {
        0
    };
    let fee = if payment {
        line.fee_minor
    } else {
        -line.fee_minor
    };
    let order = if payment { line.amount_minor } else { 0 };
    let refund_applied = if payment { 0 } else { line.amount_minor };
    sums.order = sums.order.saturating_add(order);
    sums.refund_applied = sums.refund_applied.saturating_add(refund_applied);

    out.push('`');
    Civil::of(line.at_ns, bill.utc_offset_min).write(out, '-');
    out.push(',');
    for text in [
        "",
        &bill.account,
        "",
        "",
        &line.channel_trade_no,
        &line.out_trade_no,
        "",
    ] {
        cell(out, text);
    }
    for text in [TRADE_TYPE, state, "OTHERS", "CNY"] {
        cell(out, text);
    }
    amount_cell(out, settlement);
    amount_cell(out, 0);
    if payment {
        cell(out, NONE);
        cell(out, NONE);
    } else {
        cell(out, &line.channel_refund_no);
        cell(out, &line.refund_id.to_string());
    }
    amount_cell(out, refund);
    amount_cell(out, 0);
    for text in [refund_type, refund_status, "", ""] {
        cell(out, text);
    }
    amount_cell(out, fee);
    cell(out, RATE);
    amount_cell(out, order);
    amount_cell(out, refund_applied);
    cell(out, "");
    end_row(out);
}

/// Splits a row into its cells, each without the backtick every cell of the layout starts with.
fn backtick_cells<'a>(
    errors: Errors<'_>,
    line_no: u32,
    text: &'a str,
    columns: &'static [&'static str],
    cells: &mut Vec<Cow<'a, str>>,
) -> Result<(), BillError> {
    cells.clear();
    for (i, raw) in text.split(',').enumerate() {
        let Some(value) = raw.strip_prefix('`') else {
            let field = columns.get(i).copied().unwrap_or("(row)");
            return Err(errors.at(line_no, field, "the cell does not start with a backtick"));
        };
        cells.push(Cow::Borrowed(value));
    }
    Ok(())
}

pub fn parse(file: &str, bytes: &[u8]) -> Result<Bill, BillError> {
    let errors = Errors { file };
    let text = crate::utf8(errors, bytes)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (account, day) = name_parts(file)
        .filter(|(a, _)| crate::rules::account_ok(Format::WechatAll, a))
        .ok_or_else(|| {
            errors.at(
                0,
                "(file name)",
                "expected <mchid>_<yyyymmdd>_ALL.csv (the bill states no day)",
            )
        })?;
    let offset = Format::WechatAll.published_utc_offset_min().unwrap_or(480);
    let mut rows = lines(text);
    let header = rows.next().map(|(_, l)| l).unwrap_or("");
    crate::expect_header(errors, 1, header, &COLUMNS)?;
    let summary_header = SUMMARY_COLUMNS.join(",");
    let mut cells = Vec::with_capacity(COLUMNS.len());
    let mut sums = Sums::default();
    let mut parsed = Vec::new();
    let mut last = 1;
    for (line_no, text) in rows.by_ref() {
        last = line_no;
        if text == summary_header {
            break;
        }
        backtick_cells(errors, line_no, text, &COLUMNS, &mut cells)?;
        let row = Row {
            errors,
            line: line_no,
            columns: &COLUMNS,
            cells: &cells,
        };
        parsed.push(parse_line(&row, account, offset, &mut sums)?);
    }
    let totals = parse_summary(errors, rows, last, &sums, &mut cells)?;
    crate::check_totals(
        errors,
        last + 1,
        &parsed,
        &totals,
        &SUMMARY_COLUMNS[..5].join("/"),
    )?;
    Ok(Bill {
        format: Format::WechatAll,
        account: account.to_string(),
        day,
        utc_offset_min: offset,
        lines: parsed,
        totals,
    })
}

/// The kind and status the trade state and refund status state.
fn kind_status(row: &Row) -> Result<(LineKind, LineStatus), BillError> {
    match (row.text(TRADE_STATE), row.text(REFUND_STATUS)) {
        ("SUCCESS", "") => Ok((LineKind::Payment, LineStatus::Succeeded)),
        ("REVOKED", "") => Ok((LineKind::Payment, LineStatus::Reversed)),
        ("REFUND", "SUCCESS") => Ok((LineKind::Refund, LineStatus::Succeeded)),
        ("REFUND", "REFUNDCLOSE" | "FAIL") => Ok((LineKind::Refund, LineStatus::Failed)),
        ("REFUND", other) => {
            Err(row.fail(REFUND_STATUS, format!("unknown refund status {other:?}")))
        }
        (other, _) => Err(row.fail(
            TRADE_STATE,
            format!("unknown or unsupported trade state {other:?}"),
        )),
    }
}

/// The row's amount and fee (minor units, the model's signs), its amount columns checked against
/// each other and added to the sums the summary states.
fn amounts(
    row: &Row,
    kind: LineKind,
    status: LineStatus,
    sums: &mut Sums,
) -> Result<(i64, i64), BillError> {
    let payment = kind == LineKind::Payment;
    let succeeded = status == LineStatus::Succeeded;
    let settlement = row.decimal(SETTLEMENT, 2)?;
    let refund = row.decimal(REFUND, 2)?;
    let fee_cell = row.decimal(FEE, 2)?;
    let order = row.decimal(ORDER_AMOUNT, 2)?;
    let refund_applied = row.decimal(REFUND_APPLIED, 2)?;
    row.expect_eq(COUPON, row.decimal(COUPON, 2)?, 0)?;
    row.expect_eq(COUPON_REFUND, row.decimal(COUPON_REFUND, 2)?, 0)?;
    let amount = if payment { order } else { refund_applied };
    row.expect_eq(
        SETTLEMENT,
        settlement,
        if payment && succeeded { amount } else { 0 },
    )?;
    row.expect_eq(
        REFUND,
        refund,
        if !payment && succeeded { amount } else { 0 },
    )?;
    let (other_column, other) = if payment {
        (REFUND_APPLIED, refund_applied)
    } else {
        (ORDER_AMOUNT, order)
    };
    row.expect_eq(other_column, other, 0)?;
    sums.settlement = sums.settlement.saturating_add(settlement);
    sums.refund = sums.refund.saturating_add(refund);
    sums.fee = sums.fee.saturating_add(fee_cell);
    sums.order = sums.order.saturating_add(order);
    sums.refund_applied = sums.refund_applied.saturating_add(refund_applied);
    Ok((amount, if payment { fee_cell } else { -fee_cell }))
}

fn parse_line(
    row: &Row,
    account: &str,
    offset: i32,
    sums: &mut Sums,
) -> Result<BillLine, BillError> {
    row.check_width()?;
    row.literal(MCH_ID, account)?;
    row.literal(CURRENCY, "CNY")?;
    let (kind, status) = kind_status(row)?;
    let payment = kind == LineKind::Payment;
    let (amount_minor, fee_minor) = amounts(row, kind, status, sums)?;
    let (refund_id, channel_refund_no) = if payment {
        row.literal(REFUND_ID, NONE)?;
        row.literal(OUT_REFUND_NO, NONE)?;
        (0, String::new())
    } else {
        (row.refund_id(OUT_REFUND_NO)?, row.ident(REFUND_ID)?)
    };
    let line = BillLine {
        line_no: row.line,
        kind,
        status,
        channel_trade_no: row.ident(TRANSACTION_ID)?,
        out_trade_no: row.ident(OUT_TRADE_NO)?,
        refund_id,
        channel_refund_no,
        amount_minor,
        fee_minor,
        currency: CNY,
        at_ns: row.time(TIME, b'-', offset)?,
        batch: String::new(),
    };
    check_line(Format::WechatAll, &line)
        .map_err(|fault| row.fault(column_of(fault, payment), fault))?;
    Ok(line)
}

fn column_of(fault: LineFault, payment: bool) -> usize {
    match fault {
        LineFault::Status => TRADE_STATE,
        LineFault::Amount if payment => ORDER_AMOUNT,
        LineFault::Amount => REFUND_APPLIED,
        LineFault::Fee => FEE,
        LineFault::Currency => CURRENCY,
        LineFault::TradeNo => TRANSACTION_ID,
        LineFault::OutTradeNo => OUT_TRADE_NO,
        LineFault::RefundId => OUT_REFUND_NO,
        LineFault::RefundNo | LineFault::Batch => REFUND_ID,
    }
}

fn parse_summary<'a>(
    errors: Errors<'_>,
    mut rows: impl Iterator<Item = (u32, &'a str)>,
    header_line: u32,
    sums: &Sums,
    cells: &mut Vec<Cow<'a, str>>,
) -> Result<Totals, BillError> {
    let Some((line_no, text)) = rows.next() else {
        return Err(errors.at(
            header_line + 1,
            "(summary)",
            "the summary header or row is missing",
        ));
    };
    backtick_cells(errors, line_no, text, &SUMMARY_COLUMNS, cells)?;
    let row = Row {
        errors,
        line: line_no,
        columns: &SUMMARY_COLUMNS,
        cells,
    };
    row.check_width()?;
    let totals = Totals {
        lines: row.integer(0)?,
        paid_minor: row.decimal(1, 2)?,
        refunded_minor: row.decimal(2, 2)?,
        fees_minor: row.decimal(4, 2)?,
    };
    row.expect_eq(1, totals.paid_minor, sums.settlement)?;
    row.expect_eq(2, totals.refunded_minor, sums.refund)?;
    row.expect_eq(3, row.decimal(3, 2)?, 0)?;
    row.expect_eq(4, totals.fees_minor, sums.fee)?;
    row.expect_eq(5, row.decimal(5, 2)?, sums.order)?;
    row.expect_eq(6, row.decimal(6, 2)?, sums.refund_applied)?;
    if let Some((extra, _)) = rows.next() {
        return Err(errors.at(extra, "(row)", "text after the summary row"));
    }
    Ok(totals)
}
