//! Velocity: counts and amounts per entity over rolling windows in event time.
//!
//! Windows are bucketed: minute = 6 buckets of 10 s, hour = 6 of 10 min, day = 6 of 4 h; a window's
//! value is the sum of the buckets whose span ends within the window (so "the last minute" covers
//! between 50 and 60 s). Each entity kind has a fixed table of `velocity_keys_max` keys, organised
//! in sets of 8; a new key takes an empty slot of its set or evicts the key of that set least
//! recently seen (event time). Only the windows some active rule reads are tracked (`masks`).

use rkyv::{Archive, Deserialize, Serialize};

use super::{ENTITY_KINDS, RiskContext};

pub(super) const WAYS: usize = 8;
const BUCKETS: usize = 6;
pub(super) const NS_PER_SEC: u64 = 1_000_000_000;
/// Bucket widths for the minute, hour and day windows.
const BUCKET_NS: [u64; 3] = [10 * NS_PER_SEC, 600 * NS_PER_SEC, 4 * 3600 * NS_PER_SEC];
/// The block index of a slot that has no windows yet.
const NO_BLOCK: u32 = u32::MAX;

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
/// seen, and each key's block in `windows` (`NO_BLOCK` = none yet). 128 bytes, two adjacent cache
/// lines on one page: a lookup touches exactly these.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Set {
    pub tags: [u64; WAYS],
    pub seen: [u32; WAYS],
    pub block: [u32; WAYS],
}

// The layout the comments above promise (docs/ENGINE.md, "Risk").
const _: () = assert!(size_of::<Bucket>() == 20 && align_of::<Bucket>() == 4);
const _: () = assert!(BUCKETS * size_of::<Bucket>() == 120);
const _: () = assert!(size_of::<Window>() == 128 && align_of::<Window>() == 64);
const _: () = assert!(size_of::<KeyWindows>() == 3 * 128);
const _: () = assert!(size_of::<Set>() == 128 && align_of::<Set>() == 64);

