//! A double-entry ledger modelled on TigerBeetle: accounts with pending and posted debits and
//! credits; every movement is a transfer between two accounts, posted at once or reserved (pending)
//! and later posted or voided. Running totals make "Σ debits = Σ credits" checkable after every
//! input in O(1); `verify` recomputes them from every account.

use rkyv::{Archive, Deserialize, Serialize};

/// An account's four balances (minor units).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Account {
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
}

impl Account {
    /// Posted credits minus posted debits (for accounts on the credit side).
    pub fn credit_balance(&self) -> i128 {
        self.credits_posted as i128 - self.debits_posted as i128
    }

    /// Posted debits minus posted credits (for accounts on the debit side).
    pub fn debit_balance(&self) -> i128 {
        self.debits_posted as i128 - self.credits_posted as i128
    }

    /// What can still be debited from a credit-side account: posted balance less reserved debits.
    pub fn spendable(&self) -> i128 {
        self.credit_balance() - self.debits_pending as i128
    }
}

/// Index of an account in the ledger.
pub type AccountId = u32;

/// Accounts per currency that are not per channel or per party.
const FIXED_ACCOUNTS: u32 = 5;
const CLEARING: u32 = 0;
const PLATFORM_REVENUE: u32 = 1;
const FEE_EXPENSE: u32 = 2;
const PAYOUTS: u32 = 3;
const REVERSALS_PAYABLE: u32 = 4;

/// A party's three accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyAccount {
    Pending = 0,
    Available = 1,
    Frozen = 2,
}

/// The ledger: a fixed chart of accounts per ledger currency.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub struct Ledger {
    accounts: Vec<Account>,
    channels_max: u32,
    parties_max: u32,
    per_currency: u32,
    /// Sums over all accounts, maintained by every transfer.
    totals: Account,
    /// Transfers posted or reserved so far.
    transfers: u64,
}

impl Ledger {
    /// Allocates every account for `currencies` ledger currencies up front.
    pub fn new(currencies: u32, channels_max: u32, parties_max: u32) -> Self {
        let per_currency = FIXED_ACCOUNTS + channels_max + parties_max * 3;
        Ledger {
            accounts: vec![Account::default(); (per_currency * currencies) as usize],
            channels_max,
            parties_max,
            per_currency,
            totals: Account::default(),
            transfers: 0,
        }
    }

    fn base(&self, currency_slot: u8) -> u32 {
        u32::from(currency_slot) * self.per_currency
    }

    pub fn clearing(&self, c: u8) -> AccountId {
        self.base(c) + CLEARING
    }
    pub fn platform_revenue(&self, c: u8) -> AccountId {
        self.base(c) + PLATFORM_REVENUE
    }
    pub fn fee_expense(&self, c: u8) -> AccountId {
        self.base(c) + FEE_EXPENSE
    }
    pub fn payouts(&self, c: u8) -> AccountId {
        self.base(c) + PAYOUTS
    }
    /// Captures that the payments do not keep, owed back to their payers until the channel
    /// confirms the reversal (docs/ENGINE.md, "Uncertain outcomes").
    pub fn reversals_payable(&self, c: u8) -> AccountId {
        self.base(c) + REVERSALS_PAYABLE
    }
    pub fn channel_receivable(&self, c: u8, channel_slot: u32) -> AccountId {
        // A slot past the channels would post to another account.
        assert!(
            channel_slot < self.channels_max,
            "channel slot out of range"
        );
        self.base(c) + FIXED_ACCOUNTS + channel_slot
    }
    pub fn party(&self, c: u8, party_slot: u32, which: PartyAccount) -> AccountId {
        // A slot past the parties would post to another account (or another currency's).
        assert!(party_slot < self.parties_max, "party slot out of range");
        self.base(c) + FIXED_ACCOUNTS + self.channels_max + party_slot * 3 + which as u32
    }

    pub fn account(&self, id: AccountId) -> &Account {
        &self.accounts[id as usize]
    }

    fn amount(amount_minor: i64) -> u128 {
        assert!(amount_minor >= 0, "transfer amount must not be negative");
        amount_minor as u128
    }

    /// Posts a transfer at once.
    #[inline]
    pub fn post(&mut self, debit: AccountId, credit: AccountId, amount_minor: i64) {
        let amount = Self::amount(amount_minor);
        if amount == 0 {
            return;
        }
        assert_ne!(debit, credit, "a transfer needs two accounts");
        self.accounts[debit as usize].debits_posted += amount;
        self.accounts[credit as usize].credits_posted += amount;
        self.totals.debits_posted += amount;
        self.totals.credits_posted += amount;
        self.transfers += 1;
    }

