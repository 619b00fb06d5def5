//! UnionPay's acquiring reconciliation file of the online (全渠道) platform: the merchant's
//! transaction-detail file (`INN<yymmdd>88ZM_<merId>`, in the zip `fileTransfer` returns, file
//! type 00). One fixed-width record per line, the fields below separated by one space; ASCII;
//! amounts in fen. The record ends in a 131-character reserved field that Sluice neither writes
//! nor reads. docs/BILLS.md cites the layout and says which fields Sluice relies on.

use std::fmt::Write as _;

use crate::currency::CNY;
use crate::model::{Bill, BillError, BillLine, Format, LineKind, LineStatus, Totals};
use crate::rules::{LineFault, assert_writable, check_line};
use crate::text::{Civil, Errors, base_name, day_of, digits, is_ident, lines, parse_refund_id};

/// The fields of a record: name and width, in order.
pub const FIELDS: [(&str, usize); 40] = [
    ("交易代码", 3),
    ("代理机构标识码", 11),
    ("发送机构标识码", 11),
    ("系统跟踪号", 6),
    ("交易传输时间", 10),
    ("账号", 19),
    ("交易金额", 12),
    ("商户类别", 4),
    ("终端类型", 2),
    ("查询流水号", 21),
    ("支付方式（旧）", 2),
    ("商户订单号", 32),
    ("支付卡类型", 2),
    ("原始交易的系统跟踪号", 6),
    ("原始交易日期时间", 10),
    ("商户手续费", 13),
    ("结算金额", 13),
    ("支付方式", 4),
    ("集团商户代码", 15),
    ("交易类型", 2),
    ("交易子类", 2),
    ("业务类型", 6),
    ("账号类型", 2),
    ("账单类型", 4),
    ("账单号码", 32),
    ("交互方式", 1),
    ("原交易查询流水号", 21),
    ("商户代码", 15),
    ("分账入账方式", 1),
    ("二级商户代码", 15),
    ("二级商户简称", 32),
    ("二级商户分账入账金额", 13),
    ("清算净额", 13),
    ("终端号", 8),
    ("商户自定义域", 32),
    ("优惠金额", 13),
    ("发票金额", 13),
    ("分期付款附加手续费", 12),
    ("分期付款期数", 2),
    ("交易介质", 1),
];

const fn record_len() -> usize {
    let mut total = FIELDS.len() - 1;
    let mut i = 0;
    while i < FIELDS.len() {
        total += FIELDS[i].1;
        i += 1;
    }
    total
}

/// Bytes in a record, separators included.
pub const RECORD_LEN: usize = record_len();
const _: () = assert!(RECORD_LEN == 475);

const TRADE_CODE: usize = 0;
const TRACE_NO: usize = 3;
const TIME: usize = 4;
const AMOUNT: usize = 6;
const QUERY_ID: usize = 9;
const ORDER_ID: usize = 11;
const FEE: usize = 15;
const SETTLE: usize = 16;
const TXN_TYPE: usize = 19;
const ORIG_QUERY_ID: usize = 26;
const MER_ID: usize = 27;
const NET: usize = 32;
const RESERVED: usize = 34;

/// Sluice's constants for the fields it does not read (index, value).
const CONSTANTS: [(usize, &str); 11] = [
    (1, "00049990000"),
    (2, "00049990000"),
    (5, "6212********0000"),
    (7, "5411"),
    (8, "07"),
    (12, "01"),
    (17, "0001"),
    (21, "000201"),
    (22, "01"),
    (38, "00"),
    (39, "0"),
];

/// The customary name: `INN<yymmdd>88ZM_<merId>`.
pub fn file_name(account: &str, day: u32) -> String {
    let c = Civil::of_day(day);
    format!(
        "INN{:02}{:02}{:02}88ZM_{account}",
        c.year % 100,
        c.month,
        c.day
    )
}

fn name_parts(file: &str) -> Option<(&str, u32)> {
    let rest = base_name(file).strip_prefix("INN")?;
    let (date, account) = (rest.get(..6)?, rest.get(6..)?.strip_prefix("88ZM_")?);
    let civil = Civil::parse_compact_date(&format!("20{date}"))?;
    Some((account, day_of(&civil)?))
}

