//! `sluice admin yield opt-in|opt-out|publish|redeem|show`: the balance yield (docs/YIELD.md).
//! Opting in or out, a fund's published yield and a redemption are journaled admin inputs
//! answered with ConfigAck; `show` reads a position (or the fund's totals) back through
//! YieldQuery (a YieldPosition).

use clap::{Subcommand, ValueEnum};
use rust_decimal::Decimal;
use serde_json::json;
use sluice_node::world::parse_date;
use sluice_protocol::*;
use std::str::FromStr;

use super::conn::{AdminConn, Answer};
use super::output::Output;

/// Whose position.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    Merchant,
    Promoter,
}

impl Holder {
    fn kind(self) -> PartyKind {
        match self {
            Holder::Merchant => PartyKind::Merchant,
            Holder::Promoter => PartyKind::Promoter,
        }
    }
}

#[derive(Subcommand)]
pub enum YieldCommand {
    /// Opt a party in (or change its terms): its available balance above the kept minimum is
    /// swept into the money-market fund once a day.
    OptIn {
        #[arg(long, value_enum)]
        party: Holder,
        #[arg(long)]
        id: u32,
        /// ISO 4217 numeric (156 = CNY).
        #[arg(long)]
        currency: u16,
        /// What each sweep leaves in available, minor units.
        #[arg(long, default_value_t = 0)]
        keep_minimum: i64,
        /// Most redeemed to available at once per day, minor units (the rest: next working day).
        #[arg(long, default_value_t = 0)]
        instant_limit: i64,
    },
    /// Opt a party out: everything is redeemed (instant up to today's limit, the rest on the next
    /// working day) and the sweeps stop.
    OptOut {
        #[arg(long, value_enum)]
        party: Holder,
        #[arg(long)]
        id: u32,
        #[arg(long)]
        currency: u16,
    },
    /// Enter the fund's published yield for a day: per 10,000 units, e.g. 0.6543.
    Publish {
        #[arg(long)]
        currency: u16,
        /// YYYY-MM-DD, the engine's day (today or earlier).
        #[arg(long, value_parser = date)]
        day: u32,
        /// Yield per 10,000 units, at most 4 decimals.
        #[arg(long = "per-10k", value_parser = per_10k)]
        per_10k_e4: i64,
    },
    /// Redeem a position (or part of it) to the party's available balance.
    Redeem {
        /// The idempotency key: a resend with the same id moves nothing again.
        #[arg(long)]
        request_id: u64,
        #[arg(long, value_enum)]
        party: Holder,
        #[arg(long)]
        id: u32,
        #[arg(long)]
        currency: u16,
        /// Minor units; 0 = the whole position.
        #[arg(long, default_value_t = 0)]
        amount: i64,
    },
    /// A party's position, or (without --party/--id) the fund's totals in a currency.
    Show {
        #[arg(long, value_enum)]
        party: Option<Holder>,
        #[arg(long, default_value_t = 0)]
        id: u32,
        #[arg(long)]
        currency: u16,
    },
}

fn date(text: &str) -> Result<u32, String> {
    parse_date(text).ok_or_else(|| format!("{text:?} is not a date YYYY-MM-DD (1970..=9999)"))
}

/// "0.6543" → 6543: the yield per 10,000 units with 4 decimals, exactly.
pub fn per_10k(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a yield per 10,000 units with at most 4 decimals");
    let d = Decimal::from_str(text.trim()).map_err(|_| bad())?;
    let scaled = d * Decimal::from(10_000);
    if d.is_sign_negative() || scaled.fract() != Decimal::ZERO {
        return Err(bad());
    }
    i64::try_from(scaled).map_err(|_| bad())
}

pub fn run(conn: &mut AdminConn, command: YieldCommand, out: &mut Output) -> Result<(), String> {
    match command {
        YieldCommand::OptIn {
            party,
            id,
            currency,
            keep_minimum,
            instant_limit,
        } => {
            let terms = Some((keep_minimum, instant_limit));
            config(conn, (party, id, currency), terms, out)?;
        }
        YieldCommand::OptOut {
            party,
            id,
            currency,
        } => config(conn, (party, id, currency), None, out)?,
        YieldCommand::Publish {
            currency,
            day,
            per_10k_e4,
        } => {
            let m = FundYield {
                currency,
                day,
                yield_per_10k_e4: per_10k_e4,
            };
            let answer = conn.request(&m.into())?;
            out.change(&format!("fund yield of day {day} ({currency})"), &answer);
        }
        YieldCommand::Redeem {
            request_id,
            party,
            id,
            currency,
            amount,
        } => redeem(conn, (request_id, party, id, currency, amount), out)?,
        YieldCommand::Show {
            party,
            id,
            currency,
        } => {
            let kind = party.map_or(PartyKind::Platform, Holder::kind);
            show(conn, kind, id, currency, out)?;
        }
    }
    Ok(())
}

