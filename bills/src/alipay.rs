//! Alipay's merchant trade detail bill (业务明细), the CSV inside the zip that
//! `alipay.data.dataservice.bill.downloadurl.query` (bill_type `trade`) points to: GBK, `#` header
//! lines (account, period), a header row, detail rows, `#` footer lines with the trade and refund
//! totals. Amounts in yuan with two decimals; times in Beijing time. docs/BILLS.md cites the
//! layout and maps each column.

use std::borrow::Cow;
use std::fmt::Write as _;

use encoding_rs::GBK;

use crate::currency::CNY;
use crate::model::{Bill, BillError, BillLine, Format, LineKind, LineStatus, Totals};
use crate::row::Row;
use crate::rules::{LineFault, assert_writable, check_line};
use crate::text::{Civil, Errors, day_of, split_csv, write_decimal};

pub const COLUMNS: [&str; 25] = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
];

pub const TITLE: &str = "#支付宝业务明细查询";
const LIST_START: &str = "#-----------------------------------------业务明细列表----------------------------------------";
const LIST_END: &str = "#-----------------------------------------业务明细列表结束------------------------------------";

const TRADE_NO: usize = 0;
const OUT_TRADE_NO: usize = 1;
const BUSINESS: usize = 2;
const CREATED: usize = 4;
const FINISHED: usize = 5;
const ORDER_AMOUNT: usize = 11;
const RECEIVED: usize = 12;
/// 支付宝红包 … 券核销金额, and 商家红包消费金额, 卡消费金额, 分润: discounts Sluice does not use,
/// written and required as 0.00.
const ZERO_COLUMNS: [usize; 8] = [13, 14, 15, 16, 17, 19, 20, 23];
const REFUND_REQUEST: usize = 21;
const SERVICE_FEE: usize = 22;

/// The customary name of the CSV in the zip: `<account>_<yyyymmdd>_业务明细.csv`.
pub fn file_name(account: &str, day: u32) -> String {
    let mut name = format!("{account}_");
    Civil::of_day(day).write_compact_date(&mut name);
    name.push_str("_业务明细.csv");
    name
}

/// `2026年12月05日 00:00:00`.
fn write_cn_time(out: &mut String, c: &Civil) {
    let _ = write!(
        out,
        "{:04}年{:02}月{:02}日 {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
}

fn parse_cn_time(text: &str) -> Option<Civil> {
    let (year, rest) = text.split_once('年')?;
    let (month, rest) = rest.split_once('月')?;
    let (day, time) = rest.split_once("日 ")?;
    let iso = format!("{year}-{month}-{day} {time}");
    Civil::parse(&iso, b'-')
}

pub fn write(bill: &Bill) -> Vec<u8> {
    assert_writable(bill, Format::AlipayDetail);
    let mut out = String::with_capacity(bill.lines.len() * 160 + 1024);
    let start = Civil::of_day(bill.day);
    let end = Civil::of_day(bill.day + 1);
    let _ = writeln!(out, "{TITLE}\n#账号：[{}]", bill.account);
    out.push_str("#起始日期：[");
    write_cn_time(&mut out, &start);
    out.push_str("]   终止日期：[");
    write_cn_time(&mut out, &end);
    let _ = writeln!(out, "]\n{LIST_START}\n{}", COLUMNS.join(","));
    for line in &bill.lines {
        write_line(&mut out, bill, line);
    }
    // The footer counts each kind. The refunds are the rows'; the payments are the stated line
    // count less them, so that a bill whose totals disagree with its rows is written as such.
    let refunds = bill
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::Refund)
        .count() as u64;
    let payments = bill.totals.lines.saturating_sub(refunds);
    let _ = write!(out, "{LIST_END}\n#交易合计：{payments}笔，商家实收共");
    write_decimal(&mut out, bill.totals.paid_minor, 2);
    let _ = write!(
        out,
        "元，商家优惠共0.00元\n#退款合计：{refunds}笔，商家实收退款共"
    );
    write_decimal(&mut out, -bill.totals.refunded_minor, 2);
    out.push_str("元，商家优惠退款共0.00元\n#导出时间：[");
    write_cn_time(&mut out, &Civil { hour: 9, ..end });
    out.push_str("]\n");
    let (bytes, _, unmappable) = GBK.encode(&out);
    assert!(!unmappable, "every character Sluice writes is in GBK");
    bytes.into_owned()
}

