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

/// One bucket of a window: 20 bytes, 4-byte aligned (the amount is kept as two u32 halves so that
/// six buckets fill two cache lines). Counts saturate at their type's maximum.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    pub epoch: u32,
    pub payments: u32,
    amount_lo: u32,
    amount_hi: u32,
    pub refunds: u16,
    pub declines: u16,
}

impl Bucket {
    pub fn amount_minor(&self) -> i64 {
        ((u64::from(self.amount_hi) << 32) | u64::from(self.amount_lo)) as i64
    }

    fn add_amount(&mut self, amount_minor: i64) {
        let v = self.amount_minor().saturating_add(amount_minor) as u64;
        self.amount_lo = v as u32;
        self.amount_hi = (v >> 32) as u32;
    }
}

/// One window of a key: a ring of buckets, 120 bytes padded to two whole cache lines.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Window {
    pub buckets: [Bucket; BUCKETS],
}

/// A key's three windows (minute, hour, day).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyWindows {
    pub windows: [Window; 3],
}

/// One set of a velocity table: its ways' tags (0 = empty), the event second each key was last
/// seen, and each key's block in `windows` (u32::MAX = none yet). 128 bytes, two adjacent cache
/// lines on one page: a lookup touches exactly these.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Set {
    pub tags: [u64; WAYS],
    pub seen: [u32; WAYS],
    pub block: [u32; WAYS],
}

impl Default for Set {
    fn default() -> Self {
        Set {
            tags: [0; WAYS],
            seen: [0; WAYS],
            block: [u32::MAX; WAYS],
        }
    }
}

/// A fixed, set-associative table of keys and their windows.
///
/// Keys are stored as 64-bit tags (a mix of the 128-bit key), so a set's 8 ways and their
/// last-seen times and blocks fill two adjacent cache lines; two distinct keys with the same tag
/// (odds about 2^-64 per pair) would share counts. A slot is `set * WAYS + way`. Windows
/// are stored only for keys seen (a slot's block is reused when its key is evicted), so a mostly idle
/// table stays small in snapshots. Only the windows some rule reads are written.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct VelocityTable {
    pub sets: Vec<Set>,
    pub windows: Vec<KeyWindows>,
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
    /// Per entity kind (index = RiskEntity - 1): bit w set when an active rule reads window w.
    pub window_masks: [u8; ENTITY_KINDS],
    rules_max: u32,
    entries_max: u32,
    /// Lookup for list entries: (list, entity, key). Rebuilt from `entries` on load.
    #[rkyv(with = rkyv::with::Skip)]
    list_index: FxHashSet<(u8, u8, u128)>,
    /// Entries per (list - 1, entity - 1): only entity kinds with entries are looked up.
    #[rkyv(with = rkyv::with::Skip)]
    list_counts: [[u32; ENTITY_KINDS]; 2],
    /// `rules` decoded once for evaluation (parallel to `rules`). Rebuilt on every rule change and
    /// on load.
    #[rkyv(with = rkyv::with::Skip)]
    compiled: Vec<Compiled>,
}

/// A rule decoded for evaluation: plain integers, no enum decoding per request.
#[derive(Debug, Clone, Copy, Default)]
struct Compiled {
    /// 0 allow, 1 block, 2 review, 3 never fires (inactive or not evaluable).
    class: u8,
    shadow: bool,
    target: u8,
    /// RiskFeature on the wire.
    feature: u8,
    /// Entity index (RiskEntity - 1), or u8::MAX for none.
    entity: u8,
    /// Window index (0 minute, 1 hour, 2 day), or u8::MAX for none.
    window: u8,
    /// Comparison on the wire.
    comparison: u8,
    threshold: i64,
    merchant_id: u32,
    goods_category: u16,
}

