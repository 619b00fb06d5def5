//! Every message of the Sluice schema (schema id 0x534C, version 1). Field order is wire order;
//! offsets are computed from the field sizes. Versioning is append-only: new fields go at the end of
//! a root block or group entry, new groups and texts after the existing ones.

use crate::codec::{Chars, Ip};
use crate::types::*;
use rust_decimal::Decimal;

/// Most split lines a payment can have (platform, two promoter levels, merchant, two hierarchy
/// levels, channel fee).
pub const MAX_SPLIT_LINES: usize = 8;
/// Most attempts (channels tried) a payment can have.
pub const MAX_ATTEMPTS: usize = 4;
/// Most candidate channels a merchant lists, and a routing explanation shows.
pub const MAX_ROUTE_CHANNELS: usize = 8;
/// Most refunds a single payment can have.
pub const MAX_REFUNDS_PER_ORDER: usize = 50;
/// Most currencies a merchant or channel lists.
pub const MAX_CURRENCIES: usize = 8;
/// Most payment methods a channel lists fees for.
pub const MAX_CHANNEL_METHODS: usize = 4;
/// Most commission tiers / category rates in a split profile.
pub const MAX_COMMISSION_TIERS: usize = 8;
/// Most channels in a statistics report.
pub const MAX_STATS_CHANNELS: usize = 32;
/// Most rules in a statistics report.
pub const MAX_STATS_RULES: usize = 64;
/// Longest human-readable text in a message.
pub const MAX_TEXT: usize = 128;

// ---------------------------------------------------------------------------------------------
// Group entries
// ---------------------------------------------------------------------------------------------

composite! {
    /// One party's part of a payment (or of a refund's reversal).
    SplitLine {
        /// Which party.
        role: PartyRole,
        /// The merchant or promoter id (0 for Platform and ChannelFee).
        party_id: u32,
        /// Amount in minor units, never negative. In a payment's split, lines of 0 are left out
        /// except the Merchant line (always present) and the lines sum exactly to the payment's
        /// amount. In a refund's reversal, the amount the party gives back (> 0; lines of 0 are left
        /// out), at most what earlier refunds left of its line; the lines sum exactly to the
        /// refund's amount (section 4, Splits and reversals).
        amount_minor: i64,
    }
}

composite! {
    /// One term of a risk-score model (docs/RISK_SCORE.md): a feature and its weight.
    ScoreTerm {
        /// The feature's index (0..24, docs/RISK_SCORE.md, section 1).
        feature: u16,
        /// Its weight on the logit per unit of the feature, in 1/65536 (|weight| <= 1024.0).
        weight: i32,
    }
}

composite! {
    /// One installment of a plan's schedule (docs/INSTALLMENTS.md, section 4).
    InstallmentEntry {
        /// Its number, 1-based.
        index: u16,
        /// Due day: days since the Unix epoch in the calendar's offset.
        due_day: u32,
        /// Principal still to pay (after any refund's reduction), minor units.
        principal_minor: i64,
        /// Interest still to pay, minor units.
        interest_minor: i64,
        /// Late fee charged and not paid, minor units.
        late_fee_minor: i64,
        /// 0 unpaid, 1 repaid, 2 settled by a refund, 3 rebated or cancelled (early repayment,
        /// default, unwind).
        status: u8,
        /// 1 once a late fee was charged (at most once).
        late: bool,
    }
}

composite! {
    /// A currency (ISO 4217 numeric).
    CurrencyEntry {
        /// ISO 4217 numeric code, e.g. 156 CNY, 840 USD, 978 EUR.
        currency: u16,
    }
}

composite! {
    /// A channel in a merchant's routing list.
    RouteEntry {
        /// The channel id.
        channel_id: u16,
        /// Weight for WeightedSplit (ignored by other strategies); list order is priority order.
        weight: u16,
    }
}

composite! {
    /// A channel's fee for one payment method.
    MethodFee {
        /// The method.
        method: PaymentMethod,
        /// Percentage part in basis points (1 bp = 0.01%).
        fee_bps: u16,
        /// Fixed part in minor units of the payment's currency.
        fee_fixed_minor: i64,
    }
}

composite! {
    /// A platform-commission tier: applies to amounts at or above `min_amount_minor`.
    RateTier {
        /// Lower bound of the tier (inclusive), minor units.
        min_amount_minor: i64,
        /// Commission rate for the tier, e.g. 0.006.
        rate: Decimal,
    }
}

composite! {
    /// A platform-commission rate for one goods category (overrides tiers).
    CategoryRate {
        /// Goods category code.
        category: u16,
        /// Commission rate for that category.
        rate: Decimal,
    }
}

composite! {
    /// One attempt of a payment.
    AttemptEntry {
        /// 1-based attempt number.
        attempt: u8,
        /// The channel tried.
        channel_id: u16,
        /// Its outcome so far.
        status: AttemptStatus,
        /// The channel's own result code (0 when none).
        channel_code: u16,
        /// Channel latency reported with the result, microseconds.
        latency_us: u32,
        /// Event time of the dispatch, ns since the Unix epoch.
        dispatched_ns: u64,
    }
}

composite! {
    /// One candidate channel in a routing explanation.
    CandidateEntry {
        /// The channel.
        channel_id: u16,
        /// What was decided about it. A failover turns the candidate it picks into Chosen, so
        /// after a failover several candidates are Chosen (the attempts group gives their order).
        decision: CandidateDecision,
        /// Why it was skipped when the payment was routed (None unless decision is Skipped; set
        /// back to None when a failover picks a candidate that was skipped at first).
        skip_reason: SkipReason,
        /// Rank among the eligible channels when the payment was routed, 1 = best (0 for a channel
        /// skipped then, even if a failover picked it later).
        rank: u8,
        /// The strategy's score when the payment was routed (higher is better; its unit depends on
        /// the strategy: see section 9, Routing). 0 for a skipped channel.
        score: i64,
    }
}

composite! {
    /// One refund of a payment.
    RefundEntry {
        /// Sluice's refund id.
        refund_id: u64,
        /// The acquirer's refund request id.
        refund_request_id: u64,
        /// Amount refunded (or being refunded), minor units.
        amount_minor: i64,
        /// Its state.
        state: RefundState,
    }
}

composite! {
    /// A balance in one currency.
    BalanceEntry {
        /// ISO 4217 numeric.
        currency: u16,
        /// Income not yet settled (minor units). For Platform: commission revenue.
        pending_minor: i64,
        /// Settled and withdrawable. For Platform: fee expense (as a positive number).
        available_minor: i64,
        /// Held as deposit. For Platform: 0.
        frozen_minor: i64,
    }
}

composite! {
    /// Statistics of one channel (all methods together).
    ChannelStats {
        /// The channel.
        channel_id: u16,
        /// Its health now.
        health: HealthState,
        /// Attempts dispatched.
        attempts: u64,
        /// Attempts that succeeded.
        successes: u64,
        /// Attempts declined.
        declines: u64,
        /// Attempts that failed with a retryable error.
        retryable_errors: u64,
        /// Attempts that timed out.
        timeouts: u64,
        /// Success rate of recent attempts, parts per million.
        recent_success_rate_ppm: u32,
        /// Success rate of payments whose first attempt went here, parts per million.
        payment_success_rate_ppm: u32,
        /// Latency moving average, microseconds.
        latency_avg_us: u32,
        /// Latency p99 of recent attempts, microseconds.
        latency_p99_us: u32,
        /// Consecutive failed attempts now.
        consecutive_failures: u32,
        /// Health changes so far.
        health_changes: u32,
    }
}

composite! {
    /// Hit counts of one risk rule.
    RuleStats {
        /// The rule.
        rule_id: u32,
        /// Hits that were enforced.
        enforced_hits: u64,
        /// Hits in shadow mode (counted, not enforced).
        shadow_hits: u64,
    }
}

composite! {
    /// Routing decisions per strategy.
    StrategyStats {
        /// The strategy.
        strategy: RoutingStrategy,
        /// Payments routed with it.
        decisions: u64,
        /// Failovers (attempts after the first) under it.
        failovers: u64,
    }
}

wire_enum! {
    /// The state of one refund.
    RefundState: u8 {
        Pending = 1 => "At the channel.",
        Succeeded = 2 => "Money returned; split reversed.",
        Failed = 3 => "The channel refused it (or, before schema version 3, timed out); nothing changed.",
        Unknown = 4 => "No answer by the deadline: the channel is being asked (ChannelControl RefundQuery); the money stays reserved until it answers.",
    }
}

// ---------------------------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------------------------

message! {
    /// First message of every session.
    Login = 1, sent_by Client {
        /// The role to log in as; the key must have it.
        role: Role,
        /// Key id (ASCII, NUL-padded).
        key_id: Chars<16>,
        /// Secret (ASCII, NUL-padded). Sent in clear: use TLS or a private network.
        secret: Chars<32>,
    }
    since 5 {
        /// Acquirers: 1 to resume the recoverable flow after `last_out_seq` (section 3, Resume);
        /// ignored for other roles.
        resume: bool = false,
        /// With `resume`: the last out_seq the acquirer processed (0: none yet); every later one
        /// is sent again, marked as a retransmission, before any new output.
        last_out_seq: u64 = 0,
    }
    groups {}
    texts {}
}

message! {
    /// The session is open.
    LoginAccepted = 2, sent_by Server {
        /// Unique id of this session.
        session_id: u64,
        /// The id the session acts as: acquirer id, channel id or admin id.
        principal_id: u32,
        /// The role granted.
        role: Role,
        /// Send something (a Heartbeat if nothing else) at least this often, milliseconds.
        heartbeat_interval_ms: u32,
        /// The server closes a session from which it has received nothing for this long
        /// (Logout(HeartbeatTimeout)), milliseconds.
        idle_timeout_ms: u32,
        /// Largest frame the server accepts, bytes (framing header included): 1024 in this version.
        max_frame_bytes: u32,
    }
    since 5 {
        /// Acquirers: the out_seq of the last output of its recoverable flow the server has sent
        /// or dropped for want of a session (0: none yet; 0 for other roles).
        last_out_seq: u64 = 0,
        /// Acquirers: the oldest out_seq a resume can still retransmit (0: none kept, or resume
        /// off on this server; section 3, Resume).
        oldest_out_seq: u64 = 0,
        /// Whether the resume the Login asked for is under way.
        resume_status: ResumeStatus = ResumeStatus::NotRequested,
        /// Why a resume was refused (ResumeTooOld, ResumeAhead, ResumeUnavailable); None otherwise.
        resume_reason: ReasonCode = ReasonCode::None,
    }
    groups {}
    texts {}
}

message! {
    /// The end of a resume: every output of the acquirer's recoverable flow from the Login's
    /// `last_out_seq` + 1 through `last_out_seq` here has been sent on this session (the ones
    /// retransmitted with `retransmission` = 1, then any that came meanwhile); what follows is
    /// new. Sent even when nothing was missed.
    ResumeComplete = 7, sent_by Server {
        /// The last out_seq sent before this message.
        last_out_seq: u64,
        /// How many outputs were retransmitted (retransmission = 1).
        retransmitted: u64,
    }
    groups {}
    texts {}
}

message! {
    /// Login refused; the server closes the connection after it.
    LoginRejected = 3, sent_by Server {
        /// Why.
        reason: ReasonCode,
    }
    groups {}
    texts {
        /// Human-readable detail.
        text: 128,
    }
}

message! {
    /// Keeps an idle session alive; either side sends it.
    Heartbeat = 4, sent_by Any {
        /// Sender's clock, ns since the Unix epoch (informational: the server does not read a
        /// client's).
        timestamp_ns: u64,
    }
    groups {}
    texts {}
}

