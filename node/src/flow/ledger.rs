//! The ledger side of derivation: every transfer the input made (recorded by the engine) as a
//! `ledger_transfers` row, the settlement movements among them, and the shadow rules it matched.

use sluice_engine::Engine;
use sluice_engine::transfers::{AccountName, Transfer, TransferPhase};

use super::derive::{DeriveState, Input};
use super::rows::{LedgerTransfer, Rows, Settlement};

/// The party role's name as the tables hold it (empty for accounts that are not a party's).
fn role(a: &AccountName) -> String {
    a.party.map_or_else(String::new, |k| k.name().to_string())
}

/// Appends a row per recorded transfer and a settlement row per settlement movement.
pub(super) fn ledger_rows(input: &Input<'_>, rows: &mut Rows) {
    let engine = input.engine;
    for (ordinal, t) in engine.recorded_transfers().iter().enumerate() {
        // The recorder names accounts the ledger holds: an id it cannot describe would be a bug.
        let (Some(debit), Some(credit)) = (
            engine.describe_account(t.debit),
            engine.describe_account(t.credit),
        ) else {
            panic!("recorded transfer {t:?} names an account the ledger does not hold");
        };
        assert_eq!(
            debit.currency, credit.currency,
            "a transfer stays in one currency"
        );
        rows.ledger_transfers.push(LedgerTransfer {
            seq: input.seq,
            ordinal: ordinal as i32,
            at_ns: input.at_ns,
            day: input.day,
            phase: t.phase.name().into(),
            debit_kind: debit.kind.into(),
            debit_owner: debit.owner as i32,
            debit_role: role(&debit),
            credit_kind: credit.kind.into(),
            credit_owner: credit.owner as i32,
            credit_role: role(&credit),
            amount_minor: t.amount_minor,
            currency: i32::from(debit.currency),
        });
        settlement(input, t, &debit, &credit, rows);
    }
}

/// A posted movement between one party's own accounts is a settlement movement.
fn settlement(
    input: &Input<'_>,
    t: &Transfer,
    debit: &AccountName,
    credit: &AccountName,
    rows: &mut Rows,
) {
    if t.phase != TransferPhase::Post
        || debit.party.is_none()
        || debit.owner != credit.owner
        || debit.party != credit.party
    {
        return;
    }
    let kind = match (debit.kind, credit.kind) {
        ("pending", "available") => "settled",
        ("pending", "frozen") => "frozen",
        ("frozen", "available") => "released",
        // The rolling reserve (docs/PAYOUTS.md, section 3): held, then released.
        ("pending", "reserve") => "reserved",
        ("reserve", "available") => "reserve_released",
        _ => return,
    };
    let ordinal = super::derive::ordinal(&rows.settlements, |s| s.seq, input.seq);
    rows.settlements.push(Settlement {
        seq: input.seq,
        ordinal,
        at_ns: input.at_ns,
        day: input.day,
        party_id: debit.owner as i32,
        role: role(debit),
        kind: kind.into(),
        amount_minor: t.amount_minor,
        currency: i32::from(debit.currency),
    });
}

/// The shadow rules whose hit counters moved since the last look (rule id, action asked), in
/// rule order; remembers the counters. A rule added or removed since resets the memory without
/// reporting (configuration inputs evaluate nothing).
pub(super) fn shadow_hits(engine: &Engine, state: &mut DeriveState) -> Vec<(u32, &'static str)> {
    let rules = &engine.state().risk.rules.rules;
    let hits = &engine.counters().rule_hits;
    let same = rules.len() == state.shadow.len()
        && rules.iter().zip(&state.shadow).all(|(r, s)| r.id == s.0);
    let mut found = Vec::new();
    if same {
        for ((rule, now), before) in rules.iter().zip(hits).zip(&state.shadow) {
            if now.1 > before.1 {
                found.push((rule.id, rule.action.name()));
            }
        }
    }
    state.refresh(engine);
    found
}
