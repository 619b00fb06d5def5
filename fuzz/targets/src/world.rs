//! The small world the engine target runs in: a Genesis with small limits (so that building an
//! engine is cheap and the capacity refusals are within a fuzzer's reach) and the configuration
//! every run starts from, as the protocol's Config messages an admin would send.
//!
//! Four channels (one channel id, 9, is listed by a merchant but never configured), two split
//! profiles, two promoters over two levels, six merchants on every routing strategy with a
//! three-level hierarchy, seven risk rules (one in shadow mode, one on refunds) and two list entries.

use arrayvec::ArrayVec;
use rust_decimal::Decimal;
use sluice_protocol::*;

/// Ledger currencies: CNY, USD, EUR. JPY is a currency the ledger does not hold.
pub const CNY: u16 = 156;
pub const USD: u16 = 840;
pub const EUR: u16 = 978;
pub const JPY: u16 = 392;

/// Acquirers.
pub const ACQUIRER_A: u32 = 1;
pub const ACQUIRER_B: u32 = 2;

/// Channels configured at start; channels 5 and 6 fit under `channels_max`, 7 does not.
pub const CHANNELS: [u16; 4] = [1, 2, 3, 4];
/// A channel a merchant lists that is never configured (routing skips it).
pub const UNCONFIGURED_CHANNEL: u16 = 9;
/// The payout channel (schema 7): no fee; its connector never answers in the fuzz runs, so a
/// withdrawal stays Sent and its money reserved.
pub const PAYOUT_CHANNEL: u16 = 8;

/// Merchants with their acquirer: 12 (HQ) → 13 (branch) → 14 (distributor) is the hierarchy.
pub const MERCHANTS: [(u32, u32); 6] = [
    (11, ACQUIRER_A),
    (12, ACQUIRER_A),
    (13, ACQUIRER_A),
    (14, ACQUIRER_A),
    (21, ACQUIRER_B),
    (22, ACQUIRER_B),
];

/// Promoters: 51 brought the payer, 52 brought 51.
pub const PROMOTER: u32 = 51;
pub const PROMOTER_PARENT: u32 = 52;

/// Split profiles configured at start.
pub const PROFILES: [u32; 2] = [1, 2];

/// Users on the lists: 666 is blocked, 777 allowed.
pub const BLOCKED_USER: u64 = 666;
pub const ALLOWED_USER: u64 = 777;

/// Channel attempt timeout, ms (pulses a little past it time attempts out).
pub const CHANNEL_TIMEOUT_MS: u32 = 2_000;

/// 2026-11-26 00:00:00 UTC+8, ns since the epoch.
pub const START_NS: u64 = 1_764_086_400_000_000_000;

/// Most orders. Room for a pulse to meet its timeout budget (256) with every order in flight.
pub const ORDERS_MAX: u32 = 320;

pub fn rate(mantissa: i64, scale: u32) -> Decimal {
    Decimal::new(mantissa, scale)
}

pub fn currencies<const N: usize>(list: &[u16]) -> ArrayVec<CurrencyEntry, N> {
    list.iter()
        .map(|&currency| CurrencyEntry { currency })
        .collect()
}

/// Small limits: every table is a few kilobytes, and each capacity refusal is a few inputs away.
pub fn genesis() -> Genesis {
    Genesis {
        orders_max: ORDERS_MAX,
        refunds_max: 24,
        withdrawals_max: 12,
        merchants_max: 8,
        promoters_max: 4,
        channels_max: 6,
        split_profiles_max: 3,
        risk_rules_max: 10,
        list_entries_max: 6,
        velocity_keys_max: 16,
        attempts_max: 3,
        utc_offset_secs: 8 * 3600,
        // Orders retire an hour after their last change; their receipts answer for a day (or,
        // refundable, to their channel's refund window), at most 64 of them.
        order_retention_ms: 3_600_000,
        idempotency_window_ms: 86_400_000,
        receipts_max: 64,
        // Schema 8: the defaults (docs/DISPUTES.md).
        labels_max: 0,
        disputes_max: 0,
        review_queue_max: 0,
        installment_plans_max: 0,
        ledger_currencies: currencies(&[CNY, USD, EUR]),
    }
}