/// Whether a line has a record's shape (its length and separators).
pub fn looks_like(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut at = 0;
    line.len() == RECORD_LEN
        && FIELDS[..FIELDS.len() - 1].iter().all(|(_, width)| {
            at += width + 1;
            line[at - 1] == b' '
        })
}

/// A signed amount as the layout writes it: `C` (to the merchant) or `D`, then 12 digits.
fn write_signed(out: &mut String, value: i64) {
    let _ = write!(
        out,
        "{}{:012}",
        if value < 0 { 'D' } else { 'C' },
        value.unsigned_abs()
    );
}

fn parse_signed(text: &str) -> Option<i64> {
    let (sign, rest) = (text.as_bytes().first()?, text.get(1..)?);
    let value = i64::try_from(crate::text::parse_u64(rest)?).ok()?;
    match sign {
        b'C' => Some(value),
        b'D' => Some(-value),
        _ => None,
    }
}

/// The fields of one line's record, unpadded.
fn fields_of<'a>(bill: &'a Bill, line: &'a BillLine, index: usize) -> [String; 40] {
    let mut f: [String; 40] = std::array::from_fn(|_| String::new());
    for (i, value) in CONSTANTS {
        f[i] = value.to_string();
    }
    let (code, txn_type, sub_type) = match (line.kind, line.status) {
        (LineKind::Payment, LineStatus::Reversed) => ("S32", "31", "00"),
        (LineKind::Payment, _) => ("S22", "01", "01"),
        (LineKind::Refund, _) => ("S33", "04", "00"),
    };
    let time = Civil::of(line.at_ns, bill.utc_offset_min);
    let net = match (line.kind, line.status) {
        (_, LineStatus::Reversed | LineStatus::Failed) => 0,
        (LineKind::Payment, _) => line.amount_minor - line.fee_minor,
        (LineKind::Refund, _) => line.fee_minor - line.amount_minor,
    };
    let signed = |value: i64| {
        let mut s = String::new();
        write_signed(&mut s, value);
        s
    };
    let fee = signed(if line.kind == LineKind::Payment {
        -line.fee_minor
    } else {
        line.fee_minor
    });
    let (settle, net) = (signed(net), signed(net));
    f[TRADE_CODE] = code.into();
    f[TRACE_NO] = format!("{:06}", (index + 1) % 1_000_000);
    f[TIME] = format!(
        "{:02}{:02}{:02}{:02}{:02}",
        time.month, time.day, time.hour, time.minute, time.second
    );
    f[AMOUNT] = format!("{:012}", line.amount_minor);
    f[FEE] = fee;
    f[SETTLE] = settle;
    f[NET] = net;
    f[TXN_TYPE] = txn_type.into();
    f[20] = sub_type.into();
    f[MER_ID] = bill.account.clone();
    f[35] = format!("{:013}", 0);
    f[36] = format!("{:013}", 0);
    f[37] = format!("{:012}", 0);
    match line.kind {
        LineKind::Payment => {
            f[QUERY_ID] = line.channel_trade_no.clone();
            f[ORDER_ID] = line.out_trade_no.clone();
            if line.status == LineStatus::Reversed {
                f[ORIG_QUERY_ID] = line.channel_trade_no.clone();
            }
        }
        LineKind::Refund => {
            f[QUERY_ID] = line.channel_refund_no.clone();
            f[ORDER_ID] = line.refund_id.to_string();
            f[ORIG_QUERY_ID] = line.channel_trade_no.clone();
            f[RESERVED] = line.out_trade_no.clone();
        }
    }
    f
}

pub fn write(bill: &Bill) -> Vec<u8> {
    assert_writable(bill, Format::UnionPay);
    let mut out = String::with_capacity(bill.lines.len() * (RECORD_LEN + 1));
    for (index, line) in bill.lines.iter().enumerate() {
        let fields = fields_of(bill, line, index);
        for (i, ((_, width), value)) in FIELDS.iter().zip(&fields).enumerate() {
            assert!(value.len() <= *width, "{} exceeds its width", FIELDS[i].0);
            let _ = write!(out, "{value:<width$}", width = *width);
            out.push(if i + 1 == FIELDS.len() { '\n' } else { ' ' });
        }
    }
    out.into_bytes()
}

