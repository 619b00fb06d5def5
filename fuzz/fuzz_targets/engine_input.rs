//! Fuzzes the engine with arbitrary input bytes from every role: whatever arrives, `apply` must
//! not panic, must keep the ledger balanced, and must refuse what it cannot decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_engine::driver::Driver;
use sluice_engine::fixture;

fuzz_target!(|data: &[u8]| {
    let mut d = Driver::new(&fixture::genesis(1_000), fixture::START_NS).expect("genesis");
    d.configure(&fixture::config_messages());
    // Split the input into chunks: first byte picks the role, the rest is SBE bytes.
    for chunk in data.split(|b| *b == 0xFF) {
        let Some((&role, sbe)) = chunk.split_first() else { continue };
        let role = role % 4; // 0 sequencer, 1 acquirer, 2 channel, 3 admin
        let principal = u32::from(role.max(1));
        d.apply_raw(7, principal, role, sbe);
        d.advance_ns(1_000_000);
        assert!(d.engine.verify_ledger().is_ok());
    }
});
