//! The flow tables of the risk analyst's loop (issue 23; docs/STORE.md, section 6): labels,
//! disputes and the review queue. Declared with rows.rs's `table!`, in rows.rs's conventions.

use super::*;

table! {
    /// Every risk label the engine accepted or gave itself: an analyst's, an issuer's or a
    /// customer's report (RiskLabel), an admin's review decision, a fraud chargeback. A refused
    /// label is not a row. An order's latest label (by `seq`, `ordinal`) is what it turned out
    /// to be.
    RiskLabelRow = "risk_labels", key(seq, ordinal) {
        /// Journal sequence of the input that labelled the order.
        seq: i64,
        /// Position among the labels that input gave.
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// The labelled order.
        order_id: i64,
        /// The order's merchant (0 when the engine no longer knew it).
        merchant_id: i32,
        /// LabelKind name: `Fraud`, `FalsePositive` or `Legitimate`.
        kind: String,
        /// LabelSource name: `Analyst`, `IssuerReport`, `Customer`, `Review` or `Chargeback`.
        source: String,
    }
}

table! {
    /// Every change of a dispute's (a chargeback's) stage, with the money it moved: `Opened`
    /// (the channel took the amount and its dispute fee back), `Won` (both returned), `Lost`
    /// (the reversal stands).
    DisputeRow = "disputes", key(seq, ordinal) {
        /// Journal sequence of the DisputeNotice.
        seq: i64,
        /// Position among the dispute changes that input made.
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// The channel's dispute id (with `channel_id`, what names the dispute).
        dispute_id: i64,
        /// The channel that disputed the payment.
        channel_id: i32,
        /// The disputed order.
        order_id: i64,
        /// The order's merchant.
        merchant_id: i32,
        /// DisputeStage name after the change: `Opened`, `Won` or `Lost`.
        stage: String,
        /// DisputeReason name (`Fraud`, `NotReceived`, `NotAsDescribed`, `Duplicate`, `Other`).
        reason: String,
        /// The disputed amount, minor units.
        amount_minor: i64,
        /// The channel's dispute fee, minor units.
        fee_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
    }
}

table! {
    /// Every change in the review queue: a payment accepted with the verdict `Review` is
    /// `Queued`; an admin's ReviewDecision ends it (`Approve` or `RefundAndBlock`). An order's
    /// latest row is where it stands.
    ReviewRow = "reviews", key(seq, ordinal) {
        /// Journal sequence of the PaymentRequest (queued) or the ReviewDecision.
        seq: i64,
        /// Position among the review changes that input made.
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// The order in review.
        order_id: i64,
        /// The order's merchant.
        merchant_id: i32,
        /// `Queued`, or the ReviewAction name of the decision: `Approve` or `RefundAndBlock`.
        state: String,
        /// The risk rule that sent it to review.
        rule_id: i32,
        /// The verdict's risk score, 0–100 (0 without a model).
        risk_score: i32,
        /// The payment's amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
    }
}
