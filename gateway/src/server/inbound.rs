//! The gateway's inbound side: accepting connections, reading frames, asking each connection's
//! session what to do with them, logging in, and sequencing requests into the ring (or stalling a
//! connection while the ring is full: backpressure, never a drop).

use mio::net::TcpStream;
use mio::{Interest, Token};
use sluice_node::wall_clock_ns;
use sluice_protocol::*;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Instant;
use tracing::{error, info, warn};

use super::{FIRST_CONN, Gateway, session_field};
use crate::net::{Closing, Conn, ReadEnd};
use crate::session::{Admission, Identity, check_role};

enum FrameOutcome {
    Done,
    RingFull,
}

impl Gateway {
    pub(super) fn accept(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.on_accept(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error!("accept: {e}");
                    return;
                }
            }
        }
    }

    fn on_accept(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let buffers = if self.conns.len() < self.max_connections {
            self.buffers.take()
        } else {
            None
        };
        let Some(buffers) = buffers else {
            self.stats.refused_connections += 1;
            let cap = self.max_connections;
            warn!(%peer, "refused {peer}: connection cap reached ({cap} connections)");
            let refusal = Logout {
                reason: ReasonCode::TooManyConnections,
                text: codec::text("connection cap reached"),
            };
            let n = encode_frame(&refusal, &mut self.scratch).expect("a Logout fits a frame");
            let _ = stream.write(&self.scratch[..n]);
            return;
        };
        let entry = self.conns.vacant_entry();
        let token = Token(entry.key() + FIRST_CONN);
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().register(&mut stream, token, interest) {
            error!(%peer, "register {peer}: {e}");
            self.buffers.give_back(buffers);
            return;
        }
        entry.insert(Conn::new(stream, peer, buffers, Instant::now()));
        self.stats.accepted += 1;
    }

    pub(super) fn on_readable(&mut self, key: usize) {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            if conn.stalled || conn.closing.is_some() {
                return;
            }
            match conn.read_available(Instant::now()) {
                // Full: make room by handling frames, then read on.
                ReadEnd::BufferFull => {
                    if !self.handle_frames(key) {
                        return;
                    }
                }
                ReadEnd::WouldBlock | ReadEnd::Closed => break,
            }
        }
        self.handle_frames(key);
        self.wake_consumers();
    }

    /// Handles the complete frames in the connection's read buffer. Returns false when it has to
    /// stop (ring full, or the connection is closing).
    fn handle_frames(&mut self, key: usize) -> bool {
        let mut at = 0;
        let keep_going = loop {
            let Some(conn) = self.conns.get(key) else {
                return false;
            };
            if conn.closing.is_some() {
                break false;
            }
            let available = &conn.read_buf[at..conn.read_len];
            let len = match frame_length(available, MAX_INBOUND_FRAME_BYTES) {
                Ok(Some(len)) => len,
                Ok(None) => break true,
                Err(e) => {
                    // The stream cannot be trusted after a framing error: say why and close.
                    self.send_logout(key, e.reason(), &e.to_string());
                    self.close_after_flush(key, format!("framing error: {e}"));
                    break false;
                }
            };
            match self.handle_frame(key, at, len) {
                FrameOutcome::Done => at += len,
                FrameOutcome::RingFull => {
                    self.stall(key);
                    break false;
                }
            }
        };
        if at > 0
            && let Some(conn) = self.conns.get_mut(key)
        {
            conn.consume(at);
        }
        keep_going
    }

    /// The ring is full: the connection's frames wait in its read buffer (and its socket).
    fn stall(&mut self, key: usize) {
        self.stats.ring_full += 1;
        if let Some(c) = self.conns.get_mut(key)
            && !c.stalled
        {
            c.stalled = true;
            self.stalled.push(key);
        }
    }

    fn handle_frame(&mut self, key: usize, at: usize, len: usize) -> FrameOutcome {
        let Some(conn) = self.conns.get(key) else {
            return FrameOutcome::Done;
        };
        let (sbe_start, sbe_end) = (at + SOFH_LEN, at + len);
        let header = match MessageHeader::read(&conn.read_buf[sbe_start..sbe_end]) {
            Ok(h) => h,
            Err(e) => {
                let reason = match e {
                    DecodeError::WrongSchema { .. } => ReasonCode::WrongSchema,
                    _ => ReasonCode::MalformedMessage,
                };
                self.send_reject(key, 0, reason, 0, &e.to_string());
                return FrameOutcome::Done;
            }
        };
        let template = header.template_id;
        match conn.session.admit(template) {
            Admission::Login => self.login(key, header, sbe_start, sbe_end),
            Admission::NotLoggedIn => {
                let why = "only Login is accepted before login";
                self.send_reject(key, template, ReasonCode::NotLoggedIn, 0, why);
                self.close_after_flush(key, "message before login".into());
            }
            Admission::AlreadyLoggedIn => {
                let why = "already logged in";
                self.send_reject(key, template, ReasonCode::AlreadyLoggedIn, 0, why);
            }
            Admission::Heartbeat => {}
            Admission::Logout => {
                self.send_logout(key, ReasonCode::None, "goodbye");
                self.close_after_flush(key, "logout".into());
            }
            Admission::Request(identity) => {
                return self.publish_request(key, identity, header, (sbe_start, sbe_end));
            }
        }
        FrameOutcome::Done
    }

    fn publish_request(
        &mut self,
        key: usize,
        identity: Identity,
        header: MessageHeader,
        (sbe_start, sbe_end): (usize, usize),
    ) -> FrameOutcome {
        let Some(conn) = self.conns.get(key) else {
            return FrameOutcome::Done;
        };
        let template = header.template_id;
        let body = &conn.read_buf[sbe_start + MESSAGE_HEADER_LEN..sbe_end];
        // Decode first, so that a refusal names the request it refuses when the body is readable.
        let decoded = AnyMessage::decode(header, body).map(|m| ref_request_id(&m));
        if let Err(reason) = check_role(identity.role, template) {
            let (request, why) = match reason {
                ReasonCode::UnknownTemplate => (0, format!("template id {template} is unknown")),
                _ => (
                    decoded.unwrap_or(0),
                    "this role may not send this message".to_string(),
                ),
            };
            self.send_reject(key, template, reason, request, &why);
            return FrameOutcome::Done;
        }
        if let Err(e) = decoded {
            let reason = match e {
                DecodeError::UnknownTemplate { .. } => ReasonCode::UnknownTemplate,
                _ => ReasonCode::MalformedMessage,
            };
            self.send_reject(key, template, reason, 0, &e.to_string());
            return FrameOutcome::Done;
        }
        let Gateway {
            conns,
            pipeline,
            sequencer,
            probe,
            ..
        } = self;
        let Some(producer) = pipeline.as_mut().and_then(|p| p.producer.as_mut()) else {
            return FrameOutcome::Done;
        };
        let sbe = &conns[key].read_buf[sbe_start..sbe_end];
        let role = identity.role as u8;
        if sequencer.publish(
            producer,
            sbe,
            identity.id,
            identity.principal,
            role,
            template,
        ) {
            if let Some(p) = probe.as_deref_mut() {
                p.sequenced(sequencer.next_seq - 1);
            }
            FrameOutcome::Done
        } else {
            FrameOutcome::RingFull
        }
    }

    fn login(&mut self, key: usize, header: MessageHeader, sbe_start: usize, sbe_end: usize) {
        let now_ns = self.sequencer.event_time_ns();
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let body = &conn.read_buf[sbe_start + MESSAGE_HEADER_LEN..sbe_end];
        let login = match Login::read_body(header.block_length, body) {
            Ok(l) => l,
            Err(e) => {
                self.send_login_rejected(key, ReasonCode::MalformedMessage, &e.to_string());
                return;
            }
        };
        let id = self.next_session + 1;
        let identity = match conn.session.handle_login(&login, &self.keys, id, now_ns) {
            Ok(identity) => identity,
            Err(refused) => {
                self.stats.login_failures += 1;
                let (key_id, peer) = (login.key_id.as_str(), conn.peer);
                let reason = refused.reason;
                warn!(
                    %peer,
                    key_id = %key_id,
                    ?reason,
                    "login refused for key {key_id:?} from {peer}"
                );
                self.send_login_rejected(key, refused.reason, refused.text);
                return;
            }
        };
        self.next_session = id;
        let (peer, role) = (conn.peer, identity.role);
        let key_id = login.key_id.as_str();
        info!(
            %peer,
            session = session_field(id),
            key_id = %key_id,
            ?role,
            "session {id} logged in from {peer} as {key_id:?} ({role:?})"
        );
        self.routes.on_login(key, identity);
        self.stats.logins += 1;
        let mut accepted = LoginAccepted {
            session_id: identity.id,
            principal_id: identity.principal,
            role: identity.role,
            heartbeat_interval_ms: self.timers.heartbeat_every.as_millis() as u32,
            idle_timeout_ms: self.timers.idle_timeout.as_millis() as u32,
            max_frame_bytes: MAX_INBOUND_FRAME_BYTES as u32,
            ..Default::default()
        };
        self.resume_at_login(key, &login, identity, &mut accepted);
        self.send_msg(key, &accepted);
    }

    /// Connections stalled on a full ring try their waiting frames again, in order.
    pub(super) fn retry_stalled(&mut self) {
        if self.stalled.is_empty() {
            return;
        }
        let stalled = std::mem::take(&mut self.stalled);
        let mut still = Vec::with_capacity(stalled.len());
        for key in stalled {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            conn.stalled = false;
            if !self.handle_frames(key) {
                if self.conns.get(key).is_some_and(|c| c.stalled) {
                    // handle_frames pushed it again; keep the order of the others.
                    self.stalled.retain(|k| *k != key);
                    still.push(key);
                }
                continue;
            }
            // Unstalled: read what the socket still holds (edge-triggered readiness was consumed).
            self.on_readable(key);
        }
        still.append(&mut self.stalled);
        self.stalled = still;
    }

    /// The simulator's replies that are due enter through the sequencer, like a connector's.
    pub(super) fn deliver_sim_replies(&mut self) {
        let Gateway {
            sims,
            pipeline,
            sequencer,
            probe,
            ..
        } = self;
        let Some(producer) = pipeline.as_mut().and_then(|p| p.producer.as_mut()) else {
            return;
        };
        sims.observe(sequencer.event_time_ns());
        let delivered = sims.deliver(wall_clock_ns(), |sbe, session, principal, role, kind| {
            let published = sequencer.publish(producer, sbe, session, principal, role, kind);
            if let (true, Some(p)) = (published, probe.as_deref_mut()) {
                p.sequenced(sequencer.next_seq - 1);
            }
            published
        });
        self.stats.sim_replies += delivered;
    }

    /// Marks a connection to close once what is queued is written.
    pub(super) fn close_after_flush(&mut self, key: usize, why: String) {
        if let Some(c) = self.conns.get_mut(key)
            && c.closing.is_none()
        {
            c.closing = Some(Closing::AfterFlush(why));
        }
    }
}

/// The request id a Reject names for a refused message (0 when the message has none).
fn ref_request_id(m: &AnyMessage) -> u64 {
    match m {
        AnyMessage::PaymentRequest(m) => m.request_id,
        AnyMessage::RefundRequest(m) => m.refund_request_id,
        AnyMessage::WithdrawRequest(m) => m.withdraw_request_id,
        AnyMessage::QueryOrder(m) if m.request_id == 0 => m.order_id,
        AnyMessage::QueryOrder(m) => m.request_id,
        AnyMessage::ChannelResult(m) => m.order_id,
        AnyMessage::RefundChannelResult(m) => m.refund_id,
        AnyMessage::PayoutChannelResult(m) => m.payout_id,
        AnyMessage::PayoutRequest(m) => m.payout_request_id,
        _ => 0,
    }
}
