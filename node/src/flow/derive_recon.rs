//! The rows of the reconciliation inputs (docs/RECONCILIATION.md, section 6): a ChannelSettlement
//! or a Discrepancy the engine accepted is one row. Acceptance is read from the engine right
//! after the input (the batch's or the entry's sequence is this input's), not from its ConfigAck,
//! which an input journaled without a session does not get.

use sluice_protocol::{AnyMessage, ChannelSettlement, Discrepancy, DiscrepancyOp};

use super::derive::{Input, id};
use super::rows::{ChannelSettlementRow, Day, DiscrepancyRow, Rows};

/// Appends the row of an accepted ChannelSettlement or Discrepancy, if the input is one.
pub(super) fn recon_rows(input: &Input<'_>, rows: &mut Rows) {
    match input.message {
        Some(AnyMessage::ChannelSettlement(m)) => settlement(input, m, rows),
        Some(AnyMessage::Discrepancy(m)) => discrepancy(input, m, rows),
        _ => {}
    }
}

fn settlement(input: &Input<'_>, m: &ChannelSettlement, rows: &mut Rows) {
    let state = input.engine.state();
    let accepted = state
        .channel_settlements
        .get(m.channel_id, m.currency)
        .is_some_and(|a| id(a.last_seq) == input.seq);
    if !accepted {
        return;
    }
    rows.channel_settlements.push(ChannelSettlementRow {
        seq: input.seq,
        at_ns: input.at_ns,
        day: input.day,
        channel_id: i32::from(m.channel_id),
        currency: i32::from(m.currency),
        batch_id: id(m.batch_id),
        batch_ref: m.batch_ref.to_string(),
        paid_minor: m.paid_minor,
        fee_difference_minor: m.fee_difference_minor,
        first_day: Day(m.first_day as i32),
        last_day: Day(m.last_day as i32),
    });
}

fn discrepancy(input: &Input<'_>, m: &Discrepancy, rows: &mut Rows) {
    let Some(e) = input.engine.state().discrepancies.get(m.discrepancy_id) else {
        return;
    };
    let accepted = match m.op {
        DiscrepancyOp::Open => id(e.opened_seq) == input.seq,
        DiscrepancyOp::Resolve => id(e.resolved_seq) == input.seq,
    };
    if !accepted {
        return;
    }
    rows.discrepancies.push(DiscrepancyRow {
        seq: input.seq,
        at_ns: input.at_ns,
        day: input.day,
        op: m.op.name().into(),
        discrepancy_id: id(e.id),
        channel_id: i32::from(e.channel_id),
        class: e.class.name().into(),
        currency: i32::from(e.currency),
        order_id: id(e.order_id),
        attempt: i32::from(e.attempt),
        refund_id: id(e.refund_id),
        amount_minor: e.amount_minor,
        write_off_minor: e.write_off_minor,
        bill_day: Day(e.bill_day as i32),
        note: m.note.to_string(),
    });
}