    /// Reserves a transfer (two-phase: pending until posted or voided).
    #[inline]
    pub fn reserve(&mut self, debit: AccountId, credit: AccountId, amount_minor: i64) {
        let amount = Self::amount(amount_minor);
        if amount == 0 {
            return;
        }
        assert_ne!(debit, credit, "a transfer needs two accounts");
        self.accounts[debit as usize].debits_pending += amount;
        self.accounts[credit as usize].credits_pending += amount;
        self.totals.debits_pending += amount;
        self.totals.credits_pending += amount;
        self.transfers += 1;
    }

    /// Posts a transfer reserved earlier with the same accounts and amount.
    #[inline]
    pub fn post_reserved(&mut self, debit: AccountId, credit: AccountId, amount_minor: i64) {
        self.void_reserved(debit, credit, amount_minor);
        let amount = Self::amount(amount_minor);
        if amount == 0 {
            return;
        }
        self.accounts[debit as usize].debits_posted += amount;
        self.accounts[credit as usize].credits_posted += amount;
        self.totals.debits_posted += amount;
        self.totals.credits_posted += amount;
    }

    /// Voids a transfer reserved earlier with the same accounts and amount.
    #[inline]
    pub fn void_reserved(&mut self, debit: AccountId, credit: AccountId, amount_minor: i64) {
        let amount = Self::amount(amount_minor);
        if amount == 0 {
            return;
        }
        let d = &mut self.accounts[debit as usize];
        assert!(d.debits_pending >= amount, "voiding more than reserved");
        d.debits_pending -= amount;
        let c = &mut self.accounts[credit as usize];
        assert!(c.credits_pending >= amount, "voiding more than reserved");
        c.credits_pending -= amount;
        self.totals.debits_pending -= amount;
        self.totals.credits_pending -= amount;
    }

    /// Σ debits = Σ credits, posted and pending, by the running totals.
    #[inline]
    pub fn is_balanced(&self) -> bool {
        self.totals.debits_posted == self.totals.credits_posted
            && self.totals.debits_pending == self.totals.credits_pending
    }

    /// Recomputes the totals from every account and checks them against the running totals.
    pub fn verify(&self) -> Result<(), String> {
        let mut sum = Account::default();
        for a in &self.accounts {
            sum.debits_pending += a.debits_pending;
            sum.debits_posted += a.debits_posted;
            sum.credits_pending += a.credits_pending;
            sum.credits_posted += a.credits_posted;
        }
        if sum != self.totals {
            return Err(format!(
                "running totals {:?} differ from the accounts' sums {:?}",
                self.totals, sum
            ));
        }
        if !self.is_balanced() {
            return Err(format!("ledger not balanced: {:?}", self.totals));
        }
        Ok(())
    }

    pub fn totals(&self) -> &Account {
        &self.totals
    }

    pub fn transfers(&self) -> u64 {
        self.transfers
    }

    /// Keeps the account table's capacity after a snapshot load (it never grows anyway).
    pub fn accounts_len(&self) -> usize {
        self.accounts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_phase_transfers_balance() {
        let mut l = Ledger::new(1, 2, 2);
        let rx = l.channel_receivable(0, 1);
        let clearing = l.clearing(0);
        l.reserve(rx, clearing, 100);
        assert!(l.is_balanced());
        assert_eq!(l.account(rx).debits_pending, 100);
        l.post_reserved(rx, clearing, 100);
        assert_eq!(l.account(rx).debits_pending, 0);
        assert_eq!(l.account(rx).debit_balance(), 100);
        let pending = l.party(0, 1, PartyAccount::Pending);
        l.post(clearing, pending, 100);
        assert_eq!(l.account(pending).credit_balance(), 100);
        assert_eq!(l.account(clearing).credit_balance(), 0);
        l.reserve(pending, clearing, 40);
        assert_eq!(l.account(pending).spendable(), 60);
        l.void_reserved(pending, clearing, 40);
        assert_eq!(l.account(pending).spendable(), 100);
        l.verify().unwrap();
    }

    #[test]
    fn accounts_do_not_overlap() {
        let l = Ledger::new(2, 3, 4);
        let mut ids = vec![];
        for c in 0..2 {
            ids.extend([
                l.clearing(c),
                l.platform_revenue(c),
                l.fee_expense(c),
                l.payouts(c),
                l.reversals_payable(c),
            ]);
            for ch in 0..3 {
                ids.push(l.channel_receivable(c, ch));
            }
            for p in 0..4 {
                for w in [
                    PartyAccount::Pending,
                    PartyAccount::Available,
                    PartyAccount::Frozen,
                ] {
                    ids.push(l.party(c, p, w));
                }
            }
        }
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert!(ids.iter().all(|&i| (i as usize) < l.accounts_len()));
    }
}
