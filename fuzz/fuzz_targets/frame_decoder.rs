//! The gateway's frame decoder on arbitrary byte streams: see `sluice_fuzz_targets::frame_decoder`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_fuzz_targets::frame_decoder(data));
