//! A reference world for tests and benchmarks: five channels, a merchant hierarchy, promoters over
//! two levels, split profiles with tiers and categories, and a set of risk rules. The server's
//! embedded default configuration describes the same world in TOML.

use arrayvec::ArrayVec;
use rust_decimal::Decimal;
use sluice_protocol::*;

/// Currencies: CNY, USD, EUR, HKD.
pub const CNY: u16 = 156;
pub const USD: u16 = 840;
pub const EUR: u16 = 978;
pub const HKD: u16 = 344;

/// Channel ids.
pub const WECHAT: u16 = 1;
pub const ALIPAY: u16 = 2;
pub const UNIONPAY: u16 = 3;
pub const STRIPE: u16 = 4;
pub const PAYPAL: u16 = 5;
/// The payout channel (a bank transfer; fee 2 + 0.1%), in the channels' id space.
pub const BANK_TRANSFER: u16 = 9;

/// Acquirers.
pub const ACQUIRER_A: u32 = 1;
pub const ACQUIRER_B: u32 = 2;

/// Merchants: 1001 (profile 1), the chain 1002 (HQ) → 1003 (branch) → 1004 (distributor) on
/// profile 2, and 2001 of acquirer B.
pub const SHOP: u32 = 1001;
pub const HQ: u32 = 1002;
pub const BRANCH: u32 = 1003;
pub const DISTRIBUTOR: u32 = 1004;
pub const OTHER_SHOP: u32 = 2001;

/// Promoters: 501 brought the payer, 502 brought 501.
pub const PROMOTER: u32 = 501;
pub const PROMOTER_PARENT: u32 = 502;

/// 2026-11-26 00:00:00 UTC+8 in ns since the epoch.
pub const START_NS: u64 = 1_764_086_400_000_000_000;

fn d(mantissa: i64, scale: u32) -> Decimal {
    Decimal::new(mantissa, scale)
}

/// Genesis with room for `orders_max` orders.
pub fn genesis(orders_max: u32) -> Genesis {
    let mut ledger_currencies = ArrayVec::new();
    for c in [CNY, USD, EUR, HKD] {
        ledger_currencies.push(CurrencyEntry { currency: c });
    }
    Genesis {
        orders_max,
        refunds_max: orders_max / 2 + 16,
        withdrawals_max: 4096,
        merchants_max: 64,
        promoters_max: 64,
        channels_max: 16,
        split_profiles_max: 16,
        risk_rules_max: 32,
        list_entries_max: 1024,
        velocity_keys_max: 4_096,
        attempts_max: 3,
        utc_offset_secs: 8 * 3600,
        // The defaults of the embedded configuration: a day in the table, a week's receipts.
        order_retention_ms: 86_400_000,
        idempotency_window_ms: 7 * 86_400_000,
        receipts_max: orders_max,
        // Schema 8: the defaults (docs/DISPUTES.md).
        labels_max: 0,
        disputes_max: 0,
        review_queue_max: 0,
        installment_plans_max: 0,
        ledger_currencies,
    }
}

fn currencies<const N: usize>(list: &[u16]) -> ArrayVec<CurrencyEntry, N> {
    list.iter()
        .map(|&currency| CurrencyEntry { currency })
        .collect()
}

#[allow(clippy::too_many_arguments)]
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
        timeout_ms: 2_000,
        min_amount_minor: 1,
        max_amount_minor: 100_000_000,
        failure_threshold: 5,
        failure_leak_per_sec: 1,
        min_success_rate: d(2, 1),
        min_attempts_for_rate: 64,
        cooldown_ms: 5_000,
        probe_slots: 2,
        probe_successes: 3,
        query_interval_ms: 200,
        query_window_ms: 5_000,
        unknown_policy: UnknownPolicy::Hold,
        refunds_max: 50,
        refund_window_days: 365,
        refund_fee: RefundFeePolicy::Keep,
        bill_utc_offset_min: 480,
        bill_cutoff_min: 0,
        settlement: SettlementSchedule::Daily,
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

/// The five channels of the reference world.
pub fn channels() -> Vec<ConfigChannel> {
    use PaymentMethod::*;
    vec![
        channel(WECHAT, "wechat_pay", &[CNY, HKD], &[(Wallet, 60, 0)]),
        channel(ALIPAY, "alipay", &[CNY, HKD, USD], &[(Wallet, 55, 0)]),
        channel(
            UNIONPAY,
            "unionpay",
            &[CNY],
            &[(Card, 50, 0), (BankTransfer, 20, 100)],
        ),
        channel(STRIPE, "stripe", &[USD, EUR, HKD], &[(Card, 290, 30)]),
        channel(
            PAYPAL,
            "paypal",
            &[USD, EUR],
            &[(Wallet, 349, 49), (Card, 349, 49)],
        ),
    ]
}

