//! Risk: allow/block lists, velocity features over rolling windows in event time, and rules as data.
//!
//! Evaluation order (Stripe Radar's): allow list, allow rules, block list, block rules, review rules;
//! the first match wins. Shadow rules are evaluated on every request and only counted.
//!
//! Velocity windows are bucketed: minute = 6 buckets of 10 s, hour = 6 of 10 min, day = 6 of 4 h; a
//! window's value is the sum of the buckets whose span ends within the window (so "the last minute"
//! covers between 50 and 60 s). Each entity kind has a fixed table of `velocity_keys_max` keys,
//! organised in sets of 8; a new key takes an empty slot of its set or evicts the key of that set
//! least recently seen (event time). Only entity kinds that some active rule uses are tracked.

use rkyv::{Archive, Deserialize, Serialize};
use rustc_hash::FxHashSet;
use sluice_protocol::{
    ConfigListEntry, ConfigRiskRule, ListKind, ListOp, ReasonCode, RiskAction, RiskEntity,
    RiskFeature, RiskWindow, RuleTarget,
};

/// Rule id reported when the allow list matched.
pub const ALLOW_LIST_RULE_ID: u32 = 1;
/// Rule id reported when the block list matched.
pub const BLOCK_LIST_RULE_ID: u32 = 2;

const WAYS: usize = 8;
const BUCKETS: usize = 6;
const NS_PER_SEC: u64 = 1_000_000_000;
/// Bucket widths for the minute, hour and day windows.
const BUCKET_NS: [u64; 3] = [10 * NS_PER_SEC, 600 * NS_PER_SEC, 4 * 3600 * NS_PER_SEC];
/// Entity kinds with a velocity table: User, Ip, Device, CardFingerprint, CardBin, Merchant.
const ENTITY_KINDS: usize = 6;

/// A risk rule.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: u32,
    pub name: [u8; 24],
    pub target: u8,
    pub feature: u8,
    pub entity: u8,
    pub window: u8,
    pub comparison: u8,
    pub threshold: i64,
    pub action: u8,
    pub shadow: bool,
    pub active: bool,
    pub merchant_id: u32,
    pub goods_category: u16,
}

/// An allow- or block-list entry.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListEntry {
    pub list: u8,
    pub entity: u8,
    pub key: u128,
}

/// One bucket of a window.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    pub epoch: u32,
    pub payments: u32,
    pub amount_minor: i64,
    pub refunds: u32,
    pub declines: u32,
}

/// A key's three windows.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyWindows {
    pub windows: [[Bucket; BUCKETS]; 3],
}

/// A fixed, set-associative table of keys and their windows. Windows are stored only for keys seen
/// (a slot's window is reused when its key is evicted), so a mostly idle table stays small in
/// snapshots.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct VelocityTable {
    pub keys: Vec<u128>,
    pub last_seen_ns: Vec<u64>,
    /// Index into `windows` of each slot's key (`u32::MAX`: the slot never held a key).
    pub window_of: Vec<u32>,
    pub windows: Vec<KeyWindows>,
    pub sets: u32,
    pub evictions: u64,
}

/// What a request looks like to the risk rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct RiskContext {
    pub merchant_id: u32,
    pub goods_category: u16,
    pub amount_minor: i64,
    /// Keys per entity kind (index = RiskEntity - 1); 0 = absent.
    pub keys: [u128; ENTITY_KINDS],
}

/// The outcome of evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub action: RiskAction,
    pub rule_id: u32,
}

impl Verdict {
    pub const NONE: Verdict = Verdict {
        action: RiskAction::None,
        rule_id: 0,
    };
}

/// The risk state.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub struct RiskState {
    /// Sorted by id.
    pub rules: Vec<Rule>,
    pub entries: Vec<ListEntry>,
    pub tables: Vec<VelocityTable>,
    /// Bit (1 << entity) for each entity kind some active velocity rule uses.
    pub tracked_mask: u8,
    rules_max: u32,
    entries_max: u32,
    /// Lookup for list entries: (list, entity, key). Rebuilt from `entries` on load.
    #[rkyv(with = rkyv::with::Skip)]
    list_index: FxHashSet<(u8, u8, u128)>,
}

