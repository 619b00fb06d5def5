//! The event loop's side of session resume (`crate::resume` holds the logic): the decision at
//! login, handing reads to the resume worker, queuing what it read as retransmissions within
//! the connection's write cap, and the switch to live.

use sluice_protocol::{Login, LoginAccepted, ReasonCode, ResumeComplete, ResumeStatus, Role};
use std::time::Instant;
use tracing::{info, warn};

use super::{Gateway, session_field};
use crate::output_log::LogBounds;
use crate::pipeline::Shared;
use crate::resume::{Decision, Next, ReadReply, ReadRequest, ResumeWorker, Resuming, decide};
use crate::session::Identity;
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::Duration;

/// The gateway's resume state.
pub(super) struct ResumeState {
    /// Per acquirer, the last out_seq egress routed (sent, or dropped for want of a session).
    pub routed: FxHashMap<u32, u64>,
    /// Sessions resuming, by connection.
    pub sessions: FxHashMap<usize, Resuming>,
    /// Reads the output log (None: `[resume]` off).
    pub worker: Option<ResumeWorker>,
    /// What the output log holds per acquirer.
    pub bounds: Option<Arc<LogBounds>>,
    /// How long a read waits for the output log.
    pub timeout: Duration,
}

impl ResumeState {
    /// Seeded with the recovered engine's counters; the worker runs over `DATA/outputs` when the
    /// pipeline keeps the output log.
    pub(super) fn new(
        config: &crate::config::Config,
        pipeline: &crate::pipeline::Pipeline,
        shared: &Arc<Shared>,
    ) -> Result<ResumeState, sluice_node::Error> {
        let bounds = pipeline.output_bounds.clone();
        let worker = match &bounds {
            Some(_) => {
                let waker = shared.clone();
                let root = crate::output_log::outputs_dir(&config.data_dir);
                let worker = ResumeWorker::spawn(root, move || waker.wake_gateway())
                    .map_err(|e| sluice_node::Error::new(format!("resume worker: {e}")))?;
                Some(worker)
            }
            None => None,
        };
        Ok(ResumeState {
            routed: pipeline.out_seqs_at_start.iter().copied().collect(),
            sessions: FxHashMap::default(),
            worker,
            bounds,
            timeout: Duration::from_millis(u64::from(config.resume.resume_timeout_ms)),
        })
    }
}

impl Gateway {
    /// The resume part of a LoginAccepted for `identity`, and the resume started when asked.
    pub(super) fn resume_at_login(
        &mut self,
        key: usize,
        login: &Login,
        identity: Identity,
        accepted: &mut LoginAccepted,
    ) {
        if identity.role != Role::Acquirer {
            return;
        }
        let acquirer = identity.principal;
        let routed = self.resume.routed.get(&acquirer).copied().unwrap_or(0);
        let bounds = self.resume.bounds.as_ref().and_then(|b| b.get(acquirer));
        accepted.last_out_seq = routed;
        accepted.oldest_out_seq = bounds.map_or(0, |b| b.0);
        let claim = login.resume.then_some(login.last_out_seq);
        let enabled = self.resume.worker.is_some();
        let session = session_field(identity.id);
        match decide(claim, routed, bounds, enabled) {
            Decision::NotRequested => {}
            Decision::Refused(reason) => {
                self.stats.resumes_refused += 1;
                accepted.resume_status = ResumeStatus::Refused;
                accepted.resume_reason = reason;
                let claimed = login.last_out_seq;
                info!(
                    session,
                    acquirer,
                    ?reason,
                    "resume refused for acquirer {acquirer} from out_seq {claimed} ({reason:?}; \
                     last sent {routed})"
                );
            }
            Decision::Resume { from, to } => {
                self.stats.resumes_started += 1;
                accepted.resume_status = ResumeStatus::Resuming;
                let deadline = Instant::now() + self.resume.timeout;
                let held_max = self.write_cap / 4;
                let r = Resuming::new(acquirer, identity.id, (from, to), held_max, deadline);
                self.resume.sessions.insert(key, r);
                info!(
                    session,
                    acquirer,
                    from,
                    to,
                    "resume for acquirer {acquirer}: retransmitting out_seq {from} to {to}"
                );
            }
        }
    }

