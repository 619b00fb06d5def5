//! Money limits (docs/ENGINE.md, "Money limits"): the largest balance is `BALANCE_MAX_MINOR`
//! (i64::MAX minor units) for every ledger account, on either side and pending included, and for
//! every party's total in a currency. An input that could take one past it is refused
//! `BalanceOverflow` before it changes anything: this module says whether it fits, from the ledger
//! as it stands and the most the input may add to each account (`Additions`).
//!
//! What may be added is counted without what may be taken away (a void, the other side of a
//! transfer to the same account), and every addition as if it were pending: the check can refuse
//! an input a hair short of the limit that would in fact fit, never pass one that does not.

use arrayvec::ArrayVec;
use sluice_protocol::PaymentRequest;

use crate::core::Engine;
use crate::ledger::{AccountId, BALANCE_MAX_MINOR, Ledger, PartyAccount};
use crate::routing::method_fee;

/// Most accounts one input adds to: a payment's candidate receivables (8), clearing, platform
/// revenue, fee expense and five parties; a refund's clearing, receivable and eight lines.
const ADDITIONS_MAX: usize = 24;

/// Most parties a payment credits: the merchant, its parent and grandparent, two promoters.
const PAYEES_MAX: usize = 5;

/// What an input may add to ledger accounts, per account: to its debit side and to its credit side;
/// and to parties' totals (credits to their accounts, through `credit_party`).
#[derive(Debug, Default)]
pub(crate) struct Additions {
    /// (account, debits, credits), one entry per account.
    accounts: ArrayVec<(AccountId, u128, u128), ADDITIONS_MAX>,
    /// (currency slot, party slot, credits), one entry per party.
    parties: ArrayVec<(u8, u32, u128), PAYEES_MAX>,
}

impl Additions {
    pub(crate) fn debit(&mut self, account: AccountId, amount_minor: i64) {
        self.add(account, amount_minor, 0);
    }

    /// A signed transfer (`Ledger::post_signed`): debit ← credit when positive, the other way
    /// when negative. Not for `i64::MIN` (refused before: `signed_amount_fits`).
    pub(crate) fn signed(&mut self, debit: AccountId, credit: AccountId, amount_minor: i64) {
        let (d, c) = match amount_minor >= 0 {
            true => (debit, credit),
            false => (credit, debit),
        };
        let amount = amount_minor.checked_abs().expect("not i64::MIN");
        self.debit(d, amount);
        self.credit(c, amount);
    }

    /// A credit to an account that is not a party's (a party's total would not count it).
    pub(crate) fn credit(&mut self, account: AccountId, amount_minor: i64) {
        self.add(account, 0, amount_minor);
    }

    /// A credit to one of a party's accounts, which its total counts too. (A debit never raises a
    /// party's total: `debit` does for those.)
    pub(crate) fn credit_party(
        &mut self,
        ledger: &Ledger,
        c: u8,
        party_slot: u32,
        which: PartyAccount,
        amount_minor: i64,
    ) {
        self.add(ledger.party(c, party_slot, which), 0, amount_minor);
        let amount = amount_minor as u128;
        if let Some(e) = self
            .parties
            .iter_mut()
            .find(|e| (e.0, e.1) == (c, party_slot))
        {
            e.2 += amount;
            return;
        }
        // PAYEES_MAX counts the parties of the largest input (a payment's).
        assert!(!self.parties.is_full(), "more parties than PAYEES_MAX");
        self.parties.push((c, party_slot, amount));
    }

    fn add(&mut self, account: AccountId, debit_minor: i64, credit_minor: i64) {
        assert!(
            debit_minor >= 0 && credit_minor >= 0,
            "an addition is not negative"
        );
        let (debit, credit) = (debit_minor as u128, credit_minor as u128);
        if let Some(e) = self.accounts.iter_mut().find(|e| e.0 == account) {
            e.1 += debit;
            e.2 += credit;
            return;
        }
        // ADDITIONS_MAX counts the accounts of the largest input above.
        assert!(!self.accounts.is_full(), "more accounts than ADDITIONS_MAX");
        self.accounts.push((account, debit, credit));
    }

