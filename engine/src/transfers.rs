//! The ledger transfer recorder (docs/STORE.md, section 1): ledger transfers appear in no output,
//! so an engine that exports the flow (the exporter's follower) asks the ledger to record every
//! transfer an input makes. Off on the live engine (one predictable branch per transfer); cleared
//! at the start of each applied input. It is not part of the state: the ledger skips it when
//! archived, so snapshots, `STATE_FORMAT` and the state hash do not change.
//!
//! [`AccountKind`] names an account by what it is (currency slot and kind), and
//! [`Engine::describe_account`] maps the slots to ids and roles through the engine's state.

use sluice_protocol::PartyKind;

use crate::Engine;
use crate::ledger::{AccountId, PartyAccount};

/// How a transfer moved money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferPhase {
    /// Posted at once.
    Post,
    /// Reserved (pending).
    Reserve,
    /// A reserved transfer posted.
    PostReserved,
    /// A reserved transfer voided.
    VoidReserved,
}

impl TransferPhase {
    /// The name the flow store uses.
    pub fn name(self) -> &'static str {
        match self {
            TransferPhase::Post => "post",
            TransferPhase::Reserve => "reserve",
            TransferPhase::PostReserved => "post_reserved",
            TransferPhase::VoidReserved => "void_reserved",
        }
    }
}

/// One recorded transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub phase: TransferPhase,
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount_minor: i64,
}

/// The recorder the ledger carries (skipped by the archive: a restored engine records nothing
/// until asked again).
#[derive(Debug, Clone, Default)]
pub struct TransferRecorder {
    on: bool,
    transfers: Vec<Transfer>,
}

impl TransferRecorder {
    #[inline(always)]
    pub(crate) fn record(
        &mut self,
        phase: TransferPhase,
        debit: AccountId,
        credit: AccountId,
        amount_minor: i64,
    ) {
        if self.on {
            self.push(phase, debit, credit, amount_minor);
        }
    }

    /// Out of line, so that `Ledger::post` stays small enough to inline where the recorder is off
    /// (the live engine): the engine benchmark's A/B measures it (BENCHMARKS.md).
    #[cold]
    #[inline(never)]
    fn push(
        &mut self,
        phase: TransferPhase,
        debit: AccountId,
        credit: AccountId,
        amount_minor: i64,
    ) {
        self.transfers.push(Transfer {
            phase,
            debit,
            credit,
            amount_minor,
        });
    }

    #[inline(always)]
    pub(crate) fn clear(&mut self) {
        if self.on {
            self.transfers.clear();
        }
    }

    pub(crate) fn set(&mut self, on: bool) {
        self.on = on;
        self.transfers.clear();
    }

    pub(crate) fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }
}

/// What an account is, by slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    Clearing,
    PlatformRevenue,
    FeeExpense,
    Payouts,
    ReversalsPayable,
    /// What channels paid into the platform's bank (docs/RECONCILIATION.md, section 6).
    PlatformBank,
    /// Channel fees charged beyond (or short of) what the platform booked.
    ChannelFeeDifferences,
    /// Receivables written off by resolved discrepancies.
    ChannelWriteOffs,
    /// Payouts in review or at a payout channel (docs/PAYOUTS.md, section 4).
    PayoutsInFlight,
    /// Payout channels' fees.
    PayoutFees,
    /// What channels took back for open disputes (docs/DISPUTES.md, section 2).
    DisputesPending,
    /// What parties gave for open disputes.
    DisputeHolds,
    /// What parties owe for disputes.
    DisputeReceivable,
    /// Σ holders' positions in the money-market fund (docs/YIELD.md, section 2).
    YieldHoldings,
    /// The fund as a counterparty: the yield it declared.
    YieldFund,
    /// What rounding left of the fund's daily yield totals.
    YieldResidual,
    /// Redemptions queued for the next working day.
    YieldRedemptions,
    /// What payers owe on installment plans (docs/INSTALLMENTS.md, section 3).
    InstallmentReceivable,
    /// The funding partner's cash in installment plans.
    InstallmentFunding,
    /// Scheduled installment interest not yet paid.
    InstallmentUnearnedInterest,
    /// Installment interest earned and late fees.
    InstallmentIncome,
    /// Defaulted installment plans written off.
    InstallmentWriteOffs,
    /// Merchant loans' principal outstanding (docs/CREDIT.md).
    LoansReceivable,
    /// Merchant loans' interest accrued and not repaid.
    InterestReceivable,
    /// Interest merchant loans accrued.
    InterestIncome,
    /// Defaulted loans written off, less recoveries.
    LoanWriteOffs,
    /// A channel's receivable (channel slot).
    ChannelReceivable(u32),
    /// A party's account (party slot, which of its four).
    Party(u32, PartyAccount),
}

