//! The engine's state: plain tables, serialized whole with rkyv for snapshots and hashed for
//! determinism checks. Hash indexes are not part of it; they are rebuilt from the tables on load.

use arrayvec::ArrayVec;
use rkyv::niche::niching::Zero;
use rkyv::with::NicheInto;
use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{
    HealthState, MAX_ROUTE_CHANNELS, PartyKind, PartySchedule, PaymentMethod, RefundFeePolicy,
    RoutingStrategy, SettlementSchedule, UnknownPolicy,
};
use std::collections::VecDeque;

use crate::credentials::Credentials;
use crate::ledger::Ledger;
use crate::merchant_notify::MerchantNotify;
use crate::risk::RiskState;

mod inflight;
mod order;
mod payout;
mod receipt;
mod refund;
mod slot;
pub mod wire;

pub use inflight::{InFlight, Links, Member, Table};
pub use order::{Attempt, AttemptTable, Candidate, Line, Order};
pub use payout::{
    ADMIN_OWNER, PLATFORM_PARTY, Payout, PayoutBook, PayoutChannel, PayoutOrigin, PayoutPolicy,
    PayoutTerms,
};
pub use receipt::{Due, Receipt, ReceiptAttempt, Retention, id_slot, slot_id};
pub use refund::{Refund, RefundStatus};
pub use slot::{Slot, Slot16};
use wire::{
    HealthStateDef, PartyKindDef, PartyScheduleDef, PaymentMethodDef, RefundFeePolicyDef,
    RoutingStrategyDef, SettlementScheduleDef, UnknownPolicyDef,
};

/// Limits fixed at genesis; every table is preallocated from them.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub orders_max: u32,
    pub refunds_max: u32,
    pub withdrawals_max: u32,
    pub merchants_max: u32,
    pub promoters_max: u32,
    pub channels_max: u32,
    pub split_profiles_max: u32,
    pub risk_rules_max: u32,
    pub list_entries_max: u32,
    pub velocity_keys_max: u32,
    pub attempts_max: u8,
    pub utc_offset_secs: i32,
    /// A final order retires this long after its last change (0 = never; docs/ENGINE.md,
    /// "Retention").
    pub order_retention_ns: u64,
    /// A retired order's receipt answers resends and queries this long after it retired.
    pub idempotency_window_ns: u64,
    /// Most receipts in memory.
    pub receipts_max: u32,
    /// Most labelled orders (schema 8; docs/DISPUTES.md).
    pub labels_max: u32,
    /// Most disputes, open and ended.
    pub disputes_max: u32,
    /// Most orders waiting in the review queue.
    pub review_queue_max: u32,
    /// Ledger currencies (ISO 4217 numeric); a currency's slot is its index here.
    pub currencies: ArrayVec<u16, CURRENCIES_MAX>,
}

impl Limits {
    pub fn parties_max(&self) -> u32 {
        self.merchants_max + self.promoters_max
    }
}

/// A merchant.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Merchant {
    pub id: u32,
    pub acquirer_id: u32,
    pub profile_slot: u32,
    /// The merchant above this one in its hierarchy.
    #[rkyv(with = NicheInto<Zero>)]
    pub parent_slot: Option<Slot>,
    pub party_slot: u32,
    pub active: bool,
    #[rkyv(with = RoutingStrategyDef)]
    pub strategy: RoutingStrategy,
    pub min_amount_minor: i64,
    pub max_amount_minor: i64,
    pub weight_success_ppb: i64,
    pub weight_cost_ppb: i64,
    pub weight_latency_ppb: i64,
    pub currencies: ArrayVec<u16, 8>,
    /// Bit i set when the merchant accepts ledger currency slot i (derived from `currencies`).
    pub currency_mask: u8,
    /// Candidate channels in priority order: (channel id, weight).
    pub channels: ArrayVec<(u16, u16), MAX_ROUTE_CHANNELS>,
}

/// A promoter.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Promoter {
    pub id: u32,
    /// The promoter who brought this one.
    #[rkyv(with = NicheInto<Zero>)]
    pub parent_slot: Option<Slot>,
    pub party_slot: u32,
    pub active: bool,
}

