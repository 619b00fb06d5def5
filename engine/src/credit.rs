//! Merchant credit (docs/CREDIT.md): a credit limit from the merchant's settled flow over a
//! window, loans disbursed to the available balance within it, daily interest, repayment from
//! settlements at a configured share and by hand, overdue and default. The admin inputs and the
//! tables are here; the money moves, the settlement hook and the day step in `credit_money`.

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{
    ConfigCreditPolicy, CreditPosition, CreditQuery, DecodeError, LoanRepayment, LoanRequest,
    LoanState, Message, ReasonCode,
};

use crate::config::{Refusal, invalid};
use crate::core::Engine;
use crate::finance_events::FinanceEventKind;
use crate::input::InputMeta;
use crate::ledger::PartyAccount;
use crate::limits::Additions;
use crate::outbox::{Dest, Outbox};
use crate::state::{CURRENCIES_MAX, Limits};

/// Slots of a party's flow ring: one per day, indexed `day % FLOW_RING_DAYS`.
pub const FLOW_RING_DAYS: usize = 32;
/// The longest flow window (a ring slot is reused after `FLOW_RING_DAYS` days).
pub const WINDOW_DAYS_MAX: u16 = 31;
/// Most loans the day step looks at per pulse.
pub(crate) const CREDIT_PER_PULSE: usize = 64;
/// Loans per merchant slot the table keeps room for (closed loans stay, for idempotency).
const LOANS_PER_MERCHANT: u32 = 4;
/// The loans table's largest size.
const LOANS_MAX: u32 = 1_000_000;
/// The largest cap a policy may set, minor units.
const CAP_MAX_MINOR: i64 = 1_000_000_000_000_000;
/// The largest daily rate (and penalty), millionths: 10 % a day.
const RATE_E6_MAX: u32 = 100_000;
/// Millionths in one.
pub(crate) const E6: i128 = 1_000_000;

/// The credit policy (docs/CREDIT.md, section 1), checked.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditPolicy {
    pub currency: u16,
    pub currency_slot: u8,
    pub window_days: u16,
    pub advance_permille: u16,
    pub cap_minor: i64,
    pub daily_rate_e6: u32,
    pub penalty_rate_e6: u32,
    pub repay_share_bps: u16,
    pub term_days_max: u16,
    pub default_after_days: u16,
}

/// A party's settled flow in the credit currency, one slot per day, and its loans.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowRing {
    /// The day each slot holds.
    pub days: [u32; FLOW_RING_DAYS],
    /// What settled on that day, minor units.
    pub amounts: [i64; FLOW_RING_DAYS],
    /// The open loan's index in `Credit::loans` + 1 (0: none).
    pub open_loan: u32,
    /// The latest loan's index + 1 (0: none).
    pub latest_loan: u32,
}

impl FlowRing {
    /// Adds `amount` settled on `day`: O(1), the slot reset first when it holds another day.
    pub(crate) fn add(&mut self, day: u32, amount_minor: i64) {
        let i = day as usize % FLOW_RING_DAYS;
        if self.days[i] != day {
            self.days[i] = day;
            self.amounts[i] = 0;
        }
        // Within the party's total settled on one day, within the money limits.
        self.amounts[i] = self.amounts[i].saturating_add(amount_minor);
    }

    /// What settled on the `window` days through `today` (today − window < day ≤ today).
    pub fn flow(&self, today: u32, window: u16) -> i64 {
        let sum: i128 = (0..FLOW_RING_DAYS)
            .filter(|&i| self.days[i] <= today && today - self.days[i] < u32::from(window))
            .map(|i| i128::from(self.amounts[i]))
            .sum();
        i64::try_from(sum.max(0)).unwrap_or(i64::MAX)
    }
}

/// A loan's state.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LoanStatus {
    Active = 1,
    Overdue = 2,
    Defaulted = 3,
    Closed = 4,
}

impl LoanStatus {
    pub fn wire(self) -> LoanState {
        match self {
            LoanStatus::Active => LoanState::Active,
            LoanStatus::Overdue => LoanState::Overdue,
            LoanStatus::Defaulted => LoanState::Defaulted,
            LoanStatus::Closed => LoanState::Closed,
        }
    }
}

