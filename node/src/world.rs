//! The business world: limits, channels, split profiles, promoters, merchants, risk rules and
//! list entries, read from a configuration's business sections and compiled into journaled inputs
//! — `Genesis` (the limits and the ledger currencies) and one admin input per object — with errors
//! that name the key and the line. The server journals them at the first start of an empty data
//! directory; after that the journal is the source of truth. The operational sections (sockets,
//! threads, credentials, the simulator) are the gateway's (`sluice_gateway::config`).

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

/// ISO 4217 alpha codes this configuration understands, with their numeric codes.
const CURRENCY_CODES: &[(&str, u16)] = &[
    ("CNY", 156),
    ("USD", 840),
    ("EUR", 978),
    ("HKD", 344),
    ("GBP", 826),
    ("JPY", 392),
    ("SGD", 702),
    ("AUD", 36),
    ("CAD", 124),
    ("CHF", 756),
    ("KRW", 410),
    ("TWD", 901),
    ("MOP", 446),
    ("THB", 764),
    ("MYR", 458),
];

fn currency(v: &CurrencyValue, line: Option<usize>, key: &str) -> Result<u16, ConfigError> {
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

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct MethodEntry {
    method: String,
    fee_bps: u16,
    #[serde(default)]
    fee_fixed_minor: i64,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ChannelEntry {
    id: u16,
    name: String,
    #[serde(default = "default_true")]
    active: bool,
    currencies: Vec<CurrencyValue>,
    methods: Vec<MethodEntry>,
    #[serde(default = "d_timeout")]
    timeout_ms: u32,
    #[serde(default = "d_one")]
    min_amount_minor: i64,
    #[serde(default = "d_max_amount")]
    max_amount_minor: i64,
    #[serde(default = "d_threshold")]
    failure_threshold: u16,
    #[serde(default = "d_leak")]
    failure_leak_per_sec: u16,
    #[serde(default = "d_zero_rate")]
    min_success_rate: String,
    #[serde(default = "d_min_attempts")]
    min_attempts_for_rate: u16,
    #[serde(default = "d_cooldown")]
    cooldown_ms: u32,
    #[serde(default = "d_probe_slots")]
    probe_slots: u8,
    #[serde(default = "d_probe_successes")]
    probe_successes: u8,
}

fn d_timeout() -> u32 {
    2_000
}
fn d_one() -> i64 {
    1
}
fn d_max_amount() -> i64 {
    100_000_000
}
fn d_threshold() -> u16 {
    5
}
fn d_leak() -> u16 {
    1
}
fn d_zero_rate() -> String {
    "0".into()
}
fn d_min_attempts() -> u16 {
    64
}
fn d_cooldown() -> u32 {
    5_000
}
fn d_probe_slots() -> u8 {
    2
}
fn d_probe_successes() -> u8 {
    3
}
fn d_settlement() -> u8 {
    1
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct TierEntry {
    min_amount_minor: i64,
    rate: String,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct CategoryEntry {
    category: u16,
    rate: String,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    id: u32,
    platform_rate: String,
    #[serde(default = "d_zero_rate")]
    promoter_level1_rate: String,
    #[serde(default = "d_zero_rate")]
    promoter_level2_rate: String,
    #[serde(default = "d_zero_rate")]
    parent_share: String,
    #[serde(default = "d_zero_rate")]
    grandparent_share: String,
    #[serde(default = "d_fee_bearer")]
    fee_bearer: String,
    #[serde(default)]
    tiers: Vec<TierEntry>,
    #[serde(default)]
    categories: Vec<CategoryEntry>,
}

fn d_fee_bearer() -> String {
    "platform".into()
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct PromoterEntry {
    id: u32,
    #[serde(default)]
    parent: u32,
    #[serde(default = "d_settlement")]
    settlement_days: u8,
    #[serde(default = "default_true")]
    active: bool,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct RouteChannel {
    id: u16,
    #[serde(default = "d_weight")]
    weight: u16,
}

fn d_weight() -> u16 {
    1
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct MerchantEntry {
    id: u32,
    acquirer_id: u32,
    split_profile: u32,
    #[serde(default)]
    parent: u32,
    #[serde(default = "default_true")]
    active: bool,
    #[serde(default = "d_strategy")]
    strategy: String,
    #[serde(default = "d_settlement")]
    settlement_days: u8,
    #[serde(default = "d_zero_rate")]
    deposit_rate: String,
    #[serde(default)]
    deposit_hold_days: u16,
    #[serde(default = "d_one")]
    min_amount_minor: i64,
    #[serde(default = "d_max_amount")]
    max_amount_minor: i64,
    #[serde(default = "d_weight_one")]
    weight_success: String,
    #[serde(default = "d_weight_one")]
    weight_cost: String,
    #[serde(default = "d_zero_rate")]
    weight_latency: String,
    currencies: Vec<CurrencyValue>,
    channels: Vec<RouteChannel>,
}

fn d_strategy() -> String {
    "priority".into()
}
fn d_weight_one() -> String {
    "1".into()
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    id: u32,
    name: String,
    #[serde(default = "d_target")]
    target: String,
    feature: String,
    #[serde(default = "d_none")]
    entity: String,
    #[serde(default = "d_none")]
    window: String,
    #[serde(default = "d_comparison")]
    comparison: String,
    threshold: i64,
    action: String,
    #[serde(default)]
    shadow: bool,
    #[serde(default = "default_true")]
    active: bool,
    #[serde(default)]
    merchant_id: u32,
    #[serde(default)]
    goods_category: u16,
}

fn d_target() -> String {
    "payment".into()
}
fn d_none() -> String {
    "none".into()
}
fn d_comparison() -> String {
    "greater".into()
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ListEntry {
    list: String,
    entity: String,
    value: String,
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
}

/// A configuration input for the first start, with where it came from.
#[derive(Debug, Clone)]
pub struct WorldInput {
    pub line: Option<usize>,
    pub key: String,
    pub message: AnyMessage,
}

/// The business world compiled: Genesis and the admin inputs that follow it, in an order that
/// satisfies references (channels, split profiles, promoters, merchants, rules, lists).
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
        let mut push = |line, key, message: Result<AnyMessage, ConfigError>| {
            message.map(|message| inputs.push(WorldInput { line, key, message }))
        };
        for (i, c) in sections.channels.iter().enumerate() {
            let (line, key) = (at(c.span()), format!("channels[{i}]"));
            let message = channel(c.get_ref(), line, &key).map(AnyMessage::from);
            push(line, key, message)?;
        }
        for (i, p) in sections.split_profiles.iter().enumerate() {
            let (line, key) = (at(p.span()), format!("split_profiles[{i}]"));
            let message = profile(p.get_ref(), line, &key).map(AnyMessage::from);
            push(line, key, message)?;
        }
        for (i, p) in sections.promoters.iter().enumerate() {
            let (line, key) = (at(p.span()), format!("promoters[{i}]"));
            push(line, key, Ok(promoter(p.get_ref()).into()))?;
        }
        for (i, m) in sections.merchants.iter().enumerate() {
            let (line, key) = (at(m.span()), format!("merchants[{i}]"));
            let message = merchant(m.get_ref(), line, &key).map(AnyMessage::from);
            push(line, key, message)?;
        }
        for (i, r) in sections.risk_rules.iter().enumerate() {
            let (line, key) = (at(r.span()), format!("risk_rules[{i}]"));
            let message = rule(r.get_ref(), line, &key).map(AnyMessage::from);
            push(line, key, message)?;
        }
        for (i, l) in sections.lists.iter().enumerate() {
            let (line, key) = (at(l.span()), format!("lists[{i}]"));
            let message = list(l.get_ref(), line, &key).map(AnyMessage::from);
            push(line, key, message)?;
        }
        Ok(World { genesis, inputs })
    }
}

fn promoter(p: &PromoterEntry) -> ConfigPromoter {
    ConfigPromoter {
        promoter_id: p.id,
        parent_promoter_id: p.parent,
        settlement_days: p.settlement_days,
        status: if p.active {
            Activity::Active
        } else {
            Activity::Disabled
        },
    }
}

/// The 1-based line of a byte offset in a text.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

fn rate(value: &str, line: Option<usize>, key: &str) -> Result<Decimal, ConfigError> {
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

fn currencies<const N: usize>(
    list: &[CurrencyValue],
    line: Option<usize>,
    key: &str,
) -> Result<ArrayVec<CurrencyEntry, N>, ConfigError> {
    let mut out = ArrayVec::new();
    for (i, c) in list.iter().enumerate() {
        let currency = currency(c, line, &format!("{key}.currencies[{i}]"))?;
        if out.try_push(CurrencyEntry { currency }).is_err() {
            return err(line, format!("{key}.currencies"), format!("at most {N}"));
        }
    }
    Ok(out)
}

fn channel(c: &ChannelEntry, line: Option<usize>, key: &str) -> Result<ConfigChannel, ConfigError> {
    if c.name.len() > 16 {
        return err(line, format!("{key}.name"), "at most 16 bytes");
    }
    let mut methods = ArrayVec::new();
    for (i, m) in c.methods.iter().enumerate() {
        let k = format!("{key}.methods[{i}]");
        let method = named(
            &m.method,
            PaymentMethod::from_name,
            line,
            &format!("{k}.method"),
            "method (card, wallet, bank_transfer)",
        )?;
        let fee = MethodFee {
            method,
            fee_bps: m.fee_bps,
            fee_fixed_minor: m.fee_fixed_minor,
        };
        if methods.try_push(fee).is_err() {
            return err(line, format!("{key}.methods"), "at most 4");
        }
    }
    Ok(ConfigChannel {
        channel_id: c.id,
        name: Chars::new(&c.name),
        status: if c.active {
            Activity::Active
        } else {
            Activity::Disabled
        },
        timeout_ms: c.timeout_ms,
        min_amount_minor: c.min_amount_minor,
        max_amount_minor: c.max_amount_minor,
        failure_threshold: c.failure_threshold,
        failure_leak_per_sec: c.failure_leak_per_sec,
        min_success_rate: rate(
            &c.min_success_rate,
            line,
            &format!("{key}.min_success_rate"),
        )?,
        min_attempts_for_rate: c.min_attempts_for_rate,
        cooldown_ms: c.cooldown_ms,
        probe_slots: c.probe_slots,
        probe_successes: c.probe_successes,
        currencies: currencies(&c.currencies, line, key)?,
        methods,
    })
}

fn profile(
    p: &ProfileEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigSplitProfile, ConfigError> {
    let r = |v: &str, f: &str| rate(v, line, &format!("{key}.{f}"));
    let mut tiers = ArrayVec::new();
    for (i, t) in p.tiers.iter().enumerate() {
        let tier = RateTier {
            min_amount_minor: t.min_amount_minor,
            rate: r(&t.rate, &format!("tiers[{i}].rate"))?,
        };
        if tiers.try_push(tier).is_err() {
            return err(line, format!("{key}.tiers"), "at most 8");
        }
    }
    let mut categories = ArrayVec::new();
    for (i, c) in p.categories.iter().enumerate() {
        let cat = CategoryRate {
            category: c.category,
            rate: r(&c.rate, &format!("categories[{i}].rate"))?,
        };
        if categories.try_push(cat).is_err() {
            return err(line, format!("{key}.categories"), "at most 8");
        }
    }
    Ok(ConfigSplitProfile {
        profile_id: p.id,
        platform_rate: r(&p.platform_rate, "platform_rate")?,
        promoter_level1_rate: r(&p.promoter_level1_rate, "promoter_level1_rate")?,
        promoter_level2_rate: r(&p.promoter_level2_rate, "promoter_level2_rate")?,
        parent_share: r(&p.parent_share, "parent_share")?,
        grandparent_share: r(&p.grandparent_share, "grandparent_share")?,
        fee_bearer: named(
            &p.fee_bearer,
            FeeBearer::from_name,
            line,
            &format!("{key}.fee_bearer"),
            "fee bearer (platform, merchant)",
        )?,
        tiers,
        categories,
    })
}

fn merchant(
    m: &MerchantEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigMerchant, ConfigError> {
    let r = |v: &str, f: &str| rate(v, line, &format!("{key}.{f}"));
    let mut channels = ArrayVec::new();
    for c in &m.channels {
        if channels
            .try_push(RouteEntry {
                channel_id: c.id,
                weight: c.weight,
            })
            .is_err()
        {
            return err(line, format!("{key}.channels"), "at most 8");
        }
    }
    Ok(ConfigMerchant {
        merchant_id: m.id,
        acquirer_id: m.acquirer_id,
        split_profile_id: m.split_profile,
        parent_merchant_id: m.parent,
        status: if m.active {
            Activity::Active
        } else {
            Activity::Disabled
        },
        strategy: named(
            &m.strategy,
            RoutingStrategy::from_name,
            line,
            &format!("{key}.strategy"),
            "strategy (priority, weighted_split, cheapest, highest_success_rate, weighted_score, expected_value)",
        )?,
        settlement_days: m.settlement_days,
        deposit_rate: r(&m.deposit_rate, "deposit_rate")?,
        deposit_hold_days: m.deposit_hold_days,
        min_amount_minor: m.min_amount_minor,
        max_amount_minor: m.max_amount_minor,
        weight_success: r(&m.weight_success, "weight_success")?,
        weight_cost: r(&m.weight_cost, "weight_cost")?,
        weight_latency: r(&m.weight_latency, "weight_latency")?,
        currencies: currencies(&m.currencies, line, key)?,
        channels,
    })
}

fn rule(r: &RuleEntry, line: Option<usize>, key: &str) -> Result<ConfigRiskRule, ConfigError> {
    let k = |f: &str| format!("{key}.{f}");
    if r.name.len() > 24 {
        return err(line, k("name"), "at most 24 bytes");
    }
    Ok(ConfigRiskRule {
        rule_id: r.id,
        name: Chars::new(&r.name),
        target: named(
            &r.target,
            RuleTarget::from_name,
            line,
            &k("target"),
            "target (payment, refund)",
        )?,
        feature: named(
            &r.feature,
            RiskFeature::from_name,
            line,
            &k("feature"),
            "feature (payment_count, payment_amount, refund_count, decline_count, single_amount)",
        )?,
        entity: named(
            &r.entity,
            RiskEntity::from_name,
            line,
            &k("entity"),
            "entity (none, user, ip, device, card_fingerprint, card_bin, merchant)",
        )?,
        window: named(
            &r.window,
            RiskWindow::from_name,
            line,
            &k("window"),
            "window (none, minute, hour, day)",
        )?,
        comparison: named(
            &r.comparison,
            Comparison::from_name,
            line,
            &k("comparison"),
            "comparison (greater, greater_or_equal, less, less_or_equal, equal)",
        )?,
        threshold: r.threshold,
        action: named(
            &r.action,
            RiskAction::from_name,
            line,
            &k("action"),
            "action (allow, review, block)",
        )?,
        shadow: r.shadow,
        status: if r.active {
            Activity::Active
        } else {
            Activity::Disabled
        },
        merchant_id: r.merchant_id,
        goods_category: r.goods_category,
    })
}

fn list(l: &ListEntry, line: Option<usize>, key: &str) -> Result<ConfigListEntry, ConfigError> {
    let k = |f: &str| format!("{key}.{f}");
    let list = named(
        &l.list,
        ListKind::from_name,
        line,
        &k("list"),
        "list (allow, block)",
    )?;
    let entity = named(
        &l.entity,
        RiskEntity::from_name,
        line,
        &k("entity"),
        "entity (user, ip, device, card_fingerprint, card_bin)",
    )?;
    let mut msg = ConfigListEntry {
        list,
        op: ListOp::Add,
        entity,
        ..ConfigListEntry::default()
    };
    let bad = |what: &str| ConfigError {
        line,
        key: k("value"),
        message: format!("{:?} is not {what}", l.value),
    };
    match entity {
        RiskEntity::User | RiskEntity::Device => {
            msg.id = l.value.parse().map_err(|_| bad("a numeric id"))?
        }
        RiskEntity::CardBin => msg.card_bin = l.value.parse().map_err(|_| bad("a numeric BIN"))?,
        RiskEntity::Ip => msg.ip = Ip::from_std(l.value.parse().map_err(|_| bad("an IP address"))?),
        RiskEntity::CardFingerprint if !l.value.is_empty() && l.value.len() <= 16 => {
            msg.card_fingerprint = Chars::new(&l.value)
        }
        RiskEntity::CardFingerprint => return Err(bad("a 1..=16 byte fingerprint")),
        _ => {
            return err(
                line,
                k("entity"),
                "lists match user, ip, device, card_fingerprint or card_bin",
            );
        }
    }
    Ok(msg)
}
