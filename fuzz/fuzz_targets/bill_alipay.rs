//! The alipay bill parser on arbitrary bytes: see `sluice_fuzz_targets::bill_alipay`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_fuzz_targets::bill_alipay(data));
