//! A double-entry ledger modelled on TigerBeetle: accounts with pending and posted debits and
//! credits; every movement is a transfer between two accounts, posted at once or reserved (pending)
//! and later posted or voided. Running totals make "Σ debits = Σ credits" checkable after every
//! input in O(1); `verify` recomputes them from every account.
//!
//! Money limits (docs/ENGINE.md, "Money limits"): no account may *reach* past `BALANCE_MAX_MINOR`
//! (i64::MAX) on either side, its pending transfers included, and no party's total in a currency
//! may either. Handlers refuse an input that could break this before it changes anything
//! (`crate::limits`); every transfer asserts it for the two accounts it touches, and `verify`
//! for every account and party.

use rkyv::{Archive, Deserialize, Serialize};

use crate::transfers::{AccountKind, TransferPhase, TransferRecorder};

/// An account's four balances (minor units).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Account {
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
}

impl Account {
    /// The most the account can lean to the debit side: posted debits plus debits being reserved,
    /// less posted credits (as if every pending debit posted and every pending credit were voided);
    /// 0 when even then it leans to the credit side.
    pub fn debit_reach(&self) -> u128 {
        (self.debits_posted + self.debits_pending).saturating_sub(self.credits_posted)
    }

    /// The most the account can lean to the credit side (see `debit_reach`).
    pub fn credit_reach(&self) -> u128 {
        (self.credits_posted + self.credits_pending).saturating_sub(self.debits_posted)
    }

    /// Within the money limits: each side's pending transfers and each side's reach at most
    /// `BALANCE_MAX_MINOR`.
    pub fn within_limit(&self) -> bool {
        let max = BALANCE_MAX_MINOR as u128;
        self.debits_pending <= max
            && self.credits_pending <= max
            && self.debit_reach() <= max
            && self.credit_reach() <= max
    }

    /// Posted credits minus posted debits (for accounts on the credit side).
    pub fn credit_balance(&self) -> i128 {
        signed(self.credits_posted) - signed(self.debits_posted)
    }

    /// Posted debits minus posted credits (for accounts on the debit side).
    pub fn debit_balance(&self) -> i128 {
        signed(self.debits_posted) - signed(self.credits_posted)
    }

    /// What can still be debited from a credit-side account: posted balance less reserved debits.
    pub fn spendable(&self) -> i128 {
        self.credit_balance() - signed(self.debits_pending)
    }

    /// The most this credit-side account can come to hold: its posted balance and the credits being
    /// reserved to it (what a party's total counts, its reserved debits being still its money).
    pub fn credit_balance_reach(&self) -> i128 {
        self.credit_balance() + signed(self.credits_pending)
    }
}

/// A ledger sum as a signed number. Sums are of i64 amounts in u128: they stay far below 2^127.
fn signed(sum: u128) -> i128 {
    i128::try_from(sum).expect("ledger sums stay below 2^127")
}

/// Index of an account in the ledger.
pub type AccountId = u32;

/// The largest balance, minor units: of every account on either side (pending included) and of
/// every party's total in a currency (docs/ENGINE.md, "Money limits"). Every figure then fits
/// the wire's i64.
pub const BALANCE_MAX_MINOR: i64 = i64::MAX;

/// Accounts per currency that are not per channel or per party: 0–12 the payment engine's,
/// 13–16 balance yield, 17–21 consumer installments, 22–25 merchant credit (docs/FINANCE.md).
const FIXED_ACCOUNTS: u32 = 26;
const CLEARING: u32 = 0;
const PLATFORM_REVENUE: u32 = 1;
const FEE_EXPENSE: u32 = 2;
const PAYOUTS: u32 = 3;
const REVERSALS_PAYABLE: u32 = 4;
const PLATFORM_BANK: u32 = 5;
const CHANNEL_FEE_DIFFERENCES: u32 = 6;
const CHANNEL_WRITE_OFFS: u32 = 7;
const PAYOUTS_IN_FLIGHT: u32 = 8;
const PAYOUT_FEES: u32 = 9;
const DISPUTES_PENDING: u32 = 10;
const DISPUTE_HOLDS: u32 = 11;
const DISPUTE_RECEIVABLE: u32 = 12;
// The financial extension (docs/FINANCE.md): 13-16 yield, 17-21 installments, 22-25 credit.
const YIELD_HOLDINGS: u32 = 13;
const YIELD_FUND: u32 = 14;
const YIELD_RESIDUAL: u32 = 15;
const YIELD_REDEMPTIONS: u32 = 16;