message! {
    /// Ends a session; the receiver closes the connection after it.
    Logout = 5, sent_by Any {
        /// Why (None for a normal logout). The server reads no field of a client's Logout.
        reason: ReasonCode,
    }
    groups {}
    texts {
        /// Human-readable detail.
        text: 128,
    }
}

message! {
    /// A message was refused (the session stays open unless the framing was lost).
    Reject = 6, sent_by Server {
        /// Template id of the refused message (0 when its SBE header itself was refused:
        /// WrongSchema, or schema version 0).
        ref_template_id: u16,
        /// Why.
        reason: ReasonCode,
        /// The refused message's request id when the server decoded it (which field: see section
        /// 3), else 0.
        ref_request_id: u64,
    }
    groups {}
    texts {
        /// Human-readable detail (e.g. the field that failed to decode).
        text: 128,
    }
}

// ---------------------------------------------------------------------------------------------
// Acquirer
// ---------------------------------------------------------------------------------------------

message! {
    /// Pay a merchant.
    PaymentRequest = 10, sent_by Acquirer {
        /// Unique per acquirer: the idempotency key. A resend whose root block is byte-for-byte
        /// identical gets the same outcome; the same id with any root byte different is refused
        /// (DuplicateRequestMismatch). See section 2, Idempotency.
        request_id: u64,
        /// The merchant paid: must be configured, belong to this acquirer and be active.
        merchant_id: u32,
        /// The promoter who brought the payer (0 = none; otherwise it must be configured).
        promoter_id: u32,
        /// Amount in minor units of `currency`: > 0, and within the merchant's minimum and maximum
        /// (up to 2^63 - 1). Refused BalanceOverflow when it, or the fee of a channel that may take
        /// it, could take a balance past 2^63 - 1 minor units (section 4, Money limits).
        amount_minor: i64,
        /// ISO 4217 numeric currency code: a ledger currency the merchant accepts.
        currency: u16,
        /// The payment method (any defined value; routing picks a channel that supports it).
        method: PaymentMethod,
        /// Where the payment is made (any defined value; passed on in Dispatch).
        scene: Scene,
        /// Goods category code (e.g. 5411 grocery; 0 = unspecified). Optional: selects a split
        /// profile's category rate and a risk rule's category filter.
        goods_category: u16,
        /// The payer's user id at the acquirer (0 = unknown). Optional; used by risk only.
        user_id: u64,
        /// The payer's device id (0 = unknown). Optional; used by risk only.
        device_id: u64,
        /// The payer's IP address (version 0 = unknown). Optional; used by risk only.
        ip: Ip,
        /// Card fingerprint (a token identifying the card; never a card number). All NUL =
        /// unknown. Optional for every method; used by risk only.
        card_fingerprint: Chars<16>,
        /// Card BIN, the first 6 to 8 digits (0 = unknown). Optional for every method; used by
        /// risk only.
        card_bin: u32,
        /// Payer's country, ISO 3166-1 alpha-2 (e.g. "CN"; all NUL = unknown). Optional; not used
        /// by this version beyond the idempotency check.
        country: Chars<2>,
    }
    since 9 {
        /// Take the payment under a consumer installment plan of this many monthly installments
        /// (docs/INSTALLMENTS.md): 0 = no plan (the default), else 3, 6 or 12. Refused
        /// InvalidField when no installment terms apply to the merchant, AmountAboveMaximum
        /// above 2^40 minor units, CapacityReached when the plans table is full.
        installment_count: u8 = 0,
        /// With a plan: 1 = the payer pays interest at the configured flat rate; 0 = interest-free,
        /// the merchant bears the configured fee.
        installment_payer_interest: bool = false,
    }
    groups {}
    texts {}
}

message! {
    /// The immediate answer to a PaymentRequest.
    PaymentAck = 11, sent_by Server {
        /// Echo of the request id.
        request_id: u64,
        /// Sluice's order id (0 if the request was refused without an order: validation refusals,
        /// OrdersFull and DuplicateRequestMismatch; see section 2).
        order_id: u64,
        /// Accepted or rejected.
        status: AckStatus,
        /// Why it was rejected (None when accepted).
        reason: ReasonCode,
        /// The channel of the first attempt (0 when rejected).
        channel_id: u16,
        /// The risk verdict's action.
        risk_action: RiskAction,
        /// The risk rule that fired (0 = none; list entries report 1 for allow, 2 for block lists).
        risk_rule_id: u32,
        /// 1 when this answers a resend with identical fields (0 on DuplicateRequestMismatch).
        duplicate: bool,
        /// Journal sequence of the input this answers: the PaymentRequest, or the resend's own.
        sequence: u64,
        /// Event time of that input, ns since the Unix epoch.
        timestamp_ns: u64,
    }
    since 5 {
        /// This output's number in the acquirer's recoverable flow: from 1, one more for each
        /// PaymentAck, PaymentResult, PaymentReversal, RefundAck, RefundResult, WithdrawAck,
        /// WithdrawResult, WithdrawReturned and DisputeUpdate sent to the acquirer, gap-free across all its
        /// sessions and restarts (section 3, Resume).
        out_seq: u64 = 0,
        /// 1 on a copy sent again by a resume (section 3, Resume); 0 on the first sending.
        retransmission: bool = false,
    }
    since 8 {
        /// The risk score of the payment (0..=100, docs/RISK_SCORE.md); 0 when no model is
        /// loaded or the request was refused before risk evaluation.
        risk_score: u8 = 0,
    }
    groups {}
    texts {}
}

message! {
    /// The final outcome of an accepted payment.
    PaymentResult = 12, sent_by Server {
        /// Echo of the request id.
        request_id: u64,
        /// The order.
        order_id: u64,
        /// Succeeded or failed.
        status: FinalStatus,
        /// Why it failed (None when succeeded).
        reason: ReasonCode,
        /// The channel of the last attempt.
        channel_id: u16,
        /// Attempts made (1 = no failover).
        attempts: u8,
        /// Amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: u16,
        /// The channel's fee for this payment, minor units (0 when failed).
        fee_minor: i64,
        /// The channel's reference for the payment (empty when failed).
        channel_ref: Chars<24>,
        /// 1 when this answers a resend of a payment that was already final.
        duplicate: bool,
        /// Journal sequence of the input this answers: the one that finished the payment (a
        /// ChannelResult, or the Pulse that timed the last attempt out), or, when duplicate = 1,
        /// the resend.
        sequence: u64,
    }
    since 5 {
        /// This output's number in the acquirer's recoverable flow: from 1, one more for each
        /// PaymentAck, PaymentResult, PaymentReversal, RefundAck, RefundResult, WithdrawAck,
        /// WithdrawResult, WithdrawReturned and DisputeUpdate sent to the acquirer, gap-free across all its
        /// sessions and restarts (section 3, Resume).
        out_seq: u64 = 0,
        /// 1 on a copy sent again by a resume (section 3, Resume); 0 on the first sending.
        retransmission: bool = false,
    }
    groups {
        /// How the amount was split (empty when failed); the lines sum exactly to amount_minor.
        split: [SplitLine; 8],
    }
    texts {}
}

message! {
    /// A capture the payment does not keep: an attempt captured after the payment had its final
    /// outcome (the PaymentResult the acquirer received stands), or a second attempt captured.
    /// Sent when the capture is found (Reversing) and again when the channel confirms the
    /// reversal (Reversed). The capture and its reversal have their own ledger entries; the
    /// payment's split and balances are not touched.
    PaymentReversal = 20, sent_by Server {
        /// The payment's request id.
        request_id: u64,
        /// The order.
        order_id: u64,
        /// The attempt that captured.
        attempt: u8,
        /// Its channel.
        channel_id: u16,
        /// The amount captured and reversed, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: u16,
        /// Where the reversal stands.
        state: ReversalState,
        /// Why: LateCapture (or BalanceOverflow: the capture could not be credited).
        reason: ReasonCode,
        /// The reference the channel gave with the answer that reported the capture (Reversing)
        /// or confirmed its reversal (Reversed).
        channel_ref: Chars<24>,
        /// Journal sequence of the input that found the capture or confirmed its reversal.
        sequence: u64,
        /// Event time of that input, ns since the Unix epoch.
        timestamp_ns: u64,
    }
    since 5 {
        /// This output's number in the acquirer's recoverable flow: from 1, one more for each
        /// PaymentAck, PaymentResult, PaymentReversal, RefundAck, RefundResult, WithdrawAck,
        /// WithdrawResult, WithdrawReturned and DisputeUpdate sent to the acquirer, gap-free across all its
        /// sessions and restarts (section 3, Resume).
        out_seq: u64 = 0,
        /// 1 on a copy sent again by a resume (section 3, Resume); 0 on the first sending.
        retransmission: bool = false,
    }
    groups {}
    texts {}
}

message! {
    /// Refund part or all of a succeeded payment.
    RefundRequest = 13, sent_by Acquirer {
        /// Unique per acquirer among refunds: the refund's idempotency key.
        refund_request_id: u64,
        /// The request id of the payment to refund (this acquirer's; the payment must have
        /// succeeded).
        payment_request_id: u64,
        /// Amount to refund, minor units (> 0, at most the amount minus what is refunded or being
        /// refunded). Each party gives back a share of what is left of its split line, by largest
        /// remainder (section 4, Splits and reversals); several refunds that add up to the amount
        /// give back exactly every line. The payment's channel bounds how many refunds it takes
        /// (TooManyRefunds); BalanceOverflow when the reversal could take a balance past
        /// 2^63 - 1 minor units.
        amount_minor: i64,
    }
    groups {}
    texts {}
}

message! {
    /// The immediate answer to a RefundRequest.
    RefundAck = 14, sent_by Server {
        /// Echo.
        refund_request_id: u64,
        /// The refunded order (0 if unknown, and on DuplicateRequestMismatch).
        order_id: u64,
        /// Sluice's refund id (0 when rejected).
        refund_id: u64,
        /// Accepted or rejected.
        status: AckStatus,
        /// Why it was rejected (None when accepted).
        reason: ReasonCode,
        /// Risk verdict's action.
        risk_action: RiskAction,
        /// The risk rule that fired (0 = none).
        risk_rule_id: u32,
        /// 1 when this answers a resend with identical fields (0 on DuplicateRequestMismatch).
        duplicate: bool,
        /// Journal sequence of the input this answers: the RefundRequest, or the resend's own.
        sequence: u64,
    }
    since 5 {
        /// This output's number in the acquirer's recoverable flow: from 1, one more for each
        /// PaymentAck, PaymentResult, PaymentReversal, RefundAck, RefundResult, WithdrawAck,
        /// WithdrawResult, WithdrawReturned and DisputeUpdate sent to the acquirer, gap-free across all its
        /// sessions and restarts (section 3, Resume).
        out_seq: u64 = 0,
        /// 1 on a copy sent again by a resume (section 3, Resume); 0 on the first sending.
        retransmission: bool = false,
    }
    groups {}
    texts {}
}

message! {
    /// The final outcome of an accepted refund.
    RefundResult = 15, sent_by Server {
        /// Echo.
        refund_request_id: u64,
        /// The order.
        order_id: u64,
        /// The refund.
        refund_id: u64,
        /// Succeeded or failed.
        status: FinalStatus,
        /// Why it failed: ChannelDeclined (any channel answer but Succeeded) or ChannelTimeout;
        /// None when succeeded.
        reason: ReasonCode,
        /// Amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: u16,
        /// 1 when this answers a resend of a refund that was already final.
        duplicate: bool,
        /// Journal sequence of the input this answers: the one that finished the refund (a
        /// RefundChannelResult, or the Pulse that timed it out), or, when duplicate = 1, the resend.
        sequence: u64,
    }
    since 5 {
        /// This output's number in the acquirer's recoverable flow: from 1, one more for each
        /// PaymentAck, PaymentResult, PaymentReversal, RefundAck, RefundResult, WithdrawAck,
        /// WithdrawResult, WithdrawReturned and DisputeUpdate sent to the acquirer, gap-free across all its
        /// sessions and restarts (section 3, Resume).
        out_seq: u64 = 0,
        /// 1 on a copy sent again by a resume (section 3, Resume); 0 on the first sending.
        retransmission: bool = false,
    }
    groups {
        /// The reversal per party, in the order of the payment's split lines: positive amounts
        /// that sum exactly to amount_minor (empty when failed). Every line, ChannelFee included,
        /// gives back its share by largest remainder over what earlier refunds left of it (see
        /// section 4, Splits and reversals).
        reversal: [SplitLine; 8],
    }
    texts {}
}

