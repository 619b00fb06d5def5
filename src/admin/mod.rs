//! `sluice admin …`: the operator's surface of a running server. Every change is an admin input,
//! journaled and answered with the engine's ConfigAck; `show`, `list` and `diff` read the
//! journaled state back through ConfigQuery. docs/OPERATIONS.md has the design.

mod apply;
pub(crate) mod conn;
pub(crate) mod credential;
mod credit;
mod edit;
mod installment;
pub(crate) mod notify;
mod output;
mod payout;
mod recon;
mod review;
pub mod risk;
mod risk_model;
mod yield_;

use clap::{Args, Subcommand, ValueEnum};
use sluice_protocol::ConfigKind;
use std::net::SocketAddr;
use std::path::PathBuf;

use conn::AdminConn;
pub use output::Output;

/// Where the server is and who we are.
#[derive(Args)]
pub struct AdminArgs {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:7700", global = true)]
    addr: SocketAddr,
    /// The admin key id to log in with.
    #[arg(long, default_value = "admin", global = true)]
    key: String,
    /// A file holding the admin secret (else the SLUICE_ADMIN_SECRET environment variable).
    #[arg(long, value_name = "FILE", global = true)]
    secret_file: Option<PathBuf>,
    /// JSON lines instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

/// A kind of configuration object.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Merchant,
    Channel,
    SplitProfile,
    Promoter,
    Rule,
    ListEntry,
    Credential,
}

impl Kind {
    fn config_kind(self) -> ConfigKind {
        match self {
            Kind::Merchant => ConfigKind::Merchant,
            Kind::Channel => ConfigKind::Channel,
            Kind::SplitProfile => ConfigKind::SplitProfile,
            Kind::Promoter => ConfigKind::Promoter,
            Kind::Rule => ConfigKind::RiskRule,
            Kind::ListEntry => ConfigKind::ListEntry,
            Kind::Credential => ConfigKind::Credential,
        }
    }
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Add or change the objects a TOML file defines (the configuration file's own sections; a
    /// whole file or a few objects), sending only what differs from the server's state.
    Apply(apply::ApplyArgs),
    /// Show how a TOML file differs from the server's state (`apply --dry-run`).
    Diff {
        /// The TOML file.
        file: PathBuf,
    },
    /// One object's current definition, as journaled.
    Show {
        kind: Kind,
        /// The object's id (a credential's key id; a list entry's index).
        id: String,
    },
    /// Every object of a kind, in order of first definition.
    List { kind: Kind },
    /// Change fields of an object: `sluice admin set merchant 1001 max_amount_minor=500000`.
    Set(edit::SetArgs),
    /// Put a merchant, channel, promoter or rule back in service.
    Enable { kind: Kind, id: String },
    /// Take a merchant, channel, promoter or rule out of service (nothing is deleted).
    Disable { kind: Kind, id: String },
    /// Add or remove a risk list entry.
    #[command(name = "list-entry")]
    ListEntry {
        #[command(subcommand)]
        command: edit::ListEntryCommand,
    },
    /// Add, rotate or revoke a credential.
    Credential {
        #[command(subcommand)]
        command: credential::CredentialCommand,
    },
    /// Set, rotate or remove a merchant's result notifications (URL and signing secret).
    Notify {
        #[command(subcommand)]
        command: notify::NotifyCommand,
    },
    /// Open, resolve or list the discrepancies between channels' bills and the platform's books.
    Discrepancy {
        #[command(subcommand)]
        command: recon::DiscrepancyCommand,
    },
    /// Apply or list the batches channels paid (settlement of their receivables).
    #[command(name = "channel-settlement")]
    ChannelSettlement {
        #[command(subcommand)]
        command: recon::SettlementCommand,
    },
    /// Pay a promoter, the platform or a merchant; approve or reject a payout in review.
    Payout {
        #[command(subcommand)]
        command: payout::PayoutCommand,
    },
    /// The working-day calendar: holidays and make-up working days.
    Calendar {
        #[command(subcommand)]
        command: payout::CalendarCommand,
    },
    /// Risk rules written in the rule language (check, apply, list) and the learned score's model
    /// (load, unload).
    Risk {
        #[command(subcommand)]
        command: risk::RiskCommand,
    },
    /// Release a Manual-schedule party's income.
    Settlement {
        #[command(subcommand)]
        command: payout::SettlementReleaseCommand,
    },
    /// Merchant credit: the policy, a merchant's limit, loans and repayments (docs/CREDIT.md).
    Credit {
        #[command(subcommand)]
        command: credit::CreditCommand,
    },
    /// The review queue: list, show, approve, refund-and-block (docs/DISPUTES.md).
    Review {
        #[command(subcommand)]
        command: review::ReviewCommand,
    },
    /// Label an order fraud, false positive or legitimate; show its label.
    Label {
        #[command(subcommand)]
        command: review::LabelCommand,
    },
    /// Enter a channel's chargeback (opened, won or lost) reported outside its connector.
    Dispute(review::DisputeArgs),
    /// Consumer installment plans: repay, repay-early, default, show; terms (docs/INSTALLMENTS.md).
    Installment {
        #[command(subcommand)]
        command: installment::InstallmentCommand,
    },
    /// The balance yield: opt a party in or out, publish the fund's daily yield, redeem, show
    /// (docs/YIELD.md).
    Yield {
        #[command(subcommand)]
        command: yield_::YieldCommand,
    },
}

fn secret(args: &AdminArgs) -> Result<String, String> {
    match &args.secret_file {
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("{}: {e}", path.display())),
        None => std::env::var("SLUICE_ADMIN_SECRET").map_err(|_| {
            "no admin secret: give --secret-file FILE or set SLUICE_ADMIN_SECRET".to_string()
        }),
    }
}