impl VelocityTable {
    fn new(keys_max: u32) -> Self {
        let sets = (keys_max as usize).div_ceil(WAYS).max(1);
        let slots = sets * WAYS;
        VelocityTable {
            keys: vec![0; slots],
            last_seen_ns: vec![0; slots],
            window_of: vec![u32::MAX; slots],
            windows: Vec::with_capacity(slots),
            sets: sets as u32,
            evictions: 0,
        }
    }

    fn set_of(&self, key: u128) -> usize {
        // A fixed multiplicative hash: deterministic on every machine.
        let mixed = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
        let h = mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        ((h >> 32) % u64::from(self.sets)) as usize
    }

    fn find(&self, key: u128) -> Option<usize> {
        let base = self.set_of(key) * WAYS;
        (base..base + WAYS).find(|&i| self.keys[i] == key)
    }

    /// The slot for `key`, inserting it (and evicting the least recently seen key of its set).
    fn slot_for(&mut self, key: u128) -> usize {
        let base = self.set_of(key) * WAYS;
        let mut victim = base;
        for i in base..base + WAYS {
            if self.keys[i] == key {
                return i;
            }
            if self.keys[i] == 0 {
                victim = i;
                break;
            }
            if self.last_seen_ns[i] < self.last_seen_ns[victim] {
                victim = i;
            }
        }
        if self.keys[victim] != 0 {
            self.evictions += 1;
        }
        self.keys[victim] = key;
        match self.window_of[victim] {
            u32::MAX => {
                // At most one window per slot: the capacity reserved at start is never exceeded.
                self.window_of[victim] = self.windows.len() as u32;
                self.windows.push(KeyWindows::default());
            }
            w => self.windows[w as usize] = KeyWindows::default(),
        }
        victim
    }

    /// The windows of the key in `slot`.
    fn windows_at(&self, slot: usize) -> &KeyWindows {
        &self.windows[self.window_of[slot] as usize]
    }

    fn windows_at_mut(&mut self, slot: usize) -> &mut KeyWindows {
        let w = self.window_of[slot] as usize;
        &mut self.windows[w]
    }
}

fn epoch(now_ns: u64, window: usize) -> u32 {
    (now_ns / BUCKET_NS[window]) as u32
}

/// Sums of a key's window: (payments, amount, refunds, declines).
fn window_sums(w: &KeyWindows, window: usize, now_ns: u64) -> (u64, i64, u64, u64) {
    let now_epoch = epoch(now_ns, window);
    let mut sums = (0u64, 0i64, 0u64, 0u64);
    for b in &w.windows[window] {
        if b.epoch <= now_epoch && now_epoch - b.epoch < BUCKETS as u32 {
            sums.0 += u64::from(b.payments);
            sums.1 = sums.1.saturating_add(b.amount_minor);
            sums.2 += u64::from(b.refunds);
            sums.3 += u64::from(b.declines);
        }
    }
    sums
}

fn record(w: &mut KeyWindows, now_ns: u64, f: impl Fn(&mut Bucket)) {
    for (window, buckets) in w.windows.iter_mut().enumerate() {
        let e = epoch(now_ns, window);
        let b = &mut buckets[e as usize % BUCKETS];
        if b.epoch != e {
            *b = Bucket {
                epoch: e,
                ..Bucket::default()
            };
        }
        f(b);
    }
}

fn compare(comparison: u8, value: i64, threshold: i64) -> bool {
    use sluice_protocol::Comparison as C;
    match C::from_wire(comparison) {
        Some(C::Greater) => value > threshold,
        Some(C::GreaterOrEqual) => value >= threshold,
        Some(C::Less) => value < threshold,
        Some(C::LessOrEqual) => value <= threshold,
        Some(C::Equal) => value == threshold,
        None => false,
    }
}

