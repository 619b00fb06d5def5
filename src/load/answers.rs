//! Reading the server's answers: acks, results, refund outcomes, query answers and rejects, each
//! closing its request in the in-flight table and landing in the report's counts and latency
//! histograms.

use rustc_hash::FxHashMap;
use sluice_protocol::*;

use super::LoadReport;
use sluice_workload::Workload;

/// A request sent and not yet final.
#[derive(Debug, Clone, Copy)]
pub(super) struct InFlight {
    /// Intended send time, ns since the run started.
    pub sent_ns: u64,
    /// Whether its latencies are recorded (sent after the warm-up).
    pub record: bool,
    pub acked: bool,
}

/// The key of a query in the in-flight table (request ids of payments and refunds stay below it).
pub(super) fn query_key(request_id: u64) -> u64 {
    request_id | (1 << 63)
}

/// The key of a resend in the in-flight table (its payment may still be in flight under its own).
pub(super) fn resend_key(request_id: u64) -> u64 {
    request_id | (1 << 62)
}

/// What answers update, and when (ns since the run started).
pub(super) struct Tally<'a> {
    pub in_flight: &'a mut FxHashMap<u64, InFlight>,
    pub report: &'a mut LoadReport,
    pub workload: &'a mut Workload,
    pub last_final_ns: &'a mut u64,
    pub now_ns: u64,
    /// The connection the answer came on (answers come back where the request went).
    pub conn: usize,
}

impl Tally<'_> {
    /// Counts one answer; returns whether it finished a request of this connection.
    pub(super) fn answer(&mut self, frame: &[u8]) -> bool {
        let Ok(msg) = decode_any_frame(frame) else {
            *self
                .report
                .server_rejects
                .entry("undecodable".into())
                .or_default() += 1;
            return false;
        };
        match msg {
            AnyMessage::PaymentAck(a) => self.payment_ack(&a),
            AnyMessage::PaymentResult(r) => self.payment_result(&r),
            AnyMessage::RefundAck(a) if a.status == AckStatus::Rejected => {
                self.report.refunds_rejected += 1;
                *self.last_final_ns = self.now_ns;
                self.in_flight.remove(&a.refund_request_id).is_some()
            }
            AnyMessage::RefundResult(r) => {
                if self.in_flight.remove(&r.refund_request_id).is_none() {
                    return false;
                }
                *self.last_final_ns = self.now_ns;
                if r.status == FinalStatus::Succeeded {
                    self.report.refunds_succeeded += 1;
                } else {
                    self.report.refunds_failed += 1;
                }
                true
            }
            AnyMessage::OrderStatus(s) => {
                let done = self.in_flight.remove(&query_key(s.request_id)).is_some();
                self.report.queries_answered += u64::from(done);
                self.report.queries_retired += u64::from(done && s.retired);
                done
            }
            AnyMessage::Reject(r) => {
                *self
                    .report
                    .server_rejects
                    .entry(r.reason.name().to_string())
                    .or_default() += 1;
                r.ref_request_id != 0 && self.in_flight.remove(&r.ref_request_id).is_some()
            }
            _ => false,
        }
    }

    fn record_result_latency(&mut self, f: InFlight) {
        if f.record {
            let latency = self.now_ns.saturating_sub(f.sent_ns).max(1);
            let _ = self.report.result_latency_ns.record(latency);
        }
        *self.last_final_ns = self.now_ns;
    }

    fn payment_ack(&mut self, a: &PaymentAck) -> bool {
        if a.duplicate {
            // A resend's answer: the original outcome (a final one's result follows, duplicate).
            let done = self.in_flight.remove(&resend_key(a.request_id)).is_some();
            self.report.resends_answered += u64::from(done);
            return done;
        }
        let Some(f) = self.in_flight.get_mut(&a.request_id) else {
            // A resend of a request that left nothing behind (refused at validation) is a new
            // request: its answer is not a duplicate.
            return self.in_flight.remove(&resend_key(a.request_id)).is_some();
        };
        if f.record && !f.acked {
            let latency = self.now_ns.saturating_sub(f.sent_ns).max(1);
            let _ = self.report.ack_latency_ns.record(latency);
            if let Some(trace) = self.report.ack_trace.as_mut() {
                trace.push((f.sent_ns, latency, self.conn as u16));
            }
        }
        f.acked = true;
        self.report.acked += 1;
        if a.status == AckStatus::Accepted {
            self.report.accepted += 1;
            self.report.reviews += u64::from(a.risk_action == RiskAction::Review);
            return false;
        }
        self.report.rejected += 1;
        *self
            .report
            .rejected_by_reason
            .entry(a.reason.name().to_string())
            .or_default() += 1;
        if a.risk_rule_id != 0 {
            *self
                .report
                .rejected_by_rule
                .entry(a.risk_rule_id)
                .or_default() += 1;
        }
        if let Some(f) = self.in_flight.remove(&a.request_id) {
            self.record_result_latency(f);
        }
        *self.last_final_ns = self.now_ns;
        true
    }

    fn payment_result(&mut self, r: &PaymentResult) -> bool {
        if r.duplicate {
            return false;
        }
        let Some(f) = self.in_flight.remove(&r.request_id) else {
            return false;
        };
        self.record_result_latency(f);
        let entry = self.report.final_channels.entry(r.channel_id).or_default();
        entry.0 += 1;
        if r.status != FinalStatus::Succeeded {
            self.report.failed += 1;
            *self
                .report
                .failed_by_reason
                .entry(r.reason.name().to_string())
                .or_default() += 1;
            return true;
        }
        entry.1 += 1;
        self.report.succeeded += 1;
        self.report.failed_over += u64::from(r.attempts > 1);
        self.workload
            .succeeded(r.request_id, r.amount_minor, self.conn);
        true
    }
}