/// Groups of fixed accounts that have an invariant of their own, checked by `Engine::apply` after
/// an input that moved one of them (docs/ENGINE.md, "Invariants"): a bit per group.
pub mod watch {
    /// `payouts_in_flight`, `payout_fees` (`Engine::assert_payouts_in_flight`).
    pub const PAYOUTS: u8 = 1;
    /// `disputes_pending`, `dispute_holds`, `dispute_receivable` (`Engine::assert_disputes`).
    pub const DISPUTES: u8 = 2;
    /// The balance yield's four accounts (`Engine::assert_yield`, docs/YIELD.md).
    pub const YIELD: u8 = 4;
    /// The installments' five accounts (`Engine::assert_installments`, docs/INSTALLMENTS.md).
    pub const INSTALLMENTS: u8 = 8;
    /// Merchant credit's four accounts (`Engine::assert_credit`, docs/CREDIT.md).
    pub const CREDIT: u8 = 16;
}

/// The watch group of fixed account `fixed` (0 for none).
const fn watch_group(fixed: u32) -> u8 {
    match fixed {
        PAYOUTS_IN_FLIGHT | PAYOUT_FEES => watch::PAYOUTS,
        DISPUTES_PENDING..=DISPUTE_RECEIVABLE => watch::DISPUTES,
        YIELD_HOLDINGS..=YIELD_REDEMPTIONS => watch::YIELD,
        INSTALLMENT_RECEIVABLE..=INSTALLMENT_WRITE_OFFS => watch::INSTALLMENTS,
        LOANS_RECEIVABLE..=LOAN_WRITE_OFFS => watch::CREDIT,
        _ => 0,
    }
}
const INSTALLMENT_RECEIVABLE: u32 = 17;
const INSTALLMENT_FUNDING: u32 = 18;
const INSTALLMENT_UNEARNED: u32 = 19;
const INSTALLMENT_INCOME: u32 = 20;
const INSTALLMENT_WRITE_OFFS: u32 = 21;
const LOANS_RECEIVABLE: u32 = 22;
const INTEREST_RECEIVABLE: u32 = 23;
const INTEREST_INCOME: u32 = 24;
const LOAN_WRITE_OFFS: u32 = 25;

/// A party's four accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyAccount {
    /// Income waiting for its due day (docs/PAYOUTS.md, section 3).
    Pending = 0,
    /// What the party may withdraw.
    Available = 1,
    /// The contract's security deposit, held `deposit_hold_days`.
    Frozen = 2,
    /// The rolling reserve, held `reserve_days` (the risk reserve chargebacks draw on first).
    Reserve = 3,
}

impl PartyAccount {
    /// Every party account, in ledger order.
    pub const ALL: [PartyAccount; PARTY_ACCOUNTS as usize] = [
        PartyAccount::Pending,
        PartyAccount::Available,
        PartyAccount::Frozen,
        PartyAccount::Reserve,
    ];
}

/// Accounts per party and currency.
pub const PARTY_ACCOUNTS: u32 = 4;

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
    /// Records transfers for the exporter (`crate::transfers`): not state, never archived.
    #[rkyv(with = rkyv::with::Skip)]
    recorder: TransferRecorder,
    /// Per account, its watch group (`watch`): derived from the layout, never archived
    /// (`rebuild_watch` after a snapshot load).
    #[rkyv(with = rkyv::with::Skip)]
    watch: Vec<u8>,
    /// The watch groups the transfers since the last `take_touched` moved.
    #[rkyv(with = rkyv::with::Skip)]
    touched: u8,
}

impl Ledger {
    /// Allocates every account for `currencies` ledger currencies up front.
    pub fn new(currencies: u32, channels_max: u32, parties_max: u32) -> Self {
        let per_currency = FIXED_ACCOUNTS + channels_max + parties_max * PARTY_ACCOUNTS;
        let mut ledger = Ledger {
            accounts: vec![Account::default(); (per_currency * currencies) as usize],
            channels_max,
            parties_max,
            per_currency,
            totals: Account::default(),
            transfers: 0,
            recorder: TransferRecorder::default(),
            watch: Vec::new(),
            touched: 0,
        };
        ledger.rebuild_watch();
        ledger
    }