message! {
    /// Ask for an order's full state.
    QueryOrder = 16, sent_by AcquirerOrAdmin {
        /// The order id; 0 to look up by request_id instead (acquirers only: an admin's QueryOrder
        /// with order_id 0 is answered NotFound).
        order_id: u64,
        /// The payment request id (used only when order_id is 0 and the sender is an acquirer).
        request_id: u64,
    }
    groups {}
    texts {}
}

message! {
    /// The full state of one order, the answer to QueryOrder. When the order is not found (or is
    /// another acquirer's), `state` is NotFound, `order_id` and `request_id` echo the query,
    /// `sequence` is set, every other number is 0, every group is empty, and the other enum fields
    /// hold their first defined value (Card, ScanCode, None, None, Priority), which means nothing.
    OrderStatus = 17, sent_by Server {
        /// The order; when not found, the queried order_id echoed.
        order_id: u64,
        /// The acquirer's request id; when not found, the queried request_id echoed.
        request_id: u64,
        /// The acquirer.
        acquirer_id: u32,
        /// The merchant.
        merchant_id: u32,
        /// The promoter (0 = none).
        promoter_id: u32,
        /// Amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: u16,
        /// Method.
        method: PaymentMethod,
        /// Scene.
        scene: Scene,
        /// State.
        state: OrderState,
        /// Why it was rejected or failed (None otherwise).
        reason: ReasonCode,
        /// Risk verdict's action.
        risk_action: RiskAction,
        /// The rule that fired (0 = none).
        risk_rule_id: u32,
        /// The merchant's routing strategy when the order was created (for an order rejected by
        /// risk it was never used: no routing ran and `candidates` is empty).
        strategy: RoutingStrategy,
        /// Channel of the last attempt (0 = none).
        channel_id: u16,
        /// The channel's fee, minor units (0 unless succeeded).
        fee_minor: i64,
        /// Refunded so far, minor units.
        refunded_minor: i64,
        /// Being refunded now (at a channel), minor units.
        refund_pending_minor: i64,
        /// Event time of the PaymentRequest that created the order, ns.
        created_ns: u64,
        /// Event time of the last change, ns.
        updated_ns: u64,
        /// The day the merchant's own split line settles: days since the Unix epoch in the
        /// settlement calendar's offset (Genesis.utc_offset_secs); 0 unless succeeded.
        settle_day: u32,
        /// Journal sequence of the input this answers: the QueryOrder (not the order's request).
        sequence: u64,
    }
    since 4 {
        /// 1 when the order has retired from the order table (section 4, Retention): its final
        /// state, amounts, split and refunds are kept, its attempts without their times and
        /// latencies, its routing explanation (candidates) is not.
        retired: bool = false,
    }
    groups {
        /// Every attempt, in order.
        attempts: [AttemptEntry; 4],
        /// The routing explanation: every candidate and what was decided about it, in routing order
        /// (chosen, ranked, then skipped; see section 9).
        candidates: [CandidateEntry; 8],
        /// The split (empty unless succeeded).
        split: [SplitLine; 8],
        /// Refunds of this order that went to the channel (pending, succeeded or failed), oldest
        /// first; refunds rejected at RefundAck are not listed.
        refunds: [RefundEntry; 50],
    }
    texts {}
}

message! {
    /// Withdraw from a merchant's available balance to its bank account: a payout through the
    /// merchant's payout channel (docs/PAYOUTS.md, section 4). Answered at once with WithdrawAck;
    /// the outcome follows as WithdrawResult.
    WithdrawRequest = 18, sent_by Acquirer {
        /// Unique per acquirer among withdrawals: the idempotency key.
        withdraw_request_id: u64,
        /// The merchant (must be configured and belong to this acquirer).
        merchant_id: u32,
        /// ISO 4217 numeric: a ledger currency.
        currency: u16,
        /// Amount the merchant's bank account receives, minor units (> 0 and at least the
        /// merchant's min_payout_minor; the amount plus the payout channel's fee at most the
        /// merchant's available balance in `currency`). BalanceOverflow when the payouts account
        /// would pass 2^63 - 1 minor units.
        amount_minor: i64,
    }
    groups {}
    texts {}
}

message! {
    /// The final outcome of an accepted withdrawal (schema 7; before it, the immediate answer):
    /// Succeeded once the payout channel paid it, Failed when the channel failed it
    /// (PayoutFailed) or the review rejected it (PayoutRejected). A WithdrawRequest refused at
    /// once gets only a WithdrawAck.
    WithdrawResult = 19, sent_by Server {
        /// Echo.
        withdraw_request_id: u64,
        /// Sluice's withdrawal id: the payout id.
        withdrawal_id: u64,
        /// The merchant.
        merchant_id: u32,
        /// ISO 4217 numeric.
        currency: u16,
        /// Amount, minor units.
        amount_minor: i64,
        /// Succeeded or failed.
        status: FinalStatus,
        /// Why it failed (None when succeeded).
        reason: ReasonCode,
        /// The merchant's available balance in `currency` right after the outcome, minor units
        /// (a failed payout's money is back in it).
        available_after_minor: i64,
        /// 1 when this answers a resend of a withdrawal that had ended (after its WithdrawAck
        /// with duplicate = 1).
        duplicate: bool,
        /// Journal sequence of the input that ended the payout (a PayoutChannelResult or a
        /// PayoutReview), or, when duplicate = 1, the resend's own.
        sequence: u64,
    }
    since 5 {
        /// This output's number in the acquirer's recoverable flow: from 1, one more for each
        /// PaymentAck, PaymentResult, PaymentReversal, RefundAck, RefundResult, WithdrawAck,
        /// WithdrawResult, WithdrawReturned and DisputeUpdate sent to the acquirer, gap-free across all its
        /// sessions and restarts (section 3, Resume).
        out_seq: u64 = 0,
        /// 1 on a copy sent again by a resume (section 3, Resume); 0 on the first sending.
        retransmission: bool = false,
    }
    groups {}
    texts {}
}

message! {
    /// The immediate answer to a WithdrawRequest (schema 7): accepted (the payout is in Review or
    /// Sent, its amount and fee reserved from the merchant's available balance) or refused.
    WithdrawAck = 21, sent_by Server {
        /// Echo.
        withdraw_request_id: u64,
        /// Sluice's withdrawal id: the payout id (0 when refused).
        withdrawal_id: u64,
        /// The merchant.
        merchant_id: u32,
        /// ISO 4217 numeric.
        currency: u16,
        /// Amount the merchant's bank account receives, minor units.
        amount_minor: i64,
        /// The payout channel's fee, borne by the merchant (0 when refused).
        fee_minor: i64,
        /// Accepted or rejected.
        status: AckStatus,
        /// Why it was refused (None when accepted): UnknownMerchant, MerchantNotOwned,
        /// AmountNotPositive, CurrencyNotAccepted, NoPayoutChannel, BelowMinimumPayout,
        /// InsufficientBalance, PayoutsFull, BalanceOverflow, DuplicateRequestMismatch.
        reason: ReasonCode,
        /// Review or Sent when accepted (a resend: the state now); Failed when refused.
        state: PayoutState,
        /// The merchant's available balance in `currency` right after the reservation, minor
        /// units (0 when refused; a resend gets the value recorded the first time).
        available_after_minor: i64,
        /// 1 when this answers a resend with identical fields (0 on DuplicateRequestMismatch).
        duplicate: bool,
        /// Journal sequence of the input this answers: the WithdrawRequest, or the resend's own.
        sequence: u64,
        /// This output's number in the acquirer's recoverable flow (see PaymentAck.out_seq).
        out_seq: u64,
        /// 1 on a copy sent again by a resume (section 3, Resume); 0 on the first sending.
        retransmission: bool,
    }
    groups {}
    texts {}
}

message! {
    /// A paid withdrawal came back (schema 7): the receiving bank returned the transfer, and the
    /// amount is back in the merchant's available balance (the payout channel's fee is not).
    WithdrawReturned = 22, sent_by Server {
        /// The withdrawal's request id.
        withdraw_request_id: u64,
        /// The payout id.
        withdrawal_id: u64,
        /// The merchant.
        merchant_id: u32,
        /// ISO 4217 numeric.
        currency: u16,
        /// Amount returned to the available balance, minor units.
        amount_minor: i64,
        /// The channel's own code for the return.
        channel_code: u16,
        /// The merchant's available balance in `currency` right after the return, minor units.
        available_after_minor: i64,
        /// Journal sequence of the PayoutChannelResult that reported the return.
        sequence: u64,
        /// This output's number in the acquirer's recoverable flow (see PaymentAck.out_seq).
        out_seq: u64,
        /// 1 on a copy sent again by a resume (section 3, Resume); 0 on the first sending.
        retransmission: bool,
    }
    groups {}
    texts {}
}

message! {
    /// A dispute (chargeback) of one of the acquirer's payments moved its merchant's money
    /// (schema 8; docs/DISPUTES.md, section 2): sent to the acquirer that owns the merchant at
    /// each stage the engine accepts (Opened, Won, Lost), once per stage. Part of the recoverable
    /// flow.
    DisputeUpdate = 23, sent_by Server {
        /// The payment's request id (the acquirer's).
        request_id: u64,
        /// The order.
        order_id: u64,
        /// The channel's dispute id (unique per channel).
        dispute_id: u64,
        /// The channel that took the payment and reports the dispute.
        channel_id: u16,
        /// The merchant.
        merchant_id: u32,
        /// The stage reached.
        stage: DisputeStage,
        /// Why the payer disputed.
        reason: DisputeReason,
        /// ISO 4217 numeric.
        currency: u16,
        /// The disputed amount, minor units (Opened: taken back; Won: returned; Lost: the amount
        /// that stays taken).
        amount_minor: i64,
        /// The channel's dispute fee, minor units, borne by the merchant (Opened: charged; Won:
        /// returned; Lost: stays charged).
        fee_minor: i64,
        /// The merchant's available balance in `currency` right after this stage, minor units.
        available_after_minor: i64,
        /// What the merchant owes the platform in `currency` right after this stage (the part of
        /// disputes its balances could not cover: `dispute_receivable`), minor units.
        receivable_after_minor: i64,
        /// Journal sequence of the DisputeNotice.
        sequence: u64,
        /// Event time of the DisputeNotice, ns since the epoch.
        timestamp_ns: u64,
        /// This output's number in the acquirer's recoverable flow (see PaymentAck.out_seq).
        out_seq: u64,
        /// 1 on a copy sent again by a resume (section 3, Resume); 0 on the first sending.
        retransmission: bool,
    }
    groups {
        /// Per party, in the order of the payment's split lines, what it gave back (Opened) or
        /// got back (Won) of the disputed amount; positive, summing exactly to amount_minor
        /// (empty for Lost). Shares by largest remainder over what refunds and earlier disputes
        /// left of each line, as a refund's reversal.
        reversal: [SplitLine; 8],
    }
    texts {}
}