    /// Whether every account, with all its additions, stays within the largest balance: each
    /// side's pending transfers and reach (`Account::debit_reach`), and every party's total.
    pub(crate) fn fit(&self, ledger: &Ledger) -> bool {
        let max = BALANCE_MAX_MINOR as u128;
        let accounts_fit = self.accounts.iter().all(|&(id, debit, credit)| {
            let a = ledger.account(id);
            a.debits_pending + debit <= max
                && a.debit_reach() + debit <= max
                && a.credits_pending + credit <= max
                && a.credit_reach() + credit <= max
        });
        let parties_fit = self.parties.iter().all(|&(c, party_slot, credits)| {
            let credits = i128::try_from(credits).expect("a few i64 additions fit an i128");
            ledger.party_total_reach(c, party_slot) + credits <= i128::from(BALANCE_MAX_MINOR)
        });
        accounts_fit && parties_fit
    }
}

/// A channel that may capture a payment, with the fee it would charge.
#[derive(Debug, Clone, Copy)]
struct Capturer {
    channel_slot: u32,
    fee_minor: i64,
}

/// What a payment needs checked: who may be credited and by which channels.
struct Exposure {
    currency_slot: u8,
    amount_minor: i64,
    /// The parties that may take a split line (each could take the whole amount).
    payees: ArrayVec<u32, PAYEES_MAX>,
    capturers: ArrayVec<Capturer, { sluice_protocol::MAX_ROUTE_CHANNELS }>,
    /// The amount is already reserved on the capturer's receivable and on clearing (a capture
    /// of a dispatched attempt arriving).
    reserved: bool,
}

impl Engine {
    /// Whether payment `req` (validated: merchant in `merchant_slot`, currency in
    /// `currency_slot`) fits the money limits whichever of its candidate channels captures it: its
    /// amount against its receivable, clearing, platform revenue and the pending income of every
    /// party that may take a line; the largest candidate fee against fee expense. False also when
    /// a candidate's fee would not fit an i64 at all. Candidates are the merchant's configured
    /// channels that take the method, the currency and the amount (activity and health change,
    /// so they count either way).
    pub(crate) fn payment_fits(
        &self,
        req: &PaymentRequest,
        merchant_slot: u32,
        currency_slot: u8,
    ) -> bool {
        // Any channel's fee is at most the amount plus the largest fixed fee ever configured.
        let fee_bound = req.amount_minor.saturating_add(self.state.fee_fixed_max);
        if fee_bound < i64::MAX && self.under_global_bound(req.amount_minor, fee_bound) {
            return true;
        }
        let m = &self.state.merchants[merchant_slot as usize];
        let mut capturers = ArrayVec::new();
        for &(channel_id, _) in &m.channels {
            let Some(&channel_slot) = self.index.channels.get(&channel_id) else {
                continue;
            };
            let ch = &self.state.channels[channel_slot as usize];
            let takes = ch.currency_mask & (1 << (currency_slot & 7)) != 0
                && (ch.min_amount_minor..=ch.max_amount_minor).contains(&req.amount_minor);
            match method_fee(ch, req.method, req.amount_minor) {
                Some(Some(fee_minor)) if takes => capturers.push(Capturer {
                    channel_slot,
                    fee_minor,
                }),
                Some(None) if takes => return false,
                _ => {}
            }
        }
        let exposure = Exposure {
            currency_slot,
            amount_minor: req.amount_minor,
            payees: self.payees(merchant_slot, req.promoter_id),
            capturers,
            reserved: false,
        };
        self.exposure_fits(&exposure)
    }

