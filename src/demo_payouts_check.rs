//! The payout scenario's checks (src/demo_payouts.rs): each one a sentence when it fails.
//! Settlement days are checked against the scenario's own model of the calendar and the
//! schedules (`demo_payouts_calendar`), outcomes against what the acquirers were told and the
//! payout channel's book, and the book against the engine's payout counters.

use std::collections::BTreeSet;

use sluice_gateway::sim_payout::Path;
use sluice_protocol::*;

use crate::demo_payouts::{DAYS, PARTIES, Terms, calendar, first_day};
use crate::demo_payouts_calendar::label;
use crate::demo_payouts_drive::{Asked, Driven};

/// Every failed check; empty when the scenario passed.
pub fn check(d: &Driven) -> Vec<String> {
    let mut out = Vec::new();
    if !d.stats.ledger_balanced {
        out.push("the ledger does not balance".into());
    }
    for t in &PARTIES {
        settlement_days(d, t, &mut out);
    }
    outcomes(d, &mut out);
    for a in &d.asked {
        asked_ended_as_scripted(d, a, &mut out);
    }
    book_against_engine(d, &mut out);
    releases(d, &mut out);
    out
}

/// The days the party's schedule and the calendar give for the days it earned on (those inside
/// the scenario), or its release's day for a manual one.
pub fn expected_days(d: &Driven, t: &Terms) -> BTreeSet<u32> {
    let cal = calendar();
    let last = first_day() + DAYS;
    let earned = d.earned.get(&(t.kind, t.id)).cloned().unwrap_or_default();
    if t.schedule == PartySchedule::Manual {
        let release = d.released.get(&(t.kind, t.id));
        return release
            .filter(|(_, through)| earned.iter().any(|e| e <= through))
            .map(|(day, _)| *day)
            .into_iter()
            .collect();
    }
    let n = u32::from(t.settlement_days);
    earned
        .iter()
        .filter_map(|&e| cal.due_day(t.schedule, t.anchor, n, e))
        .filter(|&due| due <= last)
        .collect()
}

fn settlement_days(d: &Driven, t: &Terms, out: &mut Vec<String>) {
    let expected = expected_days(d, t);
    let seen: BTreeSet<u32> = d
        .settled
        .iter()
        .filter(|s| (s.kind, s.id) == (t.kind, t.id))
        .map(|s| s.day)
        .collect();
    if expected.is_empty() {
        out.push(format!("{:?} {} was never due to settle", t.kind, t.id));
    }
    if seen != expected {
        let show = |s: &BTreeSet<u32>| s.iter().map(|&day| label(day)).collect::<Vec<_>>();
        out.push(format!(
            "{:?} {} ({}): settled on {:?}, its schedule and the calendar say {:?}",
            t.kind,
            t.id,
            t.schedule.name(),
            show(&seen.difference(&expected).copied().collect()),
            show(&expected.difference(&seen).copied().collect()),
        ));
    }
}

/// Every path at the channel at least once, an automatic payout, a review each way.
fn outcomes(d: &Driven, out: &mut Vec<String>) {
    let paths: BTreeSet<Path> = d.channel.payouts.iter().map(|(_, p, _)| *p).collect();
    for name in Path::NAMES {
        let path = Path::from_name(name).expect("a path's own name");
        if !paths.contains(&path) {
            out.push(format!("no payout took the path {name} at the channel"));
        }
    }
    let automatic = d
        .channel
        .payouts
        .iter()
        .filter(|(_, _, e)| e.party_kind == PartyKind::Merchant && e.party_id == 1002)
        .count();
    if automatic == 0 {
        out.push("merchant 1002 (automatic payouts) was never paid out".into());
    }
    for approve in [true, false] {
        if !d
            .asked
            .iter()
            .any(|a| a.review == Some(approve) && a.state == PayoutState::Review)
        {
            out.push(format!(
                "no payout waited for review and was {}",
                if approve { "approved" } else { "rejected" }
            ));
        }
    }
}

