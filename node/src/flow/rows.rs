//! The normalized transaction flow: one type per table, declared once with its columns, key and
//! meaning (docs/STORE.md). The exporter derives rows from applied journal records
//! (`flow::derive`); the store writes them to Parquet and PostgreSQL through the generic
//! [`Row`] interface, so a column exists in one place only.
//!
//! Conventions, the same in every table:
//! - `seq` is the journal sequence of the input that caused the row, `ordinal` the row's position
//!   among the rows of its table that one input caused: (`seq`, `ordinal`) identifies every row,
//!   and is what makes re-exporting a range idempotent.
//! - `at_ns` is the input's event time (ns since the Unix epoch); `day` is its day in the
//!   settlement calendar (`Genesis.utc_offset_secs`), days since 1970-01-01.
//! - Identifiers the engine keeps as `u64` are stored as `i64` (PostgreSQL has no unsigned type):
//!   every id the engine issues is below 2^63; an acquirer's own request ids keep their 64-bit
//!   pattern (one at or past 2^63 reads back negative).
//! - Money is `amount_minor` (minor units of `currency`, an ISO 4217 numeric code); enums are
//!   stored by their protocol names (docs/PROTOCOL.md).

/// A column's type, as both stores hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// 64-bit signed integer (PostgreSQL `bigint`, Parquet INT64).
    I64,
    /// 32-bit signed integer (PostgreSQL `integer`, Parquet INT32).
    I32,
    /// Boolean.
    Bool,
    /// UTF-8 text (PostgreSQL `text`, Parquet BYTE_ARRAY annotated STRING).
    Text,
    /// A calendar day: days since 1970-01-01 (PostgreSQL `date`, Parquet INT32 annotated DATE).
    Date,
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub doc: &'static str,
}

/// One cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    I64(i64),
    I32(i32),
    Bool(bool),
    Text(String),
    Date(i32),
}