fn channel(
    id: u16,
    name: &str,
    list: &[u16],
    methods: &[(PaymentMethod, u16, i64)],
) -> ConfigChannel {
    ConfigChannel {
        channel_id: id,
        name: Chars::new(name),
        status: Activity::Active,
        timeout_ms: CHANNEL_TIMEOUT_MS,
        min_amount_minor: 1,
        max_amount_minor: 2_000_000,
        failure_threshold: 3,
        failure_leak_per_sec: 1,
        min_success_rate: rate(2, 1),
        min_attempts_for_rate: 8,
        cooldown_ms: 5_000,
        probe_slots: 1,
        probe_successes: 2,
        // Both policies for an unanswered attempt, and one channel with a tight refund bound.
        query_interval_ms: 50,
        query_window_ms: 500,
        unknown_policy: if id.is_multiple_of(2) {
            UnknownPolicy::FailOver
        } else {
            UnknownPolicy::Hold
        },
        refunds_max: if id == 3 { 3 } else { 50 },
        refund_window_days: if id == 2 { 0 } else { 30 },
        // Both refund fee policies and both settlement schedules.
        refund_fee: if id.is_multiple_of(2) {
            RefundFeePolicy::Keep
        } else {
            RefundFeePolicy::ProRata
        },
        bill_utc_offset_min: 480,
        bill_cutoff_min: if id == 3 { 1380 } else { 0 },
        settlement: if id == 4 {
            SettlementSchedule::Rolling
        } else {
            SettlementSchedule::Daily
        },
        settlement_delay_days: 1,
        currencies: currencies(list),
        methods: methods
            .iter()
            .map(|&(method, fee_bps, fee_fixed_minor)| MethodFee {
                method,
                fee_bps,
                fee_fixed_minor,
            })
            .collect(),
    }
}

/// The channels, by id 1 to 4. Channel 3 takes at most 1,000,000; channel 4 at least 100.
pub fn channels() -> Vec<ConfigChannel> {
    use PaymentMethod::*;
    let mut card_cn = channel(
        3,
        "card_cn",
        &[CNY],
        &[(Card, 50, 0), (BankTransfer, 20, 100)],
    );
    card_cn.max_amount_minor = 1_000_000;
    let mut card_intl = channel(
        4,
        "card_intl",
        &[USD, EUR],
        &[(Card, 290, 30), (Wallet, 349, 49)],
    );
    card_intl.min_amount_minor = 100;
    vec![
        channel(1, "wallet_cn", &[CNY, USD], &[(Wallet, 60, 0)]),
        channel(
            2,
            "wallet_global",
            &[CNY, USD, EUR],
            &[(Wallet, 55, 0), (Card, 200, 30)],
        ),
        card_cn,
        card_intl,
    ]
}

/// Profile 1: 10% platform, 5% / 2% promoters, platform bears fees. Profile 2: 0.6% platform with
/// tiers and a grocery rate, 8% / 3% promoters, hierarchy shares 10% / 5%, merchant bears fees.
pub fn profiles() -> Vec<ConfigSplitProfile> {
    let mut tiers = ArrayVec::new();
    tiers.push(RateTier {
        min_amount_minor: 100_000,
        rate: rate(5, 3),
    });
    let mut categories = ArrayVec::new();
    categories.push(CategoryRate {
        category: 5411,
        rate: rate(3, 3),
    });
    vec![
        ConfigSplitProfile {
            profile_id: PROFILES[0],
            platform_rate: rate(10, 2),
            promoter_level1_rate: rate(5, 2),
            promoter_level2_rate: rate(2, 2),
            parent_share: Decimal::ZERO,
            grandparent_share: Decimal::ZERO,
            fee_bearer: FeeBearer::Platform,
            tiers: ArrayVec::new(),
            categories: ArrayVec::new(),
        },
        ConfigSplitProfile {
            profile_id: PROFILES[1],
            platform_rate: rate(6, 3),
            promoter_level1_rate: rate(8, 2),
            promoter_level2_rate: rate(3, 2),
            parent_share: rate(10, 2),
            grandparent_share: rate(5, 2),
            fee_bearer: FeeBearer::Merchant,
            tiers,
            categories,
        },
    ]
}

pub fn promoter(promoter_id: u32, parent_promoter_id: u32) -> ConfigPromoter {
    ConfigPromoter {
        promoter_id,
        parent_promoter_id,
        settlement_days: 2,
        status: Activity::Active,
        ..ConfigPromoter::default()
    }
}

/// The promoters, parent first.
pub fn promoters() -> Vec<ConfigPromoter> {
    vec![
        promoter(PROMOTER_PARENT, 0),
        promoter(PROMOTER, PROMOTER_PARENT),
    ]
}

fn merchant(
    (merchant_id, acquirer_id): (u32, u32),
    split_profile_id: u32,
    parent_merchant_id: u32,
    strategy: RoutingStrategy,
    route: &[(u16, u16)],
) -> ConfigMerchant {
    ConfigMerchant {
        merchant_id,
        acquirer_id,
        split_profile_id,
        parent_merchant_id,
        status: Activity::Active,
        strategy,
        settlement_days: 1,
        deposit_rate: rate(5, 2),
        deposit_hold_days: 2,
        min_amount_minor: 1,
        max_amount_minor: 10_000_000,
        weight_success: rate(1, 0),
        weight_cost: rate(2, 0),
        weight_latency: rate(1, 1),
        currencies: currencies(&[CNY, USD, EUR]),
        channels: route
            .iter()
            .map(|&(channel_id, weight)| RouteEntry { channel_id, weight })
            .collect(),
        payout_channel_id: PAYOUT_CHANNEL,
        ..ConfigMerchant::default()
    }
}