/// A split profile, rates in exact parts per billion.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SplitProfile {
    pub id: u32,
    pub platform_ppb: i64,
    pub promoter_level1_ppb: i64,
    pub promoter_level2_ppb: i64,
    pub parent_share_ppb: i64,
    pub grandparent_share_ppb: i64,
    pub merchant_bears_fee: bool,
    /// (min amount, rate) sorted by min amount.
    pub tiers: ArrayVec<(i64, i64), 8>,
    /// (category, rate).
    pub categories: ArrayVec<(u16, i64), 8>,
}

/// Money due to a party on a day, in one currency.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueEntry {
    pub day: u32,
    pub currency_slot: u8,
    pub amount_minor: i64,
}

/// A merchant's or promoter's settlement state.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Party {
    /// Merchant or promoter.
    #[rkyv(with = PartyKindDef)]
    pub kind: PartyKind,
    pub id: u32,
    pub settlement_days: u8,
    pub deposit_ppb: i64,
    pub deposit_hold_days: u16,
    #[rkyv(with = PartyScheduleDef)]
    pub schedule: PartySchedule,
    /// The weekday (1 = Monday … 7 = Sunday) of `Weekly`, the date (1..=31) of `Monthly`.
    pub schedule_anchor: u8,
    /// The rolling reserve's share of what the deposit leaves, ppb.
    pub reserve_ppb: i64,
    /// How long a reserve share is held, calendar days.
    pub reserve_days: u16,
    /// Income waiting for its settlement day, in day order.
    pub pending: VecDeque<DueEntry>,
    /// Deposits waiting for their release day, in day order.
    pub frozen: VecDeque<DueEntry>,
    /// Reserve shares waiting for their release day, in day order.
    pub reserved: VecDeque<DueEntry>,
    /// Income held for a manual release (`PartySchedule::Manual`), by the day it was earned, in day
    /// order.
    pub held: VecDeque<DueEntry>,
    /// How and where it is paid out (schema 7).
    pub payout: PayoutTerms,
}

/// A channel's fee for one method.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodFee {
    #[rkyv(with = PaymentMethodDef)]
    pub method: PaymentMethod,
    pub fee_bps: u16,
    pub fee_fixed_minor: i64,
}

/// Attempt-level and payment-level outcomes over recent blocks, and latency.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct MethodStats {
    /// Completed blocks: (attempts, successes).
    pub blocks: [(u32, u32); 4],
    pub block_cursor: u8,
    pub current_attempts: u32,
    pub current_successes: u32,
    /// Payment level, for payments whose first attempt went here: (payments, succeeded).
    pub payment_blocks: [(u32, u32); 4],
    pub payment_cursor: u8,
    pub payment_current: (u32, u32),
    /// Exponentially weighted moving average of latency, microseconds (alpha = 1/8).
    pub latency_ewma_us: u32,
    /// The last latencies, for a recent high percentile.
    pub latencies_us: [u32; 64],
    pub latency_cursor: u8,
    pub latency_count: u8,
}

impl Default for MethodStats {
    fn default() -> Self {
        MethodStats {
            blocks: [(0, 0); 4],
            block_cursor: 0,
            current_attempts: 0,
            current_successes: 0,
            payment_blocks: [(0, 0); 4],
            payment_cursor: 0,
            payment_current: (0, 0),
            latency_ewma_us: 0,
            latencies_us: [0; 64],
            latency_cursor: 0,
            latency_count: 0,
        }
    }
}

/// Most ledger currencies (Genesis): a channel keeps one book per currency slot.
pub const CURRENCIES_MAX: usize = 8;

/// What a channel did with the payers' money in one currency, as the engine learned it from the
/// channel's own answers (minor units, never decreasing). It is the channel's statement of account:
/// what the channel owes us, `owed_minor`, is exactly what its ChannelReceivable account holds
/// posted (`Engine::verify_ledger` checks it), and a channel's own book can be checked against it
/// to the minor unit.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelBook {
    /// Every capture the channel reported, kept or not.
    pub captured_minor: u128,
    /// Of those, the captures no payment kept (late or second captures, overflows): reversed or
    /// being reversed.
    pub not_kept_minor: u128,
    /// Fees of the kept captures (the channel keeps them, refunds or not).
    pub fees_minor: u128,
    /// Of those fees, what ProRata refunds returned (`money::fee_returned`).
    pub fees_returned_minor: u128,
    /// Refunds the channel paid.
    pub refunded_minor: u128,
    /// What the channel took back for disputes (amount and fee; docs/DISPUTES.md).
    pub disputed_minor: u128,
    /// Of that, what it returned for disputes the merchant won.
    pub dispute_returned_minor: u128,
    /// Captures the channel confirmed it reversed.
    pub reversed_minor: u128,
}

