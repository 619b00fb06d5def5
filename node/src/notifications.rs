//! What a merchant is told: the notifications one applied journal record causes
//! (docs/NOTIFICATIONS.md, section 2). A pure function of the record, its outputs and the
//! follower's engine right after it, so every follower that applies the same journal derives the
//! same notifications, byte for byte and with the same ids — which is what lets the notifier
//! re-derive them after a crash and de-duplicate by id.
//!
//! One notification per *first* final result: every PaymentResult and RefundResult whose
//! `duplicate` is 0 (an answer to a resend tells the merchant nothing new), for a merchant with
//! notify settings at that sequence. Its id is `ntf_<journal sequence>_<output ordinal>`: the
//! ordinal is the output's position among the record's outputs.

use serde::Serialize;
use sluice_engine::Engine;
use sluice_engine::state::{Order, id_slot};
use sluice_protocol::{
    AnyMessage, FinalStatus, PaymentResult, RefundResult, SplitLine, decode_any_frame,
};

use crate::Applied;
use crate::time::format_ns;

/// A notification before delivery: who it is for and the exact bytes to sign and POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub id: String,
    pub merchant_id: u32,
    pub order_id: u64,
    /// `payment.succeeded`, `payment.failed`, `refund.succeeded` or `refund.failed`.
    pub kind: &'static str,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// One party's share, as the JSON shows it.
#[derive(Serialize)]
struct Share {
    role: String,
    party_id: u32,
    amount_minor: i64,
}

/// The JSON body. Field order is the wire order (serde keeps declaration order).
#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    created_at: String,
    created_at_ns: u64,
    merchant_id: u32,
    order_id: u64,
    request_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refund_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refund_request_id: Option<u64>,
    amount_minor: i64,
    currency: u16,
    status: &'static str,
    reason: String,
    /// The split (payments) or the reversal per party (refunds).
    split: Vec<Share>,
    sequence: u64,
}

/// Calls `each` with every notification `applied` causes, in output order.
pub fn drafts(applied: &Applied<'_>, mut each: impl FnMut(Draft)) {
    let (seq, at_ns) = (applied.record.seq, applied.record.timestamp_ns);
    for (ordinal, out) in applied.outputs.iter().enumerate() {
        let result = match decode_any_frame(out.frame) {
            Ok(AnyMessage::PaymentResult(r)) if !r.duplicate => Result::Payment(r),
            Ok(AnyMessage::RefundResult(r)) if !r.duplicate => Result::Refund(r),
            _ => continue,
        };
        let Some(order) = order(applied.engine, result.order_id()) else {
            continue;
        };
        if applied
            .engine
            .state()
            .merchant_notify
            .get(order.merchant_id)
            .is_none()
        {
            continue;
        }
        let id = format!("ntf_{seq}_{ordinal}");
        let body = result.body(&id, order, seq, at_ns);
        each(Draft {
            merchant_id: order.merchant_id,
            order_id: order.id,
            kind: body.kind,
            body: serde_json::to_vec(&body).expect("a notification body serializes"),
            id,
        });
    }
}

/// The live order `order_id` names (a result's order is live: it just changed).
fn order(engine: &Engine, order_id: u64) -> Option<&Order> {
    let (slot, _) = id_slot(order_id)?;
    engine
        .state()
        .orders
        .get(slot as usize)
        .filter(|o| o.id == order_id && !o.vacant)
}

enum Result {
    Payment(PaymentResult),
    Refund(RefundResult),
}

impl Result {
    fn order_id(&self) -> u64 {
        match self {
            Result::Payment(r) => r.order_id,
            Result::Refund(r) => r.order_id,
        }
    }

    fn body<'a>(&self, id: &'a str, order: &Order, seq: u64, at_ns: u64) -> Body<'a> {
        let succeeded = |s: FinalStatus| s == FinalStatus::Succeeded;
        let (kind, status, reason, amount_minor, currency, lines, refund) = match self {
            Result::Payment(r) => (
                ["payment.failed", "payment.succeeded"][usize::from(succeeded(r.status))],
                r.status,
                r.reason,
                r.amount_minor,
                r.currency,
                &r.split[..],
                None,
            ),
            Result::Refund(r) => (
                ["refund.failed", "refund.succeeded"][usize::from(succeeded(r.status))],
                r.status,
                r.reason,
                r.amount_minor,
                r.currency,
                &r.reversal[..],
                Some((r.refund_id, r.refund_request_id)),
            ),
        };
        Body {
            id,
            kind,
            created_at: format_ns(at_ns),
            created_at_ns: at_ns,
            merchant_id: order.merchant_id,
            order_id: order.id,
            request_id: order.request_id,
            refund_id: refund.map(|r| r.0),
            refund_request_id: refund.map(|r| r.1),
            amount_minor,
            currency,
            status: if succeeded(status) {
                "succeeded"
            } else {
                "failed"
            },
            reason: format!("{reason:?}"),
            split: lines.iter().map(share).collect(),
            sequence: seq,
        }
    }
}

fn share(line: &SplitLine) -> Share {
    Share {
        role: format!("{:?}", line.role),
        party_id: line.party_id,
        amount_minor: line.amount_minor,
    }
}
