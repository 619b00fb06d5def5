//! The acquirer's recoverable flow (PROTOCOL.md section 3, Resume): which messages carry an
//! `out_seq`, and the byte-level reads and patches of it and of `retransmission` that the engine
//! and the gateway use without decoding a whole message.
//!
//! Every recoverable message of schema 5 has exactly one `since 5` block, `out_seq: u64` then
//! `retransmission: bool`, appended right after its first version's root block: `out_seq` is at
//! body offset `MIN_BLOCK_LENGTH`, `retransmission` 8 bytes after it. A frame of an earlier
//! version (a shorter block) holds neither: the functions then answer `None` / `false`. The
//! messages added to the flow later (WithdrawAck, WithdrawReturned, schema 7) end their root
//! block with the two fields: `out_seq` is at `BLOCK_LENGTH - 9`; so does DisputeUpdate (schema 8).

use crate::{
    DisputeUpdate, MESSAGE_HEADER_LEN, Message, PaymentAck, PaymentResult, PaymentReversal,
    RefundAck, RefundResult, SOFH_LEN, WithdrawAck, WithdrawResult, WithdrawReturned,
};

/// The template ids of the recoverable flow.
pub const RECOVERABLE_TEMPLATES: [u16; 9] = [
    PaymentAck::TEMPLATE_ID,
    PaymentResult::TEMPLATE_ID,
    PaymentReversal::TEMPLATE_ID,
    RefundAck::TEMPLATE_ID,
    RefundResult::TEMPLATE_ID,
    WithdrawResult::TEMPLATE_ID,
    WithdrawAck::TEMPLATE_ID,
    WithdrawReturned::TEMPLATE_ID,
    DisputeUpdate::TEMPLATE_ID,
];

// Each has the two fields right after its first version's block, and nothing else appended.
const _: () = {
    assert!(PaymentAck::BLOCK_LENGTH == PaymentAck::MIN_BLOCK_LENGTH + 9);
    assert!(PaymentResult::BLOCK_LENGTH == PaymentResult::MIN_BLOCK_LENGTH + 9);
    assert!(PaymentReversal::BLOCK_LENGTH == PaymentReversal::MIN_BLOCK_LENGTH + 9);
    assert!(RefundAck::BLOCK_LENGTH == RefundAck::MIN_BLOCK_LENGTH + 9);
    assert!(RefundResult::BLOCK_LENGTH == RefundResult::MIN_BLOCK_LENGTH + 9);
    assert!(WithdrawResult::BLOCK_LENGTH == WithdrawResult::MIN_BLOCK_LENGTH + 9);
    // Schema 7's: the two fields end the root block, which has no later fields.
    assert!(WithdrawAck::BLOCK_LENGTH == WithdrawAck::MIN_BLOCK_LENGTH);
    assert!(WithdrawReturned::BLOCK_LENGTH == WithdrawReturned::MIN_BLOCK_LENGTH);
    assert!(DisputeUpdate::BLOCK_LENGTH == DisputeUpdate::MIN_BLOCK_LENGTH);
};

/// Whether a template belongs to the recoverable flow.
#[inline]
pub fn is_recoverable(template_id: u16) -> bool {
    out_seq_body_offset(template_id).is_some()
}

/// Where `out_seq` is in the body of a recoverable template.
#[inline]
fn out_seq_body_offset(template_id: u16) -> Option<usize> {
    let min = match template_id {
        PaymentAck::TEMPLATE_ID => PaymentAck::MIN_BLOCK_LENGTH,
        PaymentResult::TEMPLATE_ID => PaymentResult::MIN_BLOCK_LENGTH,
        PaymentReversal::TEMPLATE_ID => PaymentReversal::MIN_BLOCK_LENGTH,
        RefundAck::TEMPLATE_ID => RefundAck::MIN_BLOCK_LENGTH,
        RefundResult::TEMPLATE_ID => RefundResult::MIN_BLOCK_LENGTH,
        WithdrawResult::TEMPLATE_ID => WithdrawResult::MIN_BLOCK_LENGTH,
        WithdrawAck::TEMPLATE_ID => WithdrawAck::BLOCK_LENGTH - 9,
        WithdrawReturned::TEMPLATE_ID => WithdrawReturned::BLOCK_LENGTH - 9,
        DisputeUpdate::TEMPLATE_ID => DisputeUpdate::BLOCK_LENGTH - 9,
        _ => return None,
    };
    Some(usize::from(min))
}

/// The frame offset of `out_seq` in a whole frame (framing header included), when the frame is
/// of a recoverable template and its block holds the field.
#[inline]
fn out_seq_at(frame: &[u8]) -> Option<usize> {
    let header = frame.get(SOFH_LEN..SOFH_LEN + MESSAGE_HEADER_LEN)?;
    let block_length = usize::from(u16::from_le_bytes([header[0], header[1]]));
    let template_id = u16::from_le_bytes([header[2], header[3]]);
    let body_at = out_seq_body_offset(template_id)?;
    // out_seq (8) and retransmission (1) must both be inside the block and the frame.
    if block_length < body_at + 9 {
        return None;
    }
    let at = SOFH_LEN + MESSAGE_HEADER_LEN + body_at;
    (frame.len() >= at + 9).then_some(at)
}

