//! The financial extension's rows (issue 24; docs/STORE.md, section 7), from the engine's finance
//! recorder (`Engine::record_finance_events`): a `finance_events` row per recorded movement, in
//! the engine's order. The recorder, not the outputs: accruals, sweeps and overdue states happen
//! on pulses whose outputs do not say them.

use sluice_engine::finance_events::FinanceEvent;

use super::derive::{Input, id, ordinal};
use super::rows::{Day, FinanceEventRow, Rows};

/// Appends a row per movement the input recorded.
pub(super) fn finance_rows(input: &Input<'_>, rows: &mut Rows) {
    for event in input.engine.finance_events() {
        let ordinal = ordinal(&rows.finance_events, |r| r.seq, input.seq);
        rows.finance_events.push(row(input, ordinal, event));
    }
}

/// The row of one movement.
fn row(input: &Input<'_>, ordinal: i32, e: &FinanceEvent) -> FinanceEventRow {
    let party_kind = match (e.party_id, e.promoter) {
        (0, _) => "None",
        (_, true) => "Promoter",
        (_, false) => "Merchant",
    };
    FinanceEventRow {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        product: e.product.name().into(),
        kind: e.kind.name().into(),
        party_kind: party_kind.into(),
        party_id: e.party_id as i32,
        reference: id(e.reference),
        installment: i32::from(e.index),
        currency: i32::from(e.currency),
        amount_minor: e.amount_minor,
        position_minor: e.position_minor,
        accrued_minor: e.accrued_minor,
        business_day: Day(e.day as i32),
    }
}