impl Compiled {
    fn of(r: &Rule) -> Compiled {
        let class = match RiskAction::from_wire(r.action) {
            Some(RiskAction::Allow) if r.active => 0,
            Some(RiskAction::Block) if r.active => 1,
            Some(RiskAction::Review) if r.active => 2,
            _ => 3,
        };
        let entity = (r.entity as usize)
            .checked_sub(1)
            .filter(|e| *e < ENTITY_KINDS)
            .map_or(u8::MAX, |e| e as u8);
        Compiled {
            class,
            shadow: r.shadow,
            target: r.target,
            feature: r.feature,
            entity,
            window: window_index(r.window).map_or(u8::MAX, |w| w as u8),
            comparison: r.comparison,
            threshold: r.threshold,
            merchant_id: r.merchant_id,
            goods_category: r.goods_category,
        }
    }
}

impl VelocityTable {
    fn new(keys_max: u32) -> Self {
        let sets = (keys_max as usize).div_ceil(WAYS).max(1);
        let slots = sets * WAYS;
        let windows = Vec::with_capacity(slots);
        crate::mem::advise_huge_pages(&windows);
        let sets = vec![Set::default(); sets];
        crate::mem::advise_huge_pages(&sets);
        VelocityTable {
            sets,
            windows,
            evictions: 0,
        }
    }

    /// The set of a tag (a multiply-shift range reduction of its high bits).
    #[inline]
    fn set_of(&self, tag: u64) -> usize {
        (((tag >> 32) * self.sets.len() as u64) >> 32) as usize
    }

    #[inline]
    fn find(&self, tag: u64) -> Option<usize> {
        let s = self.set_of(tag);
        let way = self.sets[s].tags.iter().position(|&t| t == tag)?;
        Some(s * WAYS + way)
    }

    /// `Ok(slot)` of `tag`, or `Err(slot)` it would take: the first empty slot of its set, or else
    /// the slot of the key least recently seen.
    #[inline]
    fn locate(&self, tag: u64) -> Result<usize, usize> {
        let s = self.set_of(tag);
        let set = &self.sets[s];
        let mut victim = 0;
        for way in 0..WAYS {
            if set.tags[way] == tag {
                return Ok(s * WAYS + way);
            }
            if set.tags[way] == 0 {
                return Err(s * WAYS + way);
            }
            if set.seen[way] < set.seen[victim] {
                victim = way;
            }
        }
        Err(s * WAYS + victim)
    }

    /// The window block of a slot (u32::MAX: none yet).
    #[inline]
    fn block(&self, slot: usize) -> u32 {
        self.sets[slot / WAYS].block[slot % WAYS]
    }

    /// Starts loading `tag`'s set (see `mem::prefetch`).
    #[inline]
    fn prefetch_set(&self, tag: u64) {
        let set = &self.sets[self.set_of(tag)];
        crate::mem::prefetch(set, std::mem::size_of::<Set>());
    }

    /// Starts loading the windows in `mask` of the slot `tag` has or would take: the ones the rules
    /// read and `record` writes (see `mem::prefetch`).
    #[inline]
    fn prefetch_windows(&self, tag: u64, mask: u8) {
        let slot = match self.locate(tag) {
            Ok(slot) | Err(slot) => slot,
        };
        let block = match self.block(slot) {
            u32::MAX => self.windows.len(),
            b => b as usize,
        };
        let base = self.windows.as_ptr().wrapping_add(block) as *const u8;
        let size = std::mem::size_of::<Window>();
        for window in 0..3 {
            if mask & (1 << window) != 0 {
                crate::mem::prefetch(base.wrapping_add(window * size), size);
            }
        }
    }

    /// The slot for `tag`, inserting it (and evicting the key of its set least recently seen).
    /// A new key's windows in `mask` are cleared; the others are kept clear by `clear_window`.
    fn slot_for(&mut self, tag: u64, now_s: u32, mask: u8) -> usize {
        let victim = match self.locate(tag) {
            Ok(i) => {
                self.sets[i / WAYS].seen[i % WAYS] = now_s;
                return i;
            }
            Err(victim) => victim,
        };
        let (s, way) = (victim / WAYS, victim % WAYS);
        if self.sets[s].tags[way] != 0 {
            self.evictions += 1;
        }
        let block = match self.sets[s].block[way] {
            u32::MAX => {
                // At most one block per slot: the capacity reserved at start is never exceeded.
                self.windows.push(KeyWindows::default());
                (self.windows.len() - 1) as u32
            }
            b => {
                let w = &mut self.windows[b as usize];
                for window in 0..3 {
                    if mask & (1 << window) != 0 {
                        w.windows[window] = Window::default();
                    }
                }
                b
            }
        };
        let set = &mut self.sets[s];
        set.tags[way] = tag;
        set.seen[way] = now_s;
        set.block[way] = block;
        victim
    }