    /// One turn of every resume: the worker's answers, then each session's next step.
    pub(super) fn resume_turn(&mut self) {
        let Some(worker) = self.resume.worker.as_ref() else {
            return;
        };
        let replies: Vec<ReadReply> = worker.replies.try_iter().collect();
        for reply in replies {
            self.on_resume_reply(reply);
        }
        if self.resume.sessions.is_empty() {
            return;
        }
        let keys: Vec<usize> = self.resume.sessions.keys().copied().collect();
        for key in keys {
            self.resume_step(key);
        }
    }

    fn on_resume_reply(&mut self, reply: ReadReply) {
        let key = reply.conn;
        let Some(mut r) = self.resume.sessions.remove(&key) else {
            return;
        };
        if r.session_id != reply.session_id {
            // The connection was closed and its slot reused: not this session's read.
            self.resume.sessions.insert(key, r);
            return;
        }
        match reply.result {
            Ok(mut frames) => {
                let before = r.retransmitted;
                r.handle_batch(&mut frames, |f| self.queue_frame(key, f));
                self.stats.outputs_retransmitted += r.retransmitted - before;
                self.resume.sessions.insert(key, r);
            }
            Err((reason, why)) => {
                let session = session_field(r.session_id);
                warn!(
                    session,
                    ?reason,
                    "resume of session {session} failed: {why}"
                );
                self.send_logout(key, reason, &why);
                self.close_after_flush(key, format!("resume failed: {why}"));
            }
        }
    }

    fn resume_step(&mut self, key: usize) {
        let Some(unsent) = self.conns.get(key).map(|c| c.unsent()) else {
            self.resume.sessions.remove(&key);
            return;
        };
        // Retransmissions respect the connection's write cap: at most a quarter of it is asked
        // for while at most a quarter is unsent.
        let room = unsent <= self.write_cap / 4;
        let Some(r) = self.resume.sessions.get_mut(&key) else {
            return;
        };
        match r.poll() {
            Next::Wait => {}
            Next::Read(from, to) if room => {
                let request = ReadRequest {
                    conn: key,
                    session_id: r.session_id,
                    acquirer: r.acquirer,
                    from,
                    to,
                    max_bytes: self.write_cap / 4,
                    deadline: Instant::now() + self.resume.timeout,
                };
                r.reading = true;
                let sent = self
                    .resume
                    .worker
                    .as_ref()
                    .is_some_and(|w| w.requests.send(request).is_ok());
                if !sent {
                    self.resume.sessions.remove(&key);
                    let why = "the resume worker has stopped";
                    self.send_logout(key, ReasonCode::ResumeUnavailable, why);
                    self.close_after_flush(key, why.into());
                }
            }
            Next::Read(..) => {}
            Next::Finish if room => self.finish_resume(key),
            Next::Finish => {}
        }
    }

    /// The switch to live: the held outputs, ResumeComplete, then whatever egress routes.
    fn finish_resume(&mut self, key: usize) {
        let Some(r) = self.resume.sessions.remove(&key) else {
            return;
        };
        let (acquirer, session) = (r.acquirer, session_field(r.session_id));
        let (held, last_out_seq, retransmitted) = r.finish();
        for (_, frame) in &held {
            self.queue_frame(key, frame);
        }
        self.send_msg(
            key,
            &ResumeComplete {
                last_out_seq,
                retransmitted,
            },
        );
        self.stats.resumes_completed += 1;
        info!(
            session,
            acquirer,
            retransmitted,
            last_out_seq,
            "resume of acquirer {acquirer} complete: {retransmitted} outputs sent again, live \
             after out_seq {last_out_seq}"
        );
    }
}
