//! `ConfigQuery`: an object's current definition, rebuilt from the state as the `Config*` message
//! that would set it — rates from parts per billion back to exact decimals, slots back to ids.
//! The same function serves `sluice admin show|enable|disable|diff` over the protocol and the
//! start-up diff of `serve --config` (docs/OPERATIONS.md), so "what the engine holds" has one
//! definition. Applying the answer changes nothing (a property the tests check).

use sluice_protocol::{
    Activity, AnyMessage, CategoryRate, Chars, ConfigChannel, ConfigCredential, ConfigKind,
    ConfigListEntry, ConfigLookup, ConfigMerchant, ConfigPromoter, ConfigQuery, ConfigRiskRule,
    ConfigRiskRuleText, ConfigSplitProfile, CurrencyEntry, FeeBearer, Ip, ListOp, Message,
    MethodFee as WireFee, RateTier, ReasonCode, RiskEntity, RouteEntry, codec::text,
};

use crate::config::Refusal;
use crate::core::Engine;
use crate::input::InputMeta;
use crate::money::ppb_to_rate;
use crate::outbox::{Dest, Outbox};
use crate::risk::lists::ListEntry;

fn active(on: bool) -> Activity {
    if on {
        Activity::Active
    } else {
        Activity::Disabled
    }
}

fn currencies<const N: usize>(list: &[u16]) -> arrayvec::ArrayVec<CurrencyEntry, N> {
    list.iter()
        .map(|&currency| CurrencyEntry { currency })
        .collect()
}

impl Engine {
    /// Answers a ConfigQuery: the object's Config* message to the asking session, or a rejected
    /// ConfigAck naming why there is none.
    pub(crate) fn handle_config_query(
        &mut self,
        meta: &InputMeta,
        q: &ConfigQuery,
        out: &mut Outbox,
    ) {
        match self.config_of(q) {
            Ok(message) => {
                let (dest, seq) = (Dest::session(meta.session_id, meta.principal_id), meta.seq);
                match &message {
                    AnyMessage::ConfigMerchant(m) => out.push(dest, seq, m),
                    AnyMessage::ConfigChannel(m) => out.push(dest, seq, m),
                    AnyMessage::ConfigSplitProfile(m) => out.push(dest, seq, m),
                    AnyMessage::ConfigPromoter(m) => out.push(dest, seq, m),
                    AnyMessage::ConfigRiskRule(m) => out.push(dest, seq, m),
                    AnyMessage::ConfigRiskRuleText(m) => out.push(dest, seq, m),
                    AnyMessage::ConfigListEntry(m) => out.push(dest, seq, m),
                    AnyMessage::ConfigCredential(m) => out.push(dest, seq, m),
                    AnyMessage::Discrepancy(m) => out.push(dest, seq, m),
                    AnyMessage::ChannelSettlement(m) => out.push(dest, seq, m),
                    other => {
                        unreachable!("config_of answers Config* messages, not {}", other.name())
                    }
                }
            }
            Err(refusal) => {
                self.config_ack(meta, ConfigQuery::TEMPLATE_ID, q.id, Err(refusal), out);
            }
        }
    }

    /// Applies a ConfigCredential: the ConfigAck to the admin, and on success the key's new entry
    /// to the gateway's login table.
    pub(crate) fn config_credential(
        &mut self,
        meta: &InputMeta,
        m: &ConfigCredential,
        out: &mut Outbox,
    ) {
        let now = self.state.now_ns;
        let result = self
            .state
            .credentials
            .apply(m, now)
            .map(|c| c.update(meta.seq));
        let (ack, update) = match result {
            Ok(update) => (Ok(()), Some(update)),
            Err(refusal) => (Err(refusal), None),
        };
        self.config_ack(meta, ConfigCredential::TEMPLATE_ID, 0, ack, out);
        if let Some(update) = update {
            out.push(Dest::gateway(), meta.seq, &update);
        }
    }