/// The merchants, parents first: one per routing strategy.
pub fn merchants() -> Vec<ConfigMerchant> {
    use RoutingStrategy::*;
    let all = [(3, 1), (1, 1), (2, 1), (4, 1), (UNCONFIGURED_CHANNEL, 1)];
    let weighted = [(1, 50), (2, 30), (3, 20), (4, 0)];
    let mut small = merchant(MERCHANTS[5], 2, 0, ExpectedValue, &[(4, 1), (2, 1), (1, 1)]);
    small.min_amount_minor = 100;
    small.max_amount_minor = 500_000;
    small.currencies = currencies(&[USD, EUR]);
    vec![
        merchant(MERCHANTS[0], 1, 0, Priority, &all),
        merchant(MERCHANTS[1], 2, 0, HighestSuccessRate, &all),
        merchant(MERCHANTS[2], 2, MERCHANTS[1].0, WeightedSplit, &weighted),
        merchant(MERCHANTS[3], 2, MERCHANTS[2].0, WeightedScore, &all),
        merchant(MERCHANTS[4], 1, 0, Cheapest, &all),
        small,
    ]
}

/// A rule on payments with comparison `Greater`, active, on every merchant and category.
pub fn rule(
    rule_id: u32,
    feature: RiskFeature,
    entity: RiskEntity,
    window: RiskWindow,
) -> ConfigRiskRule {
    ConfigRiskRule {
        rule_id,
        name: Chars::new("fuzz_rule"),
        target: RuleTarget::Payment,
        feature,
        entity,
        window,
        comparison: Comparison::Greater,
        threshold: 0,
        action: RiskAction::Block,
        shadow: false,
        status: Activity::Active,
        merchant_id: 0,
        goods_category: 0,
    }
}

/// Seven rules: an amount cap, velocities on user, card declines and IP (shadow), a review of
/// large gambling payments, and a refund-frequency rule.
pub fn rules() -> Vec<ConfigRiskRule> {
    use RiskEntity as E;
    use RiskFeature as F;
    use RiskWindow as W;
    let with = |mut r: ConfigRiskRule, threshold: i64, action: RiskAction| {
        r.threshold = threshold;
        r.action = action;
        r
    };
    let mut gambling = with(
        rule(8, F::SingleAmount, E::None, W::None),
        100_000,
        RiskAction::Review,
    );
    gambling.goods_category = 7995;
    let mut ip = with(
        rule(7, F::PaymentCount, E::Ip, W::Minute),
        10,
        RiskAction::Block,
    );
    ip.shadow = true;
    let mut refunds = with(
        rule(9, F::RefundCount, E::User, W::Day),
        3,
        RiskAction::Block,
    );
    refunds.target = RuleTarget::Refund;
    vec![
        with(
            rule(3, F::SingleAmount, E::None, W::None),
            5_000_000,
            RiskAction::Block,
        ),
        with(
            rule(4, F::PaymentCount, E::User, W::Minute),
            6,
            RiskAction::Block,
        ),
        with(
            rule(5, F::PaymentAmount, E::User, W::Day),
            2_000_000,
            RiskAction::Review,
        ),
        with(
            rule(6, F::DeclineCount, E::CardFingerprint, W::Hour),
            2,
            RiskAction::Block,
        ),
        ip,
        gambling,
        refunds,
    ]
}

/// A list entry on a user id.
pub fn user_entry(list: ListKind, op: ListOp, id: u64) -> ConfigListEntry {
    ConfigListEntry {
        list,
        op,
        entity: RiskEntity::User,
        id,
        ip: Ip::default(),
        card_fingerprint: Chars::default(),
        card_bin: 0,
    }
}

/// User 666 on the block list, user 777 on the allow list.
pub fn list_entries() -> Vec<ConfigListEntry> {
    vec![
        user_entry(ListKind::Block, ListOp::Add, BLOCKED_USER),
        user_entry(ListKind::Allow, ListOp::Add, ALLOWED_USER),
    ]
}

/// Every configuration message of the world, in an order that satisfies references.
pub fn config_messages() -> Vec<AnyMessage> {
    let mut out: Vec<AnyMessage> = Vec::new();
    out.extend(channels().into_iter().map(AnyMessage::from));
    out.push(AnyMessage::from(ConfigPayoutChannel {
        channel_id: PAYOUT_CHANNEL,
        name: Chars::new("bank"),
        status: Activity::Active,
        timeout_ms: 30_000,
        query_interval_ms: 5_000,
        fee_fixed_minor: 0,
        fee_rate: Default::default(),
    }));
    out.extend(profiles().into_iter().map(AnyMessage::from));
    out.extend(promoters().into_iter().map(AnyMessage::from));
    out.extend(merchants().into_iter().map(AnyMessage::from));
    out.extend(rules().into_iter().map(AnyMessage::from));
    out.extend(list_entries().into_iter().map(AnyMessage::from));
    out
}
