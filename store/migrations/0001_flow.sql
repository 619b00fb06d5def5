-- The flow tables (node/src/flow/rows.rs, docs/STORE.md), one per row type, and the
-- exporter's position. Generated from rows.rs by pg::schema::first_migration_sql; a
-- released migration is never edited: change the schema with a new NNNN_*.sql.

CREATE TABLE sluice_export_position (
    name text PRIMARY KEY,
    seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sluice_export_position IS 'The last journal sequence whose rows each exporter has stored.';

CREATE TABLE orders (
    order_id bigint NOT NULL,
    seq bigint NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    acquirer_id integer NOT NULL,
    request_id bigint NOT NULL,
    merchant_id integer NOT NULL,
    parent_merchant_id integer NOT NULL,
    promoter_id integer NOT NULL,
    amount_minor bigint NOT NULL,
    currency integer NOT NULL,
    method text NOT NULL,
    scene text NOT NULL,
    goods_category integer NOT NULL,
    strategy text NOT NULL,
    ack_status text NOT NULL,
    reject_reason text NOT NULL,
    risk_action text NOT NULL,
    risk_rule_id integer NOT NULL,
    first_channel_id integer NOT NULL,
    PRIMARY KEY (order_id)
);
CREATE INDEX orders_day_idx ON orders (day);
CREATE INDEX orders_merchant_id_day_idx ON orders (merchant_id, day);
COMMENT ON COLUMN orders.order_id IS 'Sluice''s order id.';
COMMENT ON COLUMN orders.seq IS 'Journal sequence of the PaymentRequest.';
COMMENT ON COLUMN orders.at_ns IS 'Event time of the PaymentRequest, ns.';
COMMENT ON COLUMN orders.day IS 'Its day in the settlement calendar.';
COMMENT ON COLUMN orders.acquirer_id IS 'The acquirer that sent it.';
COMMENT ON COLUMN orders.request_id IS 'The acquirer''s request id.';
COMMENT ON COLUMN orders.merchant_id IS 'The merchant paid.';
COMMENT ON COLUMN orders.parent_merchant_id IS 'The merchant''s parent in the hierarchy (0 = none).';
COMMENT ON COLUMN orders.promoter_id IS 'The promoter (0 = none).';
COMMENT ON COLUMN orders.amount_minor IS 'Amount, minor units.';
COMMENT ON COLUMN orders.currency IS 'ISO 4217 numeric.';
COMMENT ON COLUMN orders.method IS 'PaymentMethod name.';
COMMENT ON COLUMN orders.scene IS 'Scene name.';
COMMENT ON COLUMN orders.goods_category IS 'Goods category code (0 = unspecified).';
COMMENT ON COLUMN orders.strategy IS 'The merchant''s RoutingStrategy name when the order was created.';
COMMENT ON COLUMN orders.ack_status IS '`Accepted` or `Rejected` (the PaymentAck''s status).';
COMMENT ON COLUMN orders.reject_reason IS 'ReasonCode name of a rejection (`None` when accepted).';
COMMENT ON COLUMN orders.risk_action IS 'RiskAction name of the risk verdict.';
COMMENT ON COLUMN orders.risk_rule_id IS 'The risk rule that decided (0 = none; lists report 1 allow, 2 block).';
COMMENT ON COLUMN orders.first_channel_id IS 'The channel of the first attempt (0 when rejected).';

CREATE TABLE routing_candidates (
    order_id bigint NOT NULL,
    position integer NOT NULL,
    seq bigint NOT NULL,
    day date NOT NULL,
    channel_id integer NOT NULL,
    decision text NOT NULL,
    skip_reason text NOT NULL,
    score bigint NOT NULL,
    rank integer NOT NULL,
    PRIMARY KEY (order_id, position)
);
CREATE INDEX routing_candidates_day_idx ON routing_candidates (day);
CREATE INDEX routing_candidates_channel_id_day_idx ON routing_candidates (channel_id, day);
COMMENT ON COLUMN routing_candidates.order_id IS 'The order.';
COMMENT ON COLUMN routing_candidates.position IS 'Position in routing order, from 0.';
COMMENT ON COLUMN routing_candidates.seq IS 'Journal sequence of the PaymentRequest.';
COMMENT ON COLUMN routing_candidates.day IS 'Its day.';
COMMENT ON COLUMN routing_candidates.channel_id IS 'The candidate channel.';
COMMENT ON COLUMN routing_candidates.decision IS 'CandidateDecision name.';
COMMENT ON COLUMN routing_candidates.skip_reason IS 'SkipReason name (`None` unless skipped).';
COMMENT ON COLUMN routing_candidates.score IS 'The routing score (higher is better; its meaning depends on the strategy).';
COMMENT ON COLUMN routing_candidates.rank IS 'Rank among the channels tried in order (0 = not ranked).';

CREATE TABLE attempts (
    order_id bigint NOT NULL,
    attempt integer NOT NULL,
    seq bigint NOT NULL,
    day date NOT NULL,
    channel_id integer NOT NULL,
    status text NOT NULL,
    channel_code integer NOT NULL,
    dispatched_ns bigint NOT NULL,
    latency_us bigint NOT NULL,
    probe boolean NOT NULL,
    PRIMARY KEY (order_id, attempt)
);
CREATE INDEX attempts_day_idx ON attempts (day);
CREATE INDEX attempts_channel_id_day_idx ON attempts (channel_id, day);
COMMENT ON COLUMN attempts.order_id IS 'The order.';
COMMENT ON COLUMN attempts.attempt IS 'Attempt number, from 1.';
COMMENT ON COLUMN attempts.seq IS 'Journal sequence of the input that made the payment final.';
COMMENT ON COLUMN attempts.day IS 'Its day.';
COMMENT ON COLUMN attempts.channel_id IS 'The channel tried.';
COMMENT ON COLUMN attempts.status IS 'AttemptStatus name: how the attempt ended.';
COMMENT ON COLUMN attempts.channel_code IS 'The channel''s own result code (0 when none came).';
COMMENT ON COLUMN attempts.dispatched_ns IS 'Event time the attempt was dispatched, ns.';
COMMENT ON COLUMN attempts.latency_us IS 'How long the channel took, µs (0 when no answer came).';
COMMENT ON COLUMN attempts.probe IS 'True when the attempt was a health probe.';

CREATE TABLE payment_results (
    order_id bigint NOT NULL,
    seq bigint NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    merchant_id integer NOT NULL,
    status text NOT NULL,
    reason text NOT NULL,
    channel_id integer NOT NULL,
    attempts integer NOT NULL,
    amount_minor bigint NOT NULL,
    currency integer NOT NULL,
    fee_minor bigint NOT NULL,
    channel_ref text NOT NULL,
    settle_day date NOT NULL,
    PRIMARY KEY (order_id)
);
CREATE INDEX payment_results_day_idx ON payment_results (day);
CREATE INDEX payment_results_merchant_id_day_idx ON payment_results (merchant_id, day);
CREATE INDEX payment_results_channel_id_day_idx ON payment_results (channel_id, day);
COMMENT ON COLUMN payment_results.order_id IS 'The order.';
COMMENT ON COLUMN payment_results.seq IS 'Journal sequence of the input that made it final.';
COMMENT ON COLUMN payment_results.at_ns IS 'Its event time, ns.';
COMMENT ON COLUMN payment_results.day IS 'Its day.';
COMMENT ON COLUMN payment_results.merchant_id IS 'The merchant.';
COMMENT ON COLUMN payment_results.status IS '`Succeeded` or `Failed`.';
COMMENT ON COLUMN payment_results.reason IS 'ReasonCode name (`None` when succeeded).';
COMMENT ON COLUMN payment_results.channel_id IS 'The channel of the last attempt.';
COMMENT ON COLUMN payment_results.attempts IS 'Attempts made (1 = no failover).';
COMMENT ON COLUMN payment_results.amount_minor IS 'Amount, minor units.';
COMMENT ON COLUMN payment_results.currency IS 'ISO 4217 numeric.';
COMMENT ON COLUMN payment_results.fee_minor IS 'The channel''s fee, minor units (0 when failed).';
COMMENT ON COLUMN payment_results.channel_ref IS 'The channel''s reference (empty when failed).';
COMMENT ON COLUMN payment_results.settle_day IS 'The day the merchant''s own split line settles, days since 1970-01-01 (0 unless succeeded).';

CREATE TABLE split_lines (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    day date NOT NULL,
    order_id bigint NOT NULL,
    refund_id bigint NOT NULL,
    role text NOT NULL,
    party_id integer NOT NULL,
    amount_minor bigint NOT NULL,
    currency integer NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX split_lines_day_idx ON split_lines (day);
CREATE INDEX split_lines_party_id_day_idx ON split_lines (party_id, day);
CREATE INDEX split_lines_order_id_idx ON split_lines (order_id);
COMMENT ON COLUMN split_lines.seq IS 'Journal sequence of the input that produced the lines.';
COMMENT ON COLUMN split_lines.ordinal IS 'Position among the split lines that input produced.';
COMMENT ON COLUMN split_lines.day IS 'Its day.';
COMMENT ON COLUMN split_lines.order_id IS 'The order.';
COMMENT ON COLUMN split_lines.refund_id IS 'The refund (0 for a payment''s own lines).';
COMMENT ON COLUMN split_lines.role IS 'PartyRole name (Merchant, Promoter, Platform, ChannelFee).';
COMMENT ON COLUMN split_lines.party_id IS 'The party (merchant, promoter or channel id; 0 for the platform).';
COMMENT ON COLUMN split_lines.amount_minor IS 'Amount, minor units: positive for a payment, negative for a refund''s reversal.';
COMMENT ON COLUMN split_lines.currency IS 'ISO 4217 numeric.';

CREATE TABLE refunds (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    refund_id bigint NOT NULL,
    refund_request_id bigint NOT NULL,
    order_id bigint NOT NULL,
    merchant_id integer NOT NULL,
    amount_minor bigint NOT NULL,
    currency integer NOT NULL,
    ack_status text NOT NULL,
    reject_reason text NOT NULL,
    risk_action text NOT NULL,
    risk_rule_id integer NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX refunds_day_idx ON refunds (day);
CREATE INDEX refunds_merchant_id_day_idx ON refunds (merchant_id, day);
CREATE INDEX refunds_order_id_idx ON refunds (order_id);
COMMENT ON COLUMN refunds.seq IS 'Journal sequence of the RefundRequest.';
COMMENT ON COLUMN refunds.ordinal IS 'Position among the refunds that input produced (always 0 today).';
COMMENT ON COLUMN refunds.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN refunds.day IS 'Its day.';
COMMENT ON COLUMN refunds.refund_id IS 'Sluice''s refund id (0 when rejected).';
COMMENT ON COLUMN refunds.refund_request_id IS 'The acquirer''s refund request id.';
COMMENT ON COLUMN refunds.order_id IS 'The refunded order.';
COMMENT ON COLUMN refunds.merchant_id IS 'The order''s merchant.';
COMMENT ON COLUMN refunds.amount_minor IS 'Amount asked, minor units.';
COMMENT ON COLUMN refunds.currency IS 'ISO 4217 numeric.';
COMMENT ON COLUMN refunds.ack_status IS '`Accepted` or `Rejected`.';
COMMENT ON COLUMN refunds.reject_reason IS 'ReasonCode name of a rejection (`None` when accepted).';
COMMENT ON COLUMN refunds.risk_action IS 'RiskAction name.';
COMMENT ON COLUMN refunds.risk_rule_id IS 'The risk rule that decided (0 = none).';

CREATE TABLE refund_results (
    refund_id bigint NOT NULL,
    seq bigint NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    order_id bigint NOT NULL,
    merchant_id integer NOT NULL,
    channel_id integer NOT NULL,
    status text NOT NULL,
    reason text NOT NULL,
    amount_minor bigint NOT NULL,
    currency integer NOT NULL,
    PRIMARY KEY (refund_id)
);
CREATE INDEX refund_results_day_idx ON refund_results (day);
CREATE INDEX refund_results_merchant_id_day_idx ON refund_results (merchant_id, day);
CREATE INDEX refund_results_channel_id_day_idx ON refund_results (channel_id, day);
CREATE INDEX refund_results_order_id_idx ON refund_results (order_id);
COMMENT ON COLUMN refund_results.refund_id IS 'The refund.';
COMMENT ON COLUMN refund_results.seq IS 'Journal sequence of the input that made it final.';
COMMENT ON COLUMN refund_results.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN refund_results.day IS 'Its day.';
COMMENT ON COLUMN refund_results.order_id IS 'The order.';
COMMENT ON COLUMN refund_results.merchant_id IS 'The order''s merchant.';
COMMENT ON COLUMN refund_results.channel_id IS 'The channel that refunded.';
COMMENT ON COLUMN refund_results.status IS '`Succeeded` or `Failed`.';
COMMENT ON COLUMN refund_results.reason IS 'ReasonCode name (`None` when succeeded).';
COMMENT ON COLUMN refund_results.amount_minor IS 'Amount, minor units.';
COMMENT ON COLUMN refund_results.currency IS 'ISO 4217 numeric.';

CREATE TABLE reversals (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    order_id bigint NOT NULL,
    attempt integer NOT NULL,
    channel_id integer NOT NULL,
    amount_minor bigint NOT NULL,
    currency integer NOT NULL,
    state text NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX reversals_day_idx ON reversals (day);
CREATE INDEX reversals_channel_id_day_idx ON reversals (channel_id, day);
CREATE INDEX reversals_order_id_idx ON reversals (order_id);
COMMENT ON COLUMN reversals.seq IS 'Journal sequence of the input.';
COMMENT ON COLUMN reversals.ordinal IS 'Position among the reversals that input produced.';
COMMENT ON COLUMN reversals.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN reversals.day IS 'Its day.';
COMMENT ON COLUMN reversals.order_id IS 'The order.';
COMMENT ON COLUMN reversals.attempt IS 'The attempt that captured.';
COMMENT ON COLUMN reversals.channel_id IS 'Its channel.';
COMMENT ON COLUMN reversals.amount_minor IS 'Amount, minor units.';
COMMENT ON COLUMN reversals.currency IS 'ISO 4217 numeric.';
COMMENT ON COLUMN reversals.state IS 'ReversalState name.';
COMMENT ON COLUMN reversals.reason IS 'ReasonCode name.';

CREATE TABLE withdrawals (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    withdrawal_id bigint NOT NULL,
    withdraw_request_id bigint NOT NULL,
    merchant_id integer NOT NULL,
    amount_minor bigint NOT NULL,
    currency integer NOT NULL,
    status text NOT NULL,
    reason text NOT NULL,
    available_after_minor bigint NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX withdrawals_day_idx ON withdrawals (day);
CREATE INDEX withdrawals_merchant_id_day_idx ON withdrawals (merchant_id, day);
COMMENT ON COLUMN withdrawals.seq IS 'Journal sequence of the WithdrawRequest.';
COMMENT ON COLUMN withdrawals.ordinal IS 'Position among the withdrawals that input produced.';
COMMENT ON COLUMN withdrawals.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN withdrawals.day IS 'Its day.';
COMMENT ON COLUMN withdrawals.withdrawal_id IS 'Sluice''s withdrawal id (0 when refused).';
COMMENT ON COLUMN withdrawals.withdraw_request_id IS 'The acquirer''s request id.';
COMMENT ON COLUMN withdrawals.merchant_id IS 'The merchant.';
COMMENT ON COLUMN withdrawals.amount_minor IS 'Amount, minor units.';
COMMENT ON COLUMN withdrawals.currency IS 'ISO 4217 numeric.';
COMMENT ON COLUMN withdrawals.status IS '`Succeeded` or `Failed`.';
COMMENT ON COLUMN withdrawals.reason IS 'ReasonCode name (`None` when succeeded).';
COMMENT ON COLUMN withdrawals.available_after_minor IS 'The merchant''s available balance right after, minor units.';

CREATE TABLE ledger_transfers (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    phase text NOT NULL,
    debit_kind text NOT NULL,
    debit_owner integer NOT NULL,
    debit_role text NOT NULL,
    credit_kind text NOT NULL,
    credit_owner integer NOT NULL,
    credit_role text NOT NULL,
    amount_minor bigint NOT NULL,
    currency integer NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX ledger_transfers_day_idx ON ledger_transfers (day);
COMMENT ON COLUMN ledger_transfers.seq IS 'Journal sequence of the input.';
COMMENT ON COLUMN ledger_transfers.ordinal IS 'Position among the transfers that input made.';
COMMENT ON COLUMN ledger_transfers.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN ledger_transfers.day IS 'Its day.';
COMMENT ON COLUMN ledger_transfers.phase IS '`post` (at once), `reserve` (pending), `post_reserved` or `void_reserved`.';
COMMENT ON COLUMN ledger_transfers.debit_kind IS 'Debited account kind.';
COMMENT ON COLUMN ledger_transfers.debit_owner IS 'Debited account owner (0 for platform accounts).';
COMMENT ON COLUMN ledger_transfers.debit_role IS 'Debited party''s role (`Merchant`, `Promoter`, `Platform`; empty for other accounts).';
COMMENT ON COLUMN ledger_transfers.credit_kind IS 'Credited account kind.';
COMMENT ON COLUMN ledger_transfers.credit_owner IS 'Credited account owner.';
COMMENT ON COLUMN ledger_transfers.credit_role IS 'Credited party''s role (empty for non-party accounts).';
COMMENT ON COLUMN ledger_transfers.amount_minor IS 'Amount, minor units (> 0).';
COMMENT ON COLUMN ledger_transfers.currency IS 'ISO 4217 numeric.';

CREATE TABLE settlements (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    party_id integer NOT NULL,
    role text NOT NULL,
    kind text NOT NULL,
    amount_minor bigint NOT NULL,
    currency integer NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX settlements_day_idx ON settlements (day);
CREATE INDEX settlements_party_id_day_idx ON settlements (party_id, day);
COMMENT ON COLUMN settlements.seq IS 'Journal sequence of the Pulse.';
COMMENT ON COLUMN settlements.ordinal IS 'Position among the settlement movements that input made.';
COMMENT ON COLUMN settlements.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN settlements.day IS 'Its day.';
COMMENT ON COLUMN settlements.party_id IS 'The party.';
COMMENT ON COLUMN settlements.role IS 'The party''s role (`Merchant`, `Promoter`, `Platform`).';
COMMENT ON COLUMN settlements.kind IS '`settled`, `frozen` or `released`.';
COMMENT ON COLUMN settlements.amount_minor IS 'Amount, minor units.';
COMMENT ON COLUMN settlements.currency IS 'ISO 4217 numeric.';

CREATE TABLE risk_hits (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    rule_id integer NOT NULL,
    shadow boolean NOT NULL,
    action text NOT NULL,
    subject text NOT NULL,
    order_id bigint NOT NULL,
    merchant_id integer NOT NULL,
    amount_minor bigint NOT NULL,
    currency integer NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX risk_hits_day_idx ON risk_hits (day);
CREATE INDEX risk_hits_merchant_id_day_idx ON risk_hits (merchant_id, day);
CREATE INDEX risk_hits_order_id_idx ON risk_hits (order_id);
COMMENT ON COLUMN risk_hits.seq IS 'Journal sequence of the request.';
COMMENT ON COLUMN risk_hits.ordinal IS 'Position among the hits that input produced.';
COMMENT ON COLUMN risk_hits.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN risk_hits.day IS 'Its day.';
COMMENT ON COLUMN risk_hits.rule_id IS 'The rule (lists report 1 allow, 2 block).';
COMMENT ON COLUMN risk_hits.shadow IS 'True for a shadow rule (it counts, it decides nothing).';
COMMENT ON COLUMN risk_hits.action IS 'RiskAction name the rule asks for.';
COMMENT ON COLUMN risk_hits.subject IS '`payment` or `refund`.';
COMMENT ON COLUMN risk_hits.order_id IS 'The order (0 when the request made none).';
COMMENT ON COLUMN risk_hits.merchant_id IS 'The merchant.';
COMMENT ON COLUMN risk_hits.amount_minor IS 'Amount of the request, minor units.';
COMMENT ON COLUMN risk_hits.currency IS 'ISO 4217 numeric.';

CREATE TABLE channel_health (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    channel_id integer NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    failure_level_milli bigint NOT NULL,
    success_rate_ppm bigint NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX channel_health_day_idx ON channel_health (day);
CREATE INDEX channel_health_channel_id_day_idx ON channel_health (channel_id, day);
COMMENT ON COLUMN channel_health.seq IS 'Journal sequence of the input that caused it.';
COMMENT ON COLUMN channel_health.ordinal IS 'Position among the health changes that input caused.';
COMMENT ON COLUMN channel_health.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN channel_health.day IS 'Its day.';
COMMENT ON COLUMN channel_health.channel_id IS 'The channel.';
COMMENT ON COLUMN channel_health.from_state IS 'HealthState name before.';
COMMENT ON COLUMN channel_health.to_state IS 'HealthState name now.';
COMMENT ON COLUMN channel_health.failure_level_milli IS 'Failure bucket level when it changed (x1000).';
COMMENT ON COLUMN channel_health.success_rate_ppm IS 'Recent success rate, parts per million.';
