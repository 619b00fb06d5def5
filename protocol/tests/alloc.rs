//! Decoding and encoding do not allocate: a counting global allocator, armed around the codec.

// A global allocator is unsafe to implement; this one only forwards to the system's.
#![allow(unsafe_code)]

use sluice_protocol::codec::Entropy;
use sluice_protocol::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

thread_local! {
    /// Armed on the test's own thread only: the test harness's other threads may allocate
    /// meanwhile (it counted 4 such once), and they are not the codec.
    static ARMED: Cell<bool> = const { Cell::new(false) };
}
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn arm(on: bool) {
    ARMED.with(|a| a.set(on));
}

// SAFETY: every method forwards to the system allocator unchanged; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's: a non-zero-size layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn encoding_and_decoding_every_message_allocates_nothing() {
    // Build samples and buffers first (that allocates); then arm.
    let samples: Vec<AnyMessage> = TEMPLATE_IDS
        .iter()
        .filter_map(|&id| AnyMessage::sample(id, &mut Entropy::new(&[7; 64])))
        .collect();
    let mut buf = vec![0u8; MAX_FRAME_BYTES];
    assert_eq!(samples.len(), TEMPLATE_IDS.len());
    // Prove the counter counts.
    arm(true);
    drop(std::hint::black_box(Vec::<u8>::with_capacity(8)));
    arm(false);
    assert_eq!(ALLOCATIONS.swap(0, Ordering::SeqCst), 1);

    arm(true);
    let mut decoded = 0;
    for _ in 0..100 {
        for m in &samples {
            let n = m.encode_frame(&mut buf).expect("fits");
            let len = frame_length(&buf[..n], MAX_FRAME_BYTES)
                .expect("valid")
                .expect("whole");
            let back = decode_any_frame(&buf[..len]).expect("decodes");
            decoded += usize::from(std::hint::black_box(&back).template_id() == m.template_id());
            let req: Result<PaymentRequest, _> = decode_frame(&buf[..len]);
            std::hint::black_box(&req);
        }
    }
    arm(false);
    assert_eq!(decoded, 100 * samples.len());
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0, "the codec allocated");
}