message! {
    /// One order as the review queue and the labels table see it (schema 8; docs/DISPUTES.md,
    /// section 3): the answer to a ReviewQuery.
    ReviewItem = 24, sent_by Server {
        /// The order.
        order_id: u64,
        /// Its payment request id.
        request_id: u64,
        /// The acquirer.
        acquirer_id: u32,
        /// The merchant.
        merchant_id: u32,
        /// Amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: u16,
        /// Method.
        method: PaymentMethod,
        /// The order's state (NotFound when only its label is left).
        state: OrderState,
        /// The rule whose Review verdict queued it (0 when not queued).
        risk_rule_id: u32,
        /// Event time it was queued, ns (0 when never queued).
        queued_ns: u64,
        /// 1 while it waits in the queue for a ReviewDecision.
        in_queue: bool,
        /// Its position in the queue, oldest first (0 when not in the queue).
        position: u32,
        /// How many orders wait in the queue.
        queue_len: u32,
        /// Amount refunded, minor units.
        refunded_minor: i64,
        /// Amount under dispute or lost to disputes, minor units.
        disputed_minor: i64,
        /// The order's latest label (None when it has none).
        label: LabelKind,
        /// Where that label came from.
        label_source: LabelSource,
        /// Event time of that label, ns (0 when none).
        label_ns: u64,
        /// Journal sequence of the ReviewQuery this answers.
        sequence: u64,
    }
    groups {}
    texts {}
}

message! {
    /// A party's position in the money-market fund, or the fund's totals (schema 9;
    /// docs/YIELD.md): the answer to a YieldQuery.
    YieldPosition = 25, sent_by Server {
        /// Echo (Merchant or Promoter; Platform for the fund's totals).
        party_kind: PartyKind,
        /// Echo (0 for the fund's totals).
        party_id: u32,
        /// Echo.
        currency: u16,
        /// 1 while opted in (sweeps run).
        opted_in: bool,
        /// What each sweep leaves in available, minor units.
        keep_minimum_minor: i64,
        /// Daily instant redemption limit, minor units.
        instant_limit_minor: i64,
        /// Principal in the fund (totals: every holder's), minor units.
        principal_minor: i64,
        /// Accrued yield still in the position, minor units.
        accrued_minor: i64,
        /// Every yield ever accrued to it, minor units.
        yield_total_minor: i64,
        /// Redeemed to available at once today, minor units.
        instant_used_today_minor: i64,
        /// Redemptions queued for the next working day, minor units.
        queued_minor: i64,
        /// The day the queued redemptions are paid (0 when none).
        queued_due_day: u32,
        /// The party's available balance in the currency (0 for the totals), minor units.
        available_minor: i64,
        /// The last day whose yield was published in this currency (0 when none).
        last_yield_day: u32,
        /// That day's yield per 10,000 units, 4 decimals.
        last_yield_per_10k_e4: i64,
        /// The fund's residual from rounding in this currency, minor units.
        residual_minor: i64,
        /// Holders in this currency (opted in or with money in the fund).
        holders: u32,
        /// Journal sequence of the YieldQuery this answers.
        sequence: u64,
    }
    groups {}
    texts {}
}

message! {
    /// A consumer installment plan and its schedule (schema 9; docs/INSTALLMENTS.md): the answer
    /// to an InstallmentQuery.
    InstallmentPlan = 26, sent_by Server {
        /// The plan: the order id of its payment.
        order_id: u64,
        /// The merchant paid.
        merchant_id: u32,
        /// ISO 4217 numeric.
        currency: u16,
        /// 3, 6 or 12.
        count: u8,
        /// 1 when the payer pays interest; 0 interest-free (merchant fee).
        payer_interest: bool,
        /// 0 Pending, 1 Open, 2 Completed, 3 RepaidEarly, 4 Defaulted, 5 Unwound, 6 Void.
        status: u8,
        /// Financed principal (the payment's amount), minor units.
        principal_minor: i64,
        /// Total scheduled interest at opening.
        interest_minor: i64,
        /// The merchant's fee (interest-free plans).
        fee_minor: i64,
        /// Day the plan opened (days since the epoch, calendar offset).
        open_day: u32,
        /// What the payer still owes: principal + interest + late fees.
        outstanding_minor: i64,
        /// What the payer has paid so far (repayments, early repayment).
        paid_minor: i64,
        /// What an early repayment would take today.
        payoff_minor: i64,
        /// Written off by a default (0 unless Defaulted).
        written_off_minor: i64,
        /// Journal sequence of the InstallmentQuery this answers.
        sequence: u64,
    }
    groups {
        /// The schedule, one entry per installment.
        installments: [InstallmentEntry; 12],
    }
    texts {}
}

message! {
    /// A merchant's credit standing (schema 9; docs/CREDIT.md): the answer to a CreditQuery.
    CreditPosition = 28, sent_by Server {
        /// The merchant.
        merchant_id: u32,
        /// ISO 4217 numeric: the credit currency.
        currency: u16,
        /// Settled flow over the policy's window, minor units.
        flow_minor: i64,
        /// min(cap, floor(flow × advance_permille / 1000)), minor units.
        gross_limit_minor: i64,
        /// What it may borrow now: the gross limit less what it owes (never below 0).
        limit_minor: i64,
        /// The loan shown (its latest, or the one asked for; 0 when none).
        loan_id: u64,
        /// The loan's state (None when there is no loan).
        loan_state: LoanState,
        /// Principal disbursed, minor units.
        principal_minor: i64,
        /// Principal still owed (0 once defaulted: written off).
        principal_outstanding_minor: i64,
        /// Interest accrued and not repaid (0 once defaulted).
        interest_outstanding_minor: i64,
        /// Interest accrued over the loan's life.
        interest_accrued_minor: i64,
        /// Repaid so far (from settlements and by hand, recoveries included).
        repaid_minor: i64,
        /// Written off at default and not recovered yet.
        written_off_minor: i64,
        /// The day it was disbursed (days since the epoch in the engine's day).
        disbursed_day: u32,
        /// Its due day.
        due_day: u32,
        /// Journal sequence of the CreditQuery this answers.
        sequence: u64,
    }
    groups {}
    texts {}
}

// ---------------------------------------------------------------------------------------------
// Channel connector
// ---------------------------------------------------------------------------------------------

message! {
    /// Ask a channel to take a payment (one attempt).
    Dispatch = 30, sent_by Server {
        /// The order.
        order_id: u64,
        /// Attempt number (1-based); echo it in ChannelResult.
        attempt: u8,
        /// The channel (the connector's own id).
        channel_id: u16,
        /// The merchant.
        merchant_id: u32,
        /// Amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: u16,
        /// Method.
        method: PaymentMethod,
        /// Scene.
        scene: Scene,
        /// Answer before this event time (ns since the epoch) or the attempt times out and the
        /// payment fails over.
        deadline_ns: u64,
    }
    since 6 {
        /// Event time the server sent it, ns since the epoch: the request's timestamp, as a
        /// channel's API carries one (its bill dates the capture from it; docs/RECONCILIATION.md).
        at_ns: u64 = 0,
    }
    groups {}
    texts {}
}

message! {
    /// A channel's answer to a Dispatch.
    ChannelResult = 31, sent_by Channel {
        /// The order.
        order_id: u64,
        /// The attempt number from the Dispatch.
        attempt: u8,
        /// What happened.
        outcome: ChannelOutcome,
        /// The channel's own result code.
        channel_code: u16,
        /// How long the channel took, microseconds.
        latency_us: u32,
        /// The channel's reference for the payment.
        channel_ref: Chars<24>,
    }
    groups {}
    texts {}
}

message! {
    /// Ask a channel about an attempt whose outcome is unknown, close it, reverse a capture, or ask
    /// about a refund (`op`). The first goes out when the attempt's or refund's deadline passes
    /// (Query, RefundQuery), when the channel says the attempt is not paid (Close), or when a
    /// capture the payment does not keep is found (Reverse); it is sent again at the channel's
    /// query interval until the channel gives a final answer (or, policy FailOver, the window
    /// ends). Every answer is a ChannelControlResult; the channel identifies what is asked by
    /// order_id and attempt (refund_id for RefundQuery), and answers repeats alike.
    ChannelControl = 34, sent_by Server {
        /// What is asked.
        op: ChannelOp,
        /// The order.
        order_id: u64,
        /// The attempt (1-based; 0 for RefundQuery).
        attempt: u8,
        /// The refund (RefundQuery; 0 otherwise).
        refund_id: u64,
        /// The channel (the connector's own id).
        channel_id: u16,
        /// The attempt's (or refund's) amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: u16,
        /// Empty in this version (the server keeps no per-attempt reference: order_id and attempt
        /// name what is asked); reserved for the capture's reference in a Reverse.
        channel_ref: Chars<24>,
    }
    since 6 {
        /// Event time the server sent it, ns since the epoch.
        at_ns: u64 = 0,
    }
    groups {}
    texts {}
}

message! {
    /// A channel's answer to a ChannelControl.
    ChannelControlResult = 35, sent_by Channel {
        /// Echo of the op.
        op: ChannelOp,
        /// The order.
        order_id: u64,
        /// The attempt (0 for RefundQuery).
        attempt: u8,
        /// The refund (RefundQuery; 0 otherwise).
        refund_id: u64,
        /// The channel's answer.
        status: ChannelStatus,
        /// The channel's own result code.
        channel_code: u16,
        /// The channel's reference for the capture, reversal or refund (empty when none).
        channel_ref: Chars<24>,
    }
    groups {}
    texts {}
}

message! {
    /// Ask a channel to refund (part of) a payment it took. The same refund (same refund_id and
    /// amount) is sent again when the channel answers NotFound to a RefundQuery: a channel refunds
    /// a refund id at most once, and answers a repeat with the outcome it has.
    RefundDispatch = 32, sent_by Server {
        /// The refund.
        refund_id: u64,
        /// The order.
        order_id: u64,
        /// The channel that took the payment.
        channel_id: u16,
        /// Amount to refund, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: u16,
        /// Answer before this event time, ns since the epoch.
        deadline_ns: u64,
        /// The channel's reference of the original payment.
        payment_channel_ref: Chars<24>,
    }
    since 6 {
        /// Event time the server sent it, ns since the epoch.
        at_ns: u64 = 0,
    }
    groups {}
    texts {}
}

message! {
    /// A channel's answer to a RefundDispatch.
    RefundChannelResult = 33, sent_by Channel {
        /// The refund.
        refund_id: u64,
        /// What happened (RetryableError is treated as a failure of the refund: refunds do not fail over).
        outcome: ChannelOutcome,
        /// The channel's own result code.
        channel_code: u16,
        /// How long the channel took, microseconds.
        latency_us: u32,
        /// The channel's reference for the refund.
        channel_ref: Chars<24>,
    }
    groups {}
    texts {}
}

message! {
    /// Ask a payout channel to pay a party (schema 7; docs/PAYOUTS.md, section 4). Sent when a
    /// payout is accepted (or approved), and again, the same, when the channel answers NotFound
    /// to a PayoutQuery: a channel pays a payout id at most once.
    PayoutDispatch = 36, sent_by Server {
        /// The payout.
        payout_id: u64,
        /// The payout channel (the connector's own id).
        channel_id: u16,
        /// Whose payout.
        party_kind: PayoutParty,
        /// The merchant or promoter id (0 for the platform).
        party_id: u32,
        /// ISO 4217 numeric.
        currency: u16,
        /// What the party receives, minor units.
        amount_minor: i64,
        /// The channel's fee, minor units (the platform's account pays amount + fee).
        fee_minor: i64,
        /// Answer before this event time, ns since the epoch, or the payout is queried.
        deadline_ns: u64,
        /// Event time the server sent it, ns since the epoch.
        at_ns: u64,
    }
    groups {}
    texts {}
}

