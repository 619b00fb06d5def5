//! The engine's outputs: whole frames, each behind a routing header that says where it goes and
//! which input caused it (egress releases it once that input is durable).

use sluice_protocol::{Message, encode_frame, frame_len};

use crate::MAX_OUTPUT_BYTES_PER_INPUT;

/// Bytes of the routing header in front of every output frame: u32 frame length, u8 destination
/// kind (3 zero bytes), u32 principal (4 zero bytes), u64 session, u64 input sequence.
pub const OUT_HEADER_LEN: usize = 32;
const _: () = assert!(4 + 4 + 8 + 8 + 8 == OUT_HEADER_LEN);

/// Where an output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DestKind {
    /// Exactly this session (dropped if it is gone).
    Session = 1,
    /// This acquirer: the session given if it is alive, else the acquirer's most recent session.
    Acquirer = 2,
    /// The connector logged in for this channel.
    Channel = 3,
    /// Every admin session.
    Admins = 4,
    /// The gateway itself (credential changes for its login table); no peer receives it.
    Gateway = 5,
}

impl DestKind {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(DestKind::Session),
            2 => Some(DestKind::Acquirer),
            3 => Some(DestKind::Channel),
            4 => Some(DestKind::Admins),
            5 => Some(DestKind::Gateway),
            _ => None,
        }
    }
}

/// A destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest {
    pub kind: DestKind,
    pub principal_id: u32,
    pub session_id: u64,
}

impl Dest {
    pub fn session(session_id: u64, principal_id: u32) -> Self {
        Dest {
            kind: DestKind::Session,
            principal_id,
            session_id,
        }
    }
    pub fn acquirer(acquirer_id: u32, session_id: u64) -> Self {
        Dest {
            kind: DestKind::Acquirer,
            principal_id: acquirer_id,
            session_id,
        }
    }
    pub fn channel(channel_id: u16) -> Self {
        Dest {
            kind: DestKind::Channel,
            principal_id: u32::from(channel_id),
            session_id: 0,
        }
    }
    pub fn gateway() -> Self {
        Dest {
            kind: DestKind::Gateway,
            principal_id: 0,
            session_id: 0,
        }
    }

    pub fn admins() -> Self {
        Dest {
            kind: DestKind::Admins,
            principal_id: 0,
            session_id: 0,
        }
    }
}

/// One output: destination, the input that caused it, and the frame to send.
#[derive(Debug, Clone, Copy)]
pub struct OutRecord<'a> {
    pub dest: Dest,
    pub input_seq: u64,
    pub frame: &'a [u8],
}

/// A buffer of outputs, allocated once. The engine bounds what one input emits
/// (`MAX_OUTPUT_BYTES_PER_INPUT`), and the owner keeps that much free before each input (the
/// processor hands its chunk to egress and takes a free one when less is left; a driver clears it
/// per input), so a push always fits: `push` asserts both rather than grow on the hot path.
pub struct Outbox {
    /// Zeroed once at creation; `used` bytes of it hold outputs. Keeping the whole buffer initialised
    /// means a push writes its frame in place, with no zero-fill per output.
    buf: Vec<u8>,
    used: usize,
    count: u32,
    last_seq: u64,
    /// Where the outputs of input `last_seq` begin.
    input_start: usize,
}

impl Outbox {
    pub fn with_capacity(bytes: usize) -> Self {
        Outbox {
            buf: vec![0u8; bytes],
            used: 0,
            count: 0,
            last_seq: 0,
            input_start: 0,
        }
    }

    /// Appends `msg` for `dest`, caused by input `input_seq`.
    ///
    /// Panics if the outputs of input `input_seq` exceed `MAX_OUTPUT_BYTES_PER_INPUT` (a bug in the
    /// engine's bound) or the buffer's free space (its owner did not keep that bound free).
    #[inline]
    pub fn push<M: Message>(&mut self, dest: Dest, input_seq: u64, msg: &M) {
        let frame_bytes = frame_len(msg);
        let start = self.used;
        if self.count == 0 || input_seq != self.last_seq {
            self.input_start = start;
        }
        let end = start + OUT_HEADER_LEN + frame_bytes;
        assert!(
            end - self.input_start <= MAX_OUTPUT_BYTES_PER_INPUT,
            "input {input_seq} emits more than MAX_OUTPUT_BYTES_PER_INPUT"
        );
        assert!(
            end <= self.buf.len(),
            "outbox full: its owner keeps MAX_OUTPUT_BYTES_PER_INPUT free before each input"
        );
        self.used = end;
        let header = &mut self.buf[start..start + OUT_HEADER_LEN];
        // The buffer is reused: its reserved header bytes still hold an earlier output's bytes,
        // which must not leak into this one (output bytes depend on the inputs alone).
        header.fill(0);
        header[0..4].copy_from_slice(&(frame_bytes as u32).to_le_bytes());
        header[4] = dest.kind as u8;
        header[8..12].copy_from_slice(&dest.principal_id.to_le_bytes());
        header[16..24].copy_from_slice(&dest.session_id.to_le_bytes());
        header[24..32].copy_from_slice(&input_seq.to_le_bytes());
        let written = encode_frame(msg, &mut self.buf[start + OUT_HEADER_LEN..end])
            .expect("the space is frame_len's, so the frame fits");
        assert_eq!(written, frame_bytes, "a frame is as long as frame_len says");
        self.count += 1;
        self.last_seq = input_seq;
    }

