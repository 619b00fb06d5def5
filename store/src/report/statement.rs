//! Statements of a party — a merchant, a promoter or the platform — per period and currency:
//! balances at the period's start and end, replayed from `ledger_transfers` (so they equal the
//! ledger's), and the movements between them from `payment_results`, `split_lines` and
//! `ledger_transfers` (docs/STORE.md, "Reports").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use sluice_node::flow::{Day, LedgerTransfer, Rows};

use super::accounts::{Accounts, Replay};
use super::calendar::{Period, PeriodKind};
use super::{DayRange, minor_i64};
use crate::StoreError;

/// A party's role, as rows name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Role {
    Merchant,
    Promoter,
    Platform,
}

impl Role {
    /// The role of the party a split line pays, from the line's `PartyRole` name
    /// (`MerchantParent` is a merchant, `PromoterLevel2` a promoter); `None` for `ChannelFee`.
    pub fn of_line(party_role: &str) -> Option<Role> {
        match party_role {
            "Merchant" | "MerchantParent" | "MerchantGrandparent" => Some(Role::Merchant),
            "Promoter" | "PromoterLevel1" | "PromoterLevel2" => Some(Role::Promoter),
            "Platform" => Some(Role::Platform),
            _ => None,
        }
    }

    /// The `PartyKind` name ledger transfers carry in `*_role`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Merchant => "Merchant",
            Role::Promoter => "Promoter",
            Role::Platform => "Platform",
        }
    }
}

/// Whose statement: a role and an id (0 for the platform).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Party {
    pub role: Role,
    pub id: i32,
}

/// A party's balances at the end of a day, minor units, as BalanceQuery reports them. For the
/// platform: `pending` is platform revenue and `available` the channel fees it paid (fee
/// expense), as BalanceQuery reports them; `frozen` and `refunds_held` are 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Balances {
    /// Income waiting for its settlement day.
    pub pending_minor: i64,
    /// What can be withdrawn: settled income less refunds reserved against it.
    pub available_minor: i64,
    /// Deposits held until their release day.
    pub frozen_minor: i64,
    /// Refunds in flight reserved against available (already out of `available_minor`).
    pub refunds_held_minor: i64,
}

/// What moved during a period, minor units, all positive for the usual direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Movements {
    /// Merchants: the amounts of its succeeded payments (`payment_results`).
    pub gross_minor: i64,
    /// Its own line on the payments it sold (a merchant's `Merchant` line on its orders).
    pub sales_minor: i64,
    /// Its lines on others' payments: a parent's hierarchy share, a promoter's or the
    /// platform's share.
    pub commission_minor: i64,
    /// Merchants: the channel fee it bore (`ChannelFee` lines of its orders).
    pub fees_minor: i64,
    /// Merchants: the other lines of its orders (platform, promoters, parents).
    pub splits_minor: i64,
    /// Taken back by refunds: its reversal lines (negated).
    pub refunds_minor: i64,
    /// Pending to available (settlement, and failed refunds given back after their day).
    pub settled_minor: i64,
    /// Pending to frozen (the deposit share).
    pub frozen_minor: i64,
    /// Frozen to available (deposits released).
    pub released_minor: i64,
    /// Available to payouts (succeeded withdrawals).
    pub withdrawn_minor: i64,
}

/// One party's statement for one period in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub party: Party,
    /// ISO 4217 numeric.
    pub currency: i32,
    pub period: Period,
    pub opening: Balances,
    pub movements: Movements,
    pub closing: Balances,
}

/// Movements per (currency, day), i128 while summing.
type DayMoves = BTreeMap<(i32, Day), [i128; 10]>;

/// Statements of `party` for every period of `kind` that overlaps `days` (whole periods; an open
/// end is the first or last day in the rows), one per currency the party has rows in, by
/// currency then period. Errors when the party has no rows at all.
pub fn statements(
    rows: &Rows,
    party: Party,
    kind: PeriodKind,
    days: DayRange,
) -> Result<Vec<Statement>, StoreError> {
    let moves = movements_by_day(rows, party);
    let currencies: BTreeSet<i32> = moves.keys().map(|&(c, _)| c).collect();
    let first = moves.keys().map(|k| k.1).min();
    let last = last_day(rows).max(moves.keys().map(|k| k.1).max());
    let (Some(first), Some(last)) = (first, last) else {
        return Err(StoreError::new(format!(
            "{} {}: no split lines or ledger transfers in the store",
            party.role.name().to_lowercase(),
            party.id
        )));
    };
    let periods = super::periods(kind, days, first, last)?;
    let mut out = Vec::new();
    for &currency in &currencies {
        let transfers = rows
            .ledger_transfers
            .iter()
            .filter(|t| t.currency == currency);
        let mut replay = Replay::new(transfers.filter(|t| touches(t, party)));
        replay.through(Day(periods[0].start_day.0 - 1))?;
        let mut opening = balances(&replay.accounts, party, currency)?;
        for period in &periods {
            replay.through(period.end_day)?;
            let closing = balances(&replay.accounts, party, currency)?;
            let range = (currency, period.start_day)..=(currency, period.end_day);
            let mut sum = [0i128; 10];
            for m in moves.range(range).map(|(_, m)| m) {
                sum.iter_mut().zip(m).for_each(|(s, m)| *s += m);
            }
            out.push(Statement {
                party,
                currency,
                period: period.clone(),
                opening,
                movements: movements_of(sum)?,
                closing,
            });
            opening = closing;
        }
    }
    Ok(out)
}