/// An account as the flow store names it: kind, owner id and the owner's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountName {
    /// ISO 4217 numeric code of the account's currency.
    pub currency: u16,
    /// `clearing`, `platform_revenue`, `fee_expense`, `payouts`, `reversals_payable`,
    /// `platform_bank`, `channel_fee_differences`, `channel_write_offs`, `payouts_in_flight`,
    /// `payout_fees`, `disputes_pending`, `dispute_holds`, `dispute_receivable`,
    /// `yield_holdings`, `yield_fund`, `yield_residual`, `yield_redemptions`, `channel_receivable`, `pending`, `available`, `frozen` or `reserve`.
    /// `installment_receivable`, `installment_funding`, `installment_unearned_interest`,
    /// `installment_income`, `installment_write_offs`, `loans_receivable`,
    /// `interest_receivable`, `interest_income`, `loan_write_offs`,
    /// `channel_receivable`, `pending`, `available`, `frozen` or `reserve`.
    pub kind: &'static str,
    /// The channel or party id (0 for the platform's accounts).
    pub owner: u32,
    /// The party's kind (`None` for accounts that are not a party's).
    pub party: Option<PartyKind>,
}

impl PartyAccount {
    /// The name the flow store uses.
    pub fn name(self) -> &'static str {
        match self {
            PartyAccount::Pending => "pending",
            PartyAccount::Available => "available",
            PartyAccount::Frozen => "frozen",
            PartyAccount::Reserve => "reserve",
        }
    }
}

impl Engine {
    /// Starts (or stops) recording ledger transfers (the exporter's engine; never the live one).
    pub fn record_transfers(&mut self, on: bool) {
        self.state.ledger.recorder_mut().set(on);
    }

    /// The transfers the last applied input made (empty unless recording).
    pub fn recorded_transfers(&self) -> &[Transfer] {
        self.state.ledger.recorder().transfers()
    }

    /// Names an account: its currency, kind, owner id and owner's role. `None` for an id past the
    /// ledger or a slot the state does not hold.
    pub fn describe_account(&self, id: AccountId) -> Option<AccountName> {
        let (slot, kind) = self.state.ledger.describe(id)?;
        let currency = *self.state.limits.currencies.get(usize::from(slot))?;
        let (kind, owner, party) = match kind {
            AccountKind::Clearing => ("clearing", 0, None),
            AccountKind::PlatformRevenue => ("platform_revenue", 0, None),
            AccountKind::FeeExpense => ("fee_expense", 0, None),
            AccountKind::Payouts => ("payouts", 0, None),
            AccountKind::ReversalsPayable => ("reversals_payable", 0, None),
            AccountKind::PlatformBank => ("platform_bank", 0, None),
            AccountKind::ChannelFeeDifferences => ("channel_fee_differences", 0, None),
            AccountKind::ChannelWriteOffs => ("channel_write_offs", 0, None),
            AccountKind::PayoutsInFlight => ("payouts_in_flight", 0, None),
            AccountKind::PayoutFees => ("payout_fees", 0, None),
            AccountKind::DisputesPending => ("disputes_pending", 0, None),
            AccountKind::DisputeHolds => ("dispute_holds", 0, None),
            AccountKind::DisputeReceivable => ("dispute_receivable", 0, None),
            AccountKind::YieldHoldings => ("yield_holdings", 0, None),
            AccountKind::YieldFund => ("yield_fund", 0, None),
            AccountKind::YieldResidual => ("yield_residual", 0, None),
            AccountKind::YieldRedemptions => ("yield_redemptions", 0, None),
            AccountKind::InstallmentReceivable => ("installment_receivable", 0, None),
            AccountKind::InstallmentFunding => ("installment_funding", 0, None),
            AccountKind::InstallmentUnearnedInterest => ("installment_unearned_interest", 0, None),
            AccountKind::InstallmentIncome => ("installment_income", 0, None),
            AccountKind::InstallmentWriteOffs => ("installment_write_offs", 0, None),
            AccountKind::LoansReceivable => ("loans_receivable", 0, None),
            AccountKind::InterestReceivable => ("interest_receivable", 0, None),
            AccountKind::InterestIncome => ("interest_income", 0, None),
            AccountKind::LoanWriteOffs => ("loan_write_offs", 0, None),
            AccountKind::ChannelReceivable(c) => {
                let channel = self.state.channels.get(c as usize)?;
                ("channel_receivable", u32::from(channel.id), None)
            }
            AccountKind::Party(p, which) => {
                let party = self.state.parties.get(p as usize)?;
                (which.name(), party.id, Some(party.kind))
            }
        };
        Some(AccountName {
            currency,
            kind,
            owner,
            party,
        })
    }
}
