//! The flow table of the financial extension (issue 24; docs/STORE.md, section 7; docs/FINANCE.md):
//! every movement of a balance-yield holding, an installment plan or a merchant loan. Declared
//! with rows.rs's `table!`, in rows.rs's conventions.

use super::*;

table! {
    /// A row per movement the engine recorded (`Engine::record_finance_events`), in its order:
    /// a sweep, a day's yield, a redemption; a plan opened, each installment scheduled, repaid,
    /// charged late, the plan repaid early, defaulted or unwound; a credit limit, a loan
    /// disbursed, a day's interest, a repayment, overdue, default, closed. A position's latest
    /// row (by `seq`, `ordinal`) says where it stands.
    FinanceEventRow = "finance_events", key(seq, ordinal) {
        /// Journal sequence of the input that moved it (an admin input, a payment, a pulse).
        seq: i64,
        /// Position among the movements that input made.
        ordinal: i32,
        /// Event time, ns.
        at_ns: i64,
        /// The input's day.
        day: Day,
        /// FinanceProduct name: `Yield`, `Installment` or `Loan`.
        product: String,
        /// FinanceEventKind name (`Swept`, `YieldAccrued`, `PlanOpened`, `InstallmentScheduled`, `LoanRepaid`, …).
        kind: String,
        /// `Merchant` or `Promoter`; `None` (party 0) for the product itself, as a yield day's rounding residual.
        party_kind: String,
        /// The merchant or promoter (0: the product itself).
        party_id: i32,
        /// The plan (its order id) or the loan; 0 for a yield holding.
        reference: i64,
        /// The installment's number (1-based), else 0.
        installment: i32,
        /// ISO 4217 numeric.
        currency: i32,
        /// What moved, as the kind says, minor units.
        amount_minor: i64,
        /// The position after: the holding, the plan's or the loan's outstanding, minor units.
        position_minor: i64,
        /// Accrued after: the holding's yield, the plan's interest and fees, the loan's interest.
        accrued_minor: i64,
        /// The business day the movement belongs to; a scheduled installment's due day.
        business_day: Day,
    }
}
