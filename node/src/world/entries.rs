//! The business sections' entries as the file spells them, and their compilation into the
//! admin messages that configure each object.

use arrayvec::ArrayVec;
use serde::Deserialize;
use sluice_protocol::*;

use super::payouts::{PartyTermsText, party_terms};
use super::{ConfigError, CurrencyValue, currency, err, named, rate};

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
    #[serde(default = "d_query_interval")]
    query_interval_ms: u32,
    #[serde(default = "d_query_window")]
    query_window_ms: u32,
    #[serde(default = "d_unknown_policy")]
    unknown_policy: String,
    #[serde(default = "d_refunds_max")]
    refunds_max: u8,
    #[serde(default = "d_refund_window_days")]
    refund_window_days: u16,
    /// `keep` or `pro_rata` (docs/RECONCILIATION.md, section 5).
    #[serde(default = "d_refund_fee")]
    refund_fee: String,
    #[serde(default)]
    bill_utc_offset_min: i32,
    #[serde(default)]
    bill_cutoff_min: u16,
    /// `daily` or `rolling`.
    #[serde(default = "d_schedule")]
    settlement: String,
    #[serde(default = "d_settlement")]
    settlement_delay_days: u8,
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
fn d_query_interval() -> u32 {
    1_000
}
fn d_query_window() -> u32 {
    60_000
}
fn d_unknown_policy() -> String {
    "hold".into()
}
fn d_refunds_max() -> u8 {
    50
}
fn d_refund_window_days() -> u16 {
    365
}
fn d_refund_fee() -> String {
    "keep".into()
}
fn d_schedule() -> String {
    "daily".into()
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
    #[serde(default = "super::payouts::d_party_schedule")]
    schedule: String,
    #[serde(default)]
    schedule_anchor: u8,
    #[serde(default = "d_zero_rate")]
    reserve_rate: String,
    #[serde(default)]
    reserve_days: u16,
    #[serde(default = "super::payouts::d_payout_mode")]
    payout_mode: String,
    /// The payout channel's id (0 = none).
    #[serde(default)]
    payout_channel: u16,
    #[serde(default)]
    min_payout_minor: i64,
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
    #[serde(default = "super::payouts::d_party_schedule")]
    schedule: String,
    #[serde(default)]
    schedule_anchor: u8,
    #[serde(default = "d_zero_rate")]
    reserve_rate: String,
    #[serde(default)]
    reserve_days: u16,
    #[serde(default = "super::payouts::d_payout_mode")]
    payout_mode: String,
    /// The payout channel's id (0 = none).
    #[serde(default)]
    payout_channel: u16,
    #[serde(default)]
    min_payout_minor: i64,
    currencies: Vec<CurrencyValue>,
    channels: Vec<RouteChannel>,
}

/// The schedule and payout terms of a merchant or promoter entry.
macro_rules! terms_text {
    ($e:expr) => {
        PartyTermsText {
            schedule: &$e.schedule,
            schedule_anchor: $e.schedule_anchor,
            reserve_rate: &$e.reserve_rate,
            reserve_days: $e.reserve_days,
            payout_mode: &$e.payout_mode,
            payout_channel: $e.payout_channel,
            min_payout_minor: $e.min_payout_minor,
        }
    };
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
    /// A text rule (docs/RISK_RULES.md): `action if expression`. Without it, the struct form
    /// (feature, entity, window, comparison, threshold, action) describes the rule.
    #[serde(default)]
    source: Option<String>,
    /// A text rule's priority (default: its id).
    #[serde(default)]
    priority: Option<u32>,
    #[serde(default)]
    feature: String,
    #[serde(default = "d_none")]
    entity: String,
    #[serde(default = "d_none")]
    window: String,
    #[serde(default = "d_comparison")]
    comparison: String,
    #[serde(default)]
    threshold: Option<i64>,
    #[serde(default)]
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

/// A channel entry's methods and their fees (at most 4).
fn channel_methods(
    c: &ChannelEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ArrayVec<MethodFee, 4>, ConfigError> {
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
    Ok(methods)
}

pub(super) fn channel(
    c: &ChannelEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigChannel, ConfigError> {
    if c.name.len() > 16 {
        return err(line, format!("{key}.name"), "at most 16 bytes");
    }
    let methods = channel_methods(c, line, key)?;
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
        query_interval_ms: c.query_interval_ms,
        query_window_ms: c.query_window_ms,
        unknown_policy: named(
            &c.unknown_policy,
            UnknownPolicy::from_name,
            line,
            &format!("{key}.unknown_policy"),
            "unknown policy (hold, fail_over)",
        )?,
        refunds_max: c.refunds_max,
        refund_window_days: c.refund_window_days,
        refund_fee: named(
            &c.refund_fee,
            RefundFeePolicy::from_name,
            line,
            &format!("{key}.refund_fee"),
            "refund fee policy (keep, pro_rata)",
        )?,
        bill_utc_offset_min: c.bill_utc_offset_min,
        bill_cutoff_min: c.bill_cutoff_min,
        settlement: named(
            &c.settlement,
            SettlementSchedule::from_name,
            line,
            &format!("{key}.settlement"),
            "settlement schedule (daily, rolling)",
        )?,
        settlement_delay_days: c.settlement_delay_days,
        currencies: currencies(&c.currencies, line, key)?,
        methods,
    })
}

pub(super) fn profile(
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

pub(super) fn merchant(
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
    let terms = party_terms(&terms_text!(m), line, key)?;
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
        schedule: terms.schedule,
        schedule_anchor: terms.schedule_anchor,
        reserve_rate: terms.reserve_rate,
        reserve_days: terms.reserve_days,
        payout_mode: terms.payout_mode,
        payout_channel_id: terms.payout_channel_id,
        min_payout_minor: terms.min_payout_minor,
    })
}

