//! The risk rule language on arbitrary text: see `sluice_fuzz_targets::risk_rules`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_fuzz_targets::risk_rules(data));
