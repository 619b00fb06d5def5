-- Risk analytics (issue 23, schema 8; docs/STORE.md section 6): the verdict's learned risk score
-- on orders, and the tables of labels, disputes and the review queue
-- (node/src/flow/rows_risk.rs). Orders exported before this migration had no score: 0.

ALTER TABLE orders ADD COLUMN risk_score integer NOT NULL DEFAULT 0;
ALTER TABLE orders ALTER COLUMN risk_score DROP DEFAULT;
COMMENT ON COLUMN orders.risk_score IS 'The verdict''s learned risk score, 0–100 (0 without a model, and before schema 8).';

CREATE TABLE risk_labels (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    order_id bigint NOT NULL,
    merchant_id integer NOT NULL,
    kind text NOT NULL,
    source text NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX risk_labels_day_idx ON risk_labels (day);
CREATE INDEX risk_labels_merchant_id_day_idx ON risk_labels (merchant_id, day);
CREATE INDEX risk_labels_order_id_idx ON risk_labels (order_id);
COMMENT ON COLUMN risk_labels.seq IS 'Journal sequence of the input that labelled the order.';
COMMENT ON COLUMN risk_labels.ordinal IS 'Position among the labels that input gave.';
COMMENT ON COLUMN risk_labels.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN risk_labels.day IS 'Its day.';
COMMENT ON COLUMN risk_labels.order_id IS 'The labelled order.';
COMMENT ON COLUMN risk_labels.merchant_id IS 'The order''s merchant (0 when the engine no longer knew it).';
COMMENT ON COLUMN risk_labels.kind IS 'LabelKind name: `Fraud`, `FalsePositive` or `Legitimate`.';
COMMENT ON COLUMN risk_labels.source IS 'LabelSource name: `Analyst`, `IssuerReport`, `Customer`, `Review` or `Chargeback`.';

CREATE TABLE disputes (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    dispute_id bigint NOT NULL,
    channel_id integer NOT NULL,
    order_id bigint NOT NULL,
    merchant_id integer NOT NULL,
    stage text NOT NULL,
    reason text NOT NULL,
    amount_minor bigint NOT NULL,
    fee_minor bigint NOT NULL,
    currency integer NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX disputes_day_idx ON disputes (day);
CREATE INDEX disputes_merchant_id_day_idx ON disputes (merchant_id, day);
CREATE INDEX disputes_channel_id_day_idx ON disputes (channel_id, day);
CREATE INDEX disputes_order_id_idx ON disputes (order_id);
COMMENT ON COLUMN disputes.seq IS 'Journal sequence of the DisputeNotice.';
COMMENT ON COLUMN disputes.ordinal IS 'Position among the dispute changes that input made.';
COMMENT ON COLUMN disputes.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN disputes.day IS 'Its day.';
COMMENT ON COLUMN disputes.dispute_id IS 'The channel''s dispute id (with `channel_id`, what names the dispute).';
COMMENT ON COLUMN disputes.channel_id IS 'The channel that disputed the payment.';
COMMENT ON COLUMN disputes.order_id IS 'The disputed order.';
COMMENT ON COLUMN disputes.merchant_id IS 'The order''s merchant.';
COMMENT ON COLUMN disputes.stage IS 'DisputeStage name after the change: `Opened`, `Won` or `Lost`.';
COMMENT ON COLUMN disputes.reason IS 'DisputeReason name (`Fraud`, `NotReceived`, `NotAsDescribed`, `Duplicate`, `Other`).';
COMMENT ON COLUMN disputes.amount_minor IS 'The disputed amount, minor units.';
COMMENT ON COLUMN disputes.fee_minor IS 'The channel''s dispute fee, minor units.';
COMMENT ON COLUMN disputes.currency IS 'ISO 4217 numeric.';

CREATE TABLE reviews (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    order_id bigint NOT NULL,
    merchant_id integer NOT NULL,
    state text NOT NULL,
    rule_id integer NOT NULL,
    risk_score integer NOT NULL,
    amount_minor bigint NOT NULL,
    currency integer NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX reviews_day_idx ON reviews (day);
CREATE INDEX reviews_merchant_id_day_idx ON reviews (merchant_id, day);
CREATE INDEX reviews_order_id_idx ON reviews (order_id);
COMMENT ON COLUMN reviews.seq IS 'Journal sequence of the PaymentRequest (queued) or the ReviewDecision.';
COMMENT ON COLUMN reviews.ordinal IS 'Position among the review changes that input made.';
COMMENT ON COLUMN reviews.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN reviews.day IS 'Its day.';
COMMENT ON COLUMN reviews.order_id IS 'The order in review.';
COMMENT ON COLUMN reviews.merchant_id IS 'The order''s merchant.';
COMMENT ON COLUMN reviews.state IS '`Queued`, or the ReviewAction name of the decision: `Approve` or `RefundAndBlock`.';
COMMENT ON COLUMN reviews.rule_id IS 'The risk rule that sent it to review.';
COMMENT ON COLUMN reviews.risk_score IS 'The verdict''s risk score, 0–100 (0 without a model).';
COMMENT ON COLUMN reviews.amount_minor IS 'The payment''s amount, minor units.';
COMMENT ON COLUMN reviews.currency IS 'ISO 4217 numeric.';