/// A table's row type.
pub trait Row: Sized {
    /// The table's name (PostgreSQL table, Parquet directory).
    const TABLE: &'static str;
    /// Every column, in storage order.
    const COLUMNS: &'static [Column];
    /// The columns of the primary key.
    const KEY: &'static [&'static str];
    /// The row's cells, in `COLUMNS` order.
    fn values(&self) -> Vec<Value>;
    /// Builds a row from cells in `COLUMNS` order (what a store reads back); `None` when a cell
    /// has the wrong type or is missing.
    fn from_values(values: &[Value]) -> Option<Self>;
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I64(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_i32(&self) -> Option<i32> {
        match *self {
            Value::I32(v) | Value::Date(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(v) => Some(v),
            _ => None,
        }
    }
}

/// Rust type ↔ column type, for the table macro.
pub trait Cell: Sized {
    const TY: ColType;
    fn to_value(&self) -> Value;
    fn from_value(v: &Value) -> Option<Self>;
}

impl Cell for i64 {
    const TY: ColType = ColType::I64;
    fn to_value(&self) -> Value {
        Value::I64(*self)
    }
    fn from_value(v: &Value) -> Option<i64> {
        v.as_i64()
    }
}

impl Cell for i32 {
    const TY: ColType = ColType::I32;
    fn to_value(&self) -> Value {
        Value::I32(*self)
    }
    fn from_value(v: &Value) -> Option<i32> {
        match *v {
            Value::I32(x) => Some(x),
            _ => None,
        }
    }
}

impl Cell for bool {
    const TY: ColType = ColType::Bool;
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
    fn from_value(v: &Value) -> Option<bool> {
        v.as_bool()
    }
}

impl Cell for String {
    const TY: ColType = ColType::Text;
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
    fn from_value(v: &Value) -> Option<String> {
        v.as_text().map(str::to_owned)
    }
}

/// A calendar day, days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Day(pub i32);

impl Cell for Day {
    const TY: ColType = ColType::Date;
    fn to_value(&self) -> Value {
        Value::Date(self.0)
    }
    fn from_value(v: &Value) -> Option<Day> {
        match *v {
            Value::Date(x) => Some(Day(x)),
            _ => None,
        }
    }
}

/// Declares a table: its struct, columns (with docs), key and the `Row` impl.
macro_rules! table {
    (
        $(#[$meta:meta])*
        $name:ident = $table:literal, key($($key:ident),+) {
            $( #[doc = $doc:literal] $field:ident : $ty:ty, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( #[doc = $doc] pub $field: $ty, )+
        }

        impl Row for $name {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static [Column] = &[
                $( Column { name: stringify!($field), ty: <$ty as Cell>::TY, doc: $doc }, )+
            ];
            const KEY: &'static [&'static str] = &[$(stringify!($key)),+];
            fn values(&self) -> Vec<Value> {
                vec![$( Cell::to_value(&self.$field), )+]
            }
            fn from_values(values: &[Value]) -> Option<Self> {
                let mut it = values.iter();
                Some($name { $( $field: <$ty as Cell>::from_value(it.next()?)?, )+ })
            }
        }
    };
}

table! {
    /// One row per PaymentRequest that created an order (accepted, or rejected by risk or a
    /// limit after the order existed). Requests refused without an order (validation,
    /// OrdersFull, a mismatched resend) are not orders; resends are not rows.
    Order = "orders", key(order_id) {
        /// Sluice's order id.
        order_id: i64,
        /// Journal sequence of the PaymentRequest.
        seq: i64,
        /// Event time of the PaymentRequest, ns.
        at_ns: i64,
        /// Its day in the settlement calendar.
        day: Day,
        /// The acquirer that sent it.
        acquirer_id: i32,
        /// The acquirer's request id.
        request_id: i64,
        /// The merchant paid.
        merchant_id: i32,
        /// The merchant's parent in the hierarchy (0 = none).
        parent_merchant_id: i32,
        /// The promoter (0 = none).
        promoter_id: i32,
        /// Amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
        /// PaymentMethod name.
        method: String,
        /// Scene name.
        scene: String,
        /// Goods category code (0 = unspecified).
        goods_category: i32,
        /// The merchant's RoutingStrategy name when the order was created.
        strategy: String,
        /// `Accepted` or `Rejected` (the PaymentAck's status).
        ack_status: String,
        /// ReasonCode name of a rejection (`None` when accepted).
        reject_reason: String,
        /// RiskAction name of the risk verdict.
        risk_action: String,
        /// The risk rule that decided (0 = none; lists report 1 allow, 2 block).
        risk_rule_id: i32,
        /// The channel of the first attempt (0 when rejected).
        first_channel_id: i32,
        /// The verdict's learned risk score, 0–100 (0 without a model, and before schema 8).
        risk_score: i32,
    }
}

table! {
    /// The routing explanation: every candidate channel of an order and what routing decided
    /// about it, in routing order (chosen, ranked, then skipped).
    RoutingCandidate = "routing_candidates", key(order_id, position) {
        /// The order.
        order_id: i64,
        /// Position in routing order, from 0.
        position: i32,
        /// Journal sequence of the PaymentRequest.
        seq: i64,
        /// Its day.
        day: Day,
        /// The candidate channel.
        channel_id: i32,
        /// CandidateDecision name.
        decision: String,
        /// SkipReason name (`None` unless skipped).
        skip_reason: String,
        /// The routing score (higher is better; its meaning depends on the strategy).
        score: i64,
        /// Rank among the channels tried in order (0 = not ranked).
        rank: i32,
    }
}

table! {
    /// Every attempt of a payment, written when the payment reaches its final result.
    Attempt = "attempts", key(order_id, attempt) {
        /// The order.
        order_id: i64,
        /// Attempt number, from 1.
        attempt: i32,
        /// Journal sequence of the input that made the payment final.
        seq: i64,
        /// Its day.
        day: Day,
        /// The channel tried.
        channel_id: i32,
        /// AttemptStatus name: how the attempt ended.
        status: String,
        /// The channel's own result code (0 when none came).
        channel_code: i32,
        /// Event time the attempt was dispatched, ns.
        dispatched_ns: i64,
        /// How long the channel took, µs (0 when no answer came).
        latency_us: i64,
        /// True when the attempt was a health probe.
        probe: bool,
    }
}

table! {
    /// The final result of each payment (its first PaymentResult; answers to resends are not
    /// rows).
    PaymentResult = "payment_results", key(order_id) {
        /// The order.
        order_id: i64,
        /// Journal sequence of the input that made it final.
        seq: i64,
        /// Its event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// The merchant.
        merchant_id: i32,
        /// `Succeeded` or `Failed`.
        status: String,
        /// ReasonCode name (`None` when succeeded).
        reason: String,
        /// The channel of the last attempt.
        channel_id: i32,
        /// Attempts made (1 = no failover).
        attempts: i32,
        /// Amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
        /// The channel's fee, minor units (0 when failed).
        fee_minor: i64,
        /// The channel's reference (empty when failed).
        channel_ref: String,
        /// The day the merchant's own split line settles, days since 1970-01-01 (0 unless succeeded).
        settle_day: Day,
    }
}

table! {
    /// How money was split: a succeeded payment's lines (positive) and each succeeded refund's
    /// reversal lines (negative, so that a sum over an order is what each party keeps).
    SplitLine = "split_lines", key(seq, ordinal) {
        /// Journal sequence of the input that produced the lines.
        seq: i64,
        /// Position among the split lines that input produced.
        ordinal: i32,
        /// Its day.
        day: Day,
        /// The order.
        order_id: i64,
        /// The refund (0 for a payment's own lines).
        refund_id: i64,
        /// PartyRole name (Merchant, Promoter, Platform, ChannelFee).
        role: String,
        /// The party (merchant, promoter or channel id; 0 for the platform).
        party_id: i32,
        /// Amount, minor units: positive for a payment, negative for a refund's reversal.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
    }
}

table! {
    /// Each refund the engine answered with an order (accepted or rejected), as acknowledged.
    Refund = "refunds", key(seq, ordinal) {
        /// Journal sequence of the RefundRequest.
        seq: i64,
        /// Position among the refunds that input produced (always 0 today).
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// Sluice's refund id (0 when rejected).
        refund_id: i64,
        /// The acquirer's refund request id.
        refund_request_id: i64,
        /// The refunded order.
        order_id: i64,
        /// The order's merchant.
        merchant_id: i32,
        /// Amount asked, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
        /// `Accepted` or `Rejected`.
        ack_status: String,
        /// ReasonCode name of a rejection (`None` when accepted).
        reject_reason: String,
        /// RiskAction name.
        risk_action: String,
        /// The risk rule that decided (0 = none).
        risk_rule_id: i32,
    }
}

table! {
    /// The final result of each accepted refund.
    RefundResult = "refund_results", key(refund_id) {
        /// The refund.
        refund_id: i64,
        /// Journal sequence of the input that made it final.
        seq: i64,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// The order.
        order_id: i64,
        /// The order's merchant.
        merchant_id: i32,
        /// The channel that refunded.
        channel_id: i32,
        /// `Succeeded` or `Failed`.
        status: String,
        /// ReasonCode name (`None` when succeeded).
        reason: String,
        /// Amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
        /// Channel fee the refund returned, minor units (ProRata channels; else 0).
        fee_returned_minor: i64,
    }
}

table! {
    /// A capture the payment does not keep, as found (Reversing) and as confirmed reversed.
    Reversal = "reversals", key(seq, ordinal) {
        /// Journal sequence of the input.
        seq: i64,
        /// Position among the reversals that input produced.
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// The order.
        order_id: i64,
        /// The attempt that captured.
        attempt: i32,
        /// Its channel.
        channel_id: i32,
        /// Amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
        /// ReversalState name.
        state: String,
        /// ReasonCode name.
        reason: String,
    }
}

table! {
    /// Every answer about a merchant's withdrawal (schema 7, docs/PAYOUTS.md): the WithdrawAck
    /// that accepted or refused it, the WithdrawResult once the payout channel answered (or the
    /// review rejected it), and a WithdrawReturned when the bank sent a paid one back. Resends
    /// and retransmissions are not rows. The payout's every state is in `payouts`.
    Withdrawal = "withdrawals", key(seq, ordinal) {
        /// Journal sequence of the input answered: the WithdrawRequest (ack), the input that ended the payout (result) or reported its return.
        seq: i64,
        /// Position among the withdrawals that input produced.
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// Sluice's withdrawal id (0 when refused).
        withdrawal_id: i64,
        /// The acquirer's request id.
        withdraw_request_id: i64,
        /// The merchant.
        merchant_id: i32,
        /// Amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
        /// `Accepted` or `Rejected` (WithdrawAck), `Succeeded` or `Failed` (WithdrawResult), `Returned` (WithdrawReturned).
        status: String,
        /// ReasonCode name (`None` unless refused or failed).
        reason: String,
        /// The merchant's available balance right after, minor units.
        available_after_minor: i64,
        /// `WithdrawAck`, `WithdrawResult` or `WithdrawReturned` (rows exported before schema 7: `WithdrawResult`).
        message: String,
        /// The payout channel's fee, borne by the merchant, minor units (0 when refused, on a return, and before schema 7).
        fee_minor: i64,
    }
}

table! {
    /// Every ledger transfer, in the order the engine made it. An account is named by its kind
    /// and owner: `clearing`, `platform_revenue`, `fee_expense`, `payouts`, `reversals_payable`,
    /// `platform_bank`, `channel_fee_differences`, `channel_write_offs`, `payouts_in_flight`,
    /// `payout_fees` (owner 0), `channel_receivable` (owner = channel id), `pending`,
    /// `available`, `frozen`, `reserve` (owner = party id, with `*_role` naming the party's
    /// role).
    LedgerTransfer = "ledger_transfers", key(seq, ordinal) {
        /// Journal sequence of the input.
        seq: i64,
        /// Position among the transfers that input made.
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// `post` (at once), `reserve` (pending), `post_reserved` or `void_reserved`.
        phase: String,
        /// Debited account kind.
        debit_kind: String,
        /// Debited account owner (0 for platform accounts).
        debit_owner: i32,
        /// Debited party's role (`Merchant`, `Promoter`, `Platform`; empty for other accounts).
        debit_role: String,
        /// Credited account kind.
        credit_kind: String,
        /// Credited account owner.
        credit_owner: i32,
        /// Credited party's role (empty for non-party accounts).
        credit_role: String,
        /// Amount, minor units (> 0).
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
    }
}

table! {
    /// Settlement movements: a party's income moving from pending to available (`settled`), the
    /// deposit share from pending to frozen (`frozen`), and a deposit released from frozen to
    /// available (`released`). Derived from the ledger transfers a Pulse made.
    Settlement = "settlements", key(seq, ordinal) {
        /// Journal sequence of the Pulse.
        seq: i64,
        /// Position among the settlement movements that input made.
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// The party.
        party_id: i32,
        /// The party's role (`Merchant`, `Promoter`, `Platform`).
        role: String,
        /// `settled`, `frozen`, `released`, `reserved` or `reserve_released`.
        kind: String,
        /// Amount, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
    }
}

table! {
    /// Risk rules that fired on an input: the deciding rule of each verdict (`shadow` false) and
    /// every shadow rule that matched (`shadow` true).
    RiskHit = "risk_hits", key(seq, ordinal) {
        /// Journal sequence of the request.
        seq: i64,
        /// Position among the hits that input produced.
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// The rule (lists report 1 allow, 2 block).
        rule_id: i32,
        /// True for a shadow rule (it counts, it decides nothing).
        shadow: bool,
        /// RiskAction name the rule asks for.
        action: String,
        /// `payment` or `refund`.
        subject: String,
        /// The order (0 when the request made none).
        order_id: i64,
        /// The merchant.
        merchant_id: i32,
        /// Amount of the request, minor units.
        amount_minor: i64,
        /// ISO 4217 numeric.
        currency: i32,
    }
}

table! {
    /// A channel's health changing (the engine's HealthAlert).
    ChannelHealth = "channel_health", key(seq, ordinal) {
        /// Journal sequence of the input that caused it.
        seq: i64,
        /// Position among the health changes that input caused.
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// Its day.
        day: Day,
        /// The channel.
        channel_id: i32,
        /// HealthState name before.
        from_state: String,
        /// HealthState name now.
        to_state: String,
        /// Failure bucket level when it changed (x1000).
        failure_level_milli: i64,
        /// Recent success rate, parts per million.
        success_rate_ppm: i64,
    }
}

#[path = "rows_recon.rs"]
mod recon;
pub use recon::{ChannelSettlementRow, DiscrepancyRow};

#[path = "rows_payouts.rs"]
mod payouts;
pub use payouts::Payout;

#[path = "rows_risk.rs"]
mod risk;
pub use risk::{DisputeRow, ReviewRow, RiskLabelRow};

#[path = "rows_finance.rs"]
mod finance;
pub use finance::FinanceEventRow;

/// Every row one applied journal record causes, per table, in the order caused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    pub orders: Vec<Order>,
    pub routing_candidates: Vec<RoutingCandidate>,
    pub attempts: Vec<Attempt>,
    pub payment_results: Vec<PaymentResult>,
    pub split_lines: Vec<SplitLine>,
    pub refunds: Vec<Refund>,
    pub refund_results: Vec<RefundResult>,
    pub reversals: Vec<Reversal>,
    pub withdrawals: Vec<Withdrawal>,
    pub ledger_transfers: Vec<LedgerTransfer>,
    pub settlements: Vec<Settlement>,
    pub risk_hits: Vec<RiskHit>,
    pub channel_health: Vec<ChannelHealth>,
    pub channel_settlements: Vec<ChannelSettlementRow>,
    pub discrepancies: Vec<DiscrepancyRow>,
    pub payouts: Vec<Payout>,
    pub risk_labels: Vec<RiskLabelRow>,
    pub disputes: Vec<DisputeRow>,
    pub reviews: Vec<ReviewRow>,
    pub finance_events: Vec<FinanceEventRow>,
}

/// Calls a generic visitor once per table: how stores handle every table without naming each.
pub trait TableVisitor {
    fn table<R: Row>(&mut self, rows: &[R]);
}

/// The same, mutably (to fill or drain).
pub trait TableVisitorMut {
    fn table<R: Row>(&mut self, rows: &mut Vec<R>);
}

/// Every table's name, in the order `Rows::visit` visits them.
pub const TABLES: &[&str] = &[
    Order::TABLE,
    RoutingCandidate::TABLE,
    Attempt::TABLE,
    PaymentResult::TABLE,
    SplitLine::TABLE,
    Refund::TABLE,
    RefundResult::TABLE,
    Reversal::TABLE,
    Withdrawal::TABLE,
    LedgerTransfer::TABLE,
    Settlement::TABLE,
    RiskHit::TABLE,
    ChannelHealth::TABLE,
    ChannelSettlementRow::TABLE,
    DiscrepancyRow::TABLE,
    Payout::TABLE,
    RiskLabelRow::TABLE,
    DisputeRow::TABLE,
    ReviewRow::TABLE,
    FinanceEventRow::TABLE,
];

impl Rows {
    pub fn visit(&self, v: &mut impl TableVisitor) {
        v.table(&self.orders);
        v.table(&self.routing_candidates);
        v.table(&self.attempts);
        v.table(&self.payment_results);
        v.table(&self.split_lines);
        v.table(&self.refunds);
        v.table(&self.refund_results);
        v.table(&self.reversals);
        v.table(&self.withdrawals);
        v.table(&self.ledger_transfers);
        v.table(&self.settlements);
        v.table(&self.risk_hits);
        v.table(&self.channel_health);
        v.table(&self.channel_settlements);
        v.table(&self.discrepancies);
        v.table(&self.payouts);
        v.table(&self.risk_labels);
        v.table(&self.disputes);
        v.table(&self.reviews);
        v.table(&self.finance_events);
    }

    pub fn visit_mut(&mut self, v: &mut impl TableVisitorMut) {
        v.table(&mut self.orders);
        v.table(&mut self.routing_candidates);
        v.table(&mut self.attempts);
        v.table(&mut self.payment_results);
        v.table(&mut self.split_lines);
        v.table(&mut self.refunds);
        v.table(&mut self.refund_results);
        v.table(&mut self.reversals);
        v.table(&mut self.withdrawals);
        v.table(&mut self.ledger_transfers);
        v.table(&mut self.settlements);
        v.table(&mut self.risk_hits);
        v.table(&mut self.channel_health);
        v.table(&mut self.channel_settlements);
        v.table(&mut self.discrepancies);
        v.table(&mut self.payouts);
        v.table(&mut self.risk_labels);
        v.table(&mut self.disputes);
        v.table(&mut self.reviews);
        v.table(&mut self.finance_events);
    }

    /// Rows in all tables.
    pub fn len(&self) -> usize {
        struct Count(usize);
        impl TableVisitor for Count {
            fn table<R: Row>(&mut self, rows: &[R]) {
                self.0 += rows.len();
            }
        }
        let mut c = Count(0);
        self.visit(&mut c);
        c.0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves every row of `other` to the end of `self`.
    pub fn append(&mut self, other: &mut Rows) {
        self.orders.append(&mut other.orders);
        self.routing_candidates
            .append(&mut other.routing_candidates);
        self.attempts.append(&mut other.attempts);
        self.payment_results.append(&mut other.payment_results);
        self.split_lines.append(&mut other.split_lines);
        self.refunds.append(&mut other.refunds);
        self.refund_results.append(&mut other.refund_results);
        self.reversals.append(&mut other.reversals);
        self.withdrawals.append(&mut other.withdrawals);
        self.ledger_transfers.append(&mut other.ledger_transfers);
        self.settlements.append(&mut other.settlements);
        self.risk_hits.append(&mut other.risk_hits);
        self.channel_health.append(&mut other.channel_health);
        self.channel_settlements
            .append(&mut other.channel_settlements);
        self.discrepancies.append(&mut other.discrepancies);
        self.payouts.append(&mut other.payouts);
        self.risk_labels.append(&mut other.risk_labels);
        self.disputes.append(&mut other.disputes);
        self.reviews.append(&mut other.reviews);
        self.finance_events.append(&mut other.finance_events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_round_trips_through_its_values() {
        let row = ChannelHealth {
            seq: 7,
            ordinal: 0,
            at_ns: 1,
            day: Day(20_000),
            channel_id: 3,
            from_state: "Healthy".into(),
            to_state: "Unhealthy".into(),
            failure_level_milli: 1500,
            success_rate_ppm: 400_000,
        };
        assert_eq!(ChannelHealth::from_values(&row.values()), Some(row));
        assert_eq!(ChannelHealth::COLUMNS.len(), 9);
        assert_eq!(ChannelHealth::KEY, &["seq", "ordinal"]);
    }

    #[test]
    fn every_key_column_exists() {
        struct Check;
        impl TableVisitor for Check {
            fn table<R: Row>(&mut self, _: &[R]) {
                for k in R::KEY {
                    assert!(R::COLUMNS.iter().any(|c| c.name == *k), "{}: {k}", R::TABLE);
                }
            }
        }
        Rows::default().visit(&mut Check);
    }
}