    /// The current definition of the object a ConfigQuery names, or why there is none.
    pub fn config_of(&self, q: &ConfigQuery) -> Result<AnyMessage, Refusal> {
        match q.lookup {
            ConfigLookup::ById => self.config_by_id(q),
            ConfigLookup::ByPosition => {
                let q = self
                    .at_position(q)
                    .ok_or((ReasonCode::NotFound, "no object at that position"))?;
                self.config_by_id(&q)
            }
        }
    }

    /// The by-id query of the object at a ByPosition query's position (slots are never reused,
    /// so positions follow the order of first definition).
    fn at_position(&self, q: &ConfigQuery) -> Option<ConfigQuery> {
        let s = &self.state;
        let i = usize::try_from(q.id).ok()?;
        let (id, key_id) = match q.kind {
            ConfigKind::Merchant => (u64::from(s.merchants.get(i)?.id), Chars::default()),
            ConfigKind::Channel => (u64::from(s.channels.get(i)?.id), Chars::default()),
            ConfigKind::SplitProfile => (u64::from(s.profiles.get(i)?.id), Chars::default()),
            ConfigKind::Promoter => (u64::from(s.promoters.get(i)?.id), Chars::default()),
            ConfigKind::RiskRule => (u64::from(s.risk.rules.rules.get(i)?.id), Chars::default()),
            ConfigKind::ListEntry => (q.id, Chars::default()),
            ConfigKind::Credential => (0, Chars(s.credentials.entries.get(i)?.key_id)),
            ConfigKind::Discrepancy => (s.discrepancies.entries.get(i)?.id, Chars::default()),
            ConfigKind::ChannelSettlement => {
                let a = s.channel_settlements.accounts.get(i)?;
                let id = u64::from(a.channel_id) << 16 | u64::from(a.currency);
                (id, Chars::default())
            }
        };
        Some(ConfigQuery {
            kind: q.kind,
            lookup: ConfigLookup::ById,
            id,
            key_id,
        })
    }

    fn config_by_id(&self, q: &ConfigQuery) -> Result<AnyMessage, Refusal> {
        let id32 = u32::try_from(q.id).ok();
        let found = match q.kind {
            ConfigKind::Merchant => id32.and_then(|id| self.merchant_config(id)).map(Into::into),
            ConfigKind::Channel => u16::try_from(q.id)
                .ok()
                .and_then(|id| self.channel_config(id))
                .map(Into::into),
            ConfigKind::SplitProfile => id32.and_then(|id| self.profile_config(id)).map(Into::into),
            ConfigKind::Promoter => id32.and_then(|id| self.promoter_config(id)).map(Into::into),
            ConfigKind::RiskRule => id32.and_then(|id| self.rule_config(id)),
            ConfigKind::ListEntry => usize::try_from(q.id)
                .ok()
                .and_then(|i| self.state.risk.lists.entries.get(i))
                .map(|e| list_config(e).into()),
            ConfigKind::Credential => self
                .state
                .credentials
                .find(&q.key_id.0)
                .map(|c| c.config().into()),
            ConfigKind::Discrepancy => self.discrepancy_config(q.id).map(Into::into),
            ConfigKind::ChannelSettlement => self.settlement_config(q.id).map(Into::into),
        };
        found.ok_or(match q.kind {
            ConfigKind::Merchant => (ReasonCode::UnknownMerchant, "no such merchant"),
            ConfigKind::Channel => (ReasonCode::UnknownChannel, "no such channel"),
            ConfigKind::SplitProfile => (ReasonCode::UnknownSplitProfile, "no such split profile"),
            ConfigKind::Promoter => (ReasonCode::UnknownPromoter, "no such promoter"),
            ConfigKind::RiskRule => (ReasonCode::UnknownRule, "no such risk rule"),
            ConfigKind::ListEntry => (ReasonCode::NotFound, "no list entry at that index"),
            ConfigKind::Credential => (ReasonCode::UnknownCredential, "no such key id"),
            ConfigKind::Discrepancy => (ReasonCode::UnknownDiscrepancy, "no such discrepancy"),
            ConfigKind::ChannelSettlement => (
                ReasonCode::NotFound,
                "no settlement for that channel and currency",
            ),
        })
    }

