//! Statements of a party — a merchant, a promoter or the platform — per period and currency:
//! balances at the period's start and end, replayed from `ledger_transfers` (so they equal the
//! ledger's), and the movements between them from `payment_results`, `split_lines`,
//! `ledger_transfers` and `payouts` (docs/STORE.md, "Reports").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use sluice_node::flow::{Day, LedgerTransfer, Payout, Rows};

use super::accounts::{Accounts, PAYOUTS_IN_FLIGHT, Replay};
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
/// expense), as BalanceQuery reports them; `frozen`, `reserve` and `refunds_held` are 0, and
/// `payouts_held` is what its own payouts in flight reserved from platform revenue (out of
/// `pending_minor`).
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
    /// The rolling reserve held until its release day (docs/PAYOUTS.md, section 3).
    pub reserve_minor: i64,
    /// Payouts in review or in flight (amount and fee) reserved against available (already out
    /// of `available_minor`).
    pub payouts_held_minor: i64,
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
    /// Available to payouts: withdrawals paid at once (journals before schema 7).
    pub withdrawn_minor: i64,
    /// Into the rolling reserve (pending to reserve).
    pub reserve_held_minor: i64,
    /// Reserve released (reserve to available).
    pub reserve_released_minor: i64,
    /// Payouts accepted: amount and fee reserved from available (platform: platform revenue).
    pub payouts_requested_minor: i64,
    /// Payouts paid: the amount that left for the party's bank (the fee apart).
    pub payouts_paid_minor: i64,
    /// The payout channels' fees of the payouts paid, borne by the party.
    pub payout_fees_minor: i64,
    /// Payouts failed or rejected: amount and fee released back to available.
    pub payouts_failed_minor: i64,
    /// Paid payouts the bank returned: the amount back in available (the fee is not).
    pub payouts_returned_minor: i64,
}

impl Movements {
    /// What the movements change the party's total (pending + available + frozen + reserve +
    /// refunds held + payouts held) by: the tie-out docs/STORE.md states.
    pub fn net_minor(&self) -> i64 {
        self.sales_minor + self.commission_minor
            - self.refunds_minor
            - self.withdrawn_minor
            - self.payouts_paid_minor
            - self.payout_fees_minor
            + self.payouts_returned_minor
    }
}

impl Balances {
    /// Everything the party holds, its payouts and refunds in flight included.
    pub fn total_minor(&self) -> i64 {
        self.pending_minor
            + self.available_minor
            + self.frozen_minor
            + self.reserve_minor
            + self.refunds_held_minor
            + self.payouts_held_minor
    }
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
type DayMoves = BTreeMap<(i32, Day), [i128; MOVEMENTS]>;

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
            let mut sum = [0i128; MOVEMENTS];
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
    if party.role == Role::Platform {
        // Its own payouts in flight are held apart from its revenue, as a party's are from
        // available (refunds reserving the platform's share stay in it, as before payouts).
        let revenue = accounts.get("platform_revenue", 0, "", currency);
        let payouts_held = accounts.payouts_held("platform_revenue", 0, "", currency);
        return Ok(Balances {
            pending_minor: minor_i64(revenue.credit_balance() - payouts_held)?,
            available_minor: minor_i64(
                accounts.get("fee_expense", 0, "", currency).debit_balance(),
            )?,
            payouts_held_minor: minor_i64(payouts_held)?,
            ..Balances::default()
        });
    }
    let role = party.role.name();
    let credit = |kind: &str| {
        accounts
            .get(kind, party.id, role, currency)
            .credit_balance()
    };
    let available = accounts.get("available", party.id, role, currency);
    let payouts_held = accounts.payouts_held("available", party.id, role, currency);
    Ok(Balances {
        pending_minor: minor_i64(credit("pending"))?,
        available_minor: minor_i64(available.spendable())?,
        frozen_minor: minor_i64(credit("frozen"))?,
        refunds_held_minor: minor_i64(available.debits_pending - payouts_held)?,
        reserve_minor: minor_i64(credit("reserve"))?,
        payouts_held_minor: minor_i64(payouts_held)?,
    })
}

