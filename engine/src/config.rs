//! Configuration inputs: merchants, channels, split profiles, promoters, risk rules and list
//! entries. Each is validated completely before anything changes; a refusal names the field.
//! Configuration is not the hot path: a new party's settlement queues are reserved here.

use arrayvec::ArrayVec;
use rust_decimal::Decimal;
use sluice_protocol::{
    AckStatus, Activity, ConfigAck, ConfigChannel, ConfigMerchant, ConfigPromoter, ConfigRiskRule,
    ConfigSplitProfile, FeeBearer, HealthState, MAX_REFUNDS_PER_ORDER, PartyKind, PartySchedule,
    ReasonCode, RefundFeePolicy, SettlementSchedule, UnknownPolicy, codec::text,
};
use std::collections::VecDeque;

use crate::core::Engine;
use crate::input::InputMeta;
use crate::money::{PPB_ONE, rate_to_ppb};
use crate::outbox::{Dest, Outbox};
use crate::schedules::SettlementTerms;
use crate::state::{
    Channel, InFlight, Merchant, MethodFee, MethodStats, Party, Promoter, Slot, SplitProfile,
};

/// A refusal: the reason code and which field.
pub(crate) type Refusal = (ReasonCode, &'static str);

pub(crate) fn rate(value: Decimal, field: &'static str) -> Result<i64, Refusal> {
    match rate_to_ppb(value) {
        Some(ppb) if ppb <= PPB_ONE => Ok(ppb),
        _ => Err((ReasonCode::InvalidConfig, field)),
    }
}

fn weight(value: Decimal, field: &'static str) -> Result<i64, Refusal> {
    match rate_to_ppb(value) {
        Some(ppb) if ppb <= 1_000 * PPB_ONE => Ok(ppb),
        _ => Err((ReasonCode::InvalidConfig, field)),
    }
}

pub(crate) fn invalid<T>(field: &'static str) -> Result<T, Refusal> {
    Err((ReasonCode::InvalidConfig, field))
}

/// A channel's settings for uncertain outcomes and refunds (schema version 3).
fn uncertain_outcome_settings(m: &ConfigChannel) -> Result<(), Refusal> {
    let legacy = m.unknown_policy == UnknownPolicy::Legacy;
    if (m.query_interval_ms == 0 && !legacy) || m.query_interval_ms > 3_600_000 {
        return invalid("query_interval_ms must be 1..=3600000");
    }
    if m.query_window_ms > 7 * 86_400_000 {
        return invalid("query_window_ms must be at most 7 days (604800000)");
    }
    if m.refunds_max == 0 || usize::from(m.refunds_max) > MAX_REFUNDS_PER_ORDER {
        return invalid("refunds_max must be 1..=50");
    }
    if m.refund_window_days > 3650 {
        return invalid("refund_window_days must be at most 3650 (10 years; 0 = no limit)");
    }
    bill_settings(m)
}

/// A channel's bill and settlement settings (schema version 6).
fn bill_settings(m: &ConfigChannel) -> Result<(), Refusal> {
    if !(-720..=840).contains(&m.bill_utc_offset_min) {
        return invalid("bill_utc_offset_min must be -720..=840");
    }
    if m.bill_cutoff_min > 1439 {
        return invalid("bill_cutoff_min must be 0..=1439");
    }
    if m.settlement_delay_days > 30 {
        return invalid("settlement_delay_days must be 0..=30");
    }
    Ok(())
}

/// A channel's methods and fees: distinct methods, fee_bps within 0..=10000, fixed fees not
/// negative (a fee past i64 is refused per payment, BalanceOverflow: it depends on the amount).
fn channel_methods(m: &ConfigChannel) -> Result<ArrayVec<MethodFee, 4>, Refusal> {
    let mut methods: ArrayVec<MethodFee, 4> = ArrayVec::new();
    for f in &m.methods {
        if methods.iter().any(|x| x.method == f.method)
            || f.fee_fixed_minor < 0
            || f.fee_bps > 10_000
        {
            return invalid("methods must be distinct, fee_bps <= 10000, fee_fixed_minor >= 0");
        }
        methods.push(MethodFee {
            method: f.method,
            fee_bps: f.fee_bps,
            fee_fixed_minor: f.fee_fixed_minor,
        });
    }
    Ok(methods)
}

/// A merchant's configuration, checked: what it refers to and its rates in ppb.
struct MerchantTerms {
    profile_slot: u32,
    parent_slot: Option<Slot>,
    settlement: SettlementTerms,
    /// Success, cost, latency.
    weights_ppb: [i64; 3],
}

impl Engine {
    pub(crate) fn config_ack(
        &mut self,
        meta: &InputMeta,
        template: u16,
        object_id: u64,
        result: Result<(), (ReasonCode, &str)>,
        out: &mut Outbox,
    ) {
        let (status, reason, why) = match result {
            Ok(()) => (AckStatus::Accepted, ReasonCode::None, ""),
            Err((reason, why)) => (AckStatus::Rejected, reason, why),
        };
        let ack = ConfigAck {
            ref_template_id: template,
            object_id,
            status,
            reason,
            sequence: meta.seq,
            text: text(why),
        };
        if meta.session_id != 0 {
            out.push(
                Dest::session(meta.session_id, meta.principal_id),
                meta.seq,
                &ack,
            );
        }
    }

    /// `config_ack` of a result whose refusal is an owned text.
    pub(crate) fn config_ack_owned(
        &mut self,
        meta: &InputMeta,
        template: u16,
        object_id: u64,
        result: Result<(), (ReasonCode, String)>,
        out: &mut Outbox,
    ) {
        let result = result.as_ref().map_err(|(code, why)| (*code, why.as_str()));
        self.config_ack(meta, template, object_id, result.copied(), out);
    }

    /// Applies a ConfigMerchantNotify (the merchant must be configured) and acknowledges it.
    pub(crate) fn config_merchant_notify(
        &mut self,
        meta: &InputMeta,
        m: &sluice_protocol::ConfigMerchantNotify,
        out: &mut Outbox,
    ) {
        let now = self.state.now_ns;
        let result = match self.index.merchants.contains_key(&m.merchant_id) {
            true => self.state.merchant_notify.apply(m, now),
            false => Err((ReasonCode::UnknownMerchant, "merchant_id is not configured")),
        };
        let template =
            <sluice_protocol::ConfigMerchantNotify as sluice_protocol::Message>::TEMPLATE_ID;
        self.config_ack(meta, template, u64::from(m.merchant_id), result, out);
    }

    fn currency_known(&self, c: u16) -> bool {
        self.state.limits.currencies.contains(&c)
    }

    /// Bit i set for each ledger currency slot i in `list` (currencies outside the ledger are
    /// irrelevant: no payment can be in them).
    fn currency_mask(&self, list: impl Iterator<Item = u16>) -> u8 {
        let ledger = &self.state.limits.currencies;
        list.filter_map(|c| ledger.iter().position(|l| *l == c))
            .fold(0, |m, i| m | (1 << i))
    }

    fn new_party(&mut self, kind: PartyKind, id: u32, terms: &SettlementTerms) -> u32 {
        let slot = self.state.parties.len() as u32;
        self.state.parties.push(Party {
            kind,
            id,
            settlement_days: 0,
            deposit_ppb: 0,
            deposit_hold_days: 0,
            schedule: PartySchedule::CalendarDays,
            schedule_anchor: 0,
            reserve_ppb: 0,
            reserve_days: 0,
            pending: VecDeque::new(),
            frozen: VecDeque::new(),
            reserved: VecDeque::new(),
            held: VecDeque::new(),
            payout: Default::default(),
        });
        self.update_party(slot, terms);
        slot
    }

    fn update_party(&mut self, slot: u32, terms: &SettlementTerms) {
        let n = self.state.limits.currencies.len();
        let p = &mut self.state.parties[slot as usize];
        terms.apply(p);
        p.reserve_queues(n);
    }

    pub(crate) fn config_merchant(&mut self, m: &ConfigMerchant) -> Result<(), Refusal> {
        let terms = self.check_merchant(m)?;
        let payout =
            Engine::check_payout_terms(m.payout_mode, m.payout_channel_id, m.min_payout_minor)?;
        let existing = self.index.merchants.get(&m.merchant_id).copied();
        if existing.is_none()
            && (self.state.merchants.len() >= self.state.limits.merchants_max as usize
                || self.state.parties.len() >= self.state.limits.parties_max() as usize)
        {
            return Err((
                ReasonCode::CapacityReached,
                "merchants are at their maximum",
            ));
        }
        match existing {
            Some(slot) => {
                let party_slot = self.state.merchants[slot as usize].party_slot;
                self.state.merchants[slot as usize] = self.merchant(m, &terms, party_slot);
                self.update_party(party_slot, &terms.settlement);
                self.set_payout_terms(party_slot, payout);
            }
            None => {
                let kind = PartyKind::Merchant;
                let party_slot = self.new_party(kind, m.merchant_id, &terms.settlement);
                self.set_payout_terms(party_slot, payout);
                let slot = self.state.merchants.len() as u32;
                let merchant = self.merchant(m, &terms, party_slot);
                self.state.merchants.push(merchant);
                self.index.merchants.insert(m.merchant_id, slot);
            }
        }
        Ok(())
    }

    /// Validates a merchant's configuration (all but capacity) and resolves its references.
    fn check_merchant(&self, m: &ConfigMerchant) -> Result<MerchantTerms, Refusal> {
        if m.merchant_id == 0 {
            return invalid("merchant_id must be > 0");
        }
        if m.acquirer_id == 0 {
            return invalid("acquirer_id must be > 0");
        }
        let &profile_slot = self
            .index
            .profiles
            .get(&m.split_profile_id)
            .ok_or((ReasonCode::UnknownSplitProfile, "split_profile_id"))?;
        let parent_slot = self.merchant_parent(m)?;
        let settlement = SettlementTerms::of_merchant(m)?;
        if m.min_amount_minor < 1 || m.max_amount_minor < m.min_amount_minor {
            return invalid("min_amount_minor >= 1 and max_amount_minor >= min_amount_minor");
        }
        let weights_ppb = [
            weight(m.weight_success, "weight_success")?,
            weight(m.weight_cost, "weight_cost")?,
            weight(m.weight_latency, "weight_latency")?,
        ];
        if m.currencies.is_empty()
            || m.currencies
                .iter()
                .any(|c| !self.currency_known(c.currency))
        {
            return invalid("currencies must be non-empty ledger currencies");
        }
        Ok(MerchantTerms {
            profile_slot,
            parent_slot,
            settlement,
            weights_ppb,
        })
    }

    /// The merchant `m` describes, with its checked `terms`, settling through `party_slot`.
    fn merchant(&self, m: &ConfigMerchant, terms: &MerchantTerms, party_slot: u32) -> Merchant {
        let [ws, wc, wl] = terms.weights_ppb;
        Merchant {
            id: m.merchant_id,
            acquirer_id: m.acquirer_id,
            profile_slot: terms.profile_slot,
            parent_slot: terms.parent_slot,
            party_slot,
            active: m.status == Activity::Active,
            strategy: m.strategy,
            min_amount_minor: m.min_amount_minor,
            max_amount_minor: m.max_amount_minor,
            weight_success_ppb: ws,
            weight_cost_ppb: wc,
            weight_latency_ppb: wl,
            currencies: m.currencies.iter().map(|c| c.currency).collect(),
            currency_mask: self.currency_mask(m.currencies.iter().map(|c| c.currency)),
            channels: m
                .channels
                .iter()
                .map(|r| (r.channel_id, r.weight))
                .collect(),
        }
    }

    /// The parent's slot, refusing unknown parents and cycles.
    fn merchant_parent(&self, m: &ConfigMerchant) -> Result<Option<Slot>, Refusal> {
        if m.parent_merchant_id == 0 {
            return Ok(None);
        }
        let &parent = self
            .index
            .merchants
            .get(&m.parent_merchant_id)
            .ok_or((ReasonCode::UnknownMerchant, "parent_merchant_id"))?;
        let mut at = parent;
        for _ in 0..16 {
            let p = &self.state.merchants[at as usize];
            if p.id == m.merchant_id {
                return invalid("parent_merchant_id makes a cycle");
            }
            match p.parent_slot {
                None => return Ok(Some(Slot::new(parent))),
                Some(next) => at = next.index(),
            }
        }
        invalid("merchant hierarchy is deeper than 16")
    }

    pub(crate) fn config_channel(&mut self, m: &ConfigChannel) -> Result<(), Refusal> {
        if m.channel_id == 0 {
            return invalid("channel_id must be > 0");
        }
        self.not_a_payout_channel(m.channel_id)?;
        if !(1..=600_000).contains(&m.timeout_ms) {
            return invalid("timeout_ms must be 1..=600000");
        }
        if m.min_amount_minor < 0 || m.max_amount_minor < m.min_amount_minor {
            return invalid("min_amount_minor >= 0 and max_amount_minor >= min_amount_minor");
        }
        if m.failure_threshold == 0 || m.probe_slots == 0 || m.probe_successes == 0 {
            return invalid("failure_threshold, probe_slots and probe_successes must be > 0");
        }
        uncertain_outcome_settings(m)?;
        let floor = rate(m.min_success_rate, "min_success_rate must be 0..=1")?;
        if m.currencies.is_empty() || m.methods.is_empty() {
            return invalid("a channel needs currencies and methods");
        }
        let methods = channel_methods(m)?;
        let currency_mask = self.currency_mask(m.currencies.iter().map(|c| c.currency));
        let existing = self.index.channels.get(&m.channel_id).copied();
        if existing.is_none()
            && self.state.channels.len() >= self.state.limits.channels_max as usize
        {
            return Err((ReasonCode::CapacityReached, "channels are at their maximum"));
        }
        let slot = match existing {
            Some(slot) => slot,
            None => {
                let slot = self.state.channels.len() as u32;
                self.state.channels.push(new_channel(m.channel_id));
                self.index.channels.insert(m.channel_id, slot);
                slot
            }
        };
        let ch = &mut self.state.channels[slot as usize];
        ch.name = m.name.0;
        ch.active = m.status == Activity::Active;
        ch.timeout_ms = m.timeout_ms;
        ch.min_amount_minor = m.min_amount_minor;
        ch.max_amount_minor = m.max_amount_minor;
        ch.failure_threshold = m.failure_threshold;
        ch.failure_leak_per_sec = m.failure_leak_per_sec;
        ch.min_success_ppb = floor;
        ch.min_attempts_for_rate = m.min_attempts_for_rate;
        ch.cooldown_ms = m.cooldown_ms;
        ch.probe_slots = m.probe_slots;
        ch.probe_successes = m.probe_successes;
        ch.query_interval_ms = m.query_interval_ms;
        ch.query_window_ms = m.query_window_ms;
        ch.unknown_policy = m.unknown_policy;
        ch.refunds_max = m.refunds_max;
        ch.refund_window_days = m.refund_window_days;
        ch.refund_fee = m.refund_fee;
        ch.bill_utc_offset_min = m.bill_utc_offset_min;
        ch.bill_cutoff_min = m.bill_cutoff_min;
        ch.settlement = m.settlement;
        ch.settlement_delay_days = m.settlement_delay_days;
        ch.currencies = m.currencies.iter().map(|c| c.currency).collect();
        ch.currency_mask = currency_mask;
        ch.method_mask = methods
            .iter()
            .fold(0, |mask, f| mask | (1 << (f.method as u8 & 7)));
        let fixed = methods.iter().map(|f| f.fee_fixed_minor);
        self.state.fee_fixed_max = fixed.fold(self.state.fee_fixed_max, i64::max);
        ch.methods = methods;
        Ok(())
    }

    pub(crate) fn config_profile(&mut self, m: &ConfigSplitProfile) -> Result<(), Refusal> {
        if m.profile_id == 0 {
            return invalid("profile_id must be > 0");
        }
        let places = "rates must be 0..=1 with at most 9 decimal places";
        let platform = rate(m.platform_rate, places)?;
        let l1 = rate(m.promoter_level1_rate, places)?;
        let l2 = rate(m.promoter_level2_rate, places)?;
        let parent = rate(m.parent_share, places)?;
        let grandparent = rate(m.grandparent_share, places)?;
        if parent + grandparent > PPB_ONE {
            return invalid("parent_share + grandparent_share must be <= 1");
        }
        let mut tiers: ArrayVec<(i64, i64), 8> = ArrayVec::new();
        for t in &m.tiers {
            tiers.push((t.min_amount_minor, rate(t.rate, places)?));
        }
        tiers.sort_by_key(|t| t.0);
        let mut categories: ArrayVec<(u16, i64), 8> = ArrayVec::new();
        for c in &m.categories {
            categories.push((c.category, rate(c.rate, places)?));
        }
        let rates = std::iter::once(platform)
            .chain(tiers.iter().map(|t| t.1))
            .chain(categories.iter().map(|c| c.1));
        for p in rates {
            if p + l1 + l2 > PPB_ONE {
                return invalid("every platform rate + promoter rates must be <= 1");
            }
        }
        let existing = self.index.profiles.get(&m.profile_id).copied();
        if existing.is_none()
            && self.state.profiles.len() >= self.state.limits.split_profiles_max as usize
        {
            return Err((
                ReasonCode::CapacityReached,
                "split profiles are at their maximum",
            ));
        }
        let profile = SplitProfile {
            id: m.profile_id,
            platform_ppb: platform,
            promoter_level1_ppb: l1,
            promoter_level2_ppb: l2,
            parent_share_ppb: parent,
            grandparent_share_ppb: grandparent,
            merchant_bears_fee: m.fee_bearer == FeeBearer::Merchant,
            tiers,
            categories,
        };
        match existing {
            Some(slot) => self.state.profiles[slot as usize] = profile,
            None => {
                let slot = self.state.profiles.len() as u32;
                self.state.profiles.push(profile);
                self.index.profiles.insert(m.profile_id, slot);
            }
        }
        Ok(())
    }

    /// The parent's slot, refusing unknown parents and cycles (the merchants' rule: a chain of at
    /// most 16 that never comes back to the promoter).
    fn promoter_parent(&self, m: &ConfigPromoter) -> Result<Option<Slot>, Refusal> {
        if m.parent_promoter_id == 0 {
            return Ok(None);
        }
        if m.parent_promoter_id == m.promoter_id {
            return invalid("a promoter cannot be its own parent");
        }
        let &parent = self
            .index
            .promoters
            .get(&m.parent_promoter_id)
            .ok_or((ReasonCode::UnknownPromoter, "parent_promoter_id"))?;
        let mut at = parent;
        for _ in 0..16 {
            let p = &self.state.promoters[at as usize];
            if p.id == m.promoter_id {
                return invalid("parent_promoter_id makes a cycle");
            }
            match p.parent_slot {
                None => return Ok(Some(Slot::new(parent))),
                Some(next) => at = next.index(),
            }
        }
        invalid("promoter chain is deeper than 16")
    }

    pub(crate) fn config_promoter(&mut self, m: &ConfigPromoter) -> Result<(), Refusal> {
        if m.promoter_id == 0 {
            return invalid("promoter_id must be > 0");
        }
        let terms = SettlementTerms::of_promoter(m)?;
        let parent_slot = self.promoter_parent(m)?;
        let payout =
            Engine::check_payout_terms(m.payout_mode, m.payout_channel_id, m.min_payout_minor)?;
        let existing = self.index.promoters.get(&m.promoter_id).copied();
        if existing.is_none()
            && (self.state.promoters.len() >= self.state.limits.promoters_max as usize
                || self.state.parties.len() >= self.state.limits.parties_max() as usize)
        {
            return Err((
                ReasonCode::CapacityReached,
                "promoters are at their maximum",
            ));
        }
        let active = m.status == Activity::Active;
        match existing {
            Some(slot) => {
                let p = &mut self.state.promoters[slot as usize];
                p.parent_slot = parent_slot;
                p.active = active;
                let party = p.party_slot;
                self.update_party(party, &terms);
                self.set_payout_terms(party, payout);
            }
            None => {
                let kind = PartyKind::Promoter;
                let party_slot = self.new_party(kind, m.promoter_id, &terms);
                self.set_payout_terms(party_slot, payout);
                let slot = self.state.promoters.len() as u32;
                self.state.promoters.push(Promoter {
                    id: m.promoter_id,
                    parent_slot,
                    party_slot,
                    active,
                });
                self.index.promoters.insert(m.promoter_id, slot);
            }
        }
        Ok(())
    }

    /// Keeps the velocity windows in `masks` counted beside those the rules read (per entity kind,
    /// bit w for window w): for the backtest, whose candidate rules read windows the live rules
    /// may not (`risk::lang::RuleSet::window_masks`). Not journaled: a tool's engine only.
    pub fn track_extra_risk_windows(&mut self, masks: [u8; 6]) {
        self.state.risk.track_extra_windows(masks);
    }

    /// Applies a ConfigRiskRuleText and acknowledges it; a refusal's text says where the rule's
    /// text is wrong (`line:col: message`).
    pub(crate) fn config_rule_text(
        &mut self,
        meta: &InputMeta,
        m: &sluice_protocol::ConfigRiskRuleText,
        out: &mut Outbox,
    ) {
        let template =
            <sluice_protocol::ConfigRiskRuleText as sluice_protocol::Message>::TEMPLATE_ID;
        match self.state.risk.apply_rule_text(m) {
            Ok((slot, new)) => {
                if new {
                    self.counters.rule_hits.insert(slot, (0, 0));
                }
                self.config_ack(meta, template, u64::from(m.rule_id), Ok(()), out);
            }
            Err((reason, why)) => {
                let refused = Err((reason, why.as_str()));
                self.config_ack(meta, template, u64::from(m.rule_id), refused, out);
            }
        }
    }

    pub(crate) fn config_rule(&mut self, m: &ConfigRiskRule) -> Result<(), Refusal> {
        let (slot, new) = self.state.risk.apply_rule(m)?;
        if new {
            self.counters.rule_hits.insert(slot, (0, 0));
        }
        Ok(())
    }
}

fn new_channel(id: u16) -> Channel {
    Channel {
        id,
        name: [0; 16],
        active: true,
        timeout_ms: 1,
        min_amount_minor: 0,
        max_amount_minor: 0,
        failure_threshold: 1,
        failure_leak_per_sec: 0,
        min_success_ppb: 0,
        min_attempts_for_rate: 0,
        cooldown_ms: 0,
        probe_slots: 1,
        probe_successes: 1,
        query_interval_ms: 0,
        query_window_ms: 0,
        unknown_policy: UnknownPolicy::Legacy,
        refunds_max: 16,
        refund_window_days: 0,
        refund_fee: RefundFeePolicy::Keep,
        bill_utc_offset_min: 0,
        bill_cutoff_min: 0,
        settlement: SettlementSchedule::Daily,
        settlement_delay_days: 1,
        currencies: ArrayVec::new(),
        methods: ArrayVec::new(),
        currency_mask: 0,
        method_mask: 0,
        health: HealthState::Healthy,
        health_changes: 0,
        failure_level_milli: 0,
        level_updated_ns: 0,
        cooldown_until_ns: 0,
        probes_in_flight: 0,
        probe_successes_seen: 0,
        consecutive_failures: 0,
        attempts: 0,
        successes: 0,
        declines: 0,
        retryable_errors: 0,
        timeouts: 0,
        stats: [
            MethodStats::default(),
            MethodStats::default(),
            MethodStats::default(),
        ],
        attempts_in_flight: InFlight::default(),
        refunds_in_flight: InFlight::default(),
        attempt_controls: InFlight::default(),
        refund_queries: InFlight::default(),
        books: Default::default(),
    }
}