/// One loan (docs/CREDIT.md, section 3).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loan {
    pub loan_id: u64,
    pub merchant_id: u32,
    pub party_slot: u32,
    pub currency_slot: u8,
    pub status: LoanStatus,
    pub term_days: u16,
    /// Disbursed.
    pub principal_minor: i64,
    /// Still owed (0 once written off).
    pub principal_outstanding_minor: i64,
    /// Accrued and not repaid (0 once written off).
    pub interest_outstanding_minor: i64,
    /// Accrued over its life.
    pub interest_accrued_minor: i64,
    /// The fraction of a minor unit accrued and not posted yet, millionths (< 10^6).
    pub interest_carry_e6: i64,
    /// Repaid so far, recoveries included.
    pub repaid_minor: i64,
    /// Written off at default and not recovered yet.
    pub written_off_minor: i64,
    pub disbursed_day: u32,
    pub due_day: u32,
    /// The last day whose interest accrued.
    pub accrued_through_day: u32,
    /// The last accepted manual repayment's id (0: none).
    pub last_repayment_id: u64,
}

impl Loan {
    /// What it owes: principal and interest, or after default what was written off.
    pub fn owed_minor(&self) -> i64 {
        self.principal_outstanding_minor + self.interest_outstanding_minor + self.written_off_minor
    }
}

/// The credit tables (`State::credit`).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Credit {
    pub policy: Option<CreditPolicy>,
    /// By party slot (grown up to the slot that settles; room for `parties_max`).
    pub flows: Vec<FlowRing>,
    /// Every loan, in order of disbursement (an index never changes).
    pub loans: Vec<Loan>,
    /// (loan id, index), sorted by loan id.
    pub ids: Vec<(u64, u32)>,
    /// Indexes of the loans the day step walks (Active or Overdue; others leave as it meets them).
    pub accruing: Vec<u32>,
    /// The last day whose step finished.
    pub through_day: u32,
    /// The day of the walk in progress (0: none) and where it is.
    pub walk_day: u32,
    pub walk_cursor: u32,
    /// Per currency slot: principal outstanding (`loans_receivable`), interest outstanding
    /// (`interest_receivable`), interest ever accrued (`interest_income`), written off and not
    /// recovered (`loan_write_offs`).
    pub principal_minor: [i64; CURRENCIES_MAX],
    pub interest_minor: [i64; CURRENCIES_MAX],
    pub accrued_minor: [i64; CURRENCIES_MAX],
    pub written_off_minor: [i64; CURRENCIES_MAX],
}

impl Credit {
    /// Most loans, from the limits.
    pub fn loans_max(limits: &Limits) -> u32 {
        limits
            .merchants_max
            .saturating_mul(LOANS_PER_MERCHANT)
            .min(LOANS_MAX)
    }

    /// Empty tables with their room (Genesis).
    pub(crate) fn with_limits(limits: &Limits) -> Credit {
        let mut credit = Credit::default();
        credit.reserve(limits);
        credit
    }

    /// The tables' room (Genesis, snapshot load, the first policy).
    pub(crate) fn reserve(&mut self, limits: &Limits) {
        let loans = Credit::loans_max(limits) as usize;
        self.loans.reserve(loans.saturating_sub(self.loans.len()));
        self.ids.reserve(loans.saturating_sub(self.ids.len()));
        self.accruing
            .reserve(loans.saturating_sub(self.accruing.len()));
        if self.policy.is_some() {
            let parties = limits.parties_max() as usize;
            self.flows.reserve(parties.saturating_sub(self.flows.len()));
        }
    }

    /// The loan `loan_id`'s index.
    pub fn find(&self, loan_id: u64) -> Option<usize> {
        let i = self.ids.binary_search_by_key(&loan_id, |e| e.0).ok()?;
        Some(self.ids[i].1 as usize)
    }

    /// The loan `loan_id`.
    pub fn get(&self, loan_id: u64) -> Option<&Loan> {
        self.find(loan_id).map(|i| &self.loans[i])
    }

    /// A party's flow ring (an empty one when it never settled under a policy).
    pub fn flow_ring(&self, party_slot: u32) -> FlowRing {
        self.flows
            .get(party_slot as usize)
            .copied()
            .unwrap_or_default()
    }

    /// Whether any loan owes anything in currency slot `c`.
    fn owed_in(&self, c: usize) -> bool {
        self.principal_minor[c] + self.interest_minor[c] + self.written_off_minor[c] > 0
    }
}