fn movements_of(s: [i128; MOVEMENTS]) -> Result<Movements, StoreError> {
    Ok(Movements {
        gross_minor: minor_i64(s[GROSS])?,
        sales_minor: minor_i64(s[SALES])?,
        commission_minor: minor_i64(s[COMMISSION])?,
        fees_minor: minor_i64(s[FEES])?,
        splits_minor: minor_i64(s[SPLITS])?,
        refunds_minor: minor_i64(s[REFUNDS])?,
        settled_minor: minor_i64(s[SETTLED])?,
        frozen_minor: minor_i64(s[FROZEN])?,
        released_minor: minor_i64(s[RELEASED])?,
        withdrawn_minor: minor_i64(s[WITHDRAWN])?,
        reserve_held_minor: minor_i64(s[RESERVE_HELD])?,
        reserve_released_minor: minor_i64(s[RESERVE_RELEASED])?,
        payouts_requested_minor: minor_i64(s[PAYOUTS_REQUESTED])?,
        // The ledger posts amount and fee in one transfer; the payouts rows tell the fee.
        payouts_paid_minor: minor_i64(s[PAYOUTS_POSTED] - s[PAYOUT_FEES])?,
        payout_fees_minor: minor_i64(s[PAYOUT_FEES])?,
        payouts_failed_minor: minor_i64(s[PAYOUTS_FAILED])?,
        payouts_returned_minor: minor_i64(s[PAYOUTS_RETURNED])?,
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
const RESERVE_HELD: usize = 10;
const RESERVE_RELEASED: usize = 11;
const PAYOUTS_REQUESTED: usize = 12;
/// Amount and fee of the payouts paid, as the ledger posted them.
const PAYOUTS_POSTED: usize = 13;
const PAYOUT_FEES: usize = 14;
const PAYOUTS_FAILED: usize = 15;
const PAYOUTS_RETURNED: usize = 16;
const MOVEMENTS: usize = 17;

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
    for p in rows.payouts.iter().filter(|p| paid_to(p, party)) {
        add(p.currency, p.day, PAYOUT_FEES, p.fee_minor);
    }
    moves
}

/// Whether `p` is `party`'s payout becoming paid.
fn paid_to(p: &Payout, party: Party) -> bool {
    p.state == "Paid" && p.party_kind == party.role.name() && p.party_id == party.id
}

/// Which movement a transfer between `party`'s own accounts (or to and from payouts) is, if
/// any. The platform's payouts are reserved from platform revenue.
fn ledger_movement(t: &LedgerTransfer, party: Party) -> Option<usize> {
    let role = party.role.name();
    let (role, spendable) = match party.role {
        Role::Platform => ("", "platform_revenue"),
        _ => (role, "available"),
    };
    let debit_mine = t.debit_owner == party.id && t.debit_role == role;
    let credit_mine = t.credit_owner == party.id && t.credit_role == role;
    let (debit, credit) = (t.debit_kind.as_str(), t.credit_kind.as_str());
    if debit_mine && debit == spendable && credit == PAYOUTS_IN_FLIGHT {
        return match t.phase.as_str() {
            "reserve" => Some(PAYOUTS_REQUESTED),
            "post_reserved" => Some(PAYOUTS_POSTED),
            "void_reserved" => Some(PAYOUTS_FAILED),
            _ => None,
        };
    }
    if t.phase != "post" && t.phase != "post_reserved" {
        return None;
    }
    // The payout accounts are the platform's, never a party's own.
    if credit_mine && credit == spendable && is_payout_account(debit) {
        return Some(PAYOUTS_RETURNED);
    }
    if !debit_mine {
        return None;
    }
    match (debit, credit) {
        ("pending", "available") if credit_mine => Some(SETTLED),
        ("pending", "frozen") if credit_mine => Some(FROZEN),
        ("frozen", "available") if credit_mine => Some(RELEASED),
        (_, "reserve") if credit_mine => Some(RESERVE_HELD),
        ("reserve", "available") if credit_mine => Some(RESERVE_RELEASED),
        ("available", "payouts") => Some(WITHDRAWN),
        _ => None,
    }
}

/// The accounts a returned payout comes back from (docs/PAYOUTS.md, section 4: the bank).
fn is_payout_account(kind: &str) -> bool {
    matches!(kind, "platform_bank" | PAYOUTS_IN_FLIGHT | "payouts")
}