/// Profile 1: 10% platform, 5% / 2% promoters, platform bears fees. Profile 2: 0.6% platform with
/// tiers and a grocery rate, 8% / 3% promoters, hierarchy shares 10% / 5%, merchant bears fees.
pub fn profiles() -> Vec<ConfigSplitProfile> {
    let mut tiers = ArrayVec::new();
    tiers.push(RateTier {
        min_amount_minor: 100_000,
        rate: d(5, 3),
    });
    tiers.push(RateTier {
        min_amount_minor: 1_000_000,
        rate: d(4, 3),
    });
    let mut categories = ArrayVec::new();
    categories.push(CategoryRate {
        category: 5411,
        rate: d(3, 3),
    });
    vec![
        ConfigSplitProfile {
            profile_id: 1,
            platform_rate: d(10, 2),
            promoter_level1_rate: d(5, 2),
            promoter_level2_rate: d(2, 2),
            parent_share: Decimal::ZERO,
            grandparent_share: Decimal::ZERO,
            fee_bearer: FeeBearer::Platform,
            tiers: ArrayVec::new(),
            categories: ArrayVec::new(),
        },
        ConfigSplitProfile {
            profile_id: 2,
            platform_rate: d(6, 3),
            promoter_level1_rate: d(8, 2),
            promoter_level2_rate: d(3, 2),
            parent_share: d(10, 2),
            grandparent_share: d(5, 2),
            fee_bearer: FeeBearer::Merchant,
            tiers,
            categories,
        },
    ]
}

fn merchant(
    id: u32,
    acquirer: u32,
    profile: u32,
    parent: u32,
    strategy: RoutingStrategy,
    route: &[(u16, u16)],
) -> ConfigMerchant {
    ConfigMerchant {
        merchant_id: id,
        acquirer_id: acquirer,
        split_profile_id: profile,
        parent_merchant_id: parent,
        status: Activity::Active,
        strategy,
        settlement_days: 1,
        deposit_rate: d(5, 2),
        deposit_hold_days: 7,
        min_amount_minor: 1,
        max_amount_minor: 10_000_000,
        weight_success: d(1, 0),
        weight_cost: d(2, 0),
        weight_latency: d(1, 1),
        currencies: currencies(&[CNY, USD, EUR, HKD]),
        channels: route
            .iter()
            .map(|&(channel_id, weight)| RouteEntry { channel_id, weight })
            .collect(),
        payout_channel_id: BANK_TRANSFER,
        ..ConfigMerchant::default()
    }
}

/// The merchants (the hierarchy in parent-first order).
pub fn merchants() -> Vec<ConfigMerchant> {
    let all = [
        (UNIONPAY, 1),
        (WECHAT, 1),
        (ALIPAY, 1),
        (STRIPE, 1),
        (PAYPAL, 1),
    ];
    let weighted = [
        (WECHAT, 50),
        (ALIPAY, 30),
        (UNIONPAY, 20),
        (STRIPE, 10),
        (PAYPAL, 10),
    ];
    vec![
        merchant(SHOP, ACQUIRER_A, 1, 0, RoutingStrategy::Priority, &all),
        merchant(
            HQ,
            ACQUIRER_A,
            2,
            0,
            RoutingStrategy::HighestSuccessRate,
            &all,
        ),
        merchant(
            BRANCH,
            ACQUIRER_A,
            2,
            HQ,
            RoutingStrategy::WeightedSplit,
            &weighted,
        ),
        merchant(
            DISTRIBUTOR,
            ACQUIRER_A,
            2,
            BRANCH,
            RoutingStrategy::WeightedScore,
            &all,
        ),
        merchant(
            OTHER_SHOP,
            ACQUIRER_B,
            1,
            0,
            RoutingStrategy::Cheapest,
            &all,
        ),
    ]
}

/// The promoters (parent first).
pub fn promoters() -> Vec<ConfigPromoter> {
    vec![
        ConfigPromoter {
            promoter_id: PROMOTER_PARENT,
            parent_promoter_id: 0,
            settlement_days: 7,
            status: Activity::Active,
            payout_channel_id: BANK_TRANSFER,
            ..ConfigPromoter::default()
        },
        ConfigPromoter {
            promoter_id: PROMOTER,
            parent_promoter_id: PROMOTER_PARENT,
            settlement_days: 7,
            status: Activity::Active,
            payout_channel_id: BANK_TRANSFER,
            ..ConfigPromoter::default()
        },
    ]
}

/// One rule of the reference world: id, name, target, feature, entity, window, threshold,
/// action, shadow, goods category (0 = any).
type RuleRow = (
    u32,
    &'static str,
    RuleTarget,
    RiskFeature,
    RiskEntity,
    RiskWindow,
    i64,
    RiskAction,
    bool,
    u16,
);