/// Checks a ConfigCreditPolicy against the ledger currencies.
fn check_policy(m: &ConfigCreditPolicy, currencies: &[u16]) -> Result<CreditPolicy, Refusal> {
    let Some(slot) = currencies.iter().position(|&c| c == m.currency) else {
        return invalid("currency is not a ledger currency");
    };
    if !(1..=WINDOW_DAYS_MAX).contains(&m.window_days) {
        return invalid("window_days must be 1..=31");
    }
    if m.advance_permille > 1000 {
        return invalid("advance_permille must be 0..=1000");
    }
    if !(0..=CAP_MAX_MINOR).contains(&m.cap_minor) {
        return invalid("cap_minor must be 0..=10^15");
    }
    if m.daily_rate_e6 > RATE_E6_MAX || m.penalty_rate_e6 > RATE_E6_MAX {
        return invalid("daily_rate_e6 and penalty_rate_e6 must be 0..=100000");
    }
    if !(1..=10_000).contains(&m.repay_share_bps) {
        return invalid("repay_share_bps must be 1..=10000");
    }
    if !(1..=365).contains(&m.term_days_max) || !(1..=365).contains(&m.default_after_days) {
        return invalid("term_days_max and default_after_days must be 1..=365");
    }
    Ok(CreditPolicy {
        currency: m.currency,
        currency_slot: slot as u8,
        window_days: m.window_days,
        advance_permille: m.advance_permille,
        cap_minor: m.cap_minor,
        daily_rate_e6: m.daily_rate_e6,
        penalty_rate_e6: m.penalty_rate_e6,
        repay_share_bps: m.repay_share_bps,
        term_days_max: m.term_days_max,
        default_after_days: m.default_after_days,
    })
}

/// A merchant's limit (docs/CREDIT.md, section 2): (flow, gross limit, limit).
fn limit_of(p: &CreditPolicy, ring: &FlowRing, today: u32, owed_minor: i64) -> (i64, i64, i64) {
    let flow = ring.flow(today, p.window_days);
    let share = i128::from(flow) * i128::from(p.advance_permille) / 1000;
    let gross = i64::try_from(share.min(i128::from(p.cap_minor))).expect("at most the cap");
    (flow, gross, (gross - owed_minor).max(0))
}

impl Engine {
    /// The credit inputs (templates 80–83); the last link of the admin dispatch chain.
    pub(crate) fn dispatch_credit(
        &mut self,
        (template, block): (u16, u16),
        meta: &InputMeta,
        body: &[u8],
        out: &mut Outbox,
    ) -> Result<(), DecodeError> {
        match template {
            ConfigCreditPolicy::TEMPLATE_ID => {
                ConfigCreditPolicy::read_body(block, body).map(|m| {
                    let r = self.config_credit_policy(&m);
                    self.config_ack(meta, template, u64::from(m.currency), r, out);
                })
            }
            LoanRequest::TEMPLATE_ID => LoanRequest::read_body(block, body).map(|m| {
                let r = self.loan_request(&m);
                self.config_ack(meta, template, m.loan_id, r, out);
            }),
            LoanRepayment::TEMPLATE_ID => LoanRepayment::read_body(block, body).map(|m| {
                let r = self.loan_repayment(&m);
                self.config_ack(meta, template, m.loan_id, r, out);
            }),
            CreditQuery::TEMPLATE_ID => {
                CreditQuery::read_body(block, body).map(|m| self.credit_query(meta, &m, out))
            }
            template_id => Err(DecodeError::UnknownTemplate { template_id }),
        }
    }

    /// The credit tables (tests, tools).
    pub fn credit(&self) -> &Credit {
        &self.state.credit
    }

    fn config_credit_policy(&mut self, m: &ConfigCreditPolicy) -> Result<(), Refusal> {
        let policy = check_policy(m, &self.state.limits.currencies)?;
        let credit = &self.state.credit;
        if let Some(old) = credit.policy
            && old.currency_slot != policy.currency_slot
            && credit.owed_in(usize::from(old.currency_slot))
        {
            return invalid("currency cannot change while a loan owes anything");
        }
        let first = credit.policy.is_none();
        self.state.credit.policy = Some(policy);
        if first {
            let limits = self.state.limits.clone();
            self.state.credit.reserve(&limits);
        }
        Ok(())
    }

    /// A merchant's (party slot, id) if configured and active.
    fn credit_merchant(&self, merchant_id: u32) -> Result<u32, Refusal> {
        let Some(&slot) = self.index.merchants.get(&merchant_id) else {
            return Err((ReasonCode::UnknownMerchant, "merchant_id is not configured"));
        };
        let m = &self.state.merchants[slot as usize];
        if !m.active {
            return Err((ReasonCode::MerchantDisabled, "the merchant is disabled"));
        }
        Ok(m.party_slot)
    }

