//! The flow table of payouts (docs/PAYOUTS.md, section 4; docs/STORE.md): one row per change of a
//! payout's state, from the engine's payout recorder (`sluice_engine::payout_events`). Declared
//! with rows.rs's `table!`, in rows.rs's conventions.

use super::*;

table! {
    /// Every payout state change an input made: accepted into `Review` or `Sent`, sent after an
    /// approving review (`Sent`), `Paid`, `Failed` (the channel failed it, or the review rejected
    /// it: reason `PayoutRejected`) and `Returned`. A refused request (no payout) is not a row
    /// here: a merchant's is a `withdrawals` row.
    Payout = "payouts", key(seq, ordinal) {
        /// Journal sequence of the input that changed the payout.
        seq: i64,
        /// Position among the payout changes that input made.
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// Sluice's payout id (a merchant's withdrawal_id).
        payout_id: i64,
        /// Whose payout: `Merchant`, `Promoter` or `Platform` (PartyKind name).
        party_kind: String,
        /// The party (merchant or promoter id; 0 for the platform).
        party_id: i32,
        /// ISO 4217 numeric.
        currency: i32,
        /// Amount paid to the party, minor units (the fee is on top).
        amount_minor: i64,
        /// The payout channel's fee, borne by the party, minor units.
        fee_minor: i64,
        /// PayoutState name after the change: `Review`, `Sent`, `Paid`, `Failed` or `Returned`.
        state: String,
        /// ReasonCode name (`None` unless failed).
        reason: String,
        /// The payout channel (0 while in review before a channel was chosen).
        channel_id: i32,
        /// The payout channel's own result code (0 when none came).
        channel_code: i32,
        /// The acquirer's withdraw_request_id of a merchant's withdrawal (0 otherwise).
        withdraw_request_id: i64,
        /// True for an automatic payout (the party's payout_mode Automatic, after a settlement).
        automatic: bool,
    }
}
