//! The small share of inputs that are not valid messages: arbitrary bytes from any role, valid
//! messages with a byte changed, cut short or with a damaged SBE header, valid messages from a role
//! that may not send them, and payloads too short to hold an envelope. The engine must refuse
//! each with a Reject (or ignore it) and change no money.

use sluice_protocol::*;

use crate::bytes::Bytes;
use crate::harness::{ADMIN_ID, Harness, Sender};
use crate::ops::{Run, payment};
use crate::world::ACQUIRER_A;

/// Any role byte the envelope can carry: the sequencer, the three roles, and two undefined ones.
fn any_sender(b: &mut Bytes<'_>) -> Sender {
    Sender {
        session_id: u64::from(b.u8() % 4),
        principal_id: b.pick(&[0, ACQUIRER_A, 2, ADMIN_ID, 4, u32::MAX]),
        role: b.u8() % 6,
    }
}

/// A valid message of a byte-chosen kind, as SBE bytes, with the role that may send it.
fn valid_sbe(run: &mut Run, b: &mut Bytes<'_>, out: &mut [u8]) -> (Sender, usize) {
    let (who, n) = match b.u8() % 4 {
        0 => {
            let (who, req) = payment(run, b);
            (who, encode_sbe(&req, out))
        }
        1 => {
            let res = ChannelResult {
                order_id: u64::from(b.u8()),
                attempt: 1,
                outcome: ChannelOutcome::Succeeded,
                channel_code: 0,
                latency_us: 100,
                channel_ref: Chars::new("x"),
            };
            (Sender::channel(1), encode_sbe(&res, out))
        }
        2 => {
            let req = RefundRequest {
                refund_request_id: run.fresh_id(),
                payment_request_id: u64::from(b.u8()),
                amount_minor: 1,
            };
            (Sender::acquirer(ACQUIRER_A, false), encode_sbe(&req, out))
        }
        _ => {
            let mut ch = crate::world::channels().swap_remove(0);
            ch.channel_id = 1 + u16::from(b.u8() % 6);
            (Sender::admin(), encode_sbe(&ch, out))
        }
    };
    (who, n.expect("a message fits a frame"))
}

pub fn raw(h: &mut Harness, run: &mut Run, b: &mut Bytes<'_>) {
    let mut sbe = [0u8; 512];
    match b.u8() % 6 {
        0 => {
            let who = any_sender(b);
            let n = usize::from(b.u8());
            let bytes = b.take(n);
            h.send_raw(who, bytes);
        }
        1 => {
            let (who, n) = valid_sbe(run, b, &mut sbe);
            let at = usize::from(b.u16()) % n;
            sbe[at] = b.u8();
            h.send_raw(who, &sbe[..n]);
        }
        2 => {
            let (who, n) = valid_sbe(run, b, &mut sbe);
            let keep = usize::from(b.u8()) % n;
            h.send_raw(who, &sbe[..keep]);
        }
        3 => {
            let (who, n) = valid_sbe(run, b, &mut sbe);
            damage_header(b, &mut sbe[..n]);
            h.send_raw(who, &sbe[..n]);
        }
        4 => {
            let (_, n) = valid_sbe(run, b, &mut sbe);
            let who = any_sender(b);
            h.send_raw(who, &sbe[..n]);
        }
        _ => {
            let n = b.below(16);
            let bytes = b.take(n);
            h.send_without_envelope(bytes);
        }
    }
}

/// Changes one field of the SBE header: the root block length, the template id (to one of every
/// role's, a server-only one, or an undefined one), the schema id or the version.
fn damage_header(b: &mut Bytes<'_>, sbe: &mut [u8]) {
    let (at, value): (usize, u16) = match b.u8() % 4 {
        0 => (0, b.pick(&[0, 1, 8, 20, 100, u16::MAX])),
        1 => (
            2,
            b.pick(&[
                0,
                4,
                6,
                11,
                16,
                30,
                31,
                33,
                45,
                49,
                51,
                90,
                91,
                92,
                u16::MAX,
            ]),
        ),
        2 => (4, b.pick(&[0, 0x534B, u16::MAX])),
        _ => (6, b.pick(&[0, 2, u16::MAX])),
    };
    sbe[at..at + 2].copy_from_slice(&value.to_le_bytes());
}