message! {
    /// Ask a payout channel where a payout stands (schema 7): sent when its deadline passes
    /// without a final answer, or after a Processing, at the channel's query interval until a
    /// final answer. Answered with PayoutChannelResult.
    PayoutQuery = 37, sent_by Server {
        /// The payout.
        payout_id: u64,
        /// The payout channel.
        channel_id: u16,
        /// ISO 4217 numeric.
        currency: u16,
        /// What the party receives, minor units.
        amount_minor: i64,
        /// Event time the server sent it, ns since the epoch.
        at_ns: u64,
    }
    groups {}
    texts {}
}

message! {
    /// A payout channel's answer to a PayoutDispatch or PayoutQuery, or, unasked, a return
    /// (schema 7). A repeat of a final answer changes nothing.
    PayoutChannelResult = 38, sent_by Channel {
        /// The payout.
        payout_id: u64,
        /// What happened.
        status: PayoutChannelStatus,
        /// The channel's own result code.
        channel_code: u16,
        /// The channel's reference for the transfer.
        channel_ref: Chars<24>,
    }
    groups {}
    texts {}
}

message! {
    /// A dispute (chargeback) of one captured attempt, as its channel reports it (schema 8;
    /// docs/DISPUTES.md, section 2); an admin may send it too, for a channel that reports
    /// disputes only in a file or a portal. Opened debits the disputed amount and the fee from
    /// the merchant (its split reversed like a refund's); Won returns both; Lost makes it final.
    /// Idempotent on (channel_id, dispute_id): a repeat of a stage it is at changes nothing and
    /// is accepted again. Answered with ConfigAck (object_id = dispute_id) to the sender.
    DisputeNotice = 39, sent_by ChannelOrAdmin {
        /// The channel's dispute id: unique per channel, the idempotency key.
        dispute_id: u64,
        /// The channel that took the payment (from a channel session, its own id).
        channel_id: u16,
        /// The order (as the Dispatch named it).
        order_id: u64,
        /// The attempt that captured (as the Dispatch named it).
        attempt: u8,
        /// Opened, Won or Lost.
        stage: DisputeStage,
        /// Why the payer disputed (Fraud also labels the order Fraud).
        reason: DisputeReason,
        /// ISO 4217 numeric: the payment's currency.
        currency: u16,
        /// The disputed amount, minor units (Opened: > 0, at most captured minus refunded,
        /// refunding and already disputed; Won and Lost: 0 or the opened amount).
        amount_minor: i64,
        /// The channel's dispute fee, minor units (Opened: >= 0; Won and Lost: 0 or the opened
        /// fee).
        fee_minor: i64,
        /// The channel's reference of the dispute case.
        channel_ref: Chars<24>,
    }
    groups {}
    texts {}
}

// ---------------------------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------------------------

message! {
    /// Create or replace a merchant.
    ConfigMerchant = 40, sent_by Admin {
        /// The merchant id (> 0).
        merchant_id: u32,
        /// The acquirer that may send its payments.
        acquirer_id: u32,
        /// Its split profile.
        split_profile_id: u32,
        /// Parent in the merchant hierarchy (0 = none), e.g. the branch above a distributor.
        parent_merchant_id: u32,
        /// Active or disabled.
        status: Activity,
        /// Routing strategy.
        strategy: RoutingStrategy,
        /// Settlement delay T+N in days (1..=30).
        settlement_days: u8,
        /// Share of each settlement frozen as deposit (0..=1).
        deposit_rate: Decimal,
        /// Days a deposit stays frozen (0..=366).
        deposit_hold_days: u16,
        /// Smallest accepted amount, minor units (>= 1).
        min_amount_minor: i64,
        /// Largest accepted amount, minor units.
        max_amount_minor: i64,
        /// WeightedScore: weight of the success rate (0..=1000).
        weight_success: Decimal,
        /// WeightedScore: weight of the cost (fee / amount) (0..=1000).
        weight_cost: Decimal,
        /// WeightedScore: weight of latency (per second of average latency) (0..=1000).
        weight_latency: Decimal,
    }
    since 7 {
        /// When income becomes available (docs/PAYOUTS.md, section 3).
        schedule: PartySchedule = PartySchedule::CalendarDays,
        /// Weekly: the ISO weekday (1 = Monday ... 7 = Sunday); Monthly: the date (1..=31);
        /// 0 otherwise.
        schedule_anchor: u8 = 0,
        /// Share of what is left after the deposit held as rolling reserve (0..=1).
        reserve_rate: Decimal = Decimal::ZERO,
        /// Days the rolling reserve is held (0..=366).
        reserve_days: u16 = 0,
        /// Whether the party is paid out after each settlement on its own.
        payout_mode: PayoutMode = PayoutMode::Manual,
        /// The payout channel its payouts go through (0 = none: payouts are refused
        /// NoPayoutChannel).
        payout_channel_id: u16 = 0,
        /// Smallest payout, minor units (0 = any amount > 0).
        min_payout_minor: i64 = 0,
    }
    groups {
        /// Accepted currencies.
        currencies: [CurrencyEntry; 8],
        /// Candidate channels in priority order, with weights.
        channels: [RouteEntry; 8],
    }
    texts {}
}

message! {
    /// Create or replace a payment channel.
    ConfigChannel = 41, sent_by Admin {
        /// The channel id (> 0).
        channel_id: u16,
        /// Display name.
        name: Chars<16>,
        /// Active or disabled.
        status: Activity,
        /// Attempt deadline after dispatch, milliseconds.
        timeout_ms: u32,
        /// Smallest amount the channel takes, minor units.
        min_amount_minor: i64,
        /// Largest amount the channel takes, minor units.
        max_amount_minor: i64,
        /// Leaky failure bucket: the level at which the channel is taken out of rotation.
        failure_threshold: u16,
        /// Leaky failure bucket: failures leaked per second.
        failure_leak_per_sec: u16,
        /// Success-rate floor over recent attempts (0 = off); under it, the channel is taken out.
        min_success_rate: Decimal,
        /// Attempts needed in the recent block before the floor applies.
        min_attempts_for_rate: u16,
        /// Cooldown out of rotation, milliseconds.
        cooldown_ms: u32,
        /// Probe payments allowed at once after the cooldown.
        probe_slots: u8,
        /// Consecutive probe successes that bring the channel back.
        probe_successes: u8,
    }
    since 3 {
        /// How often an Unknown attempt or refund is asked about (ChannelControl Query and
        /// RefundQuery), milliseconds (1..=3600000; 0 only with the Legacy policy).
        query_interval_ms: u32 = 0,
        /// How long after the deadline the channel is asked before `unknown_policy` applies,
        /// milliseconds (at most 7 days).
        query_window_ms: u32 = 0,
        /// What happens to an attempt the channel never answers within the window.
        unknown_policy: UnknownPolicy = UnknownPolicy::Legacy,
        /// Most refunds of one payment the channel takes, failed ones included (1..=50; WeChat
        /// Pay allows 50): the next is refused TooManyRefunds (RefundsFull for a channel of the
        /// Legacy policy, as versions 1 and 2 answered).
        refunds_max: u8 = 16,
    }
    since 4 {
        /// How long after a payment it may be refunded through this channel, days (0 = no limit;
        /// WeChat Pay allows 365): a later RefundRequest is refused RefundWindowPassed. A retired
        /// order's record is kept for refunds until this window passes (section 4, Retention).
        refund_window_days: u16 = 0,
    }
    since 6 {
        /// Whether the channel returns its fee on a refund (docs/RECONCILIATION.md, section 5):
        /// Keep (as Stripe does, and as versions 1 to 5 booked every channel) or ProRata.
        refund_fee: RefundFeePolicy = RefundFeePolicy::Keep,
        /// The time zone of the channel's bills, minutes east of UTC (-720..=840; +480 for
        /// WeChat Pay, Alipay and UnionPay).
        bill_utc_offset_min: i32 = 0,
        /// Where the bill day ends, minutes after local midnight (0..=1439; UnionPay's clearing
        /// day ends at 23:00, 1380).
        bill_cutoff_min: u16 = 0,
        /// How the channel pays what it owes: each bill day as one batch, or rolling payouts.
        settlement: SettlementSchedule = SettlementSchedule::Daily,
        /// Days after the bill day (Daily) or after a transaction (Rolling) it is paid (0..=30).
        settlement_delay_days: u8 = 1,
    }
    groups {
        /// Supported currencies.
        currencies: [CurrencyEntry; 8],
        /// Supported methods and their fees.
        methods: [MethodFee; 4],
    }
    texts {}
}

message! {
    /// Create or replace a split profile. Rules, each refused with ConfigAck(Rejected,
    /// InvalidConfig) and nothing changed: every rate and share within 0..=1 with at most 9
    /// decimal places (text "rates must be 0..=1 with at most 9 decimal places");
    /// parent_share + grandparent_share <= 1 ("parent_share + grandparent_share must be <= 1");
    /// and each platform rate — platform_rate, every tier's rate and every category's rate, each
    /// on its own — plus promoter_level1_rate + promoter_level2_rate <= 1 ("every platform rate +
    /// promoter rates must be <= 1").
    ConfigSplitProfile = 42, sent_by Admin {
        /// The profile id (> 0).
        profile_id: u32,
        /// Platform commission rate when no tier or category applies.
        platform_rate: Decimal,
        /// First-level promoter commission rate (of the amount).
        promoter_level1_rate: Decimal,
        /// Second-level promoter commission rate (of the amount).
        promoter_level2_rate: Decimal,
        /// Share of the merchant's part that goes to its parent.
        parent_share: Decimal,
        /// Share of the merchant's part that goes to its grandparent.
        grandparent_share: Decimal,
        /// Who bears the channel fee.
        fee_bearer: FeeBearer,
    }
    groups {
        /// Commission tiers by amount (the highest tier whose minimum the amount reaches applies).
        tiers: [RateTier; 8],
        /// Commission per goods category (overrides tiers).
        categories: [CategoryRate; 8],
    }
    texts {}
}

message! {
    /// Create or replace a promoter.
    ConfigPromoter = 43, sent_by Admin {
        /// The promoter id (> 0).
        promoter_id: u32,
        /// The promoter above it (0 = none): it earns the level-2 commission.
        parent_promoter_id: u32,
        /// Settlement delay T+N in days (1..=30).
        settlement_days: u8,
        /// Active or disabled.
        status: Activity,
    }
    since 7 {
        /// When income becomes available (docs/PAYOUTS.md, section 3).
        schedule: PartySchedule = PartySchedule::CalendarDays,
        /// Weekly: the ISO weekday (1 = Monday ... 7 = Sunday); Monthly: the date (1..=31);
        /// 0 otherwise.
        schedule_anchor: u8 = 0,
        /// Share of what is left after the deposit held as rolling reserve (0..=1).
        reserve_rate: Decimal = Decimal::ZERO,
        /// Days the rolling reserve is held (0..=366).
        reserve_days: u16 = 0,
        /// Whether the party is paid out after each settlement on its own.
        payout_mode: PayoutMode = PayoutMode::Manual,
        /// The payout channel its payouts go through (0 = none: payouts are refused
        /// NoPayoutChannel).
        payout_channel_id: u16 = 0,
        /// Smallest payout, minor units (0 = any amount > 0).
        min_payout_minor: i64 = 0,
    }
    groups {}
    texts {}
}

