//! Egress: an output leaves only when the input that caused it is at or below the journal's
//! durable cursor (`Egress`), and goes to the session, acquirer, channel connector or admins it is
//! for (`Routes`). Both are sans-IO: the gateway hands them the cursor and the connections' state,
//! they say what to send where.

use rustc_hash::FxHashMap;
use sluice_engine::{Dest, DestKind, OutIter, OutRecord};
use sluice_protocol::Role;

use crate::pipeline::{OutChunk, OutputQueue};
use crate::session::Identity;

/// Where an output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One connection.
    Conn(usize),
    /// Every admin session.
    Admins,
    /// A channel with no connector logged in: the in-process simulator, if it serves it.
    Unconnected(u16),
    /// Nobody can take it (the session is gone): dropped and counted; acquirers query for results.
    Nobody,
    /// The gateway itself (a credential change for its login table).
    Gateway,
}

/// Which connection serves which session, acquirer, channel and admin.
#[derive(Debug, Default)]
pub struct Routes {
    sessions: FxHashMap<u64, usize>,
    /// The acquirer's most recent session: where results go when their own session is gone.
    acquirer_latest: FxHashMap<u32, usize>,
    channels: FxHashMap<u16, usize>,
    admins: Vec<usize>,
}

impl Routes {
    /// A session logged in on connection `key`.
    pub fn on_login(&mut self, key: usize, identity: Identity) {
        self.sessions.insert(identity.id, key);
        match identity.role {
            Role::Acquirer => {
                self.acquirer_latest.insert(identity.principal, key);
            }
            Role::Channel => {
                self.channels.insert(identity.principal as u16, key);
            }
            Role::Admin => self.admins.push(key),
        }
    }

    /// Connection `key`, logged in as `identity`, closed. Another live session of the same
    /// acquirer (among `others`) takes over its results.
    pub fn on_close(
        &mut self,
        key: usize,
        identity: Identity,
        mut others: impl Iterator<Item = (usize, Identity)>,
    ) {
        self.sessions.remove(&identity.id);
        let principal = identity.principal;
        match identity.role {
            Role::Acquirer if self.acquirer_latest.get(&principal) == Some(&key) => {
                self.acquirer_latest.remove(&principal);
                let heir = others.find(|(k, o)| {
                    *k != key && o.role == Role::Acquirer && o.principal == principal
                });
                if let Some((k, _)) = heir {
                    self.acquirer_latest.insert(principal, k);
                }
            }
            Role::Channel if self.channels.get(&(principal as u16)) == Some(&key) => {
                self.channels.remove(&(principal as u16));
            }
            Role::Admin => self.admins.retain(|k| *k != key),
            _ => {}
        }
    }

    /// The admin connections.
    pub fn admins(&self) -> &[usize] {
        &self.admins
    }

    /// Where an output for `dest` goes; `identity_of` says who a connection is logged in as.
    pub fn target(&self, dest: &Dest, identity_of: impl Fn(usize) -> Option<Identity>) -> Target {
        let found = match dest.kind {
            DestKind::Session => self.sessions.get(&dest.session_id).copied(),
            DestKind::Acquirer => self
                .sessions
                .get(&dest.session_id)
                .copied()
                .filter(|&k| {
                    identity_of(k).is_some_and(|s| {
                        s.role == Role::Acquirer && s.principal == dest.principal_id
                    })
                })
                .or_else(|| self.acquirer_latest.get(&dest.principal_id).copied()),
            DestKind::Channel => {
                let channel = dest.principal_id as u16;
                return self
                    .channels
                    .get(&channel)
                    .map_or(Target::Unconnected(channel), |&k| Target::Conn(k));
            }
            DestKind::Admins => return Target::Admins,
            DestKind::Gateway => return Target::Gateway,
        };
        found.map_or(Target::Nobody, Target::Conn)
    }
}

/// Gates the processor's output chunks on the durable cursor.
#[derive(Default)]
pub struct Egress {
    /// The chunk being sent, and the offset of its first unsent output.
    current: Option<(Box<OutChunk>, usize)>,
}

