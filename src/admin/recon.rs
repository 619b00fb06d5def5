//! `sluice admin discrepancy open|resolve|list` and `sluice admin channel-settlement
//! apply|list`: the discrepancy list and the channels' settlement batches as journaled admin
//! inputs (docs/RECONCILIATION.md, section 6). `sluice reconcile` sends the same messages; these
//! commands are the operator's hand on them. Listing walks the engine's state through ConfigQuery
//! (kinds Discrepancy and ChannelSettlement).

use clap::Subcommand;
use sluice_protocol::*;

use super::conn::AdminConn;
use super::notify::text_field;
use super::output::Output;

#[derive(Subcommand)]
pub enum DiscrepancyCommand {
    /// Open an entry (refused DiscrepancyExists when its id is in the list).
    Open {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        channel: u16,
        /// MissingOnChannel, MissingOnPlatform, AmountMismatch, StatusMismatch, FeeMismatch,
        /// Duplicate or Timing.
        #[arg(long, value_parser = class)]
        class: DiscrepancyClass,
        /// ISO 4217 numeric (156 = CNY).
        #[arg(long)]
        currency: u16,
        /// Its signed effect on what the channel owes, minor units.
        #[arg(long, allow_hyphen_values = true)]
        amount: i64,
        #[arg(long, default_value_t = 0)]
        order: u64,
        #[arg(long, default_value_t = 0)]
        attempt: u8,
        #[arg(long, default_value_t = 0)]
        refund: u64,
        /// The bill day, days since the epoch.
        #[arg(long, default_value_t = 0)]
        bill_day: u32,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Resolve an open entry, writing off part of the channel's receivable if asked.
    Resolve {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        note: String,
        /// Minor units moved from the channel's receivable to channel_write_offs (signed).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        write_off: i64,
    },
    /// Every entry, open and resolved, by id.
    List,
}

#[derive(Subcommand)]
pub enum SettlementCommand {
    /// Apply one batch a channel paid (refused DuplicateBatch when applied already).
    Apply {
        #[arg(long)]
        channel: u16,
        #[arg(long)]
        currency: u16,
        #[arg(long)]
        batch: u64,
        /// What arrived in the platform's bank, minor units (negative: the platform paid).
        #[arg(long, allow_hyphen_values = true)]
        paid: i64,
        /// The channel's fees beyond what the platform booked (signed).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        fee_difference: i64,
        /// The bill days the batch covers, days since the epoch.
        #[arg(long)]
        first_day: u32,
        #[arg(long)]
        last_day: u32,
        /// The channel's name of the batch (a payout id, a file name).
        #[arg(long, default_value = "")]
        batch_ref: String,
    },
    /// Each channel's settlement figures per currency.
    List,
}

fn class(name: &str) -> Result<DiscrepancyClass, String> {
    DiscrepancyClass::from_name(name).ok_or_else(|| {
        let names: Vec<_> = DiscrepancyClass::all()
            .map(DiscrepancyClass::name)
            .collect();
        format!("one of {}", names.join(", "))
    })
}

pub fn discrepancy(
    conn: &mut AdminConn,
    command: DiscrepancyCommand,
    out: &mut Output,
) -> Result<(), String> {
    let m = match command {
        DiscrepancyCommand::List => return list(conn, ConfigKind::Discrepancy, out),
        DiscrepancyCommand::Open {
            id,
            channel,
            class,
            currency,
            amount,
            order,
            attempt,
            refund,
            bill_day,
            note,
        } => Discrepancy {
            op: DiscrepancyOp::Open,
            discrepancy_id: id,
            channel_id: channel,
            class,
            currency,
            order_id: order,
            attempt,
            refund_id: refund,
            amount_minor: amount,
            write_off_minor: 0,
            bill_day,
            note: text_field(&note, "note")?,
        },
        DiscrepancyCommand::Resolve {
            id,
            note,
            write_off,
        } => Discrepancy {
            op: DiscrepancyOp::Resolve,
            discrepancy_id: id,
            class: DiscrepancyClass::MissingOnChannel,
            write_off_minor: write_off,
            note: text_field(&note, "note")?,
            ..Default::default()
        },
    };
    let object = format!("discrepancy {} ({})", m.discrepancy_id, m.op.name());
    let answer = conn.request(&m.into())?;
    out.change(&object, &answer);
    Ok(())
}

pub fn settlement(
    conn: &mut AdminConn,
    command: SettlementCommand,
    out: &mut Output,
) -> Result<(), String> {
    let m = match command {
        SettlementCommand::List => return list(conn, ConfigKind::ChannelSettlement, out),
        SettlementCommand::Apply {
            channel,
            currency,
            batch,
            paid,
            fee_difference,
            first_day,
            last_day,
            batch_ref,
        } => ChannelSettlement {
            channel_id: channel,
            currency,
            batch_id: batch,
            paid_minor: paid,
            fee_difference_minor: fee_difference,
            first_day,
            last_day,
            batch_ref: text_field(&batch_ref, "batch ref")?,
        },
    };
    let object = format!("batch {} of channel {}", m.batch_id, m.channel_id);
    let answer = conn.request(&m.into())?;
    out.change(&object, &answer);
    Ok(())
}

fn list(conn: &mut AdminConn, kind: ConfigKind, out: &mut Output) -> Result<(), String> {
    for m in conn.walk(kind)? {
        out.object(&m)?;
    }
    Ok(())
}