/// Ten risk rules (one in shadow mode, two on refunds, one for a goods category).
#[rustfmt::skip]
const RULES: [RuleRow; 10] = {
    use RiskAction::*;
    use RiskEntity as E;
    use RiskFeature::*;
    use RiskWindow as W;
    use RuleTarget::{Payment as P, Refund as R};
    [
        (3, "single_amount_cap", P, SingleAmount, E::None, W::None, 5_000_000, Block, false, 0),
        (4, "user_per_minute", P, PaymentCount, E::User, W::Minute, 20, Block, false, 0),
        (5, "user_daily_amount", P, PaymentAmount, E::User, W::Day, 2_000_000, Review, false, 0),
        (6, "ip_per_minute", P, PaymentCount, E::Ip, W::Minute, 60, Block, false, 0),
        (7, "card_declines_hour", P, DeclineCount, E::CardFingerprint, W::Hour, 5, Block, false, 0),
        (8, "device_per_hour", P, PaymentCount, E::Device, W::Hour, 100, Review, false, 0),
        (9, "bin_per_minute", P, PaymentCount, E::CardBin, W::Minute, 1_000, Block, true, 0),
        (10, "user_refunds_day", R, RefundCount, E::User, W::Day, 5, Block, false, 0),
        (11, "gambling_large", P, SingleAmount, E::None, W::None, 500_000, Review, false, 7995),
        (12, "merchant_refunds_hour", R, RefundCount, E::Merchant, W::Hour, 10_000, Review, false, 0),
    ]
};

/// The risk rules of the reference world, in id order.
pub fn rules() -> Vec<ConfigRiskRule> {
    let rule =
        |&(id, name, target, feature, entity, window, threshold, action, shadow, category)| {
            ConfigRiskRule {
                rule_id: id,
                name: Chars::new(name),
                target,
                feature,
                entity,
                window,
                comparison: Comparison::Greater,
                threshold,
                action,
                shadow,
                status: Activity::Active,
                merchant_id: 0,
                goods_category: category,
            }
        };
    RULES.iter().map(rule).collect()
}

/// List entries: user 666 blocked, user 777 allowed.
pub fn list_entries() -> Vec<ConfigListEntry> {
    let entry = |list, id| ConfigListEntry {
        list,
        op: ListOp::Add,
        entity: RiskEntity::User,
        id,
        ip: Ip::default(),
        card_fingerprint: Chars::default(),
        card_bin: 0,
    };
    vec![entry(ListKind::Block, 666), entry(ListKind::Allow, 777)]
}

/// The payout channel and, per ledger currency, the payout policy: no review, the platform's
/// payouts through the bank transfer channel.
pub fn payout_config() -> Vec<AnyMessage> {
    let mut out = vec![AnyMessage::from(ConfigPayoutChannel {
        channel_id: BANK_TRANSFER,
        name: Chars::new("bank-transfer"),
        status: Activity::Active,
        timeout_ms: 30_000,
        query_interval_ms: 5_000,
        fee_fixed_minor: 2,
        fee_rate: d(1, 3),
    })];
    for currency in [CNY, USD, EUR, HKD] {
        out.push(AnyMessage::from(ConfigPayoutPolicy {
            currency,
            review_above_minor: 0,
            platform_payout_channel_id: BANK_TRANSFER,
        }));
    }
    out
}

/// Every configuration message, in an order that satisfies references.
pub fn config_messages() -> Vec<AnyMessage> {
    let mut out: Vec<AnyMessage> = Vec::new();
    out.extend(channels().into_iter().map(AnyMessage::from));
    out.extend(payout_config());
    out.extend(profiles().into_iter().map(AnyMessage::from));
    out.extend(promoters().into_iter().map(AnyMessage::from));
    out.extend(merchants().into_iter().map(AnyMessage::from));
    out.extend(rules().into_iter().map(AnyMessage::from));
    out.extend(list_entries().into_iter().map(AnyMessage::from));
    out
}

/// A wallet payment of `amount_minor` CNY at `merchant`.
pub fn payment(request_id: u64, merchant_id: u32, amount_minor: i64) -> PaymentRequest {
    PaymentRequest {
        request_id,
        merchant_id,
        promoter_id: 0,
        amount_minor,
        currency: CNY,
        method: PaymentMethod::Wallet,
        scene: Scene::App,
        goods_category: 0,
        user_id: 10_000 + request_id % 50_000,
        device_id: 20_000 + request_id % 40_000,
        ip: Ip::v4([
            10,
            (request_id >> 16) as u8,
            (request_id >> 8) as u8,
            request_id as u8,
        ]),
        card_fingerprint: Chars::default(),
        card_bin: 0,
        country: Chars::new("CN"),
        installment_count: 0,
        installment_payer_interest: false,
    }
}
