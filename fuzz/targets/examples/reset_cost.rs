//! How long each way of starting a run from the configured world takes, to choose the engine
//! target's reset (see fuzz/README.md): `cargo run --release -p sluice-fuzz-targets --example reset_cost`.
//!
//! - rebuild: a new engine from the small Genesis, then the 23 configuration inputs (what the target
//!   does);
//! - restore: the configured engine restored from its snapshot bytes;
//! - engine_new: `Engine::new` alone, for scale;
//! - empty run: the whole target on an empty input.

use sluice_engine::Engine;
use sluice_fuzz_targets::harness::{Harness, with_fresh};
use sluice_fuzz_targets::{engine_input, world};
use std::time::Instant;

fn per_call_ns(n: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    const N: u32 = 20_000;
    let genesis = world::genesis();
    let rebuild = per_call_ns(N, || {
        with_fresh(|h| std::hint::black_box(h.engine.last_seq()));
    });
    let configured = Harness::new();
    let (hash, bytes) = configured.engine.snapshot();
    let restore = per_call_ns(N, || {
        std::hint::black_box(Engine::from_snapshot(&bytes, hash).expect("restores"));
    });
    let engine_new = per_call_ns(N, || {
        std::hint::black_box(Engine::new(&genesis, world::START_NS).expect("valid"));
    });
    let empty = per_call_ns(N, || engine_input(&[]));
    println!(
        "rebuild (Engine::new + 23 config inputs): {:>8.0} ns",
        rebuild
    );
    println!(
        "restore (Engine::from_snapshot):          {:>8.0} ns",
        restore
    );
    println!(
        "Engine::new alone:                        {:>8.0} ns",
        engine_new
    );
    println!(
        "engine_input(&[]):                        {:>8.0} ns",
        empty
    );
}