    /// Computes party `party_slot`'s limit now and records it (a `CreditLimit` event).
    fn limit_now(&mut self, p: &CreditPolicy, party_slot: u32, loan: u64) -> (i64, i64, i64) {
        let ring = self.state.credit.flow_ring(party_slot);
        let owed = match ring.open_loan {
            0 => 0,
            i => self.state.credit.loans[i as usize - 1].owed_minor(),
        };
        let figures = limit_of(p, &ring, self.today(), owed);
        if self.finance_events.is_on() {
            let id = self.state.parties[party_slot as usize].id;
            let event = self.loan_event(FinanceEventKind::CreditLimit, id, loan, figures.2);
            self.finance_events.push(event);
        }
        figures
    }

    fn loan_request(&mut self, m: &LoanRequest) -> Result<(), Refusal> {
        let Some(p) = self.state.credit.policy else {
            return Err((ReasonCode::NoCreditPolicy, "no credit policy is configured"));
        };
        if let Some(was) = self.state.credit.get(m.loan_id) {
            let same = was.merchant_id == m.merchant_id
                && was.principal_minor == m.amount_minor
                && was.term_days == m.term_days;
            return match same {
                true => Ok(()),
                false => Err((
                    ReasonCode::DuplicateRequestMismatch,
                    "loan_id was used with other fields",
                )),
            };
        }
        let party_slot = self.credit_merchant(m.merchant_id)?;
        if m.amount_minor <= 0 {
            return Err((ReasonCode::AmountNotPositive, "amount_minor must be > 0"));
        }
        if m.term_days == 0 || m.term_days > p.term_days_max {
            return Err((
                ReasonCode::InvalidField,
                "term_days must be 1..=term_days_max",
            ));
        }
        if self.state.credit.flow_ring(party_slot).open_loan != 0 {
            return Err((ReasonCode::LoanOpen, "the merchant has an open loan"));
        }
        let (_, _, limit) = self.limit_now(&p, party_slot, m.loan_id);
        if m.amount_minor > limit {
            return Err((
                ReasonCode::CreditLimitExceeded,
                "amount is over the merchant's credit limit",
            ));
        }
        if self.state.credit.loans.len() >= Credit::loans_max(&self.state.limits) as usize {
            return Err((ReasonCode::LoansFull, "the loans table is full"));
        }
        let c = p.currency_slot;
        let ledger = &self.state.ledger;
        let mut additions = Additions::default();
        additions.debit(ledger.loans_receivable(c), m.amount_minor);
        additions.credit_party(
            ledger,
            c,
            party_slot,
            PartyAccount::Available,
            m.amount_minor,
        );
        if !additions.fit(ledger) {
            return Err((ReasonCode::BalanceOverflow, "past the largest balance"));
        }
        self.disburse_loan(m, party_slot, c);
        Ok(())
    }

    fn loan_repayment(&mut self, m: &LoanRepayment) -> Result<(), Refusal> {
        let Some(i) = self.state.credit.find(m.loan_id) else {
            return Err((ReasonCode::UnknownLoan, "loan_id names no loan"));
        };
        let loan = self.state.credit.loans[i];
        if m.repayment_id != 0 && m.repayment_id == loan.last_repayment_id {
            return Ok(());
        }
        if loan.status == LoanStatus::Closed {
            return Err((ReasonCode::UnknownLoan, "the loan is closed"));
        }
        if m.amount_minor <= 0 {
            return Err((ReasonCode::AmountNotPositive, "amount_minor must be > 0"));
        }
        if m.amount_minor > loan.owed_minor() {
            return Err((
                ReasonCode::InvalidField,
                "amount is more than the loan owes",
            ));
        }
        if m.amount_minor > self.spendable(loan.party_slot, loan.currency_slot) {
            return Err((
                ReasonCode::InsufficientBalance,
                "the merchant's available balance cannot cover it",
            ));
        }
        self.repay_loan(i, m.amount_minor);
        self.state.credit.loans[i].last_repayment_id = m.repayment_id;
        Ok(())
    }

    fn credit_query(&mut self, meta: &InputMeta, q: &CreditQuery, out: &mut Outbox) {
        let r = self.credit_position(meta, q);
        match r {
            Ok(position) if meta.session_id != 0 => {
                let dest = Dest::session(meta.session_id, meta.principal_id);
                out.push(dest, meta.seq, &position);
            }
            Ok(_) => {}
            Err(why) => {
                let id = if q.loan_id != 0 {
                    q.loan_id
                } else {
                    u64::from(q.merchant_id)
                };
                self.config_ack(meta, CreditQuery::TEMPLATE_ID, id, Err(why), out);
            }
        }
    }

