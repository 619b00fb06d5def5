//! A malformed bill is refused whole, with the file, the 1-based line and the column at fault.

use sluice_bills::sample::random_bill;
use sluice_bills::{BillError, Format, file_name, parse, write};

/// A small valid bill of `format` as text (Alipay's decoded from GBK), and its file name.
fn sample(format: Format) -> (String, String) {
    let bill = random_bill(format, 5, 8);
    let bytes = write(&bill);
    let text = match format {
        Format::AlipayDetail => encoding_rs::GBK.decode(&bytes).0.into_owned(),
        _ => String::from_utf8(bytes).expect("UTF-8"),
    };
    (file_name(format, &bill.account, bill.day), text)
}

fn encode(format: Format, text: &str) -> Vec<u8> {
    match format {
        Format::AlipayDetail => encoding_rs::GBK.encode(text).0.into_owned(),
        _ => text.as_bytes().to_vec(),
    }
}

/// The text with line `line_no` (1-based) replaced by what `edit` makes of it.
fn edit_line(text: &str, line_no: usize, edit: impl Fn(&str) -> String) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[line_no - 1] = edit(&lines[line_no - 1]);
    lines.join("\n") + "\n"
}

/// Line `line` with its comma-separated cell `index` set to `value`.
fn set_cell(line: &str, index: usize, value: &str) -> String {
    let mut cells: Vec<&str> = line.split(',').collect();
    cells[index] = value;
    cells.join(",")
}

fn refused(format: Format, name: &str, text: &str) -> BillError {
    match parse(name, &encode(format, text), Some(format)) {
        Ok(bill) => panic!(
            "{} accepted a malformed bill: {bill:?}\n{text}",
            format.name()
        ),
        Err(e) => e,
    }
}

fn assert_error(format: Format, text: &str, line: u32, field: &str) {
    let (name, _) = sample(format);
    let e = refused(format, &name, text);
    assert_eq!(
        (e.file.as_str(), e.line, e.field.as_str()),
        (name.as_str(), line, field),
        "{e}"
    );
}

fn last_line(text: &str) -> usize {
    text.lines().count()
}

#[test]
fn wechat() {
    let f = Format::WechatAll;
    let (_, good) = sample(f);
    assert_error(
        f,
        &edit_line(&good, 2, |l| set_cell(l, 22, "`1.2x")),
        2,
        "手续费",
    );
    assert_error(
        f,
        &edit_line(&good, 3, |l| set_cell(l, 0, "`2025-02-30 10:00:00")),
        3,
        "交易时间",
    );
    assert_error(
        f,
        &edit_line(&good, 2, |l| set_cell(l, 9, "`PAID")),
        2,
        "交易状态",
    );
    assert_error(
        f,
        &edit_line(&good, 2, |l| set_cell(l, 11, "`USD")),
        2,
        "货币种类",
    );
    assert_error(
        f,
        &edit_line(&good, 4, |l| {
            l.rsplit_once(',').expect("cells").0.to_string()
        }),
        4,
        "(row)",
    );
    assert_error(
        f,
        &edit_line(&good, 2, |l| set_cell(l, 6, "1")),
        2,
        "商户订单号",
    );
    let last = last_line(&good);
    assert_error(
        f,
        &edit_line(&good, last, |l| set_cell(l, 1, "`0.01")),
        last as u32,
        "应结订单总金额",
    );
    assert_error(
        f,
        &edit_line(&good, last, |l| set_cell(l, 0, "`99")),
        last as u32,
        "总交易单数/应结订单总金额/退款总金额/充值券退款总金额/手续费总金额",
    );
    assert_error(
        f,
        &edit_line(&good, 1, |l| l.replace("手续费", "费用")),
        1,
        "手续费",
    );
    let cut: String = good
        .lines()
        .take(last - 1)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_error(f, &cut, (last) as u32, "(summary)");
    let mut bad_utf8 = good.clone().into_bytes();
    let third_line = good.lines().take(2).map(|l| l.len() + 1).sum::<usize>();
    bad_utf8[third_line + 3] = 0xff;
    let (name, _) = sample(f);
    let e = parse(&name, &bad_utf8, Some(f)).expect_err("not UTF-8");
    assert_eq!((e.line, e.field.as_str()), (3, "(encoding)"));
    let e = parse("wechat.csv", good.as_bytes(), Some(f)).expect_err("no day in the name");
    assert_eq!(
        (e.file.as_str(), e.line, e.field.as_str()),
        ("wechat.csv", 0, "(file name)")
    );
}