    pub fn clear(&mut self) {
        self.used = 0;
        self.count = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Bytes used.
    pub fn len_bytes(&self) -> usize {
        self.used
    }

    /// Bytes free before the reserve is exhausted.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.used
    }

    /// Input sequence of the last output pushed.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The raw bytes (routing headers and frames), for handing to egress in one piece.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.used]
    }

    /// Calls `f` with the destination and the frame, writable in place, of every output from byte
    /// offset `from` (a `len_bytes()` taken earlier) to the end: the engine numbers an input's
    /// recoverable outputs this way once the input is applied (`out_seq`).
    pub fn for_each_frame_mut_from(&mut self, from: usize, mut f: impl FnMut(Dest, &mut [u8])) {
        let mut at = from;
        while at < self.used {
            let record = OutIter::from_offset(self.bytes(), at)
                .next()
                .expect("the outbox holds whole records up to `used`");
            let (dest, frame_bytes) = (record.dest, record.frame.len());
            let start = at + OUT_HEADER_LEN;
            f(dest, &mut self.buf[start..start + frame_bytes]);
            at = start + frame_bytes;
        }
    }

    pub fn iter(&self) -> OutIter<'_> {
        OutIter {
            bytes: self.bytes(),
            at: 0,
        }
    }
}

/// Iterates the outputs in a byte buffer produced by an `Outbox`.
pub struct OutIter<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> OutIter<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        OutIter { bytes, at: 0 }
    }

    /// Iterates from byte offset `at` (an offset `offset()` returned earlier).
    pub fn from_offset(bytes: &'a [u8], at: usize) -> Self {
        OutIter { bytes, at }
    }

    /// Byte offset of the next record.
    pub fn offset(&self) -> usize {
        self.at
    }

    /// The next record without consuming it.
    pub fn peek(&self) -> Option<OutRecord<'a>> {
        OutIter {
            bytes: self.bytes,
            at: self.at,
        }
        .next()
    }
}

impl<'a> Iterator for OutIter<'a> {
    type Item = OutRecord<'a>;

    fn next(&mut self) -> Option<OutRecord<'a>> {
        let header = self.bytes.get(self.at..self.at + OUT_HEADER_LEN)?;
        let u32_at =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let frame_bytes = u32_at(0) as usize;
        let kind = DestKind::from_u8(header[4])?;
        let start = self.at + OUT_HEADER_LEN;
        let frame = self.bytes.get(start..start + frame_bytes)?;
        self.at = start + frame_bytes;
        Some(OutRecord {
            dest: Dest {
                kind,
                principal_id: u32_at(8),
                session_id: u64_at(16),
            },
            input_seq: u64_at(24),
            frame,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::Pulse;

    /// Pushes `n` pulses for input `seq`; returns the bytes one takes.
    fn push_pulses(out: &mut Outbox, seq: u64, n: usize) -> usize {
        for _ in 0..n {
            out.push(Dest::admins(), seq, &Pulse { flags: 0 });
        }
        OUT_HEADER_LEN + frame_len(&Pulse { flags: 0 })
    }

    #[test]
    fn each_input_may_emit_up_to_the_bound() {
        let mut out = Outbox::with_capacity(3 * MAX_OUTPUT_BYTES_PER_INPUT);
        let one = push_pulses(&mut out, 1, 1);
        let per_input = MAX_OUTPUT_BYTES_PER_INPUT / one;
        push_pulses(&mut out, 1, per_input - 1);
        push_pulses(&mut out, 2, per_input);
        assert_eq!(out.len(), 2 * per_input);
        assert_eq!(out.iter().count(), 2 * per_input);
        out.clear();
        push_pulses(&mut out, 2, per_input);
        assert_eq!(out.len_bytes(), per_input * one);
    }

    #[test]
    #[should_panic(expected = "emits more than MAX_OUTPUT_BYTES_PER_INPUT")]
    fn an_input_beyond_the_bound_panics() {
        let mut out = Outbox::with_capacity(3 * MAX_OUTPUT_BYTES_PER_INPUT);
        let one = push_pulses(&mut out, 1, 1);
        push_pulses(&mut out, 1, MAX_OUTPUT_BYTES_PER_INPUT / one);
    }

    #[test]
    #[should_panic(expected = "outbox full")]
    fn a_push_beyond_the_free_space_panics() {
        let mut out = Outbox::with_capacity(1000);
        push_pulses(&mut out, 1, 1000);
    }
}