/// The `out_seq` of a whole frame: `None` for a frame outside the recoverable flow or of an
/// earlier version.
#[inline]
pub fn read_out_seq(frame: &[u8]) -> Option<u64> {
    let at = out_seq_at(frame)?;
    let mut b = [0u8; 8];
    b.copy_from_slice(&frame[at..at + 8]);
    Some(u64::from_le_bytes(b))
}

/// Writes `out_seq` into a whole frame of the recoverable flow; false (nothing written) for any
/// other frame.
#[inline]
pub fn write_out_seq(frame: &mut [u8], out_seq: u64) -> bool {
    let Some(at) = out_seq_at(frame) else {
        return false;
    };
    frame[at..at + 8].copy_from_slice(&out_seq.to_le_bytes());
    true
}

/// Marks a whole frame of the recoverable flow as a retransmission (`retransmission` = 1); false
/// (nothing written) for any other frame.
#[inline]
pub fn set_retransmission(frame: &mut [u8]) -> bool {
    let Some(at) = out_seq_at(frame) else {
        return false;
    };
    frame[at + 8] = 1;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Heartbeat, decode_frame, encode_frame};

    fn frame<M: Message>(m: &M) -> Vec<u8> {
        let mut buf = vec![0u8; crate::MAX_FRAME_BYTES];
        let n = encode_frame(m, &mut buf).expect("fits");
        buf.truncate(n);
        buf
    }

    #[test]
    fn out_seq_is_read_and_written_in_place_for_every_recoverable_template() {
        let frames = [
            frame(&PaymentAck {
                request_id: 7,
                out_seq: 41,
                ..Default::default()
            }),
            frame(&PaymentResult {
                request_id: 7,
                out_seq: 41,
                ..Default::default()
            }),
            frame(&PaymentReversal {
                out_seq: 41,
                ..Default::default()
            }),
            frame(&RefundAck {
                out_seq: 41,
                ..Default::default()
            }),
            frame(&RefundResult {
                out_seq: 41,
                ..Default::default()
            }),
            frame(&WithdrawResult {
                out_seq: 41,
                ..Default::default()
            }),
            frame(&WithdrawAck {
                withdraw_request_id: 3,
                sequence: 9,
                out_seq: 41,
                ..Default::default()
            }),
            frame(&WithdrawReturned {
                withdraw_request_id: 3,
                sequence: 9,
                out_seq: 41,
                ..Default::default()
            }),
            frame(&DisputeUpdate {
                dispute_id: 3,
                sequence: 9,
                out_seq: 41,
                ..Default::default()
            }),
        ];
        for mut f in frames {
            assert_eq!(read_out_seq(&f), Some(41));
            assert!(write_out_seq(&mut f, 42));
            assert_eq!(read_out_seq(&f), Some(42));
            assert!(set_retransmission(&mut f));
            assert_eq!(read_out_seq(&f), Some(42), "the flag is after the number");
        }
        let mut f = frame(&PaymentResult {
            request_id: 9,
            out_seq: 5,
            ..Default::default()
        });
        set_retransmission(&mut f);
        let decoded: PaymentResult = decode_frame(&f).expect("decodes");
        assert!(decoded.retransmission);
        assert_eq!((decoded.request_id, decoded.out_seq), (9, 5));
    }

    #[test]
    fn other_templates_and_earlier_versions_are_left_alone() {
        let mut hb = frame(&Heartbeat { timestamp_ns: 1 });
        let before = hb.clone();
        assert_eq!(read_out_seq(&hb), None);
        assert!(!set_retransmission(&mut hb));
        assert!(!write_out_seq(&mut hb, 3));
        assert_eq!(hb, before);
        // A version 4 PaymentAck: its block ends before out_seq.
        let mut ack = frame(&PaymentAck::default());
        let short = usize::from(PaymentAck::MIN_BLOCK_LENGTH);
        ack[SOFH_LEN..SOFH_LEN + 2].copy_from_slice(&(short as u16).to_le_bytes());
        ack.truncate(SOFH_LEN + MESSAGE_HEADER_LEN + short);
        assert_eq!(read_out_seq(&ack), None);
        assert!(!set_retransmission(&mut ack));
        // Truncated frames never panic.
        for n in 0..20 {
            assert_eq!(read_out_seq(&frame(&PaymentAck::default())[..n]), None);
        }
        assert!(RECOVERABLE_TEMPLATES.iter().all(|&t| is_recoverable(t)));
        assert!(!is_recoverable(Heartbeat::TEMPLATE_ID));
    }
}
