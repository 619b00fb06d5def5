//! The wechat bill parser on arbitrary bytes: see `sluice_fuzz_targets::bill_wechat`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_fuzz_targets::bill_wechat(data));
