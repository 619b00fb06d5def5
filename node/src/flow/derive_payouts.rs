//! The rows of payouts (docs/PAYOUTS.md, section 4): a `payouts` row per state change the
//! engine's payout recorder saw (`Engine::record_payouts`), and a `withdrawals` row per answer
//! about a merchant's withdrawal: WithdrawAck (accepted or refused), WithdrawResult (the outcome)
//! and WithdrawReturned (a paid one sent back).

use sluice_engine::payout_events::PayoutEvent;
use sluice_protocol::{WithdrawAck, WithdrawResult, WithdrawReturned};

use super::derive::{Input, id, ordinal};
use super::rows::{Payout, Rows, Withdrawal};

/// Appends a `payouts` row per payout state change the input made.
pub(super) fn payout_rows(input: &Input<'_>, rows: &mut Rows) {
    for (ordinal, e) in input.engine.recorded_payouts().iter().enumerate() {
        rows.payouts.push(payout_row(input, ordinal as i32, e));
    }
}

fn payout_row(input: &Input<'_>, ordinal: i32, e: &PayoutEvent) -> Payout {
    Payout {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        payout_id: id(e.payout_id),
        party_kind: e.party_kind.name().into(),
        party_id: e.party_id as i32,
        currency: i32::from(e.currency),
        amount_minor: e.amount_minor,
        fee_minor: e.fee_minor,
        state: e.state.name().into(),
        reason: e.reason.name().into(),
        channel_id: i32::from(e.channel_id),
        channel_code: i32::from(e.channel_code),
        withdraw_request_id: id(e.withdraw_request_id),
        automatic: e.automatic,
    }
}

/// The fee of payout `payout_id` as this input's recorded changes carry it (a WithdrawResult
/// does not): 0 when the recorder is off or saw no change of it.
fn recorded_fee(input: &Input<'_>, payout_id: u64) -> i64 {
    input
        .engine
        .recorded_payouts()
        .iter()
        .rev()
        .find(|e| e.payout_id == payout_id)
        .map_or(0, |e| e.fee_minor)
}

/// The row shared by every answer; `message`, `status`, `reason`, the fee and the balance differ.
fn withdrawal_row(input: &Input<'_>, rows: &Rows, w: Answer<'_>) -> Withdrawal {
    Withdrawal {
        seq: input.seq,
        ordinal: ordinal(&rows.withdrawals, |x| x.seq, input.seq),
        at_ns: input.at_ns,
        day: input.day,
        withdrawal_id: id(w.withdrawal_id),
        withdraw_request_id: id(w.withdraw_request_id),
        merchant_id: w.merchant_id as i32,
        amount_minor: w.amount_minor,
        currency: i32::from(w.currency),
        status: w.status.into(),
        reason: w.reason.into(),
        available_after_minor: w.available_after_minor,
        message: w.message.into(),
        fee_minor: w.fee_minor,
    }
}

/// What a withdrawal answer says, whichever message it is.
struct Answer<'a> {
    message: &'a str,
    withdrawal_id: u64,
    withdraw_request_id: u64,
    merchant_id: u32,
    amount_minor: i64,
    currency: u16,
    status: &'a str,
    reason: &'a str,
    available_after_minor: i64,
    fee_minor: i64,
}

pub(super) fn withdraw_ack(input: &Input<'_>, a: &WithdrawAck, rows: &mut Rows) {
    let row = withdrawal_row(
        input,
        rows,
        Answer {
            message: "WithdrawAck",
            withdrawal_id: a.withdrawal_id,
            withdraw_request_id: a.withdraw_request_id,
            merchant_id: a.merchant_id,
            amount_minor: a.amount_minor,
            currency: a.currency,
            status: a.status.name(),
            reason: a.reason.name(),
            available_after_minor: a.available_after_minor,
            fee_minor: a.fee_minor,
        },
    );
    rows.withdrawals.push(row);
}

pub(super) fn withdraw_result(input: &Input<'_>, w: &WithdrawResult, rows: &mut Rows) {
    let row = withdrawal_row(
        input,
        rows,
        Answer {
            message: "WithdrawResult",
            withdrawal_id: w.withdrawal_id,
            withdraw_request_id: w.withdraw_request_id,
            merchant_id: w.merchant_id,
            amount_minor: w.amount_minor,
            currency: w.currency,
            status: w.status.name(),
            reason: w.reason.name(),
            available_after_minor: w.available_after_minor,
            fee_minor: recorded_fee(input, w.withdrawal_id),
        },
    );
    rows.withdrawals.push(row);
}

pub(super) fn withdraw_returned(input: &Input<'_>, w: &WithdrawReturned, rows: &mut Rows) {
    let row = withdrawal_row(
        input,
        rows,
        Answer {
            message: "WithdrawReturned",
            withdrawal_id: w.withdrawal_id,
            withdraw_request_id: w.withdraw_request_id,
            merchant_id: w.merchant_id,
            amount_minor: w.amount_minor,
            currency: w.currency,
            status: "Returned",
            reason: "None",
            available_after_minor: w.available_after_minor,
            fee_minor: 0,
        },
    );
    rows.withdrawals.push(row);
}
