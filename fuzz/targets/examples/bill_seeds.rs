//! Writes seed inputs for the bill targets into `fuzz/corpus/bill_<format>/`: small valid bills
//! of each layout (seeded, 0 to 12 lines) and malformed ones (cut short, a byte changed, totals
//! that disagree, where the layout states totals). `cargo run -p sluice-fuzz-targets --example bill_seeds`.

use std::path::Path;

use sluice_bills::sample::random_bill;
use sluice_bills::{Format, write};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    for format in Format::ALL {
        let dir = root.join(format!("bill_{}", format.name()));
        std::fs::create_dir_all(&dir).expect("the corpus directory");
        for (i, lines) in [0usize, 1, 3, 6, 12].into_iter().enumerate() {
            let mut bill = random_bill(format, 100 + i as u64, lines);
            // The fuzz targets name every file for this account and day.
            bill.day = 20_428;
            let bytes = write(&bill);
            std::fs::write(dir.join(format!("valid-{lines}")), &bytes).expect("write a seed");
            if lines >= 3 {
                std::fs::write(
                    dir.join(format!("cut-{lines}")),
                    &bytes[..bytes.len() / 2 + 1],
                )
                .expect("write a seed");
                let mut changed = bytes.clone();
                let at = changed.len() / 3;
                changed[at] = changed[at].wrapping_add(1);
                std::fs::write(dir.join(format!("byte-{lines}")), &changed).expect("write a seed");
                // UnionPay's file and Stripe's report state no totals.
                if !matches!(format, Format::UnionPay | Format::Stripe) {
                    bill.totals.lines += 1;
                    std::fs::write(dir.join(format!("totals-{lines}")), write(&bill))
                        .expect("write a seed");
                }
            }
        }
    }
}
