//! Session resume over real TCP against the real `sluice serve` (docs/NOTIFICATIONS.md, section
//! 1; PROTOCOL.md section 3, Resume): an acquirer whose connection is dropped mid-run — or whose
//! server is SIGKILLed — logs in again with the last out_seq it processed and receives every
//! output it missed, marked as retransmissions, gap-free, in order and none twice, then new ones
//! unmarked; every order's final result is seen exactly once across its sessions. A claim older
//! than the log keeps, or ahead of the server, is refused with its reason and the session works.

mod common;

use common::*;
use sluice_gateway::client::Client;
use sluice_protocol::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SHOP: u32 = 1001;
const KEY: &str = "acq-a";

/// What the acquirer has processed of its recoverable flow.
#[derive(Default)]
struct Flow {
    /// The last out_seq processed.
    last: u64,
    /// Final answers processed (a result, or a refusing ack), by payment request id (and refund
    /// request id + 1,000,000).
    finals: BTreeMap<u64, u32>,
    /// Payments that succeeded and are not refunded yet.
    refundable: Vec<(u64, i64)>,
    retransmitted: u64,
    refund_acks: usize,
}

impl Flow {
    /// Processes one message; `retransmitted_through` is the LoginAccepted's `last_out_seq` on a
    /// resumed session (what it says was sent before), 0 otherwise.
    fn process(&mut self, m: &AnyMessage, retransmitted_through: u64) {
        let (out_seq, retransmission) = match m {
            AnyMessage::PaymentAck(a) => {
                if a.status == AckStatus::Rejected && !a.duplicate {
                    // Refused: no result follows; its ack is its final answer.
                    *self.finals.entry(a.request_id).or_default() += 1;
                }
                (a.out_seq, a.retransmission)
            }
            AnyMessage::PaymentResult(r) => {
                *self.finals.entry(r.request_id).or_default() += 1;
                if r.status == FinalStatus::Succeeded {
                    self.refundable.push((r.request_id, r.amount_minor));
                }
                (r.out_seq, r.retransmission)
            }
            AnyMessage::RefundAck(a) => {
                self.refund_acks += 1;
                if a.status == AckStatus::Rejected && !a.duplicate {
                    *self
                        .finals
                        .entry(1_000_000 + a.refund_request_id)
                        .or_default() += 1;
                }
                (a.out_seq, a.retransmission)
            }
            AnyMessage::RefundResult(r) => {
                *self
                    .finals
                    .entry(1_000_000 + r.refund_request_id)
                    .or_default() += 1;
                (r.out_seq, r.retransmission)
            }
            AnyMessage::PaymentReversal(r) => (r.out_seq, r.retransmission),
            AnyMessage::WithdrawResult(r) => (r.out_seq, r.retransmission),
            AnyMessage::WithdrawAck(r) => (r.out_seq, r.retransmission),
            AnyMessage::WithdrawReturned(r) => (r.out_seq, r.retransmission),
            other => {
                eprintln!("not in the recoverable flow: {other:?}");
                return;
            }
        };
        assert_eq!(out_seq, self.last + 1, "gap-free and in order: {m:?}");
        assert_eq!(
            retransmission,
            out_seq <= retransmitted_through,
            "marked exactly when sent again: {m:?}"
        );
        self.retransmitted += u64::from(retransmission);
        self.last = out_seq;
    }

    /// Reads and processes until `done` says so.
    fn run_until(&mut self, c: &mut Client, through: u64, mut done: impl FnMut(&Flow) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out at out_seq {}",
                self.last
            );
            let m = next(c, "an output");
            self.process(&m, through);
        }
    }

    fn finals_of(&self, ids: impl Iterator<Item = u64>) -> usize {
        ids.filter(|id| self.finals.contains_key(id)).count()
    }
}

