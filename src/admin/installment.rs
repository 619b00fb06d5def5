//! `sluice admin installment repay|repay-early|default|show|terms`: the funding partner's and the
//! operator's hand on consumer installment plans (docs/INSTALLMENTS.md). Repayments, early
//! repayments, defaults and terms are journaled admin inputs answered with ConfigAck; `show`
//! reads a plan back through InstallmentQuery (an InstallmentPlan).

use clap::Subcommand;
use serde_json::json;
use sluice_protocol::*;

use super::conn::{AdminConn, Answer};
use super::output::Output;

#[derive(Subcommand)]
pub enum InstallmentCommand {
    /// The payer repaid one installment (the plan's first unpaid one, exactly what it owes).
    Repay {
        /// The plan: its payment's order id.
        #[arg(long)]
        order: u64,
        /// The installment, 1-based.
        #[arg(long)]
        index: u16,
        /// Amount paid, minor units.
        #[arg(long)]
        amount: i64,
        /// The funding partner's reference of the payment.
        #[arg(long, default_value_t = 0)]
        reference: u64,
    },
    /// The payer repaid everything left (the payoff `show` gives; later interest is rebated).
    #[command(name = "repay-early")]
    RepayEarly {
        #[arg(long)]
        order: u64,
        #[arg(long)]
        amount: i64,
        #[arg(long, default_value_t = 0)]
        reference: u64,
    },
    /// Write a plan off (once its first unpaid installment is overdue long enough).
    Default {
        #[arg(long)]
        order: u64,
    },
    /// A plan and its schedule.
    Show {
        #[arg(long)]
        order: u64,
    },
    /// Set the terms of a merchant (0: the default for every merchant without its own).
    Terms {
        #[arg(long, default_value_t = 0)]
        merchant: u32,
        /// Interest-free plans of 3, 6, 12: the merchant's fee, bps (e.g. 150,300,600).
        #[arg(long, value_delimiter = ',', num_args = 3)]
        fee_bps: Vec<u16>,
        /// Plans with interest of 3, 6, 12: the payer's flat rate, bps.
        #[arg(long, value_delimiter = ',', num_args = 3)]
        rate_bps: Vec<u16>,
        #[arg(long, default_value_t = 0)]
        late_fee_bps: u16,
        #[arg(long, default_value_t = 60)]
        default_after_days: u16,
        /// Days between installments (0: 30).
        #[arg(long, default_value_t = 0)]
        period_days: u8,
    },
}

pub fn run(
    conn: &mut AdminConn,
    command: InstallmentCommand,
    out: &mut Output,
) -> Result<(), String> {
    let (object, message): (String, AnyMessage) = match command {
        InstallmentCommand::Show { order } => return show(conn, order, out),
        InstallmentCommand::Repay {
            order,
            index,
            amount,
            reference,
        } => (
            format!("installment {index} of plan {order}"),
            InstallmentRepayment {
                order_id: order,
                index,
                amount_minor: amount,
                reference,
            }
            .into(),
        ),
        InstallmentCommand::RepayEarly {
            order,
            amount,
            reference,
        } => (
            format!("early repayment of plan {order}"),
            InstallmentEarlyRepayment {
                order_id: order,
                amount_minor: amount,
                reference,
            }
            .into(),
        ),
        InstallmentCommand::Default { order } => (
            format!("default of plan {order}"),
            InstallmentDefault { order_id: order }.into(),
        ),
        InstallmentCommand::Terms {
            merchant,
            fee_bps,
            rate_bps,
            late_fee_bps,
            default_after_days,
            period_days,
        } => {
            let mut m = terms(
                merchant,
                &fee_bps,
                &rate_bps,
                late_fee_bps,
                default_after_days,
            )?;
            m.period_days = period_days;
            (
                format!("installment terms of merchant {merchant}"),
                m.into(),
            )
        }
    };
    let answer = conn.request(&message)?;
    out.change(&object, &answer);
    Ok(())
}

