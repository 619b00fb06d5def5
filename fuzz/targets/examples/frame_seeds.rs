//! Writes seeds for the frame_decoder target: for every template, a few valid frames (sampled
//! messages, groups and texts of varied lengths), one file each, plus one stream of every message
//! back to back. `cargo run -p sluice-fuzz-targets --example frame_seeds -- DIR`; then merge them
//! into the corpus (fuzz/README.md).

use sluice_protocol::codec::Entropy;
use sluice_protocol::{AnyMessage, MAX_FRAME_BYTES, TEMPLATE_IDS};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: frame_seeds DIR");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
    let mut stream = Vec::new();
    for &template in TEMPLATE_IDS {
        for variant in 0u8..3 {
            let bytes = [
                template as u8,
                (template >> 8) as u8,
                variant,
                variant.wrapping_mul(37),
            ];
            let msg = AnyMessage::sample(template, &mut Entropy::new(&bytes)).expect("a template");
            let mut frame = vec![0u8; MAX_FRAME_BYTES];
            let n = msg.encode_frame(&mut frame).expect("a sample fits a frame");
            frame.truncate(n);
            let path = format!("{dir}/seed-{template:02}-{}-{variant}", msg.name());
            std::fs::write(&path, &frame).unwrap_or_else(|e| panic!("{path}: {e}"));
            if variant == 0 {
                stream.extend_from_slice(&frame);
            }
        }
    }
    let path = format!("{dir}/seed-stream-every-message");
    std::fs::write(&path, &stream).unwrap_or_else(|e| panic!("{path}: {e}"));
}
