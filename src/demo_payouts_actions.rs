//! The payout scenario's actions, day by day (src/demo_payouts.rs): merchant withdrawals with
//! each outcome of the payout channel, two in review, a promoter's payout on an admin's request,
//! the platform's sweep, and a manual party's release. Each payout's outcome at the channel is
//! scripted for its party just before the request that causes it.

use std::time::Duration;

use sluice_gateway::sim_payout::Path;
use sluice_protocol::*;

use crate::demo_payouts::{CNY, REVIEW_ABOVE_MINOR};
use crate::demo_payouts_calendar::day_of;
use crate::demo_payouts_drive::{Asked, Driver};

const NS_PER_MIN: u64 = 60_000_000_000;

/// What scenario day `i` (0 = 1 November) does after its payments.
pub fn act(d: &mut Driver<'_>, i: u32) -> Result<(), String> {
    let big = REVIEW_ABOVE_MINOR + 500_000;
    match i + 1 {
        3 => withdraw(d, i, 1001, 100_000, Path::Paid, None),
        4 => withdraw(d, i, 1001, 100_000, Path::Lost, None),
        5 => withdraw(d, i, 1001, 100_000, Path::Processing, None),
        6 => withdraw(d, i, 1001, 100_000, Path::Failed, None),
        9 => withdraw(d, i, 1001, 100_000, Path::Returned, None),
        12 => admin_payout(d, i, PartyKind::Promoter, 501, 50_000, Path::Unseen),
        13 => admin_payout(d, i, PartyKind::Platform, 0, 100_000, Path::Paid),
        20 => {
            // A holiday: the manual merchant's income through Sunday the 15th is released.
            d.release(PartyKind::Merchant, 2001, i, day_of(2026, 11, 15))?;
            withdraw(d, i, 2001, 150_000, Path::Paid, None)
        }
        24 => withdraw(d, i, 1001, big, Path::Paid, Some(false)),
        25 => withdraw(d, i, 1001, big, Path::Paid, Some(true)),
        _ => Ok(()),
    }
}

/// The step and the most steps of the clock a payout on `path` may need to end: a minute past
/// its deadline, or past the channel's processing time.
fn steps_for(path: Path) -> (u64, u32) {
    match path {
        Path::Processing => (15 * NS_PER_MIN, 16),
        _ => (NS_PER_MIN, 10),
    }
}

/// A merchant withdrawal through its acquirer; with `review`, an amount above the review limit
/// that the admin approves (true) or rejects (false).
fn withdraw(
    d: &mut Driver<'_>,
    i: u32,
    merchant: u32,
    amount_minor: i64,
    path: Path,
    review: Option<bool>,
) -> Result<(), String> {
    if review != Some(false) {
        d.script(PartyKind::Merchant, merchant, path)?;
    }
    let id = d.request_id();
    let acquirer = usize::from(merchant == 2001);
    let request = WithdrawRequest {
        withdraw_request_id: id,
        merchant_id: merchant,
        currency: CNY,
        amount_minor,
    };
    d.send_acquirer(acquirer, &request)?;
    let ack = d
        .wait(acquirer, Duration::from_secs(30), |m| match m {
            AnyMessage::WithdrawAck(a) if a.withdraw_request_id == id => Some(a.clone()),
            _ => None,
        })?
        .ok_or_else(|| format!("withdrawal {id} had no WithdrawAck"))?;
    let mut asked = Asked {
        what: if review.is_some() {
            "withdrawal (review)"
        } else {
            "withdrawal"
        },
        kind: PartyKind::Merchant,
        id: merchant,
        day: Driver::day(i),
        amount_minor,
        payout_id: ack.withdrawal_id,
        state: ack.state,
        reason: ack.reason,
        path: (review != Some(false)).then_some(path),
        review,
        result: None,
        steps: 0,
    };
    if ack.status == AckStatus::Accepted {
        if let Some(approve) = review.filter(|_| ack.state == PayoutState::Review) {
            let payout_id = ack.withdrawal_id;
            d.admin_input(&PayoutReview { payout_id, approve }.into())?;
        }
        let (result, steps) = wait_result(d, acquirer, id, steps_for(path))?;
        asked.result = Some(result);
        asked.steps = steps;
    }
    d.record(asked);
    Ok(())
}

/// Waits for withdrawal `id`'s WithdrawResult, stepping the clock when it does not come at once.
fn wait_result(
    d: &mut Driver<'_>,
    acquirer: usize,
    id: u64,
    (step_ns, steps_max): (u64, u32),
) -> Result<((FinalStatus, ReasonCode), u32), String> {
    for step in 0..=steps_max {
        let found = d.wait(acquirer, Duration::from_millis(150), |m| match m {
            AnyMessage::WithdrawResult(r) if r.withdraw_request_id == id => {
                Some((r.status, r.reason))
            }
            _ => None,
        })?;
        if let Some(result) = found {
            return Ok((result, step));
        }
        d.advance(d.now_ns() + step_ns);
    }
    Err(format!(
        "withdrawal {id}: no WithdrawResult after {steps_max} steps of the clock"
    ))
}

/// A promoter's or the platform's payout on an admin's request.
fn admin_payout(
    d: &mut Driver<'_>,
    i: u32,
    kind: PartyKind,
    party_id: u32,
    amount_minor: i64,
    path: Path,
) -> Result<(), String> {
    d.script(kind, party_id, path)?;
    let request = PayoutRequest {
        payout_request_id: d.request_id(),
        party_kind: kind,
        party_id,
        currency: CNY,
        amount_minor,
    };
    let ack = d.payout_request(request)?;
    let steps = match ack.status {
        AckStatus::Accepted => d.settle_payouts(steps_for(path).1)?,
        _ => 0,
    };
    d.record(Asked {
        what: match kind {
            PartyKind::Platform => "platform sweep",
            _ => "promoter payout",
        },
        kind,
        id: party_id,
        day: Driver::day(i),
        amount_minor,
        payout_id: ack.payout_id,
        state: ack.state,
        reason: ack.reason,
        path: Some(path),
        review: None,
        result: None,
        steps,
    });
    Ok(())
}
