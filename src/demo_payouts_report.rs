//! The payout scenario's report (src/demo_payouts.rs): each settlement with its schedule and
//! whether it rolled over a weekend or holiday, each payout with its path, the balances per
//! party, and the checks.

use serde_json::json;
use sluice_gateway::sim_payout::Path;
use sluice_gateway::sim_payout_book::{PayoutEntry, code_name};
use sluice_protocol::*;

use crate::demo::money;
use crate::demo_payouts::{DAYS, PARTIES, PayoutsReport, Terms, calendar};
use crate::demo_payouts_calendar::label;
use crate::demo_payouts_check::returned;
use crate::demo_payouts_drive::{Driven, Settled};

fn terms_of(kind: PartyKind, id: u32) -> Option<&'static Terms> {
    PARTIES.iter().find(|t| t.kind == kind && t.id == id)
}

/// Whether a settlement on `s.day` rolled: some income due then would have been due earlier
/// without the calendar (a weekend, holiday or a short month moved it).
fn rolled(d: &Driven, s: &Settled) -> bool {
    let Some(t) = terms_of(s.kind, s.id) else {
        return false;
    };
    let cal = calendar();
    let plain = crate::demo_payouts_calendar::Calendar::default();
    let n = u32::from(t.settlement_days);
    let earned = d.earned.get(&(s.kind, s.id)).cloned().unwrap_or_default();
    earned.iter().any(|&e| {
        cal.due_day(t.schedule, t.anchor, n, e) == Some(s.day)
            && plain.due_day(t.schedule, t.anchor, n, e) != Some(s.day)
    })
}

/// How a payout went, in words.
fn path_words(path: Path, e: &PayoutEntry, returned_told: bool) -> String {
    match (path, e.fate) {
        (_, sluice_gateway::sim_payout_book::Fate::Failed(code)) => {
            format!("sent -> failed ({})", code_name(code))
        }
        (Path::Processing, _) => "sent -> processing -> queried -> paid".into(),
        (Path::Lost, _) => "sent -> no answer -> deadline -> queried -> paid".into(),
        (Path::Unseen, _) => {
            "sent -> not received -> queried: not found -> sent again -> paid".into()
        }
        (Path::Returned, _) => format!(
            "sent -> paid -> returned by the receiving bank{}",
            if returned_told { " (told)" } else { "" }
        ),
        _ => "sent -> paid".into(),
    }
}

fn who(kind: PartyKind, id: u32) -> String {
    match kind {
        PartyKind::Platform => "platform".into(),
        k => format!("{} {id}", k.name().to_lowercase()),
    }
}

impl PayoutsReport {
    pub fn json(&self) -> serde_json::Value {
        let d = &self.driven;
        let settlements: Vec<serde_json::Value> = d
            .settled
            .iter()
            .map(|s| {
                let schedule = terms_of(s.kind, s.id).map_or("", |t| t.schedule.name());
                json!({ "party": who(s.kind, s.id), "schedule": schedule, "day": label(s.day), "amount_minor": s.amount_minor, "rolled": rolled(d, s) })
            })
            .collect();
        let payouts: Vec<serde_json::Value> = d
            .channel
            .payouts
            .iter()
            .map(|(id, path, e)| {
                let asked = d.asked.iter().find(|a| a.payout_id == *id);
                json!({
                    "payout_id": id, "party": who(e.party_kind, e.party_id),
                    "what": asked.map_or("automatic", |a| a.what), "amount_minor": e.amount_minor,
                    "fee_minor": e.fee_minor, "path": path.name(), "review": asked.and_then(|a| a.review),
                    "returned": e.returned_ns != 0, "steps": asked.map_or(0, |a| a.steps),
                    "outcome": path_words(*path, e, returned(d, *id)),
                })
            })
            .collect();
        let rejected: Vec<u64> = d
            .asked
            .iter()
            .filter(|a| a.review == Some(false))
            .map(|a| a.payout_id)
            .collect();
        let paths: serde_json::Map<String, serde_json::Value> = Path::NAMES
            .iter()
            .map(|n| {
                let p = Path::from_name(n).expect("a path's own name");
                let count = d.channel.payouts.iter().filter(|(_, q, _)| *q == p).count();
                (n.to_string(), json!(count))
            })
            .collect();
        let s = &d.stats;
        json!({
            "days": DAYS,
            "payments": d.payments,
            "succeeded": d.succeeded,
            "inputs": self.inputs,
            "wall_seconds": (self.wall_seconds * 1000.0).round() / 1000.0,
            "settlements": settlements,
            "payouts": payouts,
            "rejected_in_review": rejected,
            "paths": paths,
            "parties": self.parties_json(),
            "engine": { "payouts_paid": s.payouts_paid, "payouts_failed": s.payouts_failed, "payouts_returned": s.payouts_returned, "payouts_in_flight": s.payouts_in_flight, "ledger_balanced": s.ledger_balanced },
            "checks_failed": self.failures,
            "passed": self.failures.is_empty(),
            "data_dir": self.data_dir.display().to_string(),
        })
    }

