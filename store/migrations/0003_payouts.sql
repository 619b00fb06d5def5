-- Payouts (docs/PAYOUTS.md, section 4; schema 7): a row per payout state change
-- (node/src/flow/rows_payouts.rs), and the withdrawals table's rows for each answer about a
-- withdrawal (WithdrawAck, WithdrawResult, WithdrawReturned) with the payout channel's fee.
-- Rows exported before this migration were the immediate WithdrawResult of a withdrawal paid at
-- once, with no fee: those are their values.

COMMENT ON COLUMN settlements.kind IS '`settled`, `frozen`, `released`, `reserved` or `reserve_released`.';

ALTER TABLE withdrawals ADD COLUMN message text NOT NULL DEFAULT 'WithdrawResult';
ALTER TABLE withdrawals ALTER COLUMN message DROP DEFAULT;
ALTER TABLE withdrawals ADD COLUMN fee_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE withdrawals ALTER COLUMN fee_minor DROP DEFAULT;
COMMENT ON COLUMN withdrawals.seq IS 'Journal sequence of the input answered: the WithdrawRequest (ack), the input that ended the payout (result) or reported its return.';
COMMENT ON COLUMN withdrawals.status IS '`Accepted` or `Rejected` (WithdrawAck), `Succeeded` or `Failed` (WithdrawResult), `Returned` (WithdrawReturned).';
COMMENT ON COLUMN withdrawals.reason IS 'ReasonCode name (`None` unless refused or failed).';
COMMENT ON COLUMN withdrawals.message IS '`WithdrawAck`, `WithdrawResult` or `WithdrawReturned` (rows exported before schema 7: `WithdrawResult`).';
COMMENT ON COLUMN withdrawals.fee_minor IS 'The payout channel''s fee, borne by the merchant, minor units (0 when refused, on a return, and before schema 7).';

CREATE TABLE payouts (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    payout_id bigint NOT NULL,
    party_kind text NOT NULL,
    party_id integer NOT NULL,
    currency integer NOT NULL,
    amount_minor bigint NOT NULL,
    fee_minor bigint NOT NULL,
    state text NOT NULL,
    reason text NOT NULL,
    channel_id integer NOT NULL,
    channel_code integer NOT NULL,
    withdraw_request_id bigint NOT NULL,
    automatic boolean NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX payouts_day_idx ON payouts (day);
CREATE INDEX payouts_party_id_day_idx ON payouts (party_id, day);
CREATE INDEX payouts_channel_id_day_idx ON payouts (channel_id, day);
COMMENT ON COLUMN payouts.seq IS 'Journal sequence of the input that changed the payout.';
COMMENT ON COLUMN payouts.ordinal IS 'Position among the payout changes that input made.';
COMMENT ON COLUMN payouts.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN payouts.day IS 'Its day.';
COMMENT ON COLUMN payouts.payout_id IS 'Sluice''s payout id (a merchant''s withdrawal_id).';
COMMENT ON COLUMN payouts.party_kind IS 'Whose payout: `Merchant`, `Promoter` or `Platform` (PartyKind name).';
COMMENT ON COLUMN payouts.party_id IS 'The party (merchant or promoter id; 0 for the platform).';
COMMENT ON COLUMN payouts.currency IS 'ISO 4217 numeric.';
COMMENT ON COLUMN payouts.amount_minor IS 'Amount paid to the party, minor units (the fee is on top).';
COMMENT ON COLUMN payouts.fee_minor IS 'The payout channel''s fee, borne by the party, minor units.';
COMMENT ON COLUMN payouts.state IS 'PayoutState name after the change: `Review`, `Sent`, `Paid`, `Failed` or `Returned`.';
COMMENT ON COLUMN payouts.reason IS 'ReasonCode name (`None` unless failed).';
COMMENT ON COLUMN payouts.channel_id IS 'The payout channel (0 while in review before a channel was chosen).';
COMMENT ON COLUMN payouts.channel_code IS 'The payout channel''s own result code (0 when none came).';
COMMENT ON COLUMN payouts.withdraw_request_id IS 'The acquirer''s withdraw_request_id of a merchant''s withdrawal (0 otherwise).';
COMMENT ON COLUMN payouts.automatic IS 'True for an automatic payout (the party''s payout_mode Automatic, after a settlement).';