fn settings(set: Vec<(&'static str, String)>) -> Settings {
    let mut set = set;
    // The simulated channels answer quickly; no attempt may time out under a loaded machine.
    set.push(("timeout_ms", "600000".into()));
    Settings {
        simulator: true,
        set,
        ..Settings::default()
    }
}

fn send_payments(c: &mut Client, ids: std::ops::Range<u64>) {
    let mut burst = Vec::new();
    for id in ids {
        burst.extend_from_slice(&frame(&payment(
            id,
            SHOP,
            1_000 + id as i64,
            PaymentMethod::Card,
        )));
    }
    c.send_raw(&burst).expect("send payments");
}

/// Logs in resuming after `last`; returns the client and its LoginAccepted.
fn resume(addr: SocketAddr, last: u64) -> (Client, LoginAccepted) {
    let (role, secret) = credential(KEY);
    let c = Client::login_resuming(addr, role, KEY, secret, Some(last))
        .unwrap_or_else(|e| panic!("resume login: {e}"));
    let accepted = c.session.clone().expect("logged in");
    (c, accepted)
}

/// Reads a resumed session up to its ResumeComplete; returns its last out_seq.
fn through_resume_complete(c: &mut Client, flow: &mut Flow, accepted: &LoginAccepted) -> u64 {
    assert_eq!(
        accepted.resume_status,
        ResumeStatus::Resuming,
        "{accepted:?}"
    );
    loop {
        match next(c, "retransmissions, then ResumeComplete") {
            AnyMessage::ResumeComplete(done) => {
                assert_eq!(
                    done.last_out_seq, flow.last,
                    "ResumeComplete follows the last"
                );
                return done.last_out_seq;
            }
            m => flow.process(&m, accepted.last_out_seq),
        }
    }
}

#[test]
fn a_dropped_connection_resumes_with_every_missed_output_once_in_order() {
    let (dir, mut server) = start_server("resume-drop", &settings(Vec::new()));
    let addr = server.addr;
    let mut flow = Flow::default();
    let mut c = login(addr, KEY);
    send_payments(&mut c, 1..301);
    // Process part of the flow, refunding the first succeeded payments, then drop the
    // connection without a Logout while outputs are still coming.
    flow.run_until(&mut c, 0, |f| f.refundable.len() >= 10);
    for (i, (id, amount)) in flow.refundable.drain(..).enumerate() {
        let refund = RefundRequest {
            refund_request_id: 1 + i as u64,
            payment_request_id: id,
            amount_minor: amount / 2,
        };
        c.send(&refund).expect("send refund");
    }
    // The refunds are in (a connection closed with unread data may lose what it sent last).
    flow.run_until(&mut c, 0, |f| f.refund_acks == 10);
    drop(c);

    // Reconnect and resume from what was processed.
    let (mut c, accepted) = resume(addr, flow.last);
    assert!(accepted.last_out_seq >= flow.last);
    assert!(accepted.oldest_out_seq <= flow.last + 1, "{accepted:?}");
    let resumed_from = flow.last;
    through_resume_complete(&mut c, &mut flow, &accepted);
    // Everything else arrives live, unmarked.
    let through = accepted.last_out_seq;
    flow.run_until(&mut c, through, |f| {
        f.finals_of(1..301) == 300 && f.finals_of(1_000_001..1_000_011) == 10
    });
    assert!(flow.retransmitted > 0 || accepted.last_out_seq == resumed_from);
    // New outputs after the resume are not retransmissions.
    send_payments(&mut c, 1_000..1_005);
    flow.run_until(&mut c, through, |f| f.finals_of(1_000..1_005) == 5);
    assert!(
        flow.finals.values().all(|&n| n == 1),
        "every final result exactly once across both sessions"
    );
    server.terminate();
    assert_replay_check(&dir.join("data"));
}

#[test]
fn a_resume_after_a_server_sigkill_receives_what_it_missed() {
    let (dir, mut server) = start_server("resume-crash", &settings(Vec::new()));
    let mut flow = Flow::default();
    let mut c = login(server.addr, KEY);
    send_payments(&mut c, 1..201);
    // Process the first part; what follows is left unread and lost with the crash. The
    // simulated channels answer every payment meanwhile.
    flow.run_until(&mut c, 0, |f| f.last >= 150);
    std::thread::sleep(Duration::from_secs(3));
    server.kill();
    drop(c);
    let data = dir.join("data");
    let config = dir.join("sluice.toml");
    let mut server = ServerProcess::start(&config, &data);
    let (mut c, accepted) = resume(server.addr, flow.last);
    assert!(
        accepted.last_out_seq >= 400,
        "every ack and result: {accepted:?}"
    );
    through_resume_complete(&mut c, &mut flow, &accepted);
    flow.run_until(&mut c, accepted.last_out_seq, |f| {
        f.finals_of(1..201) == 200
    });
    assert!(flow.finals.values().all(|&n| n == 1), "exactly once");
    assert!(
        flow.retransmitted >= 250,
        "{} retransmitted",
        flow.retransmitted
    );
    server.terminate();
    assert_replay_check(&data);
}

#[test]
fn a_resume_too_old_or_ahead_is_refused_and_the_session_works() {
    let settings = settings(vec![("resume.max_bytes_per_acquirer", "4096".into())]);
    let (dir, mut server) = start_server("resume-bounds", &settings);
    let addr = server.addr;
    let mut flow = Flow::default();
    let mut c = login(addr, KEY);
    send_payments(&mut c, 1..201);
    flow.run_until(&mut c, 0, |f| f.finals_of(1..201) == 200);
    drop(c);
    // The follower prunes the log to about 4 KiB per acquirer.
    let deadline = Instant::now() + WAIT;
    let accepted = loop {
        let (mut c, accepted) = resume(addr, 0);
        if accepted.resume_status == ResumeStatus::Refused {
            assert_eq!(accepted.resume_reason, ReasonCode::ResumeTooOld);
            // The session works all the same: the acquirer queries what it missed.
            assert_eq!(query_order(&mut c, 1).state, OrderState::Succeeded);
            break accepted;
        }
        assert!(
            Instant::now() < deadline,
            "the log was never pruned: {accepted:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(accepted.oldest_out_seq > 100, "{accepted:?}");
    assert_eq!(accepted.last_out_seq, flow.last);

    // A claim ahead of what the server sent.
    let (mut c, ahead) = resume(addr, flow.last + 1_000);
    assert_eq!(ahead.resume_status, ResumeStatus::Refused);
    assert_eq!(ahead.resume_reason, ReasonCode::ResumeAhead);
    assert_eq!(query_order(&mut c, 2).state, OrderState::Succeeded);

    // A claim within the log resumes (nothing missed: ResumeComplete at once).
    let (mut c, ok) = resume(addr, flow.last);
    through_resume_complete(&mut c, &mut flow, &ok);
    server.terminate();
    assert_replay_check(&dir.join("data"));
}
