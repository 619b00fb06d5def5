-- Channel settlement and the discrepancy list (docs/RECONCILIATION.md, section 6): the fee a
-- ProRata refund returned, and a row per accepted ChannelSettlement and Discrepancy
-- (node/src/flow/rows.rs, rows_recon.rs). Rows exported before this migration returned no fee:
-- 0 is their value.

ALTER TABLE refund_results ADD COLUMN fee_returned_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE refund_results ALTER COLUMN fee_returned_minor DROP DEFAULT;
COMMENT ON COLUMN refund_results.fee_returned_minor IS 'Channel fee the refund returned, minor units (ProRata channels; else 0).';

CREATE TABLE channel_settlements (
    seq bigint NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    channel_id integer NOT NULL,
    currency integer NOT NULL,
    batch_id bigint NOT NULL,
    batch_ref text NOT NULL,
    paid_minor bigint NOT NULL,
    fee_difference_minor bigint NOT NULL,
    first_day date NOT NULL,
    last_day date NOT NULL,
    PRIMARY KEY (seq)
);
CREATE INDEX channel_settlements_day_idx ON channel_settlements (day);
CREATE INDEX channel_settlements_channel_id_day_idx ON channel_settlements (channel_id, day);
COMMENT ON COLUMN channel_settlements.seq IS 'Journal sequence of the ChannelSettlement.';
COMMENT ON COLUMN channel_settlements.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN channel_settlements.day IS 'Its day.';
COMMENT ON COLUMN channel_settlements.channel_id IS 'The channel that paid.';
COMMENT ON COLUMN channel_settlements.currency IS 'ISO 4217 numeric.';
COMMENT ON COLUMN channel_settlements.batch_id IS 'The batch (a bill day for a Daily channel, a payout id''s hash for a Rolling one).';
COMMENT ON COLUMN channel_settlements.batch_ref IS 'The channel''s name of the batch.';
COMMENT ON COLUMN channel_settlements.paid_minor IS 'What arrived in the platform''s bank, minor units (negative: the platform paid).';
COMMENT ON COLUMN channel_settlements.fee_difference_minor IS 'The channel''s fees beyond what the platform booked, minor units (signed).';
COMMENT ON COLUMN channel_settlements.first_day IS 'The first bill day the batch covers.';
COMMENT ON COLUMN channel_settlements.last_day IS 'The last bill day it covers.';

CREATE TABLE discrepancies (
    seq bigint NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    op text NOT NULL,
    discrepancy_id bigint NOT NULL,
    channel_id integer NOT NULL,
    class text NOT NULL,
    currency integer NOT NULL,
    order_id bigint NOT NULL,
    attempt integer NOT NULL,
    refund_id bigint NOT NULL,
    amount_minor bigint NOT NULL,
    write_off_minor bigint NOT NULL,
    bill_day date NOT NULL,
    note text NOT NULL,
    PRIMARY KEY (seq)
);
CREATE INDEX discrepancies_day_idx ON discrepancies (day);
CREATE INDEX discrepancies_channel_id_day_idx ON discrepancies (channel_id, day);
CREATE INDEX discrepancies_order_id_idx ON discrepancies (order_id);
COMMENT ON COLUMN discrepancies.seq IS 'Journal sequence of the Discrepancy.';
COMMENT ON COLUMN discrepancies.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN discrepancies.day IS 'Its day.';
COMMENT ON COLUMN discrepancies.op IS '`Open` or `Resolve`.';
COMMENT ON COLUMN discrepancies.discrepancy_id IS 'The entry.';
COMMENT ON COLUMN discrepancies.channel_id IS 'The channel.';
COMMENT ON COLUMN discrepancies.class IS 'DiscrepancyClass name.';
COMMENT ON COLUMN discrepancies.currency IS 'ISO 4217 numeric.';
COMMENT ON COLUMN discrepancies.order_id IS 'The order (0 when none).';
COMMENT ON COLUMN discrepancies.attempt IS 'The attempt (0 for a refund).';
COMMENT ON COLUMN discrepancies.refund_id IS 'The refund (0 for a payment).';
COMMENT ON COLUMN discrepancies.amount_minor IS 'Its signed effect on what the channel owes, minor units.';
COMMENT ON COLUMN discrepancies.write_off_minor IS 'Resolve: the part written off the channel''s receivable, minor units (signed).';
COMMENT ON COLUMN discrepancies.bill_day IS 'The bill day it was found on.';
COMMENT ON COLUMN discrepancies.note IS 'Open: the reconciler''s description; Resolve: the resolution note.';
