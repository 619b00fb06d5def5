//! The stripe bill parser on arbitrary bytes: see `sluice_fuzz_targets::bill_stripe`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_fuzz_targets::bill_stripe(data));