impl ChannelBook {
    /// What the channel owes us by this book: captured − fees + fees returned − refunded −
    /// reversed − disputed + dispute returns (before its settlements: `ChannelSettlements::settled_minor`).
    pub fn owed_minor(&self) -> i128 {
        self.captured_minor as i128 - self.fees_minor as i128 + self.fees_returned_minor as i128
            - self.refunded_minor as i128
            - self.reversed_minor as i128
            - self.disputed_minor as i128
            + self.dispute_returned_minor as i128
    }

    /// Captures not kept whose reversal the channel has not confirmed yet.
    pub fn reversing_minor(&self) -> i128 {
        self.not_kept_minor as i128 - self.reversed_minor as i128
    }
}

/// A channel: its configuration, statistics and health.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: u16,
    pub name: [u8; 16],
    pub active: bool,
    pub timeout_ms: u32,
    pub min_amount_minor: i64,
    pub max_amount_minor: i64,
    pub failure_threshold: u16,
    pub failure_leak_per_sec: u16,
    pub min_success_ppb: i64,
    pub min_attempts_for_rate: u16,
    pub cooldown_ms: u32,
    pub probe_slots: u8,
    pub probe_successes: u8,
    /// How often an Unknown attempt or refund is asked about, ms.
    pub query_interval_ms: u32,
    /// How long after the deadline it is asked before `unknown_policy` applies, ms.
    pub query_window_ms: u32,
    #[rkyv(with = UnknownPolicyDef)]
    pub unknown_policy: UnknownPolicy,
    /// Most refunds of one payment (failed ones included).
    pub refunds_max: u8,
    /// Days after a payment it may be refunded (0 = no limit).
    pub refund_window_days: u16,
    /// Whether the channel returns its fee on a refund (docs/RECONCILIATION.md, section 5).
    #[rkyv(with = RefundFeePolicyDef)]
    pub refund_fee: RefundFeePolicy,
    /// The bill's time zone, minutes east of UTC.
    pub bill_utc_offset_min: i32,
    /// Where the bill day ends, minutes after local midnight.
    pub bill_cutoff_min: u16,
    #[rkyv(with = SettlementScheduleDef)]
    pub settlement: SettlementSchedule,
    pub settlement_delay_days: u8,
    pub currencies: ArrayVec<u16, 8>,
    pub methods: ArrayVec<MethodFee, 4>,
    /// Bit i set when the channel takes ledger currency slot i (derived from `currencies`).
    pub currency_mask: u8,
    /// Bit m set when the channel takes payment method m (derived from `methods`).
    pub method_mask: u8,
    // Health.
    #[rkyv(with = HealthStateDef)]
    pub health: HealthState,
    pub health_changes: u32,
    pub failure_level_milli: u64,
    pub level_updated_ns: u64,
    pub cooldown_until_ns: u64,
    pub probes_in_flight: u8,
    pub probe_successes_seen: u8,
    pub consecutive_failures: u32,
    // Totals.
    pub attempts: u64,
    pub successes: u64,
    pub declines: u64,
    pub retryable_errors: u64,
    pub timeouts: u64,
    /// Per payment method (index = method - 1).
    pub stats: [MethodStats; 3],
    /// In-flight payment attempts, oldest deadline first (linked through the orders).
    pub attempts_in_flight: InFlight,
    /// In-flight refunds, oldest deadline first (linked through the refunds).
    pub refunds_in_flight: InFlight,
    /// Attempts the channel is asked about (Unknown, Closing, Reversing), soonest question
    /// first (linked through the attempts, `AttemptTable`).
    pub attempt_controls: InFlight,
    /// Refunds whose outcome is unknown, soonest RefundQuery first (linked through the refunds).
    pub refund_queries: InFlight,
    /// Per ledger currency slot: the channel's book.
    pub books: [ChannelBook; CURRENCIES_MAX],
}