fn terms(
    merchant_id: u32,
    fee: &[u16],
    rate: &[u16],
    late_fee_bps: u16,
    default_after_days: u16,
) -> Result<ConfigInstallments, String> {
    let three = |v: &[u16], what: &str| -> Result<[u16; 3], String> {
        match v {
            [] => Ok([0; 3]),
            [a, b, c] => Ok([*a, *b, *c]),
            _ => Err(format!(
                "{what}: three values, for 3, 6 and 12 installments"
            )),
        }
    };
    let (fee, rate) = (three(fee, "--fee-bps")?, three(rate, "--rate-bps")?);
    Ok(ConfigInstallments {
        merchant_id,
        fee_bps_3: fee[0],
        fee_bps_6: fee[1],
        fee_bps_12: fee[2],
        rate_bps_3: rate[0],
        rate_bps_6: rate[1],
        rate_bps_12: rate[2],
        late_fee_bps,
        default_after_days,
        period_days: 0,
    })
}

const STATUS: [&str; 7] = [
    "pending",
    "open",
    "completed",
    "repaid-early",
    "defaulted",
    "unwound",
    "void",
];
const INSTALLMENT_STATUS: [&str; 4] = ["unpaid", "repaid", "settled-by-refund", "cancelled"];

fn show(conn: &mut AdminConn, order_id: u64, out: &mut Output) -> Result<(), String> {
    match conn.request(&InstallmentQuery { order_id }.into())? {
        Answer::Object(m) => match *m {
            AnyMessage::InstallmentPlan(p) => print_plan(&p, out),
            other => return Err(format!("unexpected answer {}", other.name())),
        },
        other => out.change(&format!("plan {order_id}"), &other),
    }
    Ok(())
}

fn name(table: &[&'static str], i: u8) -> &'static str {
    table.get(usize::from(i)).copied().unwrap_or("?")
}

fn print_plan(p: &InstallmentPlan, out: &mut Output) {
    let schedule: Vec<_> = p
        .installments
        .iter()
        .map(|i| {
            json!({
                "index": i.index,
                "due_day": i.due_day,
                "principal_minor": i.principal_minor,
                "interest_minor": i.interest_minor,
                "late_fee_minor": i.late_fee_minor,
                "status": name(&INSTALLMENT_STATUS, i.status),
                "late": i.late,
            })
        })
        .collect();
    let value = json!({
        "order_id": p.order_id,
        "merchant_id": p.merchant_id,
        "currency": p.currency,
        "count": p.count,
        "payer_interest": p.payer_interest,
        "status": name(&STATUS, p.status),
        "principal_minor": p.principal_minor,
        "interest_minor": p.interest_minor,
        "fee_minor": p.fee_minor,
        "open_day": p.open_day,
        "outstanding_minor": p.outstanding_minor,
        "paid_minor": p.paid_minor,
        "payoff_minor": p.payoff_minor,
        "written_off_minor": p.written_off_minor,
        "schedule": schedule,
    });
    let kind = if p.payer_interest {
        format!("interest {}", p.interest_minor)
    } else {
        format!("interest-free, merchant fee {}", p.fee_minor)
    };
    let mut text = format!(
        "plan {}  merchant {}  {} x{}  {} minor ({})  {}  outstanding {}  paid {}  payoff {}  \
         written off {}",
        p.order_id,
        p.merchant_id,
        name(&STATUS, p.status),
        p.count,
        p.principal_minor,
        p.currency,
        kind,
        p.outstanding_minor,
        p.paid_minor,
        p.payoff_minor,
        p.written_off_minor
    );
    for i in &p.installments {
        text.push_str(&format!(
            "\n  #{:<2} due day {}  principal {}  interest {}  late fee {}  {}{}",
            i.index,
            i.due_day,
            i.principal_minor,
            i.interest_minor,
            i.late_fee_minor,
            name(&INSTALLMENT_STATUS, i.status),
            if i.late { "  (was late)" } else { "" }
        ));
    }
    out.record(value, text);
}