    /// Derives every account's watch group from the layout (after `new` and a snapshot load).
    pub(crate) fn rebuild_watch(&mut self) {
        let per_currency = self.per_currency as usize;
        self.watch = (0..self.accounts.len())
            .map(|id| match u32::try_from(id % per_currency) {
                Ok(fixed) if fixed < FIXED_ACCOUNTS => watch_group(fixed),
                _ => 0,
            })
            .collect();
        self.touched = 0;
    }

    /// The watch groups moved since the last call (then none).
    #[inline]
    pub(crate) fn take_touched(&mut self) -> u8 {
        std::mem::take(&mut self.touched)
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
    /// What channels paid into the platform's bank account (docs/RECONCILIATION.md, section 6):
    /// a debit balance.
    pub fn platform_bank(&self, c: u8) -> AccountId {
        self.base(c) + PLATFORM_BANK
    }
    /// Fees channels charged beyond what the platform booked (a debit balance; fewer: credit).
    pub fn channel_fee_differences(&self, c: u8) -> AccountId {
        self.base(c) + CHANNEL_FEE_DIFFERENCES
    }
    /// What resolved discrepancies wrote off a channel's receivable (a debit balance).
    pub fn channel_write_offs(&self, c: u8) -> AccountId {
        self.base(c) + CHANNEL_WRITE_OFFS
    }
    /// Payouts accepted and not ended (docs/PAYOUTS.md, section 4): each reserves amount + fee
    /// from the party's available balance to here, posted when the channel pays, voided when it
    /// fails. Its pending credits are the money of the payouts in review or in flight.
    pub fn payouts_in_flight(&self, c: u8) -> AccountId {
        self.base(c) + PAYOUTS_IN_FLIGHT
    }
    /// Payout channels' fees: credited with each paid payout's fee from `payouts_in_flight`, and
    /// debited by the same fee leaving the platform's bank, so its posted sides are the fees paid.
    pub fn payout_fees(&self, c: u8) -> AccountId {
        self.base(c) + PAYOUT_FEES
    }
    /// Merchant loans' principal outstanding (docs/CREDIT.md, section 7): a debit balance.
    pub fn loans_receivable(&self, c: u8) -> AccountId {
        self.base(c) + LOANS_RECEIVABLE
    }
    /// Merchant loans' interest accrued and not repaid: a debit balance.
    pub fn interest_receivable(&self, c: u8) -> AccountId {
        self.base(c) + INTEREST_RECEIVABLE
    }
    /// All interest merchant loans ever accrued: a credit balance.
    pub fn interest_income(&self, c: u8) -> AccountId {
        self.base(c) + INTEREST_INCOME
    }
    /// Defaulted loans written off, less what was recovered since: a debit balance.
    pub fn loan_write_offs(&self, c: u8) -> AccountId {
        self.base(c) + LOAN_WRITE_OFFS
    }
    /// What channels took back for open disputes, amount and fee (a debit balance;
    /// docs/DISPUTES.md, section 2).
    pub fn disputes_pending(&self, c: u8) -> AccountId {
        self.base(c) + DISPUTES_PENDING
    }
    /// What parties gave for open disputes, returned on Won (a credit balance).
    pub fn dispute_holds(&self, c: u8) -> AccountId {
        self.base(c) + DISPUTE_HOLDS
    }
    /// What parties owe for disputes their available balance could not cover (a debit balance).
    pub fn dispute_receivable(&self, c: u8) -> AccountId {
        self.base(c) + DISPUTE_RECEIVABLE
    }
    /// Σ holders' positions in the money-market fund, principal and accrued yield (a credit
    /// balance; docs/YIELD.md, section 2).
    pub fn yield_holdings(&self, c: u8) -> AccountId {
        self.base(c) + YIELD_HOLDINGS
    }
    /// The fund as a counterparty: every yield it declared for our holders (a debit balance).
    pub fn yield_fund(&self, c: u8) -> AccountId {
        self.base(c) + YIELD_FUND
    }
    /// What rounding left of the fund's daily yield totals (a credit balance).
    pub fn yield_residual(&self, c: u8) -> AccountId {
        self.base(c) + YIELD_RESIDUAL
    }
    /// Redemptions queued above the daily instant limit, owed on the next working day (a
    /// credit balance).
    pub fn yield_redemptions(&self, c: u8) -> AccountId {
        self.base(c) + YIELD_REDEMPTIONS
    }
    /// What payers owe on open installment plans: principal, scheduled interest and late fees
    /// unpaid (a debit balance; docs/INSTALLMENTS.md, section 3).
    pub fn installment_receivable(&self, c: u8) -> AccountId {
        self.base(c) + INSTALLMENT_RECEIVABLE
    }
    /// The funding partner's cash in plans: advanced less received (a credit balance while
    /// plans are outstanding).
    pub fn installment_funding(&self, c: u8) -> AccountId {
        self.base(c) + INSTALLMENT_FUNDING
    }
    /// Scheduled installment interest not yet paid (a credit balance).
    pub fn installment_unearned_interest(&self, c: u8) -> AccountId {
        self.base(c) + INSTALLMENT_UNEARNED
    }
    /// Installment interest earned and late fees charged (a credit balance).
    pub fn installment_income(&self, c: u8) -> AccountId {
        self.base(c) + INSTALLMENT_INCOME
    }
    /// Defaulted plans written off, less what refunds recovered (a debit balance).
    pub fn installment_write_offs(&self, c: u8) -> AccountId {
        self.base(c) + INSTALLMENT_WRITE_OFFS
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
        self.base(c)
            + FIXED_ACCOUNTS
            + self.channels_max
            + party_slot * PARTY_ACCOUNTS
            + which as u32
    }

    pub fn account(&self, id: AccountId) -> &Account {
        &self.accounts[id as usize]
    }

    /// A bound on how far any account (either side, pending included) or any party's total can
    /// reach: the larger of all debits and all credits, posted and pending, over every account.
    /// While it and what one input adds stay under `BALANCE_MAX_MINOR`, nothing can pass the
    /// limit, and the per-account checks are skipped (the common case by many orders of
    /// magnitude: the bound grows by a few times each amount moved, for ever).
    #[inline]
    pub fn reach_bound(&self) -> u128 {
        let t = &self.totals;
        (t.debits_posted + t.debits_pending).max(t.credits_posted + t.credits_pending)
    }

    /// The most a party's total in a currency (pending + available + frozen + reserve) can come
    /// to: `Account::credit_balance_reach` of its four accounts.
    pub fn party_total_reach(&self, c: u8, party_slot: u32) -> i128 {
        PartyAccount::ALL
            .map(|which| {
                self.account(self.party(c, party_slot, which))
                    .credit_balance_reach()
            })
            .iter()
            .sum()
    }

    fn amount(amount_minor: i64) -> u128 {
        assert!(amount_minor >= 0, "transfer amount must not be negative");
        amount_minor as u128
    }

    /// Adds `amount` to posted (or pending) debits of `debit` and credits of `credit`, and to the
    /// running totals. The sums are u128 of i64 amounts: 2^64 transfers of the largest amount
    /// would not overflow them (debug builds check it anyway). The money limits are asserted once
    /// per input (`Engine::apply`: `limits_hold`), not per transfer.
    #[inline(always)]
    fn add(&mut self, debit: AccountId, credit: AccountId, amount: u128, pending: bool) {
        assert_ne!(debit, credit, "a transfer needs two accounts");
        let (d, c) = (debit as usize, credit as usize);
        self.touched |= self.watch[d] | self.watch[c];
        if pending {
            self.accounts[d].debits_pending += amount;
            self.accounts[c].credits_pending += amount;
            self.totals.debits_pending += amount;
            self.totals.credits_pending += amount;
        } else {
            self.accounts[d].debits_posted += amount;
            self.accounts[c].credits_posted += amount;
            self.totals.debits_posted += amount;
            self.totals.credits_posted += amount;
        }
    }

    /// Posts a transfer at once.
    #[inline]
    pub fn post(&mut self, debit: AccountId, credit: AccountId, amount_minor: i64) {
        let amount = Self::amount(amount_minor);
        if amount == 0 {
            return;
        }
        self.recorder
            .record(TransferPhase::Post, debit, credit, amount_minor);
        self.add(debit, credit, amount, false);
        self.transfers += 1;
    }

    /// Posts a signed amount: `debit` ← `credit` when positive, the other way when negative
    /// (a channel's settlement or write-off may go either way). `amount_minor` is never
    /// `i64::MIN` (refused before: it is past the largest balance either way).
    pub fn post_signed(&mut self, debit: AccountId, credit: AccountId, amount_minor: i64) {
        assert_ne!(
            amount_minor,
            i64::MIN,
            "a signed transfer within the largest balance"
        );
        if amount_minor >= 0 {
            self.post(debit, credit, amount_minor);
        } else {
            self.post(credit, debit, -amount_minor);
        }
    }

    /// Reserves a transfer (two-phase: pending until posted or voided).
    #[inline]
    pub fn reserve(&mut self, debit: AccountId, credit: AccountId, amount_minor: i64) {
        let amount = Self::amount(amount_minor);
        if amount == 0 {
            return;
        }
        self.recorder
            .record(TransferPhase::Reserve, debit, credit, amount_minor);
        self.add(debit, credit, amount, true);
        self.transfers += 1;
    }

    /// Posts a transfer reserved earlier with the same accounts and amount.
    #[inline]
    pub fn post_reserved(&mut self, debit: AccountId, credit: AccountId, amount_minor: i64) {
        let amount = Self::amount(amount_minor);
        if amount == 0 {
            return;
        }
        self.recorder
            .record(TransferPhase::PostReserved, debit, credit, amount_minor);
        self.unreserve(debit, credit, amount);
        self.add(debit, credit, amount, false);
    }

    /// Voids a transfer reserved earlier with the same accounts and amount.
    #[inline]
    pub fn void_reserved(&mut self, debit: AccountId, credit: AccountId, amount_minor: i64) {
        let amount = Self::amount(amount_minor);
        if amount == 0 {
            return;
        }
        self.recorder
            .record(TransferPhase::VoidReserved, debit, credit, amount_minor);
        self.unreserve(debit, credit, amount);
    }

    /// Takes a reservation back off both accounts and the totals.
    #[inline(always)]
    fn unreserve(&mut self, debit: AccountId, credit: AccountId, amount: u128) {
        self.touched |= self.watch[debit as usize] | self.watch[credit as usize];
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

    /// Whether every account and party is within the money limits: at once while the global
    /// bound holds (`reach_bound`), else by checking every one (`verify`; that far from today's
    /// volumes it never happens, and then it costs a walk of the accounts per input).
    #[inline]
    pub fn limits_hold(&self) -> Result<(), String> {
        if self.reach_bound() <= BALANCE_MAX_MINOR as u128 {
            return Ok(());
        }
        self.verify()
    }

    /// Recomputes the totals from every account and checks them against the running totals, and
    /// checks every account and every party's total in each currency within the money limits (so
    /// that a figure past them, saturated or wrapped, can never pass for a balanced ledger).
    pub fn verify(&self) -> Result<(), String> {
        let mut sum = Account::default();
        for (id, a) in self.accounts.iter().enumerate() {
            sum.debits_pending += a.debits_pending;
            sum.debits_posted += a.debits_posted;
            sum.credits_pending += a.credits_pending;
            sum.credits_posted += a.credits_posted;
            if !a.within_limit() {
                return Err(format!(
                    "account {id} passes the largest balance {BALANCE_MAX_MINOR}: {a:?}"
                ));
            }
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
        let currencies = self.accounts.len() as u32 / self.per_currency;
        for c in 0..currencies {
            for party in 0..self.parties_max {
                let total = self.party_total_reach(c as u8, party);
                if total > i128::from(BALANCE_MAX_MINOR) {
                    return Err(format!(
                        "party slot {party} in currency slot {c} can reach {total}, past the \
                         largest balance {BALANCE_MAX_MINOR}"
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn totals(&self) -> &Account {
        &self.totals
    }

    pub fn transfers(&self) -> u64 {
        self.transfers
    }

    /// What account `id` is: its currency slot and kind (`None` past the ledger).
    pub fn describe(&self, id: AccountId) -> Option<(u8, AccountKind)> {
        if id as usize >= self.accounts.len() {
            return None;
        }
        let slot = u8::try_from(id / self.per_currency).ok()?;
        let at = id % self.per_currency;
        let kind = match at {
            CLEARING => AccountKind::Clearing,
            PLATFORM_REVENUE => AccountKind::PlatformRevenue,
            FEE_EXPENSE => AccountKind::FeeExpense,
            PAYOUTS => AccountKind::Payouts,
            REVERSALS_PAYABLE => AccountKind::ReversalsPayable,
            PLATFORM_BANK => AccountKind::PlatformBank,
            CHANNEL_FEE_DIFFERENCES => AccountKind::ChannelFeeDifferences,
            CHANNEL_WRITE_OFFS => AccountKind::ChannelWriteOffs,
            PAYOUTS_IN_FLIGHT => AccountKind::PayoutsInFlight,
            PAYOUT_FEES => AccountKind::PayoutFees,
            DISPUTES_PENDING => AccountKind::DisputesPending,
            DISPUTE_HOLDS => AccountKind::DisputeHolds,
            DISPUTE_RECEIVABLE => AccountKind::DisputeReceivable,
            YIELD_HOLDINGS => AccountKind::YieldHoldings,
            YIELD_FUND => AccountKind::YieldFund,
            YIELD_RESIDUAL => AccountKind::YieldResidual,
            YIELD_REDEMPTIONS => AccountKind::YieldRedemptions,
            INSTALLMENT_RECEIVABLE => AccountKind::InstallmentReceivable,
            INSTALLMENT_FUNDING => AccountKind::InstallmentFunding,
            INSTALLMENT_UNEARNED => AccountKind::InstallmentUnearnedInterest,
            INSTALLMENT_INCOME => AccountKind::InstallmentIncome,
            INSTALLMENT_WRITE_OFFS => AccountKind::InstallmentWriteOffs,
            LOANS_RECEIVABLE => AccountKind::LoansReceivable,
            INTEREST_RECEIVABLE => AccountKind::InterestReceivable,
            INTEREST_INCOME => AccountKind::InterestIncome,
            LOAN_WRITE_OFFS => AccountKind::LoanWriteOffs,
            // Every fixed index is named above.
            _ if at < FIXED_ACCOUNTS => return None,
            _ if at < FIXED_ACCOUNTS + self.channels_max => {
                AccountKind::ChannelReceivable(at - FIXED_ACCOUNTS)
            }
            _ => {
                let p = at - FIXED_ACCOUNTS - self.channels_max;
                let which = PartyAccount::ALL[(p % PARTY_ACCOUNTS) as usize];
                AccountKind::Party(p / PARTY_ACCOUNTS, which)
            }
        };
        Some((slot, kind))
    }

    pub(crate) fn recorder(&self) -> &TransferRecorder {
        &self.recorder
    }

    pub(crate) fn recorder_mut(&mut self) -> &mut TransferRecorder {
        &mut self.recorder
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
    fn transfers_mark_the_watch_groups_they_move() {
        let mut l = Ledger::new(2, 3, 4);
        let (clearing, party) = (l.clearing(1), l.party(1, 3, PartyAccount::Available));
        l.post(clearing, party, 5);
        assert_eq!(l.take_touched(), 0, "no watched account moved");
        l.reserve(party, l.payouts_in_flight(1), 5);
        assert_eq!(l.take_touched(), watch::PAYOUTS);
        assert_eq!(l.take_touched(), 0, "taking clears");
        l.void_reserved(party, l.payouts_in_flight(1), 5);
        l.post(l.dispute_receivable(0), l.clearing(0), 1);
        assert_eq!(l.take_touched(), watch::PAYOUTS | watch::DISPUTES);
        // A zero amount moves nothing.
        l.post(l.disputes_pending(1), clearing, 0);
        assert_eq!(l.take_touched(), 0);
        // The map is derived from the layout: a rebuilt ledger agrees account by account.
        let watch = l.watch.clone();
        l.rebuild_watch();
        assert_eq!(l.watch, watch);
        let groups = |c| {
            [l.payouts_in_flight(c), l.payout_fees(c)]
                .map(|id| l.watch[id as usize])
                .into_iter()
                .chain(
                    [
                        l.disputes_pending(c),
                        l.dispute_holds(c),
                        l.dispute_receivable(c),
                    ]
                    .map(|id| l.watch[id as usize]),
                )
                .collect::<Vec<_>>()
        };
        for c in 0..2 {
            assert_eq!(groups(c), [1, 1, 2, 2, 2]);
        }
        assert_eq!(l.watch.iter().filter(|&&w| w != 0).count(), 2 * (5 + 13));
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
                l.platform_bank(c),
                l.channel_fee_differences(c),
                l.channel_write_offs(c),
                l.payouts_in_flight(c),
                l.payout_fees(c),
                l.disputes_pending(c),
                l.dispute_holds(c),
                l.dispute_receivable(c),
                l.yield_holdings(c),
                l.yield_fund(c),
                l.yield_residual(c),
                l.yield_redemptions(c),
                l.installment_receivable(c),
                l.installment_funding(c),
                l.installment_unearned_interest(c),
                l.installment_income(c),
                l.installment_write_offs(c),
                l.loans_receivable(c),
                l.interest_receivable(c),
                l.interest_income(c),
                l.loan_write_offs(c),
            ]);
            for ch in 0..3 {
                ids.push(l.channel_receivable(c, ch));
            }
            for p in 0..4 {
                for w in PartyAccount::ALL {
                    ids.push(l.party(c, p, w));
                    assert_eq!(
                        l.describe(l.party(c, p, w)),
                        Some((c, AccountKind::Party(p, w)))
                    );
                }
            }
        }
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert!(ids.iter().all(|&i| (i as usize) < l.accounts_len()));
    }

    #[test]
    fn every_account_reaches_at_most_i64_max_either_way_pending_included() {
        let mut l = Ledger::new(1, 2, 2);
        let (rx, clearing) = (l.channel_receivable(0, 0), l.clearing(0));
        l.reserve(rx, clearing, i64::MAX);
        let a = l.account(rx);
        assert_eq!((a.debit_reach(), a.credit_reach()), (i64::MAX as u128, 0));
        l.post_reserved(rx, clearing, i64::MAX);
        // Leaning to the debit side by i64::MAX, it can take any credit of up to 2 × i64::MAX.
        l.post(clearing, rx, i64::MAX);
        l.post(clearing, rx, i64::MAX);
        let a = l.account(rx);
        assert_eq!((a.debit_reach(), a.credit_reach()), (0, i64::MAX as u128));
        l.verify().unwrap();
    }

    /// A transfer past the largest balance is a bug the engine asserts after the input
    /// (`Engine::apply`); `limits_hold` finds it, and is free while the global bound holds.
    #[test]
    fn a_transfer_past_the_largest_balance_breaks_the_limits() {
        let mut l = Ledger::new(1, 2, 2);
        let (rx, clearing) = (l.channel_receivable(0, 0), l.clearing(0));
        l.reserve(rx, clearing, i64::MAX / 4);
        assert!(l.reach_bound() <= BALANCE_MAX_MINOR as u128);
        l.limits_hold().unwrap();
        l.reserve(rx, clearing, i64::MAX - i64::MAX / 4 + 1);
        assert!(l.reach_bound() > BALANCE_MAX_MINOR as u128);
        let e = l.limits_hold().unwrap_err();
        assert!(e.contains("passes the largest balance"), "{e}");
    }

    #[test]
    fn verify_refuses_a_party_total_past_the_largest_balance() {
        let mut l = Ledger::new(1, 2, 2);
        let pending = l.party(0, 1, PartyAccount::Pending);
        let available = l.party(0, 1, PartyAccount::Available);
        let half = i64::MAX / 2 + 1;
        l.post(l.channel_receivable(0, 0), pending, half);
        l.verify().unwrap();
        assert_eq!(l.party_total_reach(0, 1), i128::from(half));
        // Each account within the limit, the party's total past it.
        l.post(l.channel_receivable(0, 1), available, half);
        assert_eq!(l.party_total_reach(0, 1), 2 * i128::from(half));
        let why = l.verify().unwrap_err();
        assert!(why.contains("party slot 1"), "{why}");
    }
}