impl Egress {
    /// Hands every output whose input is at or below `durable` to `send`, in order, and stops at
    /// the first that is not (it waits for the next call). Finished chunks go back to the pool.
    /// Returns whether a chunk was recycled (a processor waiting for one may need a wake-up).
    pub fn drain(
        &mut self,
        durable: u64,
        outputs: &OutputQueue,
        mut send: impl FnMut(&OutRecord<'_>),
    ) -> bool {
        let mut recycled = false;
        loop {
            let (chunk, at) = match self.current.take() {
                Some(current) => current,
                None => match outputs.pop() {
                    Some(chunk) => (chunk, 0),
                    None => return recycled,
                },
            };
            let mut iter = OutIter::from_offset(chunk.outbox.bytes(), at);
            let mut blocked_at = None;
            while let Some(record) = iter.peek() {
                if record.input_seq > durable {
                    blocked_at = Some(iter.offset());
                    break;
                }
                send(&record);
                iter.next();
            }
            if let Some(offset) = blocked_at {
                self.current = Some((chunk, offset));
                return recycled;
            }
            outputs.recycle(chunk);
            recycled = true;
        }
    }

    /// Whether `drain` would send something now.
    pub fn ready(&self, durable: u64, outputs: &OutputQueue) -> bool {
        match &self.current {
            Some((chunk, at)) => OutIter::from_offset(chunk.outbox.bytes(), *at)
                .peek()
                .is_some_and(|r| r.input_seq <= durable),
            None => !outputs.is_empty(),
        }
    }

    /// Whether a chunk is half sent.
    pub fn holds_outputs(&self) -> bool {
        self.current.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::{AnyMessage, Heartbeat, decode_any_frame};

    fn identity(id: u64, role: Role, principal: u32) -> Identity {
        Identity {
            id,
            role,
            principal,
            key_id: [0; 16],
            generation: 1,
        }
    }

    /// A chunk of heartbeats to `dest`, one per input sequence, handed to egress.
    fn hand_over(outputs: &OutputQueue, dest: Dest, seqs: std::ops::RangeInclusive<u64>) {
        let mut chunk = outputs.take_free().expect("a free chunk");
        for seq in seqs {
            chunk
                .outbox
                .push(dest, seq, &Heartbeat { timestamp_ns: seq });
        }
        outputs.hand_over(chunk);
    }

    fn sent_seqs(egress: &mut Egress, durable: u64, outputs: &OutputQueue) -> (Vec<u64>, bool) {
        let mut seqs = Vec::new();
        let recycled = egress.drain(durable, outputs, |r| {
            let Ok(AnyMessage::Heartbeat(h)) = decode_any_frame(r.frame) else {
                panic!("a heartbeat");
            };
            assert_eq!(h.timestamp_ns, r.input_seq);
            seqs.push(r.input_seq);
        });
        (seqs, recycled)
    }

    #[test]
    fn nothing_leaves_before_its_input_is_durable_and_order_is_kept() {
        let outputs = OutputQueue::new(4, 1 << 16);
        let mut egress = Egress::default();
        hand_over(&outputs, Dest::admins(), 1..=5);
        hand_over(&outputs, Dest::admins(), 6..=8);
        assert_eq!(sent_seqs(&mut egress, 0, &outputs), (vec![], false));
        assert!(egress.holds_outputs() && !egress.ready(0, &outputs));
        assert_eq!(sent_seqs(&mut egress, 3, &outputs), (vec![1, 2, 3], false));
        assert!(egress.ready(4, &outputs));
        assert_eq!(sent_seqs(&mut egress, 6, &outputs), (vec![4, 5, 6], true));
        assert_eq!(sent_seqs(&mut egress, 6, &outputs), (vec![], false));
        assert_eq!(sent_seqs(&mut egress, 100, &outputs), (vec![7, 8], true));
        assert!(!egress.holds_outputs() && !egress.ready(100, &outputs));
        // Every chunk is back in the pool.
        for _ in 0..4 {
            assert!(outputs.take_free().is_some());
        }
    }

    #[test]
    fn outputs_go_to_their_session_acquirer_channel_or_admins() {
        let mut routes = Routes::default();
        let acq_old = identity(10, Role::Acquirer, 1);
        let acq_new = identity(11, Role::Acquirer, 1);
        let channel = identity(20, Role::Channel, 3);
        let admin = identity(30, Role::Admin, 1);
        let conns = [(0, acq_old), (1, acq_new), (2, channel), (3, admin)];
        for (k, i) in conns {
            routes.on_login(k, i);
        }
        let who = |k: usize| conns.iter().find(|(c, _)| *c == k).map(|(_, i)| *i);
        assert_eq!(routes.target(&Dest::session(10, 1), who), Target::Conn(0));
        // To the acquirer: its own session while it lives, else the acquirer's latest.
        assert_eq!(routes.target(&Dest::acquirer(1, 10), who), Target::Conn(0));
        assert_eq!(routes.target(&Dest::acquirer(1, 99), who), Target::Conn(1));
        assert_eq!(routes.target(&Dest::acquirer(2, 10), who), Target::Nobody);
        assert_eq!(routes.target(&Dest::channel(3), who), Target::Conn(2));
        assert_eq!(
            routes.target(&Dest::channel(4), who),
            Target::Unconnected(4)
        );
        assert_eq!(routes.target(&Dest::admins(), who), Target::Admins);
        assert_eq!(routes.target(&Dest::gateway(), who), Target::Gateway);
        assert_eq!(routes.admins(), &[3]);
        assert_eq!(routes.target(&Dest::session(77, 1), who), Target::Nobody);
    }

    #[test]
    fn a_closed_acquirer_session_hands_its_results_to_another_live_one() {
        let mut routes = Routes::default();
        let first = identity(10, Role::Acquirer, 1);
        let second = identity(11, Role::Acquirer, 1);
        routes.on_login(0, first);
        routes.on_login(1, second);
        let live = [(0, first)];
        let who = |k: usize| live.iter().find(|(c, _)| *c == k).map(|(_, i)| *i);
        // The latest session (1) closes; session 0 still lives and takes over.
        routes.on_close(1, second, live.into_iter());
        assert_eq!(routes.target(&Dest::acquirer(1, 11), who), Target::Conn(0));
        routes.on_close(0, first, std::iter::empty());
        assert_eq!(
            routes.target(&Dest::acquirer(1, 10), |_| None),
            Target::Nobody
        );
        // A channel's and an admin's close forget them.
        let channel = identity(20, Role::Channel, 3);
        let admin = identity(30, Role::Admin, 1);
        routes.on_login(2, channel);
        routes.on_login(3, admin);
        routes.on_close(2, channel, std::iter::empty());
        routes.on_close(3, admin, std::iter::empty());
        assert_eq!(
            routes.target(&Dest::channel(3), |_| None),
            Target::Unconnected(3)
        );
        assert!(routes.admins().is_empty());
    }
}