fn write_line(out: &mut String, bill: &Bill, line: &BillLine) {
    let payment = line.kind == LineKind::Payment;
    let time = Civil::of(line.at_ns, bill.utc_offset_min);
    let _ = write!(
        out,
        "{},{},{},,",
        line.channel_trade_no,
        line.out_trade_no,
        if payment { "交易" } else { "退款" }
    );
    time.write(out, '-');
    out.push(',');
    time.write(out, '-');
    out.push_str(",,,,,,");
    write_decimal(out, line.amount_minor, 2);
    out.push(',');
    write_decimal(
        out,
        if payment {
            line.amount_minor
        } else {
            -line.amount_minor
        },
        2,
    );
    out.push_str(",0.00,0.00,0.00,0.00,0.00,,0.00,0.00,");
    if !payment {
        let _ = write!(out, "{}", line.refund_id);
    }
    out.push(',');
    write_decimal(
        out,
        if payment {
            -line.fee_minor
        } else {
            line.fee_minor
        },
        2,
    );
    out.push_str(",0.00,\n");
}

/// The lines of a file as bytes, numbered from 1, without `\n` or a trailing `\r`.
fn byte_lines(bytes: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let empty = bytes.is_empty();
    body.split(|&b| b == b'\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, l)| {
            (
                u32::try_from(i + 1).unwrap_or(u32::MAX),
                l.strip_suffix(b"\r").unwrap_or(l),
            )
        })
}

/// One line decoded from GBK.
fn decode_line(errors: Errors<'_>, line_no: u32, bytes: &[u8]) -> Result<String, BillError> {
    GBK.decode_without_bom_handling_and_without_replacement(bytes)
        .map(|text| text.into_owned())
        .ok_or_else(|| errors.at(line_no, "(encoding)", "not GBK text"))
}

/// A detail row's cells, trimmed of the tabs and spaces Alipay pads some with (the trade numbers,
/// so that a spreadsheet keeps them as text). GBK keeps ASCII as ASCII and never uses a comma as
/// the second byte of a character, so the row splits on commas before decoding, and only cells
/// that are not ASCII (a business type, a goods name) are decoded: a whole-file decode cost as
/// much as the rest of the parse. A row with a quote is decoded whole and split as CSV.
fn row_cells<'a>(
    errors: Errors<'_>,
    line_no: u32,
    bytes: &'a [u8],
    cells: &mut Vec<Cow<'a, str>>,
) -> Result<(), BillError> {
    const PAD: [char; 2] = [' ', '\t'];
    cells.clear();
    if bytes.contains(&b'"') {
        let text = decode_line(errors, line_no, bytes)?;
        let mut borrowed = Vec::new();
        split_csv(&text, &mut borrowed).map_err(|m| errors.at(line_no, "(row)", m))?;
        cells.extend(
            borrowed
                .into_iter()
                .map(|c| Cow::Owned(c.trim_matches(PAD).to_string())),
        );
        return Ok(());
    }
    for (i, cell) in bytes.split(|&b| b == b',').enumerate() {
        let text = GBK
            .decode_without_bom_handling_and_without_replacement(cell)
            .ok_or_else(|| {
                errors.at(
                    line_no,
                    COLUMNS.get(i).copied().unwrap_or("(row)"),
                    "not GBK text",
                )
            })?;
        cells.push(match text {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim_matches(PAD)),
            Cow::Owned(s) => Cow::Owned(s.trim_matches(PAD).to_string()),
        });
    }
    Ok(())
}

/// What the `#` header states.
struct Header {
    account: String,
    day: u32,
}

