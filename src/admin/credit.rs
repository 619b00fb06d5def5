//! `sluice admin credit policy|limit|borrow|repay|show`: merchant credit (docs/CREDIT.md). The
//! policy, loans and repayments are journaled admin inputs answered with ConfigAck; `limit` and
//! `show` read a merchant's standing back through CreditQuery (a CreditPosition).

use clap::Subcommand;
use serde_json::json;
use sluice_protocol::*;

use super::conn::{AdminConn, Answer};
use super::output::Output;

#[derive(Subcommand)]
pub enum CreditCommand {
    /// Set the credit policy (docs/CREDIT.md, section 1).
    Policy {
        /// ISO 4217 numeric: a ledger currency.
        #[arg(long)]
        currency: u16,
        #[arg(long, default_value_t = 30)]
        window_days: u16,
        #[arg(long, default_value_t = 300)]
        advance_permille: u16,
        #[arg(long)]
        cap_minor: i64,
        /// Interest per day, millionths of the principal (500 = 0.05 %).
        #[arg(long, default_value_t = 0)]
        daily_rate_e6: u32,
        #[arg(long, default_value_t = 0)]
        penalty_rate_e6: u32,
        #[arg(long, default_value_t = 2000)]
        repay_share_bps: u16,
        #[arg(long, default_value_t = 90)]
        term_days_max: u16,
        #[arg(long, default_value_t = 30)]
        default_after_days: u16,
    },
    /// A merchant's credit limit now (and its latest loan).
    Limit {
        #[arg(long)]
        merchant: u32,
    },
    /// Lend to a merchant, within its limit.
    Borrow {
        #[arg(long)]
        merchant: u32,
        /// Unique: the idempotency key.
        #[arg(long)]
        loan_id: u64,
        #[arg(long)]
        amount: i64,
        #[arg(long)]
        term_days: u16,
    },
    /// Repay a loan from the merchant's available balance (interest first).
    Repay {
        #[arg(long)]
        loan_id: u64,
        /// The repayment's id (a resend with the same id moves nothing).
        #[arg(long)]
        repayment_id: u64,
        #[arg(long)]
        amount: i64,
    },
    /// A loan's standing (by loan id) or a merchant's (its latest loan).
    Show {
        #[arg(long, conflicts_with = "merchant")]
        loan_id: Option<u64>,
        #[arg(long)]
        merchant: Option<u32>,
    },
}

pub fn run(conn: &mut AdminConn, command: CreditCommand, out: &mut Output) -> Result<(), String> {
    let (object, message): (String, AnyMessage) = match command {
        CreditCommand::Policy {
            currency,
            window_days,
            advance_permille,
            cap_minor,
            daily_rate_e6,
            penalty_rate_e6,
            repay_share_bps,
            term_days_max,
            default_after_days,
        } => {
            let m = ConfigCreditPolicy {
                currency,
                window_days,
                advance_permille,
                cap_minor,
                daily_rate_e6,
                penalty_rate_e6,
                repay_share_bps,
                term_days_max,
                default_after_days,
            };
            (format!("credit policy ({currency})"), m.into())
        }
        CreditCommand::Limit { merchant } => return show(conn, merchant, 0, out),
        CreditCommand::Show { loan_id, merchant } => {
            return show(conn, merchant.unwrap_or(0), loan_id.unwrap_or(0), out);
        }
        CreditCommand::Borrow {
            merchant,
            loan_id,
            amount,
            term_days,
        } => {
            let m = LoanRequest {
                loan_id,
                merchant_id: merchant,
                amount_minor: amount,
                term_days,
            };
            (format!("loan {loan_id} to merchant {merchant}"), m.into())
        }
        CreditCommand::Repay {
            loan_id,
            repayment_id,
            amount,
        } => {
            let m = LoanRepayment {
                loan_id,
                repayment_id,
                amount_minor: amount,
            };
            (
                format!("repayment {repayment_id} of loan {loan_id}"),
                m.into(),
            )
        }
    };
    let answer = conn.request(&message)?;
    out.change(&object, &answer);
    Ok(())
}

fn show(
    conn: &mut AdminConn,
    merchant_id: u32,
    loan_id: u64,
    out: &mut Output,
) -> Result<(), String> {
    if merchant_id == 0 && loan_id == 0 {
        return Err("name a --merchant or a --loan-id".into());
    }
    let q = CreditQuery {
        merchant_id,
        loan_id,
    };
    match conn.request(&q.into())? {
        Answer::Object(m) => match *m {
            AnyMessage::CreditPosition(p) => print_position(&p, out),
            other => return Err(format!("unexpected answer {}", other.name())),
        },
        other => out.change(&format!("credit of merchant {merchant_id}"), &other),
    }
    Ok(())
}

fn print_position(p: &CreditPosition, out: &mut Output) {
    let value = json!({
        "merchant_id": p.merchant_id,
        "currency": p.currency,
        "flow_minor": p.flow_minor,
        "gross_limit_minor": p.gross_limit_minor,
        "limit_minor": p.limit_minor,
        "loan_id": p.loan_id,
        "loan_state": p.loan_state.name(),
        "principal_minor": p.principal_minor,
        "principal_outstanding_minor": p.principal_outstanding_minor,
        "interest_outstanding_minor": p.interest_outstanding_minor,
        "interest_accrued_minor": p.interest_accrued_minor,
        "repaid_minor": p.repaid_minor,
        "written_off_minor": p.written_off_minor,
        "disbursed_day": p.disbursed_day,
        "due_day": p.due_day,
    });
    let mut text = format!(
        "merchant {}  flow {} ({})  limit {} of {}",
        p.merchant_id, p.flow_minor, p.currency, p.limit_minor, p.gross_limit_minor
    );
    if p.loan_id != 0 {
        text += &format!(
            "\n  loan {} {}  principal {} outstanding {} + interest {}  accrued {}  repaid {}  \
             written off {}  day {} due {}",
            p.loan_id,
            p.loan_state.name(),
            p.principal_minor,
            p.principal_outstanding_minor,
            p.interest_outstanding_minor,
            p.interest_accrued_minor,
            p.repaid_minor,
            p.written_off_minor,
            p.disbursed_day,
            p.due_day
        );
    }
    out.record(value, text);
}