/// Sends a ConfigYield: opt in with `terms` (kept minimum, instant limit), or opt out (None).
fn config(
    conn: &mut AdminConn,
    (party, id, currency): (Holder, u32, u16),
    terms: Option<(i64, i64)>,
    out: &mut Output,
) -> Result<(), String> {
    let (keep, limit) = terms.unwrap_or((0, 0));
    let m = ConfigYield {
        party_kind: party.kind(),
        party_id: id,
        currency,
        opt_in: terms.is_some(),
        keep_minimum_minor: keep,
        instant_limit_minor: limit,
    };
    let answer = conn.request(&m.into())?;
    let what = if terms.is_some() { "opt-in" } else { "opt-out" };
    out.change(
        &format!("yield {what} of {party:?} {id} ({currency})"),
        &answer,
    );
    Ok(())
}

/// Sends a YieldRedeem, then shows the position after it.
fn redeem(
    conn: &mut AdminConn,
    (request_id, party, id, currency, amount): (u64, Holder, u32, u16, i64),
    out: &mut Output,
) -> Result<(), String> {
    let m = YieldRedeem {
        request_id,
        party_kind: party.kind(),
        party_id: id,
        currency,
        amount_minor: amount,
    };
    let answer = conn.request(&m.into())?;
    let object = format!("yield redemption {request_id} of {party:?} {id} ({currency})");
    out.change(&object, &answer);
    if matches!(answer, Answer::Accepted { .. }) {
        show(conn, party.kind(), id, currency, out)?;
    }
    Ok(())
}

fn show(
    conn: &mut AdminConn,
    kind: PartyKind,
    id: u32,
    currency: u16,
    out: &mut Output,
) -> Result<(), String> {
    let q = YieldQuery {
        party_kind: kind,
        party_id: id,
        currency,
    };
    match conn.request(&q.into())? {
        Answer::Object(m) => match *m {
            AnyMessage::YieldPosition(p) => print_position(&p, out),
            other => return Err(format!("unexpected answer {}", other.name())),
        },
        other => out.missing(&format!("yield position of {id} ({currency})"), &other),
    }
    Ok(())
}

fn print_position(p: &YieldPosition, out: &mut Output) {
    let value = json!({
        "party_kind": p.party_kind.name(),
        "party_id": p.party_id,
        "currency": p.currency,
        "opted_in": p.opted_in,
        "keep_minimum_minor": p.keep_minimum_minor,
        "instant_limit_minor": p.instant_limit_minor,
        "principal_minor": p.principal_minor,
        "accrued_minor": p.accrued_minor,
        "yield_total_minor": p.yield_total_minor,
        "instant_used_today_minor": p.instant_used_today_minor,
        "queued_minor": p.queued_minor,
        "queued_due_day": p.queued_due_day,
        "available_minor": p.available_minor,
        "last_yield_day": p.last_yield_day,
        "last_yield_per_10k_e4": p.last_yield_per_10k_e4,
        "residual_minor": p.residual_minor,
        "holders": p.holders,
    });
    let who = match p.party_id {
        0 => format!("fund totals ({})", p.currency),
        id => format!("{} {id} ({})", p.party_kind.name(), p.currency),
    };
    let text = format!(
        "{who}  opted in {}  keep {}  limit {}/day (used {})  principal {}  accrued {}  \
         yield ever {}  queued {} (day {})  available {}  last yield day {} at {}/10^4 per 10k  \
         residual {}  holders {}",
        p.opted_in,
        p.keep_minimum_minor,
        p.instant_limit_minor,
        p.instant_used_today_minor,
        p.principal_minor,
        p.accrued_minor,
        p.yield_total_minor,
        p.queued_minor,
        p.queued_due_day,
        p.available_minor,
        p.last_yield_day,
        p.last_yield_per_10k_e4,
        p.residual_minor,
        p.holders
    );
    out.record(value, text);
}

#[cfg(test)]
mod tests {
    use super::per_10k;

    #[test]
    fn a_published_yield_parses_exactly_or_not_at_all() {
        assert_eq!(per_10k("0.6543"), Ok(6543));
        assert_eq!(per_10k("1"), Ok(10_000));
        assert_eq!(per_10k(" 0.5 "), Ok(5_000));
        assert!(per_10k("0.65431").is_err());
        assert!(per_10k("-0.1").is_err());
        assert!(per_10k("abc").is_err());
    }
}