/// Whether `t` moves one of the accounts `party`'s balances are read from (the rest need not be
/// replayed).
fn touches(t: &LedgerTransfer, party: Party) -> bool {
    if party.role == Role::Platform {
        let platform = |kind: &str| matches!(kind, "platform_revenue" | "fee_expense");
        return platform(&t.debit_kind) || platform(&t.credit_kind);
    }
    let role = party.role.name();
    (t.debit_owner == party.id && t.debit_role == role)
        || (t.credit_owner == party.id && t.credit_role == role)
}

/// The last day any row of the ledger carries.
fn last_day(rows: &Rows) -> Option<Day> {
    rows.ledger_transfers.iter().map(|t| t.day).max()
}

fn balances(accounts: &Accounts, party: Party, currency: i32) -> Result<Balances, StoreError> {
    let b = if party.role == Role::Platform {
        Balances {
            pending_minor: minor_i64(
                accounts
                    .get("platform_revenue", 0, "", currency)
                    .credit_balance(),
            )?,
            available_minor: minor_i64(
                accounts.get("fee_expense", 0, "", currency).debit_balance(),
            )?,
            ..Balances::default()
        }
    } else {
        let role = party.role.name();
        let available = accounts.get("available", party.id, role, currency);
        Balances {
            pending_minor: minor_i64(
                accounts
                    .get("pending", party.id, role, currency)
                    .credit_balance(),
            )?,
            available_minor: minor_i64(available.spendable())?,
            // Held: the deposit and the rolling reserve together, as BalanceReport shows them
            // (docs/PAYOUTS.md, section 3, "As built").
            frozen_minor: minor_i64(
                accounts
                    .get("frozen", party.id, role, currency)
                    .credit_balance()
                    + accounts
                        .get("reserve", party.id, role, currency)
                        .credit_balance(),
            )?,
            refunds_held_minor: minor_i64(available.debits_pending)?,
        }
    };
    Ok(b)
}

fn movements_of(s: [i128; 10]) -> Result<Movements, StoreError> {
    Ok(Movements {
        gross_minor: minor_i64(s[0])?,
        sales_minor: minor_i64(s[1])?,
        commission_minor: minor_i64(s[2])?,
        fees_minor: minor_i64(s[3])?,
        splits_minor: minor_i64(s[4])?,
        refunds_minor: minor_i64(s[5])?,
        settled_minor: minor_i64(s[6])?,
        frozen_minor: minor_i64(s[7])?,
        released_minor: minor_i64(s[8])?,
        withdrawn_minor: minor_i64(s[9])?,
    })
}

const GROSS: usize = 0;
const SALES: usize = 1;
const COMMISSION: usize = 2;
const FEES: usize = 3;
const SPLITS: usize = 4;
const REFUNDS: usize = 5;
const SETTLED: usize = 6;
const FROZEN: usize = 7;
const RELEASED: usize = 8;
const WITHDRAWN: usize = 9;

/// Every movement of `party`, per (currency, day).
fn movements_by_day(rows: &Rows, party: Party) -> DayMoves {
    let mut moves = DayMoves::new();
    let mut add = |currency: i32, day: Day, which: usize, amount: i64| {
        moves.entry((currency, day)).or_default()[which] += i128::from(amount);
    };
    let merchant_of: HashMap<i64, i32> = rows
        .orders
        .iter()
        .map(|o| (o.order_id, o.merchant_id))
        .chain(
            rows.payment_results
                .iter()
                .map(|r| (r.order_id, r.merchant_id)),
        )
        .collect();
    let sold = |order_id: i64| {
        party.role == Role::Merchant && merchant_of.get(&order_id) == Some(&party.id)
    };
    for r in &rows.payment_results {
        if r.status == "Succeeded" && sold(r.order_id) {
            add(r.currency, r.day, GROSS, r.amount_minor);
        }
    }
    for l in &rows.split_lines {
        let mine = Role::of_line(&l.role) == Some(party.role) && l.party_id == party.id;
        if l.refund_id != 0 {
            if mine {
                add(l.currency, l.day, REFUNDS, -l.amount_minor);
            }
            continue;
        }
        match (mine, sold(l.order_id)) {
            (true, true) => add(l.currency, l.day, SALES, l.amount_minor),
            (true, false) => add(l.currency, l.day, COMMISSION, l.amount_minor),
            (false, true) if l.role == "ChannelFee" => add(l.currency, l.day, FEES, l.amount_minor),
            (false, true) => add(l.currency, l.day, SPLITS, l.amount_minor),
            (false, false) => {}
        }
    }
    for t in &rows.ledger_transfers {
        if let Some(which) = ledger_movement(t, party) {
            add(t.currency, t.day, which, t.amount_minor);
        }
    }
    moves
}

/// Which movement a transfer between `party`'s own accounts (or to payouts) is, if any.
fn ledger_movement(t: &LedgerTransfer, party: Party) -> Option<usize> {
    let role = party.role.name();
    let debit_mine = t.debit_owner == party.id && t.debit_role == role;
    if !debit_mine || !matches!(t.phase.as_str(), "post" | "post_reserved") {
        return None;
    }
    let credit_mine = t.credit_owner == party.id && t.credit_role == role;
    match (t.debit_kind.as_str(), t.credit_kind.as_str()) {
        ("pending", "available") if credit_mine => Some(SETTLED),
        ("pending", "frozen" | "reserve") if credit_mine => Some(FROZEN),
        ("frozen" | "reserve", "available") if credit_mine => Some(RELEASED),
        ("available", "payouts") => Some(WITHDRAWN),
        _ => None,
    }
}
