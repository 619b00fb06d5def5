//! The logic of every fuzz target, as plain functions. The cargo-fuzz crate (`fuzz/`, outside the
//! workspace) calls them from one-line targets; `tests/corpus.rs` replays every file of each
//! target's corpus (`fuzz/corpus/<target>/`) through them, so CI runs the corpora without
//! cargo-fuzz. See `fuzz/README.md`.

mod admin;
mod bill;
mod bytes;
mod frame;
pub mod harness;
mod ops;
mod raw;
mod rules;
pub mod track;
pub mod world;

pub use bill::{bill_alipay, bill_parses, bill_paypal, bill_stripe, bill_unionpay, bill_wechat};
pub use frame::frame_decoder;
pub use rules::risk_rules;

/// The engine target: `data` decoded into a sequence of valid messages from every role (with a
/// small share of malformed ones), run against a fresh engine on the small world. After every
/// input the ledger must verify, the output must fit the per-input bound and decode, and every
/// final result's money must add up (see `harness` and `track`). Panics on any violation.
pub fn engine_input(data: &[u8]) {
    harness::with_fresh(|h| ops::run(h, data));
}

/// The same run, with every input and its outputs written out (for explaining a crash).
pub fn explain_engine_input(data: &[u8]) -> Vec<String> {
    let mut h = harness::Harness::new();
    h.start_trace();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ops::run(&mut h, data)));
    let mut lines = h.take_trace();
    if let Err(panic) = outcome {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        lines.push(format!("PANIC: {why}"));
    }
    lines
}