    /// Per party at the end: the engine's balances, and paid out by the channel's book.
    fn party_rows(&self) -> Vec<(String, BalanceEntry, i64, i64)> {
        let d = &self.driven;
        let mut rows = Vec::new();
        for t in &PARTIES {
            let b = d.last.get(&(t.kind, t.id)).copied().unwrap_or_default();
            let mine =
                |e: &&(u64, Path, PayoutEntry)| e.2.party_kind == t.kind && e.2.party_id == t.id;
            let (paid, back) =
                d.channel
                    .payouts
                    .iter()
                    .filter(mine)
                    .fold((0, 0), |(p, r), (_, _, e)| {
                        let paid = if e.paid() { e.amount_minor } else { 0 };
                        let back = if e.returned_ns != 0 {
                            e.amount_minor
                        } else {
                            0
                        };
                        (p + paid, r + back)
                    });
            rows.push((who(t.kind, t.id), b, paid - back, back));
        }
        rows
    }

    fn parties_json(&self) -> serde_json::Value {
        self.party_rows()
            .into_iter()
            .map(|(name, b, paid_out, returned)| {
                (name, json!({ "pending": b.pending_minor, "available": b.available_minor, "frozen": b.frozen_minor, "paid_out": paid_out, "returned": returned }))
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    pub fn print(&self) {
        let d = &self.driven;
        println!();
        println!("== settlement schedules and payouts (scripted clock) =====================");
        println!(
            "{DAYS} days from 2026-11-01 (holidays 16-20 November, make-up working days Saturday 14 and Sunday 22), {} payments ({} succeeded), {} inputs, {:.2} s",
            d.payments, d.succeeded, self.inputs, self.wall_seconds
        );
        println!("settlements (pending -> deposit, reserve, available):");
        for s in &d.settled {
            let schedule = terms_of(s.kind, s.id).map_or("", |t| t.schedule.name());
            let roll = if rolled(d, s) {
                "  rolled over a weekend/holiday"
            } else {
                ""
            };
            println!(
                "  {:<13} {:<13} {}  {:>12}{roll}",
                who(s.kind, s.id),
                schedule,
                label(s.day),
                money(s.amount_minor)
            );
        }
        println!("payouts through the simulated bank-transfer channel:");
        for (id, path, e) in &d.channel.payouts {
            let asked = d.asked.iter().find(|a| a.payout_id == *id);
            let review = match asked.and_then(|a| a.review) {
                Some(true) => "review -> approved -> ",
                _ => "",
            };
            println!(
                "  #{id:<5} {:<13} {:<20} {:>12} fee {:>6}  {review}{}",
                who(e.party_kind, e.party_id),
                asked.map_or("automatic", |a| a.what),
                money(e.amount_minor),
                money(e.fee_minor),
                path_words(*path, e, returned(d, *id))
            );
        }
        for a in d.asked.iter().filter(|a| a.review == Some(false)) {
            println!(
                "  #{:<5} {:<13} {:<20} {:>12}  review -> rejected (money back)",
                a.payout_id,
                who(a.kind, a.id),
                a.what,
                money(a.amount_minor)
            );
        }
        self.print_parties();
    }

    fn print_parties(&self) {
        println!(
            "  {:<13} {:>14} {:>14} {:>12} {:>14} {:>12}",
            "party (CNY)", "pending", "available", "frozen", "paid out", "returned"
        );
        for (name, b, paid_out, back) in self.party_rows() {
            println!(
                "  {name:<13} {:>14} {:>14} {:>12} {:>14} {:>12}",
                money(b.pending_minor),
                money(b.available_minor),
                money(b.frozen_minor),
                money(paid_out),
                money(back)
            );
        }
        let s = &self.driven.stats;
        println!(
            "engine: {} payouts paid, {} failed or rejected, {} returned, {} in flight; ledger balanced: {}",
            s.payouts_paid,
            s.payouts_failed,
            s.payouts_returned,
            s.payouts_in_flight,
            s.ledger_balanced
        );
        match self.failures.is_empty() {
            true => println!(
                "checks: all passed (settlement days, outcomes, the channel's book against the engine)"
            ),
            false => {
                for f in &self.failures {
                    println!("CHECK FAILED: {f}");
                }
            }
        }
        println!("journal    {}", self.data_dir.display());
    }
}