message! {
    /// Create or replace a risk rule.
    ConfigRiskRule = 44, sent_by Admin {
        /// The rule id (> 2; 1 and 2 name the allow and block lists).
        rule_id: u32,
        /// Display name.
        name: Chars<24>,
        /// Payments or refunds.
        target: RuleTarget,
        /// What it measures.
        feature: RiskFeature,
        /// About whom.
        entity: RiskEntity,
        /// Over which window.
        window: RiskWindow,
        /// How it compares.
        comparison: Comparison,
        /// The threshold (a count, or minor units).
        threshold: i64,
        /// What it does when it matches: Allow, Review or Block.
        action: RiskAction,
        /// Shadow mode: counted, not enforced.
        shadow: bool,
        /// Active or disabled.
        status: Activity,
        /// Only this merchant's payments (0 = all).
        merchant_id: u32,
        /// Only this goods category (0 = all).
        goods_category: u16,
    }
    groups {}
    texts {}
}

message! {
    /// Create or replace a risk rule written in the rule language (docs/RISK_RULES.md). Shares the
    /// id space with ConfigRiskRule: either replaces a rule of the same id. The engine compiles the
    /// text on apply; a rule that does not compile (syntax, unknown feature, type, limits, never
    /// fires) is refused InvalidConfig, its ConfigAck's text `line:col: message`, and nothing
    /// changes.
    ConfigRiskRuleText = 66, sent_by Admin {
        /// The rule id (> 2; 1 and 2 name the allow and block lists).
        rule_id: u32,
        /// Display name.
        name: Chars<24>,
        /// Within its class (allow, block, review) rules are tried by (priority, rule_id), lower
        /// first; the first match is credited.
        priority: u32,
        /// Payments or refunds.
        target: RuleTarget,
        /// Shadow mode: counted, not enforced.
        shadow: bool,
        /// Active or disabled.
        status: Activity,
    }
    groups {}
    texts {
        /// The rule: `allow|block|review if EXPRESSION` (at most 960 bytes, so that the message
        /// fits an inbound frame).
        source: 960,
    }
}

message! {
    /// Add or remove an allow- or block-list entry.
    ConfigListEntry = 45, sent_by Admin {
        /// Allow or block list.
        list: ListKind,
        /// Add or remove.
        op: ListOp,
        /// Which field of the payment the entry matches; only that field below is used.
        entity: RiskEntity,
        /// For User and Device.
        id: u64,
        /// For Ip.
        ip: Ip,
        /// For CardFingerprint.
        card_fingerprint: Chars<16>,
        /// For CardBin.
        card_bin: u32,
    }
    groups {}
    texts {}
}

message! {
    /// Load, replace or unload the risk-score model (docs/RISK_SCORE.md): a logistic regression
    /// over the engine's risk features in fixed point. Validated as a whole; a refused model
    /// changes nothing.
    ConfigRiskModel = 70, sent_by Admin {
        /// The model's id (> 0), reported back in the ConfigAck.
        model_id: u32,
        /// Active loads or replaces the model; Disabled unloads it (the terms are then ignored).
        status: Activity,
        /// The logit's constant, in 1/65536 (|intercept| <= 1024.0).
        intercept: i32,
    }
    groups {
        /// The terms, one per feature used (at least one when Active; no feature twice).
        terms: [ScoreTerm; 32],
    }
    texts {}
}

message! {
    /// The answer to every configuration message and to SnapshotRequest.
    ConfigAck = 46, sent_by Server {
        /// The template answered.
        ref_template_id: u16,
        /// The id configured (merchant, channel, profile, promoter, rule; 0 for list entries; for
        /// SnapshotRequest, the request's own journal sequence).
        object_id: u64,
        /// Accepted (the change is applied; for SnapshotRequest, the snapshot is requested) or
        /// Rejected (nothing changes).
        status: AckStatus,
        /// Why it was rejected (InvalidConfig, UnknownSplitProfile, CapacityReached...; None when
        /// Accepted).
        reason: ReasonCode,
        /// Journal sequence of the input this answers.
        sequence: u64,
    }
    groups {}
    texts {
        /// Detail, e.g. the field out of range.
        text: 128,
    }
}

message! {
    /// Ask for a party's balances.
    BalanceQuery = 47, sent_by AcquirerOrAdmin {
        /// Merchant, promoter or platform.
        party_kind: PartyKind,
        /// The id (ignored for the platform). Acquirers may ask only for their own merchants:
        /// anything else gets Reject(MerchantNotOwned).
        party_id: u32,
    }
    groups {}
    texts {}
}

message! {
    /// A party's balances, per currency.
    BalanceReport = 48, sent_by Server {
        /// Echo.
        party_kind: PartyKind,
        /// Echo.
        party_id: u32,
        /// 0 when the merchant or promoter is unknown (only admins can get that); always 1 for
        /// the platform.
        found: bool,
        /// Journal sequence of the BalanceQuery this answers (the balances as of that input).
        sequence: u64,
    }
    groups {
        /// One entry per ledger currency with a non-zero balance (empty when not found).
        balances: [BalanceEntry; 8],
    }
    texts {}
}

message! {
    /// Ask for statistics.
    StatsQuery = 49, sent_by Admin {
        /// Reserved (0).
        flags: u8,
    }
    groups {}
    texts {}
}

message! {
    /// Engine statistics.
    StatsReport = 50, sent_by Server {
        /// Journal sequence of the StatsQuery this answers (the figures as of that input).
        sequence: u64,
        /// Orders in the order table (retired ones are counted in `receipts`).
        orders: u64,
        /// Payments accepted (dispatched).
        accepted: u64,
        /// Payments refused by validation, OrdersFull, DuplicateRequestMismatch or
        /// NoChannelAvailable.
        rejected_invalid: u64,
        /// Payments rejected by risk.
        rejected_risk: u64,
        /// Payments that succeeded.
        succeeded: u64,
        /// Payments that failed.
        failed: u64,
        /// Payments that succeeded after more than one attempt.
        failed_over: u64,
        /// Payments at a channel now.
        in_flight: u64,
        /// Payments accepted with a Review verdict.
        reviews: u64,
        /// Refunds that succeeded.
        refunds_succeeded: u64,
        /// Refunds that failed or were rejected.
        refunds_failed: u64,
        /// Attempts that timed out.
        timeouts: u64,
        /// Withdrawals that succeeded.
        withdrawals: u64,
        /// Total posted debits equal total posted credits.
        ledger_balanced: bool,
    }
    since 3 {
        /// Attempts whose outcome is unknown now (Unknown or Closing).
        unknown_attempts: u64 = 0,
        /// Unknown attempts resolved by the channel's answer to a query or close.
        unknown_resolved: u64 = 0,
        /// Captures the payment did not keep (late or second captures).
        late_captures: u64 = 0,
        /// Reversals the channel confirmed.
        reversals: u64 = 0,
        /// Refunds whose outcome is unknown now.
        unknown_refunds: u64 = 0,
    }
    since 4 {
        /// Retired orders' receipts in memory now (section 4, Retention).
        receipts: u64 = 0,
        /// Orders retired from the order table.
        orders_retired: u64 = 0,
        /// Retired orders brought back into the table (by a refund, or a late capture to reverse).
        orders_revived: u64 = 0,
        /// Receipts whose windows all passed (forgotten, with their refunds).
        receipts_expired: u64 = 0,
        /// Times orders due to retire stayed in the table because the receipts were full.
        retire_blocked: u64 = 0,
    }
    since 7 {
        /// Payouts paid (returned ones included).
        payouts_paid: u64 = 0,
        /// Payouts failed or rejected.
        payouts_failed: u64 = 0,
        /// Paid payouts returned.
        payouts_returned: u64 = 0,
        /// Payouts in review or at a payout channel now.
        payouts_in_flight: u64 = 0,
    }
    groups {
        /// Per channel, in configuration order (the first 32 channels).
        channels: [ChannelStats; 32],
        /// Per risk rule, by rule id (the 64 lowest ids).
        rules: [RuleStats; 64],
        /// Per routing strategy: all six, in value order.
        strategies: [StrategyStats; 8],
    }
    texts {}
}

message! {
    /// Ask for a snapshot of the engine state now.
    SnapshotRequest = 51, sent_by Admin {
        /// Reserved (0).
        flags: u8,
    }
    groups {}
    texts {}
}

message! {
    /// A channel's health changed (sent to every admin session).
    HealthAlert = 52, sent_by Server {
        /// The channel.
        channel_id: u16,
        /// Health before.
        from: HealthState,
        /// Health now.
        to: HealthState,
        /// Failure bucket level when it changed (x1000).
        failure_level_milli: u32,
        /// Recent success rate, parts per million.
        recent_success_rate_ppm: u32,
        /// Event time, ns.
        timestamp_ns: u64,
        /// Journal sequence of the input that caused it.
        sequence: u64,
    }
    groups {}
    texts {}
}

message! {
    /// Add a credential, rotate its secret, or revoke it. The secret is never sent: the admin sends
    /// its hash (see SecretHash). Answered with ConfigAck (object_id 0; the text names the key).
    ConfigCredential = 53, sent_by Admin {
        /// The key id a session logs in with (ASCII, 1..=16 bytes, NUL-padded).
        key_id: Chars<16>,
        /// Add, Rotate or Revoke.
        op: CredentialOp,
        /// The role the key logs in as (Add; ignored otherwise).
        role: Role,
        /// The acquirer, channel or admin id the key acts as (Add, > 0; ignored otherwise).
        principal_id: u32,
        /// How `hash` was computed (Add and Rotate).
        algorithm: SecretHash,
        /// Rotate: how long the previous secret still logs in, milliseconds of event time
        /// (0..=604800000, a week; 0 ends it at once).
        rotation_window_ms: u32,
        /// The salt, 32 lowercase hex digits (16 bytes; HmacSha256), or empty (Sha256).
        salt: Chars<32>,
        /// The hash, 64 lowercase hex digits (Add and Rotate).
        hash: Chars<64>,
    }
    groups {}
    texts {}
}

message! {
    /// A credential's whole entry after a change, from the engine to the gateway's login table
    /// (internal: no peer receives it). Sent once its input is durable, like every output.
    CredentialUpdate = 54, sent_by Server {
        /// The key id.
        key_id: Chars<16>,
        /// Active, or Disabled once revoked.
        status: Activity,
        /// The role it logs in as.
        role: Role,
        /// The principal it acts as.
        principal_id: u32,
        /// Secrets set so far (1 after Add, +1 per Rotate): a session remembers the generation it
        /// logged in with.
        generation: u32,
        /// The current secret's algorithm.
        algorithm: SecretHash,
        /// The current secret's salt (hex).
        salt: Chars<32>,
        /// The current secret's hash (hex).
        hash: Chars<64>,
        /// The previous secret's algorithm (meaningful while `previous_until_ns` is in the future).
        previous_algorithm: SecretHash,
        /// The previous secret's salt (hex).
        previous_salt: Chars<32>,
        /// The previous secret's hash (hex; empty when there is none).
        previous_hash: Chars<64>,
        /// Event time until which the previous secret still logs in, ns (0 = none).
        previous_until_ns: u64,
        /// Journal sequence of the input that made the change.
        sequence: u64,
    }
    groups {}
    texts {}
}

message! {
    /// Ask for an object's current definition. Answered with the object's Config* message, rebuilt
    /// from the journaled state (rates as exact decimals), or with ConfigAck(Rejected) and
    /// UnknownMerchant, UnknownChannel, UnknownSplitProfile, UnknownPromoter, UnknownRule,
    /// UnknownCredential or NotFound. Changes nothing.
    ConfigQuery = 55, sent_by Admin {
        /// Which kind of object.
        kind: ConfigKind,
        /// Whether `id` is the object's id or its position.
        lookup: ConfigLookup,
        /// Its id (merchant, channel, profile, promoter, rule), the list entry's index, or (ByPosition)
        /// the object's position.
        id: u64,
        /// For Credential: the key id.
        key_id: Chars<16>,
    }
    groups {}
    texts {}
}

