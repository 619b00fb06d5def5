//! `sluice admin review list|show|approve|refund-block`, `sluice admin label set|show` and
//! `sluice admin dispute`: the risk analyst's hand on the review queue, labels and chargebacks
//! (docs/DISPUTES.md). Decisions, labels and disputes are journaled admin inputs answered with
//! ConfigAck; `list` and `show` read the queue back through ReviewQuery (a ReviewItem each).

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use sluice_protocol::*;

use super::conn::{AdminConn, Answer};
use super::output::Output;

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Every order waiting in the review queue, oldest first.
    List,
    /// One order's review and label standing.
    Show {
        #[arg(long)]
        order: u64,
    },
    /// The payment is good: out of the queue, labelled legitimate.
    Approve {
        #[arg(long)]
        order: u64,
    },
    /// The payment is fraud: refund what is left, block the payer's user, device and card,
    /// label it fraud.
    #[command(name = "refund-block")]
    RefundBlock {
        #[arg(long)]
        order: u64,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Fraud,
    FalsePositive,
    Legitimate,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Analyst,
    IssuerReport,
    Customer,
}

#[derive(Subcommand)]
pub enum LabelCommand {
    /// Label an order (the latest label of an order is the one kept).
    Set {
        #[arg(long)]
        order: u64,
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long, value_enum, default_value = "analyst")]
        source: Source,
        /// The source's own reference (a fraud report's case number).
        #[arg(long, default_value_t = 0)]
        reference: u64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// An order's label (and review standing).
    Show {
        #[arg(long)]
        order: u64,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Opened,
    Won,
    Lost,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Fraud,
    NotReceived,
    NotAsDescribed,
    Duplicate,
    Other,
}

/// A chargeback a channel reported in a file or a portal, entered by hand.
#[derive(clap::Args)]
pub struct DisputeArgs {
    #[arg(long)]
    channel: u16,
    /// The channel's dispute id (the idempotency key, per channel).
    #[arg(long)]
    dispute_id: u64,
    #[arg(long)]
    order: u64,
    /// The attempt that captured (1-based).
    #[arg(long, default_value_t = 1)]
    attempt: u8,
    #[arg(long, value_enum)]
    stage: Stage,
    #[arg(long, value_enum, default_value = "other")]
    reason: Reason,
    /// ISO 4217 numeric.
    #[arg(long)]
    currency: u16,
    /// The disputed amount, minor units (Won and Lost: 0 or the opened amount).
    #[arg(long, default_value_t = 0)]
    amount: i64,
    /// The channel's dispute fee, minor units.
    #[arg(long, default_value_t = 0)]
    fee: i64,
    #[arg(long, default_value = "")]
    reference: String,
}

pub fn review(
    conn: &mut AdminConn,
    command: ReviewCommand,
    out: &mut Output,
) -> Result<(), String> {
    let (order_id, action) = match command {
        ReviewCommand::List => return list(conn, out),
        ReviewCommand::Show { order } => return show(conn, order, out),
        ReviewCommand::Approve { order } => (order, ReviewAction::Approve),
        ReviewCommand::RefundBlock { order } => (order, ReviewAction::RefundAndBlock),
    };
    let answer = conn.request(&ReviewDecision { order_id, action }.into())?;
    out.change(
        &format!("review of order {order_id} ({})", action.name()),
        &answer,
    );
    Ok(())
}

pub fn label(conn: &mut AdminConn, command: LabelCommand, out: &mut Output) -> Result<(), String> {
    let (order, kind, source, reference, note) = match command {
        LabelCommand::Show { order } => return show(conn, order, out),
        LabelCommand::Set {
            order,
            kind,
            source,
            reference,
            note,
        } => (order, kind, source, reference, note),
    };
    let m = RiskLabel {
        order_id: order,
        kind: match kind {
            Kind::Fraud => LabelKind::Fraud,
            Kind::FalsePositive => LabelKind::FalsePositive,
            Kind::Legitimate => LabelKind::Legitimate,
        },
        source: match source {
            Source::Analyst => LabelSource::Analyst,
            Source::IssuerReport => LabelSource::IssuerReport,
            Source::Customer => LabelSource::Customer,
        },
        reference,
        note: codec::text(&note),
    };
    let answer = conn.request(&m.clone().into())?;
    out.change(
        &format!("label of order {order} ({})", m.kind.name()),
        &answer,
    );
    Ok(())
}