fn parse_header<'a>(
    errors: Errors<'_>,
    rows: &mut impl Iterator<Item = (u32, &'a str)>,
) -> Result<Header, BillError> {
    let mut next = |field: &str| {
        rows.next()
            .ok_or_else(|| errors.at(0, field, "the file ends in its header"))
    };
    let (n, title) = next("#title")?;
    if title != TITLE {
        return Err(errors.at(n, "#title", format!("expected {TITLE:?}")));
    }
    let (n, account_line) = next("#账号")?;
    let account = account_line
        .strip_prefix("#账号：[")
        .and_then(|r| r.strip_suffix(']'))
        .filter(|a| crate::rules::account_ok(Format::AlipayDetail, a))
        .ok_or_else(|| errors.at(n, "#账号", "expected #账号：[<account>]"))?;
    let (n, period) = next("#起始日期")?;
    let day = parse_period(period).ok_or_else(|| {
        errors.at(
            n,
            "#起始日期",
            "expected #起始日期：[<day> 00:00:00]   终止日期：[<next day> 00:00:00]",
        )
    })?;
    let (n, start) = next("#list start")?;
    if start != LIST_START {
        return Err(errors.at(n, "#list start", format!("expected {LIST_START:?}")));
    }
    let (n, header) = next("(header)")?;
    crate::expect_header(errors, n, header, &COLUMNS)?;
    Ok(Header {
        account: account.to_string(),
        day,
    })
}

fn parse_period(text: &str) -> Option<u32> {
    let rest = text.strip_prefix("#起始日期：[")?;
    let (start, rest) = rest.split_once("]   终止日期：[")?;
    let end = rest.strip_suffix(']')?;
    let (start, end) = (parse_cn_time(start)?, parse_cn_time(end)?);
    let midnight = |c: &Civil| c.hour == 0 && c.minute == 0 && c.second == 0;
    let day = day_of(&start)?;
    (midnight(&start) && midnight(&end) && end.day_number() == start.day_number() + 1)
        .then_some(day)
}

pub fn parse(file: &str, bytes: &[u8]) -> Result<Bill, BillError> {
    let errors = Errors { file };
    let offset = Format::AlipayDetail
        .published_utc_offset_min()
        .unwrap_or(480);
    let mut rows = byte_lines(bytes);
    let head: Vec<(u32, String)> = rows
        .by_ref()
        .take(5)
        .map(|(n, l)| decode_line(errors, n, l).map(|t| (n, t)))
        .collect::<Result<_, _>>()?;
    let header = parse_header(errors, &mut head.iter().map(|(n, t)| (*n, t.as_str())))?;
    let (list_end, _, _) = GBK.encode(LIST_END);
    let mut cells = Vec::with_capacity(COLUMNS.len());
    let mut parsed = Vec::new();
    let mut footer_line = 0;
    for (line_no, bytes) in rows.by_ref() {
        if bytes == list_end.as_ref() {
            footer_line = line_no;
            break;
        }
        row_cells(errors, line_no, bytes, &mut cells)?;
        let row = Row {
            errors,
            line: line_no,
            columns: &COLUMNS,
            cells: &cells,
        };
        parsed.push(parse_line(&row, offset)?);
    }
    if footer_line == 0 {
        return Err(errors.at(0, "#list end", "the list's end line is missing"));
    }
    // The footer is three lines; a fourth is an error, so no more than four are decoded.
    let tail: Vec<(u32, String)> = rows
        .take(4)
        .map(|(n, l)| decode_line(errors, n, l).map(|t| (n, t)))
        .collect::<Result<_, _>>()?;
    let tail_lines = tail.iter().map(|(n, t)| (*n, t.as_str()));
    let totals = parse_footer(errors, tail_lines, footer_line, &parsed)?;
    Ok(Bill {
        format: Format::AlipayDetail,
        account: header.account,
        day: header.day,
        utc_offset_min: offset,
        lines: parsed,
        totals,
    })
}

fn parse_line(row: &Row, offset: i32) -> Result<BillLine, BillError> {
    row.check_width()?;
    let kind = match row.text(BUSINESS) {
        "交易" => LineKind::Payment,
        "退款" => LineKind::Refund,
        other => return Err(row.fail(BUSINESS, format!("unknown business type {other:?}"))),
    };
    let payment = kind == LineKind::Payment;
    for column in ZERO_COLUMNS {
        row.expect_eq(column, row.decimal(column, 2)?, 0)?;
    }
    let amount = row.decimal(ORDER_AMOUNT, 2)?;
    let received = row.decimal(RECEIVED, 2)?;
    row.expect_eq(RECEIVED, received, if payment { amount } else { -amount })?;
    let service_fee = row.decimal(SERVICE_FEE, 2)?;
    row.time(CREATED, b'-', offset)?;
    let refund_id = if payment {
        row.literal(REFUND_REQUEST, "")?;
        0
    } else {
        row.refund_id(REFUND_REQUEST)?
    };
    let line = BillLine {
        line_no: row.line,
        kind,
        status: LineStatus::Succeeded,
        channel_trade_no: row.ident(TRADE_NO)?,
        out_trade_no: row.ident(OUT_TRADE_NO)?,
        refund_id,
        channel_refund_no: String::new(),
        amount_minor: amount,
        fee_minor: if payment { -service_fee } else { service_fee },
        currency: CNY,
        at_ns: row.time(FINISHED, b'-', offset)?,
        batch: String::new(),
    };
    check_line(Format::AlipayDetail, &line).map_err(|fault| row.fault(column_of(fault), fault))?;
    Ok(line)
}