/// Whether the acquirer was told a return of payout `payout_id`.
pub fn returned(d: &Driven, payout_id: u64) -> bool {
    d.withdraw_news
        .iter()
        .any(|m| matches!(m, AnyMessage::WithdrawReturned(r) if r.withdrawal_id == payout_id))
}

/// What the party was told, and what the channel's book says, match the scripted path.
fn asked_ended_as_scripted(d: &Driven, a: &Asked, out: &mut Vec<String>) {
    let who = format!("{} of {:?} {} on {}", a.what, a.kind, a.id, label(a.day));
    if a.payout_id == 0 {
        out.push(format!("{who} was refused: {:?}", a.reason));
        return;
    }
    let expected = match (a.review, a.path) {
        (Some(false), _) => (FinalStatus::Failed, ReasonCode::PayoutRejected),
        (_, Some(Path::Failed)) => (FinalStatus::Failed, ReasonCode::PayoutFailed),
        _ => (FinalStatus::Succeeded, ReasonCode::None),
    };
    if a.kind == PartyKind::Merchant && a.result != Some(expected) {
        out.push(format!("{who}: told {:?}, expected {expected:?}", a.result));
    }
    if a.path == Some(Path::Returned) && !returned(d, a.payout_id) {
        out.push(format!(
            "{who}: the return was never told (WithdrawReturned)"
        ));
    }
    if matches!(a.path, Some(Path::Lost | Path::Unseen)) && a.steps == 0 {
        out.push(format!("{who}: ended before its deadline, without a query"));
    }
    let booked = d
        .channel
        .payouts
        .iter()
        .find(|(id, _, _)| *id == a.payout_id);
    match (booked, a.review) {
        (Some(_), Some(false)) => out.push(format!("{who}: rejected, yet sent to the channel")),
        (Some((_, path, _)), _) if Some(*path) != a.path => out.push(format!(
            "{who}: took {path:?} at the channel, scripted {:?}",
            a.path
        )),
        (None, review) if review != Some(false) => {
            out.push(format!("{who}: the channel never booked it"))
        }
        _ => {}
    }
}

/// The channel's book against the engine's payout counters; nothing left unresolved.
fn book_against_engine(d: &Driven, out: &mut Vec<String>) {
    let s = &d.channel.summary;
    let paid: u64 = s.channels.values().map(|f| f.paid_count).sum();
    let failed: u64 = s.channels.values().map(|f| f.failed_count).sum();
    let returned: u64 = s.channels.values().map(|f| f.returned_count).sum();
    let rejected = d.asked.iter().filter(|a| a.review == Some(false)).count() as u64;
    let e = &d.stats;
    let pairs = [
        ("paid", paid, e.payouts_paid),
        ("failed or rejected", failed + rejected, e.payouts_failed),
        ("returned", returned, e.payouts_returned),
    ];
    for (what, book, engine) in pairs {
        if book != engine {
            out.push(format!(
                "payouts {what}: the channel's book says {book}, the engine {engine}"
            ));
        }
    }
    if e.payouts_in_flight != 0 || s.processing != 0 || s.unseen != 0 || s.returns_planned != 0 {
        out.push(format!(
            "unresolved at the end: {} in flight at the engine, {} processing, {} unseen, {} returns due at the channel",
            e.payouts_in_flight, s.processing, s.unseen, s.returns_planned
        ));
    }
    if !s.paid_twice.is_empty() {
        out.push(format!("payouts paid twice: {:?}", s.paid_twice));
    }
}

/// The deposit of 1001 (7 days) and the rolling reserve of 1002 (10 days) were released inside
/// the month: their held balance fell one morning (BalanceEntry's frozen holds the reserve too).
fn releases(d: &Driven, out: &mut Vec<String>) {
    for (merchant, what) in [(1001, "deposit"), (1002, "rolling reserve")] {
        let frozen: Vec<i64> = d
            .mornings
            .get(&(PartyKind::Merchant, merchant))
            .map(|m| m.iter().map(|b| b.frozen_minor).collect())
            .unwrap_or_default();
        if !frozen.windows(2).any(|w| w[1] < w[0]) {
            out.push(format!("merchant {merchant}'s {what} was never released"));
        }
    }
}