fn window_index(window: u8) -> Option<usize> {
    match RiskWindow::from_wire(window)? {
        RiskWindow::Minute => Some(0),
        RiskWindow::Hour => Some(1),
        RiskWindow::Day => Some(2),
        RiskWindow::None => None,
    }
}

/// The list/velocity key of an IP address: IPv4 as IPv4-mapped IPv6, so both share one key space.
pub fn ip_key(ip: &sluice_protocol::Ip) -> u128 {
    match ip.version {
        4 => {
            let mut b = [0u8; 16];
            b[10] = 0xff;
            b[11] = 0xff;
            b[12..16].copy_from_slice(&ip.octets[..4]);
            u128::from_be_bytes(b)
        }
        6 => u128::from_be_bytes(ip.octets),
        _ => 0,
    }
}

/// The key of a card fingerprint (0 when empty).
pub fn fingerprint_key(fp: &[u8; 16]) -> u128 {
    u128::from_le_bytes(*fp)
}

impl RiskState {
    pub fn new(rules_max: u32, entries_max: u32, keys_max: u32) -> Self {
        RiskState {
            rules: Vec::with_capacity(rules_max as usize),
            entries: Vec::with_capacity(entries_max as usize),
            tables: (0..ENTITY_KINDS)
                .map(|_| VelocityTable::new(keys_max))
                .collect(),
            tracked_mask: 0,
            rules_max,
            entries_max,
            list_index: FxHashSet::with_capacity_and_hasher(
                entries_max as usize,
                Default::default(),
            ),
        }
    }

    /// Rebuilds the list lookup and capacities after a snapshot load.
    pub fn rebuild(&mut self) {
        self.list_index =
            FxHashSet::with_capacity_and_hasher(self.entries_max as usize, Default::default());
        for e in &self.entries {
            self.list_index.insert((e.list, e.entity, e.key));
        }
        let rules_more = (self.rules_max as usize).saturating_sub(self.rules.len());
        self.rules.reserve_exact(rules_more);
        let entries_more = (self.entries_max as usize).saturating_sub(self.entries.len());
        self.entries.reserve_exact(entries_more);
        for t in self.tables.iter_mut() {
            let more = t.keys.len().saturating_sub(t.windows.len());
            t.windows.reserve_exact(more);
        }
    }

