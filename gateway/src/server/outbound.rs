//! The gateway's outbound side: egress (outputs leave once their input is durable, routed to
//! their session, acquirer, channel connector, simulator, admins or the gateway itself), answers of its own (rejects,
//! logouts), writing, the session timers, and closing connections.

use sluice_engine::{DestKind, OutRecord};
use sluice_node::wall_clock_ns;
use sluice_protocol::*;
use std::time::Instant;

use tracing::{debug, error, info, warn};

use super::{Gateway, session_field};
use crate::egress::Target;
use crate::net::{Closing, Queued, frame_template_id};
use crate::session::TimerAction;

impl Gateway {
    /// Sends every output whose input is durable.
    pub(super) fn drain_outputs(&mut self) {
        let durable = self.shared.durable.get();
        if let Some(p) = self.probe.as_deref_mut() {
            p.tick();
        }
        let mut egress = std::mem::take(&mut self.egress);
        let outputs = self.outputs.clone();
        let recycled = egress.drain(durable, &outputs, |record| self.route(record));
        self.egress = egress;
        if recycled && let Some(p) = self.pipeline.as_ref() {
            // A processor waiting for a free chunk may be parked.
            p.unpark_consumers();
        }
    }

    fn route(&mut self, r: &OutRecord<'_>) {
        let template = frame_template_id(r.frame);
        // The audit trail of admin changes; every other output pays this one compare.
        if template == ConfigAck::TEMPLATE_ID {
            audit_config_ack(r);
        }
        // The acquirer's recoverable flow: what egress routed is what a resume reaches back
        // from; a resuming session holds it until its retransmission is done.
        let out_seq = (r.dest.kind == DestKind::Acquirer && is_recoverable(template))
            .then(|| read_out_seq(r.frame))
            .flatten();
        if let Some(n) = out_seq {
            self.resume.routed.insert(r.dest.principal_id, n);
        }
        let conns = &self.conns;
        let identity_of = |k: usize| conns.get(k).and_then(|c| c.session.identity());
        match self.routes.target(&r.dest, identity_of) {
            Target::Conn(k) => match (out_seq, self.resume.sessions.get_mut(&k)) {
                (Some(n), Some(resuming)) => resuming.handle_live(n, r.frame),
                _ => self.queue_frame(k, r.frame),
            },
            Target::Admins => {
                for i in 0..self.routes.admins().len() {
                    let k = self.routes.admins()[i];
                    self.queue_frame(k, r.frame);
                }
            }
            Target::Gateway => self.on_gateway_output(r.frame),
            // No connector: the simulator takes it, or the attempt times out at its deadline and
            // fails over.
            Target::Unconnected(channel) if self.sims.send(channel, r.frame, wall_clock_ns()) => {}
            Target::Unconnected(_) | Target::Nobody => {
                self.stats.outputs_dropped += 1;
                return;
            }
        }
        if let Some(p) = self.probe.as_deref_mut() {
            p.answered(r.input_seq);
        }
    }