fn column_of(fault: LineFault) -> usize {
    match fault {
        LineFault::Status => BUSINESS,
        LineFault::Amount | LineFault::Currency => ORDER_AMOUNT,
        LineFault::Fee => SERVICE_FEE,
        LineFault::TradeNo => TRADE_NO,
        LineFault::OutTradeNo => OUT_TRADE_NO,
        LineFault::RefundId | LineFault::RefundNo | LineFault::Batch => REFUND_REQUEST,
    }
}

/// `<prefix>N笔，<label>共X元，<discount>共0.00元`: (N, X in fen).
fn parse_total(text: &str, prefix: &str, label: &str, discount: &str) -> Option<(u64, i64)> {
    let rest = text.strip_prefix(prefix)?;
    let (count, rest) = rest.split_once("笔，")?;
    let rest = rest.strip_prefix(label)?.strip_prefix('共')?;
    let (amount, rest) = rest.split_once("元，")?;
    (rest == format!("{discount}共0.00元")).then_some(())?;
    Some((
        crate::text::parse_u64(count)?,
        crate::text::parse_decimal(amount, 2)?,
    ))
}

fn parse_footer<'a>(
    errors: Errors<'_>,
    mut rows: impl Iterator<Item = (u32, &'a str)>,
    end_line: u32,
    parsed: &[BillLine],
) -> Result<Totals, BillError> {
    let mut next = |field: &str| {
        rows.next()
            .ok_or_else(|| errors.at(end_line + 1, field, "the footer is cut short"))
    };
    let (n, trades) = next("#交易合计")?;
    let (payments, paid) =
        parse_total(trades, "#交易合计：", "商家实收", "商家优惠").ok_or_else(|| {
            errors.at(
                n,
                "#交易合计",
                "expected #交易合计：N笔，商家实收共X元，商家优惠共0.00元",
            )
        })?;
    let (r, refund_line) = next("#退款合计")?;
    let (refund_count, refunded) =
        parse_total(refund_line, "#退款合计：", "商家实收退款", "商家优惠退款").ok_or_else(
            || {
                errors.at(
                    r,
                    "#退款合计",
                    "expected #退款合计：N笔，商家实收退款共-X元，商家优惠退款共0.00元",
                )
            },
        )?;
    let (e, exported) = next("#导出时间")?;
    let export_ok = exported
        .strip_prefix("#导出时间：[")
        .and_then(|t| t.strip_suffix(']'))
        .and_then(parse_cn_time)
        .is_some();
    if !export_ok {
        return Err(errors.at(e, "#导出时间", "expected #导出时间：[<time>]"));
    }
    if let Some((extra, _)) = rows.next() {
        return Err(errors.at(extra, "(row)", "text after the footer"));
    }
    let counted = Totals::of(parsed);
    let refund_rows = parsed.iter().filter(|l| l.kind == LineKind::Refund).count() as u64;
    if refund_count != refund_rows {
        return Err(errors.at(
            r,
            "#退款合计",
            format!("{refund_count} refunds stated, {refund_rows} rows"),
        ));
    }
    let totals = Totals {
        lines: payments.saturating_add(refund_count),
        paid_minor: paid,
        refunded_minor: -refunded,
        // The layout totals no fees: the rows' sum is all there is.
        fees_minor: counted.fees_minor,
    };
    crate::check_totals(errors, n, parsed, &totals, "#交易合计/#退款合计")?;
    Ok(totals)
}
