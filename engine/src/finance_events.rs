//! The financial extension's recorder (docs/FINANCE.md), on the pattern of `dispute_events`: an
//! engine that exports the flow asks the engine to record every movement of the balance yield,
//! the installment plans and the merchant loans, since most of them happen on pulses (an accrual,
//! a sweep, an overdue plan) whose outputs do not say it. Off on the live engine (one predictable
//! branch per movement); cleared at the start of each applied input. Not state: snapshots,
//! `STATE_FORMAT` and the state hash do not see it.

/// Which product moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FinanceProduct {
    /// Balance yield: a party's holding in the money-market fund (docs/YIELD.md).
    Yield = 1,
    /// A consumer installment plan (docs/INSTALLMENTS.md).
    Installment = 2,
    /// A merchant loan (docs/CREDIT.md).
    Loan = 3,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FinanceEventKind {
    // Balance yield.
    /// A party opted in or changed its kept minimum (amount: the minimum).
    YieldTerms = 1,
    /// Available above the kept minimum bought fund units (amount: bought).
    Swept = 2,
    /// A day's yield accrued to a holder (amount: the holder's share).
    YieldAccrued = 3,
    /// What rounding left of the fund's day total (party id 0).
    YieldResidual = 4,
    /// A redemption paid to available at once (amount: paid).
    Redeemed = 5,
    /// A redemption above the daily limit, paid on the next working day (amount: queued).
    RedemptionQueued = 6,
    /// A queued redemption paid (amount: paid).
    RedemptionPaid = 7,
    // Installments.
    /// A plan opened with a payment (amount: financed principal; day: the day it opened).
    PlanOpened = 20,
    /// One installment of a plan's schedule (index; amount: due; day: due day).
    InstallmentScheduled = 21,
    /// An installment repaid (index; amount: paid).
    InstallmentRepaid = 22,
    /// Early repayment of everything left (amount: paid).
    PlanRepaidEarly = 23,
    /// A late fee charged (index; amount: the fee).
    LateFee = 24,
    /// The plan defaulted (amount: written off).
    PlanDefaulted = 25,
    /// A refund unwound the plan (amount: unwound).
    PlanUnwound = 26,
    /// The last installment repaid.
    PlanCompleted = 27,
    // Merchant credit.
    /// A merchant's credit limit computed (amount: the limit).
    CreditLimit = 40,
    /// A loan disbursed to available (amount: principal).
    LoanDisbursed = 41,
    /// A day's interest accrued (amount: the day's interest).
    InterestAccrued = 42,
    /// A repayment taken from a settlement or paid (amount: repaid).
    LoanRepaid = 43,
    /// The loan passed its due day with money owed.
    LoanOverdue = 44,
    /// The loan defaulted (amount: written off).
    LoanDefaulted = 45,
    /// Repaid in full.
    LoanClosed = 46,
}

impl FinanceProduct {
    /// The product's name, as the store writes it.
    pub fn name(self) -> &'static str {
        match self {
            FinanceProduct::Yield => "Yield",
            FinanceProduct::Installment => "Installment",
            FinanceProduct::Loan => "Loan",
        }
    }
}

impl FinanceEventKind {
    /// The kind's name, as the store writes it (the variant's).
    pub fn name(self) -> &'static str {
        use FinanceEventKind::*;
        match self {
            YieldTerms => "YieldTerms",
            Swept => "Swept",
            YieldAccrued => "YieldAccrued",
            YieldResidual => "YieldResidual",
            Redeemed => "Redeemed",
            RedemptionQueued => "RedemptionQueued",
            RedemptionPaid => "RedemptionPaid",
            PlanOpened => "PlanOpened",
            InstallmentScheduled => "InstallmentScheduled",
            InstallmentRepaid => "InstallmentRepaid",
            PlanRepaidEarly => "PlanRepaidEarly",
            LateFee => "LateFee",
            PlanDefaulted => "PlanDefaulted",
            PlanUnwound => "PlanUnwound",
            PlanCompleted => "PlanCompleted",
            CreditLimit => "CreditLimit",
            LoanDisbursed => "LoanDisbursed",
            InterestAccrued => "InterestAccrued",
            LoanRepaid => "LoanRepaid",
            LoanOverdue => "LoanOverdue",
            LoanDefaulted => "LoanDefaulted",
            LoanClosed => "LoanClosed",
        }
    }
}

/// One movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinanceEvent {
    pub product: FinanceProduct,
    pub kind: FinanceEventKind,
    /// Whether the party is a promoter (else a merchant); party id 0 for the product itself.
    pub promoter: bool,
    pub party_id: u32,
    /// The plan (its order id) or the loan; 0 for a yield holding.
    pub reference: u64,
    /// The installment's number (1-based), else 0.
    pub index: u16,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// What moved (see the kind), minor units.
    pub amount_minor: i64,
    /// The position after: the holding, the plan's outstanding or the loan's outstanding
    /// principal and interest.
    pub position_minor: i64,
    /// Accrued so far: the holding's yield, the plan's interest and fees, the loan's interest.
    pub accrued_minor: i64,
    /// The business day it belongs to (days since the epoch in the calendar's offset), or the due
    /// day for a scheduled installment.
    pub day: u32,
}

/// The recorder the engine carries beside its state.
#[derive(Debug, Clone, Default)]
pub struct FinanceRecorder {
    on: bool,
    events: Vec<FinanceEvent>,
}

impl FinanceRecorder {
    /// Whether recording.
    #[inline(always)]
    pub(crate) fn is_on(&self) -> bool {
        self.on
    }

    /// Out of line: the live engine never gets here.
    #[cold]
    #[inline(never)]
    pub(crate) fn push(&mut self, event: FinanceEvent) {
        debug_assert!(self.on, "recorded only when on");
        self.events.push(event);
    }

    pub(crate) fn clear(&mut self) {
        self.events.clear();
    }
}

impl crate::Engine {
    /// Starts (or stops) recording the financial extension's movements (`finance_events`).
    pub fn record_finance_events(&mut self, on: bool) {
        self.finance_events.on = on;
        self.finance_events.events.clear();
    }

    /// What the last applied input moved, in order.
    pub fn finance_events(&self) -> &[FinanceEvent] {
        &self.finance_events.events
    }

    /// Appends `event` to what the last input recorded, as a product would: how the store's
    /// tests feed the derivation before the products record (never in a release build).
    #[cfg(any(test, feature = "test-support"))]
    pub fn push_finance_event_for_tests(&mut self, event: FinanceEvent) {
        assert!(
            self.finance_events.is_on(),
            "record_finance_events(true) first"
        );
        self.finance_events.push(event);
    }
}