#[test]
fn alipay() {
    let f = Format::AlipayDetail;
    let (_, good) = sample(f);
    assert_error(
        f,
        &edit_line(&good, 6, |l| set_cell(l, 11, "12.3")),
        6,
        "订单金额（元）",
    );
    assert_error(
        f,
        &edit_line(&good, 7, |l| set_cell(l, 5, "2025-13-01 00:00:00")),
        7,
        "完成时间",
    );
    assert_error(
        f,
        &edit_line(&good, 6, |l| set_cell(l, 2, "转账")),
        6,
        "业务类型",
    );
    assert_error(
        f,
        &edit_line(&good, 6, |l| set_cell(l, 12, "0.01")),
        6,
        "商家实收（元）",
    );
    assert_error(
        f,
        &edit_line(&good, 2, |_| "#账号：2088".to_string()),
        2,
        "#账号",
    );
    let last = last_line(&good);
    let trades = last - 2;
    assert_error(
        f,
        &edit_line(&good, trades, |l| {
            l.replace("笔，商家实收共", "笔，商家实收共1")
        }),
        trades as u32,
        "#交易合计/#退款合计",
    );
    let mut bytes = encode(f, &good);
    let row_start = good
        .lines()
        .take(6)
        .map(|l| encode(f, l).len() + 1)
        .sum::<usize>();
    bytes[row_start + 2] = 0x81; // a GBK lead byte, then no trail byte
    bytes[row_start + 3] = 0x20;
    let (name, _) = sample(f);
    let e = parse(&name, &bytes, Some(f)).expect_err("not GBK");
    assert_eq!(
        (e.line, e.field.as_str(), e.message.as_str()),
        (7, "支付宝交易号", "not GBK text")
    );
}

#[test]
fn unionpay() {
    let f = Format::UnionPay;
    let (_, good) = sample(f);
    let replace_at =
        |l: &str, at: usize, value: &str| format!("{}{value}{}", &l[..at], &l[at + value.len()..]);
    // 交易类型 starts after the 19 fields before it and their separators.
    let txn_type_at: usize = [
        3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15,
    ]
    .iter()
    .map(|w| w + 1)
    .sum();
    assert_error(
        f,
        &edit_line(&good, 2, |l| replace_at(l, txn_type_at, "02")),
        2,
        "交易类型",
    );
    assert_error(
        f,
        &edit_line(&good, 1, |l| replace_at(l, 4 + 12 + 12 + 7, "1399")),
        1,
        "交易传输时间",
    );
    assert_error(
        f,
        &edit_line(&good, 3, |l| l[..l.len() - 1].to_string()),
        3,
        "(record)",
    );
    let settle_at: usize = [3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13]
        .iter()
        .map(|w| w + 1)
        .sum();
    assert_error(
        f,
        &edit_line(&good, 1, |l| replace_at(l, settle_at, "X")),
        1,
        "结算金额",
    );
    assert_error(
        f,
        &edit_line(&good, 1, |l| replace_at(l, settle_at + 12, "9")),
        1,
        "结算金额",
    );
    let e = parse("INN25120688ZM_", good.as_bytes(), Some(f)).expect_err("no merchant in the name");
    assert_eq!((e.line, e.field.as_str()), (0, "(file name)"));
}

