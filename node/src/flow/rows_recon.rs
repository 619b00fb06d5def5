//! The flow tables of channel settlement and the discrepancy list (docs/RECONCILIATION.md,
//! section 6): one row per accepted `ChannelSettlement` and per accepted `Discrepancy`. Declared
//! with rows.rs's `table!`, in rows.rs's conventions.

use super::*;

table! {
    /// One row per settlement batch the engine applied (a refused batch — a repeat, an unknown
    /// channel — is not a row).
    ChannelSettlementRow = "channel_settlements", key(seq) {
        /// Journal sequence of the ChannelSettlement.
        seq: i64,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// The channel that paid.
        channel_id: i32,
        /// ISO 4217 numeric.
        currency: i32,
        /// The batch (a bill day for a Daily channel, a payout id's hash for a Rolling one).
        batch_id: i64,
        /// The channel's name of the batch.
        batch_ref: String,
        /// What arrived in the platform's bank, minor units (negative: the platform paid).
        paid_minor: i64,
        /// The channel's fees beyond what the platform booked, minor units (signed).
        fee_difference_minor: i64,
        /// The first bill day the batch covers.
        first_day: Day,
        /// The last bill day it covers.
        last_day: Day,
    }
}

table! {
    /// One row per change of the discrepancy list the engine accepted: an entry opened or
    /// resolved.
    DiscrepancyRow = "discrepancies", key(seq) {
        /// Journal sequence of the Discrepancy.
        seq: i64,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// `Open` or `Resolve`.
        op: String,
        /// The entry.
        discrepancy_id: i64,
        /// The channel.
        channel_id: i32,
        /// DiscrepancyClass name.
        class: String,
        /// ISO 4217 numeric.
        currency: i32,
        /// The order (0 when none).
        order_id: i64,
        /// The attempt (0 for a refund).
        attempt: i32,
        /// The refund (0 for a payment).
        refund_id: i64,
        /// Its signed effect on what the channel owes, minor units.
        amount_minor: i64,
        /// Resolve: the part written off the channel's receivable, minor units (signed).
        write_off_minor: i64,
        /// The bill day it was found on.
        bill_day: Day,
        /// Open: the reconciler's description; Resolve: the resolution note.
        note: String,
    }
}
