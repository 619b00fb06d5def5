//! The gateway's frame decoder on arbitrary byte streams: framing header checks, SBE header checks
//! and the decoding of every message. It must never panic, and a frame it decodes must re-encode
//! to a frame that decodes to the same message.

use sluice_protocol::*;

pub fn frame_decoder(data: &[u8]) {
    let mut at = 0;
    // Walk the input as a stream of frames, as a connection's read buffer is walked.
    while at < data.len() {
        match frame_length(&data[at..], MAX_INBOUND_FRAME_BYTES) {
            Ok(Some(len)) => {
                let frame = &data[at..at + len];
                if let Ok(msg) = decode_any_frame(frame) {
                    let mut buf = vec![0u8; MAX_FRAME_BYTES];
                    let n = msg
                        .encode_frame(&mut buf)
                        .expect("a decoded message re-encodes");
                    assert_eq!(decode_any_frame(&buf[..n]).as_ref(), Ok(&msg));
                }
                at += len;
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = decode_any_sbe(data);
}