message! {
    /// Set, rotate or remove a merchant's result notifications (docs/NOTIFICATIONS.md): where the
    /// notifier POSTs each final payment and refund result, and the signing secret it uses, sealed.
    /// The secret is never sent or journaled in clear: `sluice admin notify` seals it with
    /// AES-256-GCM under the notifier's key (`key_id` names which key), and only the notifier,
    /// which holds that key, opens it. Answered with ConfigAck (object_id = the merchant id).
    ConfigMerchantNotify = 56, sent_by Admin {
        /// The merchant (configured).
        merchant_id: u32,
        /// Set (URL and a new secret; replaces both), Rotate (a new secret; the previous one still
        /// signs for the rotation window; a non-empty `url` also replaces the URL) or Remove.
        op: NotifyOp,
        /// Rotate: how long the previous secret still signs, milliseconds of event time
        /// (0..=604800000, a week; 0 ends it at once).
        rotation_window_ms: u32,
        /// The notifier key that sealed the secret: 16 lowercase hex digits (Set and Rotate).
        key_id: Chars<16>,
    }
    groups {}
    texts {
        /// The notify URL: `http://` or `https://`, printable ASCII without spaces, at most 256
        /// bytes (Set; Rotate may leave it empty).
        url: 256,
        /// The sealed secret in hex: a 12-byte nonce, the ciphertext and the 16-byte tag (Set and
        /// Rotate; 58..=256 hex digits).
        sealed_secret: 256,
    }
}

message! {
    /// What a channel paid the platform for one settlement batch, as its bill or payout report
    /// states it (docs/RECONCILIATION.md, section 6): `paid_minor` moves from the channel's
    /// receivable to the platform's bank account, `fee_difference_minor` to
    /// `channel_fee_differences`. A batch is applied once: a repeat of its (channel, currency,
    /// batch_id) is refused DuplicateBatch and changes nothing. Answered with ConfigAck
    /// (object_id = batch_id).
    ChannelSettlement = 57, sent_by Admin {
        /// The channel that paid.
        channel_id: u16,
        /// ISO 4217 numeric.
        currency: u16,
        /// The batch: the bill day (days since the epoch) for a Daily channel, a hash of the
        /// payout id for a Rolling one (`batch_ref` holds the id itself).
        batch_id: u64,
        /// What arrived in the platform's bank account, minor units (net of the channel's fees;
        /// may be negative when refunds exceed captures).
        paid_minor: i64,
        /// The channel's fees beyond what the platform booked for the batch (negative: fewer).
        fee_difference_minor: i64,
        /// The first bill day the batch covers, days since the epoch.
        first_day: u32,
        /// The last bill day it covers.
        last_day: u32,
    }
    groups {}
    texts {
        /// The channel's own name of the batch (a payout id, a settlement file name).
        batch_ref: 64,
    }
}

message! {
    /// Opens or resolves an entry of the discrepancy list (docs/RECONCILIATION.md, section 6):
    /// a difference `sluice reconcile` found between a channel's bill and the platform's records.
    /// Open of an id that exists is refused DiscrepancyExists; Resolve of an unknown or resolved
    /// one UnknownDiscrepancy. Nothing changes on a refusal. Answered with ConfigAck (object_id =
    /// discrepancy_id).
    Discrepancy = 58, sent_by Admin {
        /// Open or Resolve.
        op: DiscrepancyOp,
        /// Its id (stable: a hash of channel, class and key, so reruns name the same entry).
        discrepancy_id: u64,
        /// The channel.
        channel_id: u16,
        /// Open: what kind of difference.
        class: DiscrepancyClass,
        /// ISO 4217 numeric.
        currency: u16,
        /// The order (0 when the bill names none Sluice knows).
        order_id: u64,
        /// The attempt (0 for a refund).
        attempt: u8,
        /// The refund (0 for a payment).
        refund_id: u64,
        /// Open: its effect on what the channel owes the platform, minor units (positive: the
        /// platform booked more than the channel pays).
        amount_minor: i64,
        /// Resolve: the part written off, moved from the channel's receivable to
        /// `channel_write_offs` (0 = none; same sign convention as amount_minor).
        write_off_minor: i64,
        /// The bill day it was found on, days since the epoch.
        bill_day: u32,
    }
    groups {}
    texts {
        /// Open: the reconciler's description; Resolve: the resolution note.
        note: 128,
    }
}

message! {
    /// Set what one date is in the working-day calendar (schema 7; docs/PAYOUTS.md, section 2).
    /// Answered with ConfigAck (object_id = day).
    ConfigCalendarDay = 59, sent_by Admin {
        /// The date: days since 1970-01-01 in the engine's day (Genesis.utc_offset_secs).
        day: u32,
        /// Holiday, Workday, or Default (back to the weekday rule).
        kind: DayKind,
    }
    groups {}
    texts {}
}

message! {
    /// Release a Manual-schedule party's income earned through a day (schema 7). Answered with
    /// ConfigAck (object_id = party_id).
    ReleaseSettlement = 60, sent_by Admin {
        /// Merchant or Promoter.
        party_kind: PayoutParty,
        /// The merchant or promoter id.
        party_id: u32,
        /// The last earning day released: days since the epoch in the engine's day.
        through_day: u32,
    }
    groups {}
    texts {}
}

message! {
    /// Pay a promoter, or the platform itself, from its available balance (schema 7; merchants
    /// too, though their acquirer's WithdrawRequest is the usual way). Answered with PayoutAck;
    /// the outcome is seen in the party's balance, the payout's state and the flow store.
    PayoutRequest = 61, sent_by Admin {
        /// Unique among admin payout requests: the idempotency key.
        payout_request_id: u64,
        /// Merchant, Promoter or Platform.
        party_kind: PayoutParty,
        /// The merchant or promoter id (0 for the platform).
        party_id: u32,
        /// ISO 4217 numeric: a ledger currency.
        currency: u16,
        /// What the party receives, minor units (> 0; plus the fee, at most its available
        /// balance; for the platform, its revenue).
        amount_minor: i64,
    }
    groups {}
    texts {}
}

message! {
    /// The answer to a PayoutRequest (schema 7).
    PayoutAck = 62, sent_by Server {
        /// Echo.
        payout_request_id: u64,
        /// The payout (0 when refused).
        payout_id: u64,
        /// Accepted or rejected.
        status: AckStatus,
        /// Why it was refused (None when accepted).
        reason: ReasonCode,
        /// Review or Sent when accepted (a resend: the state now); Failed when refused.
        state: PayoutState,
        /// The payout channel's fee, minor units (0 when refused).
        fee_minor: i64,
        /// Journal sequence of the PayoutRequest this answers.
        sequence: u64,
    }
    groups {}
    texts {}
}

message! {
    /// Approve or reject a payout waiting in Review (schema 7). Approval sends it to its payout
    /// channel; rejection releases its money and ends it Failed (PayoutRejected). Answered with
    /// ConfigAck (object_id = payout_id; UnknownPayout, PayoutNotInReview).
    PayoutReview = 63, sent_by Admin {
        /// The payout.
        payout_id: u64,
        /// 1 to approve, 0 to reject.
        approve: bool,
    }
    groups {}
    texts {}
}

message! {
    /// Create or replace a payout channel (schema 7). Its id is in the channels' id space: a
    /// connector logs in as that channel; an id is a payment or a payout channel, never both.
    /// Answered with ConfigAck (object_id = channel_id).
    ConfigPayoutChannel = 64, sent_by Admin {
        /// The channel id (> 0; not a payment channel's).
        channel_id: u16,
        /// Display name.
        name: Chars<16>,
        /// Active or disabled (a disabled channel takes no new payouts; those in flight finish).
        status: Activity,
        /// How long after a PayoutDispatch the channel has to answer before it is queried,
        /// milliseconds (1..=86400000).
        timeout_ms: u32,
        /// How often a payout without a final answer is queried, milliseconds (1..=86400000).
        query_interval_ms: u32,
        /// Fixed part of the fee, minor units (>= 0).
        fee_fixed_minor: i64,
        /// Rate part of the fee, of the amount (0..=1), rounded half up to a minor unit.
        fee_rate: Decimal,
    }
    groups {}
    texts {}
}

message! {
    /// The payout policy of one currency (schema 7). Answered with ConfigAck (object_id =
    /// currency).
    ConfigPayoutPolicy = 65, sent_by Admin {
        /// ISO 4217 numeric: a ledger currency.
        currency: u16,
        /// A payout of a larger amount waits in Review for a PayoutReview (0 = no review).
        review_above_minor: i64,
        /// The payout channel of the platform's own payouts (0 = none).
        platform_payout_channel_id: u16,
    }
    groups {}
    texts {}
}

message! {
    /// Label an order (schema 8; docs/DISPUTES.md, section 1): a fraud report, a false positive
    /// (a blocked or reviewed payment confirmed good) or a confirmation that it was good. Kept
    /// past the order's retention in the labels table; the latest label of an order is the one
    /// kept (every label stays in the journal). Changes no money. Answered with ConfigAck
    /// (object_id = order_id; UnknownOrder for an id never issued, InvalidField for kind None or
    /// an engine-only source).
    RiskLabel = 67, sent_by Admin {
        /// The order (the engine's order id, as PaymentAck gave it).
        order_id: u64,
        /// Fraud, FalsePositive or Legitimate.
        kind: LabelKind,
        /// Analyst, IssuerReport or Customer.
        source: LabelSource,
        /// The source's own reference (a fraud report's case number; 0 when none).
        reference: u64,
    }
    groups {}
    texts {
        /// The analyst's note.
        note: 128,
    }
}

message! {
    /// Decide an order waiting in the review queue (schema 8; docs/DISPUTES.md, section 3).
    /// Approve labels it Legitimate; RefundAndBlock starts a full refund of what is left of it
    /// in its acquirer's name (refund_request_id = 2^63 | order_id: the acquirer gets its
    /// RefundAck and RefundResult), blocks the payer's user, device and card fingerprint, and
    /// labels it Fraud. Either takes it out of the queue. Answered with ConfigAck (object_id = order_id; UnknownOrder, NotInReview, and for
    /// RefundAndBlock the refund's refusal reasons, e.g. RefundsFull, which leave it queued).
    ReviewDecision = 68, sent_by Admin {
        /// The order.
        order_id: u64,
        /// Approve or RefundAndBlock.
        action: ReviewAction,
    }
    groups {}
    texts {}
}

message! {
    /// Ask for an order's review and label standing (schema 8): by order id, or (order_id = 0)
    /// the order at `position` of the review queue, oldest first. Answered with ReviewItem, or
    /// ConfigAck(Rejected, NotFound) past the queue's end, UnknownOrder / OrderExpired for an
    /// order the engine no longer knows and that has no label. Changes nothing.
    ReviewQuery = 69, sent_by Admin {
        /// The order (0: look up by position).
        order_id: u64,
        /// With order_id = 0: the position in the queue (0-based).
        position: u32,
    }
    groups {}
    texts {}
}

message! {
    /// Opt a party in to the balance yield in one currency, change its terms, or opt it out
    /// (schema 9; docs/YIELD.md). Opted in, its available balance above `keep_minimum_minor` is
    /// swept once a day into the money-market fund on its behalf. Opting out redeems everything
    /// under YieldRedeem's rules (instant up to what is left of today's limit, the rest on the
    /// next working day) and stops the sweeps. Answered with ConfigAck (object_id = party_id;
    /// UnknownMerchant, UnknownPromoter, CurrencyNotAccepted, InvalidField, CapacityReached).
    ConfigYield = 71, sent_by Admin {
        /// Merchant or Promoter.
        party_kind: PartyKind,
        /// The party.
        party_id: u32,
        /// ISO 4217 numeric: a ledger currency.
        currency: u16,
        /// 1 to opt in (or change the terms), 0 to opt out.
        opt_in: bool,
        /// What stays in the available balance at each sweep, minor units (>= 0).
        keep_minimum_minor: i64,
        /// Most redeemed to available at once per business day, minor units (>= 0); the rest of
        /// a redemption is paid on the next working day.
        instant_limit_minor: i64,
    }
    groups {}
    texts {}
}

