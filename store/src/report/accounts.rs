//! Account balances replayed from `ledger_transfers`: the same four sums per account as the
//! engine's ledger (`sluice_engine::ledger::Account`), so that a balance computed here equals the
//! ledger's to the minor unit.

use std::collections::HashMap;

use sluice_node::flow::{Day, LedgerTransfer};

use crate::StoreError;

/// An account as the rows name it: kind, owner, the owner's role (parties only) and currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountKey {
    pub kind: String,
    pub owner: i32,
    pub role: String,
    pub currency: i32,
}

/// Posted and reserved debits and credits, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountSums {
    pub debits_posted: i128,
    pub credits_posted: i128,
    pub debits_pending: i128,
    pub credits_pending: i128,
}

impl AccountSums {
    /// Posted credits less posted debits (pending, frozen, platform revenue).
    pub fn credit_balance(&self) -> i128 {
        self.credits_posted - self.debits_posted
    }
    /// Posted debits less posted credits (channel receivable, fee expense).
    pub fn debit_balance(&self) -> i128 {
        self.debits_posted - self.credits_posted
    }
    /// The credit balance less reserved debits: what BalanceQuery reports as available.
    pub fn spendable(&self) -> i128 {
        self.credit_balance() - self.debits_pending
    }
}

/// The account payouts in flight are reserved to (docs/PAYOUTS.md, section 4).
pub const PAYOUTS_IN_FLIGHT: &str = "payouts_in_flight";

/// Every account's sums, advanced transfer by transfer in journal order.
#[derive(Debug, Default)]
pub struct Accounts {
    sums: HashMap<AccountKey, AccountSums>,
    /// Per debited account, the part of its reserved debits that payouts hold (reserved to
    /// `payouts_in_flight`); the rest of a party's reserved debits are refunds.
    payouts_held: HashMap<AccountKey, i128>,
}

impl Accounts {
    pub fn get(&self, kind: &str, owner: i32, role: &str, currency: i32) -> AccountSums {
        let key = AccountKey {
            kind: kind.to_owned(),
            owner,
            role: role.to_owned(),
            currency,
        };
        self.sums.get(&key).copied().unwrap_or_default()
    }

    /// The reserved debits of an account that payouts in flight hold.
    pub fn payouts_held(&self, kind: &str, owner: i32, role: &str, currency: i32) -> i128 {
        let key = AccountKey {
            kind: kind.to_owned(),
            owner,
            role: role.to_owned(),
            currency,
        };
        self.payouts_held.get(&key).copied().unwrap_or_default()
    }

    /// Applies one transfer as the engine's ledger did; an unknown phase is an error.
    pub fn apply(&mut self, t: &LedgerTransfer) -> Result<(), StoreError> {
        let amount = i128::from(t.amount_minor);
        // (posted, pending) changes of the side the transfer names.
        let (posted, pending) = match t.phase.as_str() {
            "post" => (amount, 0),
            "reserve" => (0, amount),
            "post_reserved" => (amount, -amount),
            "void_reserved" => (0, -amount),
            other => {
                return Err(StoreError::new(format!(
                    "ledger_transfers seq {} ordinal {}: unknown phase `{other}`",
                    t.seq, t.ordinal
                )));
            }
        };
        let debit = self.entry(&t.debit_kind, t.debit_owner, &t.debit_role, t.currency);
        debit.debits_posted += posted;
        debit.debits_pending += pending;
        let credit = self.entry(&t.credit_kind, t.credit_owner, &t.credit_role, t.currency);
        credit.credits_posted += posted;
        credit.credits_pending += pending;
        if pending != 0 && t.credit_kind == PAYOUTS_IN_FLIGHT {
            let key = AccountKey {
                kind: t.debit_kind.clone(),
                owner: t.debit_owner,
                role: t.debit_role.clone(),
                currency: t.currency,
            };
            *self.payouts_held.entry(key).or_default() += pending;
        }
        Ok(())
    }

    fn entry(&mut self, kind: &str, owner: i32, role: &str, currency: i32) -> &mut AccountSums {
        let key = AccountKey {
            kind: kind.to_owned(),
            owner,
            role: role.to_owned(),
            currency,
        };
        self.sums.entry(key).or_default()
    }
}

/// Transfers in journal order, applied up to the end of a day at a time.
pub struct Replay<'a> {
    transfers: Vec<&'a LedgerTransfer>,
    next: usize,
    pub accounts: Accounts,
}

impl<'a> Replay<'a> {
    /// `transfers` in any order; they are applied by (seq, ordinal).
    pub fn new(transfers: impl IntoIterator<Item = &'a LedgerTransfer>) -> Replay<'a> {
        let mut transfers: Vec<&LedgerTransfer> = transfers.into_iter().collect();
        transfers.sort_by_key(|t| (t.seq, t.ordinal));
        Replay {
            transfers,
            next: 0,
            accounts: Accounts::default(),
        }
    }

    /// Applies every transfer made on or before `day`. Days never go back in journal order, so
    /// the transfers of a day are a run.
    pub fn through(&mut self, day: Day) -> Result<(), StoreError> {
        while let Some(t) = self.transfers.get(self.next) {
            if t.day > day {
                break;
            }
            self.accounts.apply(t)?;
            self.next += 1;
        }
        Ok(())
    }
}