/// The business state: everything the state hash covers.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub struct State {
    pub limits: Limits,
    pub last_seq: u64,
    pub now_ns: u64,
    /// The last day whose due settlements and deposit releases have been processed.
    pub settled_through_day: u32,
    /// The working-day calendar (docs/PAYOUTS.md, section 2).
    pub calendar: crate::calendar::Calendar,
    pub merchants: Vec<Merchant>,
    pub promoters: Vec<Promoter>,
    pub profiles: Vec<SplitProfile>,
    pub parties: Vec<Party>,
    pub channels: Vec<Channel>,
    /// The largest fixed fee any channel has been configured with (never lowered): with
    /// `fee_bps` at most 10000, a fee is at most the amount plus this (the money limits' fast
    /// path, `limits.rs`).
    pub fee_fixed_max: i64,
    pub orders: Vec<Order>,
    pub refunds: Vec<Refund>,
    /// Payouts: merchants' withdrawals, admins' payout requests, automatic payouts
    /// (docs/PAYOUTS.md, section 4).
    pub payouts: Vec<Payout>,
    /// Payout channels, policies and the payouts' questions queue.
    pub payout_book: PayoutBook,
    /// Retired orders' receipts, free slots and what is due to retire or expire.
    pub retention: Retention,
    pub ledger: Ledger,
    pub risk: RiskState,
    /// Who may log in (docs/OPERATIONS.md, "Credentials as journaled state").
    pub credentials: Credentials,
    /// Merchants' result notifications: URLs and sealed signing secrets (docs/NOTIFICATIONS.md).
    pub merchant_notify: MerchantNotify,
    /// Each acquirer's last output sequence (docs/NOTIFICATIONS.md, section 1).
    pub out_seqs: crate::out_seq::OutSeqs,
    /// What channels settled and what was written off, per channel and currency
    /// (docs/RECONCILIATION.md, section 6).
    pub channel_settlements: crate::channel_settlement::ChannelSettlements,
    /// The discrepancy list (docs/RECONCILIATION.md, section 6).
    pub discrepancies: crate::discrepancies::Discrepancies,
    /// Orders' latest risk labels (docs/DISPUTES.md, section 1).
    pub labels: crate::labels::Labels,
    /// Disputes and what parties owe for them (docs/DISPUTES.md, section 2).
    pub disputes: crate::disputes::Disputes,
    /// Orders waiting for a review decision (docs/DISPUTES.md, section 3).
    pub review: crate::review::ReviewQueue,
    /// The balance yield's register (docs/YIELD.md).
    pub yields: crate::yields::Yields,
    /// Consumer installment plans and terms (docs/INSTALLMENTS.md).
    pub installments: crate::installments::Installments,
    /// Merchant credit: the policy, flow rings and loans (docs/CREDIT.md).
    pub credit: crate::credit::Credit,
}

/// Operational counters: snapshotted with the state but not part of its hash (a resend or a
/// refused input may count without changing the business state).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub accepted: u64,
    pub rejected_invalid: u64,
    pub rejected_risk: u64,
    pub rejected_no_channel: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub failed_over: u64,
    pub reviews: u64,
    pub duplicates: u64,
    pub refunds_succeeded: u64,
    pub refunds_failed: u64,
    pub refunds_rejected: u64,
    pub timeouts: u64,
    /// Merchants' withdrawals paid.
    pub withdrawals: u64,
    /// Payouts paid (returned ones included), failed or rejected, and returned.
    pub payouts_paid: u64,
    pub payouts_failed: u64,
    pub payouts_returned: u64,
    pub stale_results: u64,
    /// Attempts whose outcome is unknown now (Unknown or Closing); goes down as they resolve.
    pub unknown_attempts: u64,
    /// Unknown attempts resolved by the channel's answer to a query or close.
    pub unknown_resolved: u64,
    /// Captures the payment did not keep (late or second captures).
    pub late_captures: u64,
    /// Reversals the channel confirmed.
    pub reversals: u64,
    /// Refunds whose outcome is unknown now.
    pub unknown_refunds: u64,
    /// Per risk rule slot: (enforced, shadow).
    pub rule_hits: Vec<(u64, u64)>,
    /// Per routing strategy (index = strategy - 1): (decisions, failovers).
    pub strategies: [(u64, u64); 6],
    /// Orders retired from the order table (docs/ENGINE.md, "Retention").
    pub orders_retired: u64,
    /// Retired orders brought back by a refund.
    pub orders_revived: u64,
    /// Receipts whose windows all passed (their refunds went with them).
    pub receipts_expired: u64,
    /// Times an order was due to retire and the receipts were full (it stayed).
    pub retire_blocked: u64,
    /// Review verdicts not queued because the review queue was full.
    pub review_queue_overflows: u64,
}