/// One record's fields, trailing spaces trimmed.
struct Record<'a> {
    errors: Errors<'a>,
    line: u32,
    fields: [&'a str; 40],
}

impl Record<'_> {
    fn fail(&self, field: usize, message: impl Into<String>) -> BillError {
        self.errors.at(self.line, FIELDS[field].0, message)
    }

    fn number(&self, field: usize) -> Result<i64, BillError> {
        let text = self.fields[field];
        let ok = text.len() == FIELDS[field].1 && text.bytes().all(|c| c.is_ascii_digit());
        ok.then(|| text.parse().ok())
            .flatten()
            .ok_or_else(|| self.fail(field, format!("{text:?} is not {} digits", FIELDS[field].1)))
    }

    fn signed(&self, field: usize) -> Result<i64, BillError> {
        parse_signed(self.fields[field])
            .ok_or_else(|| self.fail(field, "expected C or D and 12 digits"))
    }

    fn ident(&self, field: usize) -> Result<String, BillError> {
        let text = self.fields[field];
        is_ident(text)
            .then(|| text.to_string())
            .ok_or_else(|| self.fail(field, format!("{text:?} is not an identifier")))
    }

    fn expect(&self, field: usize, expected: &str) -> Result<(), BillError> {
        let text = self.fields[field];
        (text == expected)
            .then_some(())
            .ok_or_else(|| self.fail(field, format!("{text:?}, expected {expected:?}")))
    }
}

fn split_record<'a>(
    errors: Errors<'a>,
    line_no: u32,
    text: &'a str,
) -> Result<Record<'a>, BillError> {
    if text.len() != RECORD_LEN || !text.is_ascii() {
        let message = format!(
            "a record is {RECORD_LEN} ASCII characters, this line {} bytes",
            text.len()
        );
        return Err(errors.at(line_no, "(record)", message));
    }
    let mut fields = [""; 40];
    let mut at = 0;
    for (i, (name, width)) in FIELDS.iter().enumerate() {
        fields[i] = text[at..at + width].trim_end_matches(' ');
        at += width;
        if i + 1 < FIELDS.len() {
            if text.as_bytes()[at] != b' ' {
                return Err(errors.at(line_no, name, "the field is not followed by a space"));
            }
            at += 1;
        }
    }
    Ok(Record {
        errors,
        line: line_no,
        fields,
    })
}

/// The time of `MMDDhhmmss`, in the year that puts it nearest to the bill day.
fn record_time(record: &Record, day: u32, offset: i32) -> Result<u64, BillError> {
    let b = record.fields[TIME].as_bytes();
    let part = |i: usize| b.get(i..i + 2).and_then(digits);
    let parts = (b.len() == 10)
        .then(|| Some((part(0)?, part(2)?, part(4)?, part(6)?, part(8)?)))
        .flatten();
    let bill_year = Civil::of_day(day).year;
    let best = parts.and_then(|(month, d, hour, minute, second)| {
        (bill_year - 1..=bill_year + 1)
            .map(|year| Civil {
                year,
                month,
                day: d,
                hour,
                minute,
                second,
            })
            .filter(Civil::is_valid)
            .min_by_key(|c| (c.day_number() - i64::from(day)).abs())
    });
    best.and_then(|c| c.at_ns(offset)).ok_or_else(|| {
        record.fail(
            TIME,
            format!("{:?} is not a valid MMDDhhmmss", record.fields[TIME]),
        )
    })
}

/// The record's identifiers: (out_trade_no, refund id, the trade's query id, the refund's).
/// A refund is a transaction of its own at UnionPay: its 商户订单号 is the refund id, its
/// 原交易查询流水号 the payment's query id, and Sluice's out_trade_no rides in 商户自定义域.
fn record_ids(
    record: &Record,
    kind: LineKind,
    status: LineStatus,
) -> Result<(String, u64, String, String), BillError> {
    if kind == LineKind::Payment {
        let channel = record.ident(QUERY_ID)?;
        let orig_expected = if status == LineStatus::Reversed {
            channel.as_str()
        } else {
            ""
        };
        record.expect(ORIG_QUERY_ID, orig_expected)?;
        record.expect(RESERVED, "")?;
        return Ok((record.ident(ORDER_ID)?, 0, channel, String::new()));
    }
    let refund_id = parse_refund_id(record.fields[ORDER_ID])
        .ok_or_else(|| record.fail(ORDER_ID, "not a refund id"))?;
    Ok((
        record.ident(RESERVED)?,
        refund_id,
        record.ident(ORIG_QUERY_ID)?,
        record.ident(QUERY_ID)?,
    ))
}

