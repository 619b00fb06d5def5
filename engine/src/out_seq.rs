//! Each acquirer's output sequence: the numbers of its recoverable flow (PaymentAck,
//! PaymentResult, PaymentReversal, RefundAck, RefundResult, WithdrawResult; PROTOCOL.md section
//! 3, Resume). From 1, one more per output, gap-free per acquirer across its sessions and
//! restarts: it is state, snapshotted and replayed like any other, so output n of acquirer a is
//! a pure function of the journal, and a follower's output log holds exactly what the live
//! engine sent.
//!
//! Numbering happens in one place, after an input is applied (`Engine::number_outputs`): every
//! output of that input to an acquirer whose template is recoverable gets the next number,
//! written into its frame in place. No push site can forget it, and the cost on the live path is
//! a look at each output's routing header and template id, plus an increment and an 8-byte write
//! per recoverable output.

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{MESSAGE_HEADER_LEN, SOFH_LEN, is_recoverable, write_out_seq};

use crate::core::{ApplyError, Engine, StateHash};
use crate::input::InputMeta;
use crate::outbox::{DestKind, Outbox};

/// Acquirers preallocated for: a few per platform. More still work (the table grows once per new
/// acquirer, at its first output).
pub const ACQUIRERS_PREALLOCATED: usize = 64;

/// The last output sequence of each acquirer that has had an output, sorted by acquirer id.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct OutSeqs {
    entries: Vec<(u32, u64)>,
}

impl OutSeqs {
    pub fn with_capacity() -> OutSeqs {
        OutSeqs {
            entries: Vec::with_capacity(ACQUIRERS_PREALLOCATED),
        }
    }

    /// Restores the preallocation after a snapshot load.
    pub fn reserve(&mut self) {
        let more = ACQUIRERS_PREALLOCATED.saturating_sub(self.entries.len());
        self.entries.reserve_exact(more);
    }

    /// The last out_seq of `acquirer` (0: none yet).
    pub fn last(&self, acquirer: u32) -> u64 {
        match self.entries.binary_search_by_key(&acquirer, |e| e.0) {
            Ok(i) => self.entries[i].1,
            Err(_) => 0,
        }
    }

    /// The next out_seq of `acquirer`, counted.
    pub fn next(&mut self, acquirer: u32) -> u64 {
        let i = match self.entries.binary_search_by_key(&acquirer, |e| e.0) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (acquirer, 0));
                i
            }
        };
        let entry = &mut self.entries[i];
        entry.1 += 1;
        entry.1
    }

    /// Every (acquirer, last out_seq), by acquirer id.
    pub fn all(&self) -> &[(u32, u64)] {
        &self.entries
    }
}

impl Engine {
    /// Applies one input (`Engine::apply`), then numbers its recoverable outputs.
    pub(crate) fn apply_numbered(
        &mut self,
        meta: &InputMeta,
        sbe: &[u8],
        out: &mut Outbox,
    ) -> Result<(), ApplyError> {
        let from = out.len_bytes();
        let applied = self.apply(meta, sbe, out);
        self.number_outputs(from, out);
        applied
    }

    /// The hash of the business content alone: the state hash with the sequence, the clock and
    /// the acquirers' output sequences left out (a refused request is answered, and numbered), so
    /// "this input changed nothing" can be checked (clones the state: tests and tools only).
    pub fn content_hash(&self) -> StateHash {
        let mut copy = self.state.clone();
        copy.last_seq = 0;
        copy.now_ns = 0;
        copy.out_seqs = OutSeqs::default();
        crate::core::hash_bytes(&crate::core::state_bytes(&copy))
    }

    /// Numbers the recoverable outputs pushed from byte offset `from` of `out` (one input's).
    pub(crate) fn number_outputs(&mut self, from: usize, out: &mut Outbox) {
        let seqs = &mut self.state.out_seqs;
        out.for_each_frame_mut_from(from, |dest, frame| {
            if dest.kind != DestKind::Acquirer {
                return;
            }
            let at = SOFH_LEN + 2;
            let Some(t) = frame.get(at..at + 2) else {
                return;
            };
            let template_id = u16::from_le_bytes([t[0], t[1]]);
            if !is_recoverable(template_id) {
                return;
            }
            debug_assert!(frame.len() > SOFH_LEN + MESSAGE_HEADER_LEN);
            let n = seqs.next(dest.principal_id);
            assert!(
                write_out_seq(frame, n),
                "the engine writes recoverable frames of this version, which hold out_seq"
            );
        });
    }

    /// Each acquirer's last output sequence, by acquirer id (the gateway seeds its view of what
    /// egress has routed from the recovered engine's).
    pub fn acquirer_out_seqs(&self) -> &[(u32, u64)] {
        self.state.out_seqs.all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_acquirer_counts_from_one_without_gaps() {
        let mut s = OutSeqs::with_capacity();
        assert_eq!(s.last(7), 0);
        assert_eq!(s.next(7), 1);
        assert_eq!(s.next(3), 1);
        assert_eq!(s.next(7), 2);
        assert_eq!(s.last(7), 2);
        assert_eq!(s.all(), &[(3, 1), (7, 2)]);
    }
}