message! {
    /// The money-market fund's published yield for one day (schema 9; docs/YIELD.md, section 3):
    /// per 10,000 units, with 4 decimals (0.6543 -> 6543). It accrues at once to every holder in
    /// that currency: floor(position x yield / 10^8) each; the fund's total floor(sum of positions x
    /// yield / 10^8), what rounding leaves of it to the yield residual account. Answered with
    /// ConfigAck (object_id = day; InvalidField for a day after today, a day not after the last
    /// published one, a negative yield or one above 1,000,000; CurrencyNotAccepted).
    FundYield = 72, sent_by Admin {
        /// ISO 4217 numeric: a ledger currency.
        currency: u16,
        /// The fund's day, days since 1970-01-01 in the engine's day (Genesis utc_offset_secs).
        day: u32,
        /// Yield per 10,000 units, 4 decimals (0..=1,000,000).
        yield_per_10k_e4: i64,
    }
    groups {}
    texts {}
}

message! {
    /// Redeem a party's fund position in one currency (schema 9; docs/YIELD.md): to available at
    /// once up to the party's daily instant limit, the rest on the next working day. Accrued
    /// yield goes first, then principal. Idempotent on request_id (the last 1,024 kept): a resend
    /// is answered again and moves nothing; other fields under the same id get
    /// DuplicateRequestMismatch. Answered with ConfigAck (object_id = request_id, text "instant
    /// X, queued Y"; NotFound for a party not holding, InsufficientBalance above the position,
    /// AmountNotPositive).
    YieldRedeem = 73, sent_by Admin {
        /// The admin's own id for this request (> 0).
        request_id: u64,
        /// Merchant or Promoter.
        party_kind: PartyKind,
        /// The party.
        party_id: u32,
        /// ISO 4217 numeric.
        currency: u16,
        /// Minor units; 0 = the whole position.
        amount_minor: i64,
    }
    groups {}
    texts {}
}

message! {
    /// Ask for a party's fund position in one currency, or (party_id = 0) the fund's totals in
    /// that currency (schema 9). Answered with YieldPosition; ConfigAck(Rejected, NotFound) for a
    /// party that never opted in. Changes nothing.
    YieldQuery = 74, sent_by Admin {
        /// Merchant or Promoter (ignored with party_id = 0).
        party_kind: PartyKind,
        /// The party (0: the fund's totals).
        party_id: u32,
        /// ISO 4217 numeric.
        currency: u16,
    }
    groups {}
    texts {}
}

message! {
    /// Consumer installment terms (schema 9; docs/INSTALLMENTS.md) of a merchant, or the default
    /// for every merchant without its own (merchant_id = 0). Replaces earlier terms; plans
    /// already open keep theirs. Answered with ConfigAck (object_id = merchant_id; UnknownMerchant,
    /// InvalidConfig for a rate above 10000 bps or default_after_days = 0, CapacityReached past
    /// 64 merchants' terms).
    ConfigInstallments = 75, sent_by Admin {
        /// The merchant (0 = the default terms).
        merchant_id: u32,
        /// Interest-free plans of 3, 6, 12: the merchant's fee, bps of the amount.
        fee_bps_3: u16,
        /// See fee_bps_3.
        fee_bps_6: u16,
        /// See fee_bps_3.
        fee_bps_12: u16,
        /// Plans with interest of 3, 6, 12: the payer's flat rate for the whole plan, bps of the
        /// amount.
        rate_bps_3: u16,
        /// See rate_bps_3.
        rate_bps_6: u16,
        /// See rate_bps_3.
        rate_bps_12: u16,
        /// Late fee of an overdue installment, bps of the installment, charged once.
        late_fee_bps: u16,
        /// Days the first unpaid installment must be overdue before InstallmentDefault (>= 1).
        default_after_days: u16,
        /// Days between installments (0 = 30, monthly; at most 31): installment k is due
        /// k × period_days after the payment's day.
        period_days: u8,
    }
    groups {}
    texts {}
}

message! {
    /// The payer repaid one installment (schema 9), reported by the funding partner. The
    /// installment must be the plan's first unpaid one and the amount exactly what it owes;
    /// a resend finds it repaid and is refused without effect. Answered with ConfigAck
    /// (object_id = order_id; NotFound, InvalidField with the expected figure).
    InstallmentRepayment = 76, sent_by Admin {
        /// The plan (its payment's order id).
        order_id: u64,
        /// The installment, 1-based.
        index: u16,
        /// Amount paid, minor units.
        amount_minor: i64,
        /// The funding partner's reference of the payment (kept in the journal only).
        reference: u64,
    }
    groups {}
    texts {}
}

message! {
    /// The payer repaid everything left (schema 9): the amount must equal the payoff
    /// (InstallmentPlan.payoff_minor: unpaid principal, the interest of installments due by
    /// today, unpaid late fees; later interest is rebated). Answered with ConfigAck.
    InstallmentEarlyRepayment = 77, sent_by Admin {
        /// The plan.
        order_id: u64,
        /// Amount paid, minor units.
        amount_minor: i64,
        /// The funding partner's reference.
        reference: u64,
    }
    groups {}
    texts {}
}

message! {
    /// Default a plan (schema 9): allowed once its first unpaid installment is overdue by the
    /// terms' default_after_days. The rest is written off to the platform. Answered with
    /// ConfigAck.
    InstallmentDefault = 78, sent_by Admin {
        /// The plan.
        order_id: u64,
    }
    groups {}
    texts {}
}

message! {
    /// Ask for a plan and its schedule (schema 9). Answered with InstallmentPlan, or
    /// ConfigAck(Rejected, NotFound). Changes nothing.
    InstallmentQuery = 79, sent_by Admin {
        /// The plan (its payment's order id).
        order_id: u64,
    }
    groups {}
    texts {}
}

message! {
    /// The merchant-credit policy (schema 9; docs/CREDIT.md, section 1). Answered with ConfigAck
    /// (object_id = currency).
    ConfigCreditPolicy = 80, sent_by Admin {
        /// ISO 4217 numeric: a ledger currency (cannot change while a loan is open).
        currency: u16,
        /// The flow window, calendar days (1..=31).
        window_days: u16,
        /// Share of the window's settled flow that may be lent, per mille (0..=1000).
        advance_permille: u16,
        /// Most a merchant may owe, minor units (0..=10^15).
        cap_minor: i64,
        /// Interest per day, millionths of the principal (0..=100000).
        daily_rate_e6: u32,
        /// Added to the daily rate after the due day, millionths (0..=100000).
        penalty_rate_e6: u32,
        /// Share of each settlement credited to available that repays the loan, bps (1..=10000).
        repay_share_bps: u16,
        /// Longest term, days (1..=365).
        term_days_max: u16,
        /// Days overdue after which a loan defaults (1..=365).
        default_after_days: u16,
    }
    groups {}
    texts {}
}

message! {
    /// Lend to a merchant, on its behalf (schema 9; docs/CREDIT.md, section 3): the principal
    /// goes to its available balance if within its credit limit. Answered with ConfigAck
    /// (object_id = loan_id; CreditLimitExceeded, LoanOpen, NoCreditPolicy, LoansFull...).
    LoanRequest = 81, sent_by Admin {
        /// Unique: the idempotency key.
        loan_id: u64,
        /// The merchant.
        merchant_id: u32,
        /// Principal, minor units of the credit currency (> 0).
        amount_minor: i64,
        /// Term, days (1..=term_days_max).
        term_days: u16,
    }
    groups {}
    texts {}
}

message! {
    /// Repay a loan from the merchant's available balance (schema 9; docs/CREDIT.md, section 5):
    /// interest first. Answered with ConfigAck (object_id = loan_id).
    LoanRepayment = 82, sent_by Admin {
        /// The loan.
        loan_id: u64,
        /// The repayment's id: the same as the loan's last accepted one is a duplicate.
        repayment_id: u64,
        /// Amount, minor units (> 0, at most what the loan owes and the available balance).
        amount_minor: i64,
    }
    groups {}
    texts {}
}

message! {
    /// Ask for a merchant's credit standing (schema 9): by loan (loan_id > 0) or by merchant
    /// (its limit and latest loan). Answered with CreditPosition, or ConfigAck(Rejected) for an
    /// unknown merchant or loan or without a policy. Changes nothing.
    CreditQuery = 83, sent_by Admin {
        /// The merchant (ignored when loan_id > 0).
        merchant_id: u32,
        /// The loan (0: the merchant's latest).
        loan_id: u64,
    }
    groups {}
    texts {}
}

// ---------------------------------------------------------------------------------------------
// Sequencer-generated inputs: journaled, never accepted from a peer.
// ---------------------------------------------------------------------------------------------

message! {
    /// The passage of time: injected by the sequencer at a configured interval. Its event time is
    /// the journal record's timestamp.
    Pulse = 90, sent_by Sequencer {
        /// Reserved (0).
        flags: u8,
    }
    groups {}
    texts {}
}

message! {
    /// The first input of every journal: the engine's limits and calendar, fixed for its life.
    Genesis = 91, sent_by Sequencer {
        /// Most orders in memory.
        orders_max: u32,
        /// Most refunds in memory.
        refunds_max: u32,
        /// Most withdrawals in memory: from schema 7, most payouts (in review, in flight, and
        /// ended ones kept for duplicates).
        withdrawals_max: u32,
        /// Most merchants.
        merchants_max: u32,
        /// Most promoters.
        promoters_max: u32,
        /// Most channels.
        channels_max: u16,
        /// Most split profiles.
        split_profiles_max: u16,
        /// Most risk rules.
        risk_rules_max: u16,
        /// Most allow/block list entries.
        list_entries_max: u32,
        /// Most tracked keys per velocity entity kind.
        velocity_keys_max: u32,
        /// Most attempts per payment (1..=4).
        attempts_max: u8,
        /// Offset of the settlement calendar from UTC, seconds (e.g. 28800 for UTC+8).
        utc_offset_secs: i32,
    }
    since 4 {
        /// How long a final order stays in the order table after its last change, milliseconds
        /// (0 = for ever, as versions 1 to 3 kept them). Then it retires to a compact record and
        /// its slot takes a new order under a new order id (section 4, Retention).
        order_retention_ms: u64 = 0,
        /// How long a retired order's record answers a resend of its request id (the original
        /// answer, or DuplicateRequestMismatch) and a query, milliseconds from its retirement.
        idempotency_window_ms: u64 = 0,
        /// Most retired orders' records in memory (required when order_retention_ms > 0).
        receipts_max: u32 = 0,
    }
    since 8 {
        /// Most labelled orders in the labels table (0 = 65,536); a full table lets its oldest
        /// label go (docs/DISPUTES.md, section 1).
        labels_max: u32 = 0,
        /// Most disputes in memory, open and ended (0 = 16,384).
        disputes_max: u32 = 0,
        /// Most orders waiting in the review queue (0 = 4,096); a Review verdict on a full queue
        /// is counted and not queued.
        review_queue_max: u32 = 0,
    }
    since 9 {
        /// Most consumer installment plans in memory, open and ended (0 = 16,384; at most
        /// 1,048,576; docs/INSTALLMENTS.md, section 6).
        installment_plans_max: u32 = 0,
    }
    groups {
        /// Ledger currencies.
        ledger_currencies: [CurrencyEntry; 8],
    }
    texts {}
}