    /// The fee to book for a capture of order `order_slot` by the channel in `channel_slot`, if
    /// the payment can keep it: None when the fee would not fit an i64, or the capture would take
    /// an account or a party's total past the largest balance (payments captured since the
    /// request, or a fee configured since). A channel that no longer lists the payment's method
    /// charges no fee. `reserved`: whether the attempt's amount is still reserved on the
    /// channel's receivable and clearing (a pending attempt's is).
    pub(crate) fn capture_fee(
        &self,
        order_slot: u32,
        channel_slot: u32,
        reserved: bool,
    ) -> Option<i64> {
        let o = &self.state.orders[order_slot as usize];
        let ch = &self.state.channels[channel_slot as usize];
        let fee_minor = method_fee(ch, o.method, o.amount_minor).unwrap_or(Some(0))?;
        self.capture_fits(order_slot, channel_slot, fee_minor, reserved)
            .then_some(fee_minor)
    }

    /// Whether a capture of order `order_slot` by the channel in `channel_slot` with fee
    /// `fee_minor` fits the money limits (see `capture_fee`).
    pub(crate) fn capture_fits(
        &self,
        order_slot: u32,
        channel_slot: u32,
        fee_minor: i64,
        reserved: bool,
    ) -> bool {
        let o = &self.state.orders[order_slot as usize];
        if self.under_global_bound(o.amount_minor, fee_minor) {
            return true;
        }
        let mut capturers = ArrayVec::new();
        capturers.push(Capturer {
            channel_slot,
            fee_minor,
        });
        let exposure = Exposure {
            currency_slot: o.currency_slot,
            amount_minor: o.amount_minor,
            payees: self.payees(o.merchant_slot, o.promoter_id),
            capturers,
            reserved,
        };
        self.exposure_fits(&exposure)
    }

    /// Whether a payout of `amount_minor` and `fee_minor` from account `source` in currency `c`
    /// fits the money limits over its whole life: reserved to `payouts_in_flight`, then the
    /// amount and the fee leave the platform's bank (the fee through `payout_fees`). A return
    /// brings back to `source` and the bank part of what the payout took from them, never more,
    /// so it needs no room of its own.
    pub(crate) fn payout_fits(
        &self,
        c: u8,
        source: AccountId,
        amount_minor: i64,
        fee_minor: i64,
    ) -> bool {
        let ledger = &self.state.ledger;
        let Some(total) = amount_minor.checked_add(fee_minor) else {
            return false;
        };
        let mut additions = Additions::default();
        additions.debit(source, total);
        additions.credit(ledger.payouts_in_flight(c), total);
        additions.debit(ledger.payouts_in_flight(c), total);
        additions.credit(ledger.platform_bank(c), total);
        additions.credit(ledger.payout_fees(c), fee_minor);
        additions.debit(ledger.payout_fees(c), fee_minor);
        additions.fit(ledger)
    }

    /// The parties a payment to the merchant in `merchant_slot` with promoter `promoter_id` may
    /// credit: the merchant, its parent and grandparent, the promoter and its parent (active or
    /// not: that may change before the capture), each once.
    fn payees(&self, merchant_slot: u32, promoter_id: u32) -> ArrayVec<u32, PAYEES_MAX> {
        let s = &self.state;
        let mut payees = ArrayVec::new();
        let merchant = &s.merchants[merchant_slot as usize];
        let parent = merchant
            .parent_slot
            .map(|p| &s.merchants[p.index() as usize]);
        let grandparent = parent
            .and_then(|p| p.parent_slot)
            .map(|g| &s.merchants[g.index() as usize]);
        let promoter = (self.index.promoters.get(&promoter_id)).map(|&p| &s.promoters[p as usize]);
        let promoter_parent = promoter
            .and_then(|p| p.parent_slot)
            .map(|p| &s.promoters[p.index() as usize]);
        let slots = [Some(merchant), parent, grandparent]
            .map(|m| m.map(|m| m.party_slot))
            .into_iter()
            .chain([promoter, promoter_parent].map(|p| p.map(|p| p.party_slot)));
        for party_slot in slots.flatten() {
            if !payees.contains(&party_slot) {
                payees.push(party_slot);
            }
        }
        payees
    }

