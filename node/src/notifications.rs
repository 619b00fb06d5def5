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
use sluice_engine::state::{Order, id_slot};
use sluice_engine::{Engine, Outbox};
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

/// Calls `each` with every notification an applied journal record causes, in output order.
pub fn drafts(applied: &Applied<'_>, each: impl FnMut(Draft)) {
    let (seq, at_ns) = (applied.record.seq, applied.record.timestamp_ns);
    drafts_of(seq, at_ns, applied.engine, applied.outputs, each);
}

/// `drafts` for input `seq` at event time `at_ns`, given the engine right after it and its
/// outputs.
pub fn drafts_of(
    seq: u64,
    at_ns: u64,
    engine: &Engine,
    outputs: &Outbox,
    mut each: impl FnMut(Draft),
) {
    for (ordinal, out) in outputs.iter().enumerate() {
        let result = match decode_any_frame(out.frame) {
            Ok(AnyMessage::PaymentResult(r)) if !r.duplicate => Result::Payment(r),
            Ok(AnyMessage::RefundResult(r)) if !r.duplicate => Result::Refund(r),
            _ => continue,
        };
        let Some(order) = order(engine, result.order_id()) else {
            continue;
        };
        if engine
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

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::driver::Driver;
    use sluice_engine::fixture;
    use sluice_engine::merchant_notify::key_id_chars;
    use sluice_protocol::{
        ChannelOutcome, ChannelResult, Chars, ConfigMerchantNotify, NotifyOp, RefundChannelResult,
        RefundRequest, Role, codec::text,
    };

    fn notify(merchant_id: u32) -> ConfigMerchantNotify {
        ConfigMerchantNotify {
            merchant_id,
            op: NotifyOp::Set,
            rotation_window_ms: 0,
            key_id: key_id_chars(&[1; 8]),
            url: text("http://127.0.0.1:9/notify"),
            sealed_secret: text(&"ab".repeat(40)),
        }
    }

    /// Pays merchant `merchant` and answers its dispatch with `outcome`; returns the drafts of
    /// the answer.
    fn pay(d: &mut Driver, request_id: u64, merchant: u32, outcome: ChannelOutcome) -> Vec<Draft> {
        let out = d.acquirer(1, &fixture::payment(request_id, merchant, 10_000));
        let dispatch = out
            .iter()
            .find_map(|(_, m)| match m {
                AnyMessage::Dispatch(x) => Some(x.clone()),
                _ => None,
            })
            .expect("a dispatch");
        let answer = ChannelResult {
            order_id: dispatch.order_id,
            attempt: dispatch.attempt,
            outcome,
            channel_code: 0,
            latency_us: 1_000,
            channel_ref: Chars::new("ref-1"),
        };
        d.channel(dispatch.channel_id, &answer);
        let mut found = Vec::new();
        let seq = d.next_seq() - 1;
        drafts_of(seq, d.now_ns(), &d.engine, d.outbox(), |n| found.push(n));
        found
    }

    #[test]
    fn a_first_final_result_of_a_merchant_with_settings_is_one_notification() {
        let mut d = Driver::new(&fixture::genesis(1_000), 1_766_000_000_000_000_000).unwrap();
        assert!(d.configure(&fixture::config_messages()).is_empty());
        let merchant = fixture::merchants()[0].merchant_id;
        let other = fixture::merchants()[1].merchant_id;
        assert!(
            pay(&mut d, 1, merchant, ChannelOutcome::Succeeded).is_empty(),
            "no settings"
        );
        d.apply(1, 1, Role::Admin as u8, &notify(merchant));
        let paid = pay(&mut d, 2, merchant, ChannelOutcome::Succeeded);
        assert_eq!(paid.len(), 1);
        let n = &paid[0];
        assert_eq!((n.merchant_id, n.kind), (merchant, "payment.succeeded"));
        assert!(n.id.starts_with(&format!("ntf_{}_", d.next_seq() - 1)));
        let body: serde_json::Value = serde_json::from_slice(&n.body).unwrap();
        assert_eq!(body["id"], n.id.as_str());
        assert_eq!(body["request_id"], 2);
        assert_eq!(body["amount_minor"], 10_000);
        assert_eq!(body["status"], "succeeded");
        let split: i64 = body["split"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["amount_minor"].as_i64().unwrap())
            .sum();
        assert_eq!(split, 10_000, "the split sums to the amount");
        assert!(pay(&mut d, 3, other, ChannelOutcome::Succeeded).is_empty());
        let declined = pay(&mut d, 4, merchant, ChannelOutcome::Declined);
        if let Some(n) = declined.first() {
            assert_eq!(n.kind, "payment.failed");
        }
        // A resend of the final payment answers duplicate = 1: no new notification.
        d.acquirer(1, &fixture::payment(2, merchant, 10_000));
        let mut again = Vec::new();
        drafts_of(d.next_seq() - 1, d.now_ns(), &d.engine, d.outbox(), |n| {
            again.push(n)
        });
        assert!(again.is_empty());
        // A refund's result is a refund notification.
        let refund = RefundRequest {
            refund_request_id: 77,
            payment_request_id: 2,
            amount_minor: 4_000,
        };
        let dispatch = d
            .acquirer(1, &refund)
            .into_iter()
            .find_map(|(_, m)| match m {
                AnyMessage::RefundDispatch(x) => Some(x),
                _ => None,
            })
            .expect("a refund dispatch");
        let answer = RefundChannelResult {
            refund_id: dispatch.refund_id,
            outcome: ChannelOutcome::Succeeded,
            channel_code: 0,
            latency_us: 1_000,
            channel_ref: Chars::new("rf-1"),
        };
        d.channel(dispatch.channel_id, &answer);
        let mut refunded = Vec::new();
        drafts_of(d.next_seq() - 1, d.now_ns(), &d.engine, d.outbox(), |n| {
            refunded.push(n)
        });
        assert_eq!(refunded.len(), 1);
        assert_eq!(refunded[0].kind, "refund.succeeded");
        let body: serde_json::Value = serde_json::from_slice(&refunded[0].body).unwrap();
        assert_eq!(
            (&body["refund_request_id"], &body["amount_minor"]),
            (&serde_json::json!(77), &serde_json::json!(4_000))
        );
    }
}