fn parse_record(
    record: &Record,
    account: &str,
    day: u32,
    offset: i32,
) -> Result<BillLine, BillError> {
    let (kind, status, code) = match record.fields[TXN_TYPE] {
        "01" => (LineKind::Payment, LineStatus::Succeeded, "S22"),
        "31" => (LineKind::Payment, LineStatus::Reversed, "S32"),
        "04" => (LineKind::Refund, LineStatus::Succeeded, "S33"),
        other => {
            return Err(record.fail(
                TXN_TYPE,
                format!("unknown or unsupported transaction type {other:?}"),
            ));
        }
    };
    record.expect(TRADE_CODE, code)?;
    record.expect(MER_ID, account)?;
    record.number(TRACE_NO)?;
    let amount = record.number(AMOUNT)?;
    let fee_signed = record.signed(FEE)?;
    let payment = kind == LineKind::Payment;
    let fee = if payment { -fee_signed } else { fee_signed };
    let expected_net = match (kind, status) {
        (_, LineStatus::Reversed) => 0,
        (LineKind::Payment, _) => amount - fee,
        (LineKind::Refund, _) => fee - amount,
    };
    for field in [SETTLE, NET] {
        let got = record.signed(field)?;
        if got != expected_net {
            return Err(record.fail(
                field,
                format!("{got} fen, the record implies {expected_net}"),
            ));
        }
    }
    let (out_trade_no, refund_id, channel_trade_no, channel_refund_no) =
        record_ids(record, kind, status)?;
    let line = BillLine {
        line_no: record.line,
        kind,
        status,
        channel_trade_no,
        out_trade_no,
        refund_id,
        channel_refund_no,
        amount_minor: amount,
        fee_minor: fee,
        currency: CNY,
        at_ns: record_time(record, day, offset)?,
        batch: String::new(),
    };
    check_line(Format::UnionPay, &line)
        .map_err(|fault| record.fail(field_of(fault, payment), fault.to_string()))?;
    Ok(line)
}

fn field_of(fault: LineFault, payment: bool) -> usize {
    match fault {
        LineFault::Status => TXN_TYPE,
        LineFault::Amount | LineFault::Currency => AMOUNT,
        LineFault::Fee => FEE,
        LineFault::TradeNo if payment => QUERY_ID,
        LineFault::TradeNo => ORIG_QUERY_ID,
        LineFault::OutTradeNo if payment => ORDER_ID,
        LineFault::OutTradeNo => RESERVED,
        LineFault::RefundId | LineFault::Batch => ORDER_ID,
        LineFault::RefundNo => QUERY_ID,
    }
}

pub fn parse(file: &str, bytes: &[u8]) -> Result<Bill, BillError> {
    let errors = Errors { file };
    let text = crate::utf8(errors, bytes)?;
    let (account, day) = name_parts(file)
        .filter(|(a, _)| crate::rules::account_ok(Format::UnionPay, a))
        .ok_or_else(|| {
            errors.at(
                0,
                "(file name)",
                "expected INN<yymmdd>88ZM_<merId> (the file states no day)",
            )
        })?;
    let offset = Format::UnionPay.published_utc_offset_min().unwrap_or(480);
    let mut parsed = Vec::new();
    for (line_no, line) in lines(text) {
        let record = split_record(errors, line_no, line)?;
        parsed.push(parse_record(&record, account, day, offset)?);
    }
    Ok(Bill {
        format: Format::UnionPay,
        account: account.to_string(),
        day,
        utc_offset_min: offset,
        totals: Totals::of(&parsed),
        lines: parsed,
    })
}