    /// The answer to a CreditQuery.
    fn credit_position(
        &mut self,
        meta: &InputMeta,
        q: &CreditQuery,
    ) -> Result<CreditPosition, Refusal> {
        let Some(p) = self.state.credit.policy else {
            return Err((ReasonCode::NoCreditPolicy, "no credit policy is configured"));
        };
        let (merchant_id, loan) = match q.loan_id {
            0 => {
                let Some(&slot) = self.index.merchants.get(&q.merchant_id) else {
                    return Err((ReasonCode::UnknownMerchant, "merchant_id is not configured"));
                };
                let party_slot = self.state.merchants[slot as usize].party_slot;
                let latest = self.state.credit.flow_ring(party_slot).latest_loan;
                let loan = latest
                    .checked_sub(1)
                    .map(|i| self.state.credit.loans[i as usize]);
                (q.merchant_id, loan)
            }
            id => match self.state.credit.get(id) {
                Some(l) => (l.merchant_id, Some(*l)),
                None => return Err((ReasonCode::UnknownLoan, "loan_id names no loan")),
            },
        };
        let Some(&slot) = self.index.merchants.get(&merchant_id) else {
            return Err((ReasonCode::UnknownMerchant, "merchant_id is not configured"));
        };
        let party_slot = self.state.merchants[slot as usize].party_slot;
        let (flow, gross, limit) = self.limit_now(&p, party_slot, loan.map_or(0, |l| l.loan_id));
        let l = loan.as_ref();
        let field = |f: fn(&Loan) -> i64| l.map_or(0, f);
        Ok(CreditPosition {
            merchant_id,
            currency: p.currency,
            flow_minor: flow,
            gross_limit_minor: gross,
            limit_minor: limit,
            loan_id: l.map_or(0, |l| l.loan_id),
            loan_state: l.map_or(LoanState::None, |l| l.status.wire()),
            principal_minor: field(|l| l.principal_minor),
            principal_outstanding_minor: field(|l| l.principal_outstanding_minor),
            interest_outstanding_minor: field(|l| l.interest_outstanding_minor),
            interest_accrued_minor: field(|l| l.interest_accrued_minor),
            repaid_minor: field(|l| l.repaid_minor),
            written_off_minor: field(|l| l.written_off_minor),
            disbursed_day: l.map_or(0, |l| l.disbursed_day),
            due_day: l.map_or(0, |l| l.due_day),
            sequence: meta.seq,
        })
    }

    /// What party `party_slot` can spend from its available balance in currency slot `c`.
    pub(crate) fn spendable(&self, party_slot: u32, c: u8) -> i64 {
        let ledger = &self.state.ledger;
        let account = ledger.party(c, party_slot, PartyAccount::Available);
        let spendable = ledger.account(account).spendable().max(0);
        i64::try_from(spendable).expect("within the money limits")
    }

    /// The credit accounts hold exactly what the loans table says (asserted after every input):
    /// O(currencies).
    pub(crate) fn assert_credit(&self, seq: u64) {
        let l = &self.state.ledger;
        let k = &self.state.credit;
        for c in 0..self.state.limits.currencies.len() {
            let cs = c as u8;
            let (principal, interest) = (
                l.account(l.loans_receivable(cs)),
                l.account(l.interest_receivable(cs)),
            );
            let (income, written) = (
                l.account(l.interest_income(cs)),
                l.account(l.loan_write_offs(cs)),
            );
            let pending = principal.debits_pending
                + principal.credits_pending
                + interest.debits_pending
                + interest.credits_pending
                + income.debits_pending
                + income.credits_pending
                + written.debits_pending
                + written.credits_pending;
            assert!(
                principal.debit_balance() == i128::from(k.principal_minor[c])
                    && interest.debit_balance() == i128::from(k.interest_minor[c])
                    && income.credit_balance() == i128::from(k.accrued_minor[c])
                    && written.debit_balance() == i128::from(k.written_off_minor[c])
                    && pending == 0,
                "credit broken at sequence {seq}: currency slot {c}, principal {} / {principal:?}, \
                 interest {} / {interest:?}, accrued {} / {income:?}, written off {} / {written:?}",
                k.principal_minor[c],
                k.interest_minor[c],
                k.accrued_minor[c],
                k.written_off_minor[c]
            );
        }
    }
}
