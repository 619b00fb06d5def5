//! Session resume (docs/NOTIFICATIONS.md, section 1; PROTOCOL.md section 3, Resume): the
//! decision at login (`decide`), a resuming session's state (`Resuming`, sans-IO: the gateway
//! hands it live outputs and batches read from the output log, it says what to send), and the
//! worker thread that reads the output log off the event loop (`ResumeWorker`).
//!
//! The handover. At login the gateway knows `routed`, the last out_seq egress routed for the
//! acquirer. A resume from `k` retransmits (k, routed] from the log; live outputs that egress
//! routes to the session meanwhile (all past `routed`) are held, in order, in a bounded queue.
//! When the retransmission reaches `to`, the held ones follow, then ResumeComplete, then the
//! session is live. If the held queue would pass its bound, it is dropped and `to` moves up to
//! the newest dropped out_seq: the log has them, and the retransmission goes on further.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};
use sluice_protocol::{ReasonCode, read_out_seq, set_retransmission};

use crate::output_log::{READ_FRAMES_MAX, ReadOutcome, read_from};

/// What a Login's resume claim gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No resume asked for.
    NotRequested,
    /// Refused for this reason; the session is open without a resume.
    Refused(ReasonCode),
    /// Retransmit out_seq `from` through `to` (none when `from > to`).
    Resume { from: u64, to: u64 },
}

/// Decides a resume from `claim` (the last out_seq the acquirer processed, when it asked),
/// `routed` (the last out_seq egress routed) and the log's `(oldest, newest)` (None: empty, or
/// the log is off when `enabled` is false).
pub fn decide(claim: Option<u64>, routed: u64, log: Option<(u64, u64)>, enabled: bool) -> Decision {
    let Some(k) = claim else {
        return Decision::NotRequested;
    };
    if !enabled {
        return Decision::Refused(ReasonCode::ResumeUnavailable);
    }
    if k > routed {
        return Decision::Refused(ReasonCode::ResumeAhead);
    }
    let from = k + 1;
    if from <= routed {
        // An empty log with outputs to send is a follower that has not written them yet (the
        // worker waits for it); a log that starts after `from` has pruned them.
        if let Some((oldest, _)) = log
            && from < oldest
        {
            return Decision::Refused(ReasonCode::ResumeTooOld);
        }
    }
    Decision::Resume { from, to: routed }
}

/// A session that is resuming.
#[derive(Debug)]
pub struct Resuming {
    pub acquirer: u32,
    pub session_id: u64,
    /// The next out_seq to retransmit.
    pub next: u64,
    /// Retransmit through this one.
    pub to: u64,
    /// A read is out at the worker.
    pub reading: bool,
    pub retransmitted: u64,
    pub deadline: Instant,
    held: VecDeque<(u64, Vec<u8>)>,
    held_bytes: usize,
    held_bytes_max: usize,
}

/// What a resuming session asks for next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Read from the log: from, through.
    Read(u64, u64),
    /// A read is out: wait.
    Wait,
    /// Everything is retransmitted: send the held outputs and ResumeComplete (`finish`).
    Finish,
}

impl Resuming {
    pub fn new(
        acquirer: u32,
        session_id: u64,
        (from, to): (u64, u64),
        held_bytes_max: usize,
        deadline: Instant,
    ) -> Resuming {
        Resuming {
            acquirer,
            session_id,
            next: from,
            to,
            reading: false,
            retransmitted: 0,
            deadline,
            held: VecDeque::new(),
            held_bytes: 0,
            held_bytes_max,
        }
    }

    /// A live output egress routed to this session: held until the switch. Over the bound, the
    /// held ones are dropped and the retransmission reaches further instead.
    pub fn handle_live(&mut self, out_seq: u64, frame: &[u8]) {
        if self.held_bytes + frame.len() > self.held_bytes_max {
            self.held.clear();
            self.held_bytes = 0;
            self.to = self.to.max(out_seq);
            return;
        }
        self.held_bytes += frame.len();
        self.held.push_back((out_seq, frame.to_vec()));
    }