    /// Whether every account a payment may touch stays within the limits, whichever capturer
    /// takes it (docs/ENGINE.md, "Ledger"): the dispatch reserves the amount from the channel's
    /// receivable to clearing; the capture posts it, books the fee (fee expense to receivable)
    /// and posts each split line out of clearing (to platform revenue, fee expense for the fee
    /// cover, or a party's pending income). Clearing's debits at the capture only match the
    /// credit the reservation posts, so they add nothing to its reach.
    /// The fast path: whether the ledger's global reach bound (`Ledger::reach_bound`) plus twice
    /// what one payment can add to any one account side or party total (its amount and its
    /// largest fee) is still within the largest balance; then no account or party can pass it
    /// and the per-account walk is not needed.
    #[inline]
    fn under_global_bound(&self, amount_minor: i64, fee_max: i64) -> bool {
        let adds = 2 * (amount_minor.max(0) as u128 + fee_max.max(0) as u128);
        self.state.ledger.reach_bound() + adds <= BALANCE_MAX_MINOR as u128
    }

    fn exposure_fits(&self, e: &Exposure) -> bool {
        let ledger = &self.state.ledger;
        let (c, amount) = (e.currency_slot, e.amount_minor);
        let mut additions = Additions::default();
        let fee_max = e.capturers.iter().map(|x| x.fee_minor).max().unwrap_or(0);
        for x in &e.capturers {
            let rx = ledger.channel_receivable(c, x.channel_slot);
            if !e.reserved {
                additions.debit(rx, amount);
            }
            additions.credit(rx, x.fee_minor);
        }
        if !e.reserved {
            additions.credit(ledger.clearing(c), amount);
        }
        additions.debit(ledger.fee_expense(c), fee_max);
        additions.credit(ledger.fee_expense(c), fee_max.min(amount));
        additions.credit(ledger.platform_revenue(c), amount);
        for &party_slot in &e.payees {
            additions.credit_party(ledger, c, party_slot, PartyAccount::Pending, amount);
        }
        additions.fit(ledger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additions_fit_each_side_with_what_is_pending_and_party_totals_together() {
        let mut l = Ledger::new(1, 2, 2);
        let (rx, clearing) = (l.channel_receivable(0, 0), l.clearing(0));
        l.reserve(rx, clearing, i64::MAX - 10);
        let fits = |l: &Ledger, f: &dyn Fn(&mut Additions)| {
            let mut a = Additions::default();
            f(&mut a);
            a.fit(l)
        };
        assert!(fits(&l, &|a| a.debit(rx, 10)));
        assert!(!fits(&l, &|a| a.debit(rx, 11)));
        // Additions to one account add up.
        assert!(!fits(&l, &|a| {
            a.debit(rx, 6);
            a.debit(rx, 5);
        }));
        // The credit side has all its room: what is reserved on the debit side may be voided.
        assert!(fits(&l, &|a| a.credit(rx, i64::MAX)));
        assert!(!fits(&l, &|a| a.credit(clearing, 11)));
        // A party's total counts the credits to all three of its accounts.
        let pending = l.party(0, 1, PartyAccount::Pending);
        l.post(l.channel_receivable(0, 1), pending, i64::MAX / 2);
        let (pending_, available) = (PartyAccount::Pending, PartyAccount::Available);
        assert!(fits(&l, &|a| a.credit_party(
            &l,
            0,
            1,
            available,
            i64::MAX / 2 + 1
        )));
        assert!(!fits(&l, &|a| {
            a.credit_party(&l, 0, 1, available, i64::MAX / 4);
            a.credit_party(&l, 0, 1, pending_, i64::MAX / 4 + 3);
        }));
        // Another party's total is its own.
        assert!(fits(&l, &|a| a.credit_party(&l, 0, 0, pending_, i64::MAX)));
        // Debits never raise a party's total.
        assert!(fits(&l, &|a| a.debit(pending, 1)));
    }
}
