//! The business world: limits, channels, split profiles, promoters, merchants, risk rules, list
//! entries and credentials, read from a configuration's business sections and compiled into
//! journaled inputs — `Genesis` (the limits and the ledger currencies) and one admin input per
//! object — with errors that name the key and the line. The server journals them at the first
//! start of an empty data directory; after that the journal is the source of truth, and
//! [`diff`](diff::diff) says how a file differs from it. The operational sections (sockets,
//! threads, the simulator) are the gateway's (`sluice_gateway::config`).

mod credentials;
pub mod diff;
mod entries;
mod installments;
mod payouts;
pub mod scratch;
mod yield_holders;

pub use credentials::CredentialEntry;
pub use entries::{ChannelEntry, ListEntry, MerchantEntry, ProfileEntry, PromoterEntry, RuleEntry};
use entries::{channel, list, merchant, profile, promoter, rule};
pub use installments::InstallmentsSection;
pub use payouts::{CalendarEntry, PayoutChannelEntry, PayoutPolicyEntry, parse_date};
use payouts::{calendar_day, payout_channel, payout_policy};
pub use yield_holders::YieldHolderEntry;
use yield_holders::yield_holder;

use arrayvec::ArrayVec;
use rust_decimal::Decimal;
use serde::Deserialize;
use sluice_protocol::*;
use std::fmt;
use std::str::FromStr;
use toml::Spanned;

/// A configuration error: where (line, key) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "config line {line}: {}: {}", self.key, self.message),
            None => write!(f, "config: {}: {}", self.key, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// `Err` of a [`ConfigError`]: the shorthand every check uses.
pub fn err<T>(
    line: Option<usize>,
    key: impl Into<String>,
    message: impl Into<String>,
) -> Result<T, ConfigError> {
    Err(ConfigError {
        line,
        key: key.into(),
        message: message.into(),
    })
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    orders_max: u32,
    refunds_max: u32,
    withdrawals_max: u32,
    merchants_max: u32,
    promoters_max: u32,
    channels_max: u16,
    split_profiles_max: u16,
    risk_rules_max: u16,
    list_entries_max: u32,
    velocity_keys_max: u32,
    attempts_max: u8,
    utc_offset_secs: i32,
    order_retention_ms: u64,
    idempotency_window_ms: u64,
    receipts_max: u32,
    currencies: Vec<CurrencyValue>,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            orders_max: 2_000_000,
            refunds_max: 500_000,
            withdrawals_max: 100_000,
            merchants_max: 1_024,
            promoters_max: 4_096,
            channels_max: 32,
            split_profiles_max: 64,
            risk_rules_max: 64,
            list_entries_max: 65_536,
            velocity_keys_max: 65_536,
            attempts_max: 3,
            utc_offset_secs: 8 * 3600,
            order_retention_ms: 86_400_000,
            idempotency_window_ms: 7 * 86_400_000,
            receipts_max: 1_000_000,
            currencies: vec![
                CurrencyValue::Code("CNY".into()),
                CurrencyValue::Code("USD".into()),
                CurrencyValue::Code("EUR".into()),
                CurrencyValue::Code("HKD".into()),
            ],
        }
    }
}

#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum CurrencyValue {
    Numeric(u16),
    Code(String),
}

use sluice_engine::money::CURRENCY_CODES;

pub(crate) fn currency(
    v: &CurrencyValue,
    line: Option<usize>,
    key: &str,
) -> Result<u16, ConfigError> {
    match v {
        CurrencyValue::Numeric(n) if *n > 0 && *n < 1000 => Ok(*n),
        CurrencyValue::Numeric(n) => err(line, key, format!("{n} is not an ISO 4217 numeric code")),
        CurrencyValue::Code(code) => CURRENCY_CODES
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
            .map(|(_, n)| *n)
            .ok_or(())
            .or_else(|_| {
                err(
                    line,
                    key,
                    format!("unknown currency {code:?} (use an ISO 4217 code or its number)"),
                )
            }),
    }
}

/// The ISO 4217 alpha code of a numeric currency, if this configuration knows it.
pub fn currency_code(numeric: u16) -> Option<&'static str> {
    CURRENCY_CODES
        .iter()
        .find(|(_, n)| *n == numeric)
        .map(|(c, _)| *c)
}

/// The business sections of a configuration file, as deserialized (the server's file type holds
/// them beside its operational sections; `World::compile` checks them).
pub struct WorldSections {
    pub limits: LimitsSection,
    pub channels: Vec<Spanned<ChannelEntry>>,
    pub split_profiles: Vec<Spanned<ProfileEntry>>,
    pub promoters: Vec<Spanned<PromoterEntry>>,
    pub merchants: Vec<Spanned<MerchantEntry>>,
    pub risk_rules: Vec<Spanned<RuleEntry>>,
    pub lists: Vec<Spanned<ListEntry>>,
    pub credentials: Vec<Spanned<CredentialEntry>>,
    pub payout_channels: Vec<Spanned<PayoutChannelEntry>>,
    pub payout_policies: Vec<Spanned<PayoutPolicyEntry>>,
    pub calendar: Vec<Spanned<CalendarEntry>>,
    /// `[installments]` (schema 9): consumer installment terms.
    pub installments: Option<Spanned<InstallmentsSection>>,
    /// `[[yield_holders]]` (schema 9, docs/YIELD.md): parties opted in to the balance yield.
    pub yield_holders: Vec<Spanned<YieldHolderEntry>>,
}

/// A configuration input for the first start, with where it came from.
#[derive(Debug, Clone)]
pub struct WorldInput {
    pub line: Option<usize>,
    pub key: String,
    pub message: AnyMessage,
}

