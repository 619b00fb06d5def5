-- The financial extension (issue 24, schema 9; docs/STORE.md section 7, docs/FINANCE.md): a row
-- per movement of a balance-yield holding, an installment plan or a merchant loan, from the
-- engine's finance recorder (node/src/flow/rows_finance.rs).

CREATE TABLE finance_events (
    seq bigint NOT NULL,
    ordinal integer NOT NULL,
    at_ns bigint NOT NULL,
    day date NOT NULL,
    product text NOT NULL,
    kind text NOT NULL,
    party_kind text NOT NULL,
    party_id integer NOT NULL,
    reference bigint NOT NULL,
    installment integer NOT NULL,
    currency integer NOT NULL,
    amount_minor bigint NOT NULL,
    position_minor bigint NOT NULL,
    accrued_minor bigint NOT NULL,
    business_day date NOT NULL,
    PRIMARY KEY (seq, ordinal)
);
CREATE INDEX finance_events_day_idx ON finance_events (day);
CREATE INDEX finance_events_party_id_day_idx ON finance_events (party_id, day);
COMMENT ON COLUMN finance_events.seq IS 'Journal sequence of the input that moved it (an admin input, a payment, a pulse).';
COMMENT ON COLUMN finance_events.ordinal IS 'Position among the movements that input made.';
COMMENT ON COLUMN finance_events.at_ns IS 'Event time, ns.';
COMMENT ON COLUMN finance_events.day IS 'The input''s day.';
COMMENT ON COLUMN finance_events.product IS 'FinanceProduct name: `Yield`, `Installment` or `Loan`.';
COMMENT ON COLUMN finance_events.kind IS 'FinanceEventKind name (`Swept`, `YieldAccrued`, `PlanOpened`, `InstallmentScheduled`, `LoanRepaid`, …).';
COMMENT ON COLUMN finance_events.party_kind IS '`Merchant` or `Promoter`; `None` (party 0) for the product itself, as a yield day''s rounding residual.';
COMMENT ON COLUMN finance_events.party_id IS 'The merchant or promoter (0: the product itself).';
COMMENT ON COLUMN finance_events.reference IS 'The plan (its order id) or the loan; 0 for a yield holding.';
COMMENT ON COLUMN finance_events.installment IS 'The installment''s number (1-based), else 0.';
COMMENT ON COLUMN finance_events.currency IS 'ISO 4217 numeric.';
COMMENT ON COLUMN finance_events.amount_minor IS 'What moved, as the kind says, minor units.';
COMMENT ON COLUMN finance_events.position_minor IS 'The position after: the holding, the plan''s or the loan''s outstanding, minor units.';
COMMENT ON COLUMN finance_events.accrued_minor IS 'Accrued after: the holding''s yield, the plan''s interest and fees, the loan''s interest.';
COMMENT ON COLUMN finance_events.business_day IS 'The business day the movement belongs to; a scheduled installment''s due day.';