    pub fn poll(&self) -> Next {
        if self.next > self.to {
            Next::Finish
        } else if self.reading {
            Next::Wait
        } else {
            Next::Read(self.next, self.to)
        }
    }

    /// A batch read from the log (frames back to back): each frame it should send is patched
    /// as a retransmission and handed to `send`. Frames it did not ask for are skipped.
    pub fn handle_batch(&mut self, frames: &mut [u8], mut send: impl FnMut(&[u8])) {
        self.reading = false;
        let mut at = 0;
        while at + 4 <= frames.len() {
            let len =
                u32::from_be_bytes([frames[at], frames[at + 1], frames[at + 2], frames[at + 3]])
                    as usize;
            let Some(frame) = frames.get_mut(at..at + len) else {
                break;
            };
            at += len.max(4);
            let Some(n) = read_out_seq(frame) else {
                continue;
            };
            if n != self.next || n > self.to {
                continue;
            }
            set_retransmission(frame);
            send(frame);
            self.next += 1;
            self.retransmitted += 1;
        }
    }

    /// The switch to live: the held outputs, in order, and the last out_seq sent.
    pub fn finish(self) -> (Vec<(u64, Vec<u8>)>, u64, u64) {
        assert!(self.next > self.to, "finish after the retransmission");
        let last = self.held.back().map_or(self.to, |h| h.0);
        (self.held.into_iter().collect(), last, self.retransmitted)
    }
}

/// A read the event loop asks of the worker.
#[derive(Debug)]
pub struct ReadRequest {
    pub conn: usize,
    pub session_id: u64,
    pub acquirer: u32,
    pub from: u64,
    pub to: u64,
    pub max_bytes: usize,
    pub deadline: Instant,
}

/// The worker's answer: frames back to back, or why not.
#[derive(Debug)]
pub struct ReadReply {
    pub conn: usize,
    pub session_id: u64,
    pub result: Result<Vec<u8>, (ReasonCode, String)>,
}

/// The resume worker: a thread that reads the output log for resuming sessions, so the event
/// loop never touches the disk. It waits (up to each request's deadline) for a follower that has
/// not written the outputs yet.
pub struct ResumeWorker {
    pub requests: Sender<ReadRequest>,
    pub replies: Receiver<ReadReply>,
}

impl ResumeWorker {
    /// Starts the worker over `DATA/outputs`; `wake` wakes the event loop after each reply.
    pub fn spawn(root: PathBuf, wake: impl Fn() + Send + 'static) -> std::io::Result<ResumeWorker> {
        let (requests, rx) = crossbeam::channel::unbounded::<ReadRequest>();
        let (tx, replies) = crossbeam::channel::unbounded::<ReadReply>();
        std::thread::Builder::new()
            .name("sluice-resume".into())
            .spawn(move || {
                for req in rx {
                    let reply = read_batch(&root, &req);
                    if tx.send(reply).is_err() {
                        return;
                    }
                    wake();
                }
            })?;
        Ok(ResumeWorker { requests, replies })
    }
}

fn read_batch(root: &std::path::Path, req: &ReadRequest) -> ReadReply {
    let frames_max = ((req.to - req.from + 1) as usize).min(READ_FRAMES_MAX);
    let mut out = Vec::new();
    let result = loop {
        match read_from(
            root,
            req.acquirer,
            req.from,
            frames_max,
            req.max_bytes,
            &mut out,
        ) {
            ReadOutcome::Frames(_) => break Ok(out),
            ReadOutcome::Gone(why) => break Err((ReasonCode::ResumeTooOld, why)),
            ReadOutcome::NotYet if Instant::now() >= req.deadline => {
                let why = format!("the output log did not reach output {} in time", req.from);
                break Err((ReasonCode::ResumeUnavailable, why));
            }
            ReadOutcome::NotYet => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    ReadReply {
        conn: req.conn,
        session_id: req.session_id,
        result,
    }
}

#[cfg(test)]
#[path = "resume_tests.rs"]
mod tests;
