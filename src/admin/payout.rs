//! `sluice admin payout request|review|list`, `sluice admin calendar set|list` and `sluice admin
//! settlement release`: the operator's hand on payouts, the working-day calendar and Manual
//! schedules (docs/PAYOUTS.md). Every change is a journaled admin input; a PayoutRequest is
//! answered with PayoutAck, the others with ConfigAck.

use clap::{Subcommand, ValueEnum};
use sluice_node::world::parse_date;
use sluice_protocol::*;

use super::conn::{AdminConn, Answer};
use super::output::Output;

/// Whose payout or settlement.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Merchant,
    Promoter,
    Platform,
}

impl Party {
    fn kind(self) -> PayoutParty {
        match self {
            Party::Merchant => PartyKind::Merchant,
            Party::Promoter => PartyKind::Promoter,
            Party::Platform => PartyKind::Platform,
        }
    }
}

#[derive(Subcommand)]
pub enum PayoutCommand {
    /// Pay a promoter, the platform (a sweep of its revenue) or a merchant from its available
    /// balance through its payout channel (the fee comes on top).
    Request {
        /// The idempotency key: a resend with the same id gets the first answer.
        #[arg(long)]
        request_id: u64,
        #[arg(long, value_enum)]
        party: Party,
        /// The merchant or promoter id (0 for the platform).
        #[arg(long, default_value_t = 0)]
        id: u32,
        /// ISO 4217 numeric (156 = CNY).
        #[arg(long)]
        currency: u16,
        /// What the party receives, minor units.
        #[arg(long)]
        amount: i64,
    },
    /// Approve or reject a payout waiting in review.
    Review {
        #[arg(long)]
        payout: u64,
        /// Approve (it is sent to its payout channel).
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        approve: bool,
        /// Reject (its money goes back to the party's available balance).
        #[arg(long)]
        reject: bool,
    },
}

#[derive(Subcommand)]
pub enum CalendarCommand {
    /// Make a date a holiday, a working day (a make-up day on a weekend) or the weekday rule again.
    Set {
        /// YYYY-MM-DD, the engine's day.
        #[arg(long, value_parser = date)]
        day: u32,
        /// holiday, workday or default.
        #[arg(long, value_parser = day_kind)]
        kind: DayKind,
    },
}

#[derive(Subcommand)]
pub enum SettlementReleaseCommand {
    /// Release a Manual-schedule party's income earned through a day.
    Release {
        #[arg(long, value_enum)]
        party: Party,
        #[arg(long)]
        id: u32,
        /// YYYY-MM-DD: the last earning day released.
        #[arg(long, value_parser = date)]
        through: u32,
    },
}

fn date(text: &str) -> Result<u32, String> {
    parse_date(text).ok_or_else(|| format!("{text:?} is not a date YYYY-MM-DD (1970..=9999)"))
}

fn day_kind(name: &str) -> Result<DayKind, String> {
    match name.to_ascii_lowercase().as_str() {
        "holiday" => Ok(DayKind::Holiday),
        "workday" => Ok(DayKind::Workday),
        "default" => Ok(DayKind::Default),
        _ => Err("one of holiday, workday, default".into()),
    }
}

pub fn payout(
    conn: &mut AdminConn,
    command: PayoutCommand,
    out: &mut Output,
) -> Result<(), String> {
    match command {
        PayoutCommand::Request {
            request_id,
            party,
            id,
            currency,
            amount,
        } => {
            let m = PayoutRequest {
                payout_request_id: request_id,
                party_kind: party.kind(),
                party_id: id,
                currency,
                amount_minor: amount,
            };
            let object = format!("payout request {request_id} ({party:?} {id})");
            let answer = match conn.request(&m.into())? {
                Answer::Object(m) => match *m {
                    AnyMessage::PayoutAck(ack) => payout_answer(&ack, out),
                    other => Answer::Object(Box::new(other)),
                },
                other => other,
            };
            out.change(&object, &answer);
        }
        PayoutCommand::Review {
            payout, approve, ..
        } => {
            let m = PayoutReview {
                payout_id: payout,
                approve,
            };
            let verdict = if approve { "approve" } else { "reject" };
            let answer = conn.request(&m.into())?;
            out.change(&format!("payout {payout} ({verdict})"), &answer);
        }
    }
    Ok(())
}

/// A PayoutAck as a change's answer; an accepted payout's id, state and fee are printed first.
fn payout_answer(ack: &PayoutAck, out: &mut Output) -> Answer {
    if ack.status != AckStatus::Accepted {
        let text = format!("payout request {}", ack.payout_request_id);
        return Answer::Refused {
            reason: ack.reason,
            text,
        };
    }
    let value = serde_json::json!({
        "payout_id": ack.payout_id,
        "state": ack.state.name(),
        "fee_minor": ack.fee_minor,
    });
    let text = format!(
        "payout {} is {} (fee {} minor units)",
        ack.payout_id,
        ack.state.name(),
        ack.fee_minor
    );
    out.record(value, text);
    Answer::Accepted {
        sequence: ack.sequence,
    }
}

pub fn calendar(
    conn: &mut AdminConn,
    command: CalendarCommand,
    out: &mut Output,
) -> Result<(), String> {
    let CalendarCommand::Set { day, kind } = command;
    let answer = conn.request(&ConfigCalendarDay { day, kind }.into())?;
    out.change(&format!("calendar day {day} ({})", kind.name()), &answer);
    Ok(())
}

pub fn release(
    conn: &mut AdminConn,
    command: SettlementReleaseCommand,
    out: &mut Output,
) -> Result<(), String> {
    let SettlementReleaseCommand::Release { party, id, through } = command;
    let m = ReleaseSettlement {
        party_kind: party.kind(),
        party_id: id,
        through_day: through,
    };
    let answer = conn.request(&m.into())?;
    out.change(
        &format!("settlement of {party:?} {id} through day {through}"),
        &answer,
    );
    Ok(())
}
