//! Parse speed per format: writes a seeded bill of N lines (default 1,000,000) in each layout and
//! times `parse` over it (best of 3). `cargo run --release -p sluice-bills --example speed [-- N]`.
//! `-- --show FORMAT N` prints a small bill of FORMAT instead (GBK shown decoded).

use std::time::Instant;

use sluice_bills::sample::random_bill;
use sluice_bills::{Format, file_name, parse, write};

fn show(format_name: &str, lines: usize) {
    let format =
        Format::from_name(format_name).expect("wechat, alipay, unionpay, stripe or paypal");
    let bill = random_bill(format, 3, lines);
    let bytes = write(&bill);
    println!("{}", file_name(format, &bill.account, bill.day));
    if format == Format::AlipayDetail {
        let (text, _, _) = encoding_rs::GBK.decode(&bytes);
        print!("{text}");
    } else {
        print!("{}", String::from_utf8_lossy(&bytes));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--show") {
        let lines = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(6);
        return show(args.get(1).map_or("wechat", String::as_str), lines);
    }
    let lines: usize = args
        .first()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    println!("| format | lines | bytes | write s | parse s (best of 3) | lines/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for format in Format::ALL {
        let bill = random_bill(format, 42, lines);
        let name = file_name(format, &bill.account, bill.day);
        let started = Instant::now();
        let bytes = write(&bill);
        let write_s = started.elapsed().as_secs_f64();
        let mut best = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            let read = parse(&name, &bytes, Some(format)).expect("a bill Sluice wrote");
            best = best.min(started.elapsed().as_secs_f64());
            assert_eq!(read.lines.len(), bill.lines.len());
        }
        println!(
            "| {} | {} | {} | {write_s:.2} | {best:.3} | {:.0} |",
            format.name(),
            bill.lines.len(),
            bytes.len(),
            bill.lines.len() as f64 / best
        );
    }
}