impl Default for Set {
    fn default() -> Self {
        Set {
            tags: [0; WAYS],
            seen: [0; WAYS],
            block: [NO_BLOCK; WAYS],
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

impl VelocityTable {
    pub(super) fn new(keys_max: u32) -> Self {
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
    pub(super) fn find(&self, tag: u64) -> Option<usize> {
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

    /// The window block of a slot (`NO_BLOCK`: none yet).
    #[inline]
    fn block(&self, slot: usize) -> u32 {
        self.sets[slot / WAYS].block[slot % WAYS]
    }

    /// Starts loading `tag`'s set (see `mem::prefetch`).
    #[inline]
    fn prefetch_set(&self, tag: u64) {
        let set = &self.sets[self.set_of(tag)];
        crate::mem::prefetch(set, size_of::<Set>());
    }

    /// Starts loading the windows in `mask` of the slot `tag` has or would take: the ones the rules
    /// read and `record` writes (see `mem::prefetch`).
    #[inline]
    fn prefetch_windows(&self, tag: u64, mask: u8) {
        let slot = match self.locate(tag) {
            Ok(slot) | Err(slot) => slot,
        };
        let block = match self.block(slot) {
            NO_BLOCK => self.windows.len(),
            b => b as usize,
        };
        let base = self.windows.as_ptr().wrapping_add(block) as *const u8;
        let size = size_of::<Window>();
        for window in 0..3 {
            if mask & (1 << window) != 0 {
                crate::mem::prefetch(base.wrapping_add(window * size), size);
            }
        }
    }

    /// The slot for `tag`, inserting it (and evicting the key of its set least recently seen).
    /// A new key's windows in `mask` are cleared; the others are kept clear by `clear_window`.
    pub(super) fn slot_for(&mut self, tag: u64, now_s: u32, mask: u8) -> usize {
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
            NO_BLOCK => {
                // At most one block per slot: the capacity reserved at start is never exceeded.
                assert!(
                    self.windows.len() < self.sets.len() * WAYS,
                    "velocity windows beyond one block per slot"
                );
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
    pub(super) fn windows_at(&self, slot: usize) -> &KeyWindows {
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

/// The velocity tables, one per entity kind, and which of their windows are maintained.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub struct Velocity {
    pub tables: Vec<VelocityTable>,
    /// Per entity kind (index = RiskEntity - 1): bit w set when an active rule reads window w.
    pub window_masks: [u8; ENTITY_KINDS],
    /// Windows counted for a tool beside those the rules read (`RiskState::track_extra_windows`).
    #[rkyv(with = rkyv::with::Skip)]
    pub(super) extra_masks: [u8; ENTITY_KINDS],
}

/// Per-request cache of entity lookups, so rules on the same entity look the table up once.
#[derive(Default)]
pub(super) struct Lookups {
    /// Per entity: 0 = not looked up, 1 = absent, 2 + slot = found.
    slot: [u32; ENTITY_KINDS],
}

/// (payments, amount, refunds, declines) over a window.
pub(super) type Sums = (u64, i64, u64, u64);

impl Velocity {
    pub(super) fn new(keys_max: u32) -> Self {
        Velocity {
            tables: (0..ENTITY_KINDS)
                .map(|_| VelocityTable::new(keys_max))
                .collect(),
            window_masks: [0; ENTITY_KINDS],
            extra_masks: [0; ENTITY_KINDS],
        }
    }

    /// Reserves every table's windows back to one block per slot after a snapshot load.
    pub(super) fn rebuild(&mut self) {
        for t in self.tables.iter_mut() {
            let more = (t.sets.len() * WAYS).saturating_sub(t.windows.len());
            t.windows.reserve_exact(more);
            crate::mem::advise_huge_pages(&t.windows);
        }
    }

    /// Touches the reserved windows (see `Engine::prefault`).
    pub(super) fn prefault(&mut self) -> usize {
        self.tables
            .iter_mut()
            .map(|t| crate::mem::prefault_spare(&mut t.windows))
            .sum()
    }

    /// See `RiskState::prefetch_sets`.
    #[inline]
    pub(super) fn prefetch_sets(&self, ctx: &RiskContext) {
        for (i, &key) in ctx.keys.iter().enumerate() {
            if key != 0 && self.window_masks[i] != 0 {
                self.tables[i].prefetch_set(tag_of(key));
            }
        }
    }

    /// See `RiskState::prefetch_windows`.
    #[inline]
    pub(super) fn prefetch_windows(&self, ctx: &RiskContext) {
        for (i, &key) in ctx.keys.iter().enumerate() {
            let mask = self.window_masks[i];
            if key != 0 && mask != 0 {
                self.tables[i].prefetch_windows(tag_of(key), mask);
            }
        }
    }

    /// Applies `f` to the current bucket of every maintained window of every entity `ctx` names.
    pub(super) fn record_each(
        &mut self,
        ctx: &RiskContext,
        now_ns: u64,
        f: impl Fn(&mut Bucket) + Copy,
    ) {
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

    /// Maintains exactly the windows in `masks` from now on. A window that starts being read is
    /// cleared first: whatever it held was not maintained and is stale.
    pub(super) fn track(&mut self, mut masks: [u8; ENTITY_KINDS]) {
        for (m, extra) in masks.iter_mut().zip(self.extra_masks) {
            *m |= extra;
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

    /// The window sums of `entity` for this request (the table is probed once per request).
    #[inline(always)]
    pub(super) fn sums(
        &self,
        entity: usize,
        window: usize,
        key: u128,
        now: &[u32; 3],
        cache: &mut Lookups,
    ) -> Sums {
        let table = &self.tables[entity];
        if cache.slot[entity] == 0 {
            cache.slot[entity] = match table.find(tag_of(key)) {
                Some(slot) => 2 + slot as u32,
                None => 1,
            };
        }
        match cache.slot[entity] {
            1 => (0, 0, 0, 0),
            n => window_sums(table.windows_at(n as usize - 2), window, now),
        }
    }
}

/// The 64-bit tag of a 128-bit key (never 0, which marks an empty slot).
#[inline]
pub(super) fn tag_of(key: u128) -> u64 {
    let mut h = (key as u64)
        ^ ((key >> 64) as u64)
            .rotate_left(29)
            .wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h = (h ^ (h >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 29;
    h.max(1)
}

/// The current bucket number of each window (computed once per request: constant divisors).
#[inline]
pub(super) fn epochs(now_ns: u64) -> [u32; 3] {
    [
        (now_ns / BUCKET_NS[0]) as u32,
        (now_ns / BUCKET_NS[1]) as u32,
        (now_ns / BUCKET_NS[2]) as u32,
    ]
}

/// Sums of a key's window: (payments, amount, refunds, declines).
pub(super) fn window_sums(w: &KeyWindows, window: usize, now: &[u32; 3]) -> Sums {
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

/// Counts a payment of `amount_minor` in a bucket.
pub(super) fn count_payment(b: &mut Bucket, amount_minor: i64) {
    b.payments = b.payments.saturating_add(1);
    b.add_amount(amount_minor);
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn epochs_are_the_bucket_numbers_of_each_window() {
        let t0 = 1_000 * NS_PER_SEC;
        for (window, width) in BUCKET_NS.iter().enumerate() {
            assert_eq!(epochs(t0)[window], (t0 / width) as u32);
        }
    }
}