    /// Queues a frame for a connection, disconnecting a client that stopped reading.
    pub(super) fn queue_frame(&mut self, key: usize, frame: &[u8]) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match conn.queue(frame, self.write_cap) {
            Queued::Yes { first } => {
                self.stats.outputs_sent += 1;
                if let Some(p) = self.probe.as_deref_mut() {
                    p.sent(frame);
                }
                if first {
                    self.dirty.push(key);
                }
            }
            Queued::Closing => {}
            Queued::SlowConsumer => {
                self.stats.slow_consumers += 1;
                let (peer, unread_bytes) = (conn.peer, conn.unsent());
                let id = conn.session.identity().map(|s| s.id);
                warn!(
                    %peer,
                    session = id.map(session_field),
                    unread_bytes,
                    "disconnecting slow consumer {peer} (session {id:?}): {unread_bytes} bytes unread"
                );
            }
        }
    }

    pub(super) fn send_msg<M: Message>(&mut self, key: usize, msg: &M) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let n = encode_frame(msg, &mut scratch).expect("the gateway's own messages fit a frame");
        self.queue_frame(key, &scratch[..n]);
        self.scratch = scratch;
    }

    pub(super) fn send_reject(
        &mut self,
        key: usize,
        template: u16,
        reason: ReasonCode,
        request_id: u64,
        why: &str,
    ) {
        self.stats.rejects += 1;
        if let Some(p) = self.probe.as_deref_mut() {
            p.rejected(reason);
        }
        let msg = Reject {
            ref_template_id: template,
            reason,
            ref_request_id: request_id,
            text: codec::text(why),
        };
        self.send_msg(key, &msg);
    }

    pub(super) fn send_logout(&mut self, key: usize, reason: ReasonCode, why: &str) {
        let text = codec::text(why);
        self.send_msg(key, &Logout { reason, text });
    }

    pub(super) fn send_login_rejected(&mut self, key: usize, reason: ReasonCode, why: &str) {
        let text = codec::text(why);
        self.send_msg(key, &LoginRejected { reason, text });
        self.close_after_flush(key, format!("login rejected: {why}"));
    }

    pub(super) fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &key in &dirty {
            self.flush(key);
        }
        dirty.clear();
        self.dirty = dirty;
    }

    /// Writes as much as the socket takes.
    pub(super) fn flush(&mut self, key: usize) {
        if let Some(conn) = self.conns.get_mut(key) {
            conn.flush(Instant::now());
        }
    }

    /// Login deadlines, idle timeouts and heartbeats, as each session's timers ask.
    pub(super) fn check_timers(&mut self) {
        let now = Instant::now();
        self.last_timers = now;
        self.close_invalid_sessions(None);
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            let Some(conn) = self.conns.get(key) else {
                continue;
            };
            if conn.closing.is_some() {
                continue;
            }
            let write_idle = conn.unsent() == 0;
            match conn.session.poll_timer(now, &self.timers, write_idle) {
                None => {}
                Some(TimerAction::Heartbeat) => {
                    let timestamp_ns = wall_clock_ns();
                    self.send_msg(key, &Heartbeat { timestamp_ns });
                }
                Some(action) => {
                    let (reason, why) = action.logout().expect("a closing timer has a reason");
                    self.send_logout(key, reason, why);
                    let what = match action {
                        TimerAction::LoginDeadline => "login timeout",
                        _ => "idle timeout",
                    };
                    self.close_after_flush(key, what.into());
                }
            }
        }
    }

    pub(super) fn close_finished(&mut self) {
        let closing: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.closing.is_some())
            .map(|(k, _)| k)
            .collect();
        for key in closing {
            if let Some(Closing::AfterFlush(_)) =
                self.conns.get(key).and_then(|c| c.closing.as_ref())
            {
                self.flush(key);
            }
            self.close(key);
        }
    }

    /// The one place a connection is closed and deregistered.
    pub(super) fn close(&mut self, key: usize) {
        if !self.conns.contains(key) {
            return;
        }
        self.resume.sessions.remove(&key);
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if let Some(identity) = conn.session.identity() {
            let others = self
                .conns
                .iter()
                .filter_map(|(k, c)| c.session.identity().map(|i| (k, i)));
            self.routes.on_close(key, identity, others);
        }
        if let Some(why) = conn.closing.as_ref().map(Closing::why) {
            let peer = conn.peer;
            let session = conn.session.identity().map(|i| session_field(i.id));
            if why.starts_with("slow consumer") || why.starts_with("framing") {
                warn!(%peer, session, "closed {peer}: {why}");
            } else {
                debug!(%peer, session, "closed {peer}: {why}");
            }
        }
        self.stalled.retain(|k| *k != key);
        self.buffers.give_back(conn.into_buffers());
    }
}

/// Logs the outcome of an admin input answered with a ConfigAck — every configuration change and
/// snapshot request (a ConfigQuery that found nothing only at debug) — as the audit trail: which
/// input (`seq`, the journal sequence of the input it answers), what it named (`ref_template`,
/// `object_id`), who (`session`, the admin's session; its login line names the key and the
/// peer), and whether it was applied (`status`, `reason`, `text`). Refused changes are logged
/// too: an attempt is part of the trail.
fn audit_config_ack(r: &OutRecord<'_>) {
    let ack = match decode_frame::<ConfigAck>(r.frame) {
        Ok(ack) => ack,
        Err(e) => {
            // The engine writes these; an unreadable one is a bug.
            error!(seq = r.input_seq, "a ConfigAck output does not decode: {e}");
            return;
        }
    };
    let (seq, object_id, status, reason) = (ack.sequence, ack.object_id, ack.status, ack.reason);
    if ack.ref_template_id == ConfigQuery::TEMPLATE_ID {
        // A query changes nothing, and `sluice admin list` queries positions in batches, so each
        // listing ends with many that find nothing: not part of the trail.
        debug!(
            seq,
            object_id,
            ?reason,
            "admin query at sequence {seq} found nothing ({reason:?})"
        );
        return;
    }
    let ref_template = template_name(ack.ref_template_id).unwrap_or("unknown template");
    let text = ack.text.as_str();
    let session = session_field(r.dest.session_id);
    let outcome = match status {
        AckStatus::Accepted => "applied".to_string(),
        _ => format!("refused ({reason:?}: {text})"),
    };
    info!(
        seq,
        ref_template,
        object_id,
        ?status,
        ?reason,
        text = %text,
        session,
        "admin input at sequence {seq}: {ref_template} {object_id} {outcome}"
    );
}