/// Runs one admin command. Err when it could not be done or the server refused any change.
pub fn run(args: AdminArgs) -> Result<(), String> {
    use risk::{RiskCommand, RulesCommand};
    if let AdminCommand::Risk {
        command: RiskCommand::Rules(RulesCommand::Check { file }),
    } = &args.command
    {
        return risk::check(file);
    }
    let mut out = Output::new(args.json);
    let mut conn = AdminConn::login(args.addr, &args.key, &secret(&args)?)?;
    match args.command {
        AdminCommand::Apply(a) => apply::apply(&mut conn, &a, &mut out)?,
        AdminCommand::Diff { file } => apply::diff(&mut conn, &file, &mut out)?,
        AdminCommand::Show { kind, id } => edit::show(&mut conn, kind, &id, &mut out)?,
        AdminCommand::List { kind } => edit::list(&mut conn, kind, &mut out)?,
        AdminCommand::Set(a) => edit::set(&mut conn, &a, &mut out)?,
        AdminCommand::Enable { kind, id } => edit::status(&mut conn, kind, &id, true, &mut out)?,
        AdminCommand::Disable { kind, id } => edit::status(&mut conn, kind, &id, false, &mut out)?,
        AdminCommand::ListEntry { command } => edit::list_entry(&mut conn, command, &mut out)?,
        AdminCommand::Credential { command } => credential::run(&mut conn, command, &mut out)?,
        AdminCommand::Notify { command } => notify::run(&mut conn, command, &mut out)?,
        AdminCommand::Discrepancy { command } => recon::discrepancy(&mut conn, command, &mut out)?,
        AdminCommand::ChannelSettlement { command } => {
            recon::settlement(&mut conn, command, &mut out)?
        }
        AdminCommand::Payout { command } => payout::payout(&mut conn, command, &mut out)?,
        AdminCommand::Credit { command } => credit::run(&mut conn, command, &mut out)?,
        AdminCommand::Calendar { command } => payout::calendar(&mut conn, command, &mut out)?,
        AdminCommand::Settlement { command } => payout::release(&mut conn, command, &mut out)?,
        AdminCommand::Risk {
            command: RiskCommand::Rules(c),
        } => match c {
            RulesCommand::Check { file } => risk::check(&file)?,
            RulesCommand::Apply { file } => risk::apply(&mut conn, &file, &mut out)?,
            RulesCommand::List => risk::list(&mut conn, &mut out)?,
        },
        AdminCommand::Risk {
            command: RiskCommand::Model(c),
        } => risk_model::run(&mut conn, c, &mut out)?,
        AdminCommand::Review { command } => review::review(&mut conn, command, &mut out)?,
        AdminCommand::Label { command } => review::label(&mut conn, command, &mut out)?,
        AdminCommand::Dispute(a) => review::dispute(&mut conn, a, &mut out)?,
        AdminCommand::Installment { command } => installment::run(&mut conn, command, &mut out)?,
        AdminCommand::Yield { command } => yield_::run(&mut conn, command, &mut out)?,
    }
    out.finish()
}