/// The business world compiled: Genesis and the admin inputs that follow it, in an order that
/// satisfies references (channels, split profiles, payout channels, payout policies, calendar
/// dates, promoters, merchants, yield holders, rules, lists, then credentials).
#[derive(Debug, Clone)]
pub struct World {
    pub genesis: Genesis,
    pub inputs: Vec<WorldInput>,
}

impl World {
    /// Checks the business sections of `text` (already deserialized into `sections`) and compiles
    /// them; the first error names its key and line.
    pub fn compile(text: &str, sections: WorldSections) -> Result<World, ConfigError> {
        let at = |span: std::ops::Range<usize>| Some(line_of(text, span.start));
        let genesis = genesis(&sections.limits)?;
        let mut inputs = Vec::new();
        let each = &mut inputs;
        compile_each(text, "channels", &sections.channels, each, channel)?;
        compile_each(
            text,
            "split_profiles",
            &sections.split_profiles,
            each,
            profile,
        )?;
        compile_each(
            text,
            "payout_channels",
            &sections.payout_channels,
            each,
            payout_channel,
        )?;
        compile_each(
            text,
            "payout_policies",
            &sections.payout_policies,
            each,
            payout_policy,
        )?;
        compile_each(text, "calendar", &sections.calendar, each, calendar_day)?;
        compile_each(text, "promoters", &sections.promoters, each, promoter)?;
        compile_each(text, "merchants", &sections.merchants, each, merchant)?;
        if let Some(s) = &sections.installments {
            let line = at(s.span());
            for m in installments::installments(s.get_ref(), line)? {
                let (key, message) = ("installments".into(), m.into());
                each.push(WorldInput { line, key, message });
            }
        }
        compile_each(
            text,
            "yield_holders",
            &sections.yield_holders,
            each,
            yield_holder,
        )?;
        compile_each(text, "risk_rules", &sections.risk_rules, each, rule)?;
        compile_each(text, "lists", &sections.lists, each, list)?;
        let mut key_ids = std::collections::BTreeSet::new();
        for (i, c) in sections.credentials.iter().enumerate() {
            let (line, key) = (at(c.span()), format!("credentials[{i}]"));
            let credential = credentials::credential(c.get_ref(), line, &key)?;
            if !key_ids.insert(credential.key_id.0) {
                let what = format!("key_id {:?} appears twice", credential.key_id.as_str());
                return err(line, format!("{key}.key_id"), what);
            }
            let message = credential.into();
            inputs.push(WorldInput { line, key, message });
        }
        Ok(World { genesis, inputs })
    }
}

/// Compiles each entry of the array `name` with `compile` into an input keyed `name[i]`.
fn compile_each<T, M: Into<AnyMessage>>(
    text: &str,
    name: &str,
    entries: &[Spanned<T>],
    inputs: &mut Vec<WorldInput>,
    compile: impl Fn(&T, Option<usize>, &str) -> Result<M, ConfigError>,
) -> Result<(), ConfigError> {
    for (i, e) in entries.iter().enumerate() {
        let line = Some(line_of(text, e.span().start));
        let key = format!("{name}[{i}]");
        let message = compile(e.get_ref(), line, &key)?.into();
        inputs.push(WorldInput { line, key, message });
    }
    Ok(())
}

/// The 1-based line of a byte offset in a text.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

pub(crate) fn rate(value: &str, line: Option<usize>, key: &str) -> Result<Decimal, ConfigError> {
    match Decimal::from_str(value.trim()) {
        Ok(d) if !d.is_sign_negative() => Ok(d),
        _ => err(
            line,
            key,
            format!(
                "{value:?} is not a non-negative decimal (write rates as strings, e.g. \"0.006\")"
            ),
        ),
    }
}

/// Parses a named enum value, or says what it should have been.
pub fn named<E>(
    value: &str,
    parse: impl Fn(&str) -> Option<E>,
    line: Option<usize>,
    key: &str,
    what: &str,
) -> Result<E, ConfigError> {
    parse(value)
        .ok_or(())
        .or_else(|_| err(line, key, format!("{value:?} is not a {what}")))
}

fn genesis(l: &LimitsSection) -> Result<Genesis, ConfigError> {
    let mut ledger_currencies = ArrayVec::new();
    for (i, c) in l.currencies.iter().enumerate() {
        let currency = currency(c, None, &format!("limits.currencies[{i}]"))?;
        if ledger_currencies
            .try_push(CurrencyEntry { currency })
            .is_err()
        {
            return err(None, "limits.currencies", "at most 8 ledger currencies");
        }
    }
    let g = Genesis {
        orders_max: l.orders_max,
        refunds_max: l.refunds_max,
        withdrawals_max: l.withdrawals_max,
        merchants_max: l.merchants_max,
        promoters_max: l.promoters_max,
        channels_max: l.channels_max,
        split_profiles_max: l.split_profiles_max,
        risk_rules_max: l.risk_rules_max,
        list_entries_max: l.list_entries_max,
        velocity_keys_max: l.velocity_keys_max,
        attempts_max: l.attempts_max,
        utc_offset_secs: l.utc_offset_secs,
        order_retention_ms: l.order_retention_ms,
        idempotency_window_ms: l.idempotency_window_ms,
        receipts_max: l.receipts_max,
        // Schema 8: the defaults (docs/DISPUTES.md).
        labels_max: 0,
        disputes_max: 0,
        review_queue_max: 0,
        installment_plans_max: 0,
        ledger_currencies,
    };
    // The engine's own check, so a bad limit is reported here rather than at first start.
    sluice_engine::validate_genesis(&g).map_err(|e| ConfigError {
        line: None,
        key: "limits".into(),
        message: e.to_string(),
    })?;
    Ok(g)
}