pub fn dispute(conn: &mut AdminConn, a: DisputeArgs, out: &mut Output) -> Result<(), String> {
    let m = DisputeNotice {
        dispute_id: a.dispute_id,
        channel_id: a.channel,
        order_id: a.order,
        attempt: a.attempt,
        stage: match a.stage {
            Stage::Opened => DisputeStage::Opened,
            Stage::Won => DisputeStage::Won,
            Stage::Lost => DisputeStage::Lost,
        },
        reason: match a.reason {
            Reason::Fraud => DisputeReason::Fraud,
            Reason::NotReceived => DisputeReason::NotReceived,
            Reason::NotAsDescribed => DisputeReason::NotAsDescribed,
            Reason::Duplicate => DisputeReason::Duplicate,
            Reason::Other => DisputeReason::Other,
        },
        currency: a.currency,
        amount_minor: a.amount,
        fee_minor: a.fee,
        channel_ref: Chars::new(&a.reference),
    };
    let answer = conn.request(&m.clone().into())?;
    let object = format!(
        "dispute {} of channel {} ({})",
        a.dispute_id,
        a.channel,
        m.stage.name()
    );
    out.change(&object, &answer);
    Ok(())
}

fn list(conn: &mut AdminConn, out: &mut Output) -> Result<(), String> {
    for position in 0.. {
        match conn.request(
            &ReviewQuery {
                order_id: 0,
                position,
            }
            .into(),
        )? {
            Answer::Object(m) => match *m {
                AnyMessage::ReviewItem(i) => print_item(&i, out),
                other => return Err(format!("unexpected answer {}", other.name())),
            },
            Answer::Refused {
                reason: ReasonCode::NotFound,
                ..
            } => break,
            other => {
                out.change("review queue", &other);
                break;
            }
        }
    }
    Ok(())
}

fn show(conn: &mut AdminConn, order_id: u64, out: &mut Output) -> Result<(), String> {
    match conn.request(
        &ReviewQuery {
            order_id,
            position: 0,
        }
        .into(),
    )? {
        Answer::Object(m) => match *m {
            AnyMessage::ReviewItem(i) => print_item(&i, out),
            other => return Err(format!("unexpected answer {}", other.name())),
        },
        other => out.change(&format!("order {order_id}"), &other),
    }
    Ok(())
}

fn print_item(i: &ReviewItem, out: &mut Output) {
    let value = json!({
        "order_id": i.order_id,
        "request_id": i.request_id,
        "merchant_id": i.merchant_id,
        "amount_minor": i.amount_minor,
        "currency": i.currency,
        "state": i.state.name(),
        "in_queue": i.in_queue,
        "position": i.position,
        "queue_len": i.queue_len,
        "risk_rule_id": i.risk_rule_id,
        "refunded_minor": i.refunded_minor,
        "disputed_minor": i.disputed_minor,
        "label": i.label.name(),
        "label_source": i.label_source.name(),
    });
    let queued = if i.in_queue {
        format!(
            "queued #{} of {} by rule {}",
            i.position, i.queue_len, i.risk_rule_id
        )
    } else {
        "not queued".to_string()
    };
    let text = format!(
        "order {}  merchant {}  {} minor ({})  {}  {}  label {} ({})  refunded {} disputed {}",
        i.order_id,
        i.merchant_id,
        i.amount_minor,
        i.currency,
        i.state.name(),
        queued,
        i.label.name(),
        i.label_source.name(),
        i.refunded_minor,
        i.disputed_minor
    );
    out.record(value, text);
}