    fn merchant_config(&self, id: u32) -> Option<ConfigMerchant> {
        let m = &self.state.merchants[*self.index.merchants.get(&id)? as usize];
        let party = &self.state.parties[m.party_slot as usize];
        let parent = m
            .parent_slot
            .map_or(0, |s| self.state.merchants[s.index() as usize].id);
        Some(ConfigMerchant {
            merchant_id: m.id,
            acquirer_id: m.acquirer_id,
            split_profile_id: self.state.profiles[m.profile_slot as usize].id,
            parent_merchant_id: parent,
            status: active(m.active),
            strategy: m.strategy,
            settlement_days: party.settlement_days,
            deposit_rate: ppb_to_rate(party.deposit_ppb),
            deposit_hold_days: party.deposit_hold_days,
            min_amount_minor: m.min_amount_minor,
            max_amount_minor: m.max_amount_minor,
            weight_success: ppb_to_rate(m.weight_success_ppb),
            weight_cost: ppb_to_rate(m.weight_cost_ppb),
            weight_latency: ppb_to_rate(m.weight_latency_ppb),
            currencies: currencies(&m.currencies),
            channels: m
                .channels
                .iter()
                .map(|&(channel_id, weight)| RouteEntry { channel_id, weight })
                .collect(),
            schedule: party.schedule,
            schedule_anchor: party.schedule_anchor,
            reserve_rate: ppb_to_rate(party.reserve_ppb),
            reserve_days: party.reserve_days,
            payout_mode: party.payout.mode,
            payout_channel_id: party.payout.channel_id,
            min_payout_minor: party.payout.min_payout_minor,
        })
    }

    fn channel_config(&self, id: u16) -> Option<ConfigChannel> {
        let c = &self.state.channels[*self.index.channels.get(&id)? as usize];
        Some(ConfigChannel {
            channel_id: c.id,
            name: Chars(c.name),
            status: active(c.active),
            timeout_ms: c.timeout_ms,
            min_amount_minor: c.min_amount_minor,
            max_amount_minor: c.max_amount_minor,
            failure_threshold: c.failure_threshold,
            failure_leak_per_sec: c.failure_leak_per_sec,
            min_success_rate: ppb_to_rate(c.min_success_ppb),
            min_attempts_for_rate: c.min_attempts_for_rate,
            cooldown_ms: c.cooldown_ms,
            probe_slots: c.probe_slots,
            probe_successes: c.probe_successes,
            query_interval_ms: c.query_interval_ms,
            query_window_ms: c.query_window_ms,
            unknown_policy: c.unknown_policy,
            refunds_max: c.refunds_max,
            refund_window_days: c.refund_window_days,
            refund_fee: c.refund_fee,
            bill_utc_offset_min: c.bill_utc_offset_min,
            bill_cutoff_min: c.bill_cutoff_min,
            settlement: c.settlement,
            settlement_delay_days: c.settlement_delay_days,
            currencies: currencies(&c.currencies),
            methods: c
                .methods
                .iter()
                .map(|f| WireFee {
                    method: f.method,
                    fee_bps: f.fee_bps,
                    fee_fixed_minor: f.fee_fixed_minor,
                })
                .collect(),
        })
    }