    #[inline]
    fn windows_at(&self, slot: usize) -> &KeyWindows {
        &self.windows[self.block(slot) as usize]
    }

    #[inline]
    fn windows_at_mut(&mut self, slot: usize) -> &mut KeyWindows {
        let b = self.block(slot) as usize;
        &mut self.windows[b]
    }

    /// Clears one window of every key (a rule started reading it: what was there is stale).
    fn clear_window(&mut self, window: usize) {
        for w in self.windows.iter_mut() {
            w.windows[window] = Window::default();
        }
    }
}

/// The 64-bit tag of a 128-bit key (never 0, which marks an empty slot).
#[inline]
fn tag_of(key: u128) -> u64 {
    let mut h = (key as u64)
        ^ ((key >> 64) as u64)
            .rotate_left(29)
            .wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h = (h ^ (h >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 29;
    h.max(1)
}

/// Per-request cache of entity lookups, so rules on the same entity look the table up once.
#[derive(Default)]
struct Lookups {
    /// Per entity: 0 = not looked up, 1 = absent, 2 + slot = found.
    slot: [u32; ENTITY_KINDS],
}

/// (payments, amount, refunds, declines) over a window.
type Sums = (u64, i64, u64, u64);

/// The current bucket number of each window (computed once per request: constant divisors).
#[inline]
fn epochs(now_ns: u64) -> [u32; 3] {
    [
        (now_ns / BUCKET_NS[0]) as u32,
        (now_ns / BUCKET_NS[1]) as u32,
        (now_ns / BUCKET_NS[2]) as u32,
    ]
}

#[cfg(test)]
fn epoch(now_ns: u64, window: usize) -> u32 {
    (now_ns / BUCKET_NS[window]) as u32
}

/// Sums of a key's window: (payments, amount, refunds, declines).
fn window_sums(w: &KeyWindows, window: usize, now: &[u32; 3]) -> Sums {
    let now_epoch = now[window];
    let mut sums = (0u64, 0i64, 0u64, 0u64);
    for b in &w.windows[window].buckets {
        if b.epoch <= now_epoch && now_epoch - b.epoch < BUCKETS as u32 {
            sums.0 += u64::from(b.payments);
            sums.1 = sums.1.saturating_add(b.amount_minor());
            sums.2 += u64::from(b.refunds);
            sums.3 += u64::from(b.declines);
        }
    }
    sums
}

fn record(w: &mut KeyWindows, now: &[u32; 3], mask: u8, f: impl Fn(&mut Bucket)) {
    for (window, buckets) in w.windows.iter_mut().enumerate() {
        if mask & (1 << window) == 0 {
            continue;
        }
        let e = now[window];
        let b = &mut buckets.buckets[e as usize % BUCKETS];
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
            window_masks: [0; ENTITY_KINDS],
            rules_max,
            entries_max,
            list_index: FxHashSet::with_capacity_and_hasher(
                entries_max as usize,
                Default::default(),
            ),
            list_counts: [[0; ENTITY_KINDS]; 2],
            compiled: Vec::with_capacity(rules_max as usize),
        }
    }

    /// Rebuilds the list lookup and capacities after a snapshot load.
    pub fn rebuild(&mut self) {
        self.list_index =
            FxHashSet::with_capacity_and_hasher(self.entries_max as usize, Default::default());
        self.list_counts = [[0; ENTITY_KINDS]; 2];
        for i in 0..self.entries.len() {
            let e = self.entries[i];
            self.list_index.insert((e.list, e.entity, e.key));
            self.count_entry(e.list, e.entity, 1);
        }
        self.compiled = Vec::with_capacity(self.rules_max as usize);
        self.compiled.extend(self.rules.iter().map(Compiled::of));
        let rules_more = (self.rules_max as usize).saturating_sub(self.rules.len());
        self.rules.reserve_exact(rules_more);
        let entries_more = (self.entries_max as usize).saturating_sub(self.entries.len());
        self.entries.reserve_exact(entries_more);
        for t in self.tables.iter_mut() {
            let more = (t.sets.len() * WAYS).saturating_sub(t.windows.len());
            t.windows.reserve_exact(more);
            crate::mem::advise_huge_pages(&t.windows);
        }
    }

    /// Touches the velocity tables' reserved windows (see `Engine::prefault`).
    pub(crate) fn prefault(&mut self) -> usize {
        self.tables
            .iter_mut()
            .map(|t| crate::mem::prefault_spare(&mut t.windows))
            .sum()
    }

    /// Starts loading the velocity table sets of the request's tracked entities. Called as early as
    /// the keys are known, so the (likely) cache misses overlap each other and the work before
    /// `prefetch_windows` and `evaluate`. A hint only: state is unchanged.
    #[inline]
    pub fn prefetch_sets(&self, ctx: &RiskContext) {
        for (i, &key) in ctx.keys.iter().enumerate() {
            if key != 0 && self.window_masks[i] != 0 {
                self.tables[i].prefetch_set(tag_of(key));
            }
        }
    }

    /// Starts loading the windows that `evaluate` will read and `record_payment` (or the others)
    /// will write, once the sets are in cache (after `prefetch_sets`). A hint only.
    #[inline]
    pub fn prefetch_windows(&self, ctx: &RiskContext) {
        for (i, &key) in ctx.keys.iter().enumerate() {
            let mask = self.window_masks[i];
            if key != 0 && mask != 0 {
                self.tables[i].prefetch_windows(tag_of(key), mask);
            }
        }
    }

    fn count_entry(&mut self, list: u8, entity: u8, delta: i32) {
        let (l, e) = (
            usize::from(list).wrapping_sub(1),
            usize::from(entity).wrapping_sub(1),
        );
        if l < 2 && e < ENTITY_KINDS {
            let c = &mut self.list_counts[l][e];
            *c = c.saturating_add_signed(delta);
        }
    }

    fn listed(&self, list: ListKind, ctx: &RiskContext) -> bool {
        let counts = &self.list_counts[list as usize - 1];
        (0..ENTITY_KINDS).any(|e| {
            counts[e] != 0
                && ctx.keys[e] != 0
                && self
                    .list_index
                    .contains(&(list as u8, e as u8 + 1, ctx.keys[e]))
        })
    }

    /// The window sums of `entity` for this request (the table is probed once per request).
    fn sums(
        &self,
        entity: usize,
        window: usize,
        ctx: &RiskContext,
        now: &[u32; 3],
        cache: &mut Lookups,
    ) -> Sums {
        let table = &self.tables[entity];
        if cache.slot[entity] == 0 {
            cache.slot[entity] = match table.find(tag_of(ctx.keys[entity])) {
                Some(slot) => 2 + slot as u32,
                None => 1,
            };
        }
        match cache.slot[entity] {
            1 => (0, 0, 0, 0),
            n => window_sums(table.windows_at(n as usize - 2), window, now),
        }
    }

    /// The feature value of a rule for this request, this request included where the feature says so.
    fn feature(
        &self,
        rule: &Compiled,
        ctx: &RiskContext,
        now: &[u32; 3],
        cache: &mut Lookups,
    ) -> Option<i64> {
        const SINGLE_AMOUNT: u8 = RiskFeature::SingleAmount as u8;
        if rule.feature == SINGLE_AMOUNT {
            return Some(ctx.amount_minor);
        }
        let (entity, window) = (usize::from(rule.entity), usize::from(rule.window));
        if entity >= ENTITY_KINDS || window >= 3 || ctx.keys[entity] == 0 {
            return None;
        }
        let sums = self.sums(entity, window, ctx, now, cache);
        let value = match RiskFeature::from_wire(rule.feature)? {
            RiskFeature::PaymentCount => sums.0 as i64 + 1,
            RiskFeature::PaymentAmount => sums.1.saturating_add(ctx.amount_minor),
            RiskFeature::RefundCount => sums.2 as i64 + 1,
            RiskFeature::DeclineCount => sums.3 as i64,
            RiskFeature::SingleAmount => ctx.amount_minor,
        };
        Some(value)
    }

    fn matches(
        &self,
        rule: &Compiled,
        ctx: &RiskContext,
        now: &[u32; 3],
        cache: &mut Lookups,
    ) -> bool {
        if rule.merchant_id != 0 && rule.merchant_id != ctx.merchant_id {
            return false;
        }
        if rule.goods_category != 0 && rule.goods_category != ctx.goods_category {
            return false;
        }
        match self.feature(rule, ctx, now, cache) {
            Some(value) => compare(rule.comparison, value, rule.threshold),
            None => false,
        }
    }

    /// Evaluates a request. Reads the state only; hit counts go to `hits` (parallel to `rules`).
    ///
    /// One pass over the rules (sorted by id): shadow rules are always evaluated and counted; an
    /// enforced rule is evaluated only while it could still decide the verdict (a matched allow rule
    /// decides everything; the block list or a matched block rule decides blocks and reviews), so the
    /// outcome is exactly that of evaluating allow list, allow rules, block list, block rules and
    /// review rules in turn, first match wins.
    pub fn evaluate(
        &self,
        target: RuleTarget,
        ctx: &RiskContext,
        now_ns: u64,
        hits: &mut [(u64, u64)],
    ) -> Verdict {
        let payment = target == RuleTarget::Payment;
        let allow_listed = payment && self.listed(ListKind::Allow, ctx);
        let block_listed = payment && !allow_listed && self.listed(ListKind::Block, ctx);
        let mut cache = Lookups::default();
        let now = epochs(now_ns);
        // First matching enforced rule per class: allow, block, review.
        let mut first: [Option<usize>; 3] = [None; 3];
        for (i, rule) in self.compiled.iter().enumerate() {
            let class = rule.class;
            if class > 2 || rule.target != target as u8 {
                continue;
            }
            if !rule.shadow {
                let decided = allow_listed
                    || first[0].is_some()
                    || (class >= 1 && (block_listed || first[1].is_some()))
                    || (class == 2 && first[2].is_some());
                if decided {
                    continue;
                }
            }
            let class = usize::from(class);
            if !self.matches(rule, ctx, &now, &mut cache) {
                continue;
            }
            if rule.shadow {
                if let Some(h) = hits.get_mut(i) {
                    h.1 += 1;
                }
            } else {
                first[class] = Some(i);
            }
        }
        let fired = |i: usize, action: RiskAction, hits: &mut [(u64, u64)]| {
            if let Some(h) = hits.get_mut(i) {
                h.0 += 1;
            }
            Verdict {
                action,
                rule_id: self.rules[i].id,
            }
        };
        if allow_listed {
            return Verdict {
                action: RiskAction::Allow,
                rule_id: ALLOW_LIST_RULE_ID,
            };
        }
        if let Some(i) = first[0] {
            return fired(i, RiskAction::Allow, hits);
        }
        if block_listed {
            return Verdict {
                action: RiskAction::Block,
                rule_id: BLOCK_LIST_RULE_ID,
            };
        }
        if let Some(i) = first[1] {
            return fired(i, RiskAction::Block, hits);
        }
        if let Some(i) = first[2] {
            return fired(i, RiskAction::Review, hits);
        }
        Verdict::NONE
    }

    fn record_each(&mut self, ctx: &RiskContext, now_ns: u64, f: impl Fn(&mut Bucket) + Copy) {
        let now_s = (now_ns / NS_PER_SEC) as u32;
        let now = epochs(now_ns);
        for (i, &key) in ctx.keys.iter().enumerate() {
            let mask = self.window_masks[i];
            if key == 0 || mask == 0 {
                continue;
            }
            let table = &mut self.tables[i];
            let slot = table.slot_for(tag_of(key), now_s, mask);
            record(table.windows_at_mut(slot), &now, mask, f);
        }
    }

    /// Counts a payment request for every tracked entity it names.
    pub fn record_payment(&mut self, ctx: &RiskContext, now_ns: u64) {
        let amount = ctx.amount_minor;
        self.record_each(ctx, now_ns, |b| {
            b.payments = b.payments.saturating_add(1);
            b.add_amount(amount);
        });
    }

    /// Counts a refund request.
    pub fn record_refund(&mut self, ctx: &RiskContext, now_ns: u64) {
        self.record_each(ctx, now_ns, |b| b.refunds = b.refunds.saturating_add(1));
    }

    /// Counts a declined attempt.
    pub fn record_decline(&mut self, ctx: &RiskContext, now_ns: u64) {
        self.record_each(ctx, now_ns, |b| b.declines = b.declines.saturating_add(1));
    }

    /// Recomputes which windows of which entities the active rules read. A window that starts being
    /// read is cleared first: whatever it held was not maintained and is stale.
    fn recompute_masks(&mut self) {
        self.compiled.clear();
        self.compiled.extend(self.rules.iter().map(Compiled::of));
        let mut masks = [0u8; ENTITY_KINDS];
        for r in self.rules.iter().filter(|r| r.active) {
            let velocity = r.feature != RiskFeature::SingleAmount as u8;
            let entity = (r.entity as usize)
                .checked_sub(1)
                .filter(|e| *e < ENTITY_KINDS);
            if let (true, Some(w), Some(e)) = (velocity, window_index(r.window), entity) {
                masks[e] |= 1 << w;
            }
        }
        for (e, &mask) in masks.iter().enumerate() {
            let added = mask & !self.window_masks[e];
            for w in 0..3 {
                if added & (1 << w) != 0 {
                    self.tables[e].clear_window(w);
                }
            }
        }
        self.window_masks = masks;
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
        self.recompute_masks();
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
                self.count_entry(m.list as u8, m.entity as u8, 1);
            }
            ListOp::Remove => {
                if self.list_index.remove(&index_key)
                    && let Some(i) = self
                        .entries
                        .iter()
                        .position(|e| (e.list, e.entity, e.key) == index_key)
                {
                    self.entries.swap_remove(i);
                    self.count_entry(m.list as u8, m.entity as u8, -1);
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
        assert!(r.tables[0].sets.iter().all(|s| s.tags == [0; WAYS]));
    }

    #[test]
    fn eviction_takes_the_least_recently_seen_key_of_the_set() {
        let mut t = VelocityTable::new(8); // one set of 8 ways
        for k in 1..=8u64 {
            t.slot_for(k, k as u32 * 10, 0b111);
        }
        // Key 3 is seen again: key 1 is now the oldest.
        t.slot_for(3, 1_000, 0b111);
        t.slot_for(99, 2_000, 0b111);
        assert!(t.find(1).is_none());
        assert!(t.find(3).is_some() && t.find(99).is_some());
        assert_eq!(t.evictions, 1);
    }

    #[test]
    fn a_window_that_starts_being_read_is_cleared() {
        let mut r = RiskState::new(8, 8, 64);
        r.apply_rule(&rule(
            10,
            RiskFeature::PaymentCount,
            RiskEntity::User,
            RiskWindow::Minute,
            100,
            RiskAction::Block,
        ))
        .unwrap();
        let t0 = 1_000 * NS_PER_SEC;
        r.record_payment(&ctx(7, 100), t0);
        // The day window was not maintained; a rule reading it must not see garbage.
        r.apply_rule(&rule(
            11,
            RiskFeature::PaymentCount,
            RiskEntity::User,
            RiskWindow::Day,
            0,
            RiskAction::Review,
        ))
        .unwrap();
        let slot = r.tables[0].find(tag_of(7)).unwrap();
        assert_eq!(
            window_sums(r.tables[0].windows_at(slot), 2, &epochs(t0)).0,
            0
        );
        assert_eq!(
            window_sums(r.tables[0].windows_at(slot), 0, &epochs(t0)).0,
            1
        );
        assert_eq!(epoch(t0, 1), epochs(t0)[1]);
    }
}