pub(super) fn rule(
    r: &RuleEntry,
    line: Option<usize>,
    key: &str,
) -> Result<AnyMessage, ConfigError> {
    let k = |f: &str| format!("{key}.{f}");
    if r.name.len() > 24 {
        return err(line, k("name"), "at most 24 bytes");
    }
    if r.source.is_none() && r.priority.is_some() {
        return err(
            line,
            k("priority"),
            "only text rules (source = ...) have a priority",
        );
    }
    match &r.source {
        Some(source) => text_rule(r, source, line, key).map(AnyMessage::from),
        None => struct_rule(r, line, key).map(AnyMessage::from),
    }
}

/// A `source = "..."` rule: checked here as the engine will compile it, so a bad rule names its
/// place in the file before anything is sent.
fn text_rule(
    r: &RuleEntry,
    source: &str,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigRiskRuleText, ConfigError> {
    let k = |f: &str| format!("{key}.{f}");
    if !r.feature.is_empty() || !r.action.is_empty() || r.threshold.is_some() {
        let why = "a rule has either source or feature/threshold/action, not both";
        return err(line, k("source"), why);
    }
    let target = named(
        &r.target,
        RuleTarget::from_name,
        line,
        &k("target"),
        "target (payment, refund)",
    )?;
    let max = sluice_engine::risk::lang::SOURCE_MAX;
    if source.len() > max {
        return err(line, k("source"), format!("at most {max} bytes"));
    }
    if let Err(e) = sluice_engine::risk::lang::compile_text(source, target) {
        return err(line, k("source"), e.to_string());
    }
    Ok(ConfigRiskRuleText {
        rule_id: r.id,
        name: Chars::new(&r.name),
        priority: r.priority.unwrap_or(r.id),
        target,
        shadow: r.shadow,
        status: if r.active {
            Activity::Active
        } else {
            Activity::Disabled
        },
        source: codec::text(source),
    })
}

fn struct_rule(
    r: &RuleEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigRiskRule, ConfigError> {
    let k = |f: &str| format!("{key}.{f}");
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
        threshold: match r.threshold {
            Some(t) => t,
            None => return err(line, k("threshold"), "missing (or give source = \"...\")"),
        },
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

pub(super) fn list(
    l: &ListEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigListEntry, ConfigError> {
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

pub(super) fn promoter(
    p: &PromoterEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigPromoter, ConfigError> {
    let terms = party_terms(&terms_text!(p), line, key)?;
    Ok(ConfigPromoter {
        promoter_id: p.id,
        parent_promoter_id: p.parent,
        settlement_days: p.settlement_days,
        status: if p.active {
            Activity::Active
        } else {
            Activity::Disabled
        },
        schedule: terms.schedule,
        schedule_anchor: terms.schedule_anchor,
        reserve_rate: terms.reserve_rate,
        reserve_days: terms.reserve_days,
        payout_mode: terms.payout_mode,
        payout_channel_id: terms.payout_channel_id,
        min_payout_minor: terms.min_payout_minor,
    })
}