    fn profile_config(&self, id: u32) -> Option<ConfigSplitProfile> {
        let p = &self.state.profiles[*self.index.profiles.get(&id)? as usize];
        Some(ConfigSplitProfile {
            profile_id: p.id,
            platform_rate: ppb_to_rate(p.platform_ppb),
            promoter_level1_rate: ppb_to_rate(p.promoter_level1_ppb),
            promoter_level2_rate: ppb_to_rate(p.promoter_level2_ppb),
            parent_share: ppb_to_rate(p.parent_share_ppb),
            grandparent_share: ppb_to_rate(p.grandparent_share_ppb),
            fee_bearer: if p.merchant_bears_fee {
                FeeBearer::Merchant
            } else {
                FeeBearer::Platform
            },
            tiers: p
                .tiers
                .iter()
                .map(|&(min_amount_minor, ppb)| RateTier {
                    min_amount_minor,
                    rate: ppb_to_rate(ppb),
                })
                .collect(),
            categories: p
                .categories
                .iter()
                .map(|&(category, ppb)| CategoryRate {
                    category,
                    rate: ppb_to_rate(ppb),
                })
                .collect(),
        })
    }

    fn promoter_config(&self, id: u32) -> Option<ConfigPromoter> {
        let p = &self.state.promoters[*self.index.promoters.get(&id)? as usize];
        let parent = p
            .parent_slot
            .map_or(0, |s| self.state.promoters[s.index() as usize].id);
        let party = &self.state.parties[p.party_slot as usize];
        Some(ConfigPromoter {
            promoter_id: p.id,
            parent_promoter_id: parent,
            settlement_days: party.settlement_days,
            status: active(p.active),
            schedule: party.schedule,
            schedule_anchor: party.schedule_anchor,
            reserve_rate: ppb_to_rate(party.reserve_ppb),
            reserve_days: party.reserve_days,
            payout_mode: party.payout.mode,
            payout_channel_id: party.payout.channel_id,
            min_payout_minor: party.payout.min_payout_minor,
        })
    }

    /// A rule as the message that made it: ConfigRiskRuleText for a text rule, ConfigRiskRule
    /// for a struct rule.
    fn rule_config(&self, id: u32) -> Option<AnyMessage> {
        let r = self.state.risk.rules.rules.iter().find(|r| r.id == id)?;
        if !r.source.is_empty() {
            return Some(AnyMessage::from(ConfigRiskRuleText {
                rule_id: r.id,
                name: Chars(r.name),
                priority: r.priority,
                target: r.target,
                shadow: r.shadow,
                status: active(r.active),
                source: text(&r.source),
            }));
        }
        Some(AnyMessage::from(ConfigRiskRule {
            rule_id: r.id,
            name: Chars(r.name),
            target: r.target,
            feature: r.feature,
            entity: r.entity,
            window: r.window,
            comparison: r.comparison,
            threshold: r.threshold,
            action: r.action,
            shadow: r.shadow,
            status: active(r.active),
            merchant_id: r.merchant_id,
            goods_category: r.goods_category,
        }))
    }
}

/// A list entry as the ConfigListEntry (op Add) that made it: its key back to the field it came
/// from (an IPv4 address was stored as its IPv6-mapped form).
fn list_config(e: &ListEntry) -> ConfigListEntry {
    let mut m = ConfigListEntry {
        list: e.list,
        op: ListOp::Add,
        entity: e.entity,
        ..ConfigListEntry::default()
    };
    match e.entity {
        RiskEntity::User | RiskEntity::Device => m.id = e.key as u64,
        RiskEntity::CardBin => m.card_bin = e.key as u32,
        RiskEntity::CardFingerprint => m.card_fingerprint = Chars(e.key.to_le_bytes()),
        RiskEntity::Ip => m.ip = ip_of(e.key),
        _ => {}
    }
    m
}

fn ip_of(key: u128) -> Ip {
    let b = key.to_be_bytes();
    if b[..10].iter().all(|x| *x == 0) && b[10] == 0xff && b[11] == 0xff {
        Ip::v4([b[12], b[13], b[14], b[15]])
    } else {
        Ip {
            version: 6,
            octets: b,
        }
    }
}
