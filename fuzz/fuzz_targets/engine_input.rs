//! The engine on a structure-aware sequence of messages from every role: see
//! `sluice_fuzz_targets::engine_input`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_fuzz_targets::engine_input(data));
