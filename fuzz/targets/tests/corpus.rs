//! Replays every file of every fuzz target's corpus (`fuzz/corpus/<target>/`) through the target's
//! function, so that CI runs the corpora without cargo-fuzz. A failure names the file; explain an
//! engine input with `cargo run -p sluice-fuzz-targets --example explain -- FILE`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let files = corpus(target);
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs fail: {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn engine_input_corpus() {
    replay("engine_input", sluice_fuzz_targets::engine_input);
}

#[test]
fn risk_rules_corpus() {
    replay("risk_rules", sluice_fuzz_targets::risk_rules);
}

#[test]
fn frame_decoder_corpus() {
    replay("frame_decoder", sluice_fuzz_targets::frame_decoder);
}

#[test]
fn bill_wechat_corpus() {
    replay("bill_wechat", sluice_fuzz_targets::bill_wechat);
}

#[test]
fn bill_alipay_corpus() {
    replay("bill_alipay", sluice_fuzz_targets::bill_alipay);
}

#[test]
fn bill_unionpay_corpus() {
    replay("bill_unionpay", sluice_fuzz_targets::bill_unionpay);
}

#[test]
fn bill_stripe_corpus() {
    replay("bill_stripe", sluice_fuzz_targets::bill_stripe);
}

#[test]
fn bill_paypal_corpus() {
    replay("bill_paypal", sluice_fuzz_targets::bill_paypal);
}
