//! Every format: seeded random bills written and read back are the same bill (line numbers
//! aside), detected as their format, and named as the channel names them.

use sluice_bills::sample::random_bill;
use sluice_bills::{Bill, Format, detect, file_name, parse, write};

/// The bill as read back, with the line numbers a parser fills in cleared.
fn without_line_numbers(mut bill: Bill) -> Bill {
    for line in &mut bill.lines {
        line.line_no = 0;
    }
    bill
}

fn round_trip(format: Format, seed: u64, lines_max: usize) {
    let bill = random_bill(format, seed, lines_max);
    let bytes = write(&bill);
    let name = file_name(format, &bill.account, bill.day);
    assert_eq!(
        detect(&bytes),
        if bill.lines.is_empty() && format == Format::UnionPay {
            None
        } else {
            Some(format)
        }
    );
    let read = parse(&name, &bytes, Some(format)).unwrap_or_else(|e| {
        panic!(
            "{} seed {seed}: {e}\n{}",
            format.name(),
            String::from_utf8_lossy(&bytes)
        )
    });
    // Line numbers are 1-based and increasing.
    assert!(read.lines.windows(2).all(|w| w[0].line_no < w[1].line_no));
    assert!(read.lines.iter().all(|l| l.line_no > 0));
    let mut expected = bill;
    if format == Format::Stripe && expected.lines.is_empty() {
        // Stripe's report states its zone only through its rows (created − created_utc): an
        // empty report reads as UTC.
        expected.utc_offset_min = 0;
    }
    assert_eq!(
        without_line_numbers(read),
        expected,
        "{} seed {seed}",
        format.name()
    );
}

#[test]
fn every_format_round_trips() {
    for format in Format::ALL {
        for seed in 0..300 {
            round_trip(format, seed, (seed % 40) as usize);
        }
    }
}

#[test]
fn every_format_round_trips_a_large_bill() {
    for format in Format::ALL {
        round_trip(format, 7, 5_000);
    }
}

#[test]
fn samples_cover_every_supported_kind_and_status() {
    use sluice_bills::{LineKind, LineStatus};
    for format in Format::ALL {
        let bill = random_bill(format, 1, 3_000);
        for kind in [LineKind::Payment, LineKind::Refund] {
            for status in [
                LineStatus::Succeeded,
                LineStatus::Failed,
                LineStatus::Reversed,
            ] {
                let present = bill
                    .lines
                    .iter()
                    .any(|l| (l.kind, l.status) == (kind, status));
                assert_eq!(
                    present,
                    format.supports(kind, status),
                    "{} {kind:?} {status:?}",
                    format.name()
                );
            }
        }
        let currencies: std::collections::BTreeSet<u16> =
            bill.lines.iter().map(|l| l.currency).collect();
        let multi = matches!(format, Format::Stripe | Format::PayPal);
        assert_eq!(currencies.len() > 1, multi, "{}", format.name());
        // Partial refunds sharing one trade number.
        let shared = bill.lines.windows(2).any(|w| {
            w[0].kind == LineKind::Refund
                && w[1].kind == LineKind::Refund
                && w[0].channel_trade_no == w[1].channel_trade_no
        });
        assert!(shared, "{}", format.name());
    }
}

#[test]
fn parse_detects_the_format() {
    for format in Format::ALL {
        let bill = random_bill(format, 11, 12);
        let name = file_name(format, &bill.account, bill.day);
        let read = parse(&name, &write(&bill), None).expect("a bill Sluice wrote");
        assert_eq!(read.format, format);
    }
    let error = parse("x.csv", b"hello,world\n", None).expect_err("no layout");
    assert_eq!(
        (error.file.as_str(), error.line, error.field.as_str()),
        ("x.csv", 0, "(format)")
    );
}

#[test]
fn file_names() {
    let day = 20_428; // 2025-12-06
    assert_eq!(
        file_name(Format::WechatAll, "1900000109", day),
        "1900000109_20251206_ALL.csv"
    );
    assert_eq!(
        file_name(Format::AlipayDetail, "2088102146225135", day),
        "2088102146225135_20251206_业务明细.csv"
    );
    assert_eq!(
        file_name(Format::UnionPay, "777290058110097", day),
        "INN25120688ZM_777290058110097"
    );
    assert_eq!(
        file_name(Format::Stripe, "acct_1", day),
        "acct_1_payout_reconciliation.itemized.5_20251206.csv"
    );
    assert_eq!(
        file_name(Format::PayPal, "X", day),
        "STL-20251206.01.009.CSV"
    );
}

/// A bill on the last bill day (2500-12-30): every time a writer states — PayPal's report
/// generation time, Alipay's end of period included — must stay within what its reader accepts.
#[test]
fn a_bill_on_the_last_day_round_trips() {
    for format in Format::ALL {
        let last_day = match format {
            Format::UnionPay => *sluice_bills::rules::UNIONPAY_DAYS.end(),
            _ => sluice_bills::BILL_DAY_MAX,
        };
        let mut bill = random_bill(format, 21, 6);
        let shift_s = (i64::from(last_day) - i64::from(bill.day)) * 86_400;
        bill.day = last_day;
        for line in &mut bill.lines {
            // Keep each row within the day (refunds may run past it by up to an hour).
            let at_s = (line.at_ns / 1_000_000_000) as i64 + shift_s - 3_600;
            line.at_ns = at_s as u64 * 1_000_000_000;
        }
        let name = file_name(format, &bill.account, bill.day);
        let read = parse(&name, &write(&bill), Some(format))
            .unwrap_or_else(|e| panic!("{}: {e}", format.name()));
        assert_eq!(without_line_numbers(read), bill, "{}", format.name());
    }
}

#[test]
fn a_day_after_the_last_is_refused() {
    let name = file_name(
        Format::WechatAll,
        "1900000109",
        sluice_bills::BILL_DAY_MAX + 1,
    );
    let bytes = write(&random_bill(Format::WechatAll, 2, 0));
    let e = parse(&name, &bytes, Some(Format::WechatAll)).expect_err("2500-12-31");
    assert_eq!((e.line, e.field.as_str()), (0, "(file name)"));
}