#[test]
fn stripe() {
    let f = Format::Stripe;
    let (_, good) = sample(f);
    assert_error(
        f,
        &edit_line(&good, 2, |l| set_cell(l, 5, "xyz")),
        2,
        "currency",
    );
    assert_error(
        f,
        &edit_line(&good, 3, |l| set_cell(l, 8, "0.00")),
        3,
        "net",
    );
    assert_error(
        f,
        &edit_line(&good, 2, |l| set_cell(l, 1, "2025-12-06T10:00:00")),
        2,
        "created_utc",
    );
    assert_error(
        f,
        &edit_line(&good, 2, |l| set_cell(l, 9, "transfer")),
        2,
        "reporting_category",
    );
    assert_error(
        f,
        &edit_line(&good, 2, |l| set_cell(l, 18, "")),
        2,
        "payment_metadata[out_trade_no]",
    );
    assert_error(
        f,
        &edit_line(&good, 2, |l| format!("{l},extra")),
        2,
        "(row)",
    );
    assert_error(
        f,
        &edit_line(&good, 2, |l| set_cell(l, 11, "\"unclosed")),
        2,
        "(row)",
    );
}

#[test]
fn paypal() {
    let f = Format::PayPal;
    let (_, good) = sample(f);
    assert_error(
        f,
        &edit_line(&good, 5, |l| set_cell(l, 9, "12a")),
        5,
        "Gross Transaction Amount",
    );
    assert_error(
        f,
        &edit_line(&good, 5, |l| set_cell(l, 5, "\"T9999\"")),
        5,
        "Transaction Event Code",
    );
    assert_error(
        f,
        &edit_line(&good, 5, |l| set_cell(l, 7, "2025/12/06 10:00:00 +2500")),
        5,
        "Transaction Completion Date",
    );
    let sf = good
        .lines()
        .position(|l| l.starts_with("\"SF\""))
        .expect("a section footer")
        + 1;
    assert_error(
        f,
        &edit_line(&good, sf, |l| set_cell(l, 2, "1")),
        sf as u32,
        "SF",
    );
    let rc = good
        .lines()
        .position(|l| l.starts_with("\"RC\""))
        .expect("a report count")
        + 1;
    assert_error(
        f,
        &edit_line(&good, rc, |_| "\"RC\",1000".to_string()),
        rc as u32,
        "RC",
    );
    assert_error(
        f,
        &edit_line(&good, 1, |l| set_cell(l, 4, "008")),
        1,
        "RH report version",
    );
    assert_error(
        f,
        &edit_line(&good, 3, |l| set_cell(l, 1, "2025/12/06 01:00:00 -0800")),
        3,
        "SH section start",
    );
    let ff = last_line(&good);
    assert_error(
        f,
        &format!("{good}\"SB\"\n"),
        ff as u32 + 1,
        "(record type)",
    );
}

#[test]
fn accounts_from_file_names_are_checked() {
    // An empty UnionPay file is a valid bill; its merchant code comes from the name and must fit
    // the 15-character field, or the bill could not be written back.
    let e = parse(
        "INN25120688ZM_1234567890123456",
        b"",
        Some(Format::UnionPay),
    )
    .expect_err("16 characters");
    assert_eq!((e.line, e.field.as_str()), (0, "(file name)"));
    assert!(parse("INN25120688ZM_123456789012345", b"", Some(Format::UnionPay)).is_ok());
    let (_, good) = sample(Format::WechatAll);
    let e = parse(
        "a,b_20251206_ALL.csv",
        good.as_bytes(),
        Some(Format::WechatAll),
    )
    .expect_err("not an identifier");
    assert_eq!((e.line, e.field.as_str()), (0, "(file name)"));
}

#[test]
fn paypal_times_are_in_the_section_zone() {
    let f = Format::PayPal;
    let (_, good) = sample(f);
    let other_zone = edit_line(&good, 5, |l| {
        let cells: Vec<&str> = l.split(',').collect();
        let zone = &cells[6][cells[6].len() - 5..];
        let moved = if zone == "+0100" { "+0200" } else { "+0100" };
        set_cell(l, 6, &format!("{}{moved}", &cells[6][..cells[6].len() - 5]))
    });
    assert_error(f, &other_zone, 5, "Transaction Initiation Date");
}