    fn listed(&self, list: ListKind, ctx: &RiskContext) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        ctx.keys
            .iter()
            .enumerate()
            .any(|(i, &key)| key != 0 && self.list_index.contains(&(list as u8, i as u8 + 1, key)))
    }

    /// The feature value of `rule` for this request, this request included where the feature says so.
    fn feature(&self, rule: &Rule, ctx: &RiskContext, now_ns: u64) -> Option<i64> {
        let feature = RiskFeature::from_wire(rule.feature)?;
        if feature == RiskFeature::SingleAmount {
            return Some(ctx.amount_minor);
        }
        let entity = rule.entity as usize;
        if entity == 0 || entity > ENTITY_KINDS {
            return None;
        }
        let key = ctx.keys[entity - 1];
        if key == 0 {
            return None;
        }
        let window = window_index(rule.window)?;
        let table = &self.tables[entity - 1];
        let sums = table
            .find(key)
            .map(|slot| window_sums(table.windows_at(slot), window, now_ns))
            .unwrap_or_default();
        let value = match feature {
            RiskFeature::PaymentCount => sums.0 as i64 + 1,
            RiskFeature::PaymentAmount => sums.1.saturating_add(ctx.amount_minor),
            RiskFeature::RefundCount => sums.2 as i64 + 1,
            RiskFeature::DeclineCount => sums.3 as i64,
            RiskFeature::SingleAmount => ctx.amount_minor,
        };
        Some(value)
    }

    fn matches(&self, rule: &Rule, target: RuleTarget, ctx: &RiskContext, now_ns: u64) -> bool {
        if !rule.active || rule.target != target as u8 {
            return false;
        }
        if rule.merchant_id != 0 && rule.merchant_id != ctx.merchant_id {
            return false;
        }
        if rule.goods_category != 0 && rule.goods_category != ctx.goods_category {
            return false;
        }
        match self.feature(rule, ctx, now_ns) {
            Some(value) => compare(rule.comparison, value, rule.threshold),
            None => false,
        }
    }

    /// Evaluates a request. Reads the state only; hit counts go to `hits` (parallel to `rules`).
    pub fn evaluate(
        &self,
        target: RuleTarget,
        ctx: &RiskContext,
        now_ns: u64,
        hits: &mut [(u64, u64)],
    ) -> Verdict {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.shadow
                && self.matches(rule, target, ctx, now_ns)
                && let Some(h) = hits.get_mut(i)
            {
                h.1 += 1;
            }
        }
        if target == RuleTarget::Payment && self.listed(ListKind::Allow, ctx) {
            return Verdict {
                action: RiskAction::Allow,
                rule_id: ALLOW_LIST_RULE_ID,
            };
        }
        if let Some(v) = self.first_match(RiskAction::Allow, target, ctx, now_ns, hits) {
            return v;
        }
        if target == RuleTarget::Payment && self.listed(ListKind::Block, ctx) {
            return Verdict {
                action: RiskAction::Block,
                rule_id: BLOCK_LIST_RULE_ID,
            };
        }
        if let Some(v) = self.first_match(RiskAction::Block, target, ctx, now_ns, hits) {
            return v;
        }
        if let Some(v) = self.first_match(RiskAction::Review, target, ctx, now_ns, hits) {
            return v;
        }
        Verdict::NONE
    }

    fn first_match(
        &self,
        action: RiskAction,
        target: RuleTarget,
        ctx: &RiskContext,
        now_ns: u64,
        hits: &mut [(u64, u64)],
    ) -> Option<Verdict> {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.action == action as u8
                && !rule.shadow
                && self.matches(rule, target, ctx, now_ns)
            {
                if let Some(h) = hits.get_mut(i) {
                    h.0 += 1;
                }
                return Some(Verdict {
                    action,
                    rule_id: rule.id,
                });
            }
        }
        None
    }

    fn record_each(&mut self, ctx: &RiskContext, now_ns: u64, f: impl Fn(&mut Bucket) + Copy) {
        for (i, &key) in ctx.keys.iter().enumerate() {
            if key == 0 || self.tracked_mask & (1 << (i + 1)) == 0 {
                continue;
            }
            let table = &mut self.tables[i];
            let slot = table.slot_for(key);
            table.last_seen_ns[slot] = now_ns;
            record(table.windows_at_mut(slot), now_ns, f);
        }
    }

    /// Counts a payment request for every tracked entity it names.
    pub fn record_payment(&mut self, ctx: &RiskContext, now_ns: u64) {
        let amount = ctx.amount_minor;
        self.record_each(ctx, now_ns, |b| {
            b.payments += 1;
            b.amount_minor = b.amount_minor.saturating_add(amount);
        });
    }

    /// Counts a refund request.
    pub fn record_refund(&mut self, ctx: &RiskContext, now_ns: u64) {
        self.record_each(ctx, now_ns, |b| b.refunds += 1);
    }

    /// Counts a declined attempt.
    pub fn record_decline(&mut self, ctx: &RiskContext, now_ns: u64) {
        self.record_each(ctx, now_ns, |b| b.declines += 1);
    }

    fn recompute_mask(&mut self) {
        let mut mask = 0u8;
        for r in self.rules.iter().filter(|r| r.active) {
            if r.feature != RiskFeature::SingleAmount as u8 && (1..=6).contains(&r.entity) {
                mask |= 1 << r.entity;
            }
        }
        self.tracked_mask = mask;
    }

    /// Validates and applies a rule. Returns the slot it took (for the hit counters) and whether it
    /// is new, or why it was refused.
    pub fn apply_rule(
        &mut self,
        m: &ConfigRiskRule,
    ) -> Result<(usize, bool), (ReasonCode, &'static str)> {
        validate_rule(m)?;
        let rule = Rule {
            id: m.rule_id,
            name: m.name.0,
            target: m.target as u8,
            feature: m.feature as u8,
            entity: m.entity as u8,
            window: m.window as u8,
            comparison: m.comparison as u8,
            threshold: m.threshold,
            action: m.action as u8,
            shadow: m.shadow,
            active: m.status == sluice_protocol::Activity::Active,
            merchant_id: m.merchant_id,
            goods_category: m.goods_category,
        };
        let result = match self.rules.binary_search_by_key(&m.rule_id, |r| r.id) {
            Ok(slot) => {
                self.rules[slot] = rule;
                (slot, false)
            }
            Err(slot) => {
                if self.rules.len() >= self.rules_max as usize {
                    return Err((
                        ReasonCode::CapacityReached,
                        "risk rules are at their maximum",
                    ));
                }
                self.rules.insert(slot, rule);
                (slot, true)
            }
        };
        self.recompute_mask();
        Ok(result)
    }

    /// Validates and applies a list entry change.
    pub fn apply_list(&mut self, m: &ConfigListEntry) -> Result<(), (ReasonCode, &'static str)> {
        let key = match m.entity {
            RiskEntity::User | RiskEntity::Device => u128::from(m.id),
            RiskEntity::Ip => ip_key(&m.ip),
            RiskEntity::CardFingerprint => fingerprint_key(&m.card_fingerprint.0),
            RiskEntity::CardBin => u128::from(m.card_bin),
            _ => {
                return Err((
                    ReasonCode::InvalidConfig,
                    "list entity must be user, ip, device, card_fingerprint or card_bin",
                ));
            }
        };
        if key == 0 {
            return Err((ReasonCode::InvalidConfig, "list entry key is empty"));
        }
        let index_key = (m.list as u8, m.entity as u8, key);
        match m.op {
            ListOp::Add => {
                if self.list_index.contains(&index_key) {
                    return Ok(());
                }
                if self.entries.len() >= self.entries_max as usize {
                    return Err((
                        ReasonCode::CapacityReached,
                        "list entries are at their maximum",
                    ));
                }
                self.entries.push(ListEntry {
                    list: m.list as u8,
                    entity: m.entity as u8,
                    key,
                });
                self.list_index.insert(index_key);
            }
            ListOp::Remove => {
                if self.list_index.remove(&index_key)
                    && let Some(i) = self
                        .entries
                        .iter()
                        .position(|e| (e.list, e.entity, e.key) == index_key)
                {
                    self.entries.swap_remove(i);
                }
            }
        }
        Ok(())
    }
}

fn validate_rule(m: &ConfigRiskRule) -> Result<(), (ReasonCode, &'static str)> {
    let invalid = |why| Err((ReasonCode::InvalidConfig, why));
    if m.rule_id <= BLOCK_LIST_RULE_ID {
        return invalid("rule_id must be above 2 (1 and 2 name the lists)");
    }
    if !matches!(
        m.action,
        RiskAction::Allow | RiskAction::Review | RiskAction::Block
    ) {
        return invalid("action must be allow, review or block");
    }
    let payment_entity = matches!(
        m.entity,
        RiskEntity::User
            | RiskEntity::Ip
            | RiskEntity::Device
            | RiskEntity::CardFingerprint
            | RiskEntity::CardBin
    );
    match m.feature {
        RiskFeature::SingleAmount => {
            if m.target != RuleTarget::Payment {
                return invalid("single_amount rules apply to payments");
            }
        }
        RiskFeature::PaymentCount | RiskFeature::PaymentAmount | RiskFeature::DeclineCount => {
            if m.target != RuleTarget::Payment || !payment_entity || m.window == RiskWindow::None {
                return invalid(
                    "payment velocity rules need target payment, a payer entity and a window",
                );
            }
        }
        RiskFeature::RefundCount => {
            let entity_ok = matches!(m.entity, RiskEntity::User | RiskEntity::Merchant);
            if m.target != RuleTarget::Refund || !entity_ok || m.window == RiskWindow::None {
                return invalid(
                    "refund_count rules need target refund, entity user or merchant and a window",
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::{Activity, Chars, Comparison};

    fn rule(
        id: u32,
        feature: RiskFeature,
        entity: RiskEntity,
        window: RiskWindow,
        threshold: i64,
        action: RiskAction,
    ) -> ConfigRiskRule {
        ConfigRiskRule {
            rule_id: id,
            name: Chars::new("t"),
            target: RuleTarget::Payment,
            feature,
            entity,
            window,
            comparison: Comparison::Greater,
            threshold,
            action,
            shadow: false,
            status: Activity::Active,
            merchant_id: 0,
            goods_category: 0,
        }
    }

    fn ctx(user: u64, amount: i64) -> RiskContext {
        let mut keys = [0u128; ENTITY_KINDS];
        keys[0] = u128::from(user);
        RiskContext {
            merchant_id: 1,
            goods_category: 0,
            amount_minor: amount,
            keys,
        }
    }

    #[test]
    fn velocity_window_expires_in_event_time() {
        let mut r = RiskState::new(8, 8, 64);
        r.apply_rule(&rule(
            10,
            RiskFeature::PaymentCount,
            RiskEntity::User,
            RiskWindow::Minute,
            3,
            RiskAction::Block,
        ))
        .unwrap();
        let mut hits = vec![(0, 0); 1];
        let t0 = 1_000 * NS_PER_SEC;
        for i in 0..3 {
            let c = ctx(7, 100);
            assert_eq!(
                r.evaluate(RuleTarget::Payment, &c, t0 + i, &mut hits),
                Verdict::NONE
            );
            r.record_payment(&c, t0 + i);
        }
        // The fourth within the minute is blocked.
        let v = r.evaluate(
            RuleTarget::Payment,
            &ctx(7, 100),
            t0 + 5 * NS_PER_SEC,
            &mut hits,
        );
        assert_eq!(v.action, RiskAction::Block);
        assert_eq!(v.rule_id, 10);
        assert_eq!(hits[0].0, 1);
        // Another user is not.
        assert_eq!(
            r.evaluate(RuleTarget::Payment, &ctx(8, 100), t0, &mut hits),
            Verdict::NONE
        );
        // A minute (plus a bucket) later the window has emptied.
        let later = t0 + 70 * NS_PER_SEC;
        assert_eq!(
            r.evaluate(RuleTarget::Payment, &ctx(7, 100), later, &mut hits),
            Verdict::NONE
        );
    }

    #[test]
    fn untracked_entities_are_not_recorded() {
        let mut r = RiskState::new(8, 8, 64);
        r.record_payment(&ctx(7, 100), 1);
        assert!(r.tables[0].keys.iter().all(|k| *k == 0));
    }

    #[test]
    fn eviction_takes_the_least_recently_seen_key_of_the_set() {
        let mut t = VelocityTable::new(8); // one set of 8 ways
        for k in 1..=8u128 {
            let s = t.slot_for(k);
            t.last_seen_ns[s] = k as u64 * 10;
        }
        // Key 3 is seen again: key 1 is now the oldest.
        let s3 = t.find(3).unwrap();
        t.last_seen_ns[s3] = 1_000;
        let s = t.slot_for(99);
        t.last_seen_ns[s] = 2_000;
        assert!(t.find(1).is_none());
        assert!(t.find(3).is_some() && t.find(99).is_some());
        assert_eq!(t.evictions, 1);
    }
}
